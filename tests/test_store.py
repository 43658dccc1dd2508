"""The sharded segment store: round trips, latents, and damaged or foreign stores."""
from __future__ import annotations

import json

import numpy as np
import pytest

from explorer.data import store as st
from explorer.music import attributes
from explorer.music.melody import HOLD, REST


def _segments(n, t=32, seed=0):
    rng = np.random.default_rng(seed)
    tokens = rng.choice(np.r_[60:72, HOLD, REST], size=(n, t)).astype(np.uint8)
    tokens[:, 0] = 60 + rng.integers(0, 12, n)
    chroma = (rng.random((n, t, 12)) < 0.25).astype(np.uint8)
    return tokens, chroma


def _provenance(n, tune_of, offset=0):
    tune_ids = np.array([f"t{k + offset}.mid" for k in tune_of])
    return {"source": np.full(n, "midi"), "tune_id": tune_ids, "title": np.char.add("Title ", tune_ids),
            "qpm": np.full(n, 120.0), "split": np.array(["train", "valid", "test"])[np.asarray(tune_of) % 3],
            "bar": np.arange(n) * 2, "transpose": np.zeros(n, np.int8), "tune_key": np.array([f"k{k}" for k in tune_of])}


@pytest.fixture
def two_shards(tmp_path):
    path = st.create_store(tmp_path / "s", bars=2, hop=2, source="midi", root="corpus", parser="pretty_midi")
    tok_a, ch_a = _segments(5, seed=1)
    tok_b, ch_b = _segments(3, seed=2)
    prov_a = _provenance(5, [0, 0, 1, 1, 1])
    prov_b = _provenance(3, [0, 0, 1], offset=7)
    st.write_segment_shard(path, "part-00001", tok_b, ch_b, prov_b, inputs=["c.mid"], tunes=2, skipped={})
    st.write_segment_shard(path, "part-00000", tok_a, ch_a, prov_a, inputs=["a.mid", "b.mid"], tunes=2,
                           skipped={"no notes": 1})
    man = st.read_manifest(path)
    man.update(complete=True, planned=2)
    st.write_manifest(path, man)
    tokens = np.concatenate([tok_a, tok_b])
    chroma = np.concatenate([ch_a, ch_b])
    prov = {k: np.concatenate([prov_a[k], prov_b[k]]) for k in prov_a}
    return path, tokens, chroma, prov


def test_round_trip_in_shard_order(two_shards):
    path, tokens, chroma, prov = two_shards
    assert st.is_store(path)
    s = st.open_store(path)
    assert len(s) == 8 and s.bars == 2
    assert s.shard_names() == ["part-00000", "part-00001"]  # by name, not by the order written
    tok, ch = s.segments(np.arange(8))
    np.testing.assert_array_equal(tok, tokens)
    np.testing.assert_array_equal(ch, chroma)
    cols = s.columns()
    for k in ("source", "tune_id", "title", "split", "bar", "transpose"):
        np.testing.assert_array_equal(cols[k], prov[k])
    assert s.attribute_names() == list(attributes.ATTRIBUTES)
    want = attributes.compute(tokens)
    for k in attributes.ATTRIBUTES:
        np.testing.assert_allclose(cols[k], want[k].astype(np.float32))


def test_rows_across_shards_in_the_order_asked(two_shards):
    path, tokens, chroma, prov = two_shards
    s = st.open_store(path)
    rows = np.array([7, 0, 5, 2, 5])
    tok, ch = s.segments(rows)
    np.testing.assert_array_equal(tok, tokens[rows])
    np.testing.assert_array_equal(ch, chroma[rows])
    got = s.columns(["tune_id", "bar"], rows)
    np.testing.assert_array_equal(got["tune_id"], prov["tune_id"][rows])
    np.testing.assert_array_equal(got["bar"], prov["bar"][rows])
    assert s.columns(["title"], [])["title"].shape == (0,)
    with pytest.raises(IndexError, match="0..7"):
        s.segments([8])
    with pytest.raises(KeyError, match="no column"):
        s.columns(["nope"])


def test_to_dataset(two_shards):
    path, tokens, chroma, prov = two_shards
    ds = st.open_store(path).to_dataset()
    np.testing.assert_array_equal(ds.tokens, tokens)
    np.testing.assert_array_equal(ds.chroma, chroma)
    np.testing.assert_array_equal(ds.tune_id[ds.tune], prov["tune_id"])
    np.testing.assert_array_equal(ds.split, prov["split"])
    np.testing.assert_array_equal(ds.tune_title[ds.tune], prov["title"])
    assert list(ds.tune_id) == ["t0.mid", "t1.mid", "t7.mid", "t8.mid"]  # first appearance
    sub = st.open_store(path).to_dataset([6, 1])
    np.testing.assert_array_equal(sub.tokens, tokens[[6, 1]])
    assert list(sub.tune_id[sub.tune]) == ["t7.mid", "t0.mid"]


def test_latents(two_shards):
    path, *_ = two_shards
    rng = np.random.default_rng(3)
    mu_a, mu_b = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32)
    info = {"checkpoint": "m", "fingerprint": "f1"}
    st.write_latent_shard(path, "m", "part-00000", mu_a, info)
    s = st.open_store(path)
    assert s.latent_keys() == []  # one shard of two
    with pytest.raises(st.StoreError, match="unfinished"):
        s.latents("m")
    st.write_latent_shard(path, "m", "part-00001", mu_b, info)
    s = st.open_store(path)
    assert s.latent_keys() == ["m"]
    np.testing.assert_array_equal(s.latents("m"), np.concatenate([mu_a, mu_b]))
    np.testing.assert_array_equal(s.latents("m", [6, 0]), np.concatenate([mu_a, mu_b])[[6, 0]])
    with pytest.raises(st.StoreError, match="fingerprint"):
        st.write_latent_shard(path, "m", "part-00000", mu_a, {"checkpoint": "m", "fingerprint": "other"})
    with pytest.raises(ValueError, match="3 segments"):
        st.write_latent_shard(path, "m", "part-00001", mu_a, info)
    with pytest.raises(st.StoreError, match="no latents 'x'"):
        s.latents("x")


def test_not_a_store(tmp_path):
    assert not st.is_store(tmp_path)
    with pytest.raises(st.StoreError, match="no manifest.json"):
        st.open_store(tmp_path)
    with pytest.raises(st.StoreError, match="no such folder"):
        st.open_store(tmp_path / "missing")
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "something-else", "version": 1}))
    with pytest.raises(st.StoreError, match="format 'something-else'"):
        st.open_store(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(st.StoreError, match="does not read as JSON"):
        st.open_store(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": st.FORMAT, "version": 99, "shards": []}))
    with pytest.raises(st.StoreError, match="version 99"):
        st.open_store(tmp_path)


def test_damaged_store(two_shards):
    path, *_ = two_shards
    st.segment_path(path, "part-00001").write_bytes(b"not parquet at all")
    with pytest.raises(st.StoreError, match="part-00001.parquet does not read"):
        st.open_store(path).columns(["bar"])
    st.segment_path(path, "part-00001").unlink()
    with pytest.raises(st.StoreError, match="part-00001 is in the manifest but .*missing"):
        st.open_store(path)


def test_unfinished_and_settings(tmp_path):
    path = st.create_store(tmp_path / "s", bars=2, hop=2, source="midi", planned=3)
    with pytest.raises(st.StoreError, match=r"unfinished store \(0 of 3"):
        st.open_store(path)
    assert len(st.open_store(path, partial=True)) == 0
    assert st.create_store(path, bars=2, hop=2, source="midi", planned=3) == path  # resume: kept
    with pytest.raises(st.StoreError, match="bars=2 there, 4 asked"):
        st.create_store(path, bars=4, hop=2, source="midi", planned=3)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    with pytest.raises(st.StoreError, match="not an empty folder"):
        st.create_store(tmp_path / "other", bars=2)


# ---- building a store from MIDI files, as the .npz build does -------------------------------
def load_script(name):
    """A module of scripts/ (not a package) by file name."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CAP_ENV = "LATENT_EXPLORER_MAX_SEGMENTS_PER_TUNE"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """240 synthetic MIDI files (one in 10 a transposed copy, one in 200 not MIDI), the per-tune
    cap at 5 segments so that longer tunes are thinned, and their .npz build."""
    import os

    from explorer.data.build import build_dataset

    folder = tmp_path_factory.mktemp("midi")
    load_script("make_synthetic_midi").make_corpus(folder, 240, seed=1, per_folder=100)
    old = os.environ.get(CAP_ENV)
    os.environ[CAP_ENV] = "5"
    ds, report = build_dataset("midi", folder, progress=False, log=lambda line: None)
    yield folder, ds, report
    if old is None:
        os.environ.pop(CAP_ENV, None)
    else:
        os.environ[CAP_ENV] = old


def assert_same_segments(a, b):
    """Two SegmentDatasets with the same segments, provenance and splits, row by row."""
    assert len(a) == len(b) > 0
    for k in ("tokens", "chroma", "bar", "transpose"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
    for k in ("tune_source", "tune_id", "tune_title", "tune_qpm", "tune_split"):
        np.testing.assert_array_equal(getattr(a, k)[a.tune], getattr(b, k)[b.tune], err_msg=k)


@pytest.mark.parametrize("workers", [1, 2])
def test_store_build_equals_the_npz_build(corpus, tmp_path, workers, monkeypatch):
    from explorer.data.store_build import build_store

    folder, ds, report = corpus
    out = tmp_path / "store"
    monkeypatch.setenv("LATENT_EXPLORER_MAX_FOLDER_FILES", "50")  # the app's listing bound: a store lists all
    summary = build_store("midi", folder, out, shard_files=16, workers=workers, progress=False, log=lambda line: None)
    assert report.capped and report.skipped["unreadable MIDI"] == 1  # the corpus exercises both
    assert summary["skipped"]["unreadable MIDI"] == 1 and summary["shards"] == 15
    # the duplicate step moved tunes, and only the whole-store step sees pairs in two shards
    assert summary["duplicates"]["moved_to_an_earlier_split"] > 0
    assert summary["duplicates"] == ds.meta["duplicates"]
    s = st.open_store(out)
    assert_same_segments(s.to_dataset(), ds)
    assert s.manifest["shards"][0]["inputs"][0] == "set-000/tune-000000.mid"
    np.testing.assert_allclose(s.columns(["pitch_range"])["pitch_range"], ds.attributes()["pitch_range"])


def test_without_the_whole_store_step_splits_differ(corpus, tmp_path, monkeypatch):
    """The cross-shard duplicate step is needed: shards built alone keep a copy in another split."""
    from explorer.data import store_build

    folder, ds, _ = corpus
    out = tmp_path / "store"
    with monkeypatch.context() as m:
        m.setattr(store_build, "finish_splits", lambda out: st.write_manifest(out, dict(st.read_manifest(out),
                                                                                        complete=True)))
        store_build.build_store("midi", folder, out, shard_files=16, progress=False, log=lambda line: None)
    got = st.open_store(out).to_dataset()
    assert (got.split != ds.split).any()
    store_build.finish_splits(out)  # the step alone, on the finished shards
    assert_same_segments(st.open_store(out).to_dataset(), ds)


def test_killed_build_resumes(corpus, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from explorer.data.store_build import build_store

    folder, ds, _ = corpus
    out = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "explorer", "data", "build", "midi", "--path", str(folder),
                             "--out", str(out), "--shard-files", "8", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "manifest.json").exists() and st.read_manifest(out)["shards"]:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    man = st.read_manifest(out)
    assert 1 <= len(man["shards"]) < man["planned"] == 30 and not man["complete"]
    with pytest.raises(st.StoreError, match="unfinished store"):
        st.open_store(out)
    summary = build_store("midi", folder, out, shard_files=8, progress=False, log=lambda line: None)
    assert 0 < summary["shards_built_now"] < 30
    assert_same_segments(st.open_store(out).to_dataset(), ds)
    again = build_store("midi", folder, out, shard_files=8, progress=False, log=lambda line: None)
    assert again["shards_built_now"] == 0 and again["segments"] == summary["segments"]


def test_a_store_of_other_settings_or_files_is_refused(corpus, tmp_path):
    from explorer.data.store_build import build_store

    folder, _, _ = corpus
    out = tmp_path / "store"
    build_store("midi", folder, out, shard_files=64, limit=64, progress=False, log=lambda line: None)
    with pytest.raises(st.StoreError, match="shard_files=64 there, 32 asked"):
        build_store("midi", folder, out, shard_files=32, limit=64, progress=False)
    with pytest.raises(st.StoreError, match="bars=2 there, 4 asked"):
        build_store("midi", folder, out, bars=4, shard_files=64, limit=64, progress=False)
    (folder / "set-000" / "tune-000000a.mid").write_bytes((folder / "set-000" / "tune-000001.mid").read_bytes())
    try:
        with pytest.raises(st.StoreError, match="part-00000 are not those .* folder changed"):
            build_store("midi", folder, out, shard_files=64, limit=64, progress=False)
    finally:
        (folder / "set-000" / "tune-000000a.mid").unlink()


def test_encode_store_equals_encode_means(corpus, tmp_path, models_dir, one_torch_thread):
    from explorer.data.store_build import build_store
    from explorer.latent.projection import encode_means
    from explorer.latent.store_encode import encode_store
    from explorer.models.trained import TrainedModel

    folder, _, _ = corpus
    out = tmp_path / "store"
    build_store("midi", folder, out, shard_files=16, limit=48, progress=False, log=lambda line: None)
    ckpt = models_dir / "arvae-tiny.safetensors"
    first = encode_store(ckpt, out, progress=False)
    assert first["key"] == "arvae-tiny" and first["shards_encoded_now"] == 3
    s = st.open_store(out)
    tm = TrainedModel.load(ckpt, device="cpu")
    ds = s.to_dataset()
    np.testing.assert_allclose(s.latents("arvae-tiny"), encode_means(tm, ds.tokens, ds.chroma), atol=1e-6)
    assert encode_store(ckpt, out, progress=False)["shards_encoded_now"] == 0  # resumed: nothing left
    two = encode_store(ckpt, out, workers=2, key="two", progress=False)
    np.testing.assert_allclose(st.open_store(out).latents("two"), s.latents("arvae-tiny"), atol=1e-5)
    assert two["fingerprint"] == first["fingerprint"] and two["fingerprint"].startswith("sha256:")


def test_cli_store_errors(tmp_path, corpus):
    import subprocess
    import sys

    folder, _, _ = corpus

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "explorer", *map(str, args)], capture_output=True, text=True,
                              timeout=300)

    r = cli("data", "build", "midi", "--path", folder, "--out", tmp_path / "x.npz", "--engine", "ray")
    assert r.returncode == 2 and "--engine ray writes a store" in r.stderr
    r = cli("encode", "arvae-tiny-nowhere", "--data", tmp_path)
    assert r.returncode == 2 and "is not a store (no manifest.json)" in r.stderr
    r = cli("data", "build", "midi", "--path", folder, "--out", tmp_path / "s", "--shard-files", "0")
    assert r.returncode == 2 and "--shard-files must be ≥ 1, got 0" in r.stderr
    assert "Traceback" not in r.stderr


def test_ray_missing_is_one_line(monkeypatch):
    import sys

    from explorer.data import engine

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(engine.EngineError, match=r"pip install 'latent-explorer\[scale\]'"):
        engine.run_shards(lambda: None, [1], engine="ray")
    with pytest.raises(engine.EngineError, match="no Ray head answers at 127.0.0.1:1 .*ray start --head"):
        engine.probe_address("127.0.0.1:1")
    with pytest.raises(ValueError, match="unknown engine 'spark'"):
        engine.run_shards(lambda: None, [1], engine="spark")


def test_cli_info_of_a_store(two_shards, capsys):
    from explorer.cli import main

    path, *_ = two_shards
    assert main(["data", "info", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["segments"] == 8 and info["shards"] == 2 and info["store"]["root"] == "corpus"
