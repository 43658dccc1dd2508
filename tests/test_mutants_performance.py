"""`explorer eval` on a performance-style checkpoint, end to end through its ``main(argv)``: a tiny
model built in code, a five-file slice of Vienna 4x22 (two performances of the test piece, two
of a training piece, one of a piece the checkpoint's card holds out for validation), and every
figure, option and output of the command checked — the figures against a second computation
from the same files (``evaluate`` called on the train set worked out here) and, where they can
be, against values worked out by hand (counts, chance, the deadpan baseline's errors).

Written for the mutation test (docs/testing.md): each argument, default and branch of the
command changes something these tests look at."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SLICE = ("Schubert_D783_no15_p01", "Schubert_D783_no15_p02", "Chopin_op10_no3_p01", "Chopin_op10_no3_p02",
         "Mozart_K331_1st-mov_p01")
VALID = "Mozart_K331_1st-mov"  # the card's validation piece: never in the baselines' training notes
TARGET_MEAN = (-1.0, 0.5, 0.0, -0.3)


@pytest.fixture(scope="module")
def perf_eval(shared_data, tmp_path_factory):
    """The slice's data folder (links to the real files), the tiny checkpoint, and the loaded examples.

    The performances' disk cache is kept beside pytest's temporary folders, across sessions: it is
    keyed by each file's path, size and mtime, and the mutation test runs this module once a mutant."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENT_EXPLORER_CACHE", str(tmp_path_factory.getbasetemp().parent / "latent-explorer-cache"))
        yield _slice_and_model(shared_data, tmp_path_factory.mktemp("perfdata"))


def _slice_and_model(shared_data, root):
    from explorer.data.performances import SCORE_FEATURES, list_performances, load_examples
    from explorer.models.checkpoint import save_performance_checkpoint
    from explorer.models.virtuoso import VirtuosoConfig, VirtuosoVAE

    (root / "vienna4x22" / "match").mkdir(parents=True)
    for name in SLICE:
        (root / "vienna4x22" / "match" / f"{name}.match").symlink_to(
            shared_data / "vienna4x22" / "match" / f"{name}.match")
    torch.manual_seed(0)
    model = VirtuosoVAE(VirtuosoConfig(n_features=len(SCORE_FEATURES), hidden=16, z_dims=4,
                                       target_mean=TARGET_MEAN, target_std=(0.5, 0.1, 0.03, 0.8)))
    ckpt = save_performance_checkpoint(root / "tiny.safetensors", model,
                                       card={"steps": 0, "data": {"valid_pieces": [VALID]}})
    examples = load_examples(list_performances(root))  # fills the performance cache the command reads
    return root, ckpt, examples


@pytest.fixture(scope="module")
def expected(perf_eval):
    """The model loaded here, and evaluate's figures and style table with the baselines trained on
    the one piece that is neither the test piece nor the card's validation piece."""
    from explorer.eval.performance import evaluate
    from explorer.models.performance_style import PerformanceStyle

    _, ckpt, examples = perf_eval
    ps = PerformanceStyle.load(ckpt, device="cpu")
    train = [e for e in examples if e.record.piece == "Chopin_op10_no3"]
    return ps, *evaluate(ps, examples, train)


def _run(argv, capsys):
    from explorer.eval.performance import main

    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_performance_eval_json_figures_against_a_second_computation(perf_eval, expected, capsys, monkeypatch,
                                                                    tmp_path):
    from explorer.models.checkpoint import load_performance_checkpoint

    root, ckpt, examples = perf_eval
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "no data here"))  # only --data may be read
    torch.set_num_threads(2)  # --threads sets it back to 1
    code, out, err = _run([ckpt, "--data", root, "--ship", tmp_path / "shipped.safetensors", "--threads", "1",
                           "--json", "--quiet"], capsys)
    assert torch.get_num_threads() == 1
    assert code == 0, err
    assert "performances" not in err  # --quiet: no progress bar
    res = json.loads(out)
    assert out == json.dumps(res, indent=1) + "\n"
    ps, want, table = expected
    assert res.pop("shipped_to") == str(tmp_path / "shipped.safetensors")
    assert res == json.loads(json.dumps(want))
    # by hand: the test piece's two performances; two pianists (chance 1/2) over three pieces
    schubert = [e for e in examples if e.record.split == "test"]
    assert res["test"] == {"pieces": ["Schubert_D783_no15"], "performances": 2,
                           "notes": len(schubert[0].score) + len(schubert[1].score)}
    assert {k: (v["chance"], v["k"], v["performances"], sorted(v["per_held_out_piece"]))
            for k, v in res.items() if k.startswith("knn")} == {
        k: (0.5, 3, 5, ["Chopin_op10_no3", "Mozart_K331_1st-mov", "Schubert_D783_no15"])
        for k in ("knn_pianist", "knn_pianist_piece_centred")}
    vel_mse = np.mean([np.mean((127 * TARGET_MEAN[1] - 127 * e.targets[:, 1]) ** 2) for e in schubert])
    assert res["baseline_deadpan"]["velocity_mse"] == pytest.approx(vel_mse, rel=1e-5)
    assert res["baseline_deadpan"]["velocity_r"] == res["baseline_deadpan"]["tempo_r"] == 0.0
    # the slice tells the train sets apart: with the validation piece (or the test piece) in the
    # baselines' notes, the mean-performance baseline would read otherwise
    from explorer.eval.performance import MeanPerformance, mean_metrics, performance_metrics

    for other in ([e for e in examples if e.record.split == "train"], examples):
        base = MeanPerformance(other)
        rows = [performance_metrics(base.predict(e.score.features), e.targets, e.score.beat) for e in schubert]
        assert mean_metrics(rows) != want["baseline_mean_performance"]
    # the shipped copy: the figures, no notes, every performance's style
    _, card, styles = load_performance_checkpoint(tmp_path / "shipped.safetensors")
    assert card["eval"] == res and card["notes"] == [] and card["data"] == {"valid_pieces": [VALID]}
    assert [lab["name"] for lab in styles["labels"]] == [e.record.name for e in examples]
    np.testing.assert_array_equal(styles["z"].numpy(), table["z"])


def test_performance_eval_text_output_default_data_and_notes(perf_eval, expected, capsys, monkeypatch, tmp_path):
    from explorer.eval.performance import card_markdown
    from explorer.models.checkpoint import load_performance_checkpoint

    root, ckpt, examples = perf_eval
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(root))  # no --data: the default folder
    out_path = tmp_path / "style.safetensors"
    code, out, err = _run([ckpt, "--ship", out_path, "--note", "first", "--note", "second"], capsys)
    assert code == 0, err
    assert "performances: 100%" in err  # the progress bar without --quiet
    want = dict(expected[1], shipped_to=str(out_path))
    assert out == "\n".join(f"{k}: {v}" for k, v in want.items()) + "\n"
    _, card, _ = load_performance_checkpoint(out_path)
    assert card["notes"] == ["first", "second"]
    assert card["eval_command"] == f"explorer eval {out_path.as_posix()} --data ../shared/data --json"
    assert out_path.with_suffix(".md").read_text() == card_markdown("style", card)


def test_performance_eval_refuses_a_device_it_does_not_know(perf_eval, capsys):
    root, ckpt, _ = perf_eval
    code, out, err = _run([ckpt, "--data", root, "--device", "tpu"], capsys)
    assert (code, out) == (2, "")
    assert err == "error: device must be auto, cpu or cuda[:N], got 'tpu'\n"


def test_performance_eval_help_names_every_option(capsys, monkeypatch):
    from explorer.eval.performance import main

    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    text = re.sub(r"\s+", " ", capsys.readouterr().out)
    assert text.startswith("usage: explorer eval [-h] [--data DATA] [--device DEVICE] [--threads THREADS] "
                           "[--ship SHIP] [--note NOTE] [--json] [--quiet] checkpoint "
                           "evaluate a performance-style checkpoint ")
    for line in ("--data DATA the shared data folder (default: $LATENT_EXPLORER_DATA or ../shared/data)",
                 "--ship SHIP also write the checkpoint with its style table and card here",
                 "--note NOTE a line for the shipped card's notes (repeatable)"):
        assert line in text


def test_performance_eval_of_a_card_without_validation_pieces_trains_the_baselines_on_every_train_piece(
        perf_eval, capsys, tmp_path):
    from explorer.eval.performance import MeanPerformance, mean_metrics, performance_metrics
    from explorer.models.checkpoint import load_performance_checkpoint, save_performance_checkpoint

    root, ckpt, examples = perf_eval
    bare = save_performance_checkpoint(tmp_path / "bare.safetensors", load_performance_checkpoint(ckpt)[0])  # card {}
    code, out, err = _run([bare, "--data", root, "--json", "--quiet"], capsys)
    assert code == 0, err
    base = MeanPerformance([e for e in examples if e.record.split == "train"])  # Mozart's notes too
    rows = [performance_metrics(base.predict(e.score.features), e.targets, e.score.beat)
            for e in examples if e.record.split == "test"]
    assert json.loads(out)["baseline_mean_performance"] == mean_metrics(rows)
