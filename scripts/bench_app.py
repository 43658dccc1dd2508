"""What the browser benchmarks share (scripts/bench_live.py, bench_palette.py, bench_clicks.py):
``streamlit run app.py`` on a free port with an empty cache, headless Chromium, a cold audio cache."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("LATENT_EXPLORER_CHROMIUM", "/usr/bin/chromium")
MODEL = "arvae-oneills-airds-nottingham"  # the 2-bar AR-VAE the live-mode figures were first measured with


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(prefix: str, root: Path = ROOT, cpus: set[int] | None = None):
    """The URL of ``streamlit run app.py`` in checkout ``root`` on a free port with an empty cache
    (a temporary folder named ``prefix…``), for the block; the server stops after it. ``cpus``:
    the CPU cores the server may run on (default: those of this process)."""
    port = free_port()
    opts = {"server.port": port, "server.headless": "true", "browser.gatherUsageStats": "false",
            "server.fileWatcherType": "none"}
    env = dict(os.environ, LATENT_EXPLORER_CACHE=tempfile.mkdtemp(prefix=prefix), PYTHONPATH=str(root))
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", *(f"--{k}={v}" for k, v in opts.items())],
                            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=None if cpus is None else (lambda: os.sched_setaffinity(0, cpus)))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).close()
                break
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def chromium(playwright):
    """Headless Chromium as the tests launch it."""
    return playwright.chromium.launch(executable_path=CHROMIUM,
                                      args=["--headless", "--no-sandbox", "--disable-background-networking"])


def new_page(browser, timeout_ms: int = 180_000):
    """A 1400×1000 page that waits up to ``timeout_ms`` for what it is asked to."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(timeout_ms)
    return page


def open_app_page(page, url: str, path: str) -> None:
    """Home first (the app's session starts there, as a user's does), then ``path``."""
    page.goto(url + "/")
    page.get_by_role("heading", name="Latent Explorer").wait_for()
    page.goto(f"{url}/{path}")


def start_live(page, toggle: str, mode: str):
    """Switch the ``toggle`` ("Live range", "Live palette") on, wait for the ``mode`` player's clips
    to be ready in the browser and press its Play: (the player's locator, seconds until ready)."""
    page.get_by_text(toggle).click()
    t = time.perf_counter()
    page.locator(f'.clip-player[data-mode="{mode}"][data-state="ready"]').wait_for()
    ready = time.perf_counter() - t
    live = page.locator(f'.clip-player[data-mode="{mode}"]')
    live.get_by_role("button", name="▶ Play").click()
    return live, ready


def cold_audio_cache(prefix: str) -> None:
    """Nothing rendered yet: a new on-disk audio cache and empty in-memory caches."""
    from explorer.audio import AUDIO_CACHE
    from explorer.ui.player import midi_notes
    from explorer.ui.resources import flac_of_wav

    os.environ["LATENT_EXPLORER_CACHE"] = tempfile.mkdtemp(prefix=prefix)
    AUDIO_CACHE.clear_memory()
    flac_of_wav.cache_clear()
    midi_notes.cache_clear()
