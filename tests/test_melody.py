import numpy as np
import pretty_midi
import pytest

from explorer.music.chords import ChordError, harte_to_chroma, progression_to_chroma, symbol_to_chroma
from explorer.music.convert import melody_to_midi, midi_to_melody
from explorer.music.melody import (
    HOLD,
    REST,
    Melody,
    MelodyError,
    Note,
    clean_tokens,
    notes_to_tokens,
    tokens_to_notes,
    tokens_to_rhythm,
    transpose_tokens,
)
from tests.conftest import make_midi

H, R = HOLD, REST


def test_tokens_to_notes_by_hand():
    tok = [60, H, H, R, 62, 64, H, R]
    assert tokens_to_notes(tok) == [Note(60, 0, 3), Note(62, 4, 5), Note(64, 5, 7)]


def test_notes_to_tokens_round_trip_and_skyline():
    notes = [(60, 0, 3), (62, 4, 5), (64, 5, 7)]
    assert notes_to_tokens(notes, 8).tolist() == [60, H, H, R, 62, 64, H, R]
    # two notes on one step: the higher wins; a sounding note is cut by the next onset
    assert notes_to_tokens([(60, 0, 4), (67, 0, 2), (65, 2, 6)], 6).tolist() == [67, H, 65, H, H, H]
    # clipped to the length
    assert notes_to_tokens([(60, 6, 20)], 8).tolist() == [R] * 6 + [60, H]


def test_rhythm_view():
    assert tokens_to_rhythm([60, H, R, 61]).tolist() == [0, 1, 2, 0]


def test_clean_tokens_turns_orphan_holds_into_rests():
    assert clean_tokens([H, 60, H, R, H, 62]).tolist() == [R, 60, H, R, R, 62]
    batch = clean_tokens(np.array([[H, 60], [60, H]]))
    assert batch.tolist() == [[R, 60], [60, H]]


def test_bad_tokens_are_refused():
    with pytest.raises(MelodyError, match="0..129"):
        Melody([60, 130])
    with pytest.raises(MelodyError, match=r"\(T, 12\)"):
        Melody([60, H], np.zeros((3, 12)))
    with pytest.raises(MelodyError, match="qpm"):
        Melody([60], qpm=0)


def test_transpose_moves_pitches_and_chroma():
    m = Melody([60, H, R, 67], np.eye(12, dtype=np.uint8)[[0, 0, 7, 7]])
    t = m.transpose(2)
    assert t.tokens.tolist() == [62, H, R, 69]
    assert t.chroma[0].argmax() == 2 and t.chroma[3].argmax() == 9
    with pytest.raises(MelodyError):
        transpose_tokens([127], 1)


def test_midi_to_tokens_to_midi_keeps_every_on_grid_note():
    # 2 bars at 100 qpm: 16ths, 8ths, a dotted quarter, a rest, a tied-over-barline note
    notes = [(60, 0, 0.25), (62, 0.25, 0.5), (64, 0.5, 1.0), (65, 1.0, 2.5), (67, 3.0, 3.5),
             (69, 3.5, 4.75), (71, 5.0, 6.0), (72, 6.0, 8.0)]
    chords = [(48, 0, 4), (52, 0, 4), (55, 0, 4), (53, 4, 8), (57, 4, 8), (60, 4, 8)]
    pm = make_midi(notes, qpm=100, chords=chords)
    mel = midi_to_melody(pm)
    assert mel.n_steps == 32 and mel.qpm == pytest.approx(100)
    assert mel.tokens[:4].tolist() == [60, 62, 64, H]
    assert mel.chroma[0].tolist() == [1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0]  # C E G
    assert mel.chroma[16].tolist() == [1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0]  # F A C
    back = melody_to_midi(mel)
    spq = 60 / 100
    got = [(n.pitch, round(n.start / spq, 6), round(n.end / spq, 6)) for n in back.instruments[0].notes]
    assert got == [(p, float(s), float(e)) for p, s, e in notes]
    # and once more through the grid: identical tokens and chroma
    again = midi_to_melody(back)
    assert np.array_equal(again.tokens, mel.tokens) and np.array_equal(again.chroma, mel.chroma)


def test_off_grid_notes_snap_to_the_nearest_step():
    pm = make_midi([(60, 0.02, 0.98), (64, 1.0 + 1 / 3, 2.0)])  # a late onset, a triplet
    mel = midi_to_melody(pm, n_steps=16)
    assert mel.tokens[0] == 60 and mel.tokens[5] == 64


def test_midi_to_melody_rejects_drums():
    pm = make_midi([(36, 0, 1)], drums=True)
    with pytest.raises(MelodyError, match="pitched"):
        midi_to_melody(pm)


def test_chord_labels():
    assert np.flatnonzero(harte_to_chroma("B:maj")).tolist() == [3, 6, 11]
    assert np.flatnonzero(harte_to_chroma("A:min7")).tolist() == [0, 4, 7, 9]
    assert harte_to_chroma("N").sum() == 0
    assert np.flatnonzero(symbol_to_chroma("Am")).tolist() == [0, 4, 9]
    assert np.flatnonzero(symbol_to_chroma("G7")).tolist() == [2, 5, 7, 11]
    with pytest.raises(ChordError):
        symbol_to_chroma("Hxq")
    prog = progression_to_chroma("C G Am F", 32, 8)
    assert prog.shape == (32, 12)
    assert np.flatnonzero(prog[8]).tolist() == [2, 7, 11] and np.flatnonzero(prog[31]).tolist() == [0, 5, 9]


def test_melody_to_midi_writes_chords_and_tempo():
    m = Melody([60, H, H, H] * 4, np.tile([1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0], (16, 1)), qpm=90)
    pm = melody_to_midi(m, program=40)
    assert pm.instruments[0].program == 40 and len(pm.instruments[0].notes) == 4
    assert sorted(n.pitch for n in pm.instruments[1].notes) == [60, 64, 67]
    assert pm.get_tempo_changes()[1][0] == pytest.approx(90)
    assert pm.get_end_time() == pytest.approx(16 * 60 / 90 / 4)
    assert isinstance(pm, pretty_midi.PrettyMIDI)
