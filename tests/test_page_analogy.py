"""The Analogy page and its logic (explorer.latent.analogy), with tiny untrained models."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.audio import audio_status
from explorer.latent.analogy import (analogy_grid, chord_condition, chord_sequence, group_distances,
                                     has_analogy_groups, transposition_distances)
from explorer.models.base import LatentLayout
from explorer.models.checkpoint import save_checkpoint
from explorer.models.trained import TrainedModel
from explorer.music.chords import ChordError
from explorer.music.melody import Melody, notes_to_tokens
from helpers_app import TWO_BARS, chart_keys, run_model_page, tiny_arvae, tiny_ec2vae
from clip_players import audio_players, player_keys

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "analogy.py")
EC2 = "ec2vae-analogy-test"
AR = "arvae-analogy-test"

pytestmark = pytest.mark.usefixtures("one_torch_thread", "clear_streamlit_caches", "app_env")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    save_checkpoint(d / f"{EC2}.safetensors", tiny_ec2vae(), card={"note": "untrained test model"})
    save_checkpoint(d / f"{AR}.safetensors", tiny_arvae(), card={"note": "untrained test model"})
    return d


@pytest.fixture(scope="module")
def tm(models_dir) -> TrainedModel:
    return TrainedModel.load(models_dir / f"{EC2}.safetensors", device="cpu")


def melody(notes=TWO_BARS, chord=None) -> Melody:
    chroma = None
    if chord is not None:
        chroma = np.zeros((32, 12), np.uint8)
        chroma[:, chord] = 1
    return Melody(notes_to_tokens(notes, 32), chroma)


def run_page(model: str | None = EC2) -> AppTest:
    return run_model_page(PAGE, model)


# ---- logic ------------------------------------------------------------------------
def test_group_distances_by_hand():
    lay = LatentLayout(4, {"pitch": (0, 2), "rhythm": (2, 4)})
    d = group_distances([3.0, 4.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], lay)
    assert d == {"pitch": 5.0, "rhythm": 0.0}
    rows = group_distances(np.array([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 6.0, 8.0]]), np.zeros(4), lay)
    np.testing.assert_allclose(rows["pitch"], [5.0, 0.0])
    np.testing.assert_allclose(rows["rhythm"], [0.0, 10.0])
    with pytest.raises(ValueError, match="4 dims"):
        group_distances(np.zeros(3), np.zeros(4), lay)
    with pytest.raises(KeyError, match="rhythm"):
        group_distances(np.zeros(2), np.zeros(2), LatentLayout(2, {"pitch": (0, 2)}))
    assert has_analogy_groups(lay) and not has_analogy_groups(LatentLayout(2, {"pitch": (0, 2)}))


def test_chord_condition_modes():
    assert chord_condition("source", 32) is None
    none = chord_condition("none", 32)
    assert none.shape == (32, 12) and not none.any()
    bar = chord_condition("typed", 32, "C G", "bar")
    assert bar.shape == (32, 12)
    assert list(np.flatnonzero(bar[0])) == [0, 4, 7] and list(np.flatnonzero(bar[16])) == [2, 7, 11]
    beat = chord_condition("typed", 32, "C G", "beat")
    assert list(np.flatnonzero(beat[4])) == [2, 7, 11] and list(np.flatnonzero(beat[8])) == [0, 4, 7]
    with pytest.raises(ChordError, match="Xq"):
        chord_condition("typed", 32, "C G Xq F", "bar")
    with pytest.raises(ChordError, match="empty"):
        chord_condition("typed", 32, "  ", "bar")
    with pytest.raises(ChordError, match="source"):
        chord_condition("jazz", 32)
    assert chord_sequence("C G Am F", 32, "bar") == ["C", "G"]
    assert chord_sequence("C | G", 32, "beat") == ["C", "G"] * 4


def test_analogy_grid_crosses_codes_and_chords(tm):
    a, b = melody(chord=[0, 4, 7]), melody([(72, 0, 8), (74, 8, 32)], chord=[2, 7, 11])
    grid = analogy_grid(tm, a, b)
    assert grid[("A", "A")] is a and grid[("B", "B")] is b
    assert np.array_equal(grid[("A", "B")].tokens, tm.swap(a, b, "rhythm").tokens)
    assert np.array_equal(grid[("B", "A")].tokens, tm.swap(b, a, "rhythm").tokens)
    # "from the source": each result takes the chords of its pitch source
    assert np.array_equal(grid[("A", "B")].chroma, a.chroma)
    assert np.array_equal(grid[("B", "A")].chroma, b.chroma)
    typed = chord_condition("typed", 32, "F", "bar")
    grid = analogy_grid(tm, a, b, typed, reconstruct=True)
    for cell in (("A", "B"), ("B", "A"), ("A", "A"), ("B", "B")):
        assert np.array_equal(grid[cell].chroma, typed)
    assert grid[("A", "A")] is not a


def test_transposition_distances(tm):
    a = melody(chord=[0, 4, 7])
    table = transposition_distances(tm, a)
    assert list(table.index) == list(range(-6, 7)) and list(table.columns) == ["pitch", "rhythm"]
    assert table.loc[0].tolist() == [0.0, 0.0]
    assert (table.drop(index=0)["pitch"] > 0).all()
    high = Melody(notes_to_tokens([(124, 0, 32)], 32))
    assert list(transposition_distances(tm, high, range(-2, 6)).index) == [-2, -1, 0, 1, 2, 3]
    ar = TrainedModel(tiny_arvae(), device="cpu")
    with pytest.raises(ValueError, match="EC²-VAE|pitch"):
        analogy_grid(ar, a, a)


# ---- the page ---------------------------------------------------------------------
def test_page_draws_the_grid_and_the_transposition_demo():
    at = run_page()
    assert at.title[0].value == "Analogy"
    keys = chart_keys(at)
    grid = [k for k in keys if k in {"analogy_AA_roll", "analogy_AB_roll", "analogy_BA_roll", "analogy_BB_roll"}]
    assert len(grid) == 4
    assert {f"analogy_{c}" for c in ("AA", "AB", "BA", "BB")} <= set(player_keys(at))  # with their MIDI
    if audio_status()[0]:
        assert len(audio_players(at)) == 6  # the grid's 4 + the transposition demo's 2
    text = " ".join(m.value for m in at.markdown)
    assert "pitch(A) + rhythm(B)" in text and "pitch(B) + rhythm(A)" in text
    # by default a result keeps its pitch source's chords, estimated from its notes where it has none, and says which
    chords = [c.value.removeprefix("Chords: ") for c in at.caption if c.value.startswith("Chords: ")]
    assert any(c.startswith("A's: its own chords") or c.startswith("A's: estimated from its notes: ") for c in chords)
    assert at.radio(key="a_from").value == "Dataset segment" and at.radio(key="b_from").value == "Dataset segment"
    assert at.selectbox(key="a_index").value != at.selectbox(key="b_index").value
    assert [m.label for m in at.metric] == ["‖Δz_p‖ (pitch code)", "‖Δz_r‖ (rhythm code)", "‖Δz_p‖ / ‖Δz_r‖"]
    assert {"analogy_shift_chart", "analogy_moved_roll", "analogy_moved_recon_roll"} <= set(keys)
    at.slider(key="analogy_shift").set_value(0).run()
    assert not at.exception
    assert [m.value for m in at.metric][:2] == ["0.000", "0.000"]


def test_a_bad_chord_symbol_gives_an_error_not_a_traceback():
    at = run_page()
    at.radio(key="analogy_chords").set_value("typed").run()
    assert not at.error
    assert any("C G" in c.value for c in at.caption)
    at.text_input(key="analogy_prog").set_value("C G Xq F").run()
    assert not at.exception
    assert len(at.error) == 1 and "'Xq'" in at.error[0].value and "Accepted" in at.error[0].value
    assert not {"analogy_AB_roll", "analogy_BA_roll"} & set(chart_keys(at))
    assert at.metric  # the transposition demo still works
    at.text_input(key="analogy_prog").set_value("Dm7 G7").run()
    assert not at.error and "analogy_AB_roll" in chart_keys(at)


def test_an_ar_vae_or_no_model_gets_an_explanation():
    at = run_page(AR)
    assert not at.get("plotly_chart")
    assert "needs an EC²-VAE" in at.info[0].value
    at = run_page(None)
    assert "model picker" in at.info[0].value and not at.get("plotly_chart")


def test_with_chords_keeps_own_chords_and_estimates_missing_ones():
    import numpy as np

    from explorer.latent.analogy import with_chords
    from explorer.music.melody import Melody

    h = 128
    tok = np.array([60, h, 64, h, 67, h, h, h] * 2 + [62, h, 65, h, 69, h, h, h] * 2, dtype=np.uint8)
    bare = Melody(tok, np.zeros((32, 12), np.uint8), 100.0)
    est, words = with_chords(bare)
    assert words == "estimated from its notes: C C Dm Dm"
    assert est.chroma[0].tolist() == [1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0] and est.qpm == 100.0
    own = Melody(tok, est.chroma[::-1].copy(), 100.0)
    same, words = with_chords(own)
    assert same is own and words == "its own chords"
    silent, words = with_chords(Melody(np.full(32, 129, np.uint8), np.zeros((32, 12), np.uint8), 100.0))
    assert words.startswith("none") and not silent.chroma.any()
