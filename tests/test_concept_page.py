"""The Concept page's interpolation and drawing (ExtRes, issue 14): the latent operations of
explorer/latent/concept_ops.py on tiny untrained models (known answers on hand-built concepts),
the figures of explorer/viz/concept.py, and the page under AppTest."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from clip_players import players
from explorer.latent import concept_ops as co
from explorer.models.checkpoint import save_checkpoint
from explorer.models.extres import ExtRes, ExtResConfig
from explorer.models.trained import TrainedModel
from explorer.music.concepts import ConceptError, get_concept
from explorer.music.melody import Melody, notes_to_tokens
from explorer.viz.concept import concept_grid_figure, concept_roll_figure, contour_levels
from helpers_app import ROOT, chart_keys, run_app

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PAGE = ROOT / "pages" / "concept.py"
TINY = dict(hidden_dims=24, embed_dims=8, ze_dims=4, zr_dims=6)
A = notes_to_tokens([(60, 0, 4), (62, 4, 6), (62, 6, 8), (59, 12, 16), (64, 16, 24)], 32).astype(np.int64)
B = notes_to_tokens([(67, 0, 8), (65, 8, 10), (64, 10, 12), (60, 16, 32)], 32).astype(np.int64)


def _tiny(concept="rhythm", classes=3, length=32) -> ExtRes:
    torch.manual_seed(0)
    return ExtRes(ExtResConfig(concept=concept, concept_classes=classes, concept_len=length, **TINY)).eval()


@pytest.fixture(scope="module")
def rhythm_tm():
    return TrainedModel(_tiny(), device="cpu")


# ---------------------------------------------------------------------------------- y as text, checks
def test_concept_text_round_trips_with_symbols_and_ascii():
    y = get_concept("rhythm")(A)
    text = co.concept_text("rhythm", y, group=4)
    assert text.startswith("●––– ●–●– ···· ●––– ●–––")
    assert np.array_equal(co.parse_concept("rhythm", text, 32, 3), y)
    assert np.array_equal(co.parse_concept("rhythm", "o--- o-.. " * 4, 32, 3)[:8], [0, 1, 1, 1, 0, 1, 2, 2])
    assert np.array_equal(co.parse_concept("contour", "·↑↓= ^vs.", 8, 4), [3, 1, 2, 0, 1, 2, 0, 3])
    assert np.array_equal(co.parse_concept("mine:f", "3 1, 0 2", 4, 4), [3, 1, 0, 2])
    assert np.array_equal(co.concept_from_code(co.concept_code(y), 32, 3), y)
    with pytest.raises(ConceptError, match=r"'k' \(position 4\) is not a rhythm symbol; accepted: ● onset"):
        co.parse_concept("rhythm", "o--k", 32, 3)
    with pytest.raises(ConceptError, match="has 32 positions; 3 were given"):
        co.parse_concept("rhythm", "o--", 32, 3)
    with pytest.raises(ConceptError, match="is not a concept of 8 digits"):
        co.concept_from_code("01234567", 8, 4)


def test_impossible_concepts_are_named_by_position():
    rhythm = [1, 0, 2, 1] + [0] * 28  # a hold first, a hold after a rest
    assert co.concept_problems("rhythm", rhythm, 32, 3) == [
        (0, "a hold needs a note before it, and this is the first step"),
        (3, "a hold needs a note before it, not a rest")]
    assert co.concept_problems("rhythm", get_concept("rhythm")(A), 32, 3) == []
    assert co.concept_problems("contour", [1, 3, 3, 3, 3, 3, 3, 3], 8, 4)[0][0] == 0
    assert co.concept_problems("contour", [3, 1, 2, 0, 3, 3, 1, 2], 8, 4) == []
    # onset counts 0..4: +2 or more three times in a row cannot be
    assert co.concept_problems("fragmentation", [5, 4, 4, 4, 0, 0, 0, 2], 8, 6) == [
        (3, "no onset counts of 0..4 per beat make these changes")]
    assert co.concept_problems("fragmentation", [5, 3, 0, 3, 4, 0, 2, 2], 8, 6) == []
    assert co.concept_problems("rhythm", [0, 3] + [0] * 30, 32, 3) == [(1, "class 3 is not one of 0..2")]
    with pytest.raises(ConceptError, match="position 4: a hold needs a note before it, not a rest"):
        co.check_concept("rhythm", rhythm, 32, 3)


# ---------------------------------------------------------------------------------- latent operations
def test_moving_the_residual_keeps_a_s_concept_and_moving_the_concept_keeps_a_s_residual(rhythm_tm):
    y, _, z_r = co.concept_codes(rhythm_tm, np.stack([A, B]))
    res = co.concept_path(rhythm_tm, A, B, steps=5, moving="residual", method="lerp")
    assert res.concepts.shape == (5, 32) and res.tokens.shape == (5, 32) and (res.concepts == y[0]).all()
    assert np.array_equal(res.tokens[0], co.decode_with(rhythm_tm, y[:1], z_r[:1])[0])  # A's own codes
    assert np.array_equal(res.tokens[-1], co.decode_with(rhythm_tm, y[:1], z_r[1:])[0])  # B's residual
    con = co.concept_path(rhythm_tm, A, B, steps=4, moving="concept")
    assert np.array_equal(con.concepts[0], y[0]) and np.array_equal(con.concepts[-1], y[1])
    assert np.array_equal(con.tokens, co.decode_with(rhythm_tm, con.concepts, np.repeat(z_r[:1], 4, 0)))
    assert np.array_equal(con.measured, get_concept("rhythm")(con.tokens))
    assert np.allclose(con.kept(), (con.concepts == con.measured).mean(1))
    with pytest.raises(ValueError, match="moving must be one of"):
        co.concept_path(rhythm_tm, A, B, moving="pitch")


def test_a_drawn_concept_is_decoded_or_refused(rhythm_tm):
    y = get_concept("rhythm")(A)
    z_r = co.prior_residuals(rhythm_tm, 2, seed=3)
    assert np.array_equal(z_r, co.prior_residuals(rhythm_tm, 2, seed=3)) and z_r.shape == (2, 6)
    tok = co.decode_drawn(rhythm_tm, y, z_r[0])
    assert tok.shape == (32,) and np.array_equal(tok, co.decode_with(rhythm_tm, y[None], z_r[:1])[0])
    bad = y.copy()
    bad[8:10] = [2, 1]
    with pytest.raises(ConceptError, match="position 10: a hold needs a note before it, not a rest"):
        co.decode_drawn(rhythm_tm, bad, z_r[0])


# ---------------------------------------------------------------------------------- figures
def test_the_grid_has_a_clickable_cell_per_position_and_class_and_marks_bad_positions():
    y = get_concept("contour")(A)
    fig = concept_grid_figure("contour", y, 4, bad=[2])
    cells = fig.data[-1]
    assert len(cells.customdata) == 8 * 4 and [0, 1] in [list(c) for c in cells.customdata]
    chosen = [c for c, col in zip(cells.customdata, cells.marker.color) if col != "#e8e8e8"]
    assert [list(c) for c in chosen] == [[i, int(v)] for i, v in enumerate(y)]
    assert cells.marker.color[[list(c) for c in cells.customdata].index([2, int(y[2])])] == "#d62728"
    assert np.array_equal(contour_levels([3, 1, 1, 3, 2, 0, 2, 3]), [0, 1, 2, 2, 1, 1, 0, 0])


def test_the_roll_draws_each_melody_s_concept_above_it_and_marks_misses():
    mels = [Melody(A), Melody(B)]
    got = get_concept("rhythm")(np.stack([A, B]))
    wanted = got.copy()
    wanted[1, 5] = 2
    fig = concept_roll_figure(mels, "rhythm", got, wanted=wanted)
    strip = [t for t in fig.data if t.yaxis == "y2"]
    assert fig.layout.yaxis2.domain == (0.8, 1) and strip[0].type == "heatmap" and len(strip[0].z[0]) == 64
    assert len(strip[-1].x) == 1 and strip[-1].x[0] == pytest.approx((32 + 5.5) / 16)  # one miss, step 6 of B
    contour = concept_roll_figure(Melody(A), "contour", get_concept("contour")(A))
    assert [t.mode for t in contour.data if t.yaxis == "y2"] == ["lines", "markers+text"]


# ---------------------------------------------------------------------------------- the page (AppTest)
@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("concept_models")
    save_checkpoint(folder / "extres-tiny.safetensors", _tiny())
    save_checkpoint(folder / "extres-contour-tiny.safetensors", _tiny("contour", 4, 8))
    return folder


def _table_rows(at) -> list[list[str]]:
    table = [m.value for m in at.markdown if m.value.startswith("| step |")]
    assert len(table) == 1
    return [[c.strip() for c in row.strip("|").split("|")] for row in table[0].splitlines()[2:]]


@pytest.mark.usefixtures("app_env", "clear_streamlit_caches")
def test_the_interpolation_view_moves_one_code_and_shows_each_step_s_concept():
    at = run_app(PAGE, model="extres-tiny", view="interpolation", isteps="4", move="residual")
    assert at.radio(key="cp_view").value == "interpolation" and at.slider(key="cp_isteps").value == 4
    assert "cp_path_roll" in chart_keys(at) and len(players(at)) == 1  # the timeline, one audio
    rows = _table_rows(at)
    assert [r[0] for r in rows] == ["1 · A", "2", "3", "4 · B"]
    assert len({r[1] for r in rows}) == 1  # the residual moves: every step is asked A's concept
    at.radio(key="cp_move").set_value("concept").run()
    assert not at.exception and at.query_params["move"] == "concept" and at.query_params["isteps"] == "4"
    rows = _table_rows(at)
    assert rows[0][1] != rows[-1][1]  # from A's concept to B's
    roll = at.get("plotly_chart")[chart_keys(at).index("cp_path_roll")]
    assert '"yaxis2"' in roll.proto.spec  # the concept is drawn above the roll


@pytest.mark.usefixtures("app_env", "clear_streamlit_caches")
def test_the_draw_view_decodes_an_edited_concept_and_refuses_an_impossible_one():
    at = run_app(PAGE, model="extres-tiny", view="draw")
    start = at.text_input(key="cp_draw").value
    assert start.startswith(("●", "·")) and len(start.replace(" ", "")) == 32  # A's rhythm
    assert "cp_grid" in chart_keys(at) and "cp_draw_roll" in chart_keys(at) and len(players(at)) == 1
    first = at.query_params["y"]
    assert len(first) == 32 and set(first) <= set("012")
    at.text_input(key="cp_draw").set_value("o--- " * 8).run()  # four quarter notes a bar
    assert not at.exception and at.query_params["y"] == "0111" * 8 and len(players(at)) == 1
    kept = [c.value for c in at.caption if c.value.startswith("The melody's rhythm")]
    assert len(kept) == 1 and "kept at" in kept[0]
    at.text_input(key="cp_draw").set_value("o--- .--- " + "o--- " * 6).run()  # a hold after a rest
    assert not at.exception and not players(at)
    assert any("position 6: a hold needs a note before it, not a rest" in e.value for e in at.error)
    at.text_input(key="cp_draw").set_value("o--- hello").run()
    assert any("'h' (position 5) is not a rhythm symbol" in e.value for e in at.error) and not at.exception
    at.button(key="cp_draw_reset").click().run()
    assert at.text_input(key="cp_draw").value == start and len(players(at)) == 1
    at.radio(key="cp_res").set_value("prior").run()
    assert not at.exception and at.query_params["residual"] == "prior" and len(players(at)) == 1


@pytest.mark.usefixtures("app_env", "clear_streamlit_caches")
def test_the_drawn_concept_comes_back_from_the_url_and_a_bad_one_is_named():
    at = run_app(PAGE, model="extres-contour-tiny", view="draw", y="31203312", residual="prior", rseed="7")
    assert at.text_input(key="cp_draw").value.replace(" ", "") == "·↑↓=··↑↓"
    assert at.number_input(key="cp_rseed").value == 7 and len(players(at)) == 1
    bad = run_app(PAGE, model="extres-contour-tiny", view="draw", y="3129", move="sideways")
    warnings = " ".join(w.value for w in bad.warning)
    assert "y='3129'" in warnings and "move='sideways'" in warnings
    # the view's concept grid: a contour has 8 beats × 4 classes to click
    assert "cp_grid" in chart_keys(bad)


def test_grid_clicks_are_read_in_either_form_streamlit_delivers():
    from explorer.ui.concept_page import _clicked_cells

    assert _clicked_cells({"selection": {"points": [{"customdata": [3, 1]}, {"customdata": {"0": 5, "1": 2}}]}}) \
        == [(3, 1), (5, 2)]
    assert _clicked_cells(None) == [] and _clicked_cells({"selection": {"points": [{"x": 1}]}}) == []
