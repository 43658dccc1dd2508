"""AppTest of the Performance style page with a tiny untrained checkpoint: every style mode
renders the default score with audio, the map offers the known styles, a bad upload and a
score that is too long give messages with a way on, and the page works without the data."""
from __future__ import annotations

import numpy as np
import pytest

from helpers_app import ROOT, run_app
from clip_players import audio_players

PAGE = ROOT / "pages" / "performance_style.py"
pytestmark = pytest.mark.usefixtures("one_torch_thread", "clear_streamlit_caches")


@pytest.fixture(scope="module")
def perf_models(tmp_path_factory):
    """A folder with "perf-tiny": untrained, hidden 16, z 4, a style table of 10 labelled performances."""
    import torch

    from explorer.data.performances import EMOTIONS, SCORE_FEATURES
    from explorer.models.checkpoint import save_performance_checkpoint
    from explorer.models.virtuoso import VirtuosoConfig, VirtuosoVAE

    torch.manual_seed(0)
    m = VirtuosoVAE(VirtuosoConfig(n_features=len(SCORE_FEATURES), hidden=16, z_dims=4,
                                   target_mean=(-1.0, 0.5, 0.0, -0.3), target_std=(0.3, 0.1, 0.02, 0.5)))
    labels = [{"name": f"Piece{i % 2} · sub{i} · {EMOTIONS[i % 5]}", "piece": f"Piece{i % 2}", "pianist": f"sub{i}",
               "emotion": EMOTIONS[i % 5], "source": "emotion", "split": "train", "path": f"x{i}.txt"}
              for i in range(10)]
    z = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    folder = tmp_path_factory.mktemp("perf_models")
    save_performance_checkpoint(folder / "perf-tiny.safetensors", m, card={}, styles={"z": z, "labels": labels})
    return folder


@pytest.fixture
def page_env(perf_models, tmp_cache, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_PERFORMANCE_MODELS", str(perf_models))
    return perf_models


def _run(**state):
    return run_app(PAGE, timeout=120, session_state={"perf_model": "perf-tiny", **state})


def test_every_style_mode_renders_the_default_score_with_audio(page_env):
    at = _run()
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Performance style"
    assert "Mozart K.545 i (exposition) — sample seed 0" in at.subheader[0].value
    assert len(audio_players(at)) == 1 and len(at.get("plotly_chart")) == 3
    seen = {at.subheader[0].value}
    for mode in ("emotion", "reference", "interpolate"):
        at.radio(key="perf_mode").set_value(mode).run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert len(audio_players(at)) == 1
        seen.add(at.subheader[0].value)
    assert len(seen) == 4
    at.selectbox(key="perf_default").set_value("Bach BWV 846 (WTC I prelude in C)").run()
    assert not at.exception and at.subheader[0].value.startswith("Bach BWV 846")


@pytest.mark.parametrize("customdata", [{"0": 3}, [3]], ids=["as the browser sends it", "as a list"])
def test_a_clicked_performance_on_the_map_lends_its_style(page_env, customdata):
    # Streamlit delivers a one-column customdata as {"0": 3}: the page accepted only a list (issue 16, item 1)
    at = _run(**{"perf_map": {"selection": {"points": [{"customdata": customdata}]}}})
    assert "Use this style" in [b.label for b in at.button]
    at.button(key="perf_use").click().run()
    assert not at.exception
    assert at.radio(key="perf_mode").value == "reference"
    assert at.subheader[0].value.endswith("Piece1 · sub3 · Relax")


def test_bad_upload_and_too_long_score_give_a_way_on(page_env, monkeypatch):
    import explorer.data.default as default
    import explorer.models.performance_style as ps
    from explorer.data.performances import PerformanceDataError

    at = _run(perf_score_kind="upload")
    assert any("Upload a score" in i.value for i in at.info)
    # AppTest cannot feed a file uploader; the page's upload path is this function (the browser test uploads)
    with pytest.raises(PerformanceDataError, match="does not parse"):
        default.score_from_bytes(b"<score-partwise><part", "broken.musicxml")
    at = _run(perf_default="Joplin: Maple Leaf Rag")
    assert not at.error and not at.warning  # 1489 notes fit
    monkeypatch.setattr(ps, "MAX_INTERACTIVE_NOTES", 400)
    at = _run(perf_default="Joplin: Maple Leaf Rag")
    assert any("render the first" in w.value for w in at.warning), [w.value for w in at.warning]
    assert "measures 1–" in at.subheader[0].value and len(audio_players(at)) == 1


def test_page_works_without_the_data_folder(page_env, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "no-data"))
    at = _run()
    assert not at.error
    assert "A score from the data folder" not in at.radio(key="perf_score_kind").options
    assert len(audio_players(at)) == 1


def test_no_checkpoint_is_a_message(tmp_cache, monkeypatch, tmp_path):
    import explorer.models.checkpoint as ckpt

    monkeypatch.setattr(ckpt, "assets_dir", lambda: tmp_path)
    monkeypatch.setenv("LATENT_EXPLORER_PERFORMANCE_MODELS", str(tmp_path / "none"))
    at = run_app(PAGE)
    assert any("No performance-style checkpoint" in e.value for e in at.error)


@pytest.mark.skipif(not any((ROOT / "assets" / "performance").glob("*.safetensors")),
                    reason="no shipped performance checkpoint")
def test_shipped_model_plays_an_emotion_preset(tmp_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "no-data"))  # a fresh install: no data folder
    at = run_app(PAGE, timeout=120, session_state={"perf_mode": "emotion", "perf_emotion": "Sad"})
    assert not at.error, [e.value for e in at.error]
    assert at.subheader[0].value == "Mozart K.545 i (exposition) — emotion Sad"
    assert len(audio_players(at)) == 1
    assert "**The performance-style CVAE (VirtuosoNet-like) · Vienna 4x22 + Batik plays Mozart + the emotion set** " \
           "(virtuoso-vienna-batik-emotion)" in [c.value for c in at.sidebar.caption]
    # the emotion set's labels, explained where they are not plain words
    assert at.selectbox(key="perf_emotion").options == [
        "Anger", "Enjoy (joyful)", "OR (ordinary: played as usual, no emotion asked for)", "Relax", "Sad"]
    note = next(c.value for c in at.caption if c.value.startswith("A preset is the mean style"))
    assert "30 performances" in note and "OR, their ordinary reading" in note
    # the pianist legend: people, and no piece ids mixed in (the emotion set's players are numbered per piece)
    at.radio(key="perf_colour").set_value("pianist").run()
    legend = [t["name"] for t in _chart(at, "perf_map")["data"] if t["name"] != "current style"]
    pieces = {lab["piece"] for lab in _shipped_labels()}
    assert not [name for name in legend if any(p in name for p in pieces)], legend
    assert "Batik" in legend and "p01" in legend and "emotion set (players not named)" in legend
    assert len(legend) == 22 + 2  # Vienna's 22 pianists, Batik, the emotion set's players


def _chart(at, key: str) -> dict:
    import json

    return json.loads(next(el.proto.spec for el in at.get("plotly_chart") if el.proto.id.endswith(key)))


def _shipped_labels() -> list[dict]:
    from explorer.models.checkpoint import available_checkpoints
    from explorer.models.performance_style import PerformanceStyle

    return PerformanceStyle.load(str(available_checkpoints("performance")["virtuoso-vienna-batik-emotion"])).style_labels


def test_first_customdata_reads_every_form_a_click_arrives_in():
    from explorer.ui.plot_events import clicked_rows, first_customdata

    assert [first_customdata(p) for p in ({"customdata": {"0": 3, "1": 9}}, {"customdata": [4, 1]},
                                          {"customdata": 5}, {"customdata": 2.0})] == [3.0, 4.0, 5.0, 2.0]
    for p in ({}, {"customdata": None}, {"customdata": []}, {"customdata": {"1": 2}}, {"customdata": ["a"]},
              {"customdata": True}, "x"):
        assert first_customdata(p) is None, p
    assert clicked_rows({"selection": {"points": [{"customdata": {"0": 1}}, {"x": 1}, {"customdata": [7]}]}}) == [1, 7]
    assert clicked_rows(None) == [] and clicked_rows({"selection": {}}) == []
