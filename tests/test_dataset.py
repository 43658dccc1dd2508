import hashlib
import zipfile

import numpy as np
import pytest

from explorer.data.dataset import DatasetError, SegmentDataset, augment_transpositions, concat, segment_tunes, split_of
from explorer.data.midi_files import tune_from_midi
from explorer.data.tune import Bar, SkipTune, grid_bars, make_tune
from explorer.music.melody import HOLD as H
from explorer.music.melody import REST as R
from tests.conftest import make_midi


def test_grid_bars_keeps_4_4_and_pairs_of_2_4():
    bars = [Bar(0, 1, (4, 4)),  # pickup
            Bar(1, 4, (4, 4)), Bar(5, 4, (4, 4)),
            Bar(9, 3, (3, 4)),
            Bar(12, 2, (2, 4)), Bar(14, 2, (2, 4)), Bar(16, 2, (2, 4)),
            Bar(18, 4, (2, 2))]
    starts, numbers, runs, dropped = grid_bars(bars)
    assert starts.tolist() == [1, 5, 12, 18]
    assert numbers.tolist() == [1, 2, 4, 7]
    assert runs.tolist() == [0, 0, 1, 2]  # the unpaired 2/4 bar breaks the run before 2/2
    assert dropped == {"partial bar": 1, "metre 3/4": 1, "unpaired 2/4 bar": 1}


def test_unpaired_two_four_at_end():
    starts, _, _, dropped = grid_bars([Bar(0, 2, (2, 4))])
    assert len(starts) == 0 and dropped == {"unpaired 2/4 bar": 1}


def test_make_tune_skips_other_metres_with_the_metre_named():
    with pytest.raises(SkipTune, match="metre 6/8"):
        make_tune("t", "a", [(60, 0, 1)], [Bar(0, 3, (6, 8))] * 2)
    with pytest.raises(SkipTune, match="no melody notes"):
        make_tune("t", "a", [], [Bar(0, 4, (4, 4))])


def test_notes_are_not_held_across_a_gap():
    # 4/4 bar, a 3/4 bar (dropped), 4/4 bar: a note ringing into the gap stops at the run end
    bars = [Bar(0, 4, (4, 4)), Bar(4, 3, (3, 4)), Bar(7, 4, (4, 4))]
    tune = make_tune("t", "a", [(60, 3, 9), (62, 7, 8)], bars)
    assert tune.tokens.tolist()[12:20] == [60, H, H, H, 62, H, H, H]
    assert tune.runs.tolist() == [0, 1] and tune.bar_numbers.tolist() == [0, 2]


def _tune(tune_id, n_bars=6, pitch=60):
    notes = [(pitch + (i % 5), i, i + 1) for i in range(n_bars * 4)]
    return tune_from_midi(make_midi(notes), "test", tune_id)


def test_segments_windows_hop_and_provenance():
    tune = _tune("a", n_bars=7)
    ds = segment_tunes([tune], bars=2)
    assert len(ds) == 3 and ds.bar.tolist() == [0, 2, 4] and ds.tokens.shape == (3, 32)
    ds = segment_tunes([tune], bars=2, hop=1)
    assert len(ds) == 6
    m = ds.melody(1)
    assert m.meta["tune_id"] == "a" and m.meta["bar"] == 1 and m.meta["source"] == "test"


def test_window_inside_a_note_re_articulates_it_and_empty_windows_are_counted():
    notes = [(60, 0, 12), (64, 16, 17)]  # a whole-note tied over 3 bars, then a rest bar
    tune = tune_from_midi(make_midi(notes + [(62, 24, 25)]), "t", "x")
    skipped = {}
    ds = segment_tunes([tune], bars=1, skipped=skipped)
    # bars 2 and 3 lie inside the long note: each starts by re-articulating it
    assert ds.bar.tolist() == [0, 1, 2, 4, 6]
    assert ds.tokens[1].tolist() == [60] + [H] * 15
    assert skipped == {"segment without notes": 2}  # bars 4 and 6 are silent
    assert ds.tokens[3].tolist() == [64, H, H, H] + [R] * 12


def test_split_is_by_tune_and_deterministic():
    tunes = [_tune(f"tune{i}", n_bars=4) for i in range(60)]
    ds = segment_tunes(tunes)
    for t in range(len(tunes)):
        assert len(set(ds.split[ds.tune == t].tolist())) == 1
    assert split_of("test", "tune7") == split_of("test", "tune7")
    counts = ds.counts()
    assert counts["train"] > counts["valid"] and counts["train"] > counts["test"]


def test_save_load_round_trip_and_byte_identical(tmp_path):
    ds = segment_tunes([_tune("a"), _tune("b", pitch=70)])
    ds.chroma[0, 3, [0, 4, 7]] = 1
    p1, p2 = ds.save(tmp_path / "a.npz"), ds.save(tmp_path / "b.npz")
    assert hashlib.sha256(p1.read_bytes()).digest() == hashlib.sha256(p2.read_bytes()).digest()
    back = SegmentDataset.load(p1)
    assert np.array_equal(back.tokens, ds.tokens) and np.array_equal(back.chroma, ds.chroma)
    assert back.tune_id.tolist() == ["a", "b"] and back.split.tolist() == ds.split.tolist()
    np.load(p1)  # plain numpy can read it too


def test_foreign_and_damaged_files_are_refused(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(DatasetError, match="not a Latent Explorer dataset"):
        SegmentDataset.load(bad)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    with pytest.raises(DatasetError, match="no meta.json"):
        SegmentDataset.load(foreign)
    ds = segment_tunes([_tune("a")])
    good = ds.save(tmp_path / "good.npz")
    cut = tmp_path / "cut.npz"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(cut, "w") as zout:
        for name in zin.namelist():
            if name != "tokens.npy":
                zout.writestr(name, zin.read(name))
    with pytest.raises(DatasetError, match="tokens"):
        SegmentDataset.load(cut)


def test_concat_and_augment():
    a, b = segment_tunes([_tune("a")]), segment_tunes([_tune("b")])
    ab = concat([a, b])
    assert len(ab) == len(a) + len(b) and ab.tune_id.tolist() == ["a", "b"]
    assert ab.melody(len(a)).meta["tune_id"] == "b"
    ab.tune_split[:] = "train"
    aug = augment_transpositions(ab, shifts=[-2, 0, 3])
    assert len(aug) == 3 * len(ab)
    assert sorted(set(aug.transpose.tolist())) == [-2, 0, 3]
    up = aug.tokens[aug.transpose == 3]
    assert np.array_equal(up[up < 128], ab.tokens[ab.tokens < 128].reshape(-1)[: (up < 128).sum()] + 3)


def test_a_short_bar_and_the_pickup_after_it_make_one_bar():
    """ABC writes a strain's last bar short when the next strain starts with a pickup: the
    two join into one full 4/4 bar, so the run of bars (and 16-bar windows) goes on."""
    bars = [Bar(0, 1, (4, 4)),  # the tune's own pickup: nothing before it, dropped
            Bar(1, 4, (4, 4)), Bar(5, 3, (4, 4)),  # a strain ending on a 3-beat bar
            Bar(8, 1, (4, 4)), Bar(9, 4, (4, 4)),  # the next strain's 1-beat pickup, then a full bar
            Bar(13, 3, (4, 4)), Bar(16, 2, (4, 4))]  # 3 + 2 beats: not a bar, both dropped
    starts, numbers, runs, dropped = grid_bars(bars)
    assert starts.tolist() == [1, 5, 9]
    assert numbers.tolist() == [1, 2, 4]
    assert runs.tolist() == [0, 0, 0]  # one run: the joined bar bridges the strains
    assert dropped == {"partial bar": 3, "joined": 1}
    tune = make_tune("t", "a", [(60, 1, 2), (62, 5, 6), (64, 8, 9), (65, 9, 10)], bars)
    assert tune.stats["bars_joined"] == 1 and tune.stats["bars_dropped"] == {"partial bar": 3}


def test_music21_tune_with_repeats_written_out_for_long_windows():
    """A 4-bar strain between repeat marks gives 4 bars, or 8 with expand_repeats (then one
    8-bar window fits where none did)."""
    from explorer.data.music21_corpus import load_music21_item

    abc = "X:1\nT:Strain\nM:4/4\nL:1/4\nK:C\n|:CDEF|GABc|cBAG|FEDC:|\n"
    item = ("abc", "test.abc", "1", abc)
    plain = load_music21_item(item, "test")[0]
    twice = load_music21_item(item, "test", expand_repeats=True)[0]
    assert len(plain.bar_numbers) == 4 and len(twice.bar_numbers) == 8
    assert np.array_equal(twice.tokens[:64], twice.tokens[64:]) and np.array_equal(twice.tokens[:64], plain.tokens)
    assert len(segment_tunes([plain], bars=8)) == 0 and len(segment_tunes([twice], bars=8)) == 1
