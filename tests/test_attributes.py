import numpy as np
import pytest

from explorer.music import attributes as A
from explorer.music.melody import HOLD as H
from explorer.music.melody import REST as R

SCALE = [60, H, H, H, 62, H, H, H, 64, H, H, H, 65, H, H, H, 67, H, H, H, H, H, H, H, R, R, R, R, 60, H, H, H]


def test_attributes_by_hand():
    a = A.compute(np.array(SCALE))
    assert a["note_density"] == pytest.approx(6 / 32)
    # onsets on the downbeats (0.2, 0.2), beat 2 (0.67), beat 3 (0.25), beat 4 (0.67, 0.67)
    bar_total = 0.2 + 0.67 + 0.25 + 0.67 + 4 * 0.5 + 8 * 1.0
    assert a["rhythmic_complexity"] == pytest.approx((0.2 + 0.67 + 0.25 + 0.67 + 0.2 + 0.67) / (2 * bar_total))
    assert a["pitch_range"] == 7
    assert a["contour"] == 0  # up 7, then back down to C
    assert a["mean_pitch"] == pytest.approx(63.0)
    assert a["syncopation"] == 0
    assert a["rest_ratio"] == pytest.approx(4 / 32)
    p = np.array([3, 1, 1]) / 5  # |intervals| 2, 2, 1, 2, 7
    assert a["interval_entropy"] == pytest.approx(-(p * np.log2(p)).sum())


def test_syncopation_by_hand():
    # 62 starts on an 8th off-beat and sounds through beat 2; 64 stops before beat 3
    tok = [60, H, 62, H, H, H, 64, H, 65, H, H, H, H, H, H, H]
    assert A.syncopation(np.array(tok)) == pytest.approx(1 / 4)
    assert A.syncopation(np.array([60, H, H, H] * 4)) == 0


def test_key_and_in_key_ratio():
    c_major = [60, H, 64, H, 67, H, 72, H, 67, H, 64, H, 62, H, 60, H]
    tonic, minor = A.estimate_key(np.array([c_major]))
    assert (tonic[0], minor[0]) == (0, False)
    assert A.in_key_ratio(np.array(c_major)) == 1.0
    chromatic = [60 + i for i in range(12)] + [R] * 4
    assert A.in_key_ratio(np.array(chromatic)) == pytest.approx(7 / 12)


def test_contour_rising_and_falling():
    assert A.contour(np.array([60, 64, 67, 72])) == 12
    assert A.contour(np.array([72, H, 67, R, 60])) == -12


def test_empty_and_single_note_edge_cases():
    rests = np.array([R] * 32)
    a = A.compute(rests)
    assert a["note_density"] == 0 and a["pitch_range"] == 0 and a["contour"] == 0
    assert np.isnan(a["mean_pitch"]) and a["rest_ratio"] == 1 and a["interval_entropy"] == 0
    one = A.compute(np.array([60] + [H] * 31))
    assert one["pitch_range"] == 0 and one["interval_entropy"] == 0 and one["mean_pitch"] == 60


def test_batch_equals_rows():
    rng = np.random.default_rng(0)
    tok = rng.choice([60, 62, 64, 65, 67, 69, 71, 72, H, H, H, R], size=(64, 32))
    batch = A.compute(tok)
    for i in (0, 17, 63):
        row = A.compute(tok[i])
        for k in A.ATTRIBUTES:
            assert batch[k][i] == pytest.approx(row[k], nan_ok=True), k


def test_fifty_thousand_segments_vectorised():
    tok = np.random.default_rng(1).integers(0, 130, size=(50_000, 32))
    out = A.compute(tok)
    assert set(out) == set(A.ATTRIBUTES) and all(v.shape == (50_000,) for v in out.values())


def test_unknown_attribute_is_named():
    with pytest.raises(KeyError, match="loudness"):
        A.compute(np.array(SCALE), names=["loudness"])
