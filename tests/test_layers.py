"""The layers of the house, checked on the source (every import statement, also those inside
functions, read with ``ast``; nothing is imported):

    pages/, app.py                      the page files and the app: they import ui
    ui/                                 the only package with streamlit
    cli.py, bench.py  ·  viz/           entry points (anything but ui) · figures (music, latent)
    train/   eval/   latent/            each on models, data and music; not on each other
    models/                             on music
    data/           audio/              on music
    music/                              no torch (audio neither)
    paths, device, compat, lru, limits  at the bottom: nothing from explorer

See docs/architecture.md. The one exception is :data:`EXCEPTIONS`.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOTTOM = {"paths", "device", "compat", "lru", "limits"}
BELOW_UI = {"music", "data", "models", "train", "eval", "latent", "audio", "viz"}
#: layer → the layers it may import from (besides itself)
ALLOWED = {
    **{name: set() for name in BOTTOM},
    "music": BOTTOM,
    "data": BOTTOM | {"music"},
    "audio": BOTTOM | {"music"},
    "models": BOTTOM | {"music"},
    "train": BOTTOM | {"music", "data", "models"},
    "eval": BOTTOM | {"music", "data", "models"},
    "latent": BOTTOM | {"music", "data", "models"},
    "viz": BOTTOM | {"music", "latent"},
    "ui": BOTTOM | BELOW_UI,
    "cli": BOTTOM | BELOW_UI | {"bench"},
    "bench": BOTTOM | BELOW_UI | {"bench_decode"},
    "bench_decode": BOTTOM | BELOW_UI,
    "__main__": {"cli"},
    "pages": {"ui"},
    "app": BOTTOM | {"ui"},
}
STREAMLIT = {"ui", "pages", "app"}  # bench drives a page file through streamlit.testing (below)
NO_TORCH = {"music", "audio"}
#: (file, module) → the names it may import across the layers, and why. The performance codec's
#: decode half (explorer/data/performance_features.py) belongs in music/, where the melody codec is;
#: until it moves, PerformanceStyle takes it from data/.
EXCEPTIONS = {
    ("explorer/models/performance_style.py", "explorer.data.performances"):
        {"ScoreNotes", "decode_targets", "performed_to_midi"},
}


def source_files() -> list[Path]:
    return sorted(ROOT.glob("explorer/**/*.py")) + sorted(ROOT.glob("pages/*.py")) + [ROOT / "app.py"]


def layer_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    if rel.parts[0] != "explorer":
        return rel.parts[0] if rel.parts[0] == "pages" else rel.stem
    return rel.parts[1] if len(rel.parts) > 2 else rel.stem


def imports(path: Path, text: str | None = None):
    """(line, module, names) of every import in ``path`` (or in ``text`` as if it were that
    file), also inside functions; relative imports resolved."""
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    tree = ast.parse(path.read_text() if text is None else text, str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, set()
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield node.lineno, module, {alias.name for alias in node.names}


def explorer_layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "explorer" and len(parts) > 1 else None


def against_the_layers(path: Path, text: str | None = None) -> list[str]:
    """One line per import of ``path`` that goes up or sideways (and is not an exception)."""
    layer, rel = layer_of(path), str(path.relative_to(ROOT))
    out = []
    for line, module, names in imports(path, text):
        target = explorer_layer(module)
        if target is None or target == layer or target in ALLOWED.get(layer, set()):
            continue
        if names and names <= EXCEPTIONS.get((rel, module), set()):
            continue
        out.append(f"{rel}:{line} ({layer}) imports {module} ({target})")
    return out


def test_every_file_has_a_layer():
    unknown = sorted({str(p.relative_to(ROOT)) for p in source_files()
                      if layer_of(p) not in ALLOWED and layer_of(p) != "__init__"})
    assert not unknown, f"place these in ALLOWED (and docs/architecture.md): {unknown}"


def test_every_import_goes_down_the_layers():
    wrong = [line for path in source_files() for line in against_the_layers(path)]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_check_sees_an_import_inside_a_function_and_a_relative_one():
    probe = ROOT / "explorer" / "models" / "probe.py"
    text = "import numpy\nfrom . import registry\n\ndef f():\n    from ..train.trainer import train\n"
    assert against_the_layers(probe, text) == ["explorer/models/probe.py:5 (models) imports explorer.train.trainer (train)"]
    assert against_the_layers(ROOT / "explorer" / "models" / "performance_style.py",
                              "from explorer.data.performances import load_examples\n")  # not in the exception


def test_only_the_ui_pages_and_app_import_streamlit():
    wrong = [f"{p.relative_to(ROOT)}:{line} imports {module}" for p in source_files()
             for line, module, _ in imports(p)
             if module.split(".")[0] == "streamlit" and layer_of(p) not in STREAMLIT
             and not (layer_of(p) == "bench" and module.startswith("streamlit.testing"))]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("layer", sorted(NO_TORCH))
def test_music_and_audio_do_not_import_torch(layer):
    wrong = [f"{p.relative_to(ROOT)}:{line} imports {module}" for p in source_files() if layer_of(p) == layer
             for line, module, _ in imports(p) if module.split(".")[0] == "torch"]
    assert not wrong, "\n".join(wrong)


def test_each_exception_is_still_needed():
    """An exception whose import is gone (the codec moved) is deleted here, not kept as a loophole."""
    for (rel, module), names in EXCEPTIONS.items():
        used = set().union(*[n for _, m, n in imports(ROOT / rel) if m == module])
        assert used & names, f"{rel} no longer imports {sorted(names)} from {module}: drop the exception"
