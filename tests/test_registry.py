"""A model family is one model file, one registry entry and its tests: a toy family registered
here (its model, config and spec written in this file) is offered by `explorer train`, built,
saved and loaded, and its card read against its targets and paper — with no line of cli.py,
card.py or eval/run.py changed."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from explorer.cli import main as cli_main
from explorer.cli import make_parser
from explorer.models.base import LatentLayout
from explorer.models.card import comparison_rows, missed_targets, target_lines
from explorer.models.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from explorer.models.registry import (PAPER_FIGURES, SPECS, TARGETS, ModelSpec, build_model, names, register,
                                      spec_of)


@dataclass(frozen=True)
class ToyConfig:
    z_dims: int = 2
    n_step: int = 32
    beta: float = 0.5
    wobble: float = 0.0


class ToyVAE(nn.Module):
    name = "toy"

    def __init__(self, config: ToyConfig = ToyConfig()):
        super().__init__()
        self.config = config
        self.proj = nn.Linear(config.n_step, config.z_dims)

    @property
    def layout(self) -> LatentLayout:
        return LatentLayout(self.config.z_dims)


TOY = ModelSpec("toy", ToyVAE, ToyConfig, "2-bar melody", help="a toy family for the registry test",
                paper={"source": "Nobody et al. 2031", "recon_accuracy_greedy": 0.5},
                targets=(("recon_accuracy_greedy", 0.9),), unseen_targets=(("recon_accuracy_greedy", 0.8),),
                kl_note="weight beta = {beta}", train_options=("wobble",), pages=("segment_player",))
CALLS = []


def own_trainer(argv: list) -> int:
    CALLS.append(argv)
    return 0


@pytest.fixture
def toy():
    spec = register(TOY)
    yield spec
    del SPECS["toy"]


def test_a_registered_family_is_offered_by_the_train_command(toy, capsys):
    args = make_parser().parse_args(["train", "toy", "--data", "d.npz", "--out", "run", "--set", "wobble=0.1"])
    assert args.model == "toy"
    with pytest.raises(SystemExit):
        make_parser().parse_args(["train", "--help"])
    out = capsys.readouterr().out
    assert "toy: a toy family for the registry test (--set wobble)" in out
    assert "toy" in names("melody") and "toy" not in names("performance")


def test_a_family_with_its_own_trainer_gets_the_command_line(monkeypatch):
    monkeypatch.setitem(SPECS, "toy", ModelSpec("toy", ToyVAE, ToyConfig, "multi-track",
                                                trainer=f"{__name__}:own_trainer"))
    CALLS.clear()
    assert cli_main(["train", "toy", "--anything", "goes"]) == 0
    assert CALLS == [["--anything", "goes"]]


def test_explorer_eval_of_a_checkpoint_goes_to_its_own_familys_evaluator(monkeypatch, tmp_path):
    """A melody-kind family with its own evaluator (like ExtRes) gets `explorer eval` of its
    checkpoints; the other melody models' checkpoints (same kind) still reach the melody eval."""
    import explorer.cli as cli

    monkeypatch.setitem(SPECS, "toy", ModelSpec("toy", ToyVAE, ToyConfig, "2-bar melody",
                                                evaluator=f"{__name__}:own_trainer"))
    toy_ckpt = save_checkpoint(tmp_path / "toy.safetensors", ToyVAE(), card={"model": "toy"})
    CALLS.clear()
    assert cli_main(["eval", str(toy_ckpt), "--data", "x.npz"]) == 0
    assert CALLS == [[str(toy_ckpt), "--data", "x.npz"]]
    arvae = save_checkpoint(tmp_path / "ar.safetensors", build_model("arvae", hidden_dims=8, embed_dims=4, z_dims=4))
    assert cli._own_command_line(["eval", str(arvae), "--data", "x.npz"]) is None  # the melody eval
    assert cli._own_command_line(["eval", str(tmp_path / "missing.safetensors")]) is None
    assert spec_of("extres").evaluator == "explorer.eval.extres:main"


def test_a_registered_familys_card_is_read_against_its_targets_and_paper(toy):
    card = {"model": "toy", "eval": {"recon_accuracy_greedy": 0.95, "segments": 10},
            "unseen": {"folk": {"recon_accuracy_greedy": 0.7, "segments": 5}}}
    assert target_lines("toy", card["eval"], card["unseen"]) == [
        "recon_accuracy_greedy: 0.95 (target ≥ 0.9) — met",
        "unseen folk: recon_accuracy_greedy: 0.7 (target ≥ 0.8) — missed"]
    assert missed_targets(card) == ["unseen folk: recon_accuracy_greedy: 0.7 (target ≥ 0.8) — missed"]
    assert [r["corpus"] for r in comparison_rows(card)] == ["own test split", "folk (never seen)"]
    assert PAPER_FIGURES["toy"]["source"] == "Nobody et al. 2031" and TARGETS["toy"] == TOY.targets
    assert toy.kl_line(ToyConfig(beta=0.25)) == "weight beta = 0.25" and toy.bars == 2


def test_a_registered_family_builds_saves_and_loads(toy, tmp_path):
    model = build_model("toy", z_dims=3, wobble=None)
    assert model.config == ToyConfig(z_dims=3)
    path = save_checkpoint(tmp_path / "toy.safetensors", model, card={"model": "toy"})
    assert read_metadata(path)["model"] == "toy"
    back, meta, _ = load_checkpoint(path)
    assert isinstance(back, ToyVAE) and torch.equal(back.proj.weight, model.proj.weight)


def test_the_shipped_families_and_their_specs():
    assert names() == ["arvae", "ec2vae", "extres", "midivae", "musicvae", "musicvae16", "performance"]
    assert spec_of("musicvae16").bars == 16 and spec_of("performance").checkpoint == "performance"
    assert spec_of("midivae").data == "multi-track" and spec_of("midivae").bars is None
    assert "concept" in spec_of("extres").pages and spec_of("midivae").pages == ("style_transfer",)
    for name in ("extres", "midivae", "performance"):  # families with command lines of their own
        assert spec_of(name).trainer.endswith(":main")
    assert "analogy" in spec_of("ec2vae").pages and "analogy" not in spec_of("arvae").pages
    assert spec_of("performance").pages == ("performance_style",)
    for name in names("melody"):
        assert spec_of(name).model.name == name  # what its checkpoints record


def test_a_spec_is_refused_when_it_does_not_fit(toy):
    with pytest.raises(ValueError, match="registered already"):
        register(TOY)
    with pytest.raises(ValueError, match="data must be one of"):
        ModelSpec("x", ToyVAE, ToyConfig, "4-bar drums")
    with pytest.raises(ValueError, match="not fields of ToyConfig"):
        ModelSpec("x", ToyVAE, ToyConfig, "2-bar melody", train_options=("no_such_field",))
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        spec_of("nope")
