"""Tests of explorer.audio: FluidSynth rendering, loudness, WAV encoding and the content cache."""

import io
import shutil
import sys
import threading

import numpy as np
import pretty_midi
import pyloudnorm
import pytest
import soundfile

from explorer.audio import (
    AUDIO_CACHE,
    TARGET_LUFS,
    AudioUnavailable,
    audio_status,
    default_soundfont,
    normalize_loudness,
    render,
    render_file,
    render_wav_bytes,
    to_wav_bytes,
)
from explorer.audio import synth
from explorer.paths import cache_root

SR = 22050
C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]


def scale_midi(velocity=100, program=0, qpm=120.0, n_notes=16, beats_per_note=0.5):
    """C-major scale up and up again, one instrument; 16 eighths at 120 qpm last 4 s."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    inst = pretty_midi.Instrument(program=program)
    step = 60.0 / qpm * beats_per_note
    for i in range(n_notes):
        pitch = C_MAJOR[i % len(C_MAJOR)]
        inst.notes.append(pretty_midi.Note(velocity, pitch, i * step, (i + 1) * step))
    pm.instruments.append(inst)
    return pm


def midi_bytes(pm):
    buffer = io.BytesIO()
    pm.write(buffer)
    return buffer.getvalue()


def loudness(x, sr=SR):
    return pyloudnorm.Meter(sr).integrated_loudness(np.asarray(x, dtype=np.float64))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets an empty cache folder under tmp_path and an empty memory cache."""
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))
    AUDIO_CACHE.clear_memory()
    yield tmp_path / "cache"
    AUDIO_CACHE.clear_memory()


def test_audio_status_available_here():
    available, message = audio_status()
    assert available, message
    assert "FluidSynth" in message


def test_default_soundfont_is_pretty_midis():
    path = default_soundfont()
    assert path.name == "TimGM6mb.sf2" and path.is_file()


def test_render_is_nonsilent_mono_float32_of_the_right_length():
    pm = scale_midi()
    assert pm.get_end_time() == pytest.approx(4.0)
    x = render(pm, sample_rate=SR)
    assert x.dtype == np.float32 and x.ndim == 1
    assert np.sqrt(np.mean(x**2)) > 0.05
    assert np.abs(x).max() <= 0.99
    tail = len(x) / SR - 4.0
    assert 0.0 < tail <= 1.0 + 1 / SR
    # nothing trimmed from the start: the first note sounds within the first 50 ms
    assert np.abs(x[: int(0.05 * SR)]).max() > 0.01


def test_renders_from_warm_synths_equal_pretty_midis_own_sample_for_sample(monkeypatch):
    """Each render takes a synthesiser made ahead of time (soundfont loaded) and uses it once: the
    samples are pretty_midi's own, render after render, whether the pool had one or not."""
    monkeypatch.setattr(synth._WARM, "DELAY", 0.05)
    sf2 = str(synth.default_soundfont())
    pieces = [scale_midi(program=p, velocity=v) for p, v in ((0, 100), (40, 70), (73, 110))]
    two = scale_midi()
    two.instruments.append(pretty_midi.Instrument(program=32))
    two.instruments[1].notes.append(pretty_midi.Note(90, 40, 0.25, 3.0))
    pieces.append(two)
    own = [np.clip(pm.fluidsynth(fs=SR, synthesizer=sf2, normalize=False), -1, 1).astype(np.float32) for pm in pieces]
    made = []
    real = synth._WarmSynths.make
    monkeypatch.setattr(synth._WarmSynths, "make", staticmethod(lambda *a: made.append(a) or real(*a)))
    for round_ in range(3):
        for pm, want in zip(pieces, own):
            assert np.array_equal(render(pm, sample_rate=SR, normalize=False), want), round_
        for _ in range(100):  # the pool is made whole in the background
            if len(synth._WARM._ready.get((sf2, SR, synth._soundfont_stamp(sf2)), [])) == synth._WARM.SIZE:
                break
            threading.Event().wait(0.02)
    assert len(made) >= 3 * len(pieces)  # one new synthesiser per render, none used twice


def test_render_follows_the_sample_rate():
    x = render(scale_midi(n_notes=4), sample_rate=16000)
    assert 1.0 * 16000 < len(x) <= 2.0 * 16000 + 1


def test_qpm_60_doubles_the_music():
    pm = scale_midi()
    fast = render(pm)
    slow = render(pm, qpm=60)
    tail = len(fast) / SR - 4.0
    assert len(slow) / SR - tail == pytest.approx(8.0, abs=0.01)
    # the caller's object is not re-timed
    assert pm.get_end_time() == pytest.approx(4.0)


def test_program_override_changes_the_sound_but_not_the_caller():
    pm = scale_midi(program=0)
    piano = render(pm)
    violin = render(pm, program=40)
    assert piano.shape == violin.shape
    assert not np.allclose(piano, violin, atol=1e-3)
    assert pm.instruments[0].program == 0


def test_program_override_leaves_drums_alone():
    pm = pretty_midi.PrettyMIDI()
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes = [pretty_midi.Note(100, 36 + (i % 3) * 2, i * 0.25, i * 0.25 + 0.1)
                   for i in range(8)]
    pm.instruments.append(drums)
    np.testing.assert_array_equal(render(pm), render(pm, program=40))


def test_loudness_normalisation_evens_out_velocities():
    soft = render(scale_midi(velocity=40))
    loud = render(scale_midi(velocity=110))
    assert abs(loudness(soft) - loudness(loud)) < 1.0
    assert loudness(loud) == pytest.approx(TARGET_LUFS, abs=1.0)
    raw_soft = render(scale_midi(velocity=40), normalize=False)
    raw_loud = render(scale_midi(velocity=110), normalize=False)
    assert loudness(raw_loud) - loudness(raw_soft) > 6.0


def test_normalize_loudness_edge_cases():
    np.testing.assert_array_equal(normalize_loudness(np.zeros(SR), SR), np.zeros(SR))
    np.testing.assert_array_equal(normalize_loudness(np.zeros(10), SR), np.zeros(10))
    short = 0.01 * np.sin(np.linspace(0, 100, int(0.1 * SR)))
    out = normalize_loudness(short, SR)
    assert np.abs(out).max() == pytest.approx(synth.FALLBACK_PEAK, rel=1e-5)
    # a loud click train would need more than full scale at -16 LUFS: peak-limited instead
    clicks = np.zeros(SR)
    clicks[::2205] = 1.0
    assert np.abs(normalize_loudness(clicks, SR)).max() <= synth.PEAK_CEILING + 1e-6


def test_empty_midi_gives_a_little_silence():
    x = render(pretty_midi.PrettyMIDI())
    assert 0 < len(x) <= SR and not x.any()
    wav = render_wav_bytes(pretty_midi.PrettyMIDI())
    assert wav.startswith(b"RIFF")


def test_render_accepts_bytes_and_paths(tmp_path):
    pm = scale_midi(n_notes=4)
    path = tmp_path / "scale.mid"
    pm.write(str(path))
    from_object = render(pm)
    np.testing.assert_allclose(render(midi_bytes(pm)), from_object, atol=1e-4)
    np.testing.assert_allclose(render(path), from_object, atol=1e-4)
    np.testing.assert_allclose(render(str(path)), from_object, atol=1e-4)


def test_wav_bytes_read_back():
    x = render(scale_midi(n_notes=4))
    wav = to_wav_bytes(x, SR)
    assert wav.startswith(b"RIFF") and wav[8:12] == b"WAVE"
    back, sr = soundfile.read(io.BytesIO(wav), dtype="float32")
    assert sr == SR and back.shape == x.shape
    np.testing.assert_allclose(back, x, atol=2 / 2**15)
    info = soundfile.info(io.BytesIO(wav))
    assert info.subtype == "PCM_16"


@pytest.mark.parametrize("bad", [np.array([0.0, 1.5]), np.array([np.nan]), np.zeros((2, 2, 2))])
def test_to_wav_bytes_refuses_bad_samples(bad):
    with pytest.raises(ValueError):
        to_wav_bytes(bad, SR)


def test_render_wav_bytes_is_cached_in_memory_and_on_disk(monkeypatch, isolated_cache):
    pm = scale_midi(n_notes=4)
    first = render_wav_bytes(pm, program=5)
    assert cache_root() == isolated_cache
    files = list((isolated_cache / "audio").glob("*.wav"))
    assert len(files) == 1 and files[0].read_bytes() == first
    assert not list((isolated_cache / "audio").glob("*.tmp"))

    def no_render(*args, **kwargs):
        raise AssertionError("rendered again instead of using the cache")

    monkeypatch.setattr(synth, "render", no_render)
    assert render_wav_bytes(pm, program=5) == first  # from memory
    AUDIO_CACHE.clear_memory()
    assert render_wav_bytes(midi_bytes(pm), program=5) == first  # from disk, same content
    with pytest.raises(AssertionError, match="rendered again"):
        render_wav_bytes(pm, program=6)  # another setting is another key


def test_cache_key_follows_the_soundfont_file(tmp_path):
    copy = tmp_path / "copy.sf2"
    shutil.copyfile(default_soundfont(), copy)
    pm = scale_midi(n_notes=2)
    default = render_wav_bytes(pm)
    other = render_wav_bytes(pm, soundfont=copy)
    assert other == default  # same sounds, but rendered under its own key
    assert len(list((cache_root() / "audio").glob("*.wav"))) == 2


@pytest.mark.parametrize("kwargs, fragment", [
    ({"program": 128}, "0..127"),
    ({"program": -1}, "0..127"),
    ({"program": 3.0}, "0..127"),
    ({"qpm": 0}, "qpm"),
    ({"qpm": -90.0}, "qpm"),
    ({"qpm": float("nan")}, "qpm"),
    ({"sample_rate": 100}, "sample_rate"),
    ({"soundfont": "/no/such/font.sf2"}, "/no/such/font.sf2"),
])
def test_bad_settings_raise_value_error_naming_the_value(kwargs, fragment):
    for function in (render, render_wav_bytes):
        with pytest.raises(ValueError, match=fragment.replace(".", r"\.")):
            function(scale_midi(n_notes=2), **kwargs)


def test_soundfonts_other_than_sf2_are_refused(tmp_path):
    text = tmp_path / "font.txt"
    text.write_text("not a soundfont")
    with pytest.raises(ValueError, match=r"font\.txt.*\.sf2"):
        render(scale_midi(n_notes=2), soundfont=text)
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError, match=r"fake\.sf2.*SoundFont 2"):
        render(scale_midi(n_notes=2), soundfont=fake)


def test_render_file_writes_a_wav_of_the_right_duration(tmp_path):
    src = tmp_path / "scale.mid"
    scale_midi().write(str(src))
    out = tmp_path / "scale.wav"
    duration = render_file(src, out, qpm=60)
    info = soundfile.info(str(out))
    assert info.samplerate == SR
    assert info.duration == pytest.approx(duration)
    assert 8.0 < duration <= 9.0 + 1 / SR


def test_render_file_names_an_unreadable_midi(tmp_path):
    src = tmp_path / "broken.mid"
    src.write_bytes(b"this is not MIDI")
    with pytest.raises(ValueError, match=r"broken\.mid: not a readable MIDI file \("):
        render_file(src, tmp_path / "out.wav")
    with pytest.raises(ValueError, match=r"missing\.mid: not a readable MIDI file \("):
        render_file(tmp_path / "missing.mid", tmp_path / "out.wav")
    with pytest.raises(ValueError, match=r"\.wav"):
        render_file(src, tmp_path / "out.mp3")


def test_render_refuses_other_types():
    with pytest.raises(TypeError, match="PrettyMIDI"):
        render(42)


def test_without_fluidsynth_audio_is_off_with_install_hints(monkeypatch):
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # makes `import fluidsynth` fail
    audio_status.cache_clear()
    try:
        available, message = audio_status()
        assert not available
        assert "libfluidsynth3" in message and "brew install fluid-synth" in message
        with pytest.raises(AudioUnavailable, match="libfluidsynth3"):
            render(scale_midi(n_notes=2))
    finally:
        audio_status.cache_clear()
    monkeypatch.undo()
    assert audio_status()[0]
