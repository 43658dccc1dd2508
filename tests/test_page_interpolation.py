"""The interpolation page (AppTest, tiny untrained checkpoints) and the palette it draws."""
from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.audio import audio_status
from explorer.data.default import load_default
from explorer.latent.palette import bilinear_weights, cell_labels, palette, palette_latents
from explorer.models.trained import TrainedModel
from helpers_app import ROOT, run_app, tiny_models, run_model_page
from clip_players import audio_players, players

PAGE = str(ROOT / "pages" / "interpolation.py")

pytestmark = pytest.mark.usefixtures("one_torch_thread", "clear_streamlit_caches", "app_env")


@pytest.fixture(scope="module")
def melodies():
    ds = load_default()
    return [ds.melody(i) for i in (0, len(ds) // 3, len(ds) // 2, 2 * len(ds) // 3)]


def run_page(**query) -> AppTest:
    return run_app(PAGE, **query)


def chart(at, key: str) -> dict:
    """The plotly figure drawn with widget key ``key``."""
    for el in at.get("plotly_chart"):
        if el.proto.id.endswith(key) or key in el.proto.id:
            return json.loads(el.proto.spec)
    raise KeyError(key)


# ---- the logic -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["arvae-tiny", "ec2vae-tiny"])
@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_interpolation_ends_are_the_reconstructions_of_a_and_b(name, method, melodies):
    tm = TrainedModel(tiny_models()[name], device="cpu")
    a, b = melodies[:2]
    path = tm.interpolate(a, b, steps=5, method=method)
    rec = tm.reconstruct([a, b])
    assert len(path) == 5
    np.testing.assert_array_equal(path[0].tokens, rec[0].tokens)
    np.testing.assert_array_equal(path[-1].tokens, rec[1].tokens)


def test_palette_grid_blends_the_corners(melodies):
    w = bilinear_weights(3)
    assert w.shape == (3, 3, 4)
    np.testing.assert_allclose(w.sum(-1), 1.0)
    np.testing.assert_allclose(w[0, 0], [1, 0, 0, 0])
    np.testing.assert_allclose(w[2, 2], [0, 0, 0, 1])
    np.testing.assert_allclose(w[1, 1], [0.25] * 4)
    assert cell_labels(3) == ["A", "1·2", "B", "2·1", "2·2", "2·3", "C", "3·2", "D"]
    corners = np.eye(4, 6)
    np.testing.assert_allclose(palette_latents(corners, 3)[1], [0.5, 0.5, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="4, D"):
        palette_latents(corners[:3], 3)

    tm = TrainedModel(tiny_models()["ec2vae-tiny"], device="cpu")
    cells = palette(tm, melodies, 3)
    rec = tm.reconstruct(melodies)
    assert len(cells) == 9
    for k, i in zip(range(4), (0, 2, 6, 8)):  # A, B, C, D sit in the corners
        np.testing.assert_array_equal(cells[i].tokens, rec[k].tokens)
        np.testing.assert_array_equal(cells[i].chroma, melodies[k].chroma)


# ---- the page ----------------------------------------------------------------------------
def test_without_a_model_the_page_says_to_choose_one(tmp_path, monkeypatch):
    at = run_model_page(PAGE, None)  # the picker on "upload", nothing uploaded: no model
    assert any("Choose a model" in i.value for i in at.info)


def test_timeline_shows_every_step_and_plays_it():
    at = run_page(model="arvae-tiny")
    assert at.slider(key="ip_steps").value == 8
    assert at.radio(key="ip_method").options == ["lerp", "slerp"]
    assert at.selectbox(key="b_index").value != at.selectbox(key="a_index").value  # B starts elsewhere
    at.slider(key="ip_steps").set_value(4).run()
    assert not at.exception
    roll = chart(at, "ip_roll")
    assert [a["text"] for a in roll["layout"]["annotations"]] == ["1 · A", "2", "3", "4 · B"]
    assert at.query_params["steps"] == "4"
    steps = at.expander[0]
    assert steps.label == "Each step alone"
    assert [m.value for m in steps.markdown] == ["**Step 1 · A**", "**Step 2**", "**Step 3**", "**Step 4 · B**"]
    assert len(players(at)) == 1 + 4 + 2  # timeline, each step, the palette's cell and path
    if audio_status()[0]:
        assert len(audio_players(steps)) == 4
    curves = chart(at, "ip_attr_fig")
    assert len([t for t in curves["data"] if t["name"] != "input"]) == 3  # the three default attributes


def test_groups_and_palette_on_ec2vae():
    at = run_page(model="ec2vae-tiny", steps="3", grid="3", interp="cubic")
    assert "interp='cubic'" in at.warning[0].value
    assert at.radio(key="ip_group").options == ["all", "pitch", "rhythm"]
    at.radio(key="ip_group").set_value("rhythm").run()
    assert not at.exception and at.query_params["group"] == "rhythm"
    assert at.select_slider(key="ip_grid").value == 3
    fig = chart(at, "ip_palette_fig")
    cells = next(t for t in fig["data"] if t.get("customdata"))
    assert cells["customdata"] == cell_labels(3)
    assert at.selectbox(key="ip_cell").options == cell_labels(3)
    assert at.multiselect(key="ip_path").value == ["A", "2·2", "D"]  # the diagonal
    at.multiselect(key="ip_path").set_value(["C", "B", "2·1"]).run()
    assert not at.exception
    path_roll = chart(at, "ip_path_roll")
    assert [a["text"] for a in path_roll["layout"]["annotations"]] == ["C", "B", "2·1"]
    at.selectbox(key="ip_cell").set_value("B").run()
    assert not at.exception
    assert chart(at, "ip_cell_play_roll")["layout"]["title"]["text"] == "cell B"


def test_the_live_palette_hands_every_cell_to_the_browser():
    """With "Live palette" on, the grid is one player carrying a clip and the notes of every cell
    (the browser switches between them); the timeline's player is the one space plays."""
    from explorer.ui.player import midi_notes

    at = run_page(model="ec2vae-tiny", steps="3", grid="3")
    timeline = next(h for h, _ in players(at) if h["main"])
    assert timeline["name"].startswith("interpolation_3_steps")
    if not audio_status()[0]:
        pytest.skip("no audio: the live palette is off")
    at.toggle(key="ip_live").set_value(True).run()
    assert not at.exception
    assert not [c for c in at.get("plotly_chart") if "ip_palette_fig" in c.proto.id]  # the grid replaces the figure
    (head, _), = players(at, "palette")
    assert head["n"] == 3 and head["labels"] == cell_labels(3) and len(head["clips"]) == len(head["notes"]) == 9
    assert head["index"] == cell_labels(3).index(at.selectbox(key="ip_cell").value)
    assert all(0 <= v <= 1 for v in head["shade"])
    assert all(notes and all(lo < hi for _, lo, hi in notes) for notes in head["notes"])
    at.selectbox(key="ip_cell").set_value("B").run()  # the server's choice moves the grid's selection
    (head, _), = players(at, "palette")
    assert head["index"] == 2
    assert midi_notes(b"not a MIDI file") == []
