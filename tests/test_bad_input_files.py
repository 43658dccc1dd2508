"""What the bad-input tests share: the files of scripts/make_bad_files.py, written once per
session into a temporary folder, and a peak-memory run in a child process."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_generator():
    """scripts/make_bad_files.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_bad_files", ROOT / "scripts" / "make_bad_files.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_bad_files(folder: Path) -> dict:
    return load_generator().write_bad_files(folder)


def of_kind(manifest: dict, *kinds: str) -> list[str]:
    return [name for name, m in manifest.items() if m["kind"] in kinds]


_CHILD = r"""
import json, resource, sys, time, traceback
code = sys.argv[1]
t0 = time.perf_counter()
ns = {}
try:
    exec(code, ns)
    out = {"ok": True, "result": ns.get("result")}
except BaseException as exc:
    out = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
out["seconds"] = time.perf_counter() - t0
try:  # VmHWM: this process's own peak (ru_maxrss keeps the parent's peak across fork and exec)
    with open("/proc/self/status") as f:
        out["peak_mb"] = next(int(x.split()[1]) for x in f if x.startswith("VmHWM:")) / 1024
except (OSError, StopIteration):
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(out, default=str))
"""


def run_child(code: str, env: dict, timeout: float = 120) -> dict:
    """Run ``code`` (Python; it may set ``result``) in a fresh interpreter; its outcome, wall
    seconds of the code alone and the process's peak resident memory in MB (VmHWM on Linux)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, code], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=env.get("HOME", str(ROOT)))
    line = next((x for x in proc.stdout.splitlines()[::-1] if x.startswith("RESULT ")), None)
    assert line is not None, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    out = json.loads(line[len("RESULT "):])
    out["wall"] = time.perf_counter() - t0
    return out


def test_the_generator_writes_40_bad_files_of_every_kind_outside_the_repository(tmp_path):
    manifest = write_bad_files(tmp_path / "bad")
    kinds = {m["kind"] for m in manifest.values()}
    assert len(manifest) >= 40 and kinds == {"midi", "score", "checkpoint", "state"}
    assert len(of_kind(manifest, "midi")) >= 25 and len(of_kind(manifest, "score")) >= 8
    for name, m in manifest.items():
        assert (tmp_path / "bad" / name).stat().st_size == m["bytes"]
    assert (tmp_path / "bad" / "huge_24mb.mid").stat().st_size >= 24_000_000
    # the files are data made at test time: none is tracked in the repository
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not set(manifest) & {Path(p).name for p in tracked}
