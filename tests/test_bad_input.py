"""Bad, big and hostile input (issue 15): every file of scripts/make_bad_files.py through every
CLI command (one line naming the file, exit code != 0, no traceback, bounded time, nothing
written outside the outputs and the cache); the big ones in a child process for peak memory;
`data build`'s per-file reasons and per-tune cap; the folder source's roots and scan limits;
the audio cache's size cap; the limits themselves; a property test of MIDI → grid → MIDI.
The uploaders (AppTest) are in test_bad_input_app.py."""
from __future__ import annotations

import contextlib
import io
import json
import os
import time
import tomllib
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.cli import main
from explorer.limits import LIMITS, LimitError, env_name, limit, table
from test_bad_input_files import ROOT, run_child, write_bad_files

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Files no MIDI reader can take (so `explorer render` must refuse them too).
UNREADABLE = {"empty.mid", "random.mid", "truncated.mid", "wrong_magic.mid", "zero_ppq.mid", "header_only.mid",
              "header_claims_tracks.mid", "many_notes_110k.mid", "eight_mb.mid",
              "huge_24mb.mid", "png_named.mid", "text_named.mid"}
AUDIO_SECONDS = 20  # the render limit while the suite runs (keeps the long files' renders short)


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    return folder, write_bad_files(folder)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """40 rows of the shipped default data (train, valid and test) as a dataset file."""
    from explorer.data.dataset import SegmentDataset
    from explorer.data.default import shipped_default_path

    ds = SegmentDataset.load(shipped_default_path(2))
    sp = ds.split
    rows = np.r_[np.flatnonzero(sp == "train")[:24], np.flatnonzero(sp == "valid")[:8],
                 np.flatnonzero(sp == "test")[:8]]
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    ds.subset(rows).save(path)
    return path


def cli(argv) -> tuple[int, str, str, float]:
    """(exit code, stdout, stderr, seconds) of ``explorer ARGV`` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse's usage errors
            rc = exc.code
    return rc, out.getvalue(), err.getvalue(), time.perf_counter() - t0


def _commands(name: str, kind: str, f: Path, out: Path, data: Path) -> list[tuple[str, list, str]]:
    """(command label, argv, the file name its error must show) for one bad file."""
    cmds = [("data info", ["data", "info", f], f.name),
            ("data merge", ["data", "merge", f, "--out", out / "m.npz"], f.name)]
    if kind in ("midi", "score"):
        cmds += [("data build", ["data", "build", "midi", "--path", f, "--out", out / "b.npz", "--quiet", "--json"],
                  f.name),
                 ("render", ["render", f, out / "r.wav"], f.name)]
    if kind == "checkpoint":
        cmds += [("eval", ["eval", f, "--data", data, "--limit", 4], f.name),
                 ("ship", ["ship", f, "--data", data, "--out", out / "s.safetensors", "--limit", 4], f.name),
                 ("train --init", ["train", "arvae", "--data", data, "--out", out / "init", "--init", f,
                                   "--max-steps", 1, "--quiet"], f.name)]
    if kind == "state":
        run = out / f"run-{name}"
        run.mkdir()
        (run / "state.pt").write_bytes(f.read_bytes())
        cmds += [("train (resume)", ["train", "arvae", "--data", data, "--out", run, "--max-steps", 1, "--quiet"],
                  "state.pt")]
    return cmds


def _files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def cli_runs(bad, tiny_data, tmp_path_factory):
    """Every bad file through every command that reads such a file, from an empty working folder."""
    folder, manifest = bad
    work = tmp_path_factory.mktemp("work")
    out, cache = work / "out", work / "cache"
    out.mkdir()
    before = {p: p.stat().st_mtime_ns for p in _files_under(folder)}
    runs = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        mp.setenv("LATENT_EXPLORER_CACHE", str(cache))
        mp.setenv(env_name("audio_seconds"), str(AUDIO_SECONDS))
        for name, m in manifest.items():
            for label, argv, shown in _commands(name, m["kind"], folder / name, out, tiny_data):
                rc, stdout, err, secs = cli(argv)
                runs.append({"file": name, "kind": m["kind"], "usable": m["usable"], "command": label, "rc": rc,
                             "stdout": stdout, "err": err, "seconds": secs, "shown": shown})
    after = {p: p.stat().st_mtime_ns for p in _files_under(folder)}
    return {"runs": runs, "work": work, "out": out, "cache": cache, "bad_before": before, "bad_after": after,
            "folder": folder}


def test_every_cli_command_ends_bad_input_with_one_line_naming_the_file(cli_runs):
    runs = cli_runs["runs"]
    assert len(runs) >= 150
    assert {r["command"] for r in runs} == {"data info", "data merge", "data build", "render", "eval", "ship",
                                            "train --init", "train (resume)"}
    for r in runs:
        assert "Traceback" not in r["err"] + r["stdout"], (r["file"], r["command"], r["err"][-800:])
        if r["rc"] != 0:
            last = r["err"].strip().splitlines()[-1]
            assert last.startswith("error: ") and r["shown"] in last, (r["file"], r["command"], last)
            assert len(last) < 600
    refused = [r for r in runs if r["rc"] == 0 and r["command"] not in ("data build", "render")]
    assert not refused, [(r["file"], r["command"]) for r in refused]  # no bad file is a dataset or a checkpoint


def test_data_build_and_render_accept_what_they_can_and_refuse_the_rest(cli_runs):
    by = {(r["file"], r["command"]): r for r in cli_runs["runs"]}
    for (name, command), r in by.items():
        if command == "data build" and r["kind"] == "midi":
            assert (r["rc"] == 0) == r["usable"], (name, r["err"][-300:])
        if command == "data build" and r["kind"] == "score":
            assert r["rc"] != 0 and "is not a MIDI file" in r["err"]
        if command == "render" and name in UNREADABLE:
            assert r["rc"] != 0, name
        if command == "render" and r["kind"] == "midi" and name not in UNREADABLE:
            assert r["rc"] == 0, (name, r["err"][-300:])
    assert f"more than the {limit('midi_mb'):g} MB a MIDI file may have" in by[("huge_24mb.mid", "render")]["err"]
    assert "many_notes_110k.mid: too many notes (110,000, more than 100,000: LATENT_EXPLORER_MAX_NOTES)" in \
        by[("many_notes_110k.mid", "data build")]["err"]
    long = by[("thousands_of_bars.mid", "render")]
    assert f"only its first {AUDIO_SECONDS} s were rendered" in long["err"]
    assert f"({AUDIO_SECONDS}." in long["stdout"] or f"({AUDIO_SECONDS + 1}." in long["stdout"]


def test_a_bad_training_state_is_one_line_for_every_case(cli_runs):
    states = [r for r in cli_runs["runs"] if r["command"] == "train (resume)"]
    assert len(states) >= 9 and all(r["rc"] == 2 for r in states)
    text = "\n".join(r["err"] for r in states)
    assert "weights_only=False" not in text  # never suggest the unsafe option
    assert not (cli_runs["folder"] / "PWNED").exists()


def test_cli_time_is_bounded_and_nothing_is_written_outside_outputs_and_cache(cli_runs):
    slow = [(r["file"], r["command"], round(r["seconds"], 1)) for r in cli_runs["runs"] if r["seconds"] > 30]
    assert not slow
    worst = max(cli_runs["runs"], key=lambda r: r["seconds"])
    print(f"\nCLI: {len(cli_runs['runs'])} runs, {sum(r['rc'] != 0 for r in cli_runs['runs'])} refused, slowest "
          f"{worst['seconds']:.1f} s ({worst['command']} {worst['file']})")
    assert cli_runs["bad_before"] == cli_runs["bad_after"]  # the inputs are neither changed nor joined
    work = cli_runs["work"]
    stray = [p for p in _files_under(work) if cli_runs["out"] not in p.parents and cli_runs["cache"] not in p.parents]
    assert not stray, stray


# ---- data build: reasons per file, a cap per tune ------------------------------------------------
def test_data_build_json_names_each_skipped_file_and_caps_a_long_tune(bad, tmp_path, monkeypatch):
    folder, _ = bad
    src = tmp_path / "src"
    src.mkdir()
    for name in ("thousands_of_bars.mid", "one_note.mid", "random.mid", "valid_control.mid", "metre_7_8.mid"):
        (src / name).write_bytes((folder / name).read_bytes())
    (src / "notes.txt").write_text("not music")
    monkeypatch.setenv(env_name("segments_per_tune"), "40")
    rc, stdout, err, _ = cli(["data", "build", "midi", "--path", src, "--out", tmp_path / "d.npz", "--quiet", "--json"])
    assert rc == 0, err
    summary = json.loads(stdout)
    reasons = {f["file"]: f["reason"] for f in summary["skipped_files"]}
    assert reasons == {"random.mid": "unreadable MIDI", "metre_7_8.mid": "metre 7/8", "one_note.mid": "no segment"}
    assert summary["capped"] == [{"file": "thousands_of_bars.mid", "segments": 500, "kept": 40}]
    assert summary["bars_cut"] == [{"file": "thousands_of_bars.mid", "bars_read": int(limit("bars"))}]
    from explorer.data.dataset import SegmentDataset

    ds = SegmentDataset.load(tmp_path / "d.npz")
    per_tune = {str(ds.tune_id[t]): int(n) for t, n in zip(*np.unique(ds.tune, return_counts=True))}
    assert per_tune == {"thousands_of_bars.mid": 40, "valid_control.mid": 1}


def test_reading_a_folder_stops_at_the_analysis_time_and_says_so(bad, tmp_path):
    from explorer.data.build import build_dataset

    folder, _ = bad
    for name in ("valid_control.mid", "block_chords.mid", "off_grid.mid"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    ds, report = build_dataset("midi", tmp_path, progress=False, log=lambda line: None)
    assert len(ds) > 0 and report.summary(ds)["stopped"] == []
    ds, report = build_dataset("midi", tmp_path, progress=False, log=lambda line: None, max_seconds=0)
    assert len(ds) == 0 and report.summary(ds)["stopped"] == [
        "reading stopped after 0 s: 0 of 3 files read (LATENT_EXPLORER_MAX_ANALYSIS_SECONDS)"]


# ---- memory and time of the big files, each surface, in a child process --------------------------
_BIG_CODE = """
from pathlib import Path
from explorer.cli import main
from explorer.data.upload import dataset_from_midi_bytes
from explorer.data.performance_features import score_from_upload
from explorer.data.tune import SkipTune
from explorer.data.performance_io import PerformanceDataError, ensure_partitura
import time
ensure_partitura()  # imports are not the file's time


def timed(fn):
    t = time.perf_counter()
    try:
        out = fn()
    except (SkipTune, PerformanceDataError) as exc:
        out = str(exc)
    return out, time.perf_counter() - t


result = {}
for name in NAMES:
    path = Path(FOLDER, name)
    data = path.read_bytes()
    r = result[name] = {}
    r["melody"], r["melody_s"] = timed(lambda: dataset_from_midi_bytes(data, name) and "ok")
    r["score"], r["score_s"] = timed(lambda: score_from_upload(data, name) and "ok")
    r["render"], r["render_s"] = timed(lambda: main(["render", str(path), str(Path(OUT, "r.wav"))]))
    r["build"], r["build_s"] = timed(lambda: main(["data", "build", "midi", "--path", str(path), "--out",
                                                   str(Path(OUT, "b.npz")), "--quiet"]))
"""


@pytest.mark.parametrize("names", [("huge_24mb.mid", "eight_mb.mid", "zip_bomb.mxl", "far_note_end.mid"),
                                   ("many_notes_110k.mid",), ("thousands_of_bars.mid",)])
def test_big_files_stay_under_a_gigabyte_and_a_minute_on_every_surface(bad, tmp_path, names):
    folder, _ = bad
    env = dict(os.environ, HOME=str(tmp_path), LATENT_EXPLORER_CACHE=str(tmp_path / "cache"),
               PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **{env_name("audio_seconds"): str(AUDIO_SECONDS)})
    code = _BIG_CODE.replace("NAMES", repr(list(names))).replace("FOLDER", repr(str(folder))).replace(
        "OUT", repr(str(tmp_path)))
    res = run_child(code, env, timeout=300)
    assert res["ok"], res.get("traceback")
    print(f"\n{names}: peak {res['peak_mb']:.0f} MB, {res['seconds']:.1f} s", res["result"])
    assert res["peak_mb"] < 1024
    for name, r in res["result"].items():
        assert max(r["melody_s"], r["score_s"], r["render_s"], r["build_s"]) < 60, (name, r)
    if "huge_24mb.mid" in names:
        assert "file too large" in res["result"]["huge_24mb.mid"]["melody"]
        assert "unpacked" in res["result"]["zip_bomb.mxl"]["score"]
    if "thousands_of_bars.mid" in names:
        r = res["result"]["thousands_of_bars.mid"]
        assert r["melody"] == "ok" and r["score"] == "ok" and r["render"] == 0 and r["build"] == 0


# ---- the folder source ------------------------------------------------------------------------------
@pytest.fixture
def roots(tmp_path, monkeypatch):
    """Two allowed folders (data, mine) with MIDI files, a secret folder outside them."""
    from explorer.data.midi_files import ROOTS_ENV

    data, mine, secret = tmp_path / "data", tmp_path / "mine", tmp_path / "secret"
    for d in (data / "sub", mine, secret):
        d.mkdir(parents=True)
    for f in (data / "a.mid", data / "sub" / "b.MID", mine / "c.midi", secret / "s.mid"):
        f.write_bytes(b"MThd")
    (data / "notes.txt").write_text("x")
    (data / "picture.png").write_bytes(b"\x89PNG")
    (data / "out").symlink_to(secret, target_is_directory=True)
    (data / "leak.mid").symlink_to(secret / "s.mid")
    monkeypatch.setenv(ROOTS_ENV, os.pathsep.join([str(data), str(mine)]))
    return data, mine, secret


def test_the_folder_source_reads_only_inside_its_roots(roots):
    from explorer.data.midi_files import FolderNotAllowed, confine, folder_roots

    data, mine, secret = roots
    assert folder_roots() == [data.resolve(), mine.resolve()]
    assert confine("sub") == (data / "sub").resolve()
    assert confine(str(mine)) == mine.resolve()
    assert confine(str(data / "a.mid")) == (data / "a.mid").resolve()
    for text in (str(secret), "/etc", "/", "~", "../secret", "out", str(data / "out"), str(data / "leak.mid"),
                 "/etc/shadow"):
        with pytest.raises(FolderNotAllowed) as info:
            confine(text)
        assert str(secret) not in str(info.value) and "/etc" not in str(info.value) and "/tmp" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="no such folder: sub/gone"):
        confine("sub/gone")
    with pytest.raises(FileNotFoundError, match="not a MIDI file"):
        confine(str(data / "notes.txt"))


def test_default_roots_are_the_data_folder_and_the_start_folder(tmp_path, monkeypatch):
    from explorer.data.midi_files import ROOTS_ENV, START_FOLDER_ENV, folder_roots

    monkeypatch.delenv(ROOTS_ENV, raising=False)
    (tmp_path / "d").mkdir()
    (tmp_path / "u").mkdir()
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "d"))
    monkeypatch.setenv(START_FOLDER_ENV, str(tmp_path / "u"))
    assert folder_roots() == [(tmp_path / "d").resolve(), (tmp_path / "u").resolve()]
    monkeypatch.delenv(START_FOLDER_ENV)
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "missing"))
    assert folder_roots() == []


def test_the_scan_lists_only_midi_inside_and_stops_at_its_limits(roots, monkeypatch):
    from explorer.data.midi_files import scan_midi_files

    data, _, _ = roots
    files, stopped = scan_midi_files(data, within=data.resolve())
    assert [f.relative_to(data).as_posix() for f in files] == ["a.mid", "sub/b.MID"] and stopped == ""
    files, _ = scan_midi_files(data)  # without `within` the link to a file outside is listed
    assert "leak.mid" in [f.name for f in files]
    files, stopped = scan_midi_files(data, max_files=1)
    assert len(files) == 1 and "stopped after 1 files" in stopped
    files, stopped = scan_midi_files(data, max_seconds=0)
    assert "scan time limit" in stopped
    monkeypatch.setenv(env_name("folder_files"), "1")
    assert len(scan_midi_files(data)[0]) == 1


# ---- the audio disk cache ----------------------------------------------------------------------------
def test_the_audio_disk_cache_evicts_the_least_recently_used(tmp_cache, monkeypatch):
    from explorer.audio.cache import ContentCache

    monkeypatch.setenv(env_name("audio_cache_mb"), str(10_000 / 2**20))  # 10,000 bytes
    cache = ContentCache("evict", ".bin", max_entries=1)  # memory holds one: reads go to disk
    cache.put("a", b"a" * 4000)
    cache.put("b", b"b" * 4000)
    os.utime(cache.path("a"), ns=(10**18, 10**18))
    os.utime(cache.path("b"), ns=(15 * 10**17, 15 * 10**17))  # both in the past, "b" newer
    cache.clear_memory()
    assert cache.get("a") == b"a" * 4000  # a disk hit: "a" is now the most recently used
    cache.put("c", b"c" * 4000)  # 12,000 bytes > 10,000: the oldest ("b") goes
    assert cache.path("a").exists() and cache.path("c").exists() and not cache.path("b").exists()
    assert cache.disk_bytes() == 8000
    cache.put("big", b"x" * 20_000)  # larger than the whole cap: memory only
    assert not cache.path("big").exists() and cache.get("big") == b"x" * 20_000

    # a write under the cap does not scan the folder (one stat per file); one past it does
    small = ContentCache("evict2", ".bin")
    small.put("first", b"1")  # the first write counts what is there
    scans = []
    real = ContentCache._entries
    monkeypatch.setattr(ContentCache, "_entries", lambda self: scans.append(1) or real(self))
    for k in range(5):
        small.put(f"k{k}", b"z" * 1000)
    assert not scans and small.disk_bytes() == 5001
    small.put("over", b"o" * 6000)  # 11,001 bytes > 10,000: scanned, the oldest go
    assert scans and small.disk_bytes() <= 10_000 and small.path("over").exists()


# ---- the limits -----------------------------------------------------------------------------------------
def test_limits_are_read_from_the_environment_and_checked(monkeypatch):
    assert limit("midi_mb") == LIMITS["midi_mb"].default
    monkeypatch.setenv(env_name("midi_mb"), "3.5")
    assert limit("midi_mb") == 3.5
    for bad_value in ("-1", "0", "lots"):
        monkeypatch.setenv(env_name("midi_mb"), bad_value)
        with pytest.raises(ValueError, match="LATENT_EXPLORER_MAX_MIDI_MB"):
            limit("midi_mb")
    with pytest.raises(KeyError, match="known: midi_mb"):
        limit("nope")
    monkeypatch.delenv(env_name("midi_mb"))
    assert len(table()) == len(LIMITS) and all(row[2].startswith("LATENT_EXPLORER_MAX_") for row in table())


def test_the_server_upload_size_covers_every_upload_limit_and_the_help_says_the_limit():
    from explorer.data.upload import accepted

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    biggest = max(limit(k) for k in ("midi_mb", "score_mb", "checkpoint_mb"))
    assert config["server"]["maxUploadSize"] >= biggest
    shipped = max((p.stat().st_size for p in (ROOT / "assets").rglob("*.safetensors")), default=0)
    assert shipped <= limit("checkpoint_mb") * 2**20  # every shipped checkpoint can be uploaded back
    assert f"at most {limit('midi_mb'):g} MB" in accepted()
    docs = (ROOT / "docs" / "security.md").read_text()
    for name, value, env, _ in table():
        assert env in docs and name in docs


def test_a_checkpoint_upload_is_written_fresh_without_following_a_link(tmp_path, monkeypatch):
    from explorer.ui.resources import save_checkpoint_upload

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    folder = tmp_path / "session"
    folder.mkdir()
    (folder / "mine.safetensors").symlink_to(victim)
    path = save_checkpoint_upload(b"weights", "../../mine.safetensors", folder)
    assert path == folder / "mine.safetensors" and not path.is_symlink()
    assert path.read_bytes() == b"weights" and victim.read_text() == "keep me"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv(env_name("checkpoint_mb"), str(1 / 2**20))  # one byte
    with pytest.raises(LimitError, match=r"^mine.safetensors is 0.0 MB; checkpoints are read up to"):
        save_checkpoint_upload(b"weights", "mine.safetensors", folder)


# ---- a MIDI score on the performance side: staves from tracks or pitch ----------------------------------
def test_a_midi_score_gets_staves_from_its_tracks_or_from_middle_c(tmp_path):
    from explorer.data.performance_features import SCORE_FEATURES, score_from_upload

    staff2 = SCORE_FEATURES.index("staff2")
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    right, left = pretty_midi.Instrument(0, name="right"), pretty_midi.Instrument(0, name="left")
    right.notes += [pretty_midi.Note(80, 55 + 12 * (k % 2), k * 0.5, k * 0.5 + 0.5) for k in range(8)]
    left.notes += [pretty_midi.Note(80, 50, k * 1.0, k * 1.0 + 1.0) for k in range(4)]
    pm.instruments += [right, left]
    buf = io.BytesIO()
    pm.write(buf)
    notes, note = score_from_upload(buf.getvalue(), "two hands.mid")
    assert note == "" and len(notes) == 12
    by_pitch = {(int(p), bool(s)) for p, s in zip(notes.note_array["pitch"], notes.features[:, staff2])}
    assert by_pitch == {(55, False), (67, False), (50, True)}  # the lower track is the left hand
    pm.instruments = [right]
    buf = io.BytesIO()
    pm.write(buf)
    notes, _ = score_from_upload(buf.getvalue(), "one track.mid")
    by_pitch = {(int(p), bool(s)) for p, s in zip(notes.note_array["pitch"], notes.features[:, staff2])}
    assert by_pitch == {(55, True), (67, False)}  # one track: below middle C is staff 2
    assert np.isfinite(notes.features).all()


def test_a_long_midi_score_is_read_to_its_first_bars(bad, monkeypatch):
    from explorer.data.performance_features import score_from_upload

    folder, _ = bad
    monkeypatch.setenv(env_name("score_notes"), "100")
    notes, note = score_from_upload((folder / "thousands_of_bars.mid").read_bytes(), "thousands_of_bars.mid")
    assert len(notes) <= 100 and notes.n_measures == 12  # 8 notes a bar: 12 whole bars fit in 100
    assert note.endswith("its first 12 bars (96 of its 32,000 notes) are read")
    monkeypatch.delenv(env_name("score_notes"))
    notes, note = score_from_upload((folder / "far_note_end.mid").read_bytes(), "far_note_end.mid")
    assert len(notes) == 1 and notes.n_measures == 1 and note.endswith(
        f"its first {limit('score_bars'):.0f} bars (1 of its 1 notes) are read")


# ---- MIDI → grid → MIDI on random valid files ---------------------------------------------------------------
_notes = st.lists(st.tuples(st.integers(21, 108), st.integers(1, 16), st.integers(0, 8)), min_size=1, max_size=24)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notes=_notes, qpm=st.sampled_from([40.0, 72.0, 96.0, 120.0, 150.0, 233.0]),
       resolution=st.sampled_from([96, 220, 480, 960]))
def test_midi_to_grid_to_midi_keeps_every_note(notes, qpm, resolution):
    """Monophonic on-grid notes ((pitch, 16ths long, 16ths of rest before)) written as a MIDI file,
    read onto the grid and written back: the same pitches, onsets and ends, at the same tempo."""
    from explorer.data.midi_files import read_midi
    from explorer.music.convert import melody_to_midi, midi_to_bytes, midi_to_melody

    step = 60.0 / qpm / 4
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm, resolution=resolution)
    inst = pretty_midi.Instrument(0, name="melody")
    t, want = 0, []
    for pitch, length, rest in notes:
        t += rest
        inst.notes.append(pretty_midi.Note(90, pitch, t * step, (t + length) * step))
        want.append((pitch, t, t + length))
        t += length
    pm.instruments.append(inst)
    melody = midi_to_melody(read_midi(midi_to_bytes(pm)))
    back = read_midi(midi_to_bytes(melody_to_midi(melody, with_chords=False)))
    got = [(n.pitch, round(n.start / step), round(n.end / step)) for n in back.instruments[0].notes]
    assert got == want
    assert back.get_tempo_changes()[1][0] == pytest.approx(qpm, rel=1e-3)
