"""Every loader of a model or a training state refuses a hostile pickle, and no code from it runs.

The payload is a live one: unpickling it calls ``pathlib.Path.touch(marker)`` (the first test shows
that plain ``pickle.load`` and ``torch.load(weights_only=False)`` do create the marker). It is written
by ``torch.save`` (zip) and by ``pickle.dump`` (a bare pickle) under the names a checkpoint has in the
wild (.pt, .pth, .ckpt, .bin) and under .safetensors. Each loader must refuse it with an error that
names the file, and the marker must not exist afterwards.
"""
from __future__ import annotations

import pathlib
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from explorer.cli import main as cli_main
from explorer.data.dataset import SegmentDataset
from explorer.data.default import shipped_default_path
from explorer.models.checkpoint import (CheckpointError, checkpoint_kind, load_checkpoint, load_performance_checkpoint,
                                        read_metadata)
from explorer.models.performance_style import PerformanceStyle
from explorer.models.trained import TrainedModel
from explorer.train.trainer import TrainSettings, train

SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")
WRITERS = ("torch.save", "pickle.dump")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TouchOnUnpickle:
    """Unpickling this calls ``pathlib.Path.touch(marker)``: code from the file runs."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def write_payloads(folder: pathlib.Path, marker: pathlib.Path) -> list[pathlib.Path]:
    """The payload as a checkpoint-like dict, once per writer and suffix (10 files)."""
    folder.mkdir(parents=True, exist_ok=True)
    obj = {"model": TouchOnUnpickle(marker), "state_dict": {"w": torch.zeros(2)}, "step": 3}
    paths = []
    for writer in WRITERS:
        for suffix in SUFFIXES:
            path = folder / f"{writer.split('.')[0]}-payload{suffix}"
            if writer == "torch.save":
                torch.save(obj, path)
            else:
                with open(path, "wb") as f:
                    pickle.dump(obj, f)
            paths.append(path)
    return paths


@pytest.fixture
def hostile(tmp_path):
    """(the payload files, the marker they would create)."""
    marker = tmp_path / "payload-ran"
    paths = write_payloads(tmp_path / "payloads", marker)
    assert not marker.exists()
    return SimpleNamespace(paths=paths, marker=marker)


def test_the_payload_runs_when_unpickled(tmp_path):
    """The control: the files are live payloads, not harmless pickles."""
    marker = tmp_path / "ran"
    for path in write_payloads(tmp_path / "p", marker):
        with open(path, "rb") as f:  # a file object: torch.load would hand a *.safetensors path to safetensors
            torch.load(f, weights_only=False) if path.name.startswith("torch") else pickle.load(f)
        assert marker.exists(), path.name
        marker.unlink()


def test_the_checkpoint_loader_refuses_the_payload(hostile):
    for path in hostile.paths:
        assert checkpoint_kind(path) is None
        with pytest.raises(CheckpointError, match=f"{path.name} is not a Latent Explorer checkpoint"):
            read_metadata(path)
        with pytest.raises(CheckpointError, match=f"{path.name} is not a Latent Explorer checkpoint"):
            load_checkpoint(path)
        with pytest.raises(CheckpointError, match=f"{path.name} is not a Latent Explorer checkpoint"):
            TrainedModel.load(path, device="cpu")
        assert not hostile.marker.exists(), path.name


def test_the_performance_loader_refuses_the_payload(hostile):
    for path in hostile.paths:
        with pytest.raises(CheckpointError, match=f"{path.name} is not a safetensors file"):
            load_performance_checkpoint(path)
        with pytest.raises(CheckpointError, match=f"{path.name} is not a safetensors file"):
            PerformanceStyle.load(path, device="cpu")
        assert not hostile.marker.exists(), path.name


def test_the_command_line_refuses_the_payload(hostile, tmp_path, capsys):
    """`explorer eval` and `explorer ship` exit with 2 and a message (the eval of a performance
    checkpoint is chosen by checkpoint_kind, which must not read it either)."""
    data = str(_small_data(tmp_path))
    for path in hostile.paths:
        assert cli_main(["eval", str(path), "--data", data, "--device", "cpu"]) == 2
        assert f"error: {path.name} is not a Latent Explorer checkpoint" in capsys.readouterr().err
        assert cli_main(["ship", str(path), "--data", data, "--out", str(tmp_path / "out.safetensors"),
                         "--device", "cpu"]) == 2
        assert f"error: {path.name} is not a Latent Explorer checkpoint" in capsys.readouterr().err
        assert not hostile.marker.exists(), path.name
    assert not (tmp_path / "out.safetensors").exists()


# ---- the trainers ---------------------------------------------------------------------------------
def _small_data(folder: pathlib.Path) -> pathlib.Path:
    ds = SegmentDataset.load(shipped_default_path())
    rows = np.concatenate([np.flatnonzero(ds.split == "train")[:16], np.flatnonzero(ds.split == "valid")[:8]])
    return ds.subset(rows).save(folder / "small.npz")


def _settings(data, out, **kw) -> TrainSettings:
    return TrainSettings("musicvae", [str(data)], str(out), hidden=8, epochs=1, batch=8, device="cpu",
                         progress=False, config={"z_dims": 4, "embed_dims": 4}, **kw)


def test_the_trainer_refuses_a_payload_as_its_state_and_as_init(hostile, tmp_path):
    data = _small_data(tmp_path)
    for i, path in enumerate(p for p in hostile.paths if p.suffix == ".pt"):  # one per writer
        out = tmp_path / f"run{i}"
        out.mkdir()
        (out / "state.pt").write_bytes(path.read_bytes())
        with pytest.raises(ValueError, match="state.pt is not a training state this version can read"):
            train(_settings(data, out))
        assert not hostile.marker.exists(), path.name
        assert not (out / "best.safetensors").exists()  # it stopped before training
    for path in hostile.paths:
        out = tmp_path / f"init-{path.name}"
        with pytest.raises(CheckpointError, match=f"{path.name} is not a Latent Explorer checkpoint"):
            train(_settings(data, out, init=str(path)))
        assert not hostile.marker.exists(), path.name
        assert not (out / "state.pt").exists()


def test_the_train_command_says_why_and_exits_2(hostile, tmp_path, capsys):
    data = str(_small_data(tmp_path))
    out = tmp_path / "run"
    out.mkdir()
    (out / "state.pt").write_bytes(hostile.paths[0].read_bytes())
    argv = ["train", "musicvae", "--data", data, "--out", str(out), "--hidden", "8", "--batch", "8", "--epochs", "1",
            "--device", "cpu", "--quiet", "--set", "z_dims=4", "--set", "embed_dims=4"]
    assert cli_main(argv) == 2
    assert "state.pt is not a training state this version can read" in capsys.readouterr().err
    assert cli_main(argv[:5] + [str(tmp_path / "fresh"), *argv[6:], "--init", str(hostile.paths[-1])]) == 2
    assert f"error: {hostile.paths[-1].name} is not a Latent Explorer checkpoint" in capsys.readouterr().err
    assert not hostile.marker.exists()


def test_the_performance_trainer_refuses_a_payload_as_its_state(hostile, shared_data, tmp_path, capsys):
    from explorer.train.performance import main as train_performance

    for i, path in enumerate(p for p in hostile.paths if p.suffix == ".pt"):
        out = tmp_path / f"perf{i}"
        out.mkdir()
        (out / "state.pt").write_bytes(path.read_bytes())
        argv = ["--data", str(shared_data), "--out", str(out), "--sources", "vienna4x22", "--limit", "3", "--hidden",
                "8", "--z-dims", "2", "--window", "64", "--batch", "4", "--max-steps", "1", "--quiet"]
        assert train_performance(argv) == 2
        assert "state.pt is not a training state this version can read" in capsys.readouterr().err
        assert not hostile.marker.exists(), path.name
        assert not (out / "best.safetensors").exists()


def test_the_performance_trainer_names_the_file_of_a_state_that_is_not_whole_or_does_not_fit(shared_data, tmp_path,
                                                                                             capsys):
    """Readable but wrong states (a list, keys missing, weights of another size): one line naming
    state.pt and what is wrong, exit code 2, nothing trained."""
    import torch

    from explorer.train.performance import main as train_performance

    states = {"list": [1, 2], "no model": {"optim": {}, "step": 1},
              "other size": {"model": {"w": torch.zeros(3)}, "optim": {}, "step": 1, "epoch": 0, "best": 1.0,
                             "seconds": 0.0}}
    for i, (what, st) in enumerate(states.items()):
        out = tmp_path / f"perf{i}"
        out.mkdir()
        torch.save(st, out / "state.pt")
        argv = ["--data", str(shared_data), "--out", str(out), "--sources", "vienna4x22", "--limit", "3", "--hidden",
                "8", "--z-dims", "2", "--window", "64", "--batch", "4", "--max-steps", "1", "--quiet"]
        assert train_performance(argv) == 2, what
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and str(out / "state.pt") in err[0], (what, err)
        assert ("is not a performance training state" if what != "other size" else "does not fit this run") in err[0]
        assert not (out / "best.safetensors").exists()


# ---- the app --------------------------------------------------------------------------------------
@pytest.mark.usefixtures("clear_streamlit_caches", "app_env")
def test_the_sidebar_upload_refuses_the_payload_without_a_traceback(hostile):
    from helpers_app import APP, run_app
    from explorer.ui.model_picker import UPLOAD

    at = run_app(APP, session_state={"model_name": UPLOAD})
    for path in [p for p in hostile.paths if p.suffix == ".safetensors"]:  # the names the uploader accepts
        at.sidebar.file_uploader(key="model_upload").set_value(
            (path.name, path.read_bytes(), "application/octet-stream")).run()
        assert not at.exception, [e.value for e in at.exception]
        errors = [e.value for e in at.sidebar.error]
        assert len(errors) == 1, errors
        assert "is not a Latent Explorer checkpoint" in errors[0] and "Accepted: a .safetensors checkpoint" in errors[0]
        assert not hostile.marker.exists(), path.name


@pytest.mark.usefixtures("clear_streamlit_caches", "tmp_cache")
def test_the_performance_page_refuses_a_payload_in_its_model_folder(hostile, tmp_path, monkeypatch):
    from helpers_app import ROOT, run_app

    folder = tmp_path / "perf-models"
    folder.mkdir()
    for path in hostile.paths:
        (folder / f"{path.stem}-{path.suffix[1:]}.safetensors").write_bytes(path.read_bytes())
    monkeypatch.setenv("LATENT_EXPLORER_PERFORMANCE_MODELS", str(folder))
    for name in sorted(p.stem for p in folder.iterdir()):
        at = run_app(ROOT / "pages" / "performance_style.py", session_state={"perf_model": name})
        assert not at.exception
        assert any("This checkpoint cannot be used" in e.value and "is not a safetensors file" in e.value
                   for e in at.error), [e.value for e in at.error]
        assert not hostile.marker.exists(), name
