"""A model's name for people, read from its card, and how it stands against its targets.

The name is the family and the music it learned from ("EC²-VAE · Nottingham + POP909 + Bach");
a short form fits narrow places such as the sidebar's picker. The standing is measured, never
listed by hand: the card's own-test and unseen-corpus figures against the targets of the
family's spec (:mod:`explorer.models.registry`), the same reading as :func:`card.missed_targets`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath

from explorer.models.card import COMPARE_COLUMNS, _get
from explorer.models.registry import SPECS, TARGETS, UNSEEN_TARGETS

#: corpus ids of the cards (``data.sources``, the keys of ``unseen``) → the names musicians use
SOURCE_NAMES = {"nottingham": "Nottingham", "pop909": "POP909", "music21:bach": "Bach",
                "music21:oneills1850": "O'Neill's", "music21:airdsAirs": "Aird's",
                "music21:essenFolksong": "Essen", "music21:ryansMammoth": "Ryan's Mammoth",
                "music21:monteverdi": "Monteverdi", "music21:trecento": "Trecento",
                "vienna4x22": "Vienna 4x22", "batik": "Batik plays Mozart", "emotion": "the emotion set"}
#: a figure of the own test split this far below its target (a share of the target) makes the model weak
WEAK_SHORTFALL = 0.2
FIGURE_NAMES = {key: label for label, key in COMPARE_COLUMNS} | {
    "recon_accuracy_greedy": "greedy accuracy", "recon_accuracy_onset_pitch": "onset-pitch accuracy",
    "concept_consistency.prior": "concept kept (prior residual)", "interpretability.mean": "interpretability"}


def _same_corpus(a: str, b: str) -> bool:
    """Whether two ways of naming a corpus (an id, a file stem, an unseen-corpus key) agree:
    one starts with the other, without a ``music21:`` prefix and case (``oneills`` ~ ``oneills1850``)."""
    a, b = a.split(":", 1)[-1].lower(), b.split(":", 1)[-1].lower()
    return bool(a and b) and (a.startswith(b) or b.startswith(a))


def source_name(source: str) -> str:
    """A readable name of a corpus id (``music21:oneills1850``) or an unseen-corpus key (``oneills``)."""
    if source in SOURCE_NAMES:
        return SOURCE_NAMES[source]
    return next((name for known, name in SOURCE_NAMES.items() if _same_corpus(known, source)),
                source.split(":", 1)[-1])


def _training_sources(card: dict) -> list[str]:
    """The card's sources, readable, in the order its data files were given (the order the
    checkpoint's file name and the README use); unmatched ones after."""
    data = card.get("data") or {}
    files = [re.sub(r"\d+$", "", PurePath(str(f)).stem) for f in data.get("files") or []]  # nottingham16 → nottingham

    def rank(src: str) -> int:
        return next((i for i, f in enumerate(files) if _same_corpus(src, f)), len(files))

    sources = [str(s) for s in data.get("sources") or []]
    return [source_name(s) for s in sorted(sources, key=rank)]


def family_title(card: dict) -> str:
    """The family's name as its spec's help starts (``EC²-VAE``; the spec found by its name or by
    its model's, as a performance card records ``virtuoso``), with its segment length when longer
    than 2 bars and an ExtRes model's concept; the card's model id for an unknown family."""
    model = str(card.get("model") or "")
    spec = SPECS.get(model) or next((s for s in SPECS.values() if getattr(s.model, "name", None) == model), None)
    if spec is None:
        return model or "unknown model"
    title = re.split(r"[:,]", spec.help, maxsplit=1)[0].strip() or model
    title = title[:1].upper() + title[1:]
    if spec.bars and spec.bars > 2:
        title += f" {spec.bars}-bar"
    concept = (card.get("config") or {}).get("concept")
    return f"{title} {concept}" if isinstance(concept, str) and concept else title


def full_name(card: dict) -> str:
    """``"<family> · <source> + <source> …"``: what the model is and what it learned from."""
    sources = _training_sources(card)
    return f"{family_title(card)} · {' + '.join(sources)}" if sources else family_title(card)


def short_names(cards: dict[str, dict]) -> dict[str, str]:
    """checkpoint name → a short name that tells it from the others: the family's title, then the
    number of corpora it learned from where titles repeat, then a number (in ``cards``' order)
    where they still do."""
    out = {n: family_title(c) for n, c in cards.items()}
    for n in _repeated(out):
        k = len((cards[n].get("data") or {}).get("sources") or [])
        out[n] += f" · {k} {'corpus' if k == 1 else 'corpora'}"
    base = dict(out)
    for n in _repeated(base):
        out[n] += f" #{[m for m in base if base[m] == base[n]].index(n) + 1}"
    return out


def _repeated(names: dict[str, str]) -> list[str]:
    """The keys whose value another key has too."""
    values = list(names.values())
    return [n for n, v in names.items() if values.count(v) > 1]


@dataclass(frozen=True)
class Miss:
    """One missed target: the figure's key, its measured value and the target, on ``corpus``
    (None: the model's own test split)."""

    key: str
    value: float
    target: float
    corpus: str | None = None

    @property
    def shortfall(self) -> float:
        """How far below the target, as a share of the target."""
        return (self.target - self.value) / self.target if self.target else 0.0

    def __str__(self):
        return f"{FIGURE_NAMES.get(self.key, self.key)} {self.value:.3g} (target ≥ {self.target:g})"


@dataclass(frozen=True)
class Standing:
    """How a card's figures stand against its family's targets."""

    own: list[Miss] = field(default_factory=list)
    unseen: list[Miss] = field(default_factory=list)
    has_targets: bool = False

    @property
    def weak(self) -> bool:
        """A figure of the own test split at least ``WEAK_SHORTFALL`` below its target."""
        return any(m.shortfall >= WEAK_SHORTFALL for m in self.own)

    @property
    def badge(self) -> str:
        """``"⚠ weak"``, ``"⚠"`` (misses a target somewhere) or ``""``."""
        return "⚠ weak" if self.weak else "⚠" if self.own or self.unseen else ""

    def sentence(self) -> str:
        """The standing in one line of words, with the figures that miss."""
        if self.own:
            worst = sorted(self.own, key=lambda m: -m.shortfall)
            head = "weak" if self.weak else "below its targets"
            line = f"{head} on its own test split: {', '.join(map(str, worst))}"
        elif self.has_targets:
            line = "meets its targets on its own test split"
        else:
            return "no targets apply to this family"
        corpora = list(dict.fromkeys(source_name(m.corpus.split(" · ")[0]) for m in self.unseen))
        if corpora:
            line += f"; misses them on music it never saw ({', '.join(corpora)})"
        return line


def _misses(targets, ev: dict, corpus: str | None = None) -> list[Miss]:
    vals = [(key, _get(ev, key), t) for key, t in targets]
    return [Miss(key, float(v), float(t), corpus) for key, v, t in vals if v is not None and v < t]


def standing(card: dict) -> Standing:
    """The card's misses on its own test split (``card["eval"]``) and on each corpus it never saw
    (``card["unseen"]``) against today's targets of its family."""
    model = str(card.get("model") or "")
    if model not in SPECS:
        return Standing()
    unseen = [m for corpus, figs in (card.get("unseen") or {}).items() if isinstance(figs, dict)
              for m in _misses(UNSEEN_TARGETS[model], figs, str(corpus))]
    return Standing(_misses(TARGETS[model], card.get("eval") or {}), unseen, bool(TARGETS[model]))
