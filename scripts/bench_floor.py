"""The floor of a slider move on this machine: the same browser measurement as ``bench_clicks.py
--only sliders`` against a page that holds nothing but one control and the app's clip player (a new
2-bar melody rendered by FluidSynth for each position, auto-played; no model, no other element).
``--control streamlit`` (default): an ``st.slider``, as on the Attribute sliders page; ``--control
native``: an ``<input type="range">`` in an ``st.components.v2`` component that sends its value on
release (what a slider of our own would cost). Both in a fragment, as the Attribute sliders page's.

    .venv/bin/python scripts/bench_floor.py [--control streamlit|native] [--moves 20]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_app import ROOT, chromium, new_page, serving  # noqa: E402
from bench_clicks import MARK_INPUT, RECORD, slider_moves  # noqa: E402

APP = '''import sys
sys.path.insert(0, {root!r})
from types import SimpleNamespace

import numpy as np
import streamlit as st

from explorer.device import set_interactive_threads
from explorer.music.melody import Melody
from explorer.ui.player import play_ui

set_interactive_threads()
JS = """export default function ({{ data, parentElement, setStateValue }}) {{
  let r = parentElement.querySelector("input");
  if (!r) {{
    r = document.createElement("input");
    Object.assign(r, {{ type: "range", min: -3, max: 3, step: 0.1 }});
    r.style.width = "100%";
    parentElement.append(r);
    r.addEventListener("change", () => setStateValue("value", parseFloat(r.value)));
  }}
  if (document.activeElement !== r && data != null) r.value = data;
}}"""
RANGE = st.components.v2.component("floor_range", js=JS, isolate_styles=False)  # in the page's DOM


@st.fragment
def part():
    if {native!r}:
        got = RANGE(data=st.session_state.get("v", 0.0), key="sl_d0", on_value_change=lambda: None,
                    default={{"value": 0.0}})
        v = st.session_state.v = got.value if got.value is not None else 0.0
    else:
        v = st.slider("value", -3.0, 3.0, 0.0, 0.1, key="sl_d0")
    k = int(round((v + 3) * 10))
    tokens = np.full(32, 128, np.uint8)  # eight quarter notes whose pitches follow the position
    tokens[0::4] = [60 + (k + 3 * i) % 24 for i in range(8)]
    settings = SimpleNamespace(audio=True, program=0, qpm=None, model_label=None)
    play_ui(Melody(tokens, None, 120.0), settings, key="sl_out", name="floor", roll="svg", autoplay=True)


part()
'''


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--control", choices=["streamlit", "native"], default="streamlit")
    ap.add_argument("--moves", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="bench-floor-app-"))
    (root / "app.py").write_text(APP.format(root=str(ROOT), native=args.control == "native"), encoding="utf-8")
    with serving("bench-floor-", root) as url, sync_playwright() as p:
        b = chromium(p)
        page = new_page(b)
        page.add_init_script(RECORD)
        page.goto(url)
        page.evaluate(MARK_INPUT)
        sel = ".st-key-sl_out"
        page.locator(f"{sel} audio").first.wait_for(state="attached")
        page.wait_for_timeout(3000)
        out = {"control": args.control, **slider_moves(page, sel, args.moves, random.Random(args.seed))}
        b.close()
    print(json.dumps(out), flush=True)
    return out


if __name__ == "__main__":
    main()
