"""The performance-style CVAE: shapes, a few training steps on real data make the loss fall,
the training command writes and resumes, checkpoints round-trip and refuse other files, the
eval metrics on cases with known answers, and the shipped model's styles differ audibly."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.data.performances import SCORE_FEATURES, list_performances, load_examples
from explorer.eval.performance import (MeanPerformance, knn_leave_one_group_out, pearson, per_beat,
                                       performance_metrics)
from explorer.models.checkpoint import CheckpointError, load_performance_checkpoint, save_performance_checkpoint
from explorer.models.performance_style import windows_of
from explorer.models.virtuoso import VirtuosoConfig, VirtuosoVAE
from explorer.train.performance import main as train_main
from explorer.train.performance import window_batch

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "performance"


def tiny(z_dims=4) -> VirtuosoVAE:
    torch.manual_seed(0)
    return VirtuosoVAE(VirtuosoConfig(n_features=len(SCORE_FEATURES), hidden=16, z_dims=z_dims,
                                      target_mean=(-1.0, 0.5, 0.0, -0.3), target_std=(0.5, 0.1, 0.03, 0.8)))


@pytest.fixture(scope="module")
def examples(shared_data):
    recs = [r for r in list_performances(shared_data, sources=("vienna4x22",)) if r.pianist in ("p01", "p02")]
    return load_examples([r for r in recs if r.split == "train"])


def test_windows_cover_every_note():
    assert windows_of(10, 4, 2) == [0, 2, 4, 6]
    assert windows_of(11, 4, 4) == [0, 4, 7]
    assert windows_of(3, 4, 2) == [0]


def test_shapes_and_hierarchy():
    m = tiny()
    T = 12
    feats = torch.randn(2, T, len(SCORE_FEATURES))
    beat = torch.tensor([[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5], [0, 1, 2, 3, 4, 5, 6, 7, 7, 7, 7, 7]])
    measure = beat // 2
    targets = torch.randn(2, T, 4) * 0.1 + torch.tensor([-1.0, 0.5, 0.0, -0.3])
    mu, logvar = m.encode(feats, beat, measure, targets)
    assert mu.shape == logvar.shape == (2, 4)
    out = m.decode(feats, beat, measure, mu)
    assert out.shape == (2, T, 4)
    # one tempo per beat: notes of a beat share the decoded beat period
    assert torch.allclose(out[0, 0, 0], out[0, 1, 0]) and not torch.allclose(out[0, 1, 0], out[0, 2, 0])
    # z changes the performance
    assert not torch.allclose(out, m.decode(feats, beat, measure, mu + 3.0))


def test_a_few_steps_on_real_data_make_the_loss_fall(examples):
    m = tiny()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    items = [(i, s) for i, e in enumerate(examples) for s in windows_of(len(e.score), 96, 96)][:8]
    batch = window_batch(examples, items, 96, "cpu")
    losses = []
    for _ in range(40):
        res = m(*batch, beta=0.0)
        opt.zero_grad()
        res["loss"].backward()
        opt.step()
        losses.append(res["recon"].item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses


def test_train_command_writes_and_resumes(shared_data, tmp_path):
    args = ["--data", str(shared_data), "--out", str(tmp_path / "run"), "--sources", "vienna4x22", "--limit", "3",
            "--hidden", "16", "--z-dims", "4", "--window", "64", "--batch", "4", "--max-steps", "3", "--quiet"]
    assert train_main(args) == 0
    assert (tmp_path / "run" / "best.safetensors").is_file() and (tmp_path / "run" / "state.pt").is_file()
    st = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert st["step"] == 3
    assert train_main(args[:-3] + ["--max-steps", "5", "--quiet"]) == 0
    assert torch.load(tmp_path / "run" / "state.pt", weights_only=True)["step"] == 5
    model, card, styles = load_performance_checkpoint(tmp_path / "run" / "best.safetensors")
    assert model.config.z_dims == 4 and card["data"]["test_pieces"] == ["Schubert_D783_no15"]
    assert train_main(["--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2


def test_checkpoint_round_trip_and_refusals(tmp_path):
    m = tiny()
    z = np.arange(8, dtype=np.float32).reshape(2, 4)
    labels = [{"name": "a", "emotion": "Sad"}, {"name": "b", "emotion": ""}]
    path = save_performance_checkpoint(tmp_path / "m.safetensors", m, card={"hello": 1},
                                       styles={"z": z, "labels": labels})
    m2, card, styles = load_performance_checkpoint(path)
    assert card == {"hello": 1} and styles["labels"] == labels
    np.testing.assert_array_equal(styles["z"].numpy(), z)
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k])
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_performance_checkpoint(tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_performance_checkpoint(tmp_path / "absent.safetensors")
    # the melody loader refuses it with a pointer to the page
    from explorer.models.checkpoint import read_metadata

    with pytest.raises(CheckpointError, match="Performance style page"):
        read_metadata(path)


def test_metrics_on_known_cases():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([1, 2, 3], [5, 5, 5]) == 0.0
    np.testing.assert_allclose(per_beat(np.array([1.0, 3.0, 5.0]), np.array([0, 0, 1])), [2.0, 5.0])
    rng = np.random.default_rng(0)
    human = np.column_stack([rng.normal(-1, 0.2, 40), rng.uniform(0.3, 0.8, 40), np.zeros(40), np.zeros(40)])
    beat = np.repeat(np.arange(10), 4)
    same = performance_metrics(human, human, beat)
    assert same["velocity_r"] == pytest.approx(1.0) and same["velocity_mse"] == pytest.approx(0.0)
    assert same["tempo_r"] == pytest.approx(1.0) and same["tempo_mse"] == pytest.approx(0.0)
    dead = performance_metrics(np.tile([-1.0, 0.5, 0, 0], (40, 1)), human, beat)
    assert dead["velocity_r"] == 0.0 and dead["tempo_r"] == 0.0
    assert dead["velocity_mse"] == pytest.approx(np.mean((human[:, 1] * 127 - 0.5 * 127) ** 2))
    # two well separated clusters per label, three groups: every held-out point is right
    z = np.concatenate([rng.normal(c, 0.1, (3, 2)) for c in (0, 5)])
    lab = ["a"] * 3 + ["b"] * 3
    res = knn_leave_one_group_out(z, lab, [0, 1, 2, 0, 1, 2], k=1)
    assert res["accuracy"] == 1.0 and res["chance"] == 0.5 and res["performances"] == 6
    # a label that is the held-out group itself can never be predicted from the other groups
    assert knn_leave_one_group_out(z, ["g0", "g1", "g2"] * 2, [0, 1, 2, 0, 1, 2], k=1)["accuracy"] == 0.0


def test_mean_performance_baseline_is_the_context_mean(examples):
    base = MeanPerformance(examples[:2])
    e = examples[0]
    pred = base.predict(e.score.features)
    assert pred.shape == e.targets.shape
    allt = np.concatenate([x.targets for x in examples[:2]])
    assert np.all(pred[:, 1] > allt[:, 1].min()) and np.all(pred[:, 1] < allt[:, 1].max())
    assert pearson(pred[:, 1], e.targets[:, 1]) > 0.1  # score context explains some of the dynamics


@pytest.mark.skipif(not any(SHIPPED.glob("*.safetensors")), reason="no shipped performance checkpoint yet")
def test_shipped_model_plays_a_default_score_in_audibly_different_styles():
    from explorer.data.default import default_score_notes
    from explorer.models.performance_style import PerformanceStyle

    ps = PerformanceStyle.load(sorted(SHIPPED.glob("*.safetensors"))[0], device="cpu")
    assert ps.card["eval"]["beats_both_baselines"] == {"velocity_r": True, "tempo_r": True}
    score = default_score_notes("Mozart K.545 i (exposition)")
    presets = ps.emotion_presets()
    assert set(presets) == {"Anger", "Enjoy", "OR", "Relax", "Sad"}
    renders = {k: ps.render(score, presets[k]) for k in ("Anger", "Relax", "Sad")}
    secs = {k: r.seconds for k, r in renders.items()}
    vel = {k: float(r.notes["velocity"].mean()) for k, r in renders.items()}
    # each pair differs by ≥ 5 % in length or ≥ 4 in mean velocity: audible
    keys = list(renders)
    for i in range(3):
        for j in range(i + 1, 3):
            a, b = keys[i], keys[j]
            assert abs(secs[a] - secs[b]) / max(secs[a], secs[b]) >= 0.05 or abs(vel[a] - vel[b]) >= 4, (secs, vel)
