#!/usr/bin/env bash
# Set up Latent Explorer: a virtual environment in .venv with the package and its
# pinned dependencies, and the system libraries it uses. Idempotent: a second
# run checks and skips in a few seconds.
#   bash scripts/setup.sh          # what the app needs
#   bash scripts/setup.sh --test   # also pytest, Playwright and Chromium for the tests, and the
#                                  # [scale] extra (Ray, symusic) whose paths the tests cover
#   bash scripts/setup.sh --scale  # the app and the [scale] extra (Ray, symusic), no test tools
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
WANT_TEST=0
WANT_SCALE=0
[[ "${1:-}" == "--test" ]] && WANT_TEST=1 && WANT_SCALE=1
[[ "${1:-}" == "--scale" ]] && WANT_SCALE=1
PY="${PYTHON:-python3}"
VENV="${LATENT_EXPLORER_VENV:-$ROOT/.venv}"

say() { printf '[setup] %s\n' "$*"; }

if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)' 2>/dev/null; then
  say "Python 3.11 or newer is needed (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11"
  exit 1
fi

is_root() { [[ "$(id -u)" == "0" ]]; }
APT_UPDATED=0
apt_install() {  # apt_install PKG... : install Debian packages when we can, else say how
  if is_root && command -v apt-get >/dev/null 2>&1; then
    if [[ $APT_UPDATED == 0 ]]; then
      say "apt-get update"; apt-get update -qq >/dev/null; APT_UPDATED=1
    fi
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    return 0
  fi
  return 1
}

# --- FluidSynth (audio) ---------------------------------------------------
has_fluidsynth() { ldconfig -p 2>/dev/null | grep -q 'libfluidsynth\.so' || [[ -n "$(ls /usr/lib/*/libfluidsynth.so.* /opt/homebrew/lib/libfluidsynth*.dylib /usr/local/lib/libfluidsynth*.dylib 2>/dev/null | head -1)" ]]; }
if has_fluidsynth; then
  say "libfluidsynth: present"
elif ! apt_install libfluidsynth3; then
  say "libfluidsynth is missing and cannot be installed from here; audio will be off until you run:"
  say "  Debian/Ubuntu: sudo apt-get install -y --no-install-recommends libfluidsynth3"
  say "  macOS:         brew install fluid-synth"
fi

# --- Chromium for the browser tests ---------------------------------------
if [[ $WANT_TEST == 1 ]]; then
  if [[ -x /usr/bin/chromium ]]; then
    say "chromium: present"
  elif ! apt_install chromium chromium-driver; then
    say "Chromium is missing; the browser test will be skipped until you run:"
    say "  Debian/Ubuntu: sudo apt-get install -y --no-install-recommends chromium chromium-driver"
    say "  macOS:         brew install --cask chromium  (then set LATENT_EXPLORER_CHROMIUM=/path/to/chromium)"
  fi
fi

# --- Python packages ---------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi
EXTRAS=""
[[ $WANT_TEST == 1 ]] && EXTRAS="[test,scale]"
[[ $WANT_TEST == 0 && $WANT_SCALE == 1 ]] && EXTRAS="[scale]"
STAMP="$VENV/.latent-explorer-setup"
WANT="$(cat pyproject.toml | sha256sum | cut -c1-16) $EXTRAS $ROOT"
if [[ -f "$STAMP" ]] && grep -qxF "$WANT" "$STAMP" 2>/dev/null; then
  say "python packages: up to date"
else
  say "installing the package and its pinned dependencies into $VENV (torch==2.13.0 is the CPU build)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".$EXTRAS" 2>&1 | grep -v -E "^WARNING: Location|ignored: it is neither" || true
  # partitura downloads a soundfont at import time unless one is in place
  "$VENV/bin/python" -c "from explorer.compat import ensure_partitura_offline as f; f()"
  "$VENV/bin/python" -c "import explorer, torch, streamlit, music21, pretty_midi, partitura" \
    || { say "the Python install failed (see above)"; exit 1; }
  # keep the stamps of both variants so switching between app and test does not reinstall
  { [[ -f "$STAMP" ]] && grep -v " $ROOT\$" "$STAMP" || true; echo "$WANT"; [[ -n "$EXTRAS" ]] && echo "${WANT/" $EXTRAS "/ }"; } > "$STAMP.new" || true
  mv "$STAMP.new" "$STAMP"
fi
say "ready"
