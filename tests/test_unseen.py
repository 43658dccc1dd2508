"""Figures on corpora a model never saw: evaluated by `explorer ship --unseen`, kept in the card
beside the own test split, checked against the targets, marked in the model picker."""
from __future__ import annotations

import pytest

from explorer.models.card import card_markdown, comparison_rows, missed_targets, target_lines

CARD = {"model": "musicvae",
        "eval": {"split": "test", "segments": 100, "recon_accuracy_greedy": 0.96, "recon_accuracy_onset_pitch": 0.9,
                 "recon_accuracy_teacher_forced": 0.97, "recon_accuracy_rhythm": 0.99},
        "unseen": {"essen": {"segments": 50, "recon_accuracy_greedy": 0.94, "recon_accuracy_onset_pitch": 0.79,
                             "recon_accuracy_teacher_forced": 0.95, "recon_accuracy_rhythm": 0.97}}}


def test_targets_cover_the_own_test_split_and_each_unseen_corpus():
    lines = target_lines("musicvae", CARD["eval"], CARD["unseen"])
    assert lines == ["recon_accuracy_greedy: 0.96 (target ≥ 0.95) — met",
                     "recon_accuracy_onset_pitch: 0.9 (target ≥ 0.85) — met",
                     "unseen essen: recon_accuracy_greedy: 0.94 (target ≥ 0.93) — met",
                     "unseen essen: recon_accuracy_onset_pitch: 0.79 (target ≥ 0.8) — missed"]
    assert missed_targets(CARD) == [lines[-1]]
    assert missed_targets(dict(CARD, unseen={})) == []


def test_comparison_rows_and_the_card_table_put_the_corpora_side_by_side():
    rows = comparison_rows(CARD)
    assert [r["corpus"] for r in rows] == ["own test split", "essen (never seen)"]
    assert rows[1]["greedy"] == 0.94 and rows[0]["onset pitch"] == 0.9
    assert "interpretability" not in rows[0]  # a figure no corpus has is left out
    md = card_markdown("m", CARD)
    assert "| essen (never seen) | 50 | 0.9400 | 0.9500 | 0.7900 | 0.9700 |" in md


def test_evaluate_unseen_refuses_a_corpus_the_model_was_trained_on(tmp_path, one_torch_thread):
    from explorer.data.dataset import segment_tunes
    from explorer.data.midi_files import tune_from_midi
    from explorer.eval.run import evaluate_unseen
    from explorer.models.registry import build_model
    from explorer.models.trained import TrainedModel
    from tests.conftest import make_midi

    notes = [(60 + (i * 5) % 12, i * 0.5, i * 0.5 + 0.5) for i in range(32)]
    mine = segment_tunes([tune_from_midi(make_midi(notes), "mine", "a")])
    other = segment_tunes([tune_from_midi(make_midi(notes), "other", "b")])
    tm = TrainedModel(build_model("musicvae", hidden_dims=16, embed_dims=8, z_dims=4), {"card": {
        "data": {"sources": ["mine"]}}}, device="cpu")
    with pytest.raises(ValueError, match="mine.*training data"):
        evaluate_unseen(tm, {"mine": mine})
    res = evaluate_unseen(tm, {"other": other})
    assert res["other"]["split"] == "all" and res["other"]["segments"] == len(other)
    assert res["other"]["sources"] == ["other"] and "attribute_vectors" not in res["other"]
    assert 0 <= res["other"]["recon_accuracy_greedy"] <= 1


def test_the_picker_marks_a_checkpoint_that_misses_its_targets(tmp_path):
    from explorer.models.checkpoint import save_checkpoint
    from explorer.models.registry import build_model
    from explorer.ui.model_picker import missed_targets_of

    model = build_model("musicvae", hidden_dims=16, embed_dims=8, z_dims=4)
    bad = save_checkpoint(tmp_path / "bad.safetensors", model, card=CARD)
    good = save_checkpoint(tmp_path / "good.safetensors", model, card=dict(CARD, unseen={}))
    assert missed_targets_of.__wrapped__(str(bad), 0.0) == [target_lines("musicvae", CARD["eval"], CARD["unseen"])[-1]]
    assert missed_targets_of.__wrapped__(str(good), 0.0) == []
    assert missed_targets_of.__wrapped__(str(tmp_path / "none.safetensors"), 0.0) == []


def test_chords_estimated_from_a_melody_alone():
    """A C-major arpeggio then a D-minor one, half a bar each: C then Dm; a silent window keeps
    the chord before it; a silent start takes the first chord found."""
    import numpy as np

    from explorer.music.chords import TRIADS, estimate_chords

    h, r = 128, 129
    tok = np.array([60, h, 64, h, 67, h, 72, h] + [62, h, 65, h, 69, h, 65, h] + [r] * 8 + [67, h, h, h, 71, h, 74, h])
    chroma, names = estimate_chords(tok)
    assert names == ["C", "Dm", "Dm", "G"]
    assert chroma.shape == (32, 12) and (chroma[:8] == TRIADS[0]).all() and (chroma[8:24] == TRIADS[14]).all()
    _, names = estimate_chords(np.array([r] * 8 + [57, h, 60, h, 64, h, h, h]))
    assert names == ["Am", "Am"]
    _, names = estimate_chords(np.array([r] * 16))
    assert names == ["", ""]


def test_a_chord_conditioned_model_is_also_evaluated_with_estimated_chords_on_a_chordless_corpus(one_torch_thread):
    """EC²-VAE on a corpus without chords: a second row with chords estimated from the notes,
    and those chords reach the model (the figures differ from the row without); a corpus with
    chords, and a model without a chord condition, get no such row."""
    import numpy as np

    from explorer.data.dataset import segment_tunes
    from explorer.data.midi_files import tune_from_midi
    from explorer.eval.run import estimate_missing_chords, evaluate_unseen
    from explorer.models.registry import build_model
    from explorer.models.trained import TrainedModel
    from tests.conftest import make_midi

    notes = [(60 + (i * 7) % 12, i * 0.5, i * 0.5 + 0.5) for i in range(32)]
    plain = segment_tunes([tune_from_midi(make_midi(notes), "plain", "a")])
    assert not plain.chroma.any()
    import torch

    torch.manual_seed(0)
    ec2 = TrainedModel(build_model("ec2vae", hidden_dims=16), {"card": {}}, device="cpu")
    res = evaluate_unseen(ec2, {"plain": plain})
    assert list(res) == ["plain", "plain · estimated chords"]
    est = res["plain · estimated chords"]
    assert est["chords_estimated"] == len(plain) and "chords_estimated" not in res["plain"]
    assert est["transposition_test"] != res["plain"]["transposition_test"]  # the chords reached the encoder
    mv = TrainedModel(build_model("musicvae", hidden_dims=16, embed_dims=8, z_dims=4), {"card": {}}, device="cpu")
    assert list(evaluate_unseen(mv, {"plain": plain})) == ["plain"]

    filled, n = estimate_missing_chords(plain.tokens[:2], np.stack([np.zeros((32, 12)), np.eye(12)[[0] * 32]]))
    assert n == 1 and (filled[1] == np.eye(12)[[0] * 32]).all() and filled[0].any()
    chorded = segment_tunes([tune_from_midi(make_midi(notes), "c", "c")])
    chorded.chroma[:] = 1
    assert list(evaluate_unseen(ec2, {"chorded": chorded})) == ["chorded"]


def test_eval_and_ship_treat_the_own_data_as_the_model_was_trained(tmp_path, capsys, one_torch_thread):
    """A model trained with `--estimate-chords` is evaluated with estimated chords on its own
    data by `explorer eval` (unless --chords says otherwise) and by `explorer ship`, whose card
    says how its data got chords; a model trained without is evaluated as-is."""
    import json

    import torch

    from explorer.cli import main
    from explorer.data.dataset import segment_tunes
    from explorer.data.midi_files import tune_from_midi
    from explorer.models.checkpoint import save_checkpoint
    from explorer.models.registry import build_model
    from explorer.models.trained import TrainedModel
    from tests.conftest import make_midi

    notes = [(60 + (i * 7) % 12, i * 0.5, i * 0.5 + 0.5) for i in range(160)]
    ds = segment_tunes([tune_from_midi(make_midi(notes), "plain", "a")])
    ds.tune_split[:] = "test"  # `explorer ship` evaluates the test split
    data = ds.save(tmp_path / "d.npz")
    torch.manual_seed(0)
    model = build_model("ec2vae", hidden_dims=16, z1_dims=4, z2_dims=4)
    said = f"estimated from the notes for the {len(ds)} segments without chords"
    est = save_checkpoint(tmp_path / "est.safetensors", model, card={"data": {"chords": said}})
    plain = save_checkpoint(tmp_path / "plain.safetensors", model, card={"data": {}})

    def eval_json(ckpt, *extra):
        capsys.readouterr()
        assert main(["eval", str(ckpt), "--data", str(data), "--split", "all", "--device", "cpu", "--json", *extra]) == 0
        return json.loads(capsys.readouterr().out)

    assert eval_json(est)["chords_estimated"] == len(ds)
    assert "chords_estimated" not in eval_json(plain)
    assert "chords_estimated" not in eval_json(est, "--chords", "as-is")
    assert eval_json(plain, "--chords", "estimated")["chords_estimated"] == len(ds)
    out = tmp_path / "shipped.safetensors"
    assert main(["ship", str(est), "--data", str(data), "--out", str(out), "--device", "cpu"]) == 0
    card = TrainedModel.load(out, device="cpu").card
    assert card["eval"]["chords_estimated"] == len(ds) and card["eval_command"].endswith(" --chords estimated")
    assert f"- chords: {said}" in out.with_suffix(".md").read_text()
