"""Metric code on synthetic cases with known answers."""
import json
import subprocess
import sys

import numpy as np
import pytest

from explorer.eval.metrics import active_units, interpretability, mig, sap, spearman
from explorer.eval.run import change_rhythm
from explorer.music.melody import HOLD, N_PITCHES, REST

RNG = np.random.default_rng(0)
N = 3000
ATTR = {"a": RNG.uniform(0, 1, N), "b": RNG.normal(0, 1, N)}


def _latent_equal_to_attributes(noise_dims=6):
    return np.column_stack([ATTR["a"], ATTR["b"], RNG.normal(size=(N, noise_dims))])


def test_interpretability_is_one_when_a_dim_is_the_attribute_and_zero_for_noise():
    z = _latent_equal_to_attributes()
    res = interpretability(z, ATTR)
    assert res["a"]["dim"] == 0 and res["b"]["dim"] == 1
    assert res["a"]["r2"] > 0.99 and res["b"]["r2"] > 0.99 and res["mean"] > 0.99
    noise = interpretability(RNG.normal(size=(N, 8)), ATTR)
    assert noise["mean"] < 0.02


def test_mig_and_sap_high_for_one_dim_low_when_spread():
    z = _latent_equal_to_attributes()
    assert mig(z, ATTR)["mean"] > 0.5 and sap(z, ATTR)["mean"] > 0.9
    shared = np.column_stack([ATTR["a"], ATTR["a"] + 1e-3 * RNG.normal(size=N), RNG.normal(size=(N, 4))])
    assert sap(shared, {"a": ATTR["a"]})["a"] < 0.01  # two dims carry it equally: no gap
    assert mig(RNG.normal(size=(N, 8)), ATTR)["mean"] < 0.05


def test_spearman_signs_and_monotone_transforms():
    z = np.column_stack([np.exp(ATTR["a"]), -ATTR["b"]])
    res = spearman(z, ATTR, {"a": 0, "b": 1})
    assert res["a"] == pytest.approx(1.0) and res["b"] == pytest.approx(-1.0)


def test_active_units():
    mu = np.column_stack([RNG.normal(size=N), np.full(N, 0.3), 0.01 * RNG.normal(size=N)])
    assert active_units(mu) == 1


def test_change_rhythm_keeps_the_pitches_in_order():
    a = np.array([60, HOLD, 62, HOLD, 64, REST, REST, REST], dtype=np.uint8)
    b = np.array([70, 71, HOLD, HOLD, REST, 72, HOLD, HOLD], dtype=np.uint8)
    keep, new = change_rhythm(np.stack([a, b]), np.random.default_rng(0))
    assert keep.tolist() == [0, 1]
    assert new[0].tolist() == [60, 62, HOLD, HOLD, REST, 64, HOLD, HOLD]  # a's pitches, b's rhythm
    assert [int(t) for t in new[1] if t < N_PITCHES] == [70, 71, 72]


def test_eval_command_on_a_small_checkpoint_and_refusal(tmp_path):
    import torch

    from explorer.data.default import shipped_default_path
    from explorer.models.checkpoint import save_checkpoint
    from explorer.models.ec2vae import EC2VAE, EC2VAEConfig

    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / "ec2vae-tiny.safetensors", EC2VAE(EC2VAEConfig(hidden_dims=16, z1_dims=4, z2_dims=4)))
    proc = subprocess.run([sys.executable, "-m", "explorer", "eval", str(ck), "--data", str(shipped_default_path()),
                           "--limit", "200", "--json", "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    for key in ("recon_accuracy_teacher_forced", "recon_accuracy_greedy", "recon_accuracy_onset_pitch",
                "recon_accuracy_rhythm", "active_units", "transposition_test", "rhythm_test"):
        assert key in res, key
    assert 0 <= res["recon_accuracy_greedy"] <= 1 and res["segments"] == 200
    assert set(res["transposition_test"]) >= {"dz_p", "dz_r", "ratio"}
    foreign = tmp_path / "other.safetensors"
    foreign.write_bytes(b"{}")
    proc = subprocess.run([sys.executable, "-m", "explorer", "eval", str(foreign), "--data",
                           str(shipped_default_path())], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "not a Latent Explorer checkpoint" in proc.stderr and "Traceback" not in proc.stderr
