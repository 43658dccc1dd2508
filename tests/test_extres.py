"""ExtRes: the concepts (known answers on melodies built by hand), user concepts and their checks,
the model (shapes, parallel = step-by-step decoding, training on real melodies, checkpoints that
run no code), its trainer and its metrics."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from explorer.audio import audio_status
from explorer.data.dataset import SegmentDataset
from explorer.data.default import shipped_default_path
from explorer.eval import extres as ev
from explorer.models.checkpoint import load_checkpoint, save_checkpoint
from explorer.models.ec2vae import EC2VAE, EC2VAEConfig
from explorer.models.extres import ExtRes, ExtResConfig
from explorer.models.trained import TrainedModel
from explorer.music import concepts as cc
from explorer.music.melody import HOLD, REST, notes_to_tokens
from explorer.train.extres import main as train_main
from clip_players import audio_players, players

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# (pitch, start step, end step); rests 8-12 and from 19 on
NOTES = [(60, 0, 4), (62, 4, 6), (62, 6, 8), (59, 12, 16), (59, 16, 17), (64, 17, 18), (65, 18, 19)]
TINY = dict(hidden_dims=24, embed_dims=8, ze_dims=4, zr_dims=6)


def melody(notes=NOTES, n=32) -> np.ndarray:
    return notes_to_tokens(notes, n).astype(np.int64)


# ---------------------------------------------------------------------------------- built-in concepts
def test_rhythm_is_onset_hold_rest_per_step():
    want = [0, 1, 1, 1, 0, 1, 0, 1, 2, 2, 2, 2, 0, 1, 1, 1, 0, 0, 0] + [2] * 13
    assert cc.CONCEPTS["rhythm"](melody()).tolist() == want
    assert cc.CONCEPTS["rhythm"](np.stack([melody(), melody()])).shape == (2, 32)


def test_contour_per_beat_against_the_latest_earlier_onset():
    # beat 0: the first note (nothing before it) → 3; beat 1: 62 > 60 → up; beat 2: rests → 3;
    # beat 3: 59 against the 62 of step 6, across the rests → down; beat 4: 59 = 59 → same; then no onsets
    assert cc.CONCEPTS["contour"](melody()).tolist() == [3, 1, 3, 2, 0, 3, 3, 3]
    # a melody starting with a rest: its first note, in beat 1, has nothing to compare with either
    late = melody([(67, 5, 8), (65, 8, 12), (65, 13, 16)])
    assert cc.contour(late[None]).tolist() == [[3, 3, 2, 0, 3, 3, 3, 3]]  # beat 3: 65 after a rest = 65
    # only the beat's first onset counts: 60 then 72 inside beat 1 is "same" against the 60 of beat 0
    inside = melody([(60, 0, 4), (60, 4, 5), (72, 5, 8), (71, 8, 12)])
    assert cc.contour(inside[None])[0, :3].tolist() == [3, 0, 2]


def test_fragmentation_is_the_clipped_change_of_onsets_per_beat():
    assert cc.onsets_per_beat(melody()[None]).tolist() == [[1, 2, 0, 1, 3, 0, 0, 0]]
    # +1 → 3, −2 → 0, +1 → 3, +2 → 4, −3 clipped to −2 → 0, 0 → 2; the first beat is class 5
    assert cc.CONCEPTS["fragmentation"](melody()).tolist() == [5, 3, 0, 3, 4, 0, 2, 2]


def test_every_builtin_concept_stays_inside_its_classes_on_real_melodies():
    ds = SegmentDataset.load(shipped_default_path())
    for name, concept in cc.CONCEPTS.items():
        y = concept(ds.tokens)
        assert y.min() >= 0 and y.max() == concept.n_classes - 1, name  # every class occurs, none beyond
        assert cc.validate_concept(concept, ds.tokens[:500]) is concept


# ---------------------------------------------------------------------------------- user concepts
@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module of concepts in tmp_path, importable as ``extres_user_concepts``; forgotten afterwards."""
    (tmp_path / "extres_user_concepts.py").write_text(
        "import numpy as np\n"
        "def accent(tokens):\n"
        "    return (np.asarray(tokens).reshape(-1, 4)[:, 0] < 128).astype(int)\n"
        "def constant(tokens):\n"
        "    return np.zeros(8, int)\n"
        "def odd_length(tokens):\n"
        "    return np.zeros(7, int) + (tokens[0] < 128)\n"
        "def many(tokens):\n"
        "    return np.asarray(tokens[:8]) % 40\n"
        "def fails(tokens):\n"
        "    if tokens[0] == 129:\n"
        "        raise RuntimeError('no first note')\n"
        "    return np.ones(8, int)\n"
        "def negative(tokens):\n"
        "    return -(np.asarray(tokens[:8]) < 128).astype(int)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "extres_user_concepts"
    for name in [n for n in cc._LOADED if n.startswith("extres_user_concepts:")]:
        del cc._LOADED[name]
    sys.modules.pop("extres_user_concepts", None)


def test_a_user_concept_is_imported_only_when_named_and_validated_on_data(user_module):
    ds = SegmentDataset.load(shipped_default_path())
    name = f"{user_module}:accent"
    with pytest.raises(cc.ConceptError, match="not loaded.*name it again"):
        cc.get_concept(name)  # never imports
    assert user_module not in sys.modules
    concept = cc.validate_concept(cc.resolve_concept(name, allow_import=True), ds.tokens[:300])
    assert concept.n_classes == 2 and concept(melody()).tolist() == [1, 1, 0, 1, 1, 0, 0, 0]


@pytest.mark.parametrize("func,message", [
    ("constant", "the same sequence for all"),
    ("odd_length", "length 7; the length must divide the 32 steps"),
    ("many", "40 classes .* at most 16"),
    ("fails", "raised RuntimeError \\(no first note\\) on melody \\d+"),
    ("negative", "negative values"),
    ("missing", "has no function 'missing'"),
])
def test_bad_user_concepts_are_refused_with_their_name(user_module, func, message):
    ds = SegmentDataset.load(shipped_default_path())
    tokens = ds.tokens[:300].copy()
    tokens[7] = REST  # one melody starting with a rest for "fails"
    with pytest.raises(cc.ConceptError, match=f"{user_module}:{func}.*{message}|{message}") as err:
        cc.validate_concept(cc.resolve_concept(f"{user_module}:{func}", allow_import=True), tokens)
    assert f"{user_module}:{func}" in str(err.value)


def test_unknown_names_are_refused():
    with pytest.raises(cc.ConceptError, match="unknown concept 'melodiousness'.*contour"):
        cc.resolve_concept("melodiousness", allow_import=True)
    with pytest.raises(cc.ConceptError, match="cannot import module 'no_such_pkg_xyz'"):
        cc.resolve_concept("no_such_pkg_xyz:f", allow_import=True)


# ---------------------------------------------------------------------------------- the model
def _tiny(concept="contour", classes=4, length=8, **more) -> ExtRes:
    torch.manual_seed(0)
    return ExtRes(ExtResConfig(concept=concept, concept_classes=classes, concept_len=length, **TINY, **more)).eval()


@pytest.mark.parametrize("concept,classes,length,carry", [("rhythm", 3, 32, False), ("contour", 4, 8, False),
                                                           ("contour", 4, 8, True)])
def test_shapes_and_parallel_decoding_equals_step_by_step(concept, classes, length, carry):
    model = _tiny(concept, classes, length, carry_last_pitch=carry)
    tok = torch.as_tensor(np.stack([melody(), melody(NOTES[:3])]))
    with torch.no_grad():
        post = model.encode(tok)
        assert post.mean.shape == (2, 10) and model.layout.groups == {"concept": (0, 4), "residual": (4, 10)}
        gen = model.decode(post.mean)
        assert gen.tokens.shape == (2, 32) and gen.logits.shape == (2, 32, 130)
        assert gen.concept.shape == (2, length) and gen.concept_logits.shape == (2, length, classes)
        # fed its own choices as targets, the whole-sequence pass predicts what the step loop chose
        y_lp, _ = model.decode_concept(post.mean[:, :4], target=gen.concept, teacher_forcing=1.0)
        torch.testing.assert_close(y_lp, gen.concept_logits, atol=1e-5, rtol=1e-4)
        x = model.decode_melody(post.mean[:, 4:], gen.concept, target=gen.tokens, teacher_forcing=1.0)
        torch.testing.assert_close(x.logits, gen.logits, atol=1e-5, rtol=1e-4)
        # a given y is used as it is: the melody decoder's output depends on it
        other = model.decode(post.mean, concept=(gen.concept + 1) % classes)
        assert not torch.allclose(other.logits, gen.logits)


def test_last_pitch_carries_the_latest_onset_across_holds_and_rests():
    from explorer.models.extres import last_pitch

    prev = torch.tensor([[130, 60, HOLD, REST, 62, HOLD, 59]])  # the start symbol first
    assert last_pitch(prev).tolist() == [[128, 60, 60, 60, 62, 62, 59]]


def test_a_model_built_for_other_classes_refuses_the_concept():
    model = _tiny("contour", 3, 8)  # contour has 4 classes
    with pytest.raises(cc.ConceptError, match="built for 3 classes"):
        model.encode(torch.as_tensor(melody()[None]))
    with pytest.raises(ValueError, match="concept_len 7 must divide n_step 32"):
        ExtRes(ExtResConfig(concept_len=7))


def test_training_steps_lower_the_loss_on_real_melodies():
    ds = SegmentDataset.load(shipped_default_path())
    tok = torch.as_tensor(ds.tokens[ds.split == "train"][:64].astype(np.int64))
    model = _tiny("rhythm", 3, 32).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(25):
        terms = model.loss(tok, step=step)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        losses.append(float(terms["loss"].detach()))
    assert {"nll", "nll_concept", "kl_e", "kl_r", "tf"} <= set(terms)
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:3])


def test_kl_under_the_free_bits_costs_nothing():
    model = _tiny().train()
    tok = torch.as_tensor(np.stack([melody()] * 4))
    terms = model.loss(tok, step=10**6)  # teacher forcing gone; KL of an untrained model is far below 32 bits
    assert float(terms["kl_e"]) < 32 * np.log(2) and float(terms["kl_r"]) < 32 * np.log(2)
    assert float(terms["loss"].detach()) == pytest.approx(float(terms["nll"]) + float(terms["nll_concept"]), rel=1e-5)
    # z_r's own free bits: with none, all of KL_r is paid (β = 0.7, divided by the 32 steps)
    torch.manual_seed(0)
    strict = ExtRes(ExtResConfig(concept="contour", concept_classes=4, concept_len=8, free_bits_residual=0.0, **TINY))
    terms = strict.train().loss(tok, step=10**6)
    want = float(terms["nll"]) + float(terms["nll_concept"]) + 0.7 * float(terms["kl_r"]) / 32
    assert float(terms["loss"].detach()) == pytest.approx(want, rel=1e-4)


def test_checkpoint_round_trip_keeps_the_concept_as_text(tmp_path):
    model = _tiny()
    path = save_checkpoint(tmp_path / "c.safetensors", model)
    loaded, meta, _ = load_checkpoint(path)
    assert meta["config"]["concept"] == "contour" and loaded.config == model.config
    tok = torch.as_tensor(np.stack([melody()]))
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(tok).mean, model.encode(tok).mean)
        torch.testing.assert_close(loaded.decode(torch.ones(1, 10)).logits, model.decode(torch.ones(1, 10)).logits)


def _small_data(tmp_path, n_train=192, n_valid=32, n_test=32):
    ds = SegmentDataset.load(shipped_default_path())
    rows = np.concatenate([np.flatnonzero(ds.split == s)[:n] for s, n in
                           (("train", n_train), ("valid", n_valid), ("test", n_test))])
    return ds.subset(rows).save(tmp_path / "small.npz")


def test_a_tiny_model_trains_on_a_user_concept_and_its_checkpoint_runs_no_code(tmp_path, user_module, capsys):
    small = _small_data(tmp_path)
    name = f"{user_module}:accent"
    out = tmp_path / "run"
    args = ["--concept", name, "--data", str(small), "--out", str(out), "--hidden", "24", "--batch", "32",
            "--device", "cpu", "--threads", "1", "--quiet", "--epochs", "3", "--lr", "3e-3", "--tf-k", "5",
            "--set", "embed_dims=8", "--set", "ze_dims=4", "--set", "zr_dims=6"]
    assert train_main(args) == 0, capsys.readouterr().err
    hist = json.loads((out / "summary.json").read_text())["history"]
    assert len(hist) == 3 and hist[-1]["val_nll"] < hist[0]["val_nll"]
    assert json.loads((out / "concept.json").read_text()) == {"concept": name, "concept_classes": 2, "concept_len": 8}
    # loading reads the name as text: nothing is imported, and encoding says to name the concept again
    del cc._LOADED[name]
    sys.modules.pop(user_module)
    tm = TrainedModel.load(out / "best.safetensors", device="cpu")
    assert user_module not in sys.modules and tm.model.config.concept == name
    assert tm.decode_tokens(np.zeros((1, 10), np.float32)).shape == (1, 32)  # decoding needs no concept
    with pytest.raises(cc.ConceptError, match="name it again"):
        tm.encode(melody()[None])
    cc.resolve_concept(name, allow_import=True)
    assert tm.encode(melody()[None])[1].shape == (1, 10)
    # the run folder keeps its concept
    assert train_main(args[:1] + ["rhythm"] + args[2:]) == 2
    assert "cannot go on with 'rhythm'" in capsys.readouterr().err


def test_the_trainer_refuses_a_bad_concept_before_training(tmp_path, user_module, capsys):
    small = _small_data(tmp_path, n_train=64, n_valid=16, n_test=16)
    rc = train_main(["--concept", f"{user_module}:constant", "--data", str(small), "--out", str(tmp_path / "r"),
                     "--quiet"])
    assert rc == 2 and "extres_user_concepts:constant" in capsys.readouterr().err
    assert not (tmp_path / "r" / "state.pt").exists()


# ---------------------------------------------------------------------------------- metrics
def test_edit_distance_and_diversity_known_answers():
    assert ev.edit_distance("kitten", "sitting") == 3 and ev.edit_distance([], [1, 2]) == 2
    a, b = melody(), melody([(60, 0, 4), (62, 4, 8)])
    assert ev.pitch_sequence(a) == (60, 62, 62, 59, 59, 64, 65)
    assert ev.diversity([a, a, a]) == {"distinct": pytest.approx(1 / 3), "edit_distance": 0.0}
    # pairs: (a, a) 0, (a, b) 5, (a, b) 5 → mean 10/3; two distinct of three
    assert ev.diversity([a, a, b]) == {"distinct": pytest.approx(2 / 3), "edit_distance": pytest.approx(10 / 3)}


def test_probe_reads_y_from_a_code_that_holds_it_and_not_from_noise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, (600, 4))
    holds = np.concatenate([np.eye(3)[y].reshape(600, -1), rng.normal(size=(600, 5))], 1)
    assert ev.probe(holds, y)["accuracy"] > 0.97
    noise = ev.probe(rng.normal(size=(600, 8)), y)
    assert abs(noise["above_chance"]) < 0.08 and 0.25 < noise["chance"] < 0.45


def test_consistency_figures_count_positions_and_whole_melodies():
    rhythm = cc.CONCEPTS["rhythm"]
    a = melody()
    y = rhythm(np.stack([a, a]))
    moved = a.copy()
    moved[1] = REST  # one hold → rest: 1 of 32 positions of the second melody; clean_tokens makes 2, 3 rests too
    fig = ev.consistency_figures(rhythm, y, np.stack([a, moved]))
    assert fig == {"positions": pytest.approx(1 - 3 / 64, abs=1e-4), "melodies": 0.5}
    assert moved[2] == HOLD  # (the hold after the new rest is what clean_tokens turns into a rest)


def test_evaluate_extres_reports_every_figure_on_a_tiny_model(tmp_path):
    model = _tiny("rhythm", 3, 32)
    tm = TrainedModel(model, {"card": {}}, device="cpu")
    ds = SegmentDataset.load(_small_data(tmp_path))
    ec2_path = save_checkpoint(tmp_path / "ec2.safetensors", EC2VAE(EC2VAEConfig(hidden_dims=16, z1_dims=4, z2_dims=4)))
    figs = ev.evaluate_extres(tm, ds, split="test", limit=32, m_diversity=4, n_diversity=3,
                              ec2vae=TrainedModel.load(ec2_path, device="cpu"))
    assert figs["segments"] == 32 and figs["concept"] == "rhythm"
    for key in ("prior", "prior_melodies", "transfer", "own"):
        assert 0.0 <= figs["concept_consistency"][key] <= 1.0
    assert figs["diversity"]["samples"] == 3 and figs["diversity"]["concepts"] == 4
    assert set(figs["ec2vae_rhythm"]) == {"prior_pitch", "own_pitch", "checkpoint"}
    assert any("EC²-VAE" in line for line in ev.markdown(figs, "test"))


# ---------------------------------------------------------------------------------- the page
@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """A folder with an untrained "extres-tiny" (rhythm) and "ec2vae-tiny" checkpoint."""
    folder = tmp_path_factory.mktemp("extres_models")
    save_checkpoint(folder / "extres-tiny.safetensors", _tiny("rhythm", 3, 32))
    save_checkpoint(folder / "ec2vae-tiny.safetensors", EC2VAE(EC2VAEConfig(hidden_dims=16, z1_dims=4, z2_dims=4)))
    return folder


@pytest.mark.usefixtures("app_env", "clear_streamlit_caches")
def test_concept_page_plays_variations_that_keep_the_concept():
    from explorer.ui.concept_page import concept_text
    from helpers_app import ROOT, run_app

    page = ROOT / "pages" / "concept.py"
    at = run_app(page, model="ec2vae-tiny")
    assert any("Choose an ExtRes model" in i.value for i in at.info)
    at = run_app(page, model="extres-tiny", n="3", seed="5")
    assert at.slider(key="cp_n").value == 3 and at.number_input(key="cp_seed").value == 5
    assert len(players(at)) == 3 + 1  # three variations and the transfer, each with its MIDI
    if audio_status()[0]:
        assert len(audio_players(at)) == 3 + 1
    shown = [m.value for m in at.markdown if m.value.startswith("Concept **rhythm**")]
    assert len(shown) == 1 and "`" in shown[0]
    assert at.selectbox(key="cp_b_index").value != at.selectbox(key="cp_a_index").value  # B starts elsewhere
    at.slider(key="cp_n").set_value(2).run()
    assert not at.exception and at.query_params["n"] == "2"
    assert len(players(at)) == 2 + 1
    assert concept_text("rhythm", np.array([0, 1, 2])) == "●–·" and concept_text("mine:f", np.array([3, 1])) == "3 1"
    bad = run_app(page, model="extres-tiny", n="99")
    assert any("n='99'" in w.value for w in bad.warning)


def test_eval_command_ships_a_card_with_the_extres_figures(tmp_path, capsys):
    ckpt = save_checkpoint(tmp_path / "run.safetensors", _tiny("contour", 4, 8), card={"data": {"sources": ["x"]}})
    small = _small_data(tmp_path, n_train=32, n_valid=16, n_test=24)
    out = tmp_path / "extres-contour-test.safetensors"
    args = [str(ckpt), "--data", str(small), "--limit", "24", "--device", "cpu", "--unseen", f"again={small}",
            "--note", "a tiny untrained model"]
    assert ev.main(args + ["--ship", str(out)]) == 0, capsys.readouterr().err
    figs = json.loads(capsys.readouterr().out)
    assert figs["test"]["segments"] == 24 and figs["unseen"]["again"]["split"] == "all"
    card = load_checkpoint(out)[1]["card"]
    assert card["extres"]["test"]["concept_consistency"] == figs["test"]["concept_consistency"]
    prior = figs["test"]["concept_consistency"]["prior"]
    assert f"concept_consistency.prior: {prior:.4g} (target ≥ 0.9)" in card["targets"][0]
    md = out.with_suffix(".md").read_text()
    assert "## ExtRes figures" in md and "again (never seen)" in md and "a tiny untrained model" in md
    # shipping again from the printed figures measures nothing and writes the same figures
    (tmp_path / "figs.json").write_text(json.dumps(figs))
    again = tmp_path / "again.safetensors"
    assert ev.main(args + ["--ship", str(again), "--figures", str(tmp_path / "figs.json")]) == 0
    assert load_checkpoint(again)[1]["card"]["extres"] == card["extres"]
    # a melody model is refused with the command to use
    other = save_checkpoint(tmp_path / "ec2.safetensors", EC2VAE(EC2VAEConfig(hidden_dims=16, z1_dims=4, z2_dims=4)))
    assert ev.main([str(other), "--data", str(small)]) == 2
    assert "use `explorer eval`" in capsys.readouterr().err


def test_the_family_lists_the_concept_page_and_its_own_trainer():
    from explorer.models.registry import spec_of
    from explorer.ui.page_table import pages_for

    spec = spec_of("extres")
    assert "concept" in [p.url for p in pages_for("extres")] and "interpolation" in spec.pages
    assert spec.trainer == "explorer.train.extres:main" and spec.evaluator == "explorer.eval.extres:main"
