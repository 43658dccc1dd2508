// The clip player of explorer/ui/clip_player.py. Its audio travels inside the element's data
// (lossless FLAC, with the MIDI), so nothing here depends on Streamlit's /media URLs, which the
// server drops after an interrupted rerun while the page still shows them.
//
// data: [u32 little-endian header length][header JSON][blobs]; the header names each blob as
// [offset, size] past the header. Two modes:
//   "player": one clip in an <audio> element, with MIDI and WAV downloads built in the browser;
//   "live":   the clips of one control's positions, decoded once into AudioBuffers, so that moving
//             the range switches sound without asking the server (the release tells it, once).

const STATE = new WeakMap(); // parentElement → what this mount shows

function unpack(data) {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(0, true);
  const head = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n)));
  const part = (p) => (p ? bytes.slice(4 + n + p[0], 4 + n + p[0] + p[1]) : null);
  return { head, part };
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function save(blob, name) {
  const a = el("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

// Decoding at the file's own sample rate keeps the samples exact (FLAC is lossless): the WAV
// written back is the one the server rendered, sample for sample.
async function decode(bytes, sampleRate) {
  const ctx = new OfflineAudioContext(1, 1, sampleRate);
  return ctx.decodeAudioData(bytes.slice().buffer);
}

function wavOf(buffer) {
  const x = buffer.getChannelData(0), n = x.length, sr = buffer.sampleRate;
  const out = new DataView(new ArrayBuffer(44 + 2 * n));
  const str = (o, s) => [...s].forEach((c, i) => out.setUint8(o + i, c.charCodeAt(0)));
  str(0, "RIFF"); out.setUint32(4, 36 + 2 * n, true); str(8, "WAVE");
  str(12, "fmt "); out.setUint32(16, 16, true); out.setUint16(20, 1, true); out.setUint16(22, 1, true);
  out.setUint32(24, sr, true); out.setUint32(28, 2 * sr, true); out.setUint16(32, 2, true); out.setUint16(34, 16, true);
  str(36, "data"); out.setUint32(40, 2 * n, true);
  // Chromium's decoder maps a 16-bit sample s to s / 32768 below zero and s / 32767 above
  // (checked: the WAV written back equals the rendered one, tests/test_live_player.py)
  for (let i = 0; i < n; i++) {
    const v = Math.round(x[i] < 0 ? x[i] * 32768 : x[i] * 32767);
    out.setInt16(44 + 2 * i, Math.max(-32768, Math.min(32767, v)), true);
  }
  return new Blob([out.buffer], { type: "audio/wav" });
}

// ---- a piano roll of the clip's notes, with a playhead ---------------------------------------
// The notes come from Python ([pitch, start s, end s], read from the clip's MIDI); the x-axis is
// the clip's length in seconds (the audio's, once known), so the playhead at t / length lies over
// the note that sounds. An SVG scaled without keeping its aspect: no redraw when the page resizes.
const SVG = "http://www.w3.org/2000/svg";

function makeRoll(cls) {
  const box = el("div", cls ? "clip-roll " + cls : "clip-roll");
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("preserveAspectRatio", "none");
  const track = el("div", "clip-track"); // moved (transform) across the roll; the playhead rides on it
  const head = el("div", "clip-playhead");
  track.append(head);
  box.append(svg, track);
  return { box, svg, track, head, span: 1 };
}

function pitchRange(lists) {
  const ps = lists.flatMap((notes) => (notes || []).map((n) => n[0]));
  return ps.length ? [Math.min(...ps) - 1, Math.max(...ps) + 1] : [59, 61];
}

function drawRoll(roll, notes, span, range) {
  notes = notes || [];
  const [lo, hi] = range || pitchRange([notes]);
  roll.span = Math.max(span || 0, ...notes.map((n) => n[2]), 1e-3);
  roll.svg.setAttribute("viewBox", `0 0 ${roll.span} ${hi - lo + 1}`);
  roll.svg.replaceChildren(...notes.map(([p, a, b]) => {
    const r = document.createElementNS(SVG, "rect");
    r.setAttribute("x", a);
    r.setAttribute("y", hi - p);
    r.setAttribute("width", Math.max(b - a, 1e-3));
    r.setAttribute("height", 1);
    return r;
  }));
}

function setSpan(roll, span) {
  if (!(span > 0)) return;
  roll.span = span;
  if (roll.anim && roll.anim.playState === "running") roll.anim.playbackRate = 1 / span;
  const vb = roll.svg.getAttribute("viewBox");
  if (vb) roll.svg.setAttribute("viewBox", vb.replace(/^0 0 \S+/, `0 0 ${span}`));
}

// The playhead moves on the compositor: a Web Animations transform of the roll's track, one
// 1-s pass of it standing for the clip (played at 1 / its length), not a position set by script
// every frame. A looping clip then costs the page no frames: with `left` set per frame, Chromium
// laid out and painted ≈ 75 frames a second (≈ 9 ms of its main thread each, plus compositing)
// for as long as a clip played, on the cores that the server's next rerun needs.
function headAnim(roll) {
  if (!roll.anim) {
    roll.anim = roll.track.animate([{ transform: "translateX(0%)" }, { transform: "translateX(100%)" }],
      { duration: 1000, fill: "both" });
    roll.anim.pause();
  }
  return roll.anim;
}

// The playhead stands at t seconds.
function place(roll, t) {
  const a = headAnim(roll);
  a.pause();
  a.effect.updateTiming({ iterations: 1 });
  a.currentTime = 1000 * Math.min(Math.max(t / roll.span, 0), 1);
}

// The playhead moves from where s.position() says (seconds), looping with the clip when it loops;
// set again from the sound every second (the two clocks drift apart slowly) until the sound stops.
function animate(s) {
  const t = s.position();
  if (t === null) return;
  const roll = s.roll, a = headAnim(roll);
  if (s.moving && s.moving !== roll && s.moving.anim) s.moving.anim.pause(); // another cell's
  s.moving = roll;
  a.effect.updateTiming({ iterations: s.audio && !s.audio.loop ? 1 : Infinity });
  a.playbackRate = 1 / roll.span;
  a.currentTime = 1000 * (t / roll.span);
  a.play();
  if (!s.sync) {
    s.sync = setInterval(() => {
      const now = s.position();
      if (now === null) { clearInterval(s.sync); s.sync = 0; return; }
      s.moving.anim.currentTime = 1000 * (now / s.moving.span);
    }, 1000);
  }
}

// ---- space plays/stops the page's main player ------------------------------------------------
// One listener for the page (however many players): a space typed where space means something
// (a text field, a button, a slider, a select…) is left alone, and so is one a player handled.
const KEEP_SPACE = 'input,textarea,select,button,audio,video,[contenteditable=""],[contenteditable="true"],' +
  '[role="slider"],[role="textbox"],[role="combobox"],[role="listbox"],[role="option"],[role="checkbox"],' +
  '[role="switch"],[role="radio"],[role="button"],[role="tab"],[role="menuitem"]';

// The player last played, else the one Python marked main, else the first on the page.
function mainPlayer() {
  const last = window.__clipLast;
  if (last && last.isConnected && last.__clip && last.__clip.ready()) return last;
  const all = [...document.querySelectorAll(".clip-player")].filter((r) => r.__clip && r.__clip.ready());
  return all.find((r) => r.dataset.main) || all[0] || null;
}

function onSpace(ev) {
  if (ev.key !== " " || ev.defaultPrevented || ev.repeat || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.target instanceof Element && ev.target.closest(KEEP_SPACE)) return;
  const root = mainPlayer();
  if (!root) return;
  ev.preventDefault(); // not a page scroll
  root.__clip.toggle();
}

if (!window.__clipSpace) {
  window.__clipSpace = true;
  document.addEventListener("keydown", onSpace);
}

// ---- one clip --------------------------------------------------------------------------------
function player(root, head, part, s) {
  if (!s.audio) {
    root.replaceChildren();
    s.roll = makeRoll();
    s.audio = el("audio");
    s.audio.controls = true;
    s.audio.preload = "auto";
    s.note = el("span", "clip-note");
    s.midi = el("button", "clip-dl", "MIDI");
    s.wav = el("button", "clip-dl", "WAV");
    s.midi.onclick = () => save(new Blob([s.midiBytes], { type: "audio/midi" }), s.head.name + ".mid");
    s.wav.onclick = async () => {
      s.wav.disabled = true;
      try { save(wavOf(await decode(s.clipBytes, s.head.sample_rate)), s.head.name + ".wav"); }
      finally { s.wav.disabled = false; }
    };
    s.position = () => (s.audio.paused ? null : s.audio.currentTime);
    s.audio.addEventListener("play", () => { window.__clipLast = root; animate(s); });
    // the clip's length known (an auto-play starts before it is), a seek, a stop: the playhead
    // stands where the sound is, and goes on moving from there if it plays
    s.audio.addEventListener("loadedmetadata", () => setSpan(s.roll, s.audio.duration));
    for (const type of ["loadedmetadata", "pause", "seeked", "ended"]) {
      s.audio.addEventListener(type, () => {
        place(s.roll, s.audio.currentTime);
        if (!s.audio.paused) animate(s);
      });
    }
    root.__clip = {
      ready: () => !!s.clipBytes,
      toggle: () => (s.audio.paused ? s.audio.play().catch(() => {}) : s.audio.pause()),
    };
    const bar = el("div", "clip-bar");
    bar.append(s.audio, s.note, s.midi, s.wav);
    root.append(s.roll.box, bar);
  }
  const clip = head.clips[0];
  s.clipBytes = clip ? part(clip.audio) : null;
  s.midiBytes = part(head.midi);
  s.audio.style.display = s.wav.style.display = clip ? "" : "none";
  s.roll.box.style.display = clip && head.notes ? "" : "none";
  s.note.textContent = clip ? "" : head.note || "";
  s.midi.style.display = s.midiBytes ? "" : "none";
  if (s.url) URL.revokeObjectURL(s.url);
  s.url = null;
  drawRoll(s.roll, head.notes, 0);
  place(s.roll, 0);
  if (clip) {
    s.url = URL.createObjectURL(new Blob([s.clipBytes], { type: head.mime }));
    s.audio.src = s.url;
    s.audio.loop = !!head.loop;
    // auto-play what a change made; a first visit stays quiet
    if (head.autoplay && s.shown) s.audio.play().catch(() => {});
  }
}

// ---- clips switched in the browser: a control's positions ("live"), a palette's cells --------
// Both decode their clips once into AudioBuffers and loop the current one; moving the control
// (or the pointer over the palette) switches sound without asking the server.
function switcher(root, head, part, s) {
  s.status.textContent = "decoding…";
  root.dataset.state = "working";
  s.buffers = null; // the old clips stay in the air until the new ones are decoded
  const token = (s.token = {});
  const autoplay = head.autoplay && s.shown; // a change made these clips (not the first visit)
  s.ctx = s.ctx || new AudioContext();
  s.position = () => {
    if (!s.source) return null;
    return (s.ctx.currentTime - s.t0) % s.source.buffer.duration;
  };
  root.__clip = { ready: () => !!s.buffers, toggle: () => toggle(s) };
  const bytes = head.clips.map((c) => part(c.audio));
  const unique = new Map(); // clips repeat along a control: decode each sound once
  Promise.all(bytes.map((b, i) => {
    const key = head.clips[i].sha;
    if (!unique.has(key)) unique.set(key, s.ctx.decodeAudioData(b.slice().buffer));
    return unique.get(key);
  })).then((buffers) => {
    if (token !== s.token) return;
    s.buffers = buffers;
    s.shas = head.clips.map((c) => c.sha);
    s.status.textContent = "";
    root.dataset.state = "ready";
    s.view();
    if (s.source) switchTo(s, s.index, null);
    else if (autoplay) start(s);
  }).catch((err) => {
    if (token !== s.token) return;
    s.status.textContent = "cannot decode the audio: " + err;
    root.dataset.state = "error";
  });
}

function live(root, head, part, s, setTriggerValue) {
  if (!s.range) {
    root.replaceChildren();
    s.play = el("button", "clip-play", "▶ Play");
    s.range = el("input", "clip-range");
    s.range.type = "range";
    s.range.min = 0;
    s.range.step = 1;
    s.value = el("span", "clip-value");
    s.status = el("span", "clip-status");
    s.roll = makeRoll("clip-roll-live");
    const bar = el("div", "clip-bar clip-live");
    bar.tabIndex = 0;
    bar.append(s.play, s.range, s.value, s.status);
    root.append(s.roll.box, bar);
    s.play.onclick = () => toggle(s);
    s.range.addEventListener("input", (ev) => show(s, +s.range.value, ev.timeStamp));
    s.range.addEventListener("change", () => setTriggerValue("index", +s.range.value));
    bar.addEventListener("keydown", (ev) => {
      if (ev.key === " ") { ev.preventDefault(); toggle(s); }
    });
    s.view = () => {
      const i = s.index, notes = s.head.notes;
      s.value.textContent = `${s.head.label} = ${s.head.values[i].toFixed(2)}`;
      s.root.dataset.index = i;
      drawRoll(s.roll, notes ? notes[i] : [], s.buffers ? s.buffers[i].duration : 0, s.range2);
    };
  }
  s.range.max = head.values.length - 1;
  s.range.value = head.index;
  s.index = head.index;
  s.range2 = head.notes ? pitchRange(head.notes) : null; // one pitch axis along the control
  s.view();
  switcher(root, head, part, s);
}

// The palette: an n×n grid of cells, each the roll of its melody. With sound on, the pointer
// over a cell plays it; a press starts the sound; the release (or Enter) selects the cell on the
// server, once. The arrow keys move across the grid, space plays/stops.
function palette(root, head, part, s, setTriggerValue) {
  const n = head.n;
  root.replaceChildren();
  s.play = el("button", "clip-play", "▶ Play");
  s.status = el("span", "clip-status");
  s.value = el("span", "clip-value");
  const bar = el("div", "clip-bar");
  bar.append(s.play, s.value, s.status);
  s.grid = el("div", "clip-grid");
  s.grid.tabIndex = 0;
  s.grid.style.gridTemplateColumns = `repeat(${n}, 1fr)`;
  const range = pitchRange(head.notes);
  s.cells = head.labels.map((lab, k) => {
    const roll = makeRoll("clip-cell");
    roll.box.dataset.cell = lab;
    roll.box.append(el("span", "clip-cell-label", lab));
    if (head.shade) roll.box.style.setProperty("--clip-shade", head.shade[k].toFixed(3));
    drawRoll(roll, head.notes[k], 0, range);
    return roll;
  });
  s.grid.append(...s.cells.map((c) => c.box));
  root.append(bar, s.grid);
  s.play.onclick = () => toggle(s);
  s.index = head.index;
  s.view = () => {
    s.cells.forEach((c, k) => {
      c.box.classList.toggle("current", k === s.index);
      c.box.classList.toggle("selected", k === s.head.index);
    });
    s.roll = s.cells[s.index];
    if (s.buffers) setSpan(s.roll, s.buffers[s.index].duration);
    s.value.textContent = `cell ${s.head.labels[s.index]}`;
    root.dataset.index = s.index;
  };
  const cellAt = (ev) => {
    const r = s.grid.getBoundingClientRect();
    const c = Math.floor((n * (ev.clientX - r.left)) / r.width), row = Math.floor((n * (ev.clientY - r.top)) / r.height);
    return c >= 0 && c < n && row >= 0 && row < n ? row * n + c : null;
  };
  let down = false;
  s.grid.addEventListener("pointerdown", (ev) => {
    const k = cellAt(ev);
    if (k === null) return;
    down = true;
    s.grid.setPointerCapture(ev.pointerId);
    if (k !== s.index) show(s, k, ev.timeStamp);
    if (!s.source) start(s);
  });
  // pointerrawupdate (Chromium) comes as the input does; pointermove waits for the next frame
  const MOVE = "onpointerrawupdate" in window ? "pointerrawupdate" : "pointermove";
  s.grid.addEventListener(MOVE, (ev) => {
    const k = cellAt(ev);
    if (k !== null && k !== s.index && (down || s.source)) show(s, k, ev.timeStamp);
  });
  const release = (ev) => {
    if (!down) return;
    down = false;
    const k = cellAt(ev);
    setTriggerValue("index", k === null ? s.index : k);
  };
  s.grid.addEventListener("pointerup", release);
  s.grid.addEventListener("pointercancel", () => { down = false; });
  const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -n, ArrowDown: n };
  s.grid.addEventListener("keydown", (ev) => {
    if (ev.key === " ") { ev.preventDefault(); toggle(s); return; }
    if (ev.key === "Enter") { ev.preventDefault(); setTriggerValue("index", s.index); return; }
    const d = moves[ev.key];
    if (!d) return;
    ev.preventDefault();
    const k = s.index + d, row = Math.floor(s.index / n);
    const ok = Math.abs(d) === 1 ? k >= row * n && k < row * n + n : k >= 0 && k < n * n;
    if (ok) show(s, k, ev.timeStamp);
  });
  s.view();
  switcher(root, head, part, s);
}

function show(s, i, t0) {
  s.index = i;
  s.view();
  if (s.source && s.buffers) switchTo(s, i, t0);
}

// A new source at the old one's place in the bar: the melody changes, the beat goes on.
function switchTo(s, i, t0) {
  const old = s.source, buf = s.buffers[i];
  const pos = old ? (s.ctx.currentTime - s.t0) % buf.duration : 0;
  const src = s.ctx.createBufferSource();
  src.buffer = buf;
  src.loop = true;
  src.connect(s.ctx.destination);
  src.start(0, pos);
  s.t0 = s.ctx.currentTime - pos;
  if (old) old.stop();
  s.source = src;
  s.root.dataset.playing = s.shas[i];
  if (t0 !== null && t0 !== undefined) {
    s.root.dataset.lastSwitchMs = (performance.now() - t0).toFixed(2);
    s.root.dataset.switches = (+(s.root.dataset.switches || 0) + 1).toString();
  }
  setSpan(s.roll, buf.duration);
  animate(s);
}

function start(s) {
  if (!s.buffers) return;
  s.ctx.resume();
  window.__clipLast = s.root;
  switchTo(s, s.index, null);
  s.play.textContent = "■ Stop";
}

function toggle(s) {
  if (s.source) {
    place(s.roll, s.position()); // the playhead stays where the sound stopped
    s.source.stop();
    s.source = null;
    delete s.root.dataset.playing;
    s.play.textContent = "▶ Play";
  } else {
    start(s);
  }
}

// Called on unmount (Streamlit keeps the cleanup of the latest call): stop what this mount plays.
function cleanup(s, parentElement) {
  return () => {
    if (s.source) s.source.stop();
    s.source = null;
    if (s.ctx) s.ctx.close();
    if (s.url) URL.revokeObjectURL(s.url);
    STATE.delete(parentElement);
  };
}

const MODES = { player, live, palette };

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  if (!data) return undefined;
  let s = STATE.get(parentElement);
  const { head, part } = unpack(data);
  if (s && s.head && s.head.mode !== head.mode) { // another kind of player at this place
    cleanup(s, parentElement)();
    s.root.remove();
    s = null;
  }
  if (!s) {
    s = { root: el("div", "clip-player") };
    parentElement.append(s.root);
    STATE.set(parentElement, s);
  }
  if (s.head && s.head.sig === head.sig) { // a rerun with the same audio: keep playing
    const moved = head.mode !== "player" && head.index !== s.head.index; // the server moved the control
    s.head = head;
    if (moved) {
      if (s.range) s.range.value = head.index;
      show(s, head.index, null);
    }
    return cleanup(s, parentElement);
  }
  s.head = head;
  s.root.dataset.mode = head.mode;
  if (head.main) s.root.dataset.main = "1";
  else delete s.root.dataset.main;
  MODES[head.mode](s.root, head, part, s, setTriggerValue);
  s.shown = true;
  return cleanup(s, parentElement);
}
