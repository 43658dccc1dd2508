"""The performance-style model as users see it: a score in, expressive performances out.

>>> from explorer.data.default import default_score_notes
>>> ps = PerformanceStyle.load("assets/performance/virtuoso-vienna-batik-emotion.safetensors")
>>> score = default_score_notes("Bach BWV 846 (WTC I prelude in C)")
>>> sad = ps.render(score, ps.emotion_presets()["Sad"])
>>> midi = sad.to_midi_bytes()

A score is a ``ScoreNotes`` of :mod:`explorer.data.performances` (per-note score features,
beat and measure indices); its performance is partitura's per-note targets. The style table
(one z per known performance, with piece/pianist/emotion labels) is stored in the checkpoint,
so presets and the style map work without the data folder. The tensor helpers here
(:func:`example_tensors`, :func:`windows_of`, :func:`encode_example`, :func:`style_table`)
are shared with training and evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# the performance codec's decode half; it belongs in music/ (docs/architecture.md, "The one exception")
from explorer.data.performances import ScoreNotes, decode_targets, performed_to_midi
from explorer.device import pick_device
from explorer.models.checkpoint import load_performance_checkpoint
from explorer.models.virtuoso import VirtuosoVAE
from explorer.music.convert import midi_to_bytes

#: More notes than this take too long for the page (audio of several minutes); render fewer measures.
MAX_INTERACTIVE_NOTES = 1600
#: The ways to choose a style z: PerformanceStyle.sample, .encode, .emotion_presets, .interpolate.
STYLE_MODES = {"sample": "Sampled from the prior", "reference": "Encoded from a reference performance",
               "emotion": "Emotion preset", "interpolate": "Between two styles"}


def example_tensors(feats, beat, measure, targets=None, device="cpu"):
    """One sequence as a batch of one: feats (1, T, F), beat, measure (1, T) long, targets (1, T, P) or None."""
    f = torch.as_tensor(np.asarray(feats), dtype=torch.float32, device=device)[None]
    b = torch.as_tensor(np.asarray(beat), dtype=torch.long, device=device)[None]
    m = torch.as_tensor(np.asarray(measure), dtype=torch.long, device=device)[None]
    t = None if targets is None else torch.as_tensor(np.asarray(targets), dtype=torch.float32, device=device)[None]
    return f, b, m, t


def windows_of(n_notes: int, window: int, hop: int) -> list[int]:
    """Start indices of windows of ``window`` notes every ``hop`` notes, the last one flush with the end."""
    if n_notes <= window:
        return [0]
    starts = list(range(0, n_notes - window + 1, hop))
    if starts[-1] != n_notes - window:
        starts.append(n_notes - window)
    return starts


@torch.no_grad()
def encode_example(model: VirtuosoVAE, feats, beat, measure, targets, window: int = 256) -> np.ndarray:
    """The style of one performance: the mean posterior mean over its windows (as in training), (Z,)."""
    device = next(model.parameters()).device
    n = len(feats)
    w = min(window, n)
    mus = []
    for s in windows_of(n, w, w):
        sl = slice(s, s + w)
        f, b, m, t = example_tensors(feats[sl], beat[sl] - beat[s], measure[sl] - measure[s], targets[sl], device)
        mus.append(model.encode(f, b, m, t)[0][0])
    return torch.stack(mus).mean(0).cpu().numpy()


def style_table(model: VirtuosoVAE, examples, window: int = 256) -> dict:
    """{"z": (N, Z) array, "labels": [{name, piece, pianist, emotion, source, split, path}]} of
    ``examples`` (PerformanceExample of explorer.data.performances), as a checkpoint stores it."""
    z = [encode_example(model, e.score.features, e.score.beat, e.score.measure, e.targets, window) for e in examples]
    labels = [{"name": e.record.name, "piece": e.record.piece, "pianist": e.record.pianist, "emotion": e.record.emotion,
               "source": e.record.source, "split": e.record.split, "path": e.record.path.name} for e in examples]
    return {"z": np.stack(z).astype(np.float32), "labels": labels}


class ScoreTooLong(ValueError):
    """A score with more notes than :data:`MAX_INTERACTIVE_NOTES`; ``fits`` measures would do."""

    def __init__(self, n_notes: int, n_measures: int, fits: int, limit: int):
        self.n_notes, self.n_measures, self.fits = n_notes, n_measures, fits
        super().__init__(f"the score has {n_notes} notes in {n_measures} measures, more than the "
                         f"{limit} that render interactively; render the first {fits} measures")


def check_length(notes: ScoreNotes, limit: int | None = None) -> ScoreNotes:
    """``notes`` itself, or ScoreTooLong saying how many first measures fit in ``limit``
    (default :data:`MAX_INTERACTIVE_NOTES`)."""
    limit = MAX_INTERACTIVE_NOTES if limit is None else limit
    if len(notes) <= limit:
        return notes
    counts = np.bincount(notes.measure)
    fits = int(np.searchsorted(np.cumsum(counts), limit, side="right"))
    raise ScoreTooLong(len(notes), notes.n_measures, max(fits, 1), limit)


@dataclass
class Rendering:
    """A score played in one style: targets (N, 4) raw (TARGETS order), the performed notes."""

    score: ScoreNotes
    targets: np.ndarray
    notes: np.ndarray  # performed note array: onset_sec, duration_sec, pitch, velocity

    def __repr__(self) -> str:
        return f"Rendering({len(self.score)} notes, {self.seconds:.1f} s)"

    @property
    def seconds(self) -> float:
        return float((self.notes["onset_sec"] + self.notes["duration_sec"]).max()) if len(self.notes) else 0.0

    def beat_tempo(self) -> tuple[np.ndarray, np.ndarray]:
        """(score beat positions (NB,), tempo in score beats per minute (NB,)): one value per beat."""
        _, first = np.unique(self.score.beat, return_index=True)
        onset = np.floor(self.score.note_array["onset_beat"][first] + 1e-6)
        return onset, 60.0 / np.exp2(self.targets[first, 0])

    def to_midi(self, program: int = 0):
        return performed_to_midi(self.notes, program)

    def to_midi_bytes(self, program: int = 0) -> bytes:
        return midi_to_bytes(self.to_midi(program))


class PerformanceStyle:
    """A loaded performance-style checkpoint: render scores in a style z, encode performances to z."""

    def __init__(self, model, card: dict, styles: dict, device):
        self.model, self.card, self.device = model, card, device
        self.style_z = np.asarray(styles["z"], dtype=np.float32)
        self.style_labels = list(styles["labels"])

    def __repr__(self) -> str:
        return f"PerformanceStyle(z_dims={self.z_dims}, styles={len(self.style_labels)}, device={self.device})"

    @classmethod
    def load(cls, path, device: str = "auto") -> "PerformanceStyle":
        dev = pick_device(device)
        model, card, styles = load_performance_checkpoint(path, dev)
        return cls(model, card, styles, dev)

    @property
    def z_dims(self) -> int:
        return self.model.config.z_dims

    # ---------------------------------------------------------------------------------- styles
    def sample(self, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
        """A style z ~ N(0, temperature²) from the prior, (Z,), reproducible by ``seed``."""
        if temperature < 0:
            raise ValueError(f"temperature must be ≥ 0, got {temperature}")
        return (np.random.default_rng(seed).standard_normal(self.z_dims) * temperature).astype(np.float32)

    def emotion_presets(self) -> dict[str, np.ndarray]:
        """Mean z of the emotion set's performances per intended emotion (those the table holds, by name)."""
        emotions = sorted({lab.get("emotion") for lab in self.style_labels} - {None, ""})
        return {emo: self.style_z[[i for i, lab in enumerate(self.style_labels) if lab.get("emotion") == emo]].mean(0)
                for emo in emotions}

    @staticmethod
    def interpolate(z_a, z_b, t: float) -> np.ndarray:
        """(1 - t)·z_a + t·z_b."""
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must be within 0..1, got {t}")
        return ((1.0 - t) * np.asarray(z_a) + t * np.asarray(z_b)).astype(np.float32)

    def encode(self, score: ScoreNotes, targets) -> np.ndarray:
        """The style z (Z,) of a performance: ``targets`` (N, 4) of ``score``'s notes (codec output)."""
        targets = np.asarray(targets, dtype=np.float32)
        if targets.shape != (len(score), 4):
            raise ValueError(f"targets must be ({len(score)}, 4) for this score, got {targets.shape}")
        return encode_example(self.model, score.features, score.beat, score.measure, targets)

    # ---------------------------------------------------------------------------------- rendering
    @torch.no_grad()
    def predict(self, score: ScoreNotes, z) -> np.ndarray:
        """Raw per-note targets (N, 4) of ``score`` played in style ``z`` (Z,)."""
        z = torch.as_tensor(np.asarray(z, dtype=np.float32), device=self.device).reshape(1, -1)
        if z.shape[1] != self.z_dims:
            raise ValueError(f"z must have {self.z_dims} dims, got {z.shape[1]}")
        f, b, m, _ = example_tensors(score.features, score.beat, score.measure, device=self.device)
        return self.model.decode(f, b, m, z)[0].cpu().numpy()

    def render(self, score: ScoreNotes, z) -> Rendering:
        """``score`` played in style ``z``: targets and performed notes (partitura's decoder)."""
        t = self.predict(score, z)
        return Rendering(score, t, decode_targets(score, t))

    def deadpan(self, score: ScoreNotes, like: Rendering | None = None) -> Rendering:
        """Constant tempo and velocity, legato-free timing: the mean tempo and velocity of ``like``
        (else the training means), no onset deviation, articulation as written."""
        mean = np.asarray(self.model.config.target_mean, dtype=np.float32)
        ref = like.targets.mean(0) if like is not None else mean
        t = np.zeros((len(score), 4), np.float32)
        t[:, 0], t[:, 1] = ref[0], ref[1]
        return Rendering(score, t, decode_targets(score, t))
