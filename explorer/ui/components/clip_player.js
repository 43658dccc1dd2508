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

// ---- one clip --------------------------------------------------------------------------------
function player(root, head, part, s) {
  if (!s.audio) {
    root.replaceChildren();
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
    const bar = el("div", "clip-bar");
    bar.append(s.audio, s.note, s.midi, s.wav);
    root.append(bar);
  }
  const clip = head.clips[0];
  s.clipBytes = clip ? part(clip.audio) : null;
  s.midiBytes = part(head.midi);
  s.audio.style.display = s.wav.style.display = clip ? "" : "none";
  s.note.textContent = clip ? "" : head.note || "";
  s.midi.style.display = s.midiBytes ? "" : "none";
  if (s.url) URL.revokeObjectURL(s.url);
  s.url = null;
  if (clip) {
    s.url = URL.createObjectURL(new Blob([s.clipBytes], { type: head.mime }));
    s.audio.src = s.url;
    s.audio.loop = !!head.loop;
    // auto-play what a change made; a first visit stays quiet
    if (head.autoplay && s.shown) s.audio.play().catch(() => {});
  }
}

// ---- live: a control's positions ------------------------------------------------------------
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
    const bar = el("div", "clip-bar clip-live");
    bar.tabIndex = 0;
    bar.append(s.play, s.range, s.value, s.status);
    root.append(bar);
    s.play.onclick = () => toggle(s);
    s.range.addEventListener("input", (ev) => show(s, +s.range.value, ev.timeStamp));
    s.range.addEventListener("change", () => setTriggerValue("index", +s.range.value));
    bar.addEventListener("keydown", (ev) => {
      if (ev.key === " ") { ev.preventDefault(); toggle(s); }
    });
  }
  s.range.max = head.values.length - 1;
  s.range.value = head.index;
  s.index = head.index;
  label(s);
  s.status.textContent = "decoding…";
  root.dataset.state = "working";
  const token = (s.token = {});
  const autoplay = head.autoplay && s.shown; // a change made these clips (not the first visit)
  s.ctx = s.ctx || new AudioContext();
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
    if (s.source) switchTo(s, s.index, null);
    else if (autoplay) start(s);
  }).catch((err) => {
    if (token !== s.token) return;
    s.status.textContent = "cannot decode the audio: " + err;
    root.dataset.state = "error";
  });
}

function label(s) {
  const v = s.head.values[s.index];
  s.value.textContent = `${s.head.label} = ${v.toFixed(2)}`;
  s.root.dataset.index = s.index;
}

function show(s, i, t0) {
  s.index = i;
  label(s);
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
}

function start(s) {
  if (!s.buffers) return;
  s.ctx.resume();
  switchTo(s, s.index, null);
  s.play.textContent = "■ Stop";
}

function toggle(s) {
  if (s.source) {
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
    if (s.ctx) s.ctx.close();
    if (s.url) URL.revokeObjectURL(s.url);
    STATE.delete(parentElement);
  };
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  if (!data) return undefined;
  let s = STATE.get(parentElement);
  if (!s) {
    s = { root: el("div", "clip-player") };
    parentElement.append(s.root);
    STATE.set(parentElement, s);
  }
  const { head, part } = unpack(data);
  if (s.head && s.head.sig === head.sig) { // a rerun with the same audio: keep playing
    if (head.mode === "live" && head.index !== s.head.index) { // the server moved the control
      s.range.value = head.index;
      show(s, head.index, null);
    }
    s.head = head;
    return cleanup(s, parentElement);
  }
  s.head = head;
  s.root.dataset.mode = head.mode;
  if (head.mode === "live") live(s.root, head, part, s, setTriggerValue);
  else player(s.root, head, part, s);
  s.shown = true;
  return cleanup(s, parentElement);
}
