"""`explorer train` end to end on a small real slice: it writes, validates and resumes."""
import json
import subprocess
import sys

import numpy as np
import pytest

from explorer.data.dataset import SegmentDataset
from explorer.data.default import shipped_default_path
from explorer.models.trained import TrainedModel
from tests.conftest import make_midi


def test_train_writes_a_checkpoint_and_resumes(tmp_path):
    ds = SegmentDataset.load(shipped_default_path())
    rows = np.concatenate([np.flatnonzero(ds.split == "train")[:384], np.flatnonzero(ds.split == "valid")[:64]])
    small = ds.subset(rows).save(tmp_path / "small.npz")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "explorer", "train", "arvae", "--data", str(small), "--out", str(out), "--hidden", "16",
           "--batch", "64", "--device", "cpu", "--threads", "1", "--quiet"]
    first = subprocess.run(cmd + ["--epochs", "1"], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout.strip().splitlines()[-1])["epochs"] == 1
    assert (out / "state.pt").exists() and (out / "best.safetensors").exists()
    second = subprocess.run(cmd + ["--epochs", "2"], capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert "resuming arvae from epoch 1" in second.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["steps"] == 12 and len(summary["history"]) == 2
    tm = TrainedModel.load(out / "best.safetensors", device="cpu")
    assert tm.card["data"]["files"] == ["small.npz"] and tm.card["steps"] in (6, 12)
    # a run folder of another model is refused, not overwritten
    other = subprocess.run([sys.executable, "-m", "explorer", "train", "ec2vae", "--data", str(small), "--out", str(out),
                            "--epochs", "1", "--quiet"], capture_output=True, text=True, timeout=300)
    assert other.returncode == 2 and "is a arvae run" in other.stderr


def test_a_midi_file_is_read_into_segments_the_trained_model_encodes(tmp_path):
    from explorer.data.upload import dataset_from_midi_bytes
    from explorer.models.checkpoint import save_checkpoint
    from explorer.models.ec2vae import EC2VAE, EC2VAEConfig

    tm = TrainedModel.load(save_checkpoint(tmp_path / "m.safetensors", EC2VAE(EC2VAEConfig(hidden_dims=16, z1_dims=4,
                                                                                        z2_dims=4))), device="cpu")
    pm = make_midi([(60 + i % 7, i, i + 1) for i in range(24)], chords=[(48, 0, 24)])
    path = tmp_path / "x.mid"
    pm.write(str(path))
    ds, _ = dataset_from_midi_bytes(path.read_bytes(), path.name, bars=tm.n_steps // 16)
    mels = [ds.melody(i) for i in range(len(ds))]
    z, mu, sigma = tm.encode(mels)
    assert len(mels) == 3 and z.shape == (3, 8) and mels[0].chroma[0, 0] == 1


def test_train_can_start_from_a_checkpoint(tmp_path):
    ds = SegmentDataset.load(shipped_default_path())
    rows = np.concatenate([np.flatnonzero(ds.split == "train")[:128], np.flatnonzero(ds.split == "valid")[:32]])
    small = ds.subset(rows).save(tmp_path / "small.npz")
    base = [sys.executable, "-m", "explorer", "train", "arvae", "--data", str(small), "--hidden", "16", "--batch", "64",
            "--device", "cpu", "--threads", "1", "--quiet", "--epochs", "1"]
    assert subprocess.run(base + ["--out", str(tmp_path / "a")], capture_output=True, timeout=300).returncode == 0
    proc = subprocess.run(base + ["--out", str(tmp_path / "b"), "--epochs", "2", "--init",
                                  str(tmp_path / "a" / "best.safetensors")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "starting from the weights" in proc.stdout and "at step 2" in proc.stdout
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["steps"] == 4
    wrong = subprocess.run(base + ["--out", str(tmp_path / "c"), "--hidden", "32", "--init",
                                   str(tmp_path / "a" / "best.safetensors")], capture_output=True, text=True, timeout=300)
    assert wrong.returncode == 2 and "must fit" in wrong.stderr
    # a training option may change (here β and word dropout); the weights carry over
    opts = subprocess.run(base + ["--out", str(tmp_path / "d"), "--beta", "0.5", "--set", "word_dropout=0.1", "--init",
                                  str(tmp_path / "a" / "best.safetensors")], capture_output=True, text=True, timeout=300)
    assert opts.returncode == 0, opts.stderr
    assert "config changed from the init checkpoint: " in opts.stdout and "word_dropout 0.0 → 0.1" in opts.stdout


def test_estimate_chords_gives_chordless_training_rows_the_apps_chords(tmp_path, monkeypatch):
    """`--estimate-chords`: the rows without a chord track are trained with the chords the app would
    estimate for them (one triad per half bar), rows with chords keep theirs, and the card says so."""
    from explorer.models.ec2vae import EC2VAE
    from explorer.music.chords import estimate_chords
    from explorer.train.trainer import TrainSettings, train

    ds = SegmentDataset.load(shipped_default_path())
    rows = np.concatenate([np.flatnonzero(ds.split == "train")[:48], np.flatnonzero(ds.split == "valid")[:16]])
    small = ds.subset(rows)
    assert not small.chroma.any(), "the default data (fiddle tunes) carries no chords"
    small.chroma[0] = np.eye(12, dtype=np.uint8)[[7] * small.n_steps]  # one row with its own chord track (G)
    path = small.save(tmp_path / "small.npz")
    seen = []
    real_loss = EC2VAE.loss

    def spy(self, tokens, chroma=None, **kw):
        seen.append(chroma.detach().clone())
        return real_loss(self, tokens, chroma, **kw)

    monkeypatch.setattr(EC2VAE, "loss", spy)
    base = dict(hidden=16, batch=48, device="cpu", threads=1, progress=False, max_steps=1, augment=0,
                config={"z1_dims": 4, "z2_dims": 4, "chord_dropout": 0.0})
    train(TrainSettings("ec2vae", [str(path)], str(tmp_path / "plain"), **base))
    assert int(seen[0].flatten(1).any(1).sum()) == 1  # without the flag only the row with chords has any
    seen.clear()
    summary = train(TrainSettings("ec2vae", [str(path)], str(tmp_path / "est"), estimate_chords=True, **base))
    batch = seen[0]
    train_tok = small.take_split("train").tokens
    # the one batch holds every training row, shuffled: each row's expected chords must be among them
    got = [b.numpy() for b in batch]
    assert len(got) == len(train_tok) == 48
    expected = [estimate_chords(train_tok[i])[0] for i in range(1, len(train_tok))]
    assert all(any(np.array_equal(g, e) for g in got) for e in expected)
    assert any(np.array_equal(g, small.chroma[0]) for g in got)  # a row's own chords are kept
    card = TrainedModel.load(tmp_path / "est" / "best.safetensors", device="cpu").card
    assert card["data"]["chords"].startswith("estimated from the notes for the ")
    assert "chords" not in TrainedModel.load(tmp_path / "plain" / "best.safetensors", device="cpu").card["data"]
    assert summary["steps"] == 1
    with pytest.raises(ValueError, match="48 training rows, fewer than --batch 64"):
        train(TrainSettings("ec2vae", [str(path)], str(tmp_path / "big"), **(base | {"batch": 64})))
