// explorer/ui/map_marks.py's browser side: draws marks over a plotly chart already on the page
// (the Latent map's "selected" and "neighbours" rings, the sliders' position on their curve) as
// an SVG overlay, so a click reruns only the part of the page that changed and the chart is
// neither sent nor redrawn again;
// and shows a "Working…" badge from the user's input until the rerun it started draws this
// element again.
//
// data: {chart: key of the st.plotly_chart, traces: {name: plotly trace}, watch: [keys], label, run}
//   watch: keys of elements whose input starts a rerun: a plotly chart (a click or a selection
//   on it) or a slider (a change of its aria-valuenow after a pointer or key release).

const BUSY_ID = "explorer-busy";
const MAX_BUSY_MS = 20_000; // an input that started no rerun cannot leave the badge up for ever

function badge() {
  let b = document.getElementById(BUSY_ID);
  if (!b) {
    b = document.createElement("div");
    b.id = BUSY_ID;
    b.setAttribute("role", "status");
    b.setAttribute("aria-live", "polite");
    b.style.cssText = "position:fixed;top:0.6rem;right:4rem;z-index:1000100;padding:0.25rem 0.7rem;"
      + "border-radius:1rem;background:#ff4b4b;color:white;font:600 0.85rem sans-serif;"
      + "box-shadow:0 1px 4px rgba(0,0,0,.3);display:none";
    document.body.append(b);
  }
  return b;
}

function busy(label) {
  const b = badge();
  b.textContent = label || "Working…";
  b.style.display = "";
  b.dataset.shown = String(+(b.dataset.shown || 0) + 1); // how many times it came up (for tests)
  clearTimeout(b._timer);
  b._timer = setTimeout(() => idle(), MAX_BUSY_MS);
}

function idle() {
  const b = document.getElementById(BUSY_ID);
  if (b) {
    b.style.display = "none";
    clearTimeout(b._timer);
  }
}

function chartOf(key) {
  return document.querySelector(`.st-key-${key} .js-plotly-plot`);
}

// The marks are drawn over the chart, not as plotly traces: a Plotly.restyle redraws the whole
// chart (≈ 100–250 ms for a 10k-point map), an overlay of a few SVG shapes costs next to nothing.
// Positions come from the chart's own axes, and are drawn again after every plotly redraw
// (zoom, pan, resize, a new figure).
const SVG_NS = "http://www.w3.org/2000/svg";

function drawMarks(gd) {
  const L = gd._fullLayout, traces = gd._explorerMarks || {};
  const host = gd.querySelector(".svg-container");
  if (!L || !L.xaxis || !L.yaxis || !host) return;
  let svg = host.querySelector("svg.explorer-marks");
  if (!svg) {
    svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("class", "explorer-marks");
    svg.style.cssText = "position:absolute;left:0;top:0;pointer-events:none;overflow:visible;z-index:5";
    host.append(svg);
  }
  svg.setAttribute("width", L.width);
  svg.setAttribute("height", L.height);
  svg.replaceChildren();
  const s = L._size, px = (v) => s.l + L.xaxis.d2p(v), py = (v) => s.t + L.yaxis.d2p(v);
  const inside = (x, y) => x >= s.l - 1 && x <= s.l + s.w + 1 && y >= s.t - 1 && y <= s.t + s.h + 1;
  for (const [name, t] of Object.entries(traces)) {
    const g = document.createElementNS(SVG_NS, "g");
    g.dataset.name = name;
    g.dataset.x = JSON.stringify(t.x);
    g.dataset.y = JSON.stringify(t.y);
    if ((t.mode || "markers").includes("lines")) { // a line through the points (a position marker)
      const line = t.line || {}, pts = t.x.map((x, i) => [px(x), py(t.y[i])]);
      const path = document.createElementNS(SVG_NS, "polyline");
      path.setAttribute("points", pts.map((p) => p.join(",")).join(" "));
      path.setAttribute("fill", "none");
      path.setAttribute("stroke", line.color || "#1f77b4");
      path.setAttribute("stroke-width", line.width || 1);
      if (line.dash === "dot") path.setAttribute("stroke-dasharray", "2,3");
      if (pts.every(([x, y]) => inside(x, y))) g.append(path);
    } else { // open rings, as plotly's "circle-open" markers
      const m = t.marker || {};
      t.x.forEach((x, i) => {
        const cx = px(x), cy = py(t.y[i]);
        if (!inside(cx, cy)) return;
        const c = document.createElementNS(SVG_NS, "circle");
        c.setAttribute("cx", cx);
        c.setAttribute("cy", cy);
        c.setAttribute("r", (m.size || 12) / 2);
        c.setAttribute("fill", "none");
        c.setAttribute("stroke", m.color || "#ff3b30");
        c.setAttribute("stroke-width", 3);
        g.append(c);
      });
    }
    svg.append(g);
  }
}

function overlay(key, traces) {
  const gd = chartOf(key);
  if (!gd || !gd._fullLayout || !gd.on) return false;
  gd._explorerMarks = traces;
  if (!gd._explorerMarksHooked) {
    gd._explorerMarksHooked = true;
    gd.on("plotly_afterplot", () => drawMarks(gd));
  }
  drawMarks(gd);
  return true;
}

// What starts a rerun. A slider: its value changed between a pointer or key press and its
// release (listened for on the document, so a slider drawn again later is still watched). A
// plotly chart: a click or a selection on it (plotly's own events, once per chart node).
// One watcher per element of this component (a page may draw several, with and without keys to
// watch: the Attribute sliders page draws one on its curve and one after its sliders), kept on
// the window: the document's listeners below are installed once per page, and a changed script
// (a new module) must reach them too.
// element → {keys, label, run: the run of the data it last drew}
const WATCHERS = window.__explorerWatchers || (window.__explorerWatchers = new Map());

function watchedBox(target) {
  for (const [host, w] of WATCHERS) {
    if (!host.isConnected) { WATCHERS.delete(host); continue; }
    for (const key of w.keys) {
      const box = target.closest && target.closest(`.st-key-${key}`);
      if (box && !box.querySelector(".js-plotly-plot")) return { box, w };
    }
  }
  return null;
}

function sliderValue(box) {
  const t = box.querySelector('input[type="range"], [role="slider"]'); // an <input> in Streamlit 1.67
  return t && (t.tagName === "INPUT" ? t.value : t.getAttribute("aria-valuenow"));
}

if (!window.__explorerWatch) {
  window.__explorerWatch = true;
  let hit = null, before = null;
  const press = (ev) => { hit = watchedBox(ev.target); before = hit && sliderValue(hit.box); };
  const release = () => {
    const h = hit, v = before;
    hit = null;
    // the thumb shows its new value after React's next render, which a busy page delays: look
    // every 40 ms for up to 1.5 s (a release that changed nothing shows no badge, nor one whose
    // rerun has already drawn the watching element again)
    if (!h) return;
    let looks = 0;
    const run = h.w.run;
    const look = () => {
      if (h.w.run !== run) return;
      if (sliderValue(h.box) !== v) busy(h.w.label);
      else if (looks++ < 37) setTimeout(look, 40);
    };
    setTimeout(look, 40);
  };
  document.addEventListener("pointerdown", press, true);
  document.addEventListener("keydown", press, true);
  document.addEventListener("pointerup", release, true);
  document.addEventListener("keyup", release, true);
}

function watchCharts(w) {
  let all = true;
  for (const key of w.keys) {
    const box = document.querySelector(`.st-key-${key}`);
    const gd = box && box.querySelector(".js-plotly-plot");
    if (box && !gd && box.querySelector('[role="slider"], input')) continue; // a widget: see above
    if (!gd || !gd.on) { all = false; continue; }
    if (!gd._explorerBusy) {
      gd._explorerBusy = true;
      gd.on("plotly_click", () => busy(w.label));
      gd.on("plotly_selected", (ev) => { if (ev && ev.points && ev.points.length) busy(w.label); });
    }
  }
  return all;
}

export default function (component) {
  const { data, parentElement } = component;
  idle(); // this element was drawn again: the rerun that the input started has reached it
  if (!data) return undefined;
  const d = typeof data === "string" ? JSON.parse(data) : data;
  parentElement.dataset.run = d.run;
  const w = WATCHERS.get(parentElement) || {};
  Object.assign(w, { keys: d.watch || [], label: d.label, run: d.run });
  WATCHERS.set(parentElement, w);
  let tries = 0;
  const apply = () => { // the chart may not be drawn yet on a first visit
    const done = (d.chart ? overlay(d.chart, d.traces || {}) : true) & watchCharts(w);
    if (!done && tries++ < 50) setTimeout(apply, 100);
  };
  apply();
  return undefined;
}
