"""Each data source on real data, landing in the sizes the issue expects."""
import json
import subprocess
import sys

import numpy as np
import pytest

from explorer.data.build import build_dataset
from explorer.data.dataset import SegmentDataset
from explorer.data.default import DEFAULT_COLLECTIONS, shipped_default_path
from explorer.music.melody import N_PITCHES, STEPS_PER_BAR


def _no_tune_in_two_splits(ds):
    for t in np.unique(ds.tune):
        assert len(set(ds.split[ds.tune == t].tolist())) == 1


def _downbeats_strongest(ds, factor=3):
    """Onsets fall on downbeats and beats far more than on 16th off-beats."""
    pos = np.flatnonzero((ds.tokens < N_PITCHES).ravel()) % STEPS_PER_BAR
    hist = np.bincount(pos, minlength=STEPS_PER_BAR)
    assert hist[0] > factor * hist[1] and hist[4] > factor * hist[3], hist


@pytest.mark.shared
def test_nottingham_full_build(shared_data):
    ds, report = build_dataset("nottingham", shared_data / "nottingham", workers=2, progress=False, log=lambda s: None)
    n = len(ds)
    assert 9000 * 0.85 <= n <= 10000 * 1.15, n
    assert report.skipped["metre 6/8"] > 300 and report.skipped["metre 3/4"] > 40
    assert ds.chroma.any(axis=(1, 2)).mean() > 0.9  # the chord track gives a chroma
    _no_tune_in_two_splits(ds)
    _downbeats_strongest(ds)


@pytest.mark.shared
def test_pop909_slice_builds_on_its_beats(shared_data):
    ds, report = build_dataset("pop909", shared_data / "pop909", limit=12, progress=False, log=lambda s: None)
    assert report.tunes >= 10 and len(ds) > 12 * 15
    assert ds.chroma.any(axis=(1, 2)).mean() > 0.8  # chord_midi.txt gives a chroma
    _downbeats_strongest(ds, factor=2)  # pop melodies syncopate more than folk tunes
    assert 60 < np.median(ds.tune_qpm) < 160


@pytest.mark.shared
def test_ec2vae_demo_midis_read_as_two_bars(shared_data):
    ds, report = build_dataset("midi", shared_data / "ec2vae_demo" / "2-bar-midis", progress=False, log=lambda s: None)
    assert report.items >= 10 and len(ds) >= 8


def test_shipped_default_dataset_sizes():
    """The shipped music21 build: Bach 4/4 chorales ≈ 1.7k, O'Neill's 4/4 + 2/2 (+2/4 pairs)."""
    ds = SegmentDataset.load(shipped_default_path())
    assert ds.meta["collections"] == list(DEFAULT_COLLECTIONS)
    per = {s: int((ds.source == f"music21:{s}").sum()) for s in DEFAULT_COLLECTIONS}
    assert 1700 * 0.85 <= per["bach"] <= 1700 * 1.15, per
    assert 4000 * 0.85 <= per["oneills1850"] <= 7000, per
    assert per["airdsAirs"] > 1000, per
    _no_tune_in_two_splits(ds)
    _downbeats_strongest(ds)


@pytest.mark.parametrize("coll,limit", [("bach", 12), ("oneills1850", 120)])
def test_shipped_default_matches_a_fresh_build(coll, limit):
    """A fresh build of the first tunes equals the shipped rows: the asset is not stale."""
    fresh, _ = build_dataset(f"music21:{coll}", limit=limit, workers=2, progress=False, log=lambda s: None)
    assert len(fresh) > 0
    shipped = SegmentDataset.load(shipped_default_path())
    rows = shipped.source == f"music21:{coll}"
    sub = shipped.subset(rows)
    ids = sub.tune_id[sub.tune]
    keep = np.isin(ids, fresh.tune_id[fresh.tune])
    assert keep.sum() == len(fresh)
    assert np.array_equal(sub.tokens[keep], fresh.tokens)
    assert np.array_equal(sub.chroma[keep], fresh.chroma)


def test_bad_midi_folder_says_why_and_builds_the_rest(tmp_path):
    from tests.conftest import make_midi

    folder = tmp_path / "midi"
    (folder / "sub").mkdir(parents=True)
    good = [(60 + (i % 7), i, i + 1) for i in range(16)]
    make_midi(good).write(str(folder / "good.mid"))
    make_midi(good).write(str(folder / "sub" / "also_good.midi"))
    (folder / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage that is not midi")
    (folder / "empty.mid").write_bytes(b"")
    make_midi([(36, i, i + 0.5) for i in range(8)], drums=True).write(str(folder / "drums.mid"))
    make_midi([]).write(str(folder / "nonotes.mid"))
    make_midi(good, metre=(3, 4)).write(str(folder / "waltz.mid"))
    (folder / "huge.mid").write_bytes(b"MThd" + b"\x00" * (9 * 1024 * 1024))
    out = tmp_path / "ds.npz"
    proc = subprocess.run([sys.executable, "-m", "explorer", "data", "build", "midi", "--path", str(folder),
                           "--out", str(out), "--json", "--quiet"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert sum(summary["segments"].values()) == 4
    assert summary["skipped"] == {"unreadable MIDI": 1, "empty file": 1, "drum-only": 1, "no notes": 1,
                                  "metre 3/4": 1, "file too large": 1}
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("skipped ")]
    assert len(lines) == 6
    for name in ("corrupt.mid", "empty.mid", "drums.mid", "nonotes.mid", "waltz.mid", "huge.mid"):
        assert sum(name in ln for ln in lines) == 1, name
    assert "Traceback" not in proc.stderr


def test_cli_build_is_byte_identical_and_json_keys(tmp_path, shared_data):
    outs = []
    for k in range(2):
        out = tmp_path / f"n{k}.npz"
        proc = subprocess.run([sys.executable, "-m", "explorer", "data", "build", "nottingham", "--path",
                               str(shared_data / "nottingham"), "--limit", "40", "--workers", str(k + 1), "--out",
                               str(out), "--json", "--quiet"], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        summary = json.loads(proc.stdout)
        assert set(summary["segments"]) == {"train", "valid", "test"} and isinstance(summary["skipped"], dict)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]  # also independent of the number of workers


def test_cli_errors_are_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "explorer", "data", "build", "nosuch", "--out", str(tmp_path / "x")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown source 'nosuch'" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "explorer", "data", "build", "music21:nosuch", "--out",
                           str(tmp_path / "x")], capture_output=True, text=True)
    assert proc.returncode == 2 and "no music21 corpus collection named 'nosuch'" in proc.stderr
