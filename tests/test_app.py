"""AppTest runs of the Streamlit app: the home page and the segment player, no browser."""
from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.audio import audio_status
from explorer.device import describe_device
from explorer.ui.resources import default_dataset
from helpers_app import APP, BROKEN_MIDI, SEGMENT_PAGE, TWO_BARS, melody_midi_bytes, run_app
from clip_players import audio_players, players

pytestmark = pytest.mark.usefixtures("clear_streamlit_caches", "tmp_cache", "tmp_folder_root")


@pytest.fixture
def tmp_folder_root(tmp_path, monkeypatch):
    """The folder source may read only inside its roots: here the test's own folder."""
    monkeypatch.setenv("LATENT_EXPLORER_FOLDER_ROOTS", str(tmp_path))


@pytest.fixture(scope="module")
def ds():
    """The default dataset as the app under test sees it: load_default() through the app's cache."""
    return default_dataset()


def run_home(**query) -> AppTest:
    return run_app(APP, **query)


def run_segment_page(**query) -> AppTest:
    """The app run once (the home page), then switched to the segment player."""
    at = run_home(**query)
    at.switch_page(SEGMENT_PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown_segment(at) -> int:
    return at.selectbox(key="seg_index").value


def assert_consistent(at, ds):
    """Subheader, tune box and URL all name the row the Segment box holds."""
    i = shown_segment(at)
    assert at.subheader[0].value == ds.describe(i)
    assert at.selectbox(key="seg_tune").value == int(ds.tune[i])
    assert at.query_params["seg"] == str(i)


def test_home_names_data_and_device():
    at = run_home()
    assert at.title[0].value == "Latent Explorer"
    text = "\n".join(m.value for m in at.markdown)
    assert "music21 corpus" in text
    assert f"**Inference device:** {describe_device()}" in text
    assert not at.warning


def test_segment_page_draws_picker_roll_and_downloads(ds):
    at = run_segment_page()
    assert at.title[0].value == "Segment player"
    assert [s.label for s in at.main.selectbox] == ["Collection", "Tune", "Segment"]
    assert at.selectbox(key="seg_source").options[0] == "(all)"
    assert len(at.get("plotly_chart")) == 1
    assert len(players(at)) == 1  # one player: its MIDI (and WAV) downloads are built from its bytes
    assert len(audio_players(at)) == (1 if audio_status()[0] else 0)
    assert shown_segment(at) == 0
    assert_consistent(at, ds)
    assert [b.label for b in at.button] == ["Random segment"]
    assert len(at.dataframe) == 1  # the attribute table


def test_choosing_another_tune_changes_the_subheader(ds):
    at = run_segment_page()
    before = at.subheader[0].value
    tune_box = at.selectbox(key="seg_tune")
    tunes = list(dict.fromkeys(ds.tune.tolist()))  # the tunes in order of their first row
    assert len(tune_box.options) == len(tunes)
    assert tune_box.options[1] == f"{ds.tune_title[tunes[1]]} · {ds.tune_id[tunes[1]]}"
    # a tune further down whose title differs, so the subheader must change
    other = next(t for t in tunes[10:] if ds.tune_title[t] != ds.tune_title[tune_box.value])
    tune_box.set_value(other).run()
    assert not at.exception
    assert at.selectbox(key="seg_tune").value == other
    assert at.subheader[0].value != before
    assert shown_segment(at) == int(np.flatnonzero(ds.tune == other)[0])  # its first segment
    assert_consistent(at, ds)


def test_choices_survive_a_round_trip_to_home(ds, tmp_path):
    at = run_segment_page()
    row = len(ds) - 5  # a Bach chorale, far from the first row
    at.selectbox(key="seg_source").set_value(str(ds.source[row])).run()
    at.selectbox(key="seg_tune").set_value(int(ds.tune[row])).run()
    at.sidebar.selectbox(key="program").set_value(40).run()
    chosen = shown_segment(at)
    assert chosen != 0
    at.switch_page("app.py").run()
    assert at.title[0].value == "Latent Explorer"
    assert at.sidebar.selectbox(key="program").value == 40
    del at.query_params["seg"]  # the session, not the URL, must remember the segment
    at.switch_page(SEGMENT_PAGE).run()
    assert not at.exception
    assert shown_segment(at) == chosen
    assert at.selectbox(key="seg_source").value == ds.source[row] == "music21:bach"
    assert at.sidebar.selectbox(key="program").value == 40
    assert_consistent(at, ds)
    # and the data source chosen on the home page holds on the segment page
    at.switch_page("app.py").run()
    at.sidebar.radio(key="data_kind").set_value("folder").run()
    at.sidebar.text_input(key="folder").set_value(str(tmp_path / "gone")).run()
    assert "no such" in at.warning[0].value
    at.switch_page(SEGMENT_PAGE).run()
    assert at.sidebar.radio(key="data_kind").value == "folder"
    assert "no such" in at.error[0].value


def test_random_segment_button_moves_to_another_row(ds):
    at = run_segment_page()
    first = shown_segment(at)
    for _ in range(5):  # one pick in 11k rows may land on the same row; five cannot all do
        at.button(key="seg_random").click().run()
        assert not at.exception
        if shown_segment(at) != first:
            break
    assert shown_segment(at) != first
    assert_consistent(at, ds)


def test_seg_query_param_restores_the_segment(ds):
    i = len(ds) // 2 + 7
    assert ds.tune[i] != ds.tune[0]
    at = run_segment_page(seg=str(i))
    assert shown_segment(at) == i
    assert at.subheader[0].value == ds.describe(i)
    assert_consistent(at, ds)


@pytest.mark.parametrize("seg", ["abc", "-3", "99999999"])
def test_bad_seg_query_param_falls_back_to_the_first_row(ds, seg):
    at = run_segment_page(seg=seg)
    assert shown_segment(at) == 0
    assert_consistent(at, ds)


def test_folder_source_with_a_missing_folder_says_so(tmp_path):
    missing = tmp_path / "no_such_folder"
    at = run_segment_page()
    at.sidebar.radio(key="data_kind").set_value("folder").run()
    assert not at.exception
    assert not at.error
    assert "Type the path of a folder" in at.info[0].value
    at.sidebar.text_input(key="folder").set_value(str(missing)).run()
    assert not at.exception
    assert len(at.error) == 1
    assert "no such" in at.error[0].value and str(missing) in at.error[0].value
    assert not at.get("plotly_chart")
    assert at.query_params["data"] == "folder" and at.query_params["folder"] == str(missing)


def test_folder_without_midi_files_says_so_in_words(tmp_path):
    (tmp_path / "notes.txt").write_text("not music")
    at = run_segment_page(data="folder", folder=str(tmp_path))
    assert [e.value for e in at.error] == [f"No MIDI files (.mid, .midi) in {tmp_path}."]


def test_folder_of_unreadable_midi_names_the_reason(tmp_path):
    (tmp_path / "broken.mid").write_bytes(BROKEN_MIDI)
    at = run_segment_page(data="folder", folder=str(tmp_path))
    assert [e.value for e in at.error] == [f"No usable 2-bar segment in {tmp_path} (skipped: 1 × unreadable MIDI)."]


def test_folder_from_the_url_shows_its_segments(tmp_path):
    (tmp_path / "a.mid").write_bytes(melody_midi_bytes())
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.mid").write_bytes(melody_midi_bytes([(p + 2, s, e) for p, s, e in TWO_BARS]))
    at = run_segment_page(data="folder", folder=str(tmp_path))
    assert not at.error
    assert at.caption[0].value == f"folder {tmp_path}: 2 2-bar segments from 2 tunes"
    assert at.selectbox(key="seg_source").options == ["(all)", "midi"]
    assert len(at.selectbox(key="seg_tune").options) == 2
    assert len(at.get("plotly_chart")) == 1


def test_home_warns_about_a_missing_folder(tmp_path):
    at = run_home(data="folder", folder=str(tmp_path / "gone"))
    assert "no such" in at.warning[0].value
    assert "**Inference device:**" in "\n".join(m.value for m in at.markdown)


def test_corrupt_upload_is_refused_with_a_reason():
    at = run_segment_page()
    at.sidebar.radio(key="data_kind").set_value("upload").run()
    assert at.info[0].value == "Upload a MIDI file (.mid) in the sidebar."
    at.sidebar.file_uploader(key="upload").set_value(("broken.mid", BROKEN_MIDI, "audio/midi")).run()
    assert not at.exception
    assert len(at.error) == 1
    assert "cannot be used: unreadable MIDI" in at.error[0].value
    assert not at.get("plotly_chart")


def test_valid_upload_is_played():
    at = run_segment_page()
    at.sidebar.radio(key="data_kind").set_value("upload").run()
    at.sidebar.file_uploader(key="upload").set_value(("tiny.mid", melody_midi_bytes(), "audio/midi")).run()
    assert not at.exception
    assert not at.error
    assert at.subheader[0].value == "tiny.mid (upload), bar 1"
    assert at.selectbox(key="seg_index").options == ["bars 1–2"]
    assert len(at.get("plotly_chart")) == 1
    assert at.query_params["data"] == "upload" and at.query_params["seg"] == "0"


def test_an_upload_is_kept_across_pages_until_the_user_removes_it():
    """Issue 16, item 3: the sidebar's uploaded MIDI is lost on a page change (the uploader is a
    new widget on each page). It is kept for the session, said so, and forgotten when the user
    removes it from the uploader that shows it or presses "Forget"."""
    at = run_segment_page()
    at.sidebar.radio(key="data_kind").set_value("upload").run()
    at.sidebar.file_uploader(key="upload").set_value(("tiny.mid", melody_midi_bytes(), "audio/midi")).run()
    assert at.subheader[0].value == "tiny.mid (upload), bar 1"
    at.switch_page("app.py").run()  # Home: the upload is the data there too
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Using **tiny.mid**" in c.value for c in at.sidebar.caption)
    at.switch_page(SEGMENT_PAGE).run()
    assert not at.exception and not at.info, [i.value for i in at.info]
    assert at.subheader[0].value == "tiny.mid (upload), bar 1"
    at.run()  # a rerun on the same page keeps it as well
    assert at.subheader[0].value == "tiny.mid (upload), bar 1"
    at.sidebar.button(key="upload_forget").click().run()
    assert at.info[0].value == "Upload a MIDI file (.mid) in the sidebar."


def test_removing_the_upload_from_its_uploader_forgets_it():
    at = run_segment_page()
    at.sidebar.radio(key="data_kind").set_value("upload").run()
    at.sidebar.file_uploader(key="upload").set_value(("tiny.mid", melody_midi_bytes(), "audio/midi")).run()
    at.sidebar.file_uploader(key="upload").set_value(None).run()
    assert at.info[0].value == "Upload a MIDI file (.mid) in the sidebar."
