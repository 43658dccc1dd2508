"""The shipped checkpoints do what their cards say, and the pages play what they show.

1. On fixed real melodies the model never trained on (the test split of the embedded default data:
   the split is a hash of source and tune, the same for every corpus), each stored attribute vector
   raises its attribute in about the share of melodies its card states ("melodies that rose"), for
   the attributes the card calls strong; the AR-VAE's regularised dims raise theirs.
2. The audio of a decoded melody is not silent and its onsets fall on the melody's onset steps at the
   tempo played, through the pages' path from z to sound (``decode_one`` → ``melody_to_midi_bytes`` →
   ``render_wav_bytes``) and through the attribute-sliders page itself.
"""
from __future__ import annotations

import io
import math

import numpy as np
import pytest
import soundfile

from explorer.audio import audio_status
from explorer.data.default import load_default
from explorer.latent.control import steer
from explorer.models.checkpoint import read_metadata
from explorer.models.trained import TrainedModel
from explorer.music.attributes import compute
from explorer.music.melody import tokens_to_notes
from explorer.paths import assets_dir

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CHECKPOINTS = assets_dir() / "checkpoints"
N_MELODIES = 150  # 2-bar test melodies
N_MELODIES_16 = 60  # 16-bar melodies: a seeded choice of the 16-bar default data's 281 valid + test segments

# The card's "melodies that rose" (assets/checkpoints/<name>.md, effect of +1 × vector on 500 test
# melodies of the model's own corpora) for every attribute it calls strong: rose in ≥ 80% of them
# with a change of ≥ 0.85 std. The others (e.g. the AR-VAE's interval_entropy, 71%; EC²-VAE's
# syncopation, 63%; every pitch_range except the AR-VAE's) barely move and are not pinned.
STRONG = {
    "arvae-oneills-airds-nottingham": {"note_density": 0.996, "rhythmic_complexity": 0.996, "pitch_range": 0.88,
                                       "contour": 0.988, "mean_pitch": 1.0},
    "arvae-z64-nottingham-oneills-airds-essen-pop909": {"note_density": 1.0, "rhythmic_complexity": 1.0,
                                                        "pitch_range": 0.884, "contour": 0.982, "mean_pitch": 1.0,
                                                        "rest_ratio": 1.0},
    "ec2vae-nottingham-pop909-bach-oneills-airds-essen": {"note_density": 0.998, "rhythmic_complexity": 0.992,
                                                          "mean_pitch": 0.9, "rest_ratio": 1.0},
    "musicvae-nottingham-pop909-bach": {"note_density": 1.0, "rhythmic_complexity": 0.994, "mean_pitch": 0.95,
                                        "rest_ratio": 1.0},
    # rhythmic_complexity (96%) and contour (91%) are strong on the card too, but not on these melodies:
    # see test_musicvae16_rhythm_and_contour_vectors_fall_short_of_their_card_on_the_default_data
    "musicvae16-nottingham-oneills": {"note_density": 0.926, "mean_pitch": 1.0},
}
MUSICVAE16_SHORT = {"rhythmic_complexity": 0.964, "contour": 0.912}


def required_share(card_share: float, n: int) -> float:
    """The card's share less two binomial standard errors of ``n`` melodies: the card measured other
    melodies (its own corpora's test split), so its share is an estimate; for 0.88 and n = 150 the
    bound is 0.88 - 2·0.027 = 0.827."""
    p = min(card_share, 1 - 1 / n)  # a card's 100% is an estimate too: never ask more than one miss in n allows
    return card_share - 2 * math.sqrt(p * (1 - p) / n)


class Case:
    """A shipped checkpoint with its fixed melodies encoded and decoded once."""

    def __init__(self, name: str):
        self.tm = TrainedModel.load(CHECKPOINTS / f"{name}.safetensors", device="cpu")
        ds = load_default(bars=self.tm.n_steps // 16)
        if self.tm.n_steps == 32:
            test = np.flatnonzero(ds.split == "test")
            rows = np.sort(np.random.default_rng(0).choice(test, N_MELODIES, replace=False))
        else:
            rows = np.sort(np.random.default_rng(0).choice(np.flatnonzero(ds.split != "train"), N_MELODIES_16,
                                                           replace=False))
        self.tokens, self.chroma = ds.tokens[rows], ds.chroma[rows].astype(np.float32)
        _, self.mu, _ = self.tm.encode(self.tokens, self.chroma)
        self.base = compute(self.tm.decode_tokens(self.mu, self.chroma))  # the greedy reconstruction, as the card

    def steer(self, name: str, amount: float) -> np.ndarray:
        """(N, D): the melodies' codes moved by ``amount`` × the stored vector of attribute ``name``."""
        return steer(self.mu, vectors=self.tm.attribute_vectors, amounts={name: amount})

    def rose(self, z, name: str) -> np.ndarray:
        """(N,) bool: the attribute ``name`` of the decode of ``z`` (N, D) is above the reconstruction's."""
        return compute(self.tm.decode_tokens(z, self.chroma), (name,))[name] > self.base[name]


@pytest.fixture(scope="module")
def cases():
    made = {}

    def get(name):
        if name not in made:
            made[name] = Case(name)
        return made[name]
    return get


def test_the_pinned_shares_are_those_the_cards_state():
    """If a checkpoint is shipped again, its card changes: this table must follow it."""
    cards = {p.stem: read_metadata(p)["card"] for p in CHECKPOINTS.glob("*.safetensors")}
    with_vectors = sorted(n for n, c in cards.items() if c.get("eval", {}).get("attribute_vectors"))
    assert with_vectors == sorted(STRONG)
    # the others are families that store no attribute vectors (ExtRes: a concept and a residual code)
    assert {cards[n].get("model") for n in set(cards) - set(with_vectors)} <= {"extres", "midivae"}
    for name, pinned in STRONG.items():
        card = read_metadata(CHECKPOINTS / f"{name}.safetensors")["card"]
        effects = card["eval"]["attribute_vectors"]["per_attribute"]
        strong = {a for a, e in effects.items() if e["increased"] >= 0.8 and e["delta_std"] >= 0.85}
        stated = pinned | (MUSICVAE16_SHORT if name.startswith("musicvae16") else {})
        assert strong == set(stated), name
        rows = {line.split(" | ")[0][2:]: line for line in (CHECKPOINTS / f"{name}.md").read_text().splitlines()
                if line.startswith("| ")}
        for a in strong:
            assert effects[a]["increased"] == stated[a], (name, a)
            assert f" | {stated[a]:.0%} | " in rows[a], (name, rows[a])  # the card a reader sees says the same


@pytest.mark.parametrize("name", sorted(STRONG))
def test_stored_vectors_raise_their_attribute_in_the_share_the_card_states(cases, name):
    case = cases(name)
    n = len(case.mu)
    assert n == (N_MELODIES if case.tm.n_steps == 32 else N_MELODIES_16)
    for attr, card_share in STRONG[name].items():
        share = float(case.rose(case.steer(attr, 1.0), attr).mean())
        assert share >= required_share(card_share, n), f"{name} {attr}: rose in {share:.1%}, card {card_share:.1%}"
        # and the opposite amount lowers it: the vector is a direction, not a constant nudge upwards
        if card_share >= 0.99:
            assert case.rose(case.steer(attr, -1.0), attr).mean() <= 0.05, (name, attr)


@pytest.mark.xfail(strict=True, reason="card: +1 × rhythmic_complexity / contour vector raised them in 96% / 91% of "
                   "500 of its test windows (Nottingham + O'Neill's with repeats written out); on 60 unseen 16-bar "
                   "segments of the default data they rise in 87% / 83% (measured once), below the card's share "
                   "less two standard errors (92% / 84%)")
def test_musicvae16_rhythm_and_contour_vectors_fall_short_of_their_card_on_the_default_data(cases):
    case = cases("musicvae16-nottingham-oneills")
    for attr, card_share in MUSICVAE16_SHORT.items():
        share = float(case.rose(case.steer(attr, 1.0), attr).mean())
        assert share >= required_share(card_share, len(case.mu)), (attr, share)


@pytest.mark.parametrize("name", sorted(n for n in STRONG if n.startswith("arvae")))
def test_arvae_regularised_dims_raise_their_attribute(cases, name):
    """The card states no share for moving a dim; it states Spearman ρ ≥ 0.99 between each dim of the
    posterior mean and its attribute over the test melodies (the dim orders melodies by the attribute)
    and interpretability 0.97. The bound here is conservative: two prior standard deviations up
    (z[d] + 2; the page's sliders span ±3) raise the attribute in at least two thirds of the melodies
    and lower it in at most one in ten. Ties are common because the attributes are coarse (pitch range
    in whole semitones: a move that keeps the highest and lowest note keeps it), so "rose" is not near
    100% even for a dim that works (measured: 87%, 74%, 100%, 100% rose; 5%, 1%, 0%, 0% fell)."""
    case = cases(name)
    assert case.tm.layout.regularized == {"rhythmic_complexity": 0, "pitch_range": 1, "note_density": 2, "contour": 3}
    for attr, d in case.tm.layout.regularized.items():
        z = case.mu.copy()
        z[:, d] += 2.0
        decoded = compute(case.tm.decode_tokens(z, case.chroma), (attr,))[attr]
        rose, fell = (decoded > case.base[attr]).mean(), (decoded < case.base[attr]).mean()
        assert rose >= 2 / 3 and fell <= 0.1, f"z[{d}] ({attr}): rose in {rose:.1%}, fell in {fell:.1%}"


# ---- what the pages play -------------------------------------------------------------------------
def detect_onsets(samples: np.ndarray, sr: int, n_fft: int = 512, hop: int = 64) -> np.ndarray:
    """Onset times (s) of mono audio: peaks of the spectral flux (the summed rise of the log magnitude
    spectrum between frames) above 3 × its median, at least 50 ms apart, timed at the frame centre.
    On piano renders of decoded melodies every onset peaked ≥ 4.2 × the median and nothing else
    above 1.9 ×."""
    x = np.concatenate([np.zeros(n_fft), np.asarray(samples, np.float64)])
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)  # (F, n_fft)
    mag = np.log1p(100 * np.abs(np.fft.rfft(frames, axis=1)))  # (F, n_fft / 2 + 1)
    flux = np.maximum(np.diff(mag, axis=0), 0).sum(1)  # (F - 1,): frame k vs k - 1
    times = (np.arange(1, len(mag)) * hop - n_fft / 2) / sr  # frame k spans [k·hop - n_fft, k·hop) of x
    thr = 3 * np.median(flux)
    out = []
    for k in range(1, len(flux) - 1):
        if flux[k] > thr and flux[k] >= flux[k - 1] and flux[k] > flux[k + 1]:
            if out and times[k] - out[-1] < 0.05:
                continue
            out.append(times[k])
    return np.asarray(out)


def assert_onsets_match(wav: bytes, onset_steps, qpm: float, tol: float = 0.03):
    """The WAV is audible and its onsets are the melody's onset steps at ``qpm``, one for one, within ``tol`` s."""
    samples, sr = soundfile.read(io.BytesIO(wav))
    assert samples.ndim == 1 and sr == 22050
    rms = float(np.sqrt(np.mean(samples ** 2)))
    assert rms > 0.05, rms  # loudness-normalised to -16 LUFS: ~0.15 for a piano melody; silence is 0
    expected = np.asarray(onset_steps) * 60.0 / qpm / 4  # a step is a 16th note
    found = detect_onsets(samples, sr)
    assert len(found) == len(expected), (np.round(found, 3).tolist(), expected.tolist())
    assert np.abs(found - expected).max() <= tol, (np.round(found, 3).tolist(), expected.tolist())


@pytest.fixture(scope="module")
def musicvae():
    return TrainedModel.load(CHECKPOINTS / "musicvae-nottingham-pop909-bach.safetensors", device="cpu")


@pytest.mark.skipif(not audio_status()[0], reason="FluidSynth is not available")
def test_the_z_to_audio_path_sounds_the_decoded_melody_at_its_tempo(musicvae, tmp_cache):
    from explorer.audio import render_wav_bytes
    from explorer.latent.control import decode_one
    from explorer.music.convert import melody_to_midi_bytes

    ds = load_default().take_split("test")
    for row, qpm in ((3, 100.0), (5, 140.0)):
        _, mu, _ = musicvae.encode([ds.melody(row)])
        melody = decode_one(musicvae, mu[0], None, qpm=qpm)
        wav = render_wav_bytes(melody_to_midi_bytes(melody), cache=False)
        steps = [n.start for n in tokens_to_notes(melody.tokens)]
        assert len(steps) >= 8  # a real melody, not one long note
        assert_onsets_match(wav, steps, qpm)


@pytest.mark.skipif(not audio_status()[0], reason="FluidSynth is not available")
@pytest.mark.usefixtures("clear_streamlit_caches", "tmp_cache")
def test_the_sliders_page_plays_the_melody_it_shows():
    """The page's output player (the second: the seed's comes first): its onsets are the notes of the output's piano roll
    at the sidebar's tempo (100 qpm here), and that output is not the seed (a vector moved it)."""
    from clip_players import clip, player_keys
    from helpers_app import ROOT, run_app, svg_rolls

    from explorer.viz.pianoroll_svg import roll_notes

    at = run_app(ROOT / "pages" / "attribute_sliders.py", timeout=120, model="musicvae-nottingham-pop909-bach",
                 qpm="100", vec="note_density", v_note_density="1.5")
    assert at.slider(key="sl_v_note_density").value == 1.5
    starts = [on for _, on, _ in roll_notes(svg_rolls(at)["sl_out_roll"])]  # the output's roll (inline SVG)
    seed = load_default().melody(0)
    assert starts != [n.start for n in tokens_to_notes(seed.tokens)]
    played = clip(at.main, player_keys(at.main).index("sl_out"))  # the FLAC the output's player carries
    assert played.startswith(b"fLaC")
    assert_onsets_match(played, starts, 100.0)
