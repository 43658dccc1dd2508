"""The bad-input files of scripts/make_bad_files.py through every uploader of the app (AppTest):
the sidebar's MIDI upload, a page's melody upload, the latent map's upload, the checkpoint
upload, and the Performance style page's score and reference uploads. Each answer is a message
that names the file (never an exception), within bounded time, and the page stays usable; a
MIDI score works on the Performance style page. Then the folder source: confined to its roots,
also from a shared URL, and its scan cached across reruns."""
from __future__ import annotations

import time

import numpy as np
import pytest

from explorer.limits import env_name, limit
from explorer.ui.model_picker import UPLOAD
from helpers_app import ROOT, SEGMENT_PAGE, run_app
from test_bad_input_files import of_kind, write_bad_files
from clip_players import audio_players

pytestmark = pytest.mark.usefixtures("one_torch_thread", "clear_streamlit_caches", "app_env")

#: A few files of each sort, for the uploaders after the first (each AppTest run costs a second).
SAMPLE = ("empty.mid", "random.mid", "truncated.mid", "zero_ppq.mid", "png_named.mid", "text_named.mid",
          "huge_24mb.mid", "eight_mb.mid", "many_notes_110k.mid", "drums_only.mid", "metre_7_8.mid", "one_note.mid",
          "thousands_of_bars.mid", "far_note_end.mid", "type2.mid", "valid_control.mid")
SECONDS = 60  # the most one run of a page may take with any of these files


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    manifest = write_bad_files(folder)
    return {name: (folder / name).read_bytes() for name in manifest}, manifest, folder


def _feed(at, uploader, name: str, data: bytes):
    """Upload ``data`` as ``name`` and rerun; (the AppTest, seconds the run took)."""
    t0 = time.perf_counter()
    uploader(at).set_value((name, data, "application/octet-stream")).run()
    secs = time.perf_counter() - t0
    assert not at.exception, (name, [e.value for e in at.exception])
    assert secs < SECONDS, (name, secs)
    return at, secs


def _messages(at, where=None) -> list[str]:
    el = where if where is not None else at
    return [e.value for e in el.error] + [w.value for w in el.warning]


def test_the_sidebar_upload_answers_every_midi_and_score_file(bad):
    files, manifest, _ = bad
    at = run_app(ROOT / SEGMENT_PAGE, timeout=SECONDS, session_state={"data_kind": "upload"})
    slowest = 0.0
    for name in of_kind(manifest, "midi"):  # other suffixes are refused by the uploader itself (type=)
        at, secs = _feed(at, lambda a: a.sidebar.file_uploader(key="upload"), name, files[name])
        slowest = max(slowest, secs)
        errors = [e.value for e in at.error]
        if manifest[name]["usable"]:
            assert not errors, (name, errors)
            assert at.get("plotly_chart"), name  # the page drew the upload's segments
        else:
            assert len(errors) == 1 and errors[0].startswith(f"{name} cannot be used: "), (name, errors)
            assert "Accepted: a Standard MIDI File" in errors[0]
    at.sidebar.file_uploader(key="upload").set_value(
        ("thousands_of_bars.mid", files["thousands_of_bars.mid"], "audio/midi")).run()
    assert any(f"Only the first {limit('bars'):,.0f} bars" in i.value for i in at.sidebar.info)
    print(f"\nsidebar upload: slowest run {slowest:.1f} s")


def test_a_pages_melody_upload_answers_bad_files(bad):
    files, manifest, _ = bad
    at = run_app(ROOT / "pages" / "interpolation.py", timeout=SECONDS, model="arvae-tiny")
    at.radio(key="a_from").set_value("Upload MIDI").run()
    for name in SAMPLE:
        at, _ = _feed(at, lambda a: a.file_uploader(key="a_upload"), name, files[name])
        errors = [e.value for e in at.error]
        if manifest[name]["usable"]:
            assert not any(name in e for e in errors), (name, errors)
        else:
            assert any(e.startswith(f"{name} cannot be used: ") for e in errors), (name, errors)


def test_the_latent_maps_upload_answers_bad_files(bad):
    files, manifest, _ = bad
    at = run_app(ROOT / "pages" / "latent_map.py", timeout=120, model="arvae-tiny", points="60")
    for name in SAMPLE:
        at, _ = _feed(at, lambda a: a.file_uploader(key="map_upload"), name, files[name])
        if not manifest[name]["usable"]:
            assert any(e.startswith(f"{name} cannot be used") for e in _messages(at)), (name, _messages(at))


def test_the_checkpoint_upload_refuses_every_bad_checkpoint_and_runs_no_code(bad):
    files, manifest, folder = bad
    at = run_app(ROOT / SEGMENT_PAGE, timeout=SECONDS, session_state={"model_name": UPLOAD})
    names = of_kind(manifest, "checkpoint", "state") + ["random.mid", "valid_control.musicxml"]
    for name in names:
        shown = name if name.endswith(".safetensors") else f"{name}.safetensors"  # the uploader takes only these
        at, _ = _feed(at, lambda a: a.sidebar.file_uploader(key="model_upload"), shown, files[name])
        errors = [e.value for e in at.sidebar.error]
        assert len(errors) == 1 and "Accepted: a .safetensors checkpoint" in errors[0], (name, errors)
    assert not (folder / "PWNED").exists()


# ---- the Performance style page ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def perf_env(tmp_path_factory):
    """A folder with "perf-tiny": an untrained performance-style checkpoint with a small style table."""
    import torch

    from explorer.data.performances import EMOTIONS, SCORE_FEATURES
    from explorer.models.checkpoint import save_performance_checkpoint
    from explorer.models.virtuoso import VirtuosoConfig, VirtuosoVAE

    torch.manual_seed(0)
    m = VirtuosoVAE(VirtuosoConfig(n_features=len(SCORE_FEATURES), hidden=16, z_dims=4,
                                   target_mean=(-1.0, 0.5, 0.0, -0.3), target_std=(0.3, 0.1, 0.02, 0.5)))
    labels = [{"name": f"P · s{i} · {EMOTIONS[i % 5]}", "piece": "P", "pianist": f"s{i}", "emotion": EMOTIONS[i % 5],
               "source": "emotion", "split": "train", "path": f"x{i}.txt"} for i in range(5)]
    folder = tmp_path_factory.mktemp("perf_models")
    save_performance_checkpoint(folder / "perf-tiny.safetensors", m, card={},
                                styles={"z": np.zeros((5, 4), np.float32), "labels": labels})
    return folder


@pytest.fixture
def perf_page(perf_env, monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_EXPLORER_PERFORMANCE_MODELS", str(perf_env))
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "no-data"))
    return lambda **state: run_app(ROOT / "pages" / "performance_style.py", timeout=120,
                                   session_state={"perf_model": "perf-tiny", **state})


#: The files the performance page must refuse as scores (any other readable MIDI is a score: a
#: score needs no metre or melody of the kinds the melody models read).
NOT_SCORES = {"empty.mid", "random.mid", "truncated.mid", "wrong_magic.mid", "zero_ppq.mid", "header_only.mid",
              "header_claims_tracks.mid", "no_notes.mid", "drums_only.mid", "many_notes_110k.mid", "eight_mb.mid",
              "huge_24mb.mid", "png_named.mid", "text_named.mid", "empty.musicxml", "broken.musicxml",
              "not_xml.musicxml", "no_notes.musicxml", "billion_laughs.musicxml", "random.mxl", "zip_bomb.mxl",
              "png_named.xml"}


def test_a_midi_score_plays_on_the_performance_page_and_bad_scores_are_messages(bad, perf_page):
    files, manifest, _ = bad
    at = perf_page(perf_score_kind="upload")
    names = [n for n in of_kind(manifest, "midi", "score")]
    for name in names:
        at, _ = _feed(at, lambda a: a.file_uploader(key="perf_upload"), name, files[name])
        if name not in NOT_SCORES:
            assert not at.error, (name, [e.value for e in at.error])
            assert at.subheader[0].value.startswith(name), (name, [s.value for s in at.subheader])
            assert len(audio_players(at)) == 1, name
        else:
            errors = [e.value for e in at.error]
            assert len(errors) == 1 and errors[0].startswith("This score cannot be used: ") and name in errors[0], \
                (name, errors)
            assert "upload." not in errors[0]  # the user's name, not the temporary file's
    at.file_uploader(key="perf_upload").set_value(
        ("thousands_of_bars.mid", files["thousands_of_bars.mid"], "audio/midi")).run()
    assert any("its first 300 bars" in i.value for i in at.info), [i.value for i in at.info]


def test_the_performance_reference_upload_answers_bad_files(bad, perf_page):
    files, manifest, _ = bad
    at = perf_page(perf_mode="reference", perf_ref_src="upload")
    for name in SAMPLE:
        at, _ = _feed(at, lambda a: a.file_uploader(key="perf_ref_upload"), name, files[name])
        errors = [e.value for e in at.error]
        assert len(errors) == 1, (name, errors)  # no MIDI here is a performance of Mozart K.545
        assert "performance" in errors[0] or name in errors[0], (name, errors)


# ---- the folder source in the app -------------------------------------------------------------------------
def test_a_folder_from_a_shared_url_outside_the_roots_is_not_read(bad, tmp_path, monkeypatch):
    from explorer.data.midi_files import ROOTS_ENV

    _, _, folder = bad
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    monkeypatch.setenv(ROOTS_ENV, str(allowed))
    for outside in (str(folder), "/etc", "/", "~", "../../"):
        at = run_app(ROOT / SEGMENT_PAGE, timeout=SECONDS, data="folder", folder=outside)
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and errors[0].startswith("That folder is outside the folders this app may read "
                                                         "(allowed)"), (outside, errors)
        shown = "\n".join(e.value for e in at.error) + "\n".join(c.value for c in at.caption)
        assert str(folder) not in shown and "/etc" not in shown and str(tmp_path) not in shown


def test_a_folder_inside_the_roots_is_read_once_and_its_scan_is_cached(bad, tmp_path, monkeypatch):
    import explorer.data.midi_files as mf
    from explorer.data.midi_files import ROOTS_ENV

    files, _, _ = bad
    allowed = tmp_path / "allowed"
    (allowed / "tunes").mkdir(parents=True)
    for name in ("valid_control.mid", "block_chords.mid", "random.mid"):
        (allowed / "tunes" / name).write_bytes(files[name])
    (allowed / "tunes" / "valid_control.musicxml").write_bytes(files["valid_control.musicxml"])
    monkeypatch.setenv(ROOTS_ENV, str(allowed))
    scans = []
    real = mf.scan_midi_files
    monkeypatch.setattr(mf, "scan_midi_files", lambda *a, **k: scans.append(a) or real(*a, **k))
    at = run_app(ROOT / SEGMENT_PAGE, timeout=SECONDS, data="folder", folder="tunes")
    assert not at.error, [e.value for e in at.error]
    assert at.caption[0].value.startswith("folder tunes: ") and "from 2 tunes" in at.caption[0].value
    n = len(scans)
    for program in (4, 11, 24):
        at.sidebar.selectbox(key="program").set_value(program).run()
        assert not at.exception and not at.error
    assert len(scans) == n  # reruns neither walk the folder nor read it again


def test_the_scan_limit_is_a_setting(bad, tmp_path, monkeypatch):
    from explorer.data.midi_files import ROOTS_ENV

    files, _, _ = bad
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    for k in range(3):
        (allowed / f"t{k}.mid").write_bytes(files["valid_control.mid"])
    monkeypatch.setenv(ROOTS_ENV, str(allowed))
    monkeypatch.setenv(env_name("folder_files"), "2")
    at = run_app(ROOT / SEGMENT_PAGE, timeout=SECONDS, data="folder", folder=str(allowed))
    assert "from 2 tunes" in at.caption[0].value
