"""MIDI-VAE: the multi-track converter on hand-built music with known answers and on bad files, the
model's shapes, its style dims as the classifier, style swaps, a checkpoint round trip, a few training
steps on real music (music21's Bach and Mozart), the training command (resume) and the evaluation."""
from __future__ import annotations

import io
import json

import numpy as np
import pretty_midi
import pytest
import torch

from explorer.data import multitrack as mt
from explorer.data.tune import SkipTune
from explorer.models.midivae import MIDIVAE, MIDIVAEConfig, history, swap_style
from clip_players import players

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------------ hand-built music
def midi(tracks, ts=((4, 4),), resolution=480, qpm=120.0) -> pretty_midi.PrettyMIDI:
    """tracks: [(program, is_drum, [(pitch, start_q, end_q, velocity), …])]; time in quarters."""
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=qpm)
    for num, den in ts:
        pm.time_signature_changes.append(pretty_midi.TimeSignature(num, den, 0.0))
    sec = 60.0 / qpm
    for program, drum, notes in tracks:
        inst = pretty_midi.Instrument(program=program, is_drum=drum)
        inst.notes = [pretty_midi.Note(v, p, s * sec, e * sec) for p, s, e, v in notes]
        pm.instruments.append(inst)
    return pm


def to_bytes(pm) -> bytes:
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def toy_bars(n_pieces=40, seed=0) -> mt.MultiTrackBars:
    """Two made-up styles: 'hi' (eighths high up, piano) and 'lo' (quarters low down, strings)."""
    rng = np.random.default_rng(seed)
    pieces, styles = [], []
    for k in range(n_pieces):
        s = k % 2
        base, dur = (72, 0.5) if s == 0 else (48, 1.0)
        notes = [(base + int(rng.integers(0, 12)), q * dur, (q + 1) * dur, int(rng.integers(40, 120)))
                 for q in range(int(32 / dur))]
        bass = [(base - 12, q, q + 2, 80) for q in range(0, 32, 2)]
        pieces.append(mt.Piece("toy", f"p{k}", mt.make_tracks([(0 if s == 0 else 5, notes, "a"), (4, bass, "b")])))
        styles.append(s)
    return mt.bars_of_pieces(pieces, ["hi", "lo"], styles)


# ------------------------------------------------------------------------------------ the converter
def test_midi_to_bars_known_answer():
    pm = midi([(40, False, [(72, 0, 1, 100), (74, 1, 2, 80)]),        # violin: strings family (5)
               (0, False, [(64, 0, 2, 60), (48, 0, 2, 48), (52, 4, 5, 127)])])  # piano: two voices
    ds = mt.bars_of_pieces([mt.piece_from_midi(pm, "t", "x")], ["a"], [0])
    assert len(ds) == 2 and ds.pitch.shape == (2, 4, 16)
    s = mt.SILENCE
    want = np.full((4, 16), s)
    want[0, :4], want[0, 4:8] = 72 - 24, 74 - 24
    want[1, :8] = 64 - 24
    want[2, :8] = 48 - 24
    np.testing.assert_array_equal(ds.pitch[0], want)
    assert ds.velocity[0, 0, 0] == pytest.approx(0.5 + 0.5 * 100 / 127) and ds.velocity[0, 0, 4] == pytest.approx(
        0.5 + 0.5 * 80 / 127)
    assert ds.velocity[0, 1, 0] == pytest.approx(0.5 + 0.5 * 60 / 127)
    assert (ds.velocity[0] > 0).sum() == 4  # onsets only: held steps are 0
    np.testing.assert_array_equal(ds.instrument[0], [5, 0, 0, 0])
    # bar 2 (quarters 4-8): the piano's E3 is its top voice; the second piano voice is silent
    assert ds.pitch[1, 1, 0] == 52 - 24 and (ds.pitch[1, 2] == s).all() and ds.prev[1] == 0 and ds.prev[0] == -1


def test_fewer_tracks_give_further_voices_from_the_polyphonic_track_and_pitches_fold():
    chord = [(p, 0, 4, 90) for p in (60, 64, 67, 72)]
    pm = midi([(0, False, chord + [(100, 0, 1, 90), (12, 4, 5, 90)])])
    piece = mt.piece_from_midi(pm, "t", "chord")
    assert mt.choose_voices(piece.tracks) == [(0, 1), (0, 2), (0, 3), (0, 4)]
    ds = mt.bars_of_pieces([piece], ["a"], [0])
    assert ds.pitch[0, 0, 0] == 76 - 24  # 100 folded two octaves down into 24..83
    np.testing.assert_array_equal(ds.pitch[0, 1:, 0] + 24, [72, 67, 64])
    assert ds.pitch[0, 3, 4] + 24 == 60  # the fourth-highest of five sounding notes
    assert ds.pitch[1, 0, 0] + 24 == 24 and (ds.pitch[1, 1:] == mt.SILENCE).all()  # 12 folded up, alone in bar 2


def test_two_four_bars_pair_and_silent_bars_drop():
    pm = midi([(0, False, [(60, 0, 1, 90), (62, 2, 3, 90), (64, 8, 9, 90)])], ts=((2, 4),))
    ds = mt.bars_of_pieces([mt.piece_from_midi(pm, "t", "x")], ["a"], [0])
    assert len(ds) == 2 and list(ds.bar) == [0, 2]  # 16 steps = two 2/4 bars; window 1 is silent
    assert ds.pitch[0, 0, 8] + 24 == 62 and list(ds.prev) == [-1, -1]


def test_music21_score_known_answer():
    from music21 import meter, note, stream

    s = stream.Score()
    for pitches in (("C5", "D5"), ("C3", "G2")):
        p = stream.Part()
        p.append(meter.TimeSignature("4/4"))
        for name in pitches:
            p.append(note.Note(name, quarterLength=2.0))
        s.insert(0, p)
    ds = mt.bars_of_pieces([mt.piece_from_music21(s, "m21", "toy")], ["a"], [0])
    np.testing.assert_array_equal(ds.pitch[0, 0, ::8] + 24, [72, 74])
    np.testing.assert_array_equal(ds.pitch[0, 1, ::8] + 24, [48, 43])
    assert ds.velocity[0, 0, 0] == pytest.approx(mt.velocity_value(mt.DEFAULT_VELOCITY))
    assert ds.instrument[0, 0] == 52 // 8  # no instrument set: choir


@pytest.mark.parametrize("tracks, ts, reason", [
    ([(0, True, [(36, 0, 1, 100)])], ((4, 4),), "drum-only"),
    ([(0, False, [])], ((4, 4),), "no notes"),
    ([(k % 128, False, [(60, 0, 1, 90)]) for k in range(40)], ((4, 4),), "too many tracks"),
    ([(0, False, [(60, 0, 1, 90)])], ((7, 8),), "metre 7/8"),
    ([(0, False, [(60, 0, 1, 90)])], ((3, 4),), "metre 3/4"),
])
def test_bad_files_get_a_clear_reason(tracks, ts, reason):
    with pytest.raises(SkipTune) as err:
        mt.piece_from_midi_bytes(to_bytes(midi(tracks, ts=ts)), "bad.mid")
    assert err.value.reason == reason
    assert err.value.detail or reason == "no notes"


def test_split_is_by_piece_and_classes_balance():
    ds = toy_bars()
    for p in range(len(ds.piece_id)):
        assert len(set(ds.split[ds.piece == p])) == 1
    perf = [mt.Piece("batik", f"kv279_1:pianist{k}", [], group="kv279_1").split for k in range(5)]
    assert len(set(perf)) == 1  # every performance of a piece in one split
    rows = np.flatnonzero(ds.style == 0)[:30].tolist() + np.flatnonzero(ds.style == 1)[:5].tolist()
    w = ds.balanced_weights(np.asarray(rows))
    assert w[:30].sum() == pytest.approx(0.5) and w[30:].sum() == pytest.approx(0.5)


def test_dataset_file_round_trip(tmp_path):
    ds = toy_bars(8)
    back = mt.MultiTrackBars.load(ds.save(tmp_path / "toy.npz"))
    for k in ("pitch", "velocity", "instrument", "style", "piece", "bar", "prev", "piece_id", "piece_split"):
        np.testing.assert_array_equal(getattr(back, k), getattr(ds, k))
    assert back.styles == ("hi", "lo")
    with pytest.raises(ValueError, match="not a multi-track dataset"):
        np.savez(tmp_path / "other.npz", x=np.zeros(2))
        mt.MultiTrackBars.load(tmp_path / "other.npz")


# ------------------------------------------------------------------------------------ the model
def small(**kw) -> MIDIVAE:
    torch.manual_seed(0)
    return MIDIVAE(MIDIVAEConfig(styles=("hi", "lo"), z_dims=16, hidden=32, **kw))


def batch(ds, rows):
    from explorer.train.midivae import bar_batch

    return bar_batch(ds, rows, torch.device("cpu"))


def test_shapes():
    ds, m = toy_bars(6), small()
    b = batch(ds, np.arange(5))
    q = m.encode(b["pitch"], b["instrument"], b["velocity"])
    assert q.mean.shape == (5, 16) and (q.scale > 0).all()
    lp, li, v = m.decode_teacher_forced(q.mean, None, b["pitch"], b["instrument"], b["velocity"])
    assert lp.shape == (5, 4, 16, 61) and li.shape == (5, 4, 16) and v.shape == (5, 4, 16)
    p, i, vel = m.decode(q.mean, q.mean)
    assert p.shape == (5, 4, 16) and i.shape == (5, 4) and vel.shape == (5, 4, 16)
    assert ((vel == 0) | (vel >= 0.25)).all()
    assert m.layout.groups == {"style": (0, 2), "rest": (2, 16)}


def test_the_style_dims_are_the_classifier():
    ds, m = toy_bars(6), small(noise_std=0.0)
    b = batch(ds, np.arange(8))
    out = m.loss(**b)
    mu = m.encode(b["pitch"], b["instrument"], b["velocity"]).mean
    want = torch.nn.functional.cross_entropy(mu[:, :2], b["style"])
    assert float(out["style"]) == pytest.approx(want.item(), rel=1e-5)
    assert float(out["style_accuracy"]) == pytest.approx(float((mu[:, :2].argmax(1) == b["style"]).float().mean()))
    assert not any("style" in n for n, _ in m.named_parameters())  # no weights of its own


def test_swap_exchanges_exactly_the_style_dims():
    z = torch.randn(7, 16)
    out = swap_style(z, 0, 1)
    assert torch.equal(out[:, 0], z[:, 1]) and torch.equal(out[:, 1], z[:, 0]) and torch.equal(out[:, 2:], z[:, 2:])
    half = swap_style(z, 0, 1, 0.5)
    assert torch.allclose(half[:, 0], (z[:, 0] + z[:, 1]) / 2) and torch.equal(half[:, 2:], z[:, 2:])
    assert torch.equal(swap_style(z, 0, 1, 0.0), z)
    with pytest.raises(ValueError, match="strength"):
        swap_style(z, 0, 1, 1.5)
    from explorer.eval.midivae import swap_rows

    style = np.array([0, 1, 0, 1, 1, 0, 0])
    sw = swap_rows(z.numpy(), style, (style + 1) % 2)
    np.testing.assert_allclose(sw[:, [1, 0]], z.numpy()[:, :2])
    np.testing.assert_allclose(sw[:, 2:], z.numpy()[:, 2:])


def test_history_is_the_previous_bar():
    z = torch.arange(12.0).view(4, 3)
    h = history(z)
    assert torch.equal(h[0], torch.zeros(3)) and torch.equal(h[1:], z[:-1])
    h2 = history(z, np.array([-1, 0, -1, 2]))
    assert torch.equal(h2[3], z[2]) and torch.equal(h2[2], torch.zeros(3))


def test_checkpoint_round_trip(tmp_path):
    from explorer.eval.midivae import load_midivae
    from explorer.models.checkpoint import CheckpointError, save_checkpoint

    m = small()
    save_checkpoint(tmp_path / "m.safetensors", m, card={"model": "midivae"})
    back, meta = load_midivae(tmp_path / "m.safetensors")
    assert back.config == m.config and back.config.styles == ("hi", "lo")
    z = torch.randn(3, 16)
    for a, b in zip(m.eval().decode(z), back.decode(z)):
        assert torch.equal(a, b)
    from explorer.models.arvae import ARVAE, ARVAEConfig

    save_checkpoint(tmp_path / "a.safetensors", ARVAE(ARVAEConfig()))
    with pytest.raises(CheckpointError, match="not MIDI-VAE"):
        load_midivae(tmp_path / "a.safetensors")


@pytest.fixture(scope="module")
def real_bars():
    """A few Bach chorales and Mozart quartet movements of music21's corpus in 4/4 or 2/4."""
    skipped = {}
    bach = mt._music21_pieces("bach", skipped, limit=6)
    mozart = mt._music21_pieces("mozart", skipped, limit=5)
    return mt.bars_of_pieces(bach + mozart, ["bach", "mozart"], [0] * len(bach) + [1] * len(mozart))


def test_a_few_steps_lower_the_loss_on_real_music(real_bars):
    assert set(real_bars.style.tolist()) == {0, 1} and len(real_bars) > 100
    m = MIDIVAE(MIDIVAEConfig(styles=("bach", "mozart"), z_dims=32, hidden=64))
    torch.manual_seed(0)
    b = batch(real_bars, np.random.default_rng(0).choice(len(real_bars), 64, replace=False))
    gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    before = m.loss(**b, generator=gen())["loss"].item()
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    for _ in range(15):
        out = m.loss(**b)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert m.loss(**b, generator=gen())["loss"].item() < 0.8 * before


# ------------------------------------------------------------------------------------ training and evaluation
def test_train_command_writes_and_resumes(tmp_path):
    from explorer.cli import main as cli_main

    data = toy_bars().save(tmp_path / "toy.npz")
    args = ["train", "midivae", "--data", str(data), "--out", str(tmp_path / "run"), "--z-dims", "16", "--hidden",
            "32", "--valid-every", "3", "--threads", "1", "--quiet"]
    assert cli_main(args + ["--max-steps", "3", "--val-limit", "20"]) == 0
    assert (tmp_path / "run/best.safetensors").exists()
    assert cli_main(args + ["--max-steps", "5"]) == 0
    hist = json.loads((tmp_path / "run/history.json").read_text())
    assert [h["step"] for h in hist] == [3, 5]  # resumed at step 3, not from 0
    from explorer.models.checkpoint import read_metadata

    # the validation draw is recorded (20 bars, then all of them): a changed draw's losses are not compared
    n_valid = len(mt.MultiTrackBars.load(data).rows("valid"))
    assert n_valid > 20 and torch.load(tmp_path / "run/state.pt", weights_only=True)["valid_rows"] == n_valid
    assert read_metadata(tmp_path / "run/best.safetensors")["card"]["steps"] == 5
    assert cli_main(["train", "midivae", "--data", str(tmp_path / "none.npz"), "--out", str(tmp_path / "r2")]) == 2
    # explorer eval reaches the family's own evaluator
    assert cli_main(["eval", str(tmp_path / "run/best.safetensors"), "--data", str(data), "--json"]) == 0
    assert cli_main(["eval", str(tmp_path / "run/best.safetensors"), "--data", str(tmp_path / "none.npz")]) == 2


def test_reconstruction_and_onset_figures_known_answers():
    from explorer.eval.midivae import onsets_kept, reconstruction

    s = mt.SILENCE
    pitch = np.full((1, 4, 16), s)
    pitch[0, 0, :4] = 10
    vel = np.zeros((1, 4, 16), np.float32)
    vel[0, 0, [0, 2]] = [0.8, 0.6]
    orig = {"pitch": pitch, "instrument": np.array([[3, 0, 0, 0]]), "velocity": vel}
    rp = pitch.copy()
    rp[0, 0, 3] = 11
    rv = np.zeros_like(vel)
    rv[0, 0, 0] = 0.7
    rec = {"pitch": rp, "instrument": np.array([[3, 1, 1, 1]]), "velocity": rv}
    r = reconstruction(orig, rec)
    assert r["pitch_accuracy"] == pytest.approx(3 / 4) and r["instrument_accuracy"] == 1.0
    assert r["velocity_mse_at_onsets"] == pytest.approx(((0.7 - 0.8) ** 2 + 0.6 ** 2) / 2)
    assert onsets_kept(orig, rec) == pytest.approx(0.5)


def test_evaluate_on_a_trained_toy_model(tmp_path):
    from explorer.eval.midivae import ValidationEnsemble, evaluate, rolls_of

    ds = toy_bars(60)
    m = MIDIVAE(MIDIVAEConfig(styles=ds.styles, z_dims=16, hidden=48))
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    rng = np.random.default_rng(0)
    tr = ds.rows("train")
    for _ in range(60):
        out = m.loss(**batch(ds, rng.choice(tr, 64)))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    res = evaluate(m.eval(), ds)
    assert res["style_classifier"]["accuracy"] > 0.9  # the styles are far apart
    assert res["validation"]["originals"] > 0.9
    assert res["validation"]["reconstruction_kept"] == pytest.approx(
        res["validation"]["reconstructions"] / res["validation"]["originals"])
    assert 0 <= res["swap"]["onsets_kept"] <= 1 and res["recon"]["pitch_accuracy"] > 0.3
    va = ds.rows("valid")
    ens = ValidationEnsemble(rolls_of(ds, tr), ds.style[tr], rolls_of(ds, va), ds.style[va])
    assert ens.weights == {r: max(a - 0.5, 0.0) for r, a in ens.valid_accuracy.items()}


# ------------------------------------------------------------------------------------ MIDI and the page
def test_rolls_to_midi_keeps_voices_instruments_and_velocities():
    from explorer.music.multitrack_midi import rolls_to_midi, voice_notes

    s = mt.SILENCE
    p = np.full((4, 16), s)
    p[0, :8] = 60 - 24
    p[0, 8:10] = 60 - 24
    p[2, 4:6] = 40 - 24
    v = np.zeros((4, 16), np.float32)
    v[0, 0], v[0, 8], v[2, 4] = mt.velocity_value(100), mt.velocity_value(50), mt.velocity_value(127)
    assert voice_notes(p[0], v[0]) == [(60, 0, 8, 100), (60, 8, 10, 50)]  # a new onset re-strikes the pitch
    pm = rolls_to_midi(p[None], np.array([[5, 0, 4, 0]]), v[None], qpm=120)
    assert [i.name for i in pm.instruments] == ["voice 1 · strings", "voice 3 · bass"]
    assert [i.program for i in pm.instruments] == [40, 32]
    n = pm.instruments[1].notes[0]
    assert (n.pitch, n.velocity, n.start, n.end) == (40, 127, pytest.approx(0.5), pytest.approx(0.75))
    # and back: the file reads to the same rolls
    back = mt.bars_of_pieces([mt.piece_from_midi(pm, "t", "rt")], ["a"], [0])
    np.testing.assert_array_equal(back.pitch[0, :2], p[[0, 2]])
    np.testing.assert_allclose(back.velocity[0, :2], v[[0, 2]], atol=0.5 / 127)


@pytest.fixture
def midivae_models(tmp_path, monkeypatch, tmp_cache):
    from explorer.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    m = MIDIVAE(MIDIVAEConfig(styles=("bach", "mozart"), z_dims=8, hidden=16))
    save_checkpoint(tmp_path / "midivae-tiny.safetensors", m, card={"model": "midivae", "steps": 0})
    monkeypatch.setenv("LATENT_EXPLORER_MIDIVAE_MODELS", str(tmp_path))
    from explorer.ui import style_transfer_page as page

    monkeypatch.setattr(page, "assets_dir", lambda: tmp_path / "no-assets")  # the tiny model only, not the shipped
    return tmp_path


@pytest.mark.usefixtures("clear_streamlit_caches")
def test_style_transfer_page_plays_original_reconstruction_and_transfer(midivae_models):
    from helpers_app import ROOT, run_app

    at = run_app(ROOT / "pages" / "style_transfer.py", timeout=180)
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Style transfer"
    assert len(at.get("plotly_chart")) == 4  # three piano rolls and the style map (no medley yet)
    assert len(players(at)) >= 3  # a player (with its MIDI download) per version at least
    at.slider(key="st_strength").set_value(0.5).run()
    at.selectbox(key="st_corpus").set_value("Mozart K.80 iv (string quartet)").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("strength 0.5" in m.value for m in at.markdown)
    at.selectbox(key="st_medley").set_value("Bach chorale BWV 267").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 5  # the medley's roll too


def test_style_transfer_page_without_a_model_says_how_to_get_one(tmp_path, monkeypatch, tmp_cache):
    from explorer.ui import style_transfer_page as page

    from helpers_app import ROOT, run_app

    monkeypatch.setattr(page, "assets_dir", lambda: tmp_path)
    monkeypatch.setenv("LATENT_EXPLORER_MIDIVAE_MODELS", "")
    assert page.midivae_checkpoints() == {}
    at = run_app(ROOT / "pages" / "style_transfer.py")
    assert "explorer train midivae" in at.info[0].value and not at.get("plotly_chart")
    (tmp_path / "midivae").mkdir()
    (tmp_path / "midivae" / "x.safetensors").write_bytes(b"")
    assert list(page.midivae_checkpoints()) == ["x"]


def test_medley_starts_on_song_a_and_a_song_into_itself_is_its_reconstruction():
    from explorer.eval.midivae import decode_rows, encode_rows
    from explorer.ui.style_transfer_page import medley

    m = small().eval()
    a, b = toy_bars(2), toy_bars(2, seed=1)
    n = 6
    za = encode_rows(m, a, a.piece_rows(0)[:n])
    rec = decode_rows(m, za, np.arange(n) - 1)
    same = medley(m, a, a, n)
    for k in ("pitch", "instrument", "velocity"):
        np.testing.assert_array_equal(same[k], rec[k])
    mixed = medley(m, a, b, n)
    np.testing.assert_array_equal(mixed["pitch"][0], rec["pitch"][0])  # t = 0 and no history: song A's bar
    assert not np.array_equal(mixed["pitch"][1:], rec["pitch"][1:])  # then it moves towards B


def test_roll_figure_draws_each_voice_with_its_instrument_and_velocity():
    from explorer.viz.multitrack import roll_figure

    s = mt.SILENCE
    p = np.full((1, 4, 16), s)
    p[0, 0, :4], p[0, 3, 8:16] = 72 - 24, 36 - 24
    v = np.zeros((1, 4, 16), np.float32)
    v[0, 0, 0] = mt.velocity_value(127)  # voice 4 has no onset velocity: the note gets DEFAULT_VELOCITY
    fig = roll_figure({"pitch": p, "instrument": np.array([[5, 0, 0, 4]]), "velocity": v}, "t")
    assert [t.name for t in fig.data] == ["voice 1 · strings", "voice 4 · bass"]
    assert list(fig.data[1].base) == [8] and list(fig.data[1].x) == [8] and list(fig.data[1].y) == [36]
    assert fig.data[0].marker.opacity[0] == pytest.approx(1.0)
    assert fig.data[1].marker.opacity[0] == pytest.approx(0.3 + 0.7 * mt.DEFAULT_VELOCITY / 127)


def test_shipped_models_load_with_their_cards():
    from explorer.eval.midivae import load_midivae
    from explorer.models.card import target_lines
    from explorer.paths import assets_dir

    shipped = sorted((assets_dir() / "midivae").glob("*.safetensors"))
    assert shipped, "no MIDI-VAE model is shipped in assets/midivae"
    for path in shipped:
        model, meta = load_midivae(path)
        card = meta["card"]
        pair = card["data"]["pair"]
        assert path.stem == f"midivae-{pair}" and model.config.styles == tuple(mt.PAIRS[pair])
        assert card["eval"]["bars"] > 0 and card["data"]["test_pieces"]
        lines = target_lines("midivae", card["eval"])
        assert len(lines) == 4 and all(ln in path.with_suffix(".md").read_text() for ln in lines)
