"""One declaration per model family: a :class:`ModelSpec` in :data:`SPECS`.

A spec bundles what the rest of the house needs to know about a family (like magenta's
``CONFIG_MAP``): the model and config classes, what data it eats, its paper and figures,
the targets its cards are read against, its KL convention, the config fields training may
set, the app pages that apply, and — for a family with its own command lines — its trainer
and evaluator. ``explorer train``'s choices, the trainer, the card's targets, the Model
report's paper column and the app's page list read it; adding a family is a model file,
one :func:`register` call below and its tests.

Presets are made with ``dataclasses.replace`` on a config (:func:`build_model`), not pasted copies.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from explorer.models.arvae import ARVAE, ARVAEConfig
from explorer.models.ec2vae import EC2VAE, EC2VAEConfig
from explorer.models.musicvae import HierarchicalMusicVAE, HierarchicalMusicVAEConfig, MusicVAE, MusicVAEConfig
from explorer.models.virtuoso import VirtuosoConfig, VirtuosoVAE

#: What a family eats → the segment length in bars (None: not fixed-length segments).
DATA_KINDS = {"2-bar melody": 2, "16-bar melody": 16, "multi-track": None, "aligned performance": None}
#: Checkpoint kinds: each has its own format tag and folders (explorer.models.checkpoint).
CHECKPOINT_KINDS = ("melody", "performance")
#: The app pages a melody model can open (page ids: the pages' url paths in app.py).
MELODY_PAGES = ("segment_player", "latent_map", "attribute_sliders", "interpolation", "compare", "model_report")


@dataclass(frozen=True)
class ModelSpec:
    """Everything about one model family that is not its network.

    ``targets`` and ``unseen_targets`` are ``((dotted figure key, lowest value that meets it), …)``
    on the family's own test split and on each corpus left out of its training; ``kl_note`` is
    formatted with the config's fields (``"weight beta = {beta}"``); ``trainer``/``evaluator``
    are ``"module:function"`` taking argv, for a family whose ``explorer train NAME`` /
    ``explorer eval`` command lines are its own (empty: the melody trainer and ``explorer eval``).
    """

    name: str
    model: type
    config: type
    data: str
    help: str = ""
    paper: dict = dataclasses.field(default_factory=dict)
    targets: tuple = ()
    unseen_targets: tuple = ()
    kl_note: str = ""
    train_options: tuple = ()
    pages: tuple = MELODY_PAGES
    checkpoint: str = "melody"
    trainer: str = ""
    evaluator: str = ""

    def __post_init__(self):
        if self.data not in DATA_KINDS:
            raise ValueError(f"{self.name}: data must be one of {list(DATA_KINDS)}, got {self.data!r}")
        if self.checkpoint not in CHECKPOINT_KINDS:
            raise ValueError(f"{self.name}: checkpoint must be one of {CHECKPOINT_KINDS}, got {self.checkpoint!r}")
        fields = {f.name for f in dataclasses.fields(self.config)}
        unknown = set(self.train_options) - fields
        if unknown:
            raise ValueError(f"{self.name}: train_options {sorted(unknown)} are not fields of {self.config.__name__}")

    @property
    def bars(self) -> int | None:
        """Bars per segment of the data it eats (None for data that is not fixed-length segments)."""
        return DATA_KINDS[self.data]

    def kl_line(self, config) -> str:
        """The KL convention of a model of this family with ``config``, for its card."""
        return self.kl_note.format(**dataclasses.asdict(config))


SPECS: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to :data:`SPECS`; ValueError when its name is taken."""
    if spec.name in SPECS:
        raise ValueError(f"a model family {spec.name!r} is registered already")
    SPECS[spec.name] = spec
    return spec


def spec_of(name: str) -> ModelSpec:
    """The spec of family ``name``; KeyError naming the known ones."""
    if name not in SPECS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(SPECS)}")
    return SPECS[name]


def names(checkpoint: str | None = None) -> list[str]:
    """The registered family names (those whose checkpoints are of kind ``checkpoint``), sorted."""
    return sorted(n for n, s in SPECS.items() if checkpoint is None or s.checkpoint == checkpoint)


class _ByName(Mapping):
    """family name → one field of its spec, read at lookup (a family registered later shows up);
    for callers that look a figure up by the model name a card records."""

    def __init__(self, field: str):
        self._field = field

    def __getitem__(self, name):
        return getattr(SPECS[name], self._field)

    def __iter__(self):
        return iter(SPECS)

    def __len__(self):
        return len(SPECS)


PAPER_FIGURES = _ByName("paper")
TARGETS = _ByName("targets")
UNSEEN_TARGETS = _ByName("unseen_targets")


def config_from_dict(name: str, values: dict):
    """The config of family ``name`` from a checkpoint's JSON (lists back to tuples); KeyError for unknown fields."""
    cls = spec_of(name).config
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - fields
    if unknown:
        raise KeyError(f"{name} config has no field(s) {sorted(unknown)}")
    vals = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**vals)


def build_model(name: str, **overrides):
    """A fresh model ``name`` with its default config changed by ``overrides``; None values are
    left out (an option the trainer passes unset need not be a field of every family's config)."""
    spec = spec_of(name)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    fields = {f.name for f in dataclasses.fields(spec.config)}
    unknown = set(overrides) - fields
    if unknown:
        raise KeyError(f"{name} config has no field(s) {sorted(unknown)}; it has {sorted(fields)}")
    return spec.model(dataclasses.replace(spec.config(), **overrides))


def config_to_dict(config) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


# ---------------------------------------------------------------------------------- the families
_MUSICVAE_KL = "summed over the latent dims, beta annealed to {beta} as beta(1 - {beta_rate}^step), free bits {free_bits}"

register(ModelSpec(
    "ec2vae", EC2VAE, EC2VAEConfig, "2-bar melody", help="EC²-VAE: pitch and rhythm latent groups, chord-conditioned",
    paper={"source": "Yang et al., ISMIR 2019 (Nottingham)",
           "note": "the paper reports reconstruction qualitatively"},
    targets=(("recon_accuracy_greedy", 0.95), ("recon_accuracy_onset_pitch", 0.85), ("transposition_test.ratio", 5.0)),
    unseen_targets=(("recon_accuracy_greedy", 0.93), ("recon_accuracy_onset_pitch", 0.80),
                    ("transposition_test.ratio", 5.0)),
    kl_note="averaged over the latent dims (as the authors), weight 0.1 on KL_p + KL_r",
    train_options=("chord_dropout", "consistency"), pages=MELODY_PAGES + ("analogy",)))

register(ModelSpec(
    "arvae", ARVAE, ARVAEConfig, "2-bar melody", help="AR-VAE: dims 0-3 regularised to musical attributes",
    paper={"source": "Pati & Lerch 2020 (AR-VAE, Measures dataset)", "interpretability_mean": 0.96},
    targets=(("interpretability.mean", 0.90), ("recon_accuracy_greedy", 0.95), ("recon_accuracy_onset_pitch", 0.85)),
    unseen_targets=(("recon_accuracy_greedy", 0.93), ("recon_accuracy_onset_pitch", 0.80),
                    ("interpretability.mean", 0.95)),
    kl_note="summed over the latent dims, weight beta = {beta}", train_options=("word_dropout", "gamma", "delta")))

register(ModelSpec(
    "musicvae", MusicVAE, MusicVAEConfig, "2-bar melody", help="MusicVAE, flat decoder",
    # Roberts et al. 2018, Table 1: 2-bar melody reconstruction accuracy, flat model
    paper={"source": "Roberts et al., ICML 2018 (Lakh MIDI melodies, 2 bars)",
           "recon_accuracy_teacher_forced": 0.986, "recon_accuracy_greedy": 0.951,
           "note": "the paper's 0.951 is 'sampling' accuracy (the decoder fed its own outputs), the same "
                   "measure as greedy here"},
    targets=(("recon_accuracy_greedy", 0.95), ("recon_accuracy_onset_pitch", 0.85)),
    unseen_targets=(("recon_accuracy_greedy", 0.93), ("recon_accuracy_onset_pitch", 0.80)),
    kl_note=_MUSICVAE_KL, train_options=("free_bits", "beta_rate", "z_dims")))

register(ModelSpec(
    "musicvae16", HierarchicalMusicVAE, HierarchicalMusicVAEConfig, "16-bar melody",
    help="MusicVAE, hierarchical (conductor) decoder over 16 bars",
    # Table 1, 16-bar melodies: hierarchical decoder 0.812 sampled vs 0.620 for a flat decoder
    paper={"source": "Roberts et al., ICML 2018 (Lakh MIDI melodies, 16 bars)", "recon_accuracy_greedy": 0.812,
           "note": "0.812 sampled with the hierarchical decoder vs 0.620 for a flat one; it should also beat a flat "
                   "model of the same size on the same data"},
    targets=(("recon_accuracy_greedy", 0.80), ("recon_accuracy_onset_pitch", 0.60)),
    kl_note=_MUSICVAE_KL, train_options=("free_bits", "beta_rate", "conductor_dims")))

register(ModelSpec(
    "performance", VirtuosoVAE, VirtuosoConfig, "aligned performance",
    help="the performance-style CVAE (VirtuosoNet-like): see docs/performance.md",
    paper={"source": "Jeong et al., ISMIR 2019 (VirtuosoNet)"},
    kl_note="summed over the style dims, weight beta = {beta} after a linear warm-up",
    pages=("performance_style",), checkpoint="performance",
    trainer="explorer.train.performance:main", evaluator="explorer.eval.performance:main"))

from explorer.models.extres import ExtRes, ExtResConfig  # noqa: E402  (appended with its family)

register(ModelSpec(
    "extres", ExtRes, ExtResConfig, "2-bar melody",
    help="ExtRes: an extraction VAE for a concept y = f(x) and a residual CVAE; --concept rhythm|contour|"
         "fragmentation|pkg.mod:func (see docs/concepts.md)",
    paper={"source": "Akama, ISMIR 2019 (concept learning from domain knowledge)",
           "note": "the paper reports no reconstruction figures; the target is concept consistency of decoded "
                   "melodies (y from held-out melodies, z_r from the prior)"},
    targets=(("concept_consistency.prior", 0.90),), unseen_targets=(("concept_consistency.prior", 0.90),),
    kl_note="summed over each group's dims, weight beta = {beta} on KL_e + KL_r, free bits {free_bits} per group",
    train_options=("ze_dims", "zr_dims", "free_bits", "free_bits_residual", "carry_last_pitch", "embed_dims"),
    pages=MELODY_PAGES + ("concept",),
    trainer="explorer.train.extres:main", evaluator="explorer.eval.extres:main"))

from explorer.models.midivae import MIDIVAE, MIDIVAEConfig  # noqa: E402  (appended with its family)

# Stored in the melody checkpoint format (weights, config, layout, card) but shipped to assets/midivae, not
# the melody picker's folder; `explorer eval` finds its evaluator by the model name the checkpoint records.
register(ModelSpec(
    "midivae", MIDIVAE, MIDIVAEConfig, "multi-track",
    help="MIDI-VAE: 4 voices' pitch, instrument and velocity, a style classifier in z, style transfer",
    paper={"source": "Brunner et al., ISMIR 2018 (MIDI-VAE)",
           "note": "the paper's style classifier and validation-classifier figures are on its own corpora"},
    targets=(("style_classifier.accuracy", 0.90), ("validation.reconstruction_kept", 0.90),
             ("validation.swapped_as_target", 0.60), ("swap.onsets_kept", 0.50)),
    kl_note="averaged over the latent dims, weight beta = {beta}; z sampled with noise std {noise_std} in training",
    pages=("style_transfer",),
    trainer="explorer.train.midivae:main", evaluator="explorer.eval.midivae:main"))
