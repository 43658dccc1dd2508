"""AppTest runs of the attribute-sliders page on tiny untrained checkpoints."""
from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.audio import audio_status
from explorer.models.trained import TrainedModel
from explorer.music.attributes import AR_ATTRIBUTES, LABELS
from explorer.ui.resources import default_dataset
from explorer.viz.pianoroll_svg import roll_notes
from clip_players import blob, clip, player_keys, players
from helpers_app import ROOT, markdown_tables, run_app, run_model_page, svg_rolls

PAGE = str(ROOT / "pages" / "attribute_sliders.py")

pytestmark = pytest.mark.usefixtures("one_torch_thread", "clear_streamlit_caches", "app_env")


def run_page(**query) -> AppTest:
    return run_app(PAGE, **query)


def output_roll(at) -> list:
    """The notes (pitch, onset, offset) of the output's piano roll (an inline SVG)."""
    return roll_notes(svg_rolls(at)["sl_out_roll"])


def chart_axis_title(at) -> str:
    """The x-axis title of the controllability curve (the last chart)."""
    return json.loads(at.get("plotly_chart")[-1].proto.spec)["layout"]["xaxis"]["title"]["text"]


def curve_marks(at) -> dict:
    """The traces the page moves on the controllability curve in the browser (explorer/ui/map_marks.py)."""
    element = next(e for e in at.get("bidi_component") if "map_marks" in e.proto.component_name)
    data = json.loads(json.loads(element.proto.json))
    assert data["chart"] == "sl_curve"
    return data["traces"]


def keyed_player(at, key: str = "sl_out"):
    """(head, blobs) of the player drawn with ``key`` (the output's by default)."""
    return players(at)[player_keys(at).index(key)]


def output_audio(at) -> bytes:
    """The output player's embedded clip (FLAC)."""
    return clip(at, [k for k in player_keys(at) if k in ("sl_out", "sl_seed")].index("sl_out"))


def output_onsets(at) -> list[int]:
    """The onset steps of the output's piano roll: the melody the page decoded (x is in bars)."""
    return [on for _, on, _ in output_roll(at)]


def test_without_a_model_the_page_says_to_choose_one(tmp_path, monkeypatch):
    at = run_model_page(PAGE, None)  # the picker on "upload", nothing uploaded: no model
    assert at.title[0].value == "Attribute sliders"
    assert any("Choose a model" in i.value for i in at.info)
    assert not at.slider


def test_arvae_sliders_start_at_the_seed_and_steer_the_output(models_dir):
    at = run_page(model="arvae-tiny")
    labels = [s.label for s in at.slider]
    for d, a in enumerate(AR_ATTRIBUTES):
        assert labels[d] == f"{LABELS[a]} · z[{d}]"
    assert labels[4] == f"amount of {LABELS['note_density']}"
    tm = TrainedModel.load(models_dir / "arvae-tiny.safetensors", device="cpu")
    _, mu, _ = tm.encode([default_dataset().melody(0)])
    assert [at.slider(key=f"sl_d{d}").value for d in range(4)] == pytest.approx(np.round(mu[0, :4], 2), abs=0.006)
    tables = markdown_tables(at)
    readout, everything = tables["Target and measured"], tables["All attributes, seed → output"]
    assert readout["attribute"] == [LABELS[a] for a in AR_ATTRIBUTES]
    assert len(everything["attribute"]) == 9 and {"seed", "output", "change"} <= set(everything)
    assert not at.dataframe  # Markdown tables: no Arrow table and data grid on every move
    head, blobs = keyed_player(at)
    assert head["name"].startswith("steered_") and blob(blobs, head["midi"])[:4] == b"MThd"  # the MIDI download
    assert len(at.get("plotly_chart")) == 2 and set(svg_rolls(at)) == {"sl_out_roll"}  # seed, curve; output (SVG)
    roll, audio = output_roll(at), output_audio(at) if audio_status()[0] else None
    curve = at.get("plotly_chart")[-1].proto.spec
    start = at.slider(key="sl_d0").value
    assert curve_marks(at)["position"]["x"] == [start, start]

    for d in range(4):
        at.slider(key=f"sl_d{d}").set_value(3.0)
    at.run()
    assert not at.exception
    assert output_roll(at) != roll
    # the curve is sent as it was (the browser leaves it alone); the line where the slider stands is drawn over it
    assert at.get("plotly_chart")[-1].proto.spec == curve
    assert "position" not in [t.get("name") for t in json.loads(curve)["data"]]
    assert curve_marks(at)["position"]["x"] == [3.0, 3.0] and curve_marks(at)["position"]["name"] == "position"
    if audio is not None:
        assert output_audio(at) != audio
    assert at.query_params["d0"] == "3" and at.query_params["d3"] == "3"
    assert markdown_tables(at)["Target and measured"]["slider z"] == ["3"] * 4


def test_the_url_restores_a_view_and_bad_values_are_named():
    at = run_page(model="arvae-tiny", d1="1.25", d2="oops", vec="contour,loudness", v_contour="0.5", sweep="d3")
    assert at.slider(key="sl_d1").value == 1.25
    assert at.multiselect(key="sl_vectors").value == ["contour"]
    assert at.slider(key="sl_v_contour").value == 0.5
    assert "d2='oops'" in at.warning[0].value and "loudness" in at.warning[0].value
    assert at.query_params["v_contour"] == "0.5"
    assert at.selectbox(key="sl_sweep").value == "d3"
    assert "z[3]" in chart_axis_title(at)


def test_attribute_vectors_steer_an_ec2vae():
    """The shipped EC²-VAE's stored note-density vector adds notes to the melody the page decodes (its
    card: +1 × the vector raised the note density of 99% of the test melodies); an untrained model's
    vector need not change any note, so the page's own account of z is no evidence of steering."""
    at = run_page(model="ec2vae-nottingham-pop909-bach-oneills-airds-essen")
    assert [s.label for s in at.slider] == [f"amount of {LABELS['note_density']}"]
    assert at.selectbox(key="sl_sweep").value == "v_note_density"
    at.slider(key="sl_v_note_density").set_value(-2.0).run()
    sparse = output_onsets(at)
    at.slider(key="sl_v_note_density").set_value(2.0).run()
    dense = output_onsets(at)
    assert not at.exception
    assert len(dense) > len(sparse) > 0, (sparse, dense)
    at.multiselect(key="sl_vectors").set_value(["note_density", "pitch_range"]).run()
    at.slider(key="sl_v_pitch_range").set_value(-2.0).run()
    assert not at.exception
    assert at.query_params["vec"] == "note_density,pitch_range" and at.query_params["v_note_density"] == "2"
    assert at.query_params["v_pitch_range"] == "-2"
    curve = at.main.caption[-1].value
    assert curve.startswith("The seed decoded at 13 values") and ("Spearman" in curve or "does not change" in curve)


def test_a_vector_removed_and_chosen_again_keeps_its_amount_and_the_output_follows_it():
    """The output is computed from the session before the controls are drawn (sliders_page._steer_part):
    a vector slider drawn again after its removal must show the amount the output was made with."""
    at = run_page(model="ec2vae-nottingham-pop909-bach-oneills-airds-essen")
    at.slider(key="sl_v_note_density").set_value(2.0).run()
    dense = output_onsets(at)
    at.multiselect(key="sl_vectors").set_value([]).run()
    plain = output_onsets(at)
    at.multiselect(key="sl_vectors").set_value(["note_density"]).run()
    assert not at.exception
    assert at.slider(key="sl_v_note_density").value == 2.0 and at.query_params["v_note_density"] == "2"
    assert output_onsets(at) == dense != plain


def test_a_model_without_regularised_dims_and_without_data_gets_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_FOLDER_ROOTS", str(tmp_path))  # the folder may be read; it is missing
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["model"] = "ec2vae-tiny"
    at.query_params["data"] = "folder"
    at.query_params["folder"] = str(tmp_path / "nothing-here")
    at.run()
    assert not at.exception
    msg = at.error[0].value
    assert "no regularised dimensions" in msg and "no such folder" in msg and "Choose data" in msg


def test_autoplay_is_on_by_default_for_the_output_and_the_toggle_turns_it_off():
    at = run_page(model="arvae-tiny")
    output, seed = keyed_player(at)[0], keyed_player(at, "sl_seed")[0]
    assert player_keys(at) == ["sl_seed", "sl_out"]  # the seed's above the part a slider move reruns
    assert output["autoplay"] and output["loop"] and not seed["autoplay"]
    at.toggle(key="sl_autoplay").set_value(False).run()
    assert not at.exception
    assert not keyed_player(at)[0]["autoplay"]


@pytest.mark.skipif(not audio_status()[0], reason="the live range needs audio (FluidSynth)")
def test_the_live_range_holds_a_clip_per_position_and_the_slider_s_is_the_output():
    at = run_page(model="arvae-tiny")
    assert not players(at, "live")  # off by default
    at.toggle(key="sl_live").set_value(True).run()
    at.slider(key="sl_d0").set_value(3.0).run()
    assert not at.exception
    (head, blobs), = players(at, "live")
    assert head["values"] == pytest.approx(np.linspace(-3, 3, 21).tolist()) and len(head["clips"]) == 21
    assert head["index"] == 20 and head["label"] == "z[0]"
    # the batch's clip at the slider's position is the sound the page's one-melody path renders
    assert blob(blobs, head["clips"][20]["audio"]) == output_audio(at)
    # each position's notes ride along for the player's piano roll (an empty roll before)
    assert len(head["notes"]) == 21 and all(isinstance(n, list) for n in head["notes"])
    assert any(head["notes"]) and all(len(note) == 3 for clip in head["notes"] for note in clip)
    at.selectbox(key="sl_live_dim").set_value(2).run()
    assert players(at, "live")[0][0]["label"] == "z[2]"
