"""Shared fixtures: where the real corpora are, tiny music made in code, and what the
AppTest modules ask for (one torch thread, tiny checkpoints, a fresh cache).

torch, streamlit and the models are imported inside the fixtures that need them, so
the tests of the lower layers do not load them."""
from __future__ import annotations

import os
from pathlib import Path

import pretty_midi
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LATENT_EXPLORER_DATA", REPO.parent / "shared" / "data"))


def scale_extra(module: str):
    """``module`` of the optional [scale] extra (ray, symusic); its tests are skipped where it is
    not installed, unless ``LATENT_EXPLORER_REQUIRE_SCALE=1`` (scripts/test.sh sets it, as its
    set-up installs the extra): then a missing module fails, so CI cannot skip them unseen."""
    if os.environ.get("LATENT_EXPLORER_REQUIRE_SCALE") == "1":
        import importlib

        try:
            return importlib.import_module(module)
        except ImportError as exc:
            pytest.fail(f"{module} is not installed, yet the [scale] extra is required here "
                        f"(LATENT_EXPLORER_REQUIRE_SCALE=1): {exc}", pytrace=False)
    return pytest.importorskip(module, reason=f"{module} is not installed: pip install 'latent-explorer[scale]'")


@pytest.fixture(autouse=True, scope="session")
def _cache_in_tmp(tmp_path_factory):
    """Keep every cache the code writes out of the home folder."""
    old = os.environ.get("LATENT_EXPLORER_CACHE")
    os.environ["LATENT_EXPLORER_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("LATENT_EXPLORER_CACHE", None)
    else:
        os.environ["LATENT_EXPLORER_CACHE"] = old


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on a busy 2-core machine: two OpenMP threads make each GRU step
    ~100x slower than one (they wait for each other), so a module asks for one."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def clear_streamlit_caches():
    """The cached models, datasets and WAVs live in this process; drop them after the module."""
    import streamlit as st

    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """A folder with the untrained checkpoints "arvae-tiny" and "ec2vae-tiny"; a module that
    needs other checkpoints defines its own ``models_dir``."""
    from helpers_app import save_tiny_models

    return save_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch) -> Path:
    """An empty cache folder for this test (``LATENT_EXPLORER_CACHE``)."""
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def app_env(models_dir, tmp_cache, monkeypatch) -> Path:
    """The app sees the checkpoints of ``models_dir`` and an empty cache; returns ``models_dir``."""
    monkeypatch.setenv("LATENT_EXPLORER_MODELS", str(models_dir))
    return models_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the real corpora are not at {SHARED_DATA} (set LATENT_EXPLORER_DATA)")
    return SHARED_DATA


def make_midi(notes, *, qpm=120.0, metre=(4, 4), chords=(), drums=False, extra_ts=()) -> pretty_midi.PrettyMIDI:
    """A PrettyMIDI from ``(pitch, start_q, end_q)`` tuples in quarter notes.

    ``chords`` are more such tuples for a second track; ``extra_ts`` are
    ``(num, den, time_q)`` time-signature changes.
    """
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    spq = 60.0 / qpm
    mel = pretty_midi.Instrument(program=0, is_drum=drums, name="melody")
    for p, s, e in notes:
        mel.notes.append(pretty_midi.Note(90, p, s * spq, e * spq))
    pm.instruments.append(mel)
    if chords:
        ch = pretty_midi.Instrument(program=0, name="chords")
        for p, s, e in chords:
            ch.notes.append(pretty_midi.Note(60, p, s * spq, e * spq))
        pm.instruments.append(ch)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(metre[0], metre[1], 0.0))
    for num, den, tq in extra_ts:
        pm.time_signature_changes.append(pretty_midi.TimeSignature(num, den, tq * spq))
    return pm
