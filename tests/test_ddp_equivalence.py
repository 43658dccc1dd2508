"""Training under torchrun (DDP, gloo) is the same training as one process with the same global batch:
each rank takes its own share of every global batch, and the weights end where one process ends them.

tests/test_musicvae.py checks that the two replicas agree with each other; they would also agree if
both ranks trained on the same rows. This module compares a 2-rank run with a 1-rank run, and reads
which rows each rank took from the trainer's debug hook (``LATENT_EXPLORER_TRAIN_ROWS_LOG``).

Making the two runs comparable (everything else that draws random numbers per process is switched off):
- ``--augment 0``: each rank would draw transpositions for its own rows from the shared generator;
- ``--tf-k 1e12``: teacher forcing k/(k + exp(step/k)) rounds to 1 in float32, so scheduled sampling
  keeps every target token whatever the coin flips are;
- the start checkpoint (``--init``) has its posterior scale at the model's floor (softplus(-30) + 1e-4):
  z = mu + 1e-4 · eps, so the per-process noise draws move z by ~1e-4 only. This is what bounds the
  agreement: with scale ~1 the noise alone moves weights as far as training does (measured 0.031
  against 0.024 moved), with the floor the two runs differ by ~2e-4;
- ``--beta 0``: the KL term would push that scale back up.
The musicvae loss is a mean of per-row terms, so DDP's average of the two ranks' gradients is the
gradient of the global batch, and the gradient clipping after it sees the same norm.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.data.dataset import SegmentDataset
from explorer.data.default import shipped_default_path
from explorer.models.checkpoint import save_checkpoint
from explorer.models.registry import build_model
from explorer.train.trainer import ROWS_LOG_ENV

N_TRAIN, BATCH = 64, 8  # one epoch: 64 / 8 = 8 steps, every training row used once
TF_K = 1e12
TINY = {"hidden_dims": 16, "embed_dims": 8, "z_dims": 4, "n_step": 32}
# Every weight moves ~0.024 in the 8 steps (Adam, lr 3e-3: about lr per step); the 1e-4 posterior
# noise leaves ~2e-4 between the runs. 1e-3 is 5x that and 1/24 of the distance trained.
ATOL = 1e-3
MIN_MOVED = 0.01


def _data(folder: Path) -> Path:
    """64 train and 16 valid rows of the embedded default data (real melodies)."""
    ds = SegmentDataset.load(shipped_default_path())
    rows = np.concatenate([np.flatnonzero(ds.split == "train")[:N_TRAIN], np.flatnonzero(ds.split == "valid")[:16]])
    return ds.subset(rows).save(folder / "small.npz")


def _start(folder: Path):
    """The start checkpoint: seeded tiny musicvae with its posterior scale at the floor (see the module doc)."""
    torch.manual_seed(0)
    model = build_model("musicvae", k=TF_K, beta=0.0, **TINY)
    with torch.no_grad():
        model.to_logscale.weight.zero_()
        model.to_logscale.bias.fill_(-30.0)
    return save_checkpoint(folder / "start.safetensors", model), {k: v.clone() for k, v in model.state_dict().items()}


def _train(nproc: int, data: Path, init: Path, out: Path) -> subprocess.CompletedProcess:
    out.mkdir(parents=True)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"] if nproc == 2 \
        else [sys.executable]
    cmd = launch + ["-m", "explorer", "train", "musicvae", "--data", str(data), "--out", str(out), "--init", str(init),
                    "--hidden", "16", "--batch", str(BATCH), "--lr", "3e-3", "--epochs", "1", "--augment", "0",
                    "--tf-k", str(TF_K), "--beta", "0", "--set", "z_dims=4", "--set", "embed_dims=8",
                    "--device", "cpu", "--threads", "1", "--seed", "0", "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1", **{ROWS_LOG_ENV: str(out)})
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)


def _rows(out: Path, rank: int) -> list[list[int]]:
    """The training-row indices rank ``rank`` took, one list per step."""
    return [[int(v) for v in line.split()] for line in (out / f"rows-rank{rank}.txt").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    data = _data(folder)
    init, start = _start(folder)
    one, two = _train(1, data, init, folder / "one"), _train(2, data, init, folder / "two")
    assert one.returncode == 0, one.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    return folder / "one", folder / "two", start


def test_each_rank_takes_its_own_half_of_every_global_batch(runs):
    one, two, _ = runs
    single, r0, r1 = _rows(one, 0), _rows(two, 0), _rows(two, 1)
    assert len(single) == len(r0) == len(r1) == N_TRAIN // BATCH
    for step, (a, b, whole) in enumerate(zip(r0, r1, single)):
        assert len(a) == len(b) == BATCH // 2
        assert not set(a) & set(b), f"step {step}: both ranks took rows {sorted(set(a) & set(b))}"
        # the same shuffled order: rank 0 takes the first half of the one-process batch, rank 1 the second
        assert a + b == whole, step
    # over the epoch the two ranks together take every training row once
    assert sorted(v for step in r0 + r1 for v in step) == list(range(N_TRAIN))


def test_two_ranks_end_with_the_weights_of_one_process(runs):
    one, two, start = runs
    w1 = torch.load(one / "state.pt", weights_only=True)["model"]
    w2 = torch.load(two / "state.pt", weights_only=True)["model"]
    assert torch.load(two / "state.pt", weights_only=True)["step"] == N_TRAIN // BATCH
    assert list(w1) == list(w2) == list(start)
    moved = max(float((w1[k] - start[k]).abs().max()) for k in start)
    assert moved > MIN_MOVED  # it trained: a test of equal weights needs weights that moved
    for k in start:
        torch.testing.assert_close(w2[k], w1[k], rtol=0.0, atol=ATOL, msg=lambda m, k=k: f"{k}: {m}")
