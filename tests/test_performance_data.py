"""Aligned performances through partitura: listing and split, score features, the codec round
trip on a real Vienna performance, and the upload aligner (a match and a mismatch)."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.data.performances import (SCORE_FEATURES, TARGETS, PerformanceDataError, decode_targets,
                                        list_performances, load_aligned, load_example, load_score, piece_score,
                                        score_notes, split_records, targets_from_midi)


@pytest.fixture(scope="module")
def vienna(shared_data):
    return list_performances(shared_data, sources=("vienna4x22",))


def test_listing_and_split_by_piece(shared_data, vienna):
    assert len(vienna) == 88
    split = split_records(vienna)
    assert {r.piece for r in split["test"]} == {"Schubert_D783_no15"}
    assert len(split["test"]) == 22 and len({r.pianist for r in split["test"]}) == 22
    assert "Schubert_D783_no15" not in {r.piece for r in split["train"]}
    emo = list_performances(shared_data, sources=("emotion",))
    assert {r.emotion for r in emo} == {"Anger", "Enjoy", "OR", "Relax", "Sad"}
    assert all(r.split == "train" and r.score_path.is_file() for r in emo)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no aligned performances"):
        list_performances(tmp_path)


def test_example_of_a_vienna_performance(vienna):
    rec = next(r for r in vienna if r.piece == "Mozart_K331_1st-mov" and r.pianist == "p01")
    ex = load_example(rec, cache=False)
    n = len(ex.score)
    assert 470 <= n <= 482  # the excerpt's notes that the pianist played
    assert ex.score.features.shape == (n, len(SCORE_FEATURES)) and ex.targets.shape == (n, len(TARGETS))
    # K331 i is in 6/8 and starts C#5 (73) over E4 and A3; velocities are MIDI / 127
    assert set(ex.score.note_array["pitch"][:3]) == {73, 64, 57}
    assert 0 < ex.targets[:, 1].min() and ex.targets[:, 1].max() <= 1
    assert np.all(np.diff(ex.score.beat) >= 0) and ex.score.beat[0] == 0 and ex.score.measure[0] == 0
    assert ex.score.n_measures >= 30
    again = load_example(rec)  # through the disk cache
    np.testing.assert_array_equal(again.targets, load_example(rec).targets)


def test_codec_round_trip_gives_the_performed_notes_back(vienna):
    rec = next(r for r in vienna if r.piece == "Chopin_op10_no3" and r.pianist == "p05")
    part, perf, alignment = load_aligned(rec)
    ex = load_example(rec, cache=False)
    decoded = decode_targets(ex.score, ex.targets)
    pna = perf.note_array()
    p_of = {a["score_id"]: a["performance_id"] for a in alignment if a["label"] == "match"}
    row = {str(i): k for k, i in enumerate(pna["id"])}
    human = pna[[row[str(p_of[str(s)])] for s in ex.score.note_array["id"]]]
    np.testing.assert_array_equal(decoded["pitch"], human["pitch"])
    np.testing.assert_array_equal(decoded["velocity"], human["velocity"])
    np.testing.assert_allclose(decoded["onset_sec"], human["onset_sec"] - human["onset_sec"].min(), atol=2e-3)
    # durations come back except grace notes and notes under the codec's 75 ms floor
    ok = (ex.score.note_array["duration_beat"] > 0) & (human["duration_sec"] > 0.08)
    assert ok.mean() > 0.9
    np.testing.assert_allclose(decoded["duration_sec"][ok], human["duration_sec"][ok], atol=2e-3)


def test_upload_aligner_finds_a_performance_and_refuses_another_piece(shared_data, vienna):
    rec = next(r for r in vienna if r.piece == "Mozart_K331_1st-mov" and r.pianist == "p01")
    notes = score_notes(piece_score(rec))
    sub, t = targets_from_midi(notes, shared_data / "vienna4x22" / "midi" / "Mozart_K331_1st-mov_p01.mid")
    ex = load_example(rec)
    assert len(sub) > 0.9 * len(ex.score)
    by_id = dict(zip(ex.score.note_array["id"], ex.targets[:, 1]))
    same = [v == by_id[i] for i, v in zip(sub.note_array["id"], t[:, 1]) if i in by_id]
    assert np.mean(same) > 0.95  # the velocities the match file gives
    with pytest.raises(PerformanceDataError, match="does not match the chosen score"):
        targets_from_midi(notes, shared_data / "vienna4x22" / "midi" / "Chopin_op38_p01.mid")


def test_music21_score_and_bad_files(tmp_path):
    from music21 import corpus

    notes = score_notes(load_score(corpus.getWork("bach/bwv846.mxl")))
    assert len(notes) > 400 and notes.features.shape[1] == len(SCORE_FEATURES)
    assert notes.note_array["pitch"][0] == 60  # the prelude opens on middle C
    head = notes.first_measures(4)
    assert head.n_measures == 4 and len(head) < len(notes)
    bad = tmp_path / "broken.musicxml"
    bad.write_text("<score-partwise><part id='P1'><measure")
    with pytest.raises(PerformanceDataError, match="does not parse"):
        load_score(bad)
    with pytest.raises(PerformanceDataError, match="accepted"):
        load_score(tmp_path / "x.pdf")


def test_performance_midi_reader_sorts_by_onset_and_names_bad_files(tmp_path):
    from explorer.data.performance_io import load_performance_midi, performed_to_midi

    pna = np.array([(1.0, 0.5, 64, 80), (0.0, 0.25, 60, 100)],
                   dtype=[("onset_sec", "f4"), ("duration_sec", "f4"), ("pitch", "i4"), ("velocity", "i4")])
    path = tmp_path / "two.mid"
    performed_to_midi(pna).write(str(path))
    back = load_performance_midi(path)
    assert back["pitch"].tolist() == [60, 64] and back["velocity"].tolist() == [100, 80]
    np.testing.assert_allclose(back["onset_sec"], [0.0, 1.0], atol=1e-3)
    np.testing.assert_allclose(back["duration_sec"], [0.25, 0.5], atol=1e-3)
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file")
    with pytest.raises(PerformanceDataError, match="does not parse as MIDI"):
        load_performance_midi(bad)


def test_the_public_names_come_from_the_three_modules():
    import explorer.data.performances as facade
    from explorer.data import performance_cache, performance_features, performance_io

    homes = (performance_io, performance_features, performance_cache)
    for name in facade.__all__:
        assert sum(getattr(m, name, None) is getattr(facade, name) for m in homes) >= 1, name
