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
