"""The example app runs as a user runs it (a subprocess): the demo, a WAV with a planted tone, stdin; no torch."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import soundfile as sf

APP = Path(__file__).resolve().parents[2] / "examples" / "kws_app"
sys.path.insert(0, str(APP))
from beeper import RATE, beeps, make_beeper  # noqa: E402


def run_app(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(APP / "app.py"), *args], input=stdin, capture_output=True, timeout=300)


def test_demo_runs_with_one_command_and_finds_both_tones(tmp_path):
    r = run_app("--demo", str(tmp_path / "demo"))
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr.decode()
    lines = [line for line in out.splitlines() if " beep " in line]
    assert [float(line.split()[0]) for line in lines] == [2.5, 6.0]  # tone ends 2.3 / 5.8 s, + 2 hops of smoothing
    assert "2 detections in 8.00 s of audio" in out


def test_a_wav_with_a_planted_tone_prints_its_detection(tmp_path):
    art = make_beeper(tmp_path / "beeper.onnx")
    wav = tmp_path / "rec.wav"
    sf.write(str(wav), beeps(6.0, [3.0]), RATE, subtype="PCM_16")
    r = run_app("--artifact", str(art), "--wav", str(wav), "--smooth", "1", "--hop", "0.05", "--chunk-ms", "30")
    assert r.returncode == 0, r.stderr.decode()
    (line,) = [x for x in r.stdout.decode().splitlines() if " beep " in x]
    assert abs(float(line.split()[0]) - 3.3) <= 0.05  # within one hop of the tone's end
    assert "processing" in line


def test_stdin_pcm_is_read_as_a_live_stream(tmp_path):
    art = make_beeper(tmp_path / "beeper.onnx")
    pcm = (beeps(5.0, [1.0]) * 32767).astype("<i2").tobytes()
    r = run_app("--artifact", str(art), "--stdin", "--smooth", "1", stdin=pcm)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert "    1.30 s  beep" in out and "chunk buffering" in out


def test_no_source_and_no_microphone_is_one_line(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("kws_app", APP / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as where it is not installed
    assert "sounddevice is not usable" in app.microphone()
    assert app.main(["--artifact", str(make_beeper(tmp_path / "b.onnx"))]) == 2


def test_the_app_does_not_import_torch(tmp_path):
    code = (f"import runpy, sys; sys.argv = ['app.py', '--demo', {str(tmp_path / 'd')!r}]\n"
            f"try:\n    runpy.run_path({str(APP / 'app.py')!r}, run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)


def test_the_app_runs_on_python_310():
    import shutil

    import pytest

    vermin = shutil.which("vermin", path=str(Path(sys.executable).parent)) or shutil.which("vermin")
    if vermin is None:
        pytest.skip("vermin is not installed (pip install -e '.[dev]')")
    r = subprocess.run([vermin, "--target=3.10-", "--violations", "--no-tips", "--eval-annotations", str(APP)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
