"""Render MIDI to loudness-normalised audio with FluidSynth: sample arrays, WAV bytes, WAV files.

FluidSynth is optional. The ``fluidsynth`` module (pyfluidsynth) is imported only when
synthesis is asked for; without it, or without the libfluidsynth shared library it loads,
:func:`audio_status` says so with the install commands and :func:`render` raises
:class:`AudioUnavailable`, so callers can switch audio off and keep everything else.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import io
import math
import operator
import os
import pathlib
import threading

import numpy as np
import pretty_midi
import pyloudnorm
import soundfile

from explorer.audio.cache import ContentCache
from explorer.limits import limit, mb
from explorer.paths import content_key

__all__ = [
    "AUDIO_CACHE",
    "AudioUnavailable",
    "INSTALL_HINT",
    "TARGET_LUFS",
    "audio_status",
    "default_soundfont",
    "normalize_loudness",
    "render",
    "render_file",
    "render_wav_bytes",
    "to_wav_bytes",
]

#: Integrated loudness (LUFS, ITU-R BS.1770) that :func:`normalize_loudness` aims for.
TARGET_LUFS = -16.0
#: Largest absolute sample value after normalisation (a peak limit below full scale).
PEAK_CEILING = 0.99
#: Peak level for audio too short (< 0.4 s) or too quiet for a loudness measurement.
FALLBACK_PEAK = 0.5
#: Length (s) of the silence returned for a MIDI without notes.
EMPTY_SECONDS = 0.1
#: Sample rates (Hz) FluidSynth accepts.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 96000
#: Where the two FluidSynth packages come from.
INSTALL_HINT = (
    "Install the FluidSynth library - Debian/Ubuntu: "
    "`apt-get install -y --no-install-recommends libfluidsynth3`, macOS: "
    "`brew install fluid-synth` - and its Python binding with `pip install pyfluidsynth`, "
    "then restart."
)
#: Cached audio on disk ( ``cache_root() / "audio" / "<key>.wav"`` ) and in memory.
AUDIO_CACHE = ContentCache("audio", ".wav")

# Part of every cache key: bump it when a change here changes the audio rendered.
_RENDER_VERSION = 1
# pyloudnorm's gating block (s); shorter audio has no integrated loudness.
_LOUDNESS_BLOCK_SECONDS = 0.4


class _WarmSynths:
    """Fresh FluidSynth synthesisers with the soundfont already loaded, made ahead of use.

    Making a synthesiser and loading the soundfont into it (what ``PrettyMIDI.fluidsynth`` does for
    every call) took a quarter of a Latent map click's server time. A synthesiser reused across
    renders would not sound the same twice (its state carries over: FluidSynth's 64-sample block
    phase, voice and filter state), so each render still gets a new one, used once: this only
    moves the making out of the user's wait. After a render takes one, a background thread makes
    the pool whole again :data:`DELAY` seconds later (after the page that asked has been served);
    an empty pool makes one on the spot, as before.
    """

    SIZE = 2  # a map click renders two clips (the melody and its reconstruction)
    DELAY = 1.0

    def __init__(self):
        self._lock = threading.Lock()
        self._ready: dict[tuple, list] = {}
        self._wanted: set[tuple] = set()
        self._timer = None

    @staticmethod
    def make(sf2: str, sample_rate: int):
        """A new synthesiser and the id of ``sf2`` in it, exactly as pretty_midi makes them."""
        import fluidsynth

        synth = fluidsynth.Synth(samplerate=sample_rate)
        return synth, synth.sfload(sf2)

    def take(self, sf2: str, sample_rate: int, stamp) -> tuple:
        """(synthesiser, soundfont id): one from the pool, else a new one. The caller deletes it."""
        key = (sf2, int(sample_rate), stamp)
        with self._lock:
            pool = self._ready.get(key) or []
            item = pool.pop() if pool else None
            self._wanted.add(key)
            if self._timer is None:
                self._timer = threading.Timer(self.DELAY, self._fill)
                self._timer.daemon = True
                self._timer.start()
        return item or self.make(sf2, sample_rate)

    def _fill(self):
        with self._lock:
            keys, self._timer = list(self._wanted), None
            self._wanted.clear()
        for key in keys:
            while True:
                with self._lock:
                    if len(self._ready.get(key, [])) >= self.SIZE:
                        break
                try:
                    item = self.make(key[0], key[1])
                except Exception:  # noqa: BLE001 - the render that needs one makes it and reports why
                    break
                with self._lock:
                    self._ready.setdefault(key, []).append(item)


_WARM = _WarmSynths()


def _soundfont_stamp(sf2) -> tuple[int, int]:
    """What tells one version of a soundfont file from another: (mtime ns, size)."""
    stat = pathlib.Path(sf2).stat()
    return stat.st_mtime_ns, stat.st_size


class AudioUnavailable(RuntimeError):
    """FluidSynth (pyfluidsynth or the libfluidsynth library) cannot be loaded."""


@functools.cache
def audio_status() -> tuple[bool, str]:
    """Say whether FluidSynth can be used, without raising.

    The answer is cached for the process; ``audio_status.cache_clear()`` asks again.

    Returns
    -------
    available : bool
        True when ``import fluidsynth`` (which loads libfluidsynth) succeeds.
    message : str
        What was loaded, or why nothing was and the commands that install it.
    """
    try:
        import fluidsynth
    except Exception as err:  # ImportError without the library, OSError for a broken one
        reason = f"{type(err).__name__}: {err}"
        return False, (f"Audio is off: FluidSynth could not be loaded ({reason}). "
                       f"{INSTALL_HINT} Everything else works without audio.")
    library = getattr(fluidsynth, "lib", "libfluidsynth")
    binding = getattr(fluidsynth, "api_version", "?")
    return True, f"FluidSynth ready ({library}, pyfluidsynth {binding})."


def default_soundfont() -> pathlib.Path:
    """Return the General MIDI soundfont shipped with pretty_midi (TimGM6mb.sf2, ~6 MB).

    Raises
    ------
    FileNotFoundError
        If the pretty_midi installation lacks the file.
    """
    path = pathlib.Path(str(importlib.resources.files("pretty_midi") / "TimGM6mb.sf2"))
    if not path.is_file():
        raise FileNotFoundError(f"pretty_midi's default soundfont is missing: {path}; "
                                "reinstall pretty_midi or pass soundfont=<path to a .sf2 file>")
    return path


def render(midi, *, program: int | None = None, qpm: float | None = None,
           soundfont: str | os.PathLike | None = None, sample_rate: int = 22050,
           normalize: bool = True) -> np.ndarray:
    """Synthesise ``midi`` with FluidSynth.

    Parameters
    ----------
    midi : pretty_midi.PrettyMIDI, bytes or path
        The music: an object (never modified), the bytes of a MIDI file, or a MIDI file's path.
    program : int, optional
        General MIDI program 0..127 given to every non-drum instrument; default keeps theirs.
    qpm : float, optional
        Tempo (quarter notes per minute) that the MIDI's first tempo becomes: all times are
        scaled by ``first_qpm / qpm``. Default keeps the timing.
    soundfont : str or os.PathLike, optional
        Path of a ``.sf2`` file; default :func:`default_soundfont`.
    sample_rate : int
        Hz, 8000..96000.
    normalize : bool
        Bring the audio to :data:`TARGET_LUFS` with a peak limit (:func:`normalize_loudness`).
        Otherwise the synthesiser's own level is kept (clipped to [-1, 1]).

    Returns
    -------
    samples : numpy.ndarray
        Shape ``(n,)``, float32 in [-1, 1], mono, at ``sample_rate``. ``n / sample_rate`` is
        the (re-timed) MIDI's end time plus FluidSynth's release tail of at most 1 s; nothing
        is trimmed from the start. A MIDI without notes gives :data:`EMPTY_SECONDS` of zeros.
        Music longer than the ``audio_seconds`` limit (:mod:`explorer.limits`) is cut there:
        notes starting later are left out and the others end by then.

    Raises
    ------
    ValueError
        For a program outside 0..127, a qpm that is not a positive number, a sample rate
        outside 8000..96000, a soundfont that is missing or not a .sf2 file, or a MIDI that
        cannot be read or is past the ``midi_mb`` or ``notes`` limit (:mod:`explorer.limits`).
    TypeError
        For a ``midi`` of another type.
    AudioUnavailable
        If FluidSynth cannot be loaded (see :func:`audio_status`).
    """
    program, qpm, sample_rate = _check_settings(program, qpm, sample_rate)
    sf2 = _resolve_soundfont(soundfont)
    pm, owned = _load_midi(midi)
    _require_fluidsynth()
    pm = _rearrange(pm, owned, program, qpm)
    pm = _cut(pm, owned or program is not None or qpm is not None, limit("audio_seconds"))
    if not any(inst.notes for inst in pm.instruments):
        return np.zeros(round(EMPTY_SECONDS * sample_rate), dtype=np.float32)
    # normalize=False: pretty_midi's own normalisation divides by the peak and by zero for
    # silence; it scales by 1 / (instruments * 2**15) instead.
    synth, sfid = _WARM.take(str(sf2), sample_rate, _soundfont_stamp(sf2))
    try:  # a fresh synthesiser, as pretty_midi would make it: the same samples
        raw = pm.fluidsynth(fs=sample_rate, synthesizer=synth, sfid=sfid, normalize=False)
    finally:
        synth.delete()
    samples = np.clip(raw, -1.0, 1.0).astype(np.float32)
    if normalize:
        samples = normalize_loudness(samples, sample_rate)
    return samples


def normalize_loudness(samples: np.ndarray, sample_rate: int, *,
                       target_lufs: float = TARGET_LUFS) -> np.ndarray:
    """Scale ``samples`` to ``target_lufs``, then limit the peak to :data:`PEAK_CEILING`.

    Integrated loudness is ITU-R BS.1770 (pyloudnorm). Audio shorter than its 0.4 s block, or
    too quiet to measure, is peak-normalised to :data:`FALLBACK_PEAK` instead; silence stays
    silence.

    Parameters
    ----------
    samples : numpy.ndarray
        Shape ``(n,)`` or ``(n, channels)``, float.
    sample_rate : int
        Hz.
    target_lufs : float
        Loudness to reach, in LUFS.

    Returns
    -------
    normalised : numpy.ndarray
        Same shape, float32, ``|x| <= PEAK_CEILING``.
    """
    x = np.asarray(samples, dtype=np.float64)
    peak = float(np.max(np.abs(x), initial=0.0))
    if not math.isfinite(peak):
        raise ValueError(f"samples must be finite, got a peak of {peak}")
    if peak == 0.0:
        return x.astype(np.float32)
    loudness = -math.inf
    if x.shape[0] >= _LOUDNESS_BLOCK_SECONDS * sample_rate:
        loudness = pyloudnorm.Meter(sample_rate).integrated_loudness(x)
    if math.isfinite(loudness):
        x = x * 10.0 ** ((target_lufs - loudness) / 20.0)
    else:
        x = x * (FALLBACK_PEAK / peak)
    peak = float(np.max(np.abs(x)))
    if peak > PEAK_CEILING:
        x = x * (PEAK_CEILING / peak)
    return x.astype(np.float32)


def to_wav_bytes(samples: np.ndarray, sample_rate: int = 22050) -> bytes:
    """Encode ``samples`` as a 16-bit PCM WAV file in memory (for ``st.audio`` or a download).

    Parameters
    ----------
    samples : numpy.ndarray
        Shape ``(n,)`` (mono) or ``(n, channels)``, float in [-1, 1].
    sample_rate : int
        Hz, > 0.

    Returns
    -------
    wav : bytes
        A complete WAV file, starting with ``b"RIFF"``.

    Raises
    ------
    ValueError
        For a shape other than 1-D or 2-D, samples that are not finite or outside [-1, 1], or a
        sample rate that is not a positive integer.
    TypeError
        For samples that are not floating point.
    """
    x = np.asarray(samples)
    if x.ndim not in (1, 2):
        raise ValueError(f"samples must have shape (n,) or (n, channels), got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"samples must be floating point in [-1, 1], got dtype {x.dtype}")
    peak = float(np.max(np.abs(x), initial=0.0))
    if not peak <= 1.0:  # also catches NaN
        raise ValueError(f"samples must be finite and within [-1, 1], got a peak of {peak}")
    if isinstance(sample_rate, bool) or operator.index(sample_rate) <= 0:
        raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    buffer = io.BytesIO()
    soundfile.write(buffer, x, int(sample_rate), format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def render_wav_bytes(midi, *, program: int | None = None, qpm: float | None = None,
                     soundfont: str | os.PathLike | None = None, sample_rate: int = 22050,
                     normalize: bool = True, cache: bool = True) -> bytes:
    """:func:`render` then :func:`to_wav_bytes`, cached by content in :data:`AUDIO_CACHE`.

    The key hashes the MIDI file's bytes (a ``PrettyMIDI`` is written out to get them, so
    objects that differ by less than a tick share audio), every setting, and the soundfont's
    path, modification time and size. Hits come from memory, else from
    ``cache_root() / "audio"``; a hit needs no FluidSynth. ``cache=False`` neither reads nor
    writes the cache (what a miss costs, for timings). Other parameters and errors are those
    of :func:`render`.

    Returns
    -------
    wav : bytes
        A 16-bit PCM WAV file at ``sample_rate``.
    """
    program, qpm, sample_rate = _check_settings(program, qpm, sample_rate)
    sf2 = _resolve_soundfont(soundfont)
    stat = sf2.stat()
    key = content_key(_RENDER_VERSION, _midi_bytes(midi), program, qpm, str(sf2),
                      stat.st_mtime_ns, stat.st_size, sample_rate, bool(normalize), limit("audio_seconds"))
    wav = AUDIO_CACHE.get(key) if cache else None
    if wav is not None and wav.startswith(b"RIFF"):
        return wav
    samples = render(midi, program=program, qpm=qpm, soundfont=sf2, sample_rate=sample_rate,
                     normalize=normalize)
    wav = to_wav_bytes(samples, sample_rate)
    if cache:
        AUDIO_CACHE.put(key, wav)
    return wav


def render_file(in_path: str | os.PathLike, out_path: str | os.PathLike, *,
                program: int | None = None, qpm: float | None = None,
                soundfont: str | os.PathLike | None = None, sample_rate: int = 22050) -> float:
    """Render the MIDI file ``in_path`` to the 16-bit WAV file ``out_path`` (loudness-normalised).

    Parameters
    ----------
    in_path, out_path : str or os.PathLike
        A MIDI file to read; a ``.wav`` path to write (its folder must exist).
    program, qpm, soundfont, sample_rate
        As :func:`render`.

    Returns
    -------
    duration : float
        Length of the written audio, in seconds.

    Raises
    ------
    ValueError
        ``"<in_path>: not a readable MIDI file (<reason>)"``, an ``out_path`` not ending in
        ``.wav``, or a bad setting (see :func:`render`).
    AudioUnavailable
        If FluidSynth cannot be loaded and the audio is not cached.
    """
    out = pathlib.Path(out_path)
    if out.suffix.lower() != ".wav":
        raise ValueError(f"out_path must end in .wav, got {os.fspath(out_path)!r}")
    wav = render_wav_bytes(os.fspath(in_path), program=program, qpm=qpm, soundfont=soundfont,
                           sample_rate=sample_rate)
    out.write_bytes(wav)
    return soundfile.info(io.BytesIO(wav)).duration


def _require_fluidsynth() -> None:
    available, message = audio_status()
    if not available:
        raise AudioUnavailable(message)


def _check_settings(program, qpm, sample_rate) -> tuple[int | None, float | None, int]:
    """Validate the rendering settings and return them as plain ``int``/``float``."""
    if program is not None:
        if isinstance(program, bool) or not isinstance(program, (int, np.integer)):
            raise ValueError(f"program must be a General MIDI program number 0..127 (int), "
                             f"got {program!r}")
        if not 0 <= program <= 127:
            raise ValueError(f"program must be a General MIDI program number 0..127, "
                             f"got {program!r}")
        program = int(program)
    if qpm is not None:
        try:
            value = float(qpm)
        except (TypeError, ValueError):
            value = math.nan
        if isinstance(qpm, bool) or not (math.isfinite(value) and value > 0):
            raise ValueError(f"qpm must be a positive, finite tempo in quarter notes per "
                             f"minute, got {qpm!r}")
        qpm = value
    if (isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer))
            or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE):
        raise ValueError(f"sample_rate must be an integer from {MIN_SAMPLE_RATE} to "
                         f"{MAX_SAMPLE_RATE} Hz, got {sample_rate!r}")
    return program, qpm, int(sample_rate)


def _resolve_soundfont(soundfont) -> pathlib.Path:
    """Return the absolute path of an existing SoundFont 2 file (default: pretty_midi's)."""
    if soundfont is None:
        return default_soundfont()
    if not isinstance(soundfont, (str, os.PathLike)):
        raise ValueError(f"soundfont must be a path to a .sf2 file or None, "
                         f"got {type(soundfont).__name__} {soundfont!r}")
    path = pathlib.Path(soundfont).expanduser()
    if not path.is_file():
        raise ValueError(f"soundfont {os.fspath(soundfont)!r} does not exist or is not a file; "
                         "pass the path of a .sf2 file, or None for pretty_midi's TimGM6mb.sf2")
    if path.suffix.lower() != ".sf2":
        raise ValueError(f"soundfont {os.fspath(soundfont)!r} is not a .sf2 file; only "
                         "SoundFont 2 (.sf2) files are accepted")
    with path.open("rb") as file:
        header = file.read(12)
    # FluidSynth would load garbage "successfully" as silence; catch it here instead.
    if header[:4] != b"RIFF" or header[8:12] != b"sfbk":
        raise ValueError(f"soundfont {os.fspath(soundfont)!r} is not a SoundFont 2 file (no "
                         "RIFF/sfbk header); only .sf2 files are accepted")
    return path.resolve()


def _describe(midi) -> str:
    if isinstance(midi, (bytes, bytearray, memoryview)):
        return f"<{len(midi)} bytes of MIDI>"
    return os.fspath(midi)


def _load_midi(midi) -> tuple[pretty_midi.PrettyMIDI, bool]:
    """Return ``(PrettyMIDI, owned)``; ``owned`` is False when it is the caller's object."""
    if isinstance(midi, pretty_midi.PrettyMIDI):
        return midi, False
    if isinstance(midi, (bytes, bytearray, memoryview)):
        _check_size(len(midi), midi)
        source = io.BytesIO(bytes(midi))
    elif isinstance(midi, (str, os.PathLike)):
        source = os.fspath(midi)
        try:
            _check_size(os.stat(source).st_size, midi)
        except OSError as err:
            raise ValueError(f"{_describe(midi)}: not a readable MIDI file ({err.strerror or err})") from None
    else:
        raise TypeError(f"midi must be a pretty_midi.PrettyMIDI, the bytes of a MIDI file or "
                        f"a path, got {type(midi).__name__}")
    try:
        pm = pretty_midi.PrettyMIDI(source)
    except Exception as err:  # mido and pretty_midi raise many types for a bad file
        reason = str(err) or type(err).__name__
        raise ValueError(f"{_describe(midi)}: not a readable MIDI file ({reason})") from err
    notes = sum(len(inst.notes) for inst in pm.instruments)
    if notes > limit("notes"):
        raise ValueError(f"{_describe(midi)}: too many notes: {notes:,} > {limit('notes'):,.0f} "
                         "(LATENT_EXPLORER_MAX_NOTES)")
    return pm, True


def _midi_bytes(midi) -> bytes:
    """Return the bytes of the MIDI file ``midi`` is, or would be written as."""
    if isinstance(midi, pretty_midi.PrettyMIDI):
        buffer = io.BytesIO()
        midi.write(buffer)
        return buffer.getvalue()
    if isinstance(midi, (bytes, bytearray, memoryview)):
        _check_size(len(midi), midi)
        return bytes(midi)
    if isinstance(midi, (str, os.PathLike)):
        try:
            _check_size(os.stat(midi).st_size, midi)
            return pathlib.Path(midi).read_bytes()
        except OSError as err:
            reason = err.strerror or str(err)
            raise ValueError(f"{_describe(midi)}: not a readable MIDI file ({reason})") from err
    raise TypeError(f"midi must be a pretty_midi.PrettyMIDI, the bytes of a MIDI file or a "
                    f"path, got {type(midi).__name__}")


def _check_size(size: int, midi) -> None:
    if size > mb("midi_mb"):
        raise ValueError(f"{_describe(midi)}: {size / 2**20:.1f} MB, more than the {limit('midi_mb'):g} MB a MIDI "
                         "file may have (LATENT_EXPLORER_MAX_MIDI_MB)")


def _cut(pm: pretty_midi.PrettyMIDI, owned: bool, seconds: float) -> pretty_midi.PrettyMIDI:
    """``pm`` without the notes that start after ``seconds`` and with the others ending by then
    (a copy unless ``owned``); ``pm`` itself when it is shorter."""
    if pm.get_end_time() <= seconds:
        return pm
    if not owned:
        pm = copy.deepcopy(pm)
    for inst in pm.instruments:
        inst.notes = [n for n in inst.notes if n.start < seconds]
        for n in inst.notes:
            n.end = min(n.end, seconds)
        inst.pitch_bends = [e for e in inst.pitch_bends if e.time < seconds]
        inst.control_changes = [e for e in inst.control_changes if e.time < seconds]
    return pm


def _rearrange(pm: pretty_midi.PrettyMIDI, owned: bool, program: int | None,
               qpm: float | None) -> pretty_midi.PrettyMIDI:
    """Apply the program override and the tempo change, to a copy unless ``owned``."""
    if program is None and qpm is None:
        return pm
    if not owned:
        pm = copy.deepcopy(pm)
    if program is not None:
        for inst in pm.instruments:
            if not inst.is_drum:
                inst.program = program
    if qpm is not None:
        first_qpm = float(pm.get_tempo_changes()[1][0])
        scale = first_qpm / qpm
        # Synthesis reads only these times (seconds), so the tempo map is left alone.
        for inst in pm.instruments:
            for note in inst.notes:
                note.start *= scale
                note.end *= scale
            for event in [*inst.pitch_bends, *inst.control_changes]:
                event.time *= scale
    return pm
