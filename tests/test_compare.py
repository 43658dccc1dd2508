"""explorer.latent.compare: what the Compare page measures, on melodies written by hand and on a
tiny untrained model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.latent.compare import agreement, compare_one, length_mismatch, path_changes, shared_corpus_rows
from explorer.models.trained import TrainedModel
from explorer.music.melody import HOLD, REST, Melody
from helpers_app import tiny_arvae

C, D, E = 60, 62, 64


def test_agreement_counts_steps_and_onsets():
    target = [C, HOLD, D, HOLD, E, REST, C, HOLD]  # 4 onsets
    output = [C, HOLD, D, D, E, HOLD, D, HOLD]  # C, D, E kept; step 3 and 5 differ; the last C became D
    ag = agreement(target, output)
    assert ag == {"tokens": 5 / 8, "onset_pitch": 3 / 4, "onsets": 4}
    assert agreement([REST] * 4, [REST, C, REST, REST]) == {"tokens": 3 / 4, "onset_pitch": None, "onsets": 0}
    with pytest.raises(ValueError, match="4 and 5 steps"):
        agreement([C] * 4, [C] * 5)


def test_path_changes_of_a_path_written_by_hand():
    path = np.array([[C, HOLD, HOLD, HOLD],
                     [C, HOLD, HOLD, HOLD],  # no change
                     [C, HOLD, D, HOLD],  # 1 of 4 steps
                     [E, REST, D, REST]])  # 3 of 4 steps
    assert path_changes(path) == {"distinct": 3, "mean_change": (0 + 0.25 + 0.75) / 3, "largest_change": 0.75}
    with pytest.raises(ValueError, match="K ≥ 2"):
        path_changes(path[:1])


def test_length_mismatch_says_both_lengths_and_why_nothing_is_cut():
    assert length_mismatch("a", 32, "b", 32) is None
    msg = length_mismatch("arvae", 32, "musicvae16", 256)
    assert msg.startswith("arvae reads 2-bar melodies (32 steps) and musicvae16 reads 16-bar melodies (256 steps)")
    assert "cannot go through both" in msg and "Cutting the longer melody to 2 bars" in msg


def test_shared_corpus_rows_leave_out_the_own_test_splits():
    rows_a = [{"corpus": "own test split", "greedy": 0.9}, {"corpus": "essen (never seen)", "greedy": 0.8},
              {"corpus": "bach (never seen)", "greedy": 0.7, "onset pitch": 0.6}]
    rows_b = [{"corpus": "own test split", "greedy": 0.5}, {"corpus": "bach (never seen)", "greedy": 0.4},
              {"corpus": "oneills (never seen)", "greedy": 0.3}]
    assert shared_corpus_rows(rows_a, rows_b, "A", "B") == [
        {"corpus": "bach (never seen)", "greedy · A": 0.7, "greedy · B": 0.4, "onset pitch · A": 0.6,
         "onset pitch · B": None}]
    assert shared_corpus_rows(rows_a[:2], rows_b, "A", "B") == []


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return TrainedModel(tiny_arvae(), device="cpu")


def _melody(pitches) -> Melody:
    tokens = []
    for p in pitches:  # a note per quarter (4 steps)
        tokens += [p, HOLD, HOLD, HOLD]
    return Melody(np.array(tokens))


def test_compare_one_matches_the_model_operations(tiny):
    a, b = _melody([C, D, E, C, E, D, C, REST]), _melody([E, E, D, D, C, C, D, D])
    vec = np.linspace(-1, 1, tiny.layout.dims).astype(np.float32)
    run = compare_one(tiny, a, b, steps=4, method="lerp", attribute="pitch_range", amount=-1.5, vector=vec)
    rec = tiny.reconstruct([a])[0]
    assert np.array_equal(run.recon.tokens, rec.tokens)
    assert run.recon_agreement["tokens"] == float(np.mean(rec.tokens == a.tokens))
    path = tiny.interpolate(a, b, steps=4, method="lerp")
    assert [m.tokens.tolist() for m in run.path] == [m.tokens.tolist() for m in path]
    _, mu, _ = tiny.encode([a])
    shifted = tiny.decode_tokens(mu - 1.5 * vec, a.chroma[None])[0]
    assert np.array_equal(run.shifted.tokens, shifted)
    assert run.shift_values["input"] == 4.0  # C (60) to E (64)
    assert run.shift_change == run.shift_values["shifted"] - run.shift_values["reconstruction"]
    assert run.shift_kept == agreement(a.tokens, shifted)
    plain = compare_one(tiny, a, b, steps=2)
    assert plain.shifted is None and plain.shift_change is None and len(plain.path) == 2
