"""A melody chosen on one model's data keeps its identity (collection, tune, bar) when the user
switches to a model of another segment length and back (issue 16, item 2): the 2-bar and the
16-bar default data number their segments differently, so a row number alone is another melody."""
from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.data.default import load_default
from explorer.models.checkpoint import save_checkpoint
from explorer.models.musicvae import HierarchicalMusicVAE, HierarchicalMusicVAEConfig
from helpers_app import ROOT, save_tiny_models

PAGE = str(ROOT / "pages" / "interpolation.py")

pytestmark = pytest.mark.usefixtures("one_torch_thread", "clear_streamlit_caches", "app_env")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = save_tiny_models(tmp_path_factory.mktemp("models"))
    torch.manual_seed(0)
    cfg = HierarchicalMusicVAEConfig(hidden_dims=16, embed_dims=8, z_dims=8, conductor_dims=16)
    save_checkpoint(folder / "musicvae16-tiny.safetensors", HierarchicalMusicVAE(cfg))
    return folder


def _where(ds, row: int) -> tuple:
    t = ds.tune[row]
    return str(ds.tune_source[t]), str(ds.tune_id[t]), int(ds.bar[row])


def _switch(at: AppTest, name: str) -> AppTest:
    at.sidebar.selectbox(key="model_name").set_value(name).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_melodies_keep_their_tune_and_bar_across_a_16_bar_model_and_back():
    ds2, ds16 = load_default(bars=2), load_default(bars=16)
    # a row of a tune that the 16-bar data also holds, at a bar it covers
    tunes16 = {(str(ds16.tune_source[t]), str(ds16.tune_id[t])) for t in ds16.tune}
    row = next(i for i in range(len(ds2) // 6, len(ds2)) if _where(ds2, i)[:2] in tunes16 and ds2.bar[i] >= 4)
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.query_params["model"] = "arvae-tiny"
    at.query_params["a"] = str(row)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    before = {k: int(at.session_state[f"{k}_index"]) for k in "ab"}
    assert before["a"] == row
    where = {k: _where(ds2, r) for k, r in before.items()}

    _switch(at, "musicvae16-tiny")
    for k in "ab":
        r16 = int(at.session_state[f"{k}_index"])
        src, tid, bar = _where(ds16, r16)
        if (where[k][0], where[k][1]) in tunes16:
            assert (src, tid) == where[k][:2], k  # the same tune …
            assert bar <= where[k][2] < bar + ds16.bars, k  # … the window that holds its bar
        assert at.query_params[k] == str(r16)

    _switch(at, "arvae-tiny")
    after = {k: int(at.session_state[f"{k}_index"]) for k in "ab"}
    assert after == before  # the same tune and bar, not the first window of the tune
    assert before["a"] != before["b"]


def test_a_tune_the_other_data_lacks_is_said_not_replaced_silently():
    ds2, ds16 = load_default(bars=2), load_default(bars=16)
    tunes16 = {(str(ds16.tune_source[t]), str(ds16.tune_id[t])) for t in ds16.tune}
    row = next(i for i in range(len(ds2)) if _where(ds2, i)[:2] not in tunes16)
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.query_params["model"] = "arvae-tiny"
    at.query_params["a"] = str(row)
    at.run()
    _switch(at, "musicvae16-tiny")
    said = " ".join(str(el.value) for el in at.get("alert") if hasattr(el, "value")) + \
        " ".join(el.body for el in at.info) + " ".join(el.body for el in at.warning)
    assert ds2.tune_title[ds2.tune[row]] in said or ds2.tune_id[ds2.tune[row]] in said, said
