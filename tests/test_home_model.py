"""Home shows the loaded model and its card's figures; a foreign checkpoint is refused in words."""
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO

from explorer.models.arvae import ARVAE, ARVAEConfig
from explorer.models.checkpoint import save_checkpoint
from explorer.ui.home_page import _card_summary

CARD = {"data": {"sources": ["nottingham"], "segments": {"train": 10, "valid": 2, "test": 3}}, "steps": 120,
        "train_seconds": 600, "hardware": "CPU", "eval": {"split": "test", "recon_accuracy_greedy": 0.5,
                                                          "active_units": 7, "interpretability": {"mean": 0.8}}}


def test_card_summary_lines():
    lines = _card_summary(CARD)
    assert "nottingham (15 segments" in lines[0] and "120 steps, 10 min on CPU" in lines[1]
    assert "recon greedy 0.500" in lines[2] and "interpretability 0.800" in lines[2]
    assert _card_summary({"steps": 5}) [-1] == "not evaluated yet (see the Model report page)"


def test_home_names_the_model_and_its_figures(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "arvae-tiny.safetensors", ARVAE(ARVAEConfig(hidden_dims=16, embed_dims=8, z_dims=8)),
                    card=CARD)
    (tmp_path / "zz-foreign.safetensors").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("LATENT_EXPLORER_MODELS", str(tmp_path))
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.query_params["model"] = "arvae-tiny"  # the shipped checkpoints come first in the picker
    at.run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "arvae-tiny" in text and "recon greedy 0.500" in text and "regularised dims" in text
    # which pages apply comes from the family's spec: no Analogy (EC²-VAE only), no Performance style
    from explorer.ui.page_table import pages_for

    titles = [p.title for p in pages_for("arvae")]
    assert f"pages for this model: {', '.join(titles)}" in text
    assert "Segment player" in titles and "Model report" in titles and "Analogy" not in titles
    # every page of the app is a link on Home, to the page's own file, with what it does
    from explorer.ui.page_table import present_pages

    links = {link.proto.page: link.value for link in at.page_link}  # page: its url path
    pages = present_pages(REPO)
    assert list(links) == [p.url for p in pages] and len(pages) >= 9
    assert all(links[p.url] == p.title and p.what in text for p in pages)
    at.sidebar.selectbox(key="model_name").set_value("zz-foreign").run()
    assert not at.exception
    errors = " ".join(e.value for e in at.sidebar.error)
    assert "not a Latent Explorer checkpoint" in errors


@pytest.mark.usefixtures("clear_streamlit_caches", "app_env")
def test_an_uploaded_checkpoint_is_written_once_to_the_sessions_own_folder(models_dir, monkeypatch):
    """The sidebar's checkpoint upload: saved under the user's file name in this session's
    folder (not a shared temp folder named by hash), loaded, not written again on a rerun (a
    rewrite would reload the model on every slider move); past the size limit: a message
    naming the file and the limit."""
    import tempfile
    from pathlib import Path

    from helpers_app import APP, run_app
    from explorer.ui.model_picker import UPLOAD

    data = (models_dir / "arvae-tiny.safetensors").read_bytes()
    at = run_app(APP, session_state={"model_name": UPLOAD})
    at.sidebar.file_uploader(key="model_upload").set_value(("my model.safetensors", data, "application/octet-stream")).run()
    assert not at.exception and not at.sidebar.error, [e.value for e in at.sidebar.error]
    digest, path = at.session_state["model_upload_saved"]
    path = Path(path)
    assert path.name == "my_model.safetensors" and path.read_bytes() == data
    assert path.parent != Path(tempfile.gettempdir()) / "latent-explorer-uploads"
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    before = path.stat().st_mtime_ns
    at.run()
    assert path.stat().st_mtime_ns == before and at.session_state["model_upload_saved"] == (digest, str(path))

    monkeypatch.setenv("LATENT_EXPLORER_MAX_CHECKPOINT_MB", "0.001")
    at.sidebar.file_uploader(key="model_upload").set_value(("big.safetensors", data + b"x", "application/octet-stream")).run()
    errors = [e.value for e in at.sidebar.error]
    assert len(errors) == 1 and errors[0].startswith("big.safetensors is ") and "LATENT_EXPLORER_MAX_CHECKPOINT_MB" in errors[0]


@pytest.mark.usefixtures("clear_streamlit_caches", "app_env")
def test_an_uploaded_checkpoint_stays_loaded_on_another_page(models_dir):
    from helpers_app import APP, SEGMENT_PAGE, run_app
    from explorer.ui.model_picker import UPLOAD

    data = (models_dir / "arvae-tiny.safetensors").read_bytes()
    at = run_app(APP, session_state={"model_name": UPLOAD})
    at.sidebar.file_uploader(key="model_upload").set_value(("mine.safetensors", data, "application/octet-stream")).run()
    at.switch_page(SEGMENT_PAGE).run()
    assert not at.exception and not at.sidebar.error
    assert not [i.value for i in at.sidebar.info if "Upload a checkpoint" in i.value]
    assert any("Using **mine.safetensors**" in c.value for c in at.sidebar.caption)


@pytest.mark.usefixtures("clear_streamlit_caches", "app_env")
def test_a_midivae_checkpoint_in_the_sidebar_is_sent_to_its_own_page(tmp_path):
    """A MIDI-VAE checkpoint (melody checkpoint format, multi-track data) is not loaded as a
    melody model: a message names its page."""
    from helpers_app import APP, run_app
    from explorer.models.midivae import MIDIVAE, MIDIVAEConfig
    from explorer.ui.model_picker import UPLOAD

    path = save_checkpoint(tmp_path / "mv.safetensors", MIDIVAE(MIDIVAEConfig(z_dims=8, hidden=8)))
    at = run_app(APP, session_state={"model_name": UPLOAD})
    at.sidebar.file_uploader(key="model_upload").set_value(("mv.safetensors", path.read_bytes(), "x")).run()
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert len(errors) == 1 and "not a melody model" in errors[0] and "Style transfer" in errors[0], errors
