"""What the pages cache by: the one fingerprint of a model and of a dataset.

The fingerprints are :func:`explorer.latent.projection.model_fingerprint` and
:func:`~explorer.latent.projection.dataset_fingerprint` (the latent map's disk cache uses the
same); here each is taken once per loaded object. The loaders are cached, so the same object
returns on every rerun, and hashing a dataset (~20 ms) would otherwise run on every slider move.
"""
from __future__ import annotations

import streamlit as st

from explorer.latent.projection import dataset_fingerprint, model_fingerprint
from explorer.lru import LRU


@st.cache_resource(show_spinner=False)
def _known() -> LRU:
    """(kind, id(object)) → (object, fingerprint); the object is held so its id is not reused."""
    return LRU(16)


def _remembered(obj, fingerprint) -> str:
    key = (fingerprint.__name__, id(obj))
    hit = _known().get(key)
    if hit is not None and hit[0] is obj:
        return hit[1]
    return _known().put(key, (obj, fingerprint(obj)))[1]


def model_key(tm) -> str:
    """The fingerprint of a TrainedModel: its checkpoint file (path, mtime, size), else its weights."""
    return _remembered(tm, model_fingerprint)


def data_key(ds) -> str:
    """The fingerprint of a SegmentDataset's content (tokens and chords)."""
    return _remembered(ds, dataset_fingerprint)
