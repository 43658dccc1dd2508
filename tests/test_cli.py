import json
import subprocess
import sys

import soundfile as sf

from tests.conftest import make_midi


def _run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "explorer", *args], capture_output=True, text=True, timeout=timeout)


def test_render_command_writes_a_wav_of_the_right_length(tmp_path):
    mid, wav = tmp_path / "in.mid", tmp_path / "out.wav"
    make_midi([(60 + i % 5, i, i + 1) for i in range(16)], qpm=120).write(str(mid))  # 8 s
    proc = _run("render", str(mid), str(wav), "--program", "40")
    assert proc.returncode == 0, proc.stderr
    data, sr = sf.read(wav)
    assert 8.0 <= len(data) / sr <= 9.1 and abs(data).max() > 0.1


def test_render_command_refuses_a_broken_file_in_one_line(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"nope")
    proc = _run("render", str(bad), str(tmp_path / "x.wav"))
    assert proc.returncode == 2 and "not a readable MIDI file" in proc.stderr and "Traceback" not in proc.stderr


def test_bench_prints_json_with_percentiles():
    proc = _run("bench", "midi")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["midi"]["p95_ms"] >= res["midi"]["p50_ms"] > 0 and "cores" in res["machine"]


def test_data_info_on_the_shipped_default():
    from explorer.data.default import shipped_default_path

    proc = _run("data", "info", str(shipped_default_path()))
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert sum(info["segments"].values()) > 10_000 and info["steps"] == 32


def test_python_dash_m_and_help():
    proc = _run("--help")
    assert proc.returncode == 0 and "data" in proc.stdout and "render" in proc.stdout
