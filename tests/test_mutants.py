"""Tests written to kill the mutants that survived ``scripts/mutation.sh`` (mutmut) in the
latent operations, the eval figures, the split, the checkpoint loader and TrainedModel
(docs/testing.md lists the survivors this file kills and the equivalent ones it cannot).

Every expected value is worked out by hand from the inputs written here. The models are
stubs: the "copy" model below encodes the first four tokens of a melody as its code and
decodes a code back into those four tokens, so what reaches the decoder can be read off
the decoded melody.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorer.models.base import LatentLayout
from explorer.models.trained import TrainedModel
from explorer.music.melody import HOLD as H
from explorer.music.melody import REST as R
from explorer.music.melody import Melody
from test_known_answers import StubVAE, output_of, small_ec2, two_melodies  # noqa: F401 (fixtures)

PITCH_RHYTHM = {"pitch": (0, 2), "rhythm": (2, 4)}
C_TRIAD = (0, 4, 7)


def tune(*head, steps: int = 16, chord=None, qpm: float = 120.0) -> Melody:
    """A melody whose first tokens are ``head`` followed by holds; ``chord`` sounds throughout."""
    tokens = list(head) + [H] * (steps - len(head))
    chroma = np.zeros((steps, 12), np.uint8)
    if chord is not None:
        chroma[:, list(chord)] = 1
    return Melody(np.array(tokens, np.uint8), chroma, qpm)


def _copy_encode(tokens, chroma):
    return tokens[:, :4].float()  # (B, 4): the first four tokens are the code


def _copy_decode(z, chroma, **kwargs):
    head = z.round().long().clamp(0, 127)  # (B, 4)
    tail = torch.full((len(z), chroma.shape[1] - 4), H, dtype=torch.long)
    return output_of(torch.cat([head, tail], 1).numpy())


def copy_model(groups=PITCH_RHYTHM, steps: int = 16) -> TrainedModel:
    return TrainedModel(StubVAE(4, dict(groups), steps, _copy_encode, _copy_decode), device="cpu")


# ---- explorer.latent.palette ------------------------------------------------------------

def test_bilinear_weights_of_a_3x3_grid_by_hand():
    from explorer.latent.palette import bilinear_weights

    w = bilinear_weights(3)
    assert w.shape == (3, 3, 4)
    # (row, column) -> weights of A, B, C, D: u = column / 2 across, v = row / 2 down
    expected = {(0, 0): [1, 0, 0, 0], (0, 1): [0.5, 0.5, 0, 0], (0, 2): [0, 1, 0, 0],
                (1, 0): [0.5, 0, 0.5, 0], (1, 1): [0.25] * 4, (1, 2): [0, 0.5, 0, 0.5],
                (2, 0): [0, 0, 1, 0], (2, 1): [0, 0, 0.5, 0.5], (2, 2): [0, 0, 0, 1]}
    for (r, c), want in expected.items():
        np.testing.assert_allclose(w[r, c], want, atol=1e-12)


@pytest.mark.parametrize("n", [1, 17])
def test_bilinear_weights_refuse_grids_outside_2_to_16(n):
    from explorer.latent.palette import bilinear_weights

    with pytest.raises(ValueError, match=f"2..16 cells a side, got {n}"):
        bilinear_weights(n)


@pytest.mark.parametrize("n", [2, 16])
def test_bilinear_weights_accept_the_ends_of_the_range(n):
    from explorer.latent.palette import bilinear_weights

    assert bilinear_weights(n).shape == (n, n, 4)


def test_cell_labels_name_the_corners_and_number_the_rest_from_one():
    from explorer.latent.palette import cell_labels

    assert cell_labels(3) == ["A", "1·2", "B", "2·1", "2·2", "2·3", "C", "3·2", "D"]


def test_palette_latents_are_the_bilinear_blend_row_by_row():
    from explorer.latent.palette import palette_latents

    corners = [[0, 0], [4, 0], [0, 8], [4, 8]]  # A, B, C, D
    z = palette_latents(corners, 3)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z, [[0, 0], [2, 0], [4, 0], [0, 4], [2, 4], [4, 4], [0, 8], [2, 8], [4, 8]])


@pytest.mark.parametrize("bad", [np.zeros((3, 2)), np.zeros(4), np.zeros((4, 2, 1))])
def test_palette_latents_refuse_other_than_four_corner_codes(bad):
    from explorer.latent.palette import palette_latents

    with pytest.raises(ValueError, match=r"corner codes must have shape \(4, D\)"):
        palette_latents(bad, 3)


def test_palette_decodes_the_grid_with_blended_chords_and_the_tempo_of_a():
    from explorer.latent.palette import palette

    tm = copy_model()
    a = tune(0, 0, 0, 0, chord=C_TRIAD, qpm=90.0)  # codes: A (0, 0), B (4, 0), C (0, 8), D (4, 8)
    b, c, d = tune(4, 0, 0, 0), tune(0, 8, 0, 0), tune(4, 8, 0, 0)
    cells = palette(tm, [a, b, c, d], n=3)
    assert len(cells) == 9
    heads = [tuple(int(x) for x in m.tokens[:2]) for m in cells]
    assert heads == [(0, 0), (2, 0), (4, 0), (0, 4), (2, 4), (4, 4), (0, 8), (2, 8), (4, 8)]
    # A alone has chords: its weight is 1 at A, 1/2 at the cells beside it (sounds: >= 0.5), 1/4 in the middle
    sounding = [bool(m.chroma.any()) for m in cells]
    assert sounding == [True, True, False, True, False, False, False, False, False]
    assert sorted(np.flatnonzero(cells[1].chroma[0])) == list(C_TRIAD)
    assert [m.qpm for m in cells] == [90.0] * 9


def test_palette_is_4_by_4_by_default():
    from explorer.latent.palette import palette

    cells = palette(copy_model(), [tune(0), tune(4), tune(8), tune(12)])
    # code 4u + 8v at u = column / 3, v = row / 3, rounded by the copy decoder
    assert [int(m.tokens[0]) for m in cells] == [0, 1, 3, 4, 3, 4, 5, 7, 5, 7, 8, 9, 8, 9, 11, 12]


def test_palette_refuses_three_corners():
    from explorer.latent.palette import palette

    with pytest.raises(ValueError, match="4 corner melodies .* got 3"):
        palette(copy_model(), [tune(0), tune(1), tune(2)], n=3)


# ---- explorer.latent.analogy -------------------------------------------------------------

def test_has_analogy_groups_needs_both_pitch_and_rhythm():
    from explorer.latent.analogy import has_analogy_groups

    assert has_analogy_groups(LatentLayout(4, PITCH_RHYTHM))
    assert not has_analogy_groups(LatentLayout(4, {"pitch": (0, 2)}))
    assert not has_analogy_groups(LatentLayout(4, {"rhythm": (2, 4)}))


def test_group_distances_by_hand():
    from explorer.latent.analogy import group_distances

    layout = LatentLayout(4, PITCH_RHYTHM)
    d = group_distances([3, 4, 0, 1], [0, 0, 0, 0], layout)  # pitch ‖(3, 4)‖ = 5, rhythm ‖(0, 1)‖ = 1
    assert d == {"pitch": 5.0, "rhythm": 1.0}
    assert isinstance(d["pitch"], float)
    rows = group_distances([[3, 4, 0, 0], [0, 0, 6, 8]], [0, 0, 0, 0], layout)
    np.testing.assert_allclose(rows["pitch"], [5.0, 0.0])
    np.testing.assert_allclose(rows["rhythm"], [0.0, 10.0])
    assert group_distances([3, 4, 0, 1], [0, 0, 0, 0], layout, groups=("rhythm",)) == {"rhythm": 1.0}


@pytest.mark.parametrize("which", ["z_a", "z_b"])
def test_group_distances_refuse_codes_of_another_size(which):
    from explorer.latent.analogy import group_distances

    good, bad = np.zeros(4), np.zeros(3)
    args = (bad, good) if which == "z_a" else (good, bad)
    with pytest.raises(ValueError, match=f"{which} must have 4 dims"):
        group_distances(*args, LatentLayout(4, PITCH_RHYTHM))


def test_split_progression_separates_on_spaces_commas_and_bars():
    from explorer.latent.analogy import split_progression

    assert split_progression("C|G, Am  F") == ["C", "G", "Am", "F"]


def test_chord_condition_of_each_mode():
    from explorer.latent.analogy import chord_condition
    from explorer.music.chords import ChordError

    assert chord_condition("source", 32) is None
    none = chord_condition("none", 32)
    assert none.shape == (32, 12) and none.dtype == np.uint8 and not none.any()
    by_bar = chord_condition("typed", 32, "C G")  # C for bar 1 (steps 0-15), G for bar 2
    assert sorted(np.flatnonzero(by_bar[15])) == [0, 4, 7]
    assert sorted(np.flatnonzero(by_bar[16])) == [2, 7, 11]
    by_beat = chord_condition("typed", 32, "C G", per="beat")  # 4 steps a chord
    assert sorted(np.flatnonzero(by_beat[3])) == [0, 4, 7]
    assert sorted(np.flatnonzero(by_beat[4])) == [2, 7, 11]
    with pytest.raises(ChordError, match="chord mode must be one of"):
        chord_condition("mine", 32)
    with pytest.raises(ChordError, match="a typed chord lasts one of"):
        chord_condition("typed", 32, "C", per="bars")
    with pytest.raises(ChordError, match="the progression is empty"):
        chord_condition("typed", 32)


def test_chord_sequence_repeats_the_symbols_over_the_slots():
    from explorer.latent.analogy import chord_sequence

    assert chord_sequence("C G Am", 32, "beat") == ["C", "G", "Am", "C", "G", "Am", "C", "G"]
    assert chord_sequence("C G Am F", 33, "bar") == ["C", "G", "Am"]  # 33 steps: 3 bars started
    assert chord_sequence("C G", 16, "bar") == ["C"]
    assert chord_sequence("  ", 32, "bar") == []


def test_analogy_grid_crosses_pitch_and_rhythm_codes():
    from explorer.latent.analogy import analogy_grid

    tm = copy_model()
    a = tune(60, 62, 64, 65, chord=C_TRIAD, qpm=90.0)
    b = tune(70, 71, 72, 73, qpm=150.0)
    grid = analogy_grid(tm, a, b)
    assert grid[("A", "A")] is a and grid[("B", "B")] is b
    assert list(grid[("A", "B")].tokens[:4]) == [60, 62, 72, 73]  # pitch code of A, rhythm code of B
    assert list(grid[("B", "A")].tokens[:4]) == [70, 71, 64, 65]
    assert grid[("A", "B")].chroma.any() and not grid[("B", "A")].chroma.any()  # chords of the pitch source
    assert (grid[("A", "B")].qpm, grid[("B", "A")].qpm) == (90.0, 150.0)


def test_analogy_grid_reconstructs_the_diagonal_under_the_given_chords():
    from explorer.latent.analogy import analogy_grid

    tm = copy_model()
    a = tune(60, 62, 64, 65, chord=C_TRIAD, qpm=90.0)
    b = tune(70, 71, 72, 73, qpm=150.0)
    own = analogy_grid(tm, a, b, reconstruct=True)
    assert own[("A", "A")] is not a
    assert list(own[("A", "A")].tokens[:4]) == [60, 62, 64, 65]
    assert list(own[("B", "B")].tokens[:4]) == [70, 71, 72, 73]
    assert own[("A", "A")].chroma.any() and not own[("B", "B")].chroma.any()
    assert (own[("A", "A")].qpm, own[("B", "B")].qpm) == (90.0, 150.0)
    g_major = np.zeros((16, 12), np.uint8)
    g_major[:, [2, 7, 11]] = 1
    under_g = analogy_grid(tm, a, b, g_major, reconstruct=True)
    for key in [("A", "A"), ("A", "B"), ("B", "A"), ("B", "B")]:
        np.testing.assert_array_equal(under_g[key].chroma, g_major)


def test_analogy_grid_refuses_a_model_without_pitch_and_rhythm_groups():
    from explorer.latent.analogy import analogy_grid

    with pytest.raises(ValueError, match=r"analogies need a model with latent groups .*stub has none"):
        analogy_grid(copy_model(groups={}), tune(60), tune(62))


def _transposition_encode(tokens, chroma):
    # pitch code: the first two pitches; rhythm code: the number of holds and of rests
    return torch.stack([tokens[:, 0], tokens[:, 1], (tokens == H).sum(1), (tokens == R).sum(1)], 1).float()


def test_transposition_distances_move_the_pitch_code_and_skip_shifts_off_the_keyboard():
    from explorer.latent.analogy import transposition_distances

    tm = TrainedModel(StubVAE(4, PITCH_RHYTHM, 16, _transposition_encode), device="cpu")
    melody = tune(120, 126, 127)
    table = transposition_distances(tm, melody, shifts=(1, -2, 0, 3))  # +1 would put 127 at 128
    assert table.index.name == "semitones"
    assert list(table.index) == [-2, 0]  # a shift left out does not end the list
    # both pitches move by s: ‖(s, s)‖ = |s|·√2; the holds and rests do not move
    np.testing.assert_allclose(table["pitch"], [2 * np.sqrt(2), 0.0])
    np.testing.assert_allclose(table["rhythm"], [0.0, 0.0])
    empty = transposition_distances(tm, melody, shifts=(5, 6))
    assert len(empty) == 0 and list(empty.columns) == ["pitch", "rhythm"] and empty.index.name == "semitones"
    assert empty.index.dtype.kind == "i"


def test_transposition_distances_refuse_a_model_without_the_groups():
    from explorer.latent.analogy import transposition_distances

    with pytest.raises(ValueError, match=r"the transposition demo needs latent groups .*stub has none"):
        transposition_distances(copy_model(groups={}), tune(60))


# ---- explorer.eval.metrics ----------------------------------------------------------------

def test_spearman_skips_a_dim_without_its_attribute_and_keeps_four_decimals():
    from explorer.eval.metrics import spearman

    a = np.array([1.0, 2, 3, 4, 5, 6])
    z = np.column_stack([[1.0, 2, 3, 4, 6, 5], np.zeros(6)])
    # one pair of neighbours swapped among 6: 1 - 6·2/(6·35) = 1 - 2/35 = 0.942857…
    got = spearman(z, {"a": a}, {"missing": 1, "a": 0})
    assert got == {"a": 0.9429, "mean": 0.9429}


def test_spearman_of_a_constant_attribute_is_zero_and_of_nothing_is_zero():
    from explorer.eval.metrics import spearman

    z = np.column_stack([np.arange(6.0), np.zeros(6)])
    with pytest.warns(Warning, match="is constant"):  # scipy's ConstantInputWarning
        assert spearman(z, {"c": np.full(6, 2.0)}, {"c": 0}) == {"c": 0.0, "mean": 0.0}
    assert spearman(z, {}, {}) == {"mean": 0.0}


def _four_decimals(values):
    """The mean of ``values`` rounded to 4 decimals, after checking a fifth decimal would show."""
    mean = float(np.mean(values))
    assert round(mean, 4) != round(mean, 5)
    return round(mean, 4)


def test_each_metric_rounds_its_figures_and_their_mean_to_four_decimals():
    from scipy.stats import spearmanr

    from explorer.eval.metrics import interpretability, mig, sap, spearman

    rng = np.random.default_rng(7)  # a seed whose figures and means all have a fifth decimal
    z = rng.normal(size=(200, 3))
    attrs = {f"a{j}": z[:, j] + rng.normal(size=200) * (j + 1) for j in range(3)}
    r2 = {k: np.corrcoef(z[:, 0], a)[0, 1] ** 2 for k, a in attrs.items()}
    got = interpretability(z[:, :1], attrs)  # one dim: its MI is the highest
    assert {k: got[k] for k in attrs} == {k: {"dim": 0, "r2": round(v, 4)} for k, v in r2.items()}
    assert any(round(v, 4) != round(v, 5) for v in r2.values())
    assert got["mean"] == _four_decimals([round(v, 4) for v in r2.values()])
    for metric in (mig(z, attrs), sap(z, attrs), spearman(z, attrs, {"a0": 0, "a1": 1, "a2": 2})):
        assert metric["mean"] == _four_decimals([metric[k] for k in attrs])
    rho = spearmanr(z[:, 1], attrs["a1"]).statistic
    assert spearman(z, attrs, {"a1": 1})["a1"] == round(rho, 4) != round(rho, 5)


def test_mig_bins_each_side_in_20_by_default():
    from sklearn.metrics import mutual_info_score

    from explorer.eval.metrics import mig

    rng = np.random.default_rng(1)
    z = rng.normal(size=(300, 2))
    a = z[:, 0] + 0.5 * rng.normal(size=300)

    def binned(x, bins=20):  # equal-width bins over the range, as np.histogram would
        edges = np.linspace(x.min(), x.max(), bins + 1)
        return np.digitize(x, edges[1:-1])

    ab = binned(a)
    mis = sorted((mutual_info_score(binned(z[:, j]), ab) for j in range(2)), reverse=True)
    want = round((mis[0] - mis[1]) / mutual_info_score(ab, ab), 4)
    assert mig(z, {"a": a})["a"] == want != mig(z, {"a": a}, bins=21)["a"]


def test_interpretability_draws_5000_rows_without_replacement_by_seed_0():
    from explorer.eval.metrics import interpretability

    rng = np.random.default_rng(2)
    z = rng.normal(size=(6000, 1))
    a = z[:, 0] + rng.normal(size=6000)
    idx = np.random.default_rng(0).choice(6000, 5000, replace=False)
    want = round(np.corrcoef(z[idx, 0], a[idx])[0, 1] ** 2, 4)
    assert interpretability(z, {"a": a})["a"] == {"dim": 0, "r2": want}
    # other draws read otherwise: the whole set, 5001 rows, another seed, with replacement
    idx_r = np.random.default_rng(0).choice(6000, 5000, replace=True)
    others = [np.corrcoef(z[:, 0], a)[0, 1] ** 2, interpretability(z, {"a": a}, max_rows=5001)["a"]["r2"],
              interpretability(z, {"a": a}, seed=1)["a"]["r2"], np.corrcoef(z[idx_r, 0], a[idx_r])[0, 1] ** 2]
    assert want not in [round(v, 4) for v in others]


def test_interpretability_picks_the_dim_by_mutual_information_of_seed_0():
    """On integer-valued codes the MI estimator's jitter (its random_state) decides between two
    dims of near-equal information; the pick is the one of random_state = seed, 0 by default."""
    from sklearn.feature_selection import mutual_info_regression

    from explorer.eval.metrics import interpretability

    rng = np.random.default_rng(0)
    z = rng.integers(0, 3, size=(60, 2)).astype(float)
    attrs = {f"a{k}": z.sum(1) + rng.integers(0, 2, 60) for k in range(12)}
    want = {k: int(np.argmax(mutual_info_regression(z, a, random_state=0))) for k, a in attrs.items()}
    got = interpretability(z, attrs)
    assert {k: got[k]["dim"] for k in attrs} == want
    other = interpretability(z, attrs, seed=1)
    assert sum(other[k]["dim"] != want[k] for k in attrs) >= 3  # the seed matters here


# ---- explorer.eval.run: the rhythm test ---------------------------------------------------

def test_change_rhythm_puts_each_melodys_pitches_on_its_partners_rhythm():
    from explorer.eval.run import change_rhythm

    tokens = np.array([[R] * 8,  # no note: dropped
                       [H, H, R, R, R, R, R, R],  # no note either (orphan holds): dropped
                       [60, H, 62, H, R, R, 64, H],  # 3 notes at 0, 2, 6
                       [70, 72, H, H, 74, R, R, R],  # 3 notes at 0, 1, 4
                       [65, H, H, H, 67, H, H, H],  # 2 notes at 0, 4, held
                       [66, H, R, R, 68, H, R, R],  # 2 notes at 0, 4 with rests: same onsets, other holds
                       [61, H, 63, H, H, H, H, H],  # 2 notes at 0, 2, and its only partner ...
                       [71, H, 73, H, H, H, H, H]], np.uint8)  # ... has the same rhythm
    keep, new = change_rhythm(tokens[:4], np.random.default_rng(0))
    assert keep.dtype.kind == "i" and new.dtype == np.uint8
    assert keep.tolist() == [2, 3]
    np.testing.assert_array_equal(new, [[60, 62, H, H, 64, R, R, R],  # 2's pitches, 3's rhythm
                                        [70, H, 72, H, R, R, 74, H]])  # 3's pitches, 2's rhythm
    # same onsets but other holds: a new rhythm, kept
    keep, new = change_rhythm(tokens[4:6], np.random.default_rng(0))
    assert keep.tolist() == [0, 1]
    np.testing.assert_array_equal(new, [[65, H, R, R, 67, H, R, R], [66, H, H, H, 68, H, H, H]])
    # the same rhythm: nothing would change, dropped; the rows after them still count
    keep, new = change_rhythm(tokens[[6, 7, 2, 3]], np.random.default_rng(0))
    assert keep.tolist() == [2, 3]


def test_change_rhythm_of_melodies_without_partners_is_empty_but_typed():
    from explorer.eval.run import change_rhythm

    keep, new = change_rhythm(np.array([[60, H, H, H], [R, R, R, R]], np.uint8), np.random.default_rng(0))
    assert keep.shape == (0,) and keep.dtype.kind == "i"
    assert new.shape == (0, 4) and new.dtype == np.uint8


def _rhythm_chord_encoder(tokens, chroma):
    """z_p = (sum of onset pitches, rests / 7 + chord notes / 100); z_r = (sum of onset steps / 9, 0)."""
    onset = tokens < 128
    steps = torch.arange(tokens.shape[1])
    return torch.stack([torch.where(onset, tokens, 0).sum(1).float(),
                        (tokens == R).sum(1).float() / 7 + chroma.sum((1, 2)) / 100,
                        torch.where(onset, steps, 0).sum(1).float() / 9, torch.zeros(len(tokens))], 1)


def test_rhythm_test_encodes_both_versions_under_the_melodys_chords():
    from explorer.eval.run import rhythm_test

    tm = TrainedModel(StubVAE(4, PITCH_RHYTHM, 8, _rhythm_chord_encoder), device="cpu")
    tokens = np.array([[60, H, 62, H, 64, H, H, H],  # onsets 0 2 4 (sum 6), no rest
                       [65, R, R, 67, H, H, 69, R],  # onsets 0 3 6 (sum 9), 3 rests
                       [70, H, H, H, H, H, H, H]])  # no partner
    chroma = np.zeros((3, 8, 12), np.float32)
    chroma[0, :, [0, 4, 7]] = 1  # 24 chord notes in melody 0 only: 0.24 in its z_p, before and after
    # rows 0 and 1 trade rhythms: Δz_p = 3 rests / 7 = 0.428571…, Δz_r = 3 / 9 = 0.3333…
    got = rhythm_test(tm, tokens, chroma)
    assert got == {"dz_p": 0.4286, "dz_r": 0.3333, "ratio": 0.778, "n": 2}  # ratio 7/9


def test_rhythm_test_without_partners_is_all_zero():
    from explorer.eval.run import rhythm_test

    tm = TrainedModel(StubVAE(4, PITCH_RHYTHM, 8, _rhythm_chord_encoder), device="cpu")
    got = rhythm_test(tm, np.array([[60, H, H, H, H, H, H, H]]), np.zeros((1, 8, 12), np.float32))
    assert got == {"dz_p": 0.0, "dz_r": 0.0, "ratio": 0.0, "n": 0}


def test_rhythm_test_draws_partners_with_seed_0_by_default():
    from explorer.eval.run import rhythm_test

    tm = TrainedModel(StubVAE(4, PITCH_RHYTHM, 8, _rhythm_chord_encoder), device="cpu")
    rhythms = [[0, 1, 2], [0, 4, 6], [1, 3, 7], [0, 2, 5], [2, 3, 6], [0, 5, 7]]
    tokens = np.full((6, 8), H, np.int64)
    for row, steps in enumerate(rhythms):
        tokens[row, steps] = [60 + row, 62, 64]
    chroma = np.zeros((6, 8, 12), np.float32)
    default = rhythm_test(tm, tokens, chroma)
    assert default == rhythm_test(tm, tokens, chroma, seed=0)
    assert default != rhythm_test(tm, tokens, chroma, seed=1)  # the partners drawn do matter here


# ---- explorer.latent.projection -----------------------------------------------------------

def test_correlation_by_hand():
    import warnings

    from explorer.latent.projection import correlation

    # a - mean = (-1, 0, 1), b - mean = (-7/3, -1/3, 8/3): r = 5 / (√2 · √114 / 3) = 15 / √228
    assert correlation([1, 2, 3], [2, 4, 7]) == pytest.approx(15 / np.sqrt(228))
    assert correlation([1, 2], [3, 5]) == pytest.approx(1.0)  # two points are enough
    assert correlation([0, 2], [-1, 1]) == pytest.approx(1.0)  # std 1 is not constant
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # constant sides give NaN without a division by zero
        assert np.isnan(correlation([1, 1, 1], [1, 2, 3]))
        assert np.isnan(correlation([1, 2, 3], [4, 4, 4]))
        assert np.isnan(correlation([1], [2]))


def test_linear_map_subtracts_the_mean_then_projects():
    from explorer.latent.projection import LinearMap

    m = LinearMap(mean=[1.0, 1.0, 0.0], components=[[1.0, 0, 0], [0, 0.5, 0]])
    np.testing.assert_allclose(m.transform([[3.0, 5.0, 9.0]]), [[2.0, 2.0]])
    assert repr(m) == "LinearMap(dims=3 → 2)"


def test_pca_of_points_on_a_line_explains_everything_with_the_first_component():
    from explorer.latent.projection import project

    X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    proj = project(X, "PCA")
    np.testing.assert_allclose(proj.state["explained"], [1.0, 0.0], atol=1e-9)
    # distances along the line: the coordinates are ±(−1.5, −0.5, 0.5, 1.5)·√2
    np.testing.assert_allclose(np.abs(proj.coords[:, 0]), np.array([1.5, 0.5, 0.5, 1.5]) * np.sqrt(2))


def test_umap_is_offered_exactly_when_umap_learn_is_installed():
    import importlib.util

    from explorer.latent.projection import umap_available

    assert umap_available() == (importlib.util.find_spec("umap") is not None)


# ---- explorer.eval.performance ------------------------------------------------------------

def test_performance_metrics_by_hand():
    from explorer.eval.performance import mean_metrics, performance_metrics

    beat = np.array([0, 0, 1])
    pred = np.array([[1.0, 0.5, 0, 0], [3.0, 0.25, 0, 0], [5.0, 0.0, 0, 0]])
    human = np.array([[2.0, 0.5, 0, 0], [2.0, 0.5, 0, 0], [8.0, 0.5, 0, 0]])
    got = performance_metrics(pred, human, beat)
    # per-beat tempo: predicted (2, 5), human (2, 8): r = 1 (two points on a line), MSE (0 + 9) / 2;
    # velocity in MIDI units: predicted (63.5, 31.75, 0), human 63.5 throughout (constant: r = 0)
    assert got == {"velocity_r": 0.0, "velocity_mse": pytest.approx((31.75 ** 2 + 63.5 ** 2) / 3),
                   "tempo_r": pytest.approx(1.0), "tempo_mse": 4.5}
    assert mean_metrics([{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 6.0}]) == {"a": 2.0, "b": 4.0}
    assert mean_metrics([]) == {}


def _score_features(rows):
    """Score-feature rows (N, F) from dicts of the named columns (the rest 0)."""
    from explorer.data.performances import SCORE_FEATURES

    out = np.zeros((len(rows), len(SCORE_FEATURES)))
    for i, row in enumerate(rows):
        for name, value in row.items():
            out[i, SCORE_FEATURES.index(name)] = value
    return out


# a note on the downbeat of the lower staff, a third of an octave long, high;
# and one on a secondary beat of the upper staff, half a beat long, lower
NOTE_A = {"staff2": 1, "downbeat": 1, "strength_secondary": 0, "log2_duration_beat": 0.4, "pitch": 0.7}
NOTE_B = {"staff2": 0, "downbeat": 0, "strength_secondary": 1, "log2_duration_beat": -1.0, "pitch": 0.4}


def test_score_contexts_finest_first():
    from explorer.eval.performance import _context_keys

    keys = _context_keys(_score_features([NOTE_A, NOTE_B]))
    # (staff, 2·downbeat + secondary, round(3·log2 duration), floor(2·pitch)), then (staff, strength), then ()
    assert keys == [((1, 2, 1, 1), (0, 1, -3, 0)), ((1, 2), (0, 1)), ((0,), (0,))]


def test_mean_performance_falls_back_to_coarser_contexts_with_fewer_than_5_notes():
    from types import SimpleNamespace

    from explorer.eval.performance import MeanPerformance

    features = _score_features([NOTE_A] * 5 + [NOTE_B] * 2)
    values = np.array([1.0, 2, 3, 4, 5, 10, 10])
    targets = np.stack([values, 2 * values, 3 * values, 4 * values], 1)  # (7, 4)
    base = MeanPerformance([SimpleNamespace(score=SimpleNamespace(features=features), targets=targets)])
    new = dict(NOTE_B, staff2=1)  # a context never seen, at every level but the last
    pred = base.predict(_score_features([NOTE_A, NOTE_B, new]))
    assert pred.dtype == np.float32 and pred.shape == (3, 4)
    # A: its 5 notes' mean 3; B has 2 notes (too few at both finer levels): the mean of all, 35 / 7 = 5
    np.testing.assert_allclose(pred, [[3, 6, 9, 12], [5, 10, 15, 20], [5, 10, 15, 20]])


def test_performance_card_markdown_by_hand():
    from explorer.eval.performance import card_markdown

    row = {"velocity_r": 0.5, "tempo_r": 0.25, "velocity_mse": 100.04, "tempo_mse": 0.01234}
    knn = {"accuracy": 0.5, "chance": 0.2, "k": 3, "performances": 10, "per_held_out_piece": {"p1": 0.5, "p2": 0.25}}
    card = {"config": {"z_dims": 16, "feature_names": ["pitch"], "target_mean": [0], "target_std": [1]},
            "data": {"sources": ["vienna4x22"]}, "steps": 100, "epochs": 2, "batch": 8, "window": 64, "lr": 0.001,
            "train_seconds": 3000, "hardware": "cpu", "eval_command": "explorer eval x.safetensors", "notes": ["n1"],
            "eval": {"test": {"pieces": ["D783", "D784"], "performances": 22, "notes": 1000},
                     "model_prior_z": row, "model_encoded_z": dict(row, velocity_r=0.9),
                     "baseline_deadpan": dict(row, velocity_r=0.0), "baseline_mean_performance": dict(row, tempo_r=0.1),
                     "beats_both_baselines": {"velocity_r": True, "tempo_r": False},
                     "knn_emotion": knn, "knn_pianist": dict(knn, k=1), "knn_pianist_piece_centred": dict(knn, k=2)}}
    assert card_markdown("style", card) == "\n".join([
        "# style", "",
        "A VirtuosoNet-like conditional VAE (explorer.models.virtuoso): hierarchical score encoder (note → beat → "
        "measure bi-GRUs), performance encoder → style z, decoder → per-note tempo, velocity, timing and "
        "articulation (partitura's performance codec).", "",
        '- config: `{"z_dims": 16}`',
        '- data: {"sources": ["vienna4x22"]}',
        "- training: 100 steps, 2 epochs, batch 8, window 64 notes, lr 0.001, 50.0 min on cpu", "",
        "## Held-out piece: D783, D784 (22 performances, 1000 notes)", "",
        "| | velocity r | tempo r | velocity MSE (MIDI²) | tempo MSE (log2² beat period) |",
        "|---|---|---|---|---|",
        "| model_prior_z | 0.500 | 0.250 | 100.0 | 0.0123 |",
        "| model_encoded_z | 0.900 | 0.250 | 100.0 | 0.0123 |",
        "| baseline_deadpan | 0.000 | 0.250 | 100.0 | 0.0123 |",
        "| baseline_mean_performance | 0.500 | 0.100 | 100.0 | 0.0123 |",
        "\nBeats both baselines (z = 0): {'velocity_r': True, 'tempo_r': False}",
        "- knn_emotion: accuracy 0.500 (chance 0.200, k = 3, 10 performances, leave one piece out: p1 0.50, p2 0.25)",
        "- knn_pianist: accuracy 0.500 (chance 0.200, k = 1, 10 performances, leave one piece out: p1 0.50, p2 0.25)",
        "- knn_pianist_piece_centred: accuracy 0.500 (chance 0.200, k = 2, 10 performances, leave one piece out: "
        "p1 0.50, p2 0.25)",
        "",
        "Reproduce: `explorer eval x.safetensors`",
        "- n1"]) + "\n"


def test_performance_card_markdown_of_an_empty_card():
    from explorer.eval.performance import card_markdown

    text = card_markdown("bare", {})
    assert "- config: `{}`\n- data: {}\n" in text
    assert "- training: None steps, None epochs, batch None, window None notes, lr None, 0.0 min on None\n" in text
    assert "## Held-out piece:  (None performances, None notes)\n" in text
    assert text.endswith("|---|---|---|---|---|\n\nBeats both baselines (z = 0): None\n\nReproduce: ``\n")


def test_the_performance_eval_command_names_a_missing_checkpoint_and_exits_2(tmp_path, capsys):
    from explorer.eval.performance import main

    assert main([str(tmp_path / "none.safetensors"), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "none.safetensors" in err


# ---- explorer.latent.control --------------------------------------------------------------

def test_steer_sets_dims_then_adds_the_vectors():
    from explorer.latent.control import steer

    mu = np.array([1.0, 2.0, 3.0])
    z = steer(mu, dims={0: 5}, vectors={"a": [1, 1, 1], "b": [0, 0, 9]}, amounts={"b": 0.0, "a": 2})
    np.testing.assert_array_equal(z, [7.0, 4.0, 5.0])  # (5, 2, 3) + 2·(1, 1, 1); b's amount 0 adds nothing
    assert z.dtype == np.float32 and list(mu) == [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(steer([[1.0, 2], [3, 4]], dims={1: 0}), [[1, 0], [3, 0]])
    np.testing.assert_array_equal(steer(mu, amounts={"unknown": 0}), mu)  # an amount of 0 needs no vector


@pytest.mark.parametrize("dims", [{3: 1.0}, {-1: 1.0}])
def test_steer_refuses_a_dim_outside_the_code(dims):
    from explorer.latent.control import steer

    with pytest.raises(ValueError, match=rf"dim must lie in 0..2, got {list(dims)[0]}"):
        steer([1.0, 2.0, 3.0], dims=dims)


def test_steer_refuses_an_amount_without_a_vector_or_with_a_wrong_vector():
    from explorer.latent.control import steer

    with pytest.raises(KeyError, match=r"no attribute vector for 'a'; have \[\]"):
        steer([1.0, 2.0], amounts={"a": 1.0})
    with pytest.raises(KeyError, match=r"no attribute vector for 'a'; have \['b'\]"):
        steer([1.0, 2.0], vectors={"b": [1, 1]}, amounts={"a": 1.0})
    with pytest.raises(ValueError, match=r"the vector of 'a' has shape \(3,\); z has \(2,\)"):
        steer([1.0, 2.0], vectors={"a": [1, 1, 1]}, amounts={"a": 1.0})


def test_sweep_latents_along_a_dim_or_a_vector():
    from explorer.latent.control import sweep_latents

    mu = [1.0, 2.0, 3.0]
    by_dim = sweep_latents([mu], [0, 10], dim=1)  # a (1, D) code counts as (D,)
    np.testing.assert_array_equal(by_dim, [[1, 0, 3], [1, 10, 3]])
    by_vector = sweep_latents(mu, [-1, 2], vector=[1, 0, 0])
    np.testing.assert_array_equal(by_vector, [[0, 2, 3], [3, 2, 3]])
    assert by_dim.dtype == by_vector.dtype == np.float32
    np.testing.assert_array_equal(sweep_latents(mu, 7, dim=2), [[1, 2, 7]])  # one value
    for kwargs in ({}, {"dim": 0, "vector": [1, 0, 0]}):
        with pytest.raises(ValueError, match="^give exactly one of dim and vector$"):
            sweep_latents(mu, [0], **kwargs)


def test_sweep_attributes_decodes_each_value_and_measures_it():
    from explorer.latent.control import sweep_attributes

    chroma = np.zeros((16, 12), np.float32)
    chroma[:, list(C_TRIAD)] = 1  # 48 chord notes: the chord model writes 48 at step 4
    tokens, attrs = sweep_attributes(chord_model(), [60, 62, 64, 65], chroma, [60, 72], dim=0,
                                     names=("pitch_range", "mean_pitch"))
    assert tokens.dtype == np.uint8 and tokens.shape == (2, 16) and sorted(attrs) == ["mean_pitch", "pitch_range"]
    np.testing.assert_array_equal(tokens[:, :5], [[60, 62, 64, 65, 48], [72, 62, 64, 65, 48]])
    np.testing.assert_allclose(attrs["pitch_range"], [17, 24])  # 65 - 48, 72 - 48
    np.testing.assert_allclose(attrs["mean_pitch"], [59.8, 62.2])  # (60+62+64+65+48)/5, (72+62+64+65+48)/5
    by_vector, _ = sweep_attributes(chord_model(), [60, 62, 64, 65], chroma, [1], vector=[0, 0, 0, 2],
                                    names=("pitch_range",))
    np.testing.assert_array_equal(by_vector[:, :4], [[60, 62, 64, 67]])


def test_standardise_by_hand():
    from explorer.latent.control import standardise

    got = standardise({"a": [1, 2, 3]})  # mean 2, std √(2/3)
    np.testing.assert_allclose(got["a"], np.array([-1, 0, 1]) / np.sqrt(2 / 3))
    got = standardise({"a": [1, 2, 3], "b": [1]}, {"a": [0, 4, np.nan], "c": [9]})
    np.testing.assert_allclose(got["a"], [-0.5, 0, 0.5])  # reference mean 2, std 2; NaN left out
    np.testing.assert_allclose(got["b"], [0.0])  # no reference for b: its own values
    np.testing.assert_allclose(standardise({"c": [6.0]}, {"c": [5.0, 5.0]})["c"], [1.0])  # std 0 counts as 1
    np.testing.assert_allclose(standardise({"d": [3.0]}, {"d": [np.nan]})["d"], [3.0])  # nothing to centre on


def test_decode_one_keeps_the_chords_and_tempo_it_is_given():
    from explorer.latent.control import decode_one
    from explorer.music.melody import DEFAULT_QPM

    plain = decode_one(copy_model(), [60, 62, 64, 65])
    assert list(plain.tokens[:4]) == [60, 62, 64, 65] and not plain.chroma.any() and plain.qpm == DEFAULT_QPM
    chroma = np.zeros((16, 12), np.uint8)
    chroma[:, list(C_TRIAD)] = 1
    chorded = decode_one(copy_model(), np.array([[70, 71, 72, 73]]), chroma, qpm=90.0)
    np.testing.assert_array_equal(chorded.chroma, chroma)
    assert list(chorded.tokens[:4]) == [70, 71, 72, 73] and chorded.qpm == 90.0


# ---- explorer.latent.cache ----------------------------------------------------------------

@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path))
    return tmp_path


def test_cache_round_trip_leaves_only_the_entry(cache_dir):
    from explorer.latent.cache import entry_path, load_arrays, save_arrays

    assert entry_path("latents", "k1") == cache_dir / "latents" / "k1.npz"
    assert load_arrays("latents", "k1") is None
    path = save_arrays("latents", "k1", mu=np.arange(3.0), rows=np.array([4, 5]))
    assert path == cache_dir / "latents" / "k1.npz"
    assert sorted(p.name for p in (cache_dir / "latents").iterdir()) == ["k1.npz"]
    got = load_arrays("latents", "k1")
    assert sorted(got) == ["mu", "rows"]
    np.testing.assert_array_equal(got["mu"], [0.0, 1.0, 2.0])


def test_a_damaged_cache_entry_is_a_miss(cache_dir):
    from explorer.latent.cache import load_arrays

    (cache_dir / "latents").mkdir()
    (cache_dir / "latents" / "bad.npz").write_bytes(b"PK\x03\x04 not really a zip")
    assert load_arrays("latents", "bad") is None
    (cache_dir / "latents" / "empty.npz").write_bytes(b"")
    assert load_arrays("latents", "empty") is None


def test_a_cache_that_cannot_be_written_warns_and_returns_none(cache_dir):
    from explorer.latent.cache import save_arrays

    (cache_dir / "latents").write_text("a file where the folder should be")
    with pytest.warns(RuntimeWarning, match="could not write the cache file .*k2.npz"):
        assert save_arrays("latents", "k2", mu=np.zeros(2)) is None


def test_a_failed_cache_write_leaves_no_temporary_file(cache_dir, monkeypatch):
    import os

    from explorer.latent import cache

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.warns(RuntimeWarning, match="disk full"):
        assert cache.save_arrays("latents", "k3", mu=np.zeros(2)) is None
    assert list((cache_dir / "latents").iterdir()) == []


# ---- explorer.latent.attribute_vectors ----------------------------------------------------

def test_quartile_vector_by_hand():
    from explorer.latent.attribute_vectors import quartile_vector

    mu = np.column_stack([np.arange(9.0), np.ones(9)])  # row i has code (i, 1)
    values = np.array([0, 1, 2, 3, 4, 5, 6, 7, np.nan])  # the NaN row is left out: 8 rows, quartiles of 2
    v = quartile_vector(mu, values)
    assert v.dtype == np.float32
    np.testing.assert_allclose(v, [6.0, 0.0])  # mean of rows 6, 7 minus mean of rows 0, 1
    flat = quartile_vector(mu[:8], np.full(8, 3.0))  # no variation
    assert flat.dtype == np.float32 and flat.tolist() == [0.0, 0.0]
    # ties: the bottom quartile is 2 of the 6 rows of value 0, all with code (0, 1)
    tied = quartile_vector(np.array([[0.0, 1]] * 6 + [[4.0, 1]] * 2), [0, 0, 0, 0, 0, 0, 1, 1])
    np.testing.assert_allclose(tied, [4.0, 0.0])


def test_quartile_vector_refuses_bad_shapes_and_too_few_values():
    from explorer.latent.attribute_vectors import quartile_vector

    with pytest.raises(ValueError, match=r"mu must be \(N, D\) and values \(N,\)"):
        quartile_vector(np.zeros((8, 2)), np.zeros(7))
    with pytest.raises(ValueError, match=r"mu must be \(N, D\)"):
        quartile_vector(np.zeros(8), np.zeros(8))
    with pytest.raises(ValueError, match="needs at least 8 segments with a finite value, got 7"):
        quartile_vector(np.zeros((9, 2)), [0, 1, 2, 3, 4, 5, 6, np.nan, np.inf])
    assert quartile_vector(np.zeros((8, 2)), np.arange(8.0)).shape == (2,)  # 8 is enough


class _Rows:
    """A dataset stand-in: ``split`` per row."""

    def __init__(self, split):
        self.split = np.array(split)

    def __len__(self):
        return len(self.split)


def test_training_rows_take_the_train_split_else_everything_up_to_the_limit():
    from explorer.latent.attribute_vectors import training_rows

    ds = _Rows(["train"] * 8 + ["test"] * 2)
    assert training_rows(ds).tolist() == list(range(8))
    few = _Rows(["train"] * 7 + ["test"] * 3)  # 7 train rows are too few: every row
    assert training_rows(few).tolist() == list(range(10))
    capped = training_rows(_Rows(["train"] * 20), limit=8)
    assert len(capped) == 8 and len(set(capped.tolist())) == 8 and capped.tolist() == sorted(capped.tolist())
    assert training_rows(_Rows(["train"] * 20), limit=20).tolist() == list(range(20))


def test_quartile_vector_orders_ties_by_a_seed_0_draw_by_default():
    from explorer.latent.attribute_vectors import quartile_vector

    values = np.repeat([0.0, 1.0], 8)  # 16 rows, quartiles of 4 taken among 8 tied rows each
    keys = np.random.default_rng(0).random(16)  # the tie order: ascending keys
    bottom = np.argsort(keys[:8])[:4]
    top = 8 + np.argsort(keys[8:])[-4:]
    want = np.zeros(16)
    want[top], want[bottom] = 0.25, -0.25  # mu = identity: the vector marks the rows of each quartile
    np.testing.assert_allclose(quartile_vector(np.eye(16), values), want)
    assert not np.allclose(quartile_vector(np.eye(16), values, seed=1), want)


def test_training_rows_draw_4000_by_seed_0_by_default():
    from explorer.latent.attribute_vectors import training_rows

    want = np.sort(np.random.default_rng(0).choice(4001, 4000, replace=False))
    np.testing.assert_array_equal(training_rows(_Rows(["train"] * 4001)), want)
    assert not np.array_equal(training_rows(_Rows(["train"] * 4001), seed=1), want)


def test_attribute_vectors_draw_4000_rows_and_order_ties_by_seed_0_by_default():
    from explorer.latent.attribute_vectors import attribute_vectors, quartile_vector
    from explorer.music.attributes import note_density

    ds = _big_eval_dataset(4001, split="train")
    ds.tokens[::3, 5] = 70  # three note densities over the rows: many ties
    tm = copy_model(steps=8)  # z = the first four tokens
    rows = np.sort(np.random.default_rng(0).choice(4001, 4000, replace=False))
    want = quartile_vector(ds.tokens[rows, :4].astype(float), note_density(ds.tokens[rows]), seed=0)
    got = attribute_vectors(tm, ds, names=("note_density",))["note_density"]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # seed 1 draws other rows and orders their ties otherwise
    rows1 = np.sort(np.random.default_rng(1).choice(4001, 4000, replace=False))
    want1 = quartile_vector(ds.tokens[rows1, :4].astype(float), note_density(ds.tokens[rows1]), seed=1)
    got1 = attribute_vectors(tm, ds, names=("note_density",), seed=1)["note_density"]
    np.testing.assert_allclose(got1, want1, rtol=1e-6)
    assert not np.allclose(want1, want)
    for rows_seed, tie_seed in ((0, 1), (1, 0)):  # each seed matters
        r = np.sort(np.random.default_rng(rows_seed).choice(4001, 4000, replace=False))
        other = quartile_vector(ds.tokens[r, :4].astype(float), note_density(ds.tokens[r]), seed=tie_seed)
        assert not np.allclose(other, want1)


def test_analogy_grid_reconstructs_each_melody_alone_on_a_real_ec2vae(small_ec2, two_melodies):
    from explorer.latent.analogy import analogy_grid

    a, b = two_melodies
    grid = analogy_grid(small_ec2, a, b, reconstruct=True)
    np.testing.assert_array_equal(grid[("A", "A")].tokens, small_ec2.reconstruct([a])[0].tokens)
    np.testing.assert_array_equal(grid[("B", "B")].tokens, small_ec2.reconstruct([b])[0].tokens)


# ---- explorer.models.checkpoint -----------------------------------------------------------

def _ec2vae():
    from explorer.models.ec2vae import EC2VAE, EC2VAEConfig

    torch.manual_seed(0)
    return EC2VAE(EC2VAEConfig(hidden_dims=16, z1_dims=4, z2_dims=4))


def _virtuoso():
    from explorer.models.virtuoso import VirtuosoConfig, VirtuosoVAE

    torch.manual_seed(0)
    return VirtuosoVAE(VirtuosoConfig(hidden=8, z_dims=2))


def _with_metadata(src, dst, **changes):
    """A copy of checkpoint ``src`` at ``dst`` with metadata fields changed (None deletes one)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), framework="pt") as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    save_file(tensors, str(dst), metadata=meta)
    return dst


def test_a_melody_checkpoint_keeps_everything_it_was_given(tmp_path):
    from explorer.models.checkpoint import FORMAT, VERSION, load_checkpoint, read_metadata, save_checkpoint

    model = _ec2vae()
    path = save_checkpoint(tmp_path / "m.safetensors", model, card={"note": "hi"}, extras={"v": np.arange(3.0)})
    meta = read_metadata(path)
    assert (meta["format"], meta["version"], meta["model"]) == (FORMAT, str(VERSION), "ec2vae")
    assert meta["card"] == {"note": "hi"} and meta["layout"] == model.layout.to_dict()
    assert meta["config"]["hidden_dims"] == 16
    back, meta2, extras = load_checkpoint(path)
    assert not back.training and meta2 == meta
    assert list(extras) == ["v"] and extras["v"].tolist() == [0.0, 1.0, 2.0]
    assert read_metadata(save_checkpoint(tmp_path / "bare.safetensors", model))["card"] == {}


def test_the_melody_loader_names_each_reason_to_refuse(tmp_path):
    from explorer.models.checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint

    good = save_checkpoint(tmp_path / "good.safetensors", _ec2vae())
    with pytest.raises(CheckpointError, match="no checkpoint file at .*missing.safetensors"):
        read_metadata(tmp_path / "missing.safetensors")
    cases = {
        "newer": ({"version": "2"}, "newer.safetensors has checkpoint version 2; this version reads ≤ 1"),
        "alien": ({"model": "gpt"}, "alien.safetensors holds an unknown model 'gpt'; known: "),
        "nomodel": ({"model": None}, "nomodel.safetensors holds an unknown model None"),
        "badjson": ({"card": "{not json"}, "badjson.safetensors is damaged: bad metadata"),
        "untagged": ({"format": None}, "untagged.safetensors is a safetensors file but not a Latent Explorer "
                                       "checkpoint \\(no 'latent-explorer/checkpoint' format tag\\)"),
        "perf": ({"format": "latent-explorer/performance-checkpoint"},
                 "perf.safetensors is a performance-style model, not a melody model: open it on the Performance"),
    }
    for name, (changes, message) in cases.items():
        path = _with_metadata(good, tmp_path / f"{name}.safetensors", **changes)
        with pytest.raises(CheckpointError, match=message):
            read_metadata(path)
    # a checkpoint without a version is version 0; empty card, layout and config read as {}
    meta = read_metadata(_with_metadata(good, tmp_path / "old.safetensors", version=None, card="", layout=""))
    assert meta["card"] == {} and meta["layout"] == {}
    odd = _with_metadata(good, tmp_path / "odd.safetensors", config='{"no_such_option": 1}')
    with pytest.raises(CheckpointError, match="odd.safetensors has a config this version cannot build"):
        load_checkpoint(odd)


def test_checkpoint_kind_reads_the_tag(tmp_path):
    from explorer.models.checkpoint import checkpoint_kind, save_checkpoint, save_performance_checkpoint

    melody = save_checkpoint(tmp_path / "m.safetensors", _ec2vae())
    perf = save_performance_checkpoint(tmp_path / "p.safetensors", _virtuoso())
    assert (checkpoint_kind(melody), checkpoint_kind(perf)) == ("melody", "performance")
    assert checkpoint_kind(_with_metadata(melody, tmp_path / "x.safetensors", format="other")) is None
    assert checkpoint_kind(tmp_path / "missing.safetensors") is None
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 16)
    assert checkpoint_kind(tmp_path / "junk.safetensors") is None


def test_a_performance_checkpoint_keeps_its_styles_and_card(tmp_path):
    from explorer.models.checkpoint import load_performance_checkpoint, save_performance_checkpoint

    model = _virtuoso()
    styles = {"z": np.array([[1.0, 2.0]]), "labels": [{"pianist": "p01"}]}
    path = save_performance_checkpoint(tmp_path / "p.safetensors", model, card={"k": 1}, styles=styles)
    back, card, got = load_performance_checkpoint(path)
    assert not back.training and card == {"k": 1} and got["labels"] == [{"pianist": "p01"}]
    assert got["z"].dtype == torch.float32 and got["z"].tolist() == [[1.0, 2.0]]
    for k, v in model.state_dict().items():
        assert torch.equal(back.state_dict()[k], v)
    _, card, bare = load_performance_checkpoint(save_performance_checkpoint(tmp_path / "b.safetensors", model))
    assert card == {} and bare["labels"] == [] and tuple(bare["z"].shape) == (0, 2)


def test_the_performance_loader_names_each_reason_to_refuse(tmp_path):
    from explorer.models.checkpoint import (CheckpointError, load_performance_checkpoint, save_checkpoint,
                                            save_performance_checkpoint)

    with pytest.raises(CheckpointError, match="no checkpoint file at .*none.safetensors"):
        load_performance_checkpoint(tmp_path / "none.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError, match="junk.safetensors is not a safetensors file"):
        load_performance_checkpoint(tmp_path / "junk.safetensors")
    melody = save_checkpoint(tmp_path / "m.safetensors", _ec2vae())
    with pytest.raises(CheckpointError, match="m.safetensors is not a performance-style checkpoint \\(format "
                                              "'latent-explorer/checkpoint', expected 'latent-explorer/performance-"
                                              "checkpoint'\\); melody models open in the sidebar's model picker"):
        load_performance_checkpoint(melody)
    good = save_performance_checkpoint(tmp_path / "p.safetensors", _virtuoso())
    damaged = {"noconfig": {"config": None}, "badcard": {"card": "{"}, "badstyles": {"styles": "["},
               "otherconfig": {"config": '{"hidden": 4, "z_dims": 2}'}}
    for name, changes in damaged.items():
        path = _with_metadata(good, tmp_path / f"{name}.safetensors", **changes)
        with pytest.raises(CheckpointError, match=f"{name}.safetensors is damaged or from another version"):
            load_performance_checkpoint(path)


# ---- explorer.models.trained --------------------------------------------------------------

def test_slerp_of_a_batch_of_non_unit_codes_by_hand():
    from explorer.models.trained import slerp

    a = np.array([[2.0, 0, 0], [0, 0, 5]])
    b = np.array([[1.0, 1, 0], [0, 5, 0]])
    got = slerp(a, b, 0.5)
    # row 0: 45° apart, halfway: sin 22.5° / sin 45° · (a + b); row 1: 90° apart, norm 5 kept
    k = math.sin(math.pi / 8) / math.sin(math.pi / 4)
    np.testing.assert_allclose(got, [[3 * k, k, 0], [0, 5 / math.sqrt(2), 5 / math.sqrt(2)]], atol=1e-9)


def test_slerp_of_parallel_and_opposite_codes_is_the_straight_line():
    import warnings

    from explorer.models.trained import slerp

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sin ω = 0 divides 0 by 0, quietly
        np.testing.assert_allclose(slerp(np.array([1e6, 0]), np.array([1e6, 0]), 0.3), [1e6, 0])
        # |sin ω| < 1e-6: (1 - t)·a + t·b
        np.testing.assert_allclose(slerp(np.array([1000.0, 0]), np.array([3000.0, 0]), 0.25), [1500, 0])
        np.testing.assert_allclose(slerp(np.array([1000.0, 0]), np.array([-1000.0, 0]), 0.25), [500, 0])
    # unit vectors whose dot product rounds to ±1.0000000000000002: clipped, not NaN
    a = np.array([104900.0, -535669.0, 361595.0])
    np.testing.assert_allclose(slerp(a, a, 0.5), a)
    np.testing.assert_allclose(slerp(a, -a, 0.25), 0.5 * a)


def test_interpolate_is_8_slerp_steps_by_default():
    from test_known_answers import _two_code_model

    tm = _two_code_model()  # codes (2, 0) and (0, 2)
    out = tm.interpolate(Melody([60] + [H] * 15), Melody([62] + [H] * 15))
    assert len(out) == 8
    angles = np.arange(8) * (math.pi / 2) / 7  # 0° to 90° in 7 equal steps on the circle of radius 2
    np.testing.assert_allclose(tm.model.calls[-1][0], 2 * np.column_stack([np.cos(angles), np.sin(angles)]),
                               atol=1e-6)


def test_interpolate_takes_2_to_64_steps_and_lerp_or_slerp():
    from test_known_answers import _two_code_model

    tm = _two_code_model()
    a, b = Melody([60] + [H] * 15), Melody([62] + [H] * 15)
    assert len(tm.interpolate(a, b, steps=2)) == 2 and len(tm.interpolate(a, b, steps=64)) == 64
    for steps in (1, 65):
        with pytest.raises(ValueError, match=f"steps must lie in 2..64, got {steps}"):
            tm.interpolate(a, b, steps=steps)
    with pytest.raises(ValueError, match=r"method must be one of \('lerp', 'slerp'\), got 'cubic'"):
        tm.interpolate(a, b, method="cubic")


def _chord_encode(tokens, chroma):
    return torch.cat([tokens[:, :3].float(), chroma.sum((1, 2))[:, None]], 1)  # (B, 4): 3 tokens, chord notes


def _chord_decode(z, chroma, **kwargs):
    head = z.round().long().clamp(0, 127)  # (B, 4)
    chord_notes = chroma.sum((1, 2)).round().long().clamp(0, 127)[:, None]  # (B, 1)
    tail = torch.full((len(z), chroma.shape[1] - 5), H, dtype=torch.long)
    return output_of(torch.cat([head, chord_notes, tail], 1).numpy())


def chord_model() -> TrainedModel:
    """Like the copy model, but the code's 4th number is the number of chord notes of the input, and
    the decoder writes the number of chord notes it is given as the 5th token."""
    return TrainedModel(StubVAE(4, PITCH_RHYTHM, 16, _chord_encode, _chord_decode), device="cpu")


def test_interpolate_blends_the_chords_or_takes_those_given():
    from test_known_answers import _two_code_model

    tm = _two_code_model()
    c_major, g_major = np.zeros((16, 12), np.uint8), np.zeros((16, 12), np.uint8)
    c_major[:, [0, 4, 7]] = 1
    g_major[:, [7, 11, 2]] = 1
    a, b = Melody([60] + [H] * 15, c_major, 90.0), Melody([62] + [H] * 15, g_major, 150.0)
    out = tm.interpolate(a, b, steps=3)  # t = 0, 1/2, 1: a pitch class sounds where its weight is >= 1/2
    assert [sorted(np.flatnonzero(m.chroma[0])) for m in out] == [[0, 4, 7], [0, 2, 4, 7, 11], [2, 7, 11]]
    assert [m.qpm for m in out] == [90.0] * 3
    given = np.zeros((3, 16, 12), np.uint8)
    given[:, :, 9] = 1
    assert all(sorted(np.flatnonzero(m.chroma[0])) == [9] for m in tm.interpolate(a, b, steps=3, chroma=given))


def test_reconstruct_encodes_and_decodes_under_the_inputs_chords_and_keeps_their_tempo():
    from explorer.music.melody import DEFAULT_QPM

    tm = chord_model()
    a = tune(60, 62, 64, chord=C_TRIAD, qpm=90.0)  # 16 steps of 3 chord notes: 48
    b = tune(70, 71, 72, qpm=150.0)
    ra, rb = tm.reconstruct([a, b])
    assert list(ra.tokens[:5]) == [60, 62, 64, 48, 48] and list(rb.tokens[:5]) == [70, 71, 72, 0, 0]
    np.testing.assert_array_equal(ra.chroma, a.chroma)
    assert (ra.qpm, rb.qpm) == (90.0, 150.0)
    assert tm.reconstruct(a)[0].qpm == 90.0
    (from_arrays,) = tm.reconstruct(a.tokens[None], a.chroma[None])
    assert list(from_arrays.tokens[:5]) == [60, 62, 64, 48, 48] and from_arrays.qpm == DEFAULT_QPM
    np.testing.assert_array_equal(from_arrays.chroma, a.chroma)
    (from_list,) = tm.reconstruct([a.tokens])
    assert from_list.qpm == DEFAULT_QPM and not from_list.chroma.any()


def test_sample_decodes_one_prior_draw_at_temperature_1_by_default_under_the_chords_given():
    tm = chord_model()
    calls = tm.model.calls
    (one,) = tm.sample(seed=3)
    np.testing.assert_allclose(calls[-1][0], np.random.default_rng(3).standard_normal((1, 4)), rtol=1e-6)
    assert calls[-1][2]["temperature"] == 1.0 and calls[-1][2]["sample"] is True
    chroma = np.zeros((16, 12), np.uint8)
    chroma[:, list(C_TRIAD)] = 1
    (chorded,) = tm.sample(seed=3, chroma=chroma)
    np.testing.assert_array_equal(chorded.chroma, chroma)
    assert chorded.tokens[4] == 48


def test_trained_model_defaults_keep_the_device_extras_and_batches_of_256():
    from explorer.device import pick_device

    model = StubVAE(4, PITCH_RHYTHM, 16, _copy_encode, _copy_decode)
    tm = TrainedModel(model)
    assert tm.device == pick_device("auto") and tm.batch_size == 256
    cpu = TrainedModel(model, device="cpu")
    assert isinstance(cpu.device, torch.device) and cpu.device == torch.device("cpu")
    assert TrainedModel(model, device="cpu").attribute_vectors == {}
    with_vectors = TrainedModel(model, extras={"attribute_vector.contour": np.ones(4)}, device="cpu")
    assert list(with_vectors.attribute_vectors) == ["contour"]


def test_encode_takes_melodies_or_uint8_arrays_with_or_without_chords_on_a_real_ec2vae(small_ec2, two_melodies):
    from explorer.music.melody import MelodyError

    a, _ = two_melodies
    _, mu, _ = small_ec2.encode([a])
    assert a.tokens.dtype == np.uint8 and a.chroma.dtype == np.uint8
    np.testing.assert_allclose(small_ec2.encode(a)[1], mu)
    np.testing.assert_allclose(small_ec2.encode(a.tokens[None], a.chroma[None])[1], mu)
    np.testing.assert_allclose(small_ec2.encode(a.tokens, a.chroma)[1], mu)  # one melody as (T,) and (T, 12)
    no_chords = small_ec2.encode(a.tokens[None], np.zeros((1, 32, 12), np.uint8))[1]
    np.testing.assert_allclose(small_ec2.encode(a.tokens[None])[1], no_chords)
    with pytest.raises(MelodyError, match=r"this model reads 32 steps \(2 bars\); got melodies of 16 steps"):
        small_ec2.encode(a.tokens[None, :16])
    with pytest.raises(MelodyError, match="got melodies of 0 steps"):
        small_ec2.encode([])


def test_attribute_vectors_go_to_and_come_from_checkpoint_extras_in_attribute_order():
    from explorer.models.trained import vectors_from_extras, vectors_to_extras

    extras = vectors_to_extras({"pitch_range": [1, 2], "note_density": (3, 4)})
    assert sorted(extras) == ["attribute_vector.note_density", "attribute_vector.pitch_range"]
    assert extras["attribute_vector.pitch_range"].dtype == np.float32
    back = vectors_from_extras({"attribute_vector.zz_mine": np.zeros(2), "other": np.ones(2),
                                "attribute_vector.pitch_range": torch.tensor([1.0, 2.0]),
                                "attribute_vector.aa_mine": np.zeros(2),
                                "attribute_vector.note_density": np.array([3, 4])})
    # the attributes in the order of ATTRIBUTES (note_density before pitch_range), then others by name
    assert list(back) == ["note_density", "pitch_range", "aa_mine", "zz_mine"]
    assert back["pitch_range"].tolist() == [1.0, 2.0] and back["note_density"].dtype == np.float32
    assert isinstance(back["pitch_range"], np.ndarray)


def test_set_attribute_vectors_replaces_the_stored_ones_and_keeps_other_extras():
    model = StubVAE(4, PITCH_RHYTHM, 16, _copy_encode, _copy_decode)
    tm = TrainedModel(model, extras={"attribute_vector.contour": np.ones(4), "other": torch.zeros(1)}, device="cpu")
    assert list(tm.attribute_vectors) == ["contour"]
    tm.set_attribute_vectors({"note_density": np.full(4, 2.0)})
    assert list(tm.attribute_vectors) == ["note_density"] and tm.attribute_vector("note_density").tolist() == [2.0] * 4
    assert sorted(tm.extras) == ["attribute_vector.note_density", "other"]
    assert isinstance(tm.extras["attribute_vector.note_density"], torch.Tensor)
    with pytest.raises(KeyError, match=r"no attribute vector 'contour' in this checkpoint; it has \['note_density'\] "
                                       r"\(`explorer ship` computes and stores them\)"):
        tm.attribute_vector("contour")
    with pytest.raises(KeyError, match="it has none"):
        TrainedModel(model, device="cpu").attribute_vector("contour")


def test_trained_model_load_keeps_the_card_vectors_device_and_path(tmp_path):
    from explorer.models.checkpoint import save_checkpoint
    from explorer.models.trained import vectors_to_extras

    path = save_checkpoint(tmp_path / "m.safetensors", _ec2vae(), card={"data": {"sources": ["x"]}},
                           extras=vectors_to_extras({"contour": np.arange(8.0)}))
    for device in ("cpu", torch.device("cpu")):
        tm = TrainedModel.load(path, device=device)
        assert isinstance(tm.device, torch.device) and tm.device == torch.device("cpu")
        assert tm.card == {"data": {"sources": ["x"]}} and tm.path == path and tm.name == "ec2vae"
        assert tm.attribute_vector("contour").tolist() == list(range(8))


# ---- explorer.data.dataset: the split ----------------------------------------------------

def test_melody_key_is_the_documented_hash_of_the_opening_from_its_first_note():
    import hashlib

    from explorer.data.dataset import melody_key

    # from the first onset (60): pitches relative to it, holds and rests as 1000 + token, int16
    want = hashlib.sha1(np.array([0, 1000 + H, 2, 1000 + R], np.int16).tobytes()).hexdigest()[:16]
    assert melody_key(np.array([R, R, 60, H, 62, R], np.uint8)) == want
    assert melody_key(np.array([H, 60, H, 62, R], np.uint8)) == want  # an orphan hold is not a note
    assert melody_key(np.array([65, H, 67, R], np.uint8)) == want  # transposed
    assert len(want) == 16


def _one_bar(*head):
    return list(head) + [H] * (16 - len(head))


def _split_dataset():
    """Tunes 0 and 1 share their first 4 bars (bar 5 differs); tune 2 has no segment. Tune 0's
    rows are out of bar order and it has a transposed copy of bar 0, which tune_keys skips."""
    from explorer.data.dataset import SegmentDataset

    bars = {0: [_one_bar(60), _one_bar(62), _one_bar(64), _one_bar(65), _one_bar(67)],
            1: [_one_bar(60), _one_bar(62), _one_bar(64), _one_bar(65), _one_bar(55)]}
    rows = [(0, 3), (0, 0), (0, 4), (0, 2), (0, 1), (1, 0), (1, 1), (1, 2), (1, 3), (1, 4)]
    tokens = [bars[t][b] for t, b in rows] + [_one_bar(90)]
    tune = [t for t, _ in rows] + [0]
    bar = [b for _, b in rows] + [0]
    transpose = [0] * len(rows) + [2]
    n = len(tokens)
    return SegmentDataset(np.array(tokens, np.uint8), np.zeros((n, 16, 12), np.uint8), np.array(tune), np.array(bar),
                          np.array(transpose), np.array(["s", "s", "s"]), np.array(["a", "b", "c"]),
                          np.array(["A", "B", "C"]), np.array([120.0] * 3), np.array(["test", "valid", "valid"]),
                          {"built_by": "hand"})


def test_tune_keys_hash_the_first_4_untransposed_bars_in_bar_order():
    from explorer.data.dataset import melody_key

    ds = _split_dataset()
    keys = ds.tune_keys()
    opening = np.concatenate([_one_bar(60), _one_bar(62), _one_bar(64), _one_bar(65)]).astype(np.uint8)
    assert keys.tolist() == [melody_key(opening), melody_key(opening), ""]
    five = ds.tune_keys(bars=5)
    assert five[0] != five[1] and five[0] == melody_key(np.concatenate([opening, _one_bar(67)]).astype(np.uint8))


def test_dedupe_splits_moves_duplicates_to_the_earliest_split_and_keeps_the_rest():
    ds = _split_dataset().dedupe_splits()
    # tunes a (test) and b (valid) share an opening: both valid; c has no key and keeps its split
    assert ds.tune_split.tolist() == ["valid", "valid", "valid"]
    assert ds.meta == {"built_by": "hand", "duplicates": {"tunes_sharing_an_opening": 1,
                                                          "moved_to_an_earlier_split": 1}}



def test_a_second_cache_entry_goes_beside_the_first_through_a_hidden_temporary_file(cache_dir, monkeypatch):
    import os

    from explorer.latent.cache import save_arrays

    assert save_arrays("latents", "k1", mu=np.zeros(1)) is not None
    moved, replace = [], os.replace

    def recording(src, dst):
        moved.append((os.path.dirname(src), os.path.basename(src), str(dst)))
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", recording)
    assert save_arrays("latents", "k2", mu=np.ones(1)) == cache_dir / "latents" / "k2.npz"  # the folder exists
    ((folder, name, dst),) = moved
    assert folder == str(cache_dir / "latents") and name.startswith(".k2.") and name.endswith(".tmp")
    assert dst == str(cache_dir / "latents" / "k2.npz")


class _Segments:
    """A dataset stand-in: tokens, chroma and split per row."""

    def __init__(self, tokens, chroma, split):
        self.tokens, self.chroma, self.split = np.asarray(tokens), np.asarray(chroma), np.asarray(split)

    def __len__(self):
        return len(self.tokens)


def test_attribute_vectors_encode_the_train_rows_in_batches_of_256_under_their_chords():
    from explorer.latent.attribute_vectors import attribute_vectors, training_rows

    n = 600
    tokens = np.full((n, 16), H, np.uint8)
    tokens[:, 0] = 60
    tokens[:, 1] = np.arange(n) % 2 * 12 + 50  # every other row has a higher second note
    chroma = np.zeros((n, 16, 12), np.uint8)
    chroma[::3, :, 0] = 1  # every third row has chord notes (16 of them)
    tm = chord_model()
    done = []
    vecs = attribute_vectors(tm, _Segments(tokens, chroma, ["train"] * n), names=("pitch_range", "mean_pitch"),
                             progress=done.append)
    assert list(vecs) == ["pitch_range", "mean_pitch"]
    assert done == [256 / 600, 512 / 600, 1.0]
    # pitch range 10 or 2 (rows with 50 or 62 after 60): the top quartile is rows with 50, the bottom
    # rows with 62; their codes differ by -12 in the second number
    np.testing.assert_allclose(vecs["pitch_range"][:3], [0, -12, 0], atol=1e-6)
    # the 4th number is the row's chord notes (16 on every third row): the tied rows drawn into each
    # quartile hold a few more or fewer of them; without the chords it would be exactly 0
    assert 0 < abs(vecs["pitch_range"][3]) < 16
    encoded = []
    tm.model.encode_fn = lambda t, c: encoded.append(len(t)) or _chord_encode(t, c)
    attribute_vectors(tm, _Segments(tokens, chroma, ["train"] * n), names=("pitch_range",), limit=300, seed=5)
    assert encoded == [256, 44]
    rows = training_rows(_Segments(tokens, chroma, ["train"] * n), 300, 5)
    assert len(rows) == 300


def test_attribute_vectors_need_8_segments_and_a_limit_of_8():
    from explorer.latent.attribute_vectors import attribute_vectors

    tm = chord_model()
    eight = _Segments(np.full((8, 16), 60, np.uint8), np.zeros((8, 16, 12), np.uint8), ["train"] * 8)
    assert set(attribute_vectors(tm, eight, names=("note_density",), limit=8)) == {"note_density"}
    with pytest.raises(ValueError, match="^limit must be at least 8, got 7$"):
        attribute_vectors(tm, eight, limit=7)
    seven = _Segments(np.full((7, 16), 60, np.uint8), np.zeros((7, 16, 12), np.uint8), ["train"] * 7)
    with pytest.raises(ValueError, match="^attribute vectors need at least 8 segments; the dataset has 7$"):
        attribute_vectors(tm, seven)


# ---- explorer.eval.run: evaluate and evaluate_unseen --------------------------------------

def _eval_dataset():
    """Tunes 0 and 1 (sources s1, s2) in test, tune 2 (s3) in train; 8-step segments."""
    from explorer.data.dataset import SegmentDataset

    tokens = np.array([[60, H, 62, H, 64, H, H, H],  # code (186, 0, 6/9, 0)
                       [65, R, R, 67, H, H, 69, R],  # (201, 3/7, 1, 0)
                       [70, H, H, H, H, H, H, H],  # (70, 0, 0, 0)
                       [R] * 8,  # (0, 8/7, 0, 0)
                       [50, H, H, H, H, H, H, H], [52, H, H, H, H, H, H, H]], np.uint8)
    return SegmentDataset(tokens, np.zeros((6, 8, 12), np.uint8), np.array([0, 0, 1, 1, 2, 2]), np.zeros(6, int),
                          np.zeros(6, int), np.array(["s1", "s2", "s3"]), np.array(["a", "b", "c"]),
                          np.array(["A", "B", "C"]), np.array([120.0] * 3), np.array(["test", "test", "train"]))


def _eval_model(sources=()):
    """The rhythm-chord encoder under a decoder that always answers rests, dim 0 regularised for
    note density, with an attribute vector."""
    model = StubVAE(4, PITCH_RHYTHM, 8, _rhythm_chord_encoder)
    model._layout = LatentLayout(4, PITCH_RHYTHM, {"note_density": 0})
    return TrainedModel(model, {"card": {"data": {"sources": list(sources)}}},
                        {"attribute_vector.note_density": np.ones(4, np.float32)}, device="cpu")


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:An input array is constant")
def test_evaluate_by_hand_on_a_stub():
    from explorer.eval.run import evaluate, rhythm_test, transposition_test

    ds, tm = _eval_dataset(), _eval_model()
    out = evaluate(tm, ds)
    assert (out["model"], out["split"], out["segments"], out["sources"]) == ("stub", "test", 4, ["s1", "s2"])
    # every step decoded as a rest: right where the data rests (0 + 3 + 0 + 8 of 32 steps), no onset right
    assert out["recon_accuracy_teacher_forced"] == out["recon_accuracy_greedy"] == round(11 / 32, 4)
    assert out["recon_accuracy_onset_pitch"] == 0.0 and out["recon_accuracy_rhythm"] == round(11 / 32, 4)
    assert out["active_units"] == 3 and out["latent_dims"] == 4  # dim 3 is always 0
    # σ = 1: KL = μ²/2 per dim, averaged over the 4 rows
    assert out["kl_per_dim"] == [round((186 ** 2 + 201 ** 2 + 70 ** 2) / 8, 4), round(73 / 392, 4),
                                 round(13 / 72, 4), 0.0]
    # dim 0 against note density (3, 3, 1, 0 onsets): ranks (3, 4, 2, 1) and (3.5, 3.5, 2, 1) → 4.5 / √22.5
    assert out["spearman"] == {"note_density": round(4.5 / math.sqrt(22.5), 4), "mean": round(4.5 / math.sqrt(22.5), 4)}
    assert set(out["interpretability"]) == set(out["mig"]) == set(out["sap"]) == {"note_density", "mean"}
    tokens, chroma = ds.tokens[:4], np.zeros((4, 8, 12), np.float32)
    assert out["transposition_test"] == transposition_test(tm, tokens, chroma)
    assert out["rhythm_test"] == rhythm_test(tm, tokens, chroma) == {"dz_p": 0.4286, "dz_r": 0.3333, "ratio": 0.778,
                                                                     "n": 2}
    assert set(out["attribute_vectors"]["per_attribute"]) == {"note_density"}
    assert out["attribute_vectors"]["segments"] == 4 and out["attribute_vectors"]["amount"] == 1.0
    assert out["device"] == "cpu" and isinstance(out["seconds"], float) and out["seconds"] >= 0
    assert out["seconds"] == round(out["seconds"], 1)  # tenths of a second
    assert "attribute_vectors" not in evaluate(tm, ds, vectors=False)


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:An input array is constant")
def test_evaluate_takes_a_split_a_limit_and_refuses_an_empty_split():
    from explorer.eval.run import evaluate

    ds, tm = _eval_dataset(), _eval_model()
    assert evaluate(tm, ds, split="train", vectors=False)["sources"] == ["s3"]
    capped = evaluate(tm, ds, limit=2, vectors=False)
    assert capped["segments"] == 2 and capped["rhythm_test"]["n"] in (0, 2)
    assert evaluate(tm, ds, split="all", limit=None, vectors=False)["segments"] == 6
    with pytest.raises(ValueError, match=r"^the valid split of this data is empty; splits: "
                                         r"\{'train': 2, 'valid': 0, 'test': 4\}$"):
        evaluate(tm, ds, split="valid")


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:An input array is constant")
def test_evaluate_unseen_runs_every_segment_without_vectors_or_kl():
    from explorer.eval.run import evaluate_unseen

    ds = _eval_dataset()
    res = evaluate_unseen(_eval_model(sources=["elsewhere"]), {"x": ds, "y": ds})
    assert list(res) == ["x", "y"]
    assert res["x"]["split"] == "all" and res["x"]["segments"] == 6
    assert "kl_per_dim" not in res["x"] and "attribute_vectors" not in res["x"]
    assert evaluate_unseen(_eval_model(), {"x": ds})["x"]["segments"] == 6  # a card without sources
    with pytest.raises(ValueError, match=r"^x is not unseen: \['s1', 's3'\] was in this model's training data$"):
        evaluate_unseen(_eval_model(sources=["s1", "s3", "s9"]), {"x": ds})


def test_estimate_missing_chords_fills_only_the_rows_without_chords():
    from explorer.eval.run import estimate_missing_chords
    from explorer.music.chords import TRIADS

    arpeggio = [60, H, 64, H, 67, H, 72, H]  # C major in each half bar
    tokens = np.array([arpeggio * 2, arpeggio * 2, [R] * 16], np.uint8)
    chroma = np.zeros((3, 16, 12), np.uint8)
    chroma[1, :, 2] = 1  # row 1 has its own (a lone D): kept
    filled, n = estimate_missing_chords(tokens, chroma)
    assert n == 1 and filled.dtype == np.float32  # the silent row gets none: not counted
    assert (filled[0] == TRIADS[0]).all() and (filled[1] == chroma[1]).all() and not filled[2].any()
    assert not chroma[0].any()  # the caller's array is not written to
    as_float = chroma.astype(np.float32)  # nor when it needs no conversion
    estimate_missing_chords(tokens, as_float)
    assert not as_float[0].any()


def _big_eval_dataset(n=4001, split="test"):
    """``n`` one-segment tunes of ``split``, each its own source ``s<i>`` (the sources figure names the rows taken)."""
    from explorer.data.dataset import SegmentDataset

    tokens = np.tile(np.array([[60, H, 62, H, 64, H, R, R]], np.uint8), (n, 1))
    tokens[:, 0] = 48 + np.arange(n) % 24
    names = np.array([f"s{i}" for i in range(n)])
    return SegmentDataset(tokens, np.zeros((n, 8, 12), np.uint8), np.arange(n), np.zeros(n, int), np.zeros(n, int),
                          names, names, names, np.full(n, 120.0), np.full(n, split))


def _drawn_sources(n, limit, seed):
    rows = np.random.default_rng(seed).choice(n, limit, replace=False)
    return sorted(f"s{i}" for i in rows)


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:An input array is constant")
def test_evaluate_and_evaluate_unseen_take_4000_rows_drawn_by_seed_0_by_default():
    from explorer.eval.run import evaluate, evaluate_unseen

    ds, tm = _big_eval_dataset(), _eval_model()
    want = _drawn_sources(4001, 4000, 0)
    got = evaluate(tm, ds, vectors=False)
    assert got["segments"] == 4000 and got["sources"] == want
    assert got["sources"] != _drawn_sources(4001, 4000, 1)
    tm.model.chord_conditioned = True  # both rows of the unseen table draw alike
    unseen = evaluate_unseen(tm, {"x": ds})
    assert [(r["segments"], r["sources"]) for r in unseen.values()] == [(4000, want)] * 2


def _random_eval_dataset(n, seed=0):
    """``n`` random 8-step segments (onsets of 60-62, holds, rests), one tune each, all in test."""
    from explorer.data.dataset import SegmentDataset

    rng = np.random.default_rng(seed)
    kind, pitch = rng.integers(0, 3, (n, 8)), rng.integers(60, 63, (n, 8))
    tokens = np.where(kind == 0, pitch, np.where(kind == 1, H, R)).astype(np.uint8)
    tokens[:, 0] = pitch[:, 0]
    names = np.array([f"s{i}" for i in range(n)])
    return SegmentDataset(tokens, np.zeros((n, 8, 12), np.uint8), np.arange(n), np.zeros(n, int), np.zeros(n, int),
                          names, names, names, np.full(n, 120.0), np.full(n, "test"))


def _counting_model():
    """z = (onsets in steps 0-3, onsets in steps 4-7, onsets on even steps, 0), whole numbers whose
    information on the note density is near-equal; decodes round(z2) onsets of C4, twice as many
    under a chord; the note
    density regularised on dim 2, its vector + 1 on dim 2."""
    def encode(t, c):
        onset = (t < 128).float()
        return torch.stack([onset[:, :4].sum(1), onset[:, 4:].sum(1), onset[:, ::2].sum(1), torch.zeros(len(t))], 1)

    def decode(z, chroma, **_):
        n = (z[:, 2].round() * (1 + chroma[:, 0, :].any(1))).clamp(0, 8).long().tolist()
        return output_of([[60] * k + [R] * (8 - k) for k in n])

    model = StubVAE(4, PITCH_RHYTHM, 8, encode, decode)
    model._layout = LatentLayout(4, PITCH_RHYTHM, {"note_density": 2})
    return TrainedModel(model, {"card": {}}, {"attribute_vector.note_density": np.array([0, 0, 1, 0], np.float32)},
                        device="cpu")


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:An input array is constant")
def test_evaluate_passes_its_seed_to_the_rhythm_test_the_vector_effects_and_interpretability():
    from explorer.eval.metrics import interpretability
    from explorer.eval.run import evaluate, rhythm_test, vector_effects
    from explorer.music.attributes import note_density

    tm = _counting_model()
    ds = _random_eval_dataset(600)  # more than vector_effects' 500 rows: the seed draws them
    ds.chroma[::2, :, 7] = 1  # every other segment has a chord: the vector adds two notes there
    out = evaluate(tm, ds, seed=1)
    chroma = ds.chroma.astype(np.float32)
    _, mu, _ = tm.encode(ds.tokens, chroma)
    rhythm = [rhythm_test(tm, ds.tokens, chroma, seed=s) for s in (1, 0)]
    assert out["rhythm_test"] == rhythm[0] != rhythm[1]
    effects = [vector_effects(tm, ds.tokens, chroma, mu, tm.attribute_vectors, seed=s) for s in (1, 0)]
    assert out["attribute_vectors"] == effects[0] != effects[1]
    small = _random_eval_dataset(60)  # few rows: the MI estimator's jitter picks between dims 1 and 2
    _, mu, _ = tm.encode(small.tokens, np.zeros((60, 8, 12), np.float32))
    picks = [interpretability(mu, {"note_density": note_density(small.tokens)}, seed=s) for s in (1, 0)]
    assert picks[0] != picks[1]
    # each time the same pick (an estimator without a seed would pick either dim at random)
    assert all(evaluate(tm, small, seed=1, vectors=False)["interpretability"] == picks[0] for _ in range(6))


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:An input array is constant")
def test_evaluate_with_estimated_chords_gives_them_to_the_encoder():
    from explorer.eval.run import evaluate, evaluate_unseen

    ds, tm = _eval_dataset(), _eval_model()
    out = evaluate(tm, ds, vectors=False, chords="estimated")
    assert out["chords_estimated"] == 3 and "chords_estimated" not in evaluate(tm, ds, vectors=False)
    # the three rows with notes get a triad for their 8 steps: 24 chord notes, + 0.24 on z_p's second
    # dim (0, 3/7, 0, 8/7 without); KL = μ²/2 averaged over the rows
    assert out["kl_per_dim"][1] == round((0.24 ** 2 + (3 / 7 + 0.24) ** 2 + 0.24 ** 2 + (8 / 7) ** 2) / 8, 4)
    with pytest.raises(ValueError, match=r"^chords must be 'as-is' or 'estimated', got 'guess'$"):
        evaluate(tm, ds, chords="guess")
    # the unseen table: a second row only for a chord-conditioned model on a corpus without chords,
    # on the same rows (limit and seed passed on), without the KL
    assert list(evaluate_unseen(tm, {"x": ds})) == ["x"]
    tm.model.chord_conditioned = True
    res = evaluate_unseen(tm, {"x": ds}, limit=3, seed=1)
    assert list(res) == ["x", "x · estimated chords"]
    est = res["x · estimated chords"]
    assert (est["segments"], est["sources"]) == (res["x"]["segments"], res["x"]["sources"]) == (3, ["s1", "s2", "s3"])
    assert est["chords_estimated"] == 3 and "kl_per_dim" not in est and "attribute_vectors" not in est
    assert res["x"]["sources"] != evaluate_unseen(tm, {"x": ds}, limit=3, seed=0)["x"]["sources"]
    chorded = _eval_dataset()
    chorded.chroma[:, 0, 0] = 1  # every segment has chords: no second row
    assert list(evaluate_unseen(tm, {"c": chorded})) == ["c"]
    chorded.chroma[0] = 0  # one segment without: a second row, in which that one gets chords
    assert evaluate_unseen(tm, {"c": chorded})["c · estimated chords"]["chords_estimated"] == 1


def test_chords_are_the_melodys_own_else_estimated_from_its_notes():
    from explorer.latent.analogy import chord_condition, with_chords
    from explorer.music.chords import TRIADS

    assert chord_condition("estimated", 32) is None
    own = tune(60, 64, 67, steps=32, chord=C_TRIAD)
    assert with_chords(own) == (own, "its own chords")
    # a C-major arpeggio, a D-minor one, a silent half bar, then G: one chord per half bar
    tokens = [60, H, 64, H, 67, H, 72, H] + [62, H, 65, H, 69, H, 65, H] + [R] * 8 + [67, H, H, H, 71, H, 74, H]
    bare = Melody(np.array(tokens, np.uint8), None, 90.0, {"title": "t"})
    chorded, words = with_chords(bare)
    assert words == "estimated from its notes: C Dm Dm G"
    assert (chorded.chroma[:8] == TRIADS[0]).all() and (chorded.chroma[8:24] == TRIADS[14]).all()
    np.testing.assert_array_equal(chorded.tokens, bare.tokens)
    assert chorded.qpm == 90.0 and chorded.meta == {"title": "t"}
    silent = Melody(np.full(32, R, np.uint8))
    assert with_chords(silent) == (silent, "none (no notes to estimate them from)")


def test_checkpoint_dirs_are_the_assets_folder_then_the_environment_folders(tmp_path, monkeypatch):
    import os

    import explorer.models.checkpoint as ckpt

    monkeypatch.setattr(ckpt, "assets_dir", lambda: tmp_path / "assets")
    monkeypatch.delenv("LATENT_EXPLORER_MODELS", raising=False)
    assert ckpt.checkpoint_dirs() == [tmp_path / "assets" / "checkpoints"]
    monkeypatch.setenv("LATENT_EXPLORER_MODELS", os.pathsep.join(["/a b/one", "", "/two"]))
    assert ckpt.checkpoint_dirs("melody") == [tmp_path / "assets" / "checkpoints", ckpt.Path("/a b/one"),
                                              ckpt.Path("/two")]


def test_a_performance_checkpoint_is_tagged_and_read_strictly(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from explorer.models.checkpoint import (PERFORMANCE_FORMAT, CheckpointError, load_performance_checkpoint,
                                            save_performance_checkpoint)

    model = _virtuoso()
    path = save_performance_checkpoint(tmp_path / "p.safetensors", model)
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    assert (meta["format"], meta["version"], meta["model"], meta["card"], meta["styles"]) == (
        PERFORMANCE_FORMAT, "1", model.name, "{}", "[]")
    # no card and no styles in the file: an empty card and no labels
    bare = {k: v for k, v in meta.items() if k not in ("card", "styles")}
    save_file(tensors, str(tmp_path / "bare.safetensors"), metadata=bare)
    _, card, styles = load_performance_checkpoint(tmp_path / "bare.safetensors")
    assert card == {} and styles["labels"] == []
    # a weight missing: refused, not loaded with that weight left at random
    short = dict(tensors)
    short.pop(sorted(k for k in short if k.startswith("model."))[0])
    save_file(short, str(tmp_path / "short.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match=r"(?s)short.safetensors is damaged or from another version \(.*Missing"):
        load_performance_checkpoint(tmp_path / "short.safetensors")


def test_the_performance_loader_says_what_safetensors_said(tmp_path):
    from explorer.models.checkpoint import CheckpointError, load_performance_checkpoint

    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError) as err:
        load_performance_checkpoint(tmp_path / "junk.safetensors")
    reason = str(err.value).split("is not a safetensors file (", 1)[1]
    assert reason != "None)" and len(reason) > 5


def test_the_melody_loader_refuses_a_performance_family_a_missing_weight_and_a_short_file(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from explorer.models.checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint

    good = save_checkpoint(tmp_path / "new" / "folders" / "good.safetensors", _ec2vae())  # folders made
    with pytest.raises(CheckpointError, match="holds an unknown model 'performance'; known: "):
        read_metadata(_with_metadata(good, tmp_path / "perf.safetensors", model="performance"))
    with safe_open(str(good), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    tensors.pop(sorted(tensors)[0])
    save_file(tensors, str(tmp_path / "short.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match=r"(?s)^short.safetensors: the weights do not fit its config \(.*Missing"):
        load_checkpoint(tmp_path / "short.safetensors")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-100])  # the header is whole, the weights are not: refused on reading it
    with pytest.raises(CheckpointError, match=r"^cut.safetensors is not a Latent Explorer checkpoint: not a safet"):
        load_checkpoint(cut)


def test_active_units_count_variances_strictly_above_the_threshold():
    from explorer.eval.metrics import active_units

    mu = np.column_stack([np.tile([0.5, -0.5], 5), np.tile([1.0, -1.0], 5)])  # variances 0.25 and 1
    assert active_units(mu, threshold=0.25) == 1


def test_mig_of_a_constant_a_binary_attribute_and_two_dims_by_hand():
    from explorer.eval.metrics import mig

    binary = np.tile([0.0, 1.0], 50)  # entropy ln 2 < 1 nat: still measured
    z3 = np.column_stack([binary, np.zeros(100), np.zeros(100)])
    # the constant first (entropy 0: no gap), then the binary one: dim 0 carries all of it, the others none
    assert mig(z3, {"flat": np.full(100, 4.0), "b": binary}) == {"flat": 0.0, "b": 1.0, "mean": 0.5}
    assert mig(z3[:, :2], {"b": binary}) == {"b": 1.0, "mean": 1.0}  # two dims are enough for a gap
    assert mig(z3[:, :1], {"b": binary}) == {"b": 0.0, "mean": 0.0}  # one dim has no second
    assert mig(z3, {}) == {"mean": 0.0}


def test_sap_of_one_and_two_dims_by_hand():
    from explorer.eval.metrics import sap

    # one dim: its R² itself. z = (0, 1, 2), a = (0, 1, 3): r² = 3² / (2 · 42/9) = 81/84 = 0.964285…
    assert sap(np.array([[0.0], [1.0], [2.0]]), {"a": [0.0, 1.0, 3.0]}) == {"a": 0.9643, "mean": 0.9643}
    # two dims: the gap between them, 1 - 81/84 (dim 1 is a itself)
    assert sap(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 3.0]]), {"a": [0.0, 1.0, 3.0]})["a"] == round(1 - 81 / 84, 4)
    assert sap(np.zeros((3, 2)), {}) == {"mean": 0.0}


def test_interpretability_of_ten_rows_after_a_constant_and_of_a_subsample():
    from explorer.eval.metrics import interpretability

    a = np.arange(10.0)
    z = np.column_stack([np.zeros(10), 2 * a + 1])  # dim 1 is a line of a: R² 1
    got = interpretability(z, {"flat": np.ones(10), "a": a})  # 10 rows are enough; flat first
    assert got == {"flat": {"dim": -1, "r2": 0.0}, "a": {"dim": 1, "r2": 1.0}, "mean": 0.5}
    # 30 rows, the attribute constant on the first 20: a subsample of 20 drawn from all 30 rows
    # still sees it vary (20 rows taken from the first 20 would not), and dim 1 is still a line of it
    assert interpretability(z, {}) == {"mean": 0.0}
    b = np.concatenate([np.zeros(20), np.arange(1.0, 11.0)])
    z30 = np.column_stack([np.zeros(30), 3 * b])
    assert interpretability(z30, {"b": b}, max_rows=20)["b"] == {"dim": 1, "r2": 1.0}


# ---- explorer.latent.projection: keys, encoding, the cache, neighbours -----------------------

class _Arrays:
    """A dataset stand-in for the fingerprints: tokens and chroma."""

    def __init__(self, tokens, chroma):
        self.tokens, self.chroma = tokens, chroma


def test_dataset_fingerprint_tells_apart_shapes_and_dtypes_of_the_same_bytes():
    from explorer.latent.projection import dataset_fingerprint

    tok, ch = np.arange(16, dtype=np.uint8).reshape(2, 8), np.zeros((2, 8, 12), np.uint8)
    base = dataset_fingerprint(_Arrays(tok, ch))
    assert base == dataset_fingerprint(_Arrays(tok.copy(), ch.copy()))
    assert base != dataset_fingerprint(_Arrays(tok.reshape(4, 4), ch))
    assert base != dataset_fingerprint(_Arrays(tok.view(np.int8), ch))
    assert base != dataset_fingerprint(_Arrays(tok, ch.reshape(2, 12, 8)))
    assert base != dataset_fingerprint(_Arrays(tok, ch.view(np.int8)))


def test_projection_keys_follow_the_method_and_the_data_key():
    from explorer.latent.projection import projection_key

    key = projection_key("PCA", {"seed": 0}, "k")
    assert key == projection_key("PCA", {"seed": 0, "n_jobs": 4}, "k")  # threads change no map
    assert key != projection_key("t-SNE", {"seed": 0}, "k")
    assert key != projection_key("PCA", {"seed": 0}, "k2")
    assert key != projection_key("PCA", {"seed": 1}, "k")


def test_method_params_name_the_missing_umap_package_only_for_umap():
    from explorer.latent.projection import METHODS, method_params

    assert method_params("PCA", {"seed": 3}) == {"seed": 3}
    if "UMAP" not in METHODS:
        with pytest.raises(ValueError, match=r"^unknown projection method 'UMAP' \(UMAP needs the umap-learn "
                                             r"package\); available: \['PCA', 't-SNE'\]$"):
            method_params("UMAP")
    with pytest.raises(ValueError, match=r"^unknown projection method 'LDA'; available: "):
        method_params("LDA")


def test_encode_means_batches_under_the_chords_and_handles_no_rows():
    from explorer.latent.projection import encode_means

    tm = chord_model()
    tokens = np.array([tune(60, 61, 62).tokens, tune(70, 71, 72).tokens, tune(80, 81, 82).tokens])
    chroma = np.zeros((3, 16, 12), np.uint8)
    chroma[1, :, 0] = 1  # 16 chord notes in row 1
    seen = []
    mu = encode_means(tm, tokens, chroma, batch_size=2, progress=lambda done, n: seen.append((done, n)))
    assert mu.dtype == np.float32 and seen == [(2, 3), (3, 3)]
    np.testing.assert_array_equal(mu, [[60, 61, 62, 0], [70, 71, 72, 16], [80, 81, 82, 0]])
    empty = encode_means(tm, tokens[:0], chroma[:0])
    assert empty.shape == (0, 4) and empty.dtype == np.float32


def test_dataset_latents_without_the_cache_write_nothing_and_a_damaged_entry_is_recomputed(cache_dir):
    from explorer.data.dataset import SegmentDataset
    from explorer.latent.cache import save_arrays
    from explorer.latent.projection import dataset_latents, latent_key

    tokens = np.array([tune(60, 61, 62).tokens, tune(70, 71, 72).tokens])
    ds = SegmentDataset(tokens, np.zeros((2, 16, 12), np.uint8), np.array([0, 1]), np.zeros(2, int), np.zeros(2, int),
                        np.array(["s", "s"]), np.array(["a", "b"]), np.array(["A", "B"]), np.array([120.0] * 2),
                        np.array(["train", "train"]))
    tm = chord_model()
    mu = dataset_latents(tm, ds, [1], cache=False)
    np.testing.assert_array_equal(mu, [[70, 71, 72, 0]])
    assert not (cache_dir / "latents").exists()
    save_arrays("latents", latent_key(tm, ds, np.array([0])), rows=np.array([0]))  # an entry without "mu"
    np.testing.assert_array_equal(dataset_latents(tm, ds, [0]), [[60, 61, 62, 0]])


def test_project_reads_its_parameters_and_caches_only_under_a_key(cache_dir):
    from explorer.latent.projection import project

    X = np.array([[0.0, 0.0], [2.0, 2.0]])  # two points are enough
    proj = project(X, "PCA", {"seed": 3})
    assert (proj.method, proj.params, proj.from_disk) == ("PCA", {"seed": 3}, False)
    assert proj.mapper is not None and proj.coords.dtype == np.float64
    np.testing.assert_allclose(np.abs(proj.coords[:, 0]), [np.sqrt(2), np.sqrt(2)])
    assert not (cache_dir / "projections").exists()
    with pytest.raises(ValueError, match=r"^need points \(N, D\) with N ≥ 2, got shape \(1, 2\)$"):
        project(X[:1])
    keyed = project(X, "PCA", key="k")
    again = project(X, "PCA", key="k")
    assert not keyed.from_disk and again.from_disk and again.coords.dtype == np.float64
    with pytest.raises(ValueError, match=r"^new points must be \(M, 2\), got \(1, 3\)$"):
        again.transform(np.zeros((1, 3)), X)


def test_subset_rows_draws_distinct_rows_and_takes_one():
    from explorer.latent.projection import subset_rows

    rows = subset_rows(100, 50)
    assert len(set(rows.tolist())) == 50 and rows.dtype == np.int64
    assert len(subset_rows(5, 1)) == 1
    with pytest.raises(ValueError, match="^max_points must be ≥ 1, got 0$"):
        subset_rows(5, 0)


def test_nearest_neighbours_of_one_point_and_of_none():
    from explorer.latent.projection import nearest_neighbours

    idx, dist = nearest_neighbours(np.array([[0.0, 0.0]]), [3.0, 4.0], k=3)
    assert idx.tolist() == [0] and dist.tolist() == [5.0] and idx.dtype == np.int64
    idx, dist = nearest_neighbours(np.zeros((0, 2)), [3.0, 4.0])
    assert idx.shape == dist.shape == (0,) and idx.dtype == np.int64 and dist.dtype == np.float64
    idx, dist = nearest_neighbours(np.array([[0.0, 0], [1, 0], [5, 0]]), np.array([[0.9, 0.0]]), k=2, exclude=1)
    assert idx.tolist() == [0, 2] and dist == pytest.approx([0.9, 4.1])
    with pytest.raises(ValueError, match="^query has 3 dims, the points have 2$"):
        nearest_neighbours(np.zeros((2, 2)), [1.0, 2.0, 3.0])


# ---- explorer.eval.performance.evaluate on stubs ------------------------------------------

class _Score:
    def __init__(self, n, prior, notes=None):
        self.features = _score_features(notes or [NOTE_A] * n)
        self.beat = np.arange(n) // 2  # two notes a beat
        self.prior = prior

    def __len__(self):
        return len(self.features)


def _performance(piece, split, targets=(), prior=None, notes=None, z=(0.0, 0.0), label=None):
    """A stub performance; ``z`` and ``label`` are what the stub style table reads of it."""
    from types import SimpleNamespace

    targets = np.asarray(targets, float)
    label = label or {"emotion": "", "piece": piece, "source": "other", "pianist": ""}
    return SimpleNamespace(record=SimpleNamespace(piece=piece, split=split), targets=targets,
                           score=_Score(len(targets), prior, notes), z=np.asarray(z, float), label=label)


def _style_stub():
    """What evaluate needs of a PerformanceStyle: z = (1, 0) reconstructs the performance,
    z = 0 predicts the score's ``prior``."""
    from types import SimpleNamespace

    def predict(score, z):
        return score.human if z[0] == 1 else score.prior

    def encode(score, h):
        score.human = h
        return np.array([1.0, 0.0])

    model = SimpleNamespace(config=SimpleNamespace(target_mean=[0.1, 0.3, 0.0, 0.0]), z_scale=2.0)
    return SimpleNamespace(model=model, z_dims=2, predict=predict, encode=encode)


def _stub_style_table(model, examples):
    """style_table's stand-in: one row per example it is given, scaled by the model it is given."""
    return {"z": np.stack([e.z for e in examples]) * model.z_scale, "labels": [e.label for e in examples]}


def _labelled(source, piece, z, emotion="", pianist=""):
    label = {"emotion": emotion, "piece": piece, "source": source, "pianist": pianist}
    return _performance(piece, "train", z=z, label=label)


# three pieces far apart in z; within each, pianist a sits 1 above the piece's mean in dim 0, b 1 below
STYLE_ROWS = [_labelled("emotion", "p1", (0.0, 0), "happy"), _labelled("emotion", "p2", (5, 5), "sad"),
              _labelled("emotion", "p2", (0.2, 0), "happy"),
              *[_labelled("vienna4x22", piece, z, pianist=who) for piece, z, who in (
                  ("p1", (1, 0), "a"), ("p1", (-1, 0), "b"), ("p2", (1.5, 10), "a"), ("p2", (-0.5, 10), "b"),
                  ("p3", (0.8, 30), "a"), ("p3", (-1.2, 30), "b"))]]


def test_performance_evaluate_on_stubs(monkeypatch):
    import explorer.models.performance_style as style
    from explorer.eval.performance import evaluate, knn_leave_one_group_out, mean_metrics, performance_metrics

    monkeypatch.setattr(style, "style_table", _stub_style_table)
    h1 = [[0.0, 0.2, 0, 0], [0.1, 0.4, 0, 0], [0.3, 0.6, 0, 0], [0.2, 0.8, 0, 0]]
    h2 = [[0.5, 0.9, 0, 0], [0.4, 0.7, 0, 0], [0.2, 0.5, 0, 0], [0.1, 0.1, 0, 0]]
    prior = np.array([[0.1, 0.3, 0, 0], [0.1, 0.5, 0, 0], [0.3, 0.5, 0, 0], [0.2, 0.9, 0, 0]])
    test = [_performance("D783", "test", h1, prior), _performance("D783", "test", h2, prior)]
    train = [_performance("D784", "train", [[0.2, 0.4, 0, 0]] * 6)]
    examples = test + train + STYLE_ROWS
    res, table = evaluate(_style_stub(), examples, train)
    assert table["labels"] == [e.label for e in examples]
    np.testing.assert_array_equal(table["z"], 2 * np.stack([e.z for e in examples]))
    assert res["test"] == {"pieces": ["D783"], "performances": 2, "notes": 8}
    beat = np.array([0, 0, 1, 1])

    def mean_of(pred):
        return mean_metrics([performance_metrics(pred(np.asarray(h)), np.asarray(h), beat) for h in (h1, h2)])

    assert res["model_encoded_z"] == mean_of(lambda h: h)
    assert res["model_encoded_z"]["velocity_r"] == pytest.approx(1.0)
    assert res["model_prior_z"] == mean_of(lambda h: prior)
    # the baselines predict in float32
    assert res["baseline_deadpan"] == pytest.approx(mean_of(lambda h: np.tile([0.1, 0.3, 0, 0], (4, 1))))
    assert res["baseline_mean_performance"] == pytest.approx(mean_of(lambda h: np.tile([0.2, 0.4, 0, 0], (4, 1))))
    # the baselines are constant (r = 0); the prior's velocity follows h1 and goes against h2
    prior_r = res["model_prior_z"]
    assert res["beats_both_baselines"] == {"velocity_r": prior_r["velocity_r"] > 0, "tempo_r": prior_r["tempo_r"] > 0}
    z = 2 * np.stack([e.z for e in STYLE_ROWS])
    emo, vie = [0, 1, 2], [3, 4, 5, 6, 7, 8]
    assert res["knn_emotion"] == knn_leave_one_group_out(z[emo], ["happy", "sad", "happy"], ["p1", "p2", "p2"])
    pieces = np.array(["p1", "p1", "p2", "p2", "p3", "p3"])
    pianists = ["a", "b"] * 3
    assert res["knn_pianist"] == knn_leave_one_group_out(z[vie], pianists, pieces)
    # centred on each piece's mean, every row is (±2, 0): each pianist's 3 nearest include both of their others
    centred = knn_leave_one_group_out(np.array([[2.0, 0], [-2, 0]] * 3), pianists, pieces)
    assert centred["accuracy"] == 1.0 and centred["per_held_out_piece"] == {"p1": 1.0, "p2": 1.0, "p3": 1.0}
    assert res["knn_pianist_piece_centred"] == centred
    with pytest.raises(ValueError, match=r"^no test performance \(Schubert_D783_no15 in vienna4x22/match\) was found$"):
        evaluate(_style_stub(), train, train)


def test_performance_beats_both_baselines_only_above_each(monkeypatch):
    """The comparison with each baseline on its own: four notes each of two score contexts, so the
    mean-performance baseline is not constant and its r is not 0."""
    import explorer.models.performance_style as style
    from explorer.eval.performance import MeanPerformance, evaluate, performance_metrics

    monkeypatch.setattr(style, "style_table", _stub_style_table)
    notes = [NOTE_A, NOTE_A, NOTE_B, NOTE_B] * 2  # beats 0-3: A, B, A, B
    train = [_performance("D784", "train", [[0.0, 0.6, 0, 0]] * 5 + [[1.0, 0.2, 0, 0]] * 5,
                          notes=[NOTE_A] * 5 + [NOTE_B] * 5)]
    base = MeanPerformance(train).predict(_score_features(notes))  # A: (0, 0.6), B: (1, 0.2)
    beat = np.arange(8) // 2

    def verdict(human_tempo, human_velocity, prior):
        human = np.zeros((8, 4))
        human[:, 0], human[:, 1] = np.repeat(human_tempo, 2), human_velocity
        test = [_performance("D783", "test", human, prior, notes=notes)]
        res, _ = evaluate(_style_stub(), test + train, train)
        assert res["baseline_mean_performance"] == performance_metrics(base, human, beat)
        return res

    velocity = [0.7, 0.5, 0.1, 0.3, 0.4, 0.8, 0.3, 0.1]  # louder where the baseline is: 0 < its r < 1
    # the prior: the human velocities (r = 1), a constant tempo (r = 0 = the deadpan's) against a
    # baseline whose tempo r is below 0
    prior = np.zeros((8, 4))
    prior[:, 0], prior[:, 1] = 0.3, velocity
    res = verdict([0.5, 0.0, 0.8, 0.6], velocity, prior)
    assert res["model_prior_z"]["tempo_r"] == 0.0 and res["baseline_mean_performance"]["tempo_r"] < 0
    assert res["beats_both_baselines"] == {"velocity_r": True, "tempo_r": False}
    # the prior: the baseline's own velocities (the same r, not above it) and a tempo whose r is
    # above the deadpan's 0 but below the baseline's
    prior = base.copy()
    prior[:, 0] = np.repeat([0.2, 0.3, 0.25, 0.2], 2)
    res = verdict([0.0, 0.9, 0.3, 0.5], velocity, prior)
    m, b = res["model_prior_z"], res["baseline_mean_performance"]
    assert m["velocity_r"] == b["velocity_r"] > 0 and 0 < m["tempo_r"] < b["tempo_r"]
    assert res["beats_both_baselines"] == {"velocity_r": False, "tempo_r": False}


def test_mean_performance_keeps_the_all_notes_mean_under_5_notes():
    from types import SimpleNamespace

    from explorer.eval.performance import MeanPerformance

    targets = np.array([[1.0, 2, 3, 4], [3, 4, 5, 6]])
    base = MeanPerformance([SimpleNamespace(score=SimpleNamespace(features=_score_features([NOTE_A] * 2)),
                                            targets=targets)])
    np.testing.assert_array_equal(base.predict(_score_features([NOTE_A, NOTE_B])), [[2, 3, 4, 5]] * 2)


def test_performance_evaluate_leaves_out_the_classifiers_without_their_labels(monkeypatch):
    import explorer.models.performance_style as style
    from explorer.eval.performance import evaluate

    monkeypatch.setattr(style, "style_table", _stub_style_table)
    h = [[0.0, 0.2, 0, 0], [0.1, 0.4, 0, 0]]
    test = [_performance("D783", "test", h, np.array(h))]
    res, _ = evaluate(_style_stub(), test, [_performance("D784", "train", [[0.2, 0.4, 0, 0]] * 6)])
    assert not {"knn_emotion", "knn_pianist", "knn_pianist_piece_centred"} & set(res)


def test_ship_writes_the_model_with_its_styles_figures_and_card(tmp_path):
    from types import SimpleNamespace

    from explorer.eval.performance import card_markdown, ship
    from explorer.models.checkpoint import load_performance_checkpoint

    ps = SimpleNamespace(model=_virtuoso(), card={"steps": 5, "eval": {"old": 1}})
    table = {"z": np.array([[1.0, 2.0]]), "labels": [{"pianist": "a"}]}
    out = ship(ps, tmp_path / "style.safetensors", {"figure": 0.5}, table, notes=("n1",))
    assert out == tmp_path / "style.safetensors"
    _, card, styles = load_performance_checkpoint(out)
    assert card == {"steps": 5, "eval": {"figure": 0.5}, "notes": ["n1"],
                    "eval_command": f"explorer eval {out.as_posix()} --data ../shared/data --json"}
    assert styles["labels"] == [{"pianist": "a"}] and styles["z"].tolist() == [[1.0, 2.0]]
    assert (tmp_path / "style.md").read_text() == card_markdown("style", card)
    assert ps.card == {"steps": 5, "eval": {"old": 1}}  # the caller's card is not changed


def _transposition_chord_encoder(tokens, chroma):
    """z_p = (sum of onset pitches, Σ (pitch class + 1) of step 0's chord / 10);
    z_r = (sum of onset steps / 9, first token / 2)."""
    onset = tokens < 128
    steps = torch.arange(tokens.shape[1])
    weights = torch.arange(1.0, 13.0)
    return torch.stack([torch.where(onset, tokens, 0).sum(1).float(), (chroma[:, 0, :] * weights).sum(1) / 10,
                        torch.where(onset, steps, 0).sum(1).float() / 9, tokens[:, 0].float() / 2], 1)


def test_transposition_test_moves_the_chords_with_the_notes():
    from explorer.eval.run import transposition_test

    tm = TrainedModel(StubVAE(4, PITCH_RHYTHM, 8, _transposition_chord_encoder), device="cpu")
    tokens = np.array([[120, H, 123, H, R, R, R, R]], np.uint8)  # +5 would put 123 at 128: skipped
    chroma = np.zeros((1, 8, 12), np.float32)
    chroma[0, 0, 11] = 1  # B at step 0 only: weight 12; moved by -2, 1, 2 to A (10), C (1), C# (2)
    # a shift s moves z_p by (2s, Δweight/10) and z_r by (0, s/2); holds are not notes
    dz_p = (math.sqrt(16 + 0.2 ** 2) + math.sqrt(4 + 1.1 ** 2) + math.sqrt(16 + 1.0 ** 2)) / 3
    got = transposition_test(tm, tokens, chroma, shifts=(5, -2, 1, 2))
    assert got == {"dz_p": round(dz_p, 4), "dz_r": round(5 / 6, 4), "ratio": round(dz_p / (5 / 6), 3)}


class _HalfScaleStub(StubVAE):
    """A StubVAE whose posterior scale is 1/2 instead of 1."""

    def encode(self, tokens, chroma):
        post = super().encode(tokens, chroma)
        return type(post)(post.mean, 0.5 * post.scale)


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:An input array is constant")
def test_evaluate_encodes_under_the_chords_and_reports_the_kl_of_each_dim():
    from explorer.eval.run import evaluate

    ds = _eval_dataset()
    ds.chroma[:, :, [0, 4, 7]] = 1  # 24 chord notes a segment: +0.24 in z_p's second number
    model = _HalfScaleStub(4, PITCH_RHYTHM, 8, _rhythm_chord_encoder)
    tm = TrainedModel(model, {}, device="cpu")
    out = evaluate(tm, ds, vectors=False)
    # KL = (σ² + μ² - 1 - ln σ²) / 2 with σ = 1/2, averaged over the 4 test rows
    base = 0.25 - 1 - math.log(0.25)
    dim1 = [0.24, 3 / 7 + 0.24, 0.24, 8 / 7 + 0.24]
    assert out["kl_per_dim"][1] == round(np.mean([(base + m * m) / 2 for m in dim1]), 4)
    assert out["kl_per_dim"][3] == round(base / 2, 4)
    assert 0 <= out["seconds"] < 600
    pitch_only = TrainedModel(StubVAE(4, {"pitch": (0, 2)}, 8, _rhythm_chord_encoder), {}, device="cpu")
    assert "transposition_test" not in evaluate(pitch_only, ds, vectors=False)


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:An input array is constant")
def test_evaluate_unseen_reads_cards_without_sources_and_passes_the_limit_on():
    from explorer.eval.run import evaluate_unseen

    ds = _eval_dataset()
    for meta in ({}, {"card": {"data": {}}}):
        tm = TrainedModel(StubVAE(4, PITCH_RHYTHM, 8, _rhythm_chord_encoder), meta, device="cpu")
        assert evaluate_unseen(tm, {"x": ds}, limit=2)["x"]["segments"] == 2


def test_knn_leave_one_piece_out_by_hand():
    from explorer.eval.performance import knn_leave_one_group_out

    z = np.array([[0.0], [0.12], [0.2], [0.3], [0.55], [0.65]])
    labels = ["x", "x", "y", "y", "y", "y"]
    pieces = ["A", "B", "C", "C", "D", "D"]
    # 3 nearest of the other pieces, majority: A (0.0) sees 0.12 x, 0.2 y, 0.3 y → y, wrong; B sees
    # 0.2 y, 0.0 x, 0.3 y → y, wrong; C's 0.2 and 0.3 see 0.12 x, 0.0 x and a D (y) → x, wrong;
    # D's 0.55 and 0.65 see 0.3 y, 0.2 y, 0.12 x → y, right
    assert knn_leave_one_group_out(z, labels, pieces) == {
        "accuracy": 2 / 6, "chance": 0.5, "k": 3, "performances": 6,
        "per_held_out_piece": {"A": 0.0, "B": 0.0, "C": 0.0, "D": 1.0}}
    # one piece only: nothing can be held out
    assert knn_leave_one_group_out(z, ["x"] * 6, ["A"] * 6) == {
        "accuracy": 0.0, "chance": 1.0, "k": 3, "performances": 0, "per_held_out_piece": {}}


# ---- explorer.latent.projection: t-SNE's settings, progress and placing ---------------------

def test_tsne_settings_keep_the_perplexity_below_a_third_of_the_points():
    from explorer.latent.projection import _tsne

    params = {"perplexity": 30.0, "n_iter": 500, "early_iter": 60, "seed": 7}
    tsne = _tsne(params, 12)
    assert tsne.perplexity == pytest.approx(11 / 3)  # (N - 1) / 3 for 12 points
    assert (tsne.n_iter, tsne.early_exaggeration_iter, tsne.random_state, tsne.n_jobs,
            tsne.callbacks_every_iters) == (500, 60, 7, 1, 25)
    assert (tsne.negative_gradient_method, tsne.ints_in_interval, tsne.initialization) == ("fft", 5, "pca")
    assert _tsne(params, 2).perplexity == 1.0  # never below 1
    assert _tsne(dict(params, perplexity=2.0), 100).perplexity == 2.0
    assert _tsne(dict(params, n_jobs=3), 100).n_jobs == 3


def test_tsne_reports_progress_every_25_iterations_and_centres_the_map():
    from explorer.latent.projection import project

    X = np.random.default_rng(0).normal(size=(12, 3))
    seen = []
    proj = project(X, "t-SNE", {"n_iter": 50, "perplexity": 3.0}, progress=lambda done, n: seen.append((done, n)))
    # 125 iterations of early exaggeration (TSNE_EARLY_ITER), then 50: a report every 25 of the 175
    assert seen == [(25 * i, 175) for i in range(1, 8)]
    np.testing.assert_allclose(proj.coords.max(0) + proj.coords.min(0), [0, 0], atol=1e-9)


def test_pca_map_of_many_points_is_the_seeded_randomised_fit():
    """600 points in 64 dims: scikit-learn picks its randomised solver, so the seed decides the map."""
    from sklearn.decomposition import PCA

    from explorer.latent.projection import project

    X = np.random.default_rng(0).normal(size=(600, 64)).astype(np.float32)
    pca = PCA(n_components=2, random_state=0).fit(X)
    assert pca._fit_svd_solver == "randomized"
    proj = project(X)  # PCA by default, seed 0
    assert proj.method == "PCA" and proj.params == {"seed": 0}
    np.testing.assert_allclose(proj.coords, (X - pca.mean_) @ pca.components_.T, rtol=1e-4, atol=1e-5)
    assert not np.allclose(project(X, "PCA", {"seed": 1}).coords, proj.coords)


def test_nearest_neighbours_are_5_by_default():
    from explorer.latent.projection import nearest_neighbours

    X = np.arange(16.0).reshape(8, 2)  # point i is (2i, 2i + 1)
    idx, dist = nearest_neighbours(X, [0.0, 1.0])
    assert idx.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(dist, np.sqrt(8) * np.arange(5), rtol=1e-6)


def test_the_projection_cache_keeps_methods_apart_and_skips_an_entry_without_coordinates(tmp_cache):
    from explorer.latent.cache import save_arrays
    from explorer.latent.projection import method_params, project, projection_key

    X = np.random.default_rng(1).normal(size=(12, 3))
    pca = project(X, "PCA", key="data")
    assert not pca.from_disk and project(X, "PCA", key="data").from_disk
    tsne = project(X, "t-SNE", {"n_iter": 50, "perplexity": 3.0}, key="data")  # the same data, another method
    assert not tsne.from_disk and not np.allclose(tsne.coords, pca.coords)
    save_arrays("projections", projection_key("PCA", method_params("PCA"), "other"), state_mean=np.zeros(3))
    again = project(X, "PCA", key="other")
    assert not again.from_disk
    np.testing.assert_allclose(again.coords, pca.coords)


def test_a_tsne_map_from_the_cache_is_placed_on_without_opentsne_warning(tmp_cache, caplog):
    import logging

    from explorer.latent.projection import METHODS, _tsne, project

    X = np.random.default_rng(2).normal(size=(12, 3))
    params = {"n_iter": 50, "perplexity": 3.0}
    project(X, "t-SNE", params, key="data")
    hit = project(X, "t-SNE", params, key="data")
    assert hit.from_disk and hit.mapper is None
    log = logging.getLogger("openTSNE")
    level = log.level
    log.setLevel(logging.WARNING)  # even with openTSNE's own logger set to warn
    try:
        with caplog.at_level(logging.WARNING):
            placed = hit.transform(X[:2] + 0.01, X)
    finally:
        log.setLevel(level)
    assert placed.shape == (2, 2) and not [r for r in caplog.records if r.name.startswith("openTSNE")]
    # unquieted, openTSNE does warn about such an initialisation
    with caplog.at_level(logging.WARNING):
        _tsne(dict(METHODS["t-SNE"].defaults, **params), 12).prepare_initial(X, initialization=hit.coords)
    assert any(r.name.startswith("openTSNE") and "Standard deviation" in r.getMessage() for r in caplog.records)


def test_tsne_places_new_points_with_at_most_25_neighbours_quietly():
    import logging

    from explorer.latent.projection import _TSNEMapper

    calls = []

    class Embedding:
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

        def transform(self, X, **kwargs):
            calls.append((X.dtype, kwargs, logging.getLogger("openTSNE").level))
            return np.zeros((len(X), 2))

    level = logging.getLogger("openTSNE").level
    _TSNEMapper(Embedding(10)).transform([[1, 2]])
    _TSNEMapper(Embedding(40)).transform([[1, 2]])
    assert calls == [(np.float64, {"k": 9, "perplexity": 3.0, "n_iter": 100}, logging.ERROR),
                     (np.float64, {"k": 25, "perplexity": 5, "n_iter": 100}, logging.ERROR)]
    assert logging.getLogger("openTSNE").level == level


def _chord_density_decode(z, chroma, **_):
    """round(z0) + (pitch classes in step 0's chord) onsets of C4 from step 0 (0..8), then rests."""
    n = (z[:, 0].round() + chroma[:, 0, :].sum(1)).clamp(0, 8).long().tolist()
    return output_of([[60] * k + [R] * (8 - k) for k in n])


def test_vector_effects_decode_both_codes_under_the_chords_and_count_a_constant_attributes_std_as_1():
    from explorer.eval.run import vector_effects

    tm = TrainedModel(StubVAE(2, {}, 8, lambda t, c: torch.zeros(len(t), 2), _chord_density_decode), device="cpu")
    mu = np.array([[1.0, 0], [3.0, 0], [5.0, 0]])
    chroma = np.zeros((3, 8, 12), np.float32)
    chroma[:, :, 7] = 1  # one pitch class: one note more than z0 says, before and after the move
    tokens = np.array([[60] * 4 + [R] * 4] * 3)  # the data's density is constant: its std counts as 1
    got = vector_effects(tm, tokens, chroma, mu, {"note_density": np.array([2.0, 0.0])})["per_attribute"]
    # 2, 4, 6 notes → 4, 6, 8: + 2/8 each
    assert (got["note_density"]["delta"], got["note_density"]["delta_std"]) == (0.25, 0.25)


def test_vector_effects_take_500_rows_drawn_by_seed_0_by_default():
    from explorer.eval.run import vector_effects

    tm = TrainedModel(StubVAE(2, {}, 8, lambda t, c: torch.zeros(len(t), 2), _chord_density_decode), device="cpu")
    rng = np.random.default_rng(5)
    rows = np.sort(np.random.default_rng(0).choice(501, 500, replace=False))
    # every code decodes to 0-7 notes, which the vector raises by one, but the row the draw leaves
    # out: 8 notes, which stay 8
    mu = np.column_stack([rng.integers(0, 8, 501), np.zeros(501)]).astype(np.float32)
    mu[np.setdiff1d(np.arange(501), rows), 0] = 8
    tokens = np.array([[60] * k + [R] * (8 - k) for k in rng.integers(1, 9, 501)])
    chroma = np.zeros((501, 8, 12), np.float32)
    vectors = {"note_density": np.array([1.0, 0.0], np.float32)}
    got = vector_effects(tm, tokens, chroma, mu, vectors)
    assert got == vector_effects(tm, tokens[rows], chroma[rows], mu[rows], vectors, limit=500)
    assert got["segments"] == 500 and got["per_attribute"]["note_density"]["increased"] == 1.0
    assert vector_effects(tm, tokens, chroma, mu, vectors, seed=1)["per_attribute"]["note_density"]["increased"] < 1
    # its figures keep 3 decimals (4 for delta)
    dens = got["per_attribute"]["note_density"]
    density = (tokens[rows] < 128).sum(1) / 8
    moved = np.minimum(mu[rows, 0] + 1, 8) - mu[rows, 0]
    delta_std = moved.mean() / 8 / density.std()
    assert dens["delta_std"] == round(delta_std, 3) != round(delta_std, 4)
    assert dens["largest_other"][0] == "rest_ratio"
    assert dens["largest_other"][1] == round(-delta_std * density.std() / ((tokens[rows] == R).sum(1) / 8).std(), 3)


def test_vector_effects_measure_a_seeded_subsample_of_limit_rows():
    from explorer.eval.run import vector_effects
    from test_known_answers import _density_decode

    tm = TrainedModel(StubVAE(2, {}, 8, lambda t, c: torch.zeros(len(t), 2), _density_decode), device="cpu")
    mu = np.array([[2.0, 0], [4.0, 0], [8.0, 0]])
    tokens = np.array([[60] * k + [R] * (8 - k) for k in (1, 4, 8)])
    got = vector_effects(tm, tokens, np.zeros((3, 8, 12), np.float32), mu, {"note_density": np.array([2.0, 0.0])},
                         limit=2)
    assert got["segments"] == 2
