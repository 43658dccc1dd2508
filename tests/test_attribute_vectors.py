"""Attribute vectors and latent steering (explorer.latent.attribute_vectors, explorer.latent.control)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.audio import audio_status
from explorer.data.default import load_default
from explorer.latent.attribute_vectors import MIN_SEGMENTS, attribute_vectors, quartile_vector, training_rows
from explorer.latent.control import decode_one, standardise, steer, sweep_attributes, sweep_latents
from explorer.models.trained import TrainedModel
from explorer.music.attributes import ATTRIBUTES, note_density
from explorer.music.convert import melody_to_midi_bytes
from helpers_app import tiny_arvae

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def ds():
    """400 segments of the embedded default data (its train split and a few others)."""
    return load_default().subset(np.arange(400))


@pytest.fixture(scope="module")
def tm():
    torch.manual_seed(0)
    return TrainedModel(tiny_arvae(), device="cpu")


class AttributeEncoder:
    """A stand-in model whose z[:, 0] is the note density of the melody and the rest noise."""

    def __init__(self, dims=6):
        self.dims = dims
        self.rng = np.random.default_rng(1)

    def encode(self, tokens, chroma):
        mu = self.rng.normal(0, 0.05, (len(tokens), self.dims))
        mu[:, 0] = note_density(tokens)
        return mu, mu, np.ones_like(mu)


def test_quartile_vector_points_along_the_dim_that_holds_the_attribute():
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 1, 400)
    mu = rng.normal(0, 0.1, (400, 5))
    mu[:, 0] = values
    v = quartile_vector(mu, values)
    assert v.shape == (5,) and v.dtype == np.float32
    assert v[0] / np.linalg.norm(v) > 0.99
    # the top quarter averages about 7/8, the bottom one 1/8
    assert v[0] == pytest.approx(0.75, abs=0.05)


def test_quartile_vector_with_ties_and_without_spread():
    rng = np.random.default_rng(0)
    values = np.where(rng.uniform(size=400) < 0.8, 0.0, rng.uniform(0.1, 1, 400))  # mostly 0, like the rest ratio
    mu = rng.normal(0, 0.1, (400, 3))
    mu[:, 2] = values
    v = quartile_vector(mu, values)
    assert np.argmax(np.abs(v)) == 2 and v[2] > 0.3
    assert not quartile_vector(mu, np.ones(400)).any()
    with pytest.raises(ValueError, match="at least"):
        quartile_vector(mu[:3], values[:3])
    with pytest.raises(ValueError, match="shape|must be"):
        quartile_vector(mu, values[:10])


def test_training_rows_take_the_train_split_up_to_the_limit(ds):
    rows = training_rows(ds, limit=4000)
    assert (ds.split[rows] == "train").all() and len(rows) == (ds.split == "train").sum()
    few = training_rows(ds, limit=50, seed=3)
    assert len(few) == 50 and np.all(np.diff(few) > 0) and set(few) <= set(rows)
    one_tune = ds.subset(np.flatnonzero(ds.split != "train")[:MIN_SEGMENTS + 2])
    assert len(training_rows(one_tune)) == len(one_tune)  # no train rows: all rows


def test_attribute_vectors_of_a_tiny_model(tm, ds):
    seen = []
    vecs = attribute_vectors(tm, ds, limit=200, progress=seen.append)
    assert list(vecs) == list(ATTRIBUTES)
    for v in vecs.values():
        assert v.shape == (8,) and np.isfinite(v).all()
    assert seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(KeyError, match="unknown attribute"):
        attribute_vectors(tm, ds, names=("loudness",))


def test_attribute_vector_finds_the_dim_that_encodes_the_attribute(ds):
    vecs = attribute_vectors(AttributeEncoder(), ds, names=("note_density", "mean_pitch"), limit=300)
    v = vecs["note_density"]
    assert v[0] / np.linalg.norm(v) > 0.95


def test_steer_sets_dims_then_adds_vectors():
    mu = np.zeros(4, np.float32)
    vec = np.array([1.0, 0.0, 2.0, 0.0])
    z = steer(mu, dims={0: 1.5}, vectors={"a": vec}, amounts={"a": 0.5})
    np.testing.assert_allclose(z, [2.0, 0.0, 1.0, 0.0])
    assert not mu.any()  # the caller's array is untouched
    with pytest.raises(KeyError, match="no attribute vector"):
        steer(mu, amounts={"b": 1.0})
    with pytest.raises(ValueError, match="dim must lie"):
        steer(mu, dims={4: 0.0})
    batch = steer(np.zeros((2, 4)), dims={1: -1.0}, vectors={"a": vec}, amounts={"a": 2.0})  # one code per row
    np.testing.assert_allclose(batch, [[2.0, -1.0, 4.0, 0.0]] * 2)
    zs = sweep_latents(mu, [-1, 0, 1], dim=2)
    np.testing.assert_allclose(zs[:, 2], [-1, 0, 1])
    np.testing.assert_allclose(sweep_latents(mu, [2.0], vector=vec)[0], 2 * vec)


def test_sweep_decodes_once_per_value_and_measures(tm, ds):
    seed = ds.melody(0)
    _, mu, _ = tm.encode([seed])
    tokens, attrs = sweep_attributes(tm, mu[0], seed.chroma, np.linspace(-3, 3, 5), dim=1)
    assert tokens.shape == (5, 32)
    assert set(attrs) == set(ATTRIBUTES) and all(a.shape == (5,) for a in attrs.values())
    np.testing.assert_array_equal(tokens[2], decode_one(tm, steer(mu[0], {1: 0.0}), seed.chroma).tokens)
    std = standardise({"x": np.array([1.0, 3.0])}, {"x": np.array([0.0, 2.0, 4.0, 2.0])})
    np.testing.assert_allclose(std["x"], [-1 / np.sqrt(2), 1 / np.sqrt(2)])


@pytest.mark.skipif(not audio_status()[0], reason="FluidSynth is not available")
def test_the_z_to_audio_path_gives_the_melody_midi_and_audio(tm, ds):
    from explorer.audio import render_wav_bytes

    seed = ds.melody(0)
    _, mu, _ = tm.encode([seed])
    mel = decode_one(tm, mu[0], seed.chroma, qpm=100.0)
    midi = melody_to_midi_bytes(mel, program=40)
    wav = render_wav_bytes(midi, cache=False)
    assert midi.startswith(b"MThd") and wav.startswith(b"RIFF")
    assert mel.qpm == 100.0
    np.testing.assert_array_equal(mel.tokens, tm.reconstruct([seed])[0].tokens)
