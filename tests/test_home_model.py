"""Home shows the loaded model and its card's figures; a foreign checkpoint is refused in words."""
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
    assert "pages for this model: Segment player, Latent map, Attribute sliders, Interpolation, Model report" in text
    assert "**Analogy**:" in text  # the list of all pages stays
    at.sidebar.selectbox(key="model_name").set_value("zz-foreign").run()
    assert not at.exception
    errors = " ".join(e.value for e in at.sidebar.error)
    assert "not a Latent Explorer checkpoint" in errors
