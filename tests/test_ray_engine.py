"""The Ray engine: a local 2-worker Ray builds and encodes the store the local engine writes.

Skipped when Ray is not installed (the [scale] extra; `scripts/setup.sh --test` installs it)."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.data import store as st
from tests.conftest import scale_extra

ray = scale_extra("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from test_store import load_script

    folder = tmp_path_factory.mktemp("midi")
    load_script("make_synthetic_midi").make_corpus(folder, 160, seed=2, per_folder=50)
    return folder


def test_ray_build_and_encode_equal_the_local_engine(local_ray, corpus, tmp_path, models_dir, one_torch_thread):
    from test_store import assert_same_segments

    from explorer.data.build import build_dataset
    from explorer.data.store_build import build_store
    from explorer.latent.store_encode import encode_store

    kw = dict(shard_files=16, progress=False, log=lambda line: None)
    ray_sum = build_store("midi", corpus, tmp_path / "ray", engine="ray", workers=2, **kw)
    local_sum = build_store("midi", corpus, tmp_path / "local", **kw)
    assert ray_sum["segments"] == local_sum["segments"] and ray_sum["shards"] == 10
    on_ray, local = st.open_store(tmp_path / "ray"), st.open_store(tmp_path / "local")
    assert on_ray.manifest["shards"] == local.manifest["shards"]  # same inputs, counts and skips per shard
    assert_same_segments(on_ray.to_dataset(), local.to_dataset())
    ds, _ = build_dataset("midi", corpus, progress=False, log=lambda line: None)
    assert_same_segments(on_ray.to_dataset(), ds)
    for name in local.attribute_names():
        np.testing.assert_array_equal(on_ray.columns([name])[name], local.columns([name])[name])

    ckpt = models_dir / "ec2vae-tiny.safetensors"
    enc = encode_store(ckpt, tmp_path / "ray", engine="ray", workers=2, progress=False)
    encode_store(ckpt, tmp_path / "local", progress=False)
    assert enc["shards_encoded_now"] == 10
    np.testing.assert_allclose(st.open_store(tmp_path / "ray").latents("ec2vae-tiny"),
                               st.open_store(tmp_path / "local").latents("ec2vae-tiny"), atol=1e-5)
