"""Audio: FluidSynth rendering of MIDI to loudness-normalised WAV, cached by content.

FluidSynth is optional: check :func:`audio_status` before offering audio; without it
:func:`render` raises :class:`AudioUnavailable` and the rest of the package works.
"""

from explorer.audio.cache import ContentCache
from explorer.audio.synth import (
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

__all__ = [
    "AUDIO_CACHE",
    "TARGET_LUFS",
    "AudioUnavailable",
    "ContentCache",
    "audio_status",
    "default_soundfont",
    "normalize_loudness",
    "render",
    "render_file",
    "render_wav_bytes",
    "to_wav_bytes",
]
