"""The opt-in lower decode precision (``fast_decode.decode_precision("bf16")``): on real melodies
of every shipped melody model its greedy tokens stay close to the exact step loop's — above
floors set under what was measured (docs/decode-speed.md) — while its log-probabilities do
differ from fp32's, so the option cannot silently stop lowering the precision; the setting is
scoped (per thread, restored after the block), small batches stay exact, and bad names get a
clear message.

Measured on these melodies (96 default-data 2-bar melodies, 64 16-bar ones; this CPU, AMX):
token agreement 0.9967-1.0, whole melodies identical 0.859-1.0, log-probabilities differing by
0.08-22 at most; the fp32 fast path differs from the step loop by ≤ 1e-4.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from explorer.eval.run import reconstruction
from explorer.models import fast_decode
from explorer.models.extres import ExtRes
from explorer.models.fast_decode import BF16_MIN_ROWS, current_precision, decode_precision
from explorer.models.trained import TrainedModel
from test_fast_decode import SHIPPED, assert_same_greedy, both, shipped_codes, spread_melodies, tiny_models

TOKEN_FLOOR = 0.99  # measured ≥ 0.9967
MELODY_FLOOR = 0.8  # measured ≥ 0.859 (musicvae16: 55 of 64)
LOWERED = 1e-3  # the least max |Δ log-prob| that shows bf16 products (measured ≥ 0.08; fp32 ≤ 1e-4)

needs_bf16 = pytest.mark.skipif(not fast_decode.bf16_supported(), reason="no AVX-512 BF16 / AMX on this CPU")


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def melodies():
    """As test_fast_decode's, with enough 16-bar rows for bf16 to be used (``BF16_MIN_ROWS``)."""
    return spread_melodies({2: 96, 16: BF16_MIN_ROWS})


def lowered(model, z, chroma, **kw):
    """(bf16 fast, fp32 step loop) decodes of z."""
    model.eval()
    with torch.no_grad():
        ref = model.decode(z, chroma, reference=True, **kw)
        with decode_precision("bf16"):
            return model.decode(z, chroma, **kw), ref


def assert_close_not_equal(low, ref, what: str):
    same = low.tokens == ref.tokens
    tokens, rows = same.float().mean().item(), same.all(1).float().mean().item()
    assert tokens >= TOKEN_FLOOR and rows >= MELODY_FLOOR, f"{what}: bf16 tokens {tokens:.4f}, melodies {rows:.3f}"
    assert (low.logits - ref.logits).abs().max().item() > LOWERED, f"{what}: bf16 gave fp32's log-probabilities"


@needs_bf16
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_bf16_greedy_tokens_stay_close_to_the_step_loop(name, melodies):
    tm, tok, chroma, z = shipped_codes(name, melodies)
    assert_close_not_equal(*lowered(tm.model, z, chroma), name)
    assert_same_greedy(*both(tm.model, z, chroma))  # and after the block, fp32 again: exact
    if isinstance(tm.model, ExtRes):
        assert_close_not_equal(*lowered(tm.model, z, chroma, concept=tm.model.concept_of(tok)), name + " given y")


@needs_bf16
def test_bf16_reconstruction_accuracy_holds():
    from explorer.data.default import load_default

    tm = TrainedModel.load(SHIPPED["arvae-oneills-airds-nottingham"], device="cpu")
    sub = load_default(bars=2).take_split("test")
    idx = np.linspace(0, len(sub) - 1, 300).astype(int)
    tok, chroma = sub.tokens[idx], sub.chroma[idx].astype(np.float32)
    exact = reconstruction(tm, tok, chroma)["recon_accuracy_greedy"]
    with decode_precision("bf16"):
        low = reconstruction(tm, tok, chroma)["recon_accuracy_greedy"]
    assert abs(low - exact) <= 0.005, (exact, low)


@needs_bf16
@pytest.mark.parametrize("name", ["ec2vae", "musicvae", "musicvae16", "extres-contour"])
def test_random_models_bf16_decodes_and_samples(name):
    torch.manual_seed(0)
    model = tiny_models()[name].eval()
    z = torch.randn(BF16_MIN_ROWS, model.layout.dims, generator=torch.Generator().manual_seed(4)) * 2
    chroma = torch.zeros(BF16_MIN_ROWS, model.n_steps, 12)
    low, ref = lowered(model, z, chroma)
    assert low.tokens.shape == ref.tokens.shape
    assert (low.tokens == ref.tokens).float().mean() > 0.9
    with torch.no_grad():  # the same fast loop in fp32 gives other bits: the products were lowered
        assert not torch.equal(low.logits, model.decode(z, chroma).logits)
    torch.manual_seed(5)
    with torch.no_grad(), decode_precision("bf16"):
        drawn = model.decode(z, chroma, sample=True).tokens
    assert drawn.shape == ref.tokens.shape and (drawn != ref.tokens).any()


@needs_bf16
def test_batches_under_the_minimum_stay_exact(melodies):
    tm, _, chroma, z = shipped_codes("musicvae-nottingham-pop909-bach", melodies)
    for rows in (1, BF16_MIN_ROWS - 1):
        assert_same_greedy(*lowered(tm.model, z[:rows], chroma[:rows]))


@needs_bf16
def test_the_setting_is_scoped_to_the_block_and_the_thread():
    mm = torch.backends.mkldnn.matmul
    before = mm.fp32_precision
    seen = []
    with decode_precision("bf16"):
        assert current_precision() == "bf16"
        t = threading.Thread(target=lambda: seen.append(current_precision()))
        t.start()
        t.join()
        assert mm.fp32_precision == before  # oneDNN's process-wide setting only while a loop runs
    assert seen == ["fp32"] and current_precision() == "fp32" and mm.fp32_precision == before
    with pytest.raises(RuntimeError), decode_precision("bf16"):
        raise RuntimeError("a failing decode")
    assert current_precision() == "fp32"


def test_bad_precision_names_the_accepted_ones(monkeypatch):
    with pytest.raises(ValueError, match="one of fp32, bf16; got 'int4'"), decode_precision("int4"):
        pass
    monkeypatch.setattr(fast_decode, "bf16_supported", lambda: False)
    with pytest.raises(ValueError, match="AVX-512 BF16 or AMX"), decode_precision("bf16"):
        pass


def test_explorer_eval_decodes_in_the_precision_asked_for(tmp_path, capsys, monkeypatch):
    """`explorer eval --decode-precision bf16` runs the evaluation's decodes in bf16 (fp32 by
    default) and says so in its result; a CPU without bf16 gets one line and exit 2."""
    import json

    from explorer.cli import main
    from explorer.data.default import shipped_default_path
    from explorer.models.checkpoint import save_checkpoint
    from explorer.models.registry import build_model

    data = shipped_default_path()  # the default data's test split (2-bar segments)
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "a.safetensors", build_model("arvae", hidden_dims=32, z_dims=8), card={})
    seen = []
    real = fast_decode.current_precision
    monkeypatch.setattr(fast_decode, "current_precision", lambda: seen.append(real()) or real())

    def eval_json(*extra):
        seen.clear()
        capsys.readouterr()
        code = main(["eval", str(ckpt), "--data", str(data), "--split", "test", "--limit", str(2 * BF16_MIN_ROWS),
                     "--device", "cpu", "--json", *extra])
        return code, capsys.readouterr()

    code, out = eval_json()
    assert code == 0 and json.loads(out.out)["decode_precision"] == "fp32" and set(seen) == {"fp32"}
    code, out = eval_json("--decode-precision", "bf16")
    if fast_decode.bf16_supported():
        assert code == 0 and json.loads(out.out)["decode_precision"] == "bf16" and "bf16" in seen
    else:
        assert code == 2 and "bf16" in out.err and "Traceback" not in out.err


def test_explorer_bench_passes_the_precision_to_decode_speed(monkeypatch):
    from explorer import bench, bench_decode

    got = []
    monkeypatch.setattr(bench_decode, "bench_decode_speed", lambda precision: got.append(precision) or [])
    assert bench.run(["decode-speed"], precision="fp32")["decode-speed"]["models"] == [] and got == ["fp32"]
    monkeypatch.setattr(fast_decode, "bf16_supported", lambda: False)
    with pytest.raises(ValueError, match="bf16"):
        bench.run(["decode-speed"], precision="bf16")
    bench.run(["decode-speed"])
    assert got == ["fp32", "fp32"]  # no bf16 on the CPU: the default falls back to fp32
