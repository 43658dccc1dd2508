"""How the pages are put together: one page table that app.py and Home read and the model
families' specs point into, figure builders in explorer.viz without Streamlit, pages that do
not import each other, thin page files, and the one fingerprint of a model and a dataset."""
from __future__ import annotations

import ast

import numpy as np

from tests.conftest import REPO

from explorer.ui.page_table import PAGES, pages_for, present_pages


def _imports(path) -> set[str]:
    """The modules a file imports (absolute names, at any depth of the file)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_the_page_table_names_every_page_file_once():
    files = {p.name for p in (REPO / "pages").glob("*.py")}
    assert sorted(p.file.split("/")[1] for p in PAGES) == sorted(files)
    assert len({p.url for p in PAGES}) == len(PAGES) and len({p.title for p in PAGES}) == len(PAGES)
    assert present_pages(REPO) == list(PAGES)
    assert [p.title for p in present_pages(REPO / "nowhere")] == []


def test_every_family_names_pages_of_the_table():
    from explorer.models.registry import SPECS

    urls = {p.url for p in PAGES}
    for name, spec in SPECS.items():
        assert set(spec.pages) <= urls, (name, set(spec.pages) - urls)
    assert "analogy" in [p.url for p in pages_for("ec2vae")]
    assert "analogy" not in [p.url for p in pages_for("arvae")]
    assert [p.url for p in pages_for("performance")] == ["performance_style"]


def test_figure_builders_need_no_streamlit():
    for path in (REPO / "explorer" / "viz").glob("*.py"):
        bad = {m for m in _imports(path) if m.split(".")[0] == "streamlit" or m.startswith("explorer.ui")}
        assert not bad, (path.name, bad)


def test_pages_do_not_import_other_pages():
    ui = REPO / "explorer" / "ui"
    pages = {f"explorer.ui.{p.stem}" for p in ui.glob("*_page.py")}
    for path in ui.glob("*.py"):
        other = (_imports(path) & pages) - {f"explorer.ui.{path.stem}"}
        assert not other, (path.name, other)
    assert not {m for m in _imports(REPO / "explorer" / "ui" / "home_page.py")} & (pages - {"explorer.ui.home_page"})


def test_page_files_are_three_line_shims():
    for path in (REPO / "pages").glob("*.py"):
        lines = [x for x in path.read_text().splitlines() if x.strip()]
        assert len(lines) == 2 and lines[0].startswith("from explorer.ui.") and lines[1].endswith("()"), path.name


def test_the_pages_key_caches_by_the_one_fingerprint(tmp_path):
    from types import SimpleNamespace

    from explorer.latent.projection import dataset_fingerprint, model_fingerprint
    from explorer.ui.keys import data_key, model_key

    ckpt = tmp_path / "m.safetensors"
    ckpt.write_bytes(b"weights")
    tm = SimpleNamespace(path=ckpt)  # what the fingerprint reads of a loaded TrainedModel
    ds = SimpleNamespace(tokens=np.array([[60, 128, 129]], np.uint8), chroma=np.zeros((1, 3, 12), np.uint8))
    assert model_key(tm) == model_fingerprint(tm) and data_key(ds) == dataset_fingerprint(ds)
    other = SimpleNamespace(tokens=ds.tokens + 1, chroma=ds.chroma)
    assert data_key(other) != data_key(ds)
    ds.tokens = ds.tokens + 1  # the same object is not hashed again: loaded data never changes in place
    assert data_key(ds) != data_key(other)
