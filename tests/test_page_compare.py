"""AppTest runs of the Compare page (issue 16): one melody through the sidebar's model and a second
one, on tiny untrained checkpoints (two 2-bar ones and a 16-bar one) and on two shipped models."""
from __future__ import annotations

import json

import numpy as np
import pytest

from explorer.models.trained import TrainedModel
from explorer.music.attributes import compute
from explorer.ui.page_table import pages_for
from explorer.ui.resources import default_dataset
from helpers_app import ROOT, chart_keys, run_app, run_model_page
from test_page_model_switch import models_dir  # noqa: F401  (arvae-tiny, ec2vae-tiny and musicvae16-tiny)

PAGE = str(ROOT / "pages" / "compare.py")

pytestmark = pytest.mark.usefixtures("one_torch_thread", "clear_streamlit_caches", "app_env")


def tables(at, column: str) -> list:
    """The page's dataframes (DataFrames) that have ``column``, in page order (a read-only
    dataframe carries no key in AppTest)."""
    return [d.value for d in at.dataframe if column in d.value.columns]


def glance(at) -> list[dict]:
    """The 'At a glance' table's rows (its column "model" is the only one of that name)."""
    (found,) = tables(at, "model")
    return found.to_dict("records")


def roll_melodies(at, key: str) -> int:
    """How many 2-bar melodies the piano roll ``key`` lays end to end (its x axis is in bars)."""
    spec = json.loads(next(c for c in at.get("plotly_chart") if c.proto.id.endswith(key)).proto.spec)
    return round(spec["layout"]["xaxis"]["range"][1] / 2)


def test_every_melody_family_offers_the_page_and_others_do_not():
    for family in ("musicvae", "musicvae16", "arvae", "ec2vae", "extres"):
        assert "compare" in [p.url for p in pages_for(family)], family
    for family in ("performance", "midivae"):
        assert "compare" not in [p.url for p in pages_for(family)], family


def test_without_a_model_the_page_says_to_choose_one():
    at = run_model_page(PAGE, None)
    assert at.title[0].value == "Compare models"
    assert any("Choose a model" in i.value for i in at.info)
    assert not at.dataframe and not at.get("plotly_chart")


def test_two_models_reconstruct_interpolate_and_shift_the_same_melody(models_dir):  # noqa: F811
    at = run_app(PAGE, timeout=180, model="arvae-tiny", model2="ec2vae-tiny", cmp_a="10")
    assert [h.value for h in at.main.header] == ["At a glance", "Reconstruction", "Interpolation A → B",
                                                 "Attribute vector", "The models' cards"]
    rows = glance(at)
    assert [r["model"] for r in rows] == ["arvae-tiny", "ec2vae-tiny"]
    a = default_dataset().melody(10)
    for row, name in zip(rows, ("arvae-tiny", "ec2vae-tiny")):
        tm = TrainedModel.load(models_dir / f"{name}.safetensors", device="cpu")
        rec = tm.reconstruct([a])[0]  # another path to the same reconstruction: encode, decode_tokens
        assert row["reconstruction: steps kept"] == f"{float(np.mean(rec.tokens == a.tokens)):.0%}", name
        assert row["A → B: distinct melodies"].endswith("of 5")
    # neither tiny checkpoint stores vectors: both are computed on the default data, and shifted
    shifts = tables(at, "melody")
    assert len(shifts) == 2
    for table in shifts:
        assert list(table["melody"]) == ["input", "reconstruction", "shifted"]
        assert table.iloc[0, 1] == pytest.approx(float(compute(a.tokens, ("note_density",))["note_density"]),
                                                 abs=5e-4)
    assert any(c.value.startswith("Vector computed on") for c in at.main.caption)
    keys = chart_keys(at)
    assert {"cmp_in_roll", "cmp_rec0_roll", "cmp_rec1_roll", "cmp_path_roll0", "cmp_path_roll1",
            "cmp_shift0_roll", "cmp_shift1_roll"} <= set(keys)
    assert roll_melodies(at, "cmp_path_roll0") == roll_melodies(at, "cmp_path_roll1") == 5
    qp = at.query_params
    assert (qp["model2"], qp["steps"], qp["interp"], qp["attr"], qp["amount"], qp["cmp_a"]) == (
        "ec2vae-tiny", "5", "slerp", "note_density", "1", "10")


def test_the_url_restores_a_view_and_bad_values_are_named():
    at = run_app(PAGE, timeout=180, model="ec2vae-tiny", model2="arvae-tiny", steps="3", interp="lerp",
                 attr="contour", amount="7", cmp_b="20")
    assert at.selectbox(key="cmp_model2").value == "arvae-tiny"
    assert at.slider(key="cmp_steps").value == 3 and at.radio(key="cmp_method").value == "lerp"
    assert at.selectbox(key="cmp_attr").value == "contour"
    assert at.slider(key="cmp_amount").value == 1.0  # the default: 7 is out of range, and said so
    assert "amount='7'" in at.warning[0].value and "-2 to 2" in at.warning[0].value
    assert roll_melodies(at, "cmp_path_roll0") == 3
    assert int(at.session_state["cmp_b_index"]) == 20
    at.slider(key="cmp_amount").set_value(-2.0).run()  # the shift is redone, the paths are kept
    assert not at.exception and at.query_params["amount"] == "-2"
    assert roll_melodies(at, "cmp_path_roll0") == 3
    assert any(c.value.startswith("z = A's posterior mean -2 × the contour") for c in at.main.caption)
    at.slider(key="cmp_steps").set_value(4).run()  # the shift kept from before, the paths made anew
    assert not at.exception
    assert roll_melodies(at, "cmp_path_roll0") == roll_melodies(at, "cmp_path_roll1") == 4
    assert at.query_params["steps"] == "4"


def test_a_2_bar_and_a_16_bar_model_get_a_clear_message():
    at = run_app(PAGE, timeout=180, model="arvae-tiny", model2="musicvae16-tiny")
    assert at.selectbox(key="cmp_model2").value == "musicvae16-tiny"
    error = at.error[0].value
    assert "arvae-tiny reads 2-bar melodies (32 steps)" in error
    assert "musicvae16-tiny reads 16-bar melodies (256 steps)" in error and "cannot go through both" in error
    assert "ec2vae-tiny" in error.split("Models of 2 bars: ")[1]  # the pairs that fit are named
    assert not at.dataframe and not at.get("plotly_chart")
    at.selectbox(key="cmp_model2").set_value("ec2vae-tiny").run()  # a pair that fits: the page runs
    assert not at.exception and not at.error
    assert [r["model"] for r in glance(at)] == ["arvae-tiny", "ec2vae-tiny"]


def test_a_16_bar_model_is_paired_with_a_16_bar_model():
    at = run_app(PAGE, timeout=300, model="musicvae16-tiny")
    assert at.selectbox(key="cmp_model2").value == "musicvae16-nottingham-oneills"  # the shipped 16-bar one
    assert not at.error
    assert [r["model"] for r in glance(at)] == ["musicvae16-tiny", "MusicVAE 16-bar · Nottingham + O'Neill's"]


@pytest.fixture
def shipped(monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_MODELS", str(ROOT / "assets" / "checkpoints"))


@pytest.mark.usefixtures("shipped")
def test_two_shipped_models_show_their_cards_and_the_corpora_neither_saw():
    """The shipped MusicVAE and AR-VAE: both stored note-density vectors raise the note density of
    the melody (their cards: +1 × the vector raised it for 99% and more of the test melodies), and
    the cards' figures on Essen (a corpus neither was trained on) stand side by side."""
    at = run_app(PAGE, timeout=300, model="musicvae-nottingham-pop909-bach", model2="arvae-oneills-airds-nottingham")
    a, b = "MusicVAE · Nottingham + POP909 + Bach", "AR-VAE · O'Neill's + Aird's + Nottingham"  # from the cards
    assert f"{b} · 2 bars" in at.selectbox(key="cmp_model2").options
    rows = glance(at)
    assert [r["model"] for r in rows] == [a, b]
    assert all(r["+1 × note density: change"] > 0 for r in rows), rows
    (shared,) = [t for t in tables(at, "corpus") if f"greedy · {a}" in t.columns]
    assert list(shared["corpus"]) == ["essen (never seen)"]
    cards = [TrainedModel.load(ROOT / "assets" / "checkpoints" / f"{n}.safetensors", device="cpu").card
             for n in ("musicvae-nottingham-pop909-bach", "arvae-oneills-airds-nottingham")]
    assert shared[f"greedy · {a}"][0] == cards[0]["unseen"]["essen"]["recon_accuracy_greedy"]
    assert shared[f"greedy · {b}"][0] == cards[1]["unseen"]["essen"]["recon_accuracy_greedy"]
    assert sum(c.value.startswith("Vector stored with the checkpoint") for c in at.main.caption) == 2
