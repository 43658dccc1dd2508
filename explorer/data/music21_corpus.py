"""Collections of the music21 corpus, read offline from the pip package.

``bach`` means the 371 four-part chorales (soprano = melody, chroma from
alto, tenor and bass). Any other name is a corpus folder (``oneills1850``,
``airdsAirs``, ``ryansMammoth``, ``essenFolksong``, ...): the top part is the
melody, chord symbols and lower parts give the chroma. ABC collections are
split into tunes first, and a tune whose only metre is one the grid cannot
hold (6/8, 3/4, ...) is skipped from its header without being parsed.
"""
from __future__ import annotations

import re
from pathlib import Path

from explorer.data.tune import FULL_BAR_METRES, HALF_BAR_METRES, Bar, SkipTune, make_tune

_METRE = re.compile(r"^M:\s*([^\s%]+)", re.M)
_TITLE = re.compile(r"^T:\s*(.+)$", re.M)
_NUMBER = re.compile(r"^\s*(\d+)")


def collections() -> list[str]:
    """Names of the corpus folders, plus ``bach``."""
    from music21 import corpus

    names = {Path(p).relative_to(_corpus_root()).parts[0] for p in corpus.getPaths()}
    return sorted(names)


def _corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def parse_abc_metre(text: str):
    """(num, den) of an ABC ``M:`` value; ``C`` is 4/4, ``C|`` is 2/2; None if unreadable."""
    text = text.strip()
    if text == "C":
        return (4, 4)
    if text == "C|":
        return (2, 2)
    m = re.match(r"^(\d+)/(\d+)$", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def music21_items(collection: str) -> list:
    """Work items of a collection: ``("file", name)`` or ``("abc", name, x, text)``."""
    from music21 import corpus

    if collection == "bach":
        # some Riemenschneider numbers point at the same file: read each file once
        files = dict.fromkeys(corpus.chorales.Iterator(returnType="filename"))
        return [("file", f) for f in files]
    root = _corpus_root()
    paths = sorted(p for p in map(Path, corpus.getPaths()) if p.relative_to(root).parts[0] == collection)
    if not paths:
        raise FileNotFoundError(
            f"no music21 corpus collection named {collection!r}; known: {', '.join(collections())}"
        )
    items = []
    for p in paths:
        rel = str(p.relative_to(root))
        if p.suffix.lower() == ".abc":
            text = p.read_text(encoding="latin-1")
            head, *tunes = re.split(r"(?m)^X:", text)
            header = "\n".join(ln for ln in head.splitlines() if re.match(r"^[A-Za-z]:", ln))
            for t in tunes:
                num = _NUMBER.match(t)
                x = num.group(1) if num else str(len(items))
                items.append(("abc", rel, x, (header + "\n" if header else "") + "X:" + t))
        else:
            items.append(("file", rel))
    return items


def _abc_precheck(text: str):
    """SkipTune for a tune whose only metre cannot fill the grid."""
    metres = _METRE.findall(text)
    inline = "[M:" in text
    if len(set(metres)) == 1 and not inline:
        mt = parse_abc_metre(metres[0])
        if mt is not None and mt not in FULL_BAR_METRES | HALF_BAR_METRES:
            raise SkipTune(f"metre {mt[0]}/{mt[1]}")


def _part_notes(part, *, top_only: bool):
    """(pitch, start_q, end_q) of a part's notes (ties joined, grace notes
    dropped); with ``top_only`` a chord gives its highest pitch."""
    from music21 import harmony

    out, symbols = [], []
    for n in part.stripTies().flatten().notes:
        if isinstance(n, harmony.ChordSymbol):
            symbols.append(n)
            continue
        ql = float(n.duration.quarterLength)
        if ql <= 0:
            continue
        start = float(n.offset)
        pitches = [p.midi for p in n.pitches]
        if top_only:
            pitches = [max(pitches)]
        out.extend((p, start, start + ql) for p in pitches)
    return out, symbols


def _bars(part) -> list[Bar]:
    bars = []
    ts = None
    for m in part.getElementsByClass("Measure"):
        if m.timeSignature is not None:
            ts = m.timeSignature
        metre = (ts.numerator, ts.denominator) if ts is not None else (4, 4)
        bars.append(Bar(float(m.offset), float(m.duration.quarterLength), metre))
    return bars


def score_to_tune(score, source: str, tune_id: str, title: str = ""):
    """Quantise a music21 Score: top part = melody, the rest = chroma."""
    from music21 import tempo

    if not score.parts:
        raise SkipTune("no parts")
    part = score.parts[0]
    bars = _bars(part)
    if not bars:
        raise SkipTune("no measures")
    mel, symbols = _part_notes(part, top_only=True)
    chords = [n for p in score.parts[1:] for n in _part_notes(p, top_only=False)[0]]
    spans = []
    end = bars[-1].start + bars[-1].length
    flat_sym = sorted(symbols, key=lambda s: float(s.offset))
    for k, s in enumerate(flat_sym):
        stop = float(flat_sym[k + 1].offset) if k + 1 < len(flat_sym) else end
        pcs = {p.pitchClass for p in s.pitches}
        c = [1 if pc in pcs else 0 for pc in range(12)]
        spans.append((float(s.offset), stop, c))
    marks = list(score.recurse().getElementsByClass(tempo.MetronomeMark))
    qpm = 120.0
    if marks:
        try:
            qpm = float(marks[0].getQuarterBPM()) or 120.0
        except Exception:
            qpm = 120.0
    return make_tune(source, tune_id, mel, bars, chord_notes=chords, chord_spans=spans, qpm=qpm, title=title)


def _expand_repeats(score):
    """The score with its repeats written out (music21's ``expandRepeats``), or the score as it
    is when its repeat marks cannot be expanded."""
    try:
        return score.expandRepeats()
    except Exception:  # music21's ExpanderException and friends on unbalanced marks
        return score


def load_music21_item(item, collection: str = "", expand_repeats: bool = False) -> list:
    """Worker: parse one item of ``music21_items`` into tunes; ``expand_repeats`` writes repeated
    strains out (more long windows for 16-bar models; off for 2-bar data, where it would only
    copy segments)."""
    from music21 import converter, corpus

    source = f"music21:{collection}" if collection else "music21"
    kind = item[0]
    try:
        if kind == "abc":
            _, rel, x, text = item
            _abc_precheck(text)
            tm = _TITLE.search(text)
            title = tm.group(1).strip() if tm else f"#{x}"
            score = converter.parse(text, format="abc")
            if hasattr(score, "scores") and not hasattr(score, "parts"):
                score = score.scores[0]
            if expand_repeats:
                score = _expand_repeats(score)
            return [score_to_tune(score, source, f"{rel}#{x}", title)]
        _, rel = item
        obj = corpus.parse(rel)
        scores = list(obj.scores) if hasattr(obj, "scores") and obj.scores else [obj]
        tunes = []
        for k, sc in enumerate(scores):
            title = (sc.metadata.title if sc.metadata and sc.metadata.title else Path(rel).stem) or rel
            tid = rel if len(scores) == 1 else f"{rel}#{k + 1}"
            try:
                tunes.append(score_to_tune(_expand_repeats(sc) if expand_repeats else sc, source, tid, title))
            except SkipTune:
                if len(scores) == 1:
                    raise
        return tunes
    except SkipTune:
        raise
    except Exception as exc:  # music21 raises many kinds on odd files
        raise SkipTune("unparseable score", f"{type(exc).__name__}: {exc}"[:200]) from None
