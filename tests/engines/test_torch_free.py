"""The device commands run with no torch and no transformers importable (issue 21, point 1).

Each command runs in a fresh interpreter where ``import torch`` / ``import transformers`` fail (``sys.modules``
entries set to None), on a CPU artifact made with ``onnx`` alone; in the device install (``.ci/run``'s second
venv) the same tests run where the packages are not installed at all.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import trt_fakes
from conftest import tone, write_wav

pytestmark = pytest.mark.device
BLOCK = ("torch", "transformers", "safetensors", "onnxsim", "onnxslim", "onnxconverter_common")


def spc(*args, cwd=None) -> subprocess.CompletedProcess:
    """``spc ARGS`` with the training-side packages unimportable."""
    code = ("import sys\n"
            f"for m in {BLOCK!r}: sys.modules[m] = None\n"
            "from spc.cli import main\n"
            f"sys.argv = ['spc'] + {list(map(str, args))!r}\n"
            "main()\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture
def artifact_and_data(tmp_path):
    labels = ("yes", "no", "_unknown_")
    onnx = trt_fakes.tiny_onnx(tmp_path / "m.onnx", labels=labels)
    rng = np.random.default_rng(0)
    for split in ("train", "validation", "test"):
        for i, label in enumerate(labels):
            for k in range(4):
                write_wav(tmp_path / "data" / split / label / f"{k}.wav", tone(300 + 200 * i, rng=rng))
    return onnx, tmp_path / "data"


def test_device_commands_need_no_torch(artifact_and_data, tmp_path):
    onnx, data = artifact_and_data
    r = spc("targets", "--json")
    assert r.returncode == 0, r.stderr
    assert "jetson-orin-nano" in {t["name"] for t in json.loads(r.stdout)}
    r = spc("build", onnx, "--target", "cpu")
    assert r.returncode == 0, r.stderr
    built = tmp_path / "m.cpu.ort.onnx"
    assert built.is_file()
    r = spc("bench", built, "--runs", "2", "--data", data, "--json", tmp_path / "bench.json")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "bench.json").read_text())["latency"]
    # --report: the figures go into a compress report (a real one: the detector gate test's run on a tiny model)
    import shutil
    from pathlib import Path

    report = tmp_path / "report"
    report.mkdir()
    shutil.copy(Path(__file__).parent / "data" / "compress_report.json", report / "report.json")
    r = spc("bench", built, "--runs", "2", "--data", data, "--report", report)
    assert r.returncode == 0, r.stderr
    saved = json.loads((report / "report.json").read_text())
    assert saved["device_results"][-1]["artifact"] == built.name and (report / "report.md").is_file()
    r = spc("run", built, data / "test" / "yes" / "0.wav")
    assert r.returncode == 0 and "_unknown_" in r.stdout, r.stderr
    # a report compress did not write, or an older spc's, is refused in one line before any timing
    (report / "report.json").write_text(json.dumps({"schema_version": 2, "run_id": "x", "chosen": "a", "final": {},
                                                    "candidates": {}, "analysis": "", "artifacts": {}, "target": {}}))
    r = spc("bench", built, "--runs", "2", "--report", report)
    assert r.returncode == 1 and "written by another spc (report schema 2" in r.stderr, r.stderr
    (report / "report.json").write_text(json.dumps({"results": []}))
    r = spc("bench", built, "--runs", "2", "--report", report)
    assert r.returncode == 1 and "is not a report spc compress wrote" in r.stderr, r.stderr
    r = spc("stream-eval", built, "--data", data, "--out", tmp_path / "stream", "--synthetic-negatives", "0",
            "--validation-synthetic-negatives", "0", "--max-fa-per-hour", "500")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "stream" / "stream_eval.json").is_file()
    code = (f"import sys\nfor m in {BLOCK!r}: sys.modules[m] = None\n"
            "from spc.runtime import KeywordSpotter\nimport numpy as np\n"
            f"k = KeywordSpotter({str(built)!r})\nprint(k.labels)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "yes" in r.stdout, r.stderr


def test_training_commands_say_which_install_they_need(artifact_and_data, tmp_path):
    onnx, data = artifact_and_data
    for args in (("finetune", "facebook/wav2vec2-base", "--data", data, "--out", tmp_path / "ft"),
                 ("compress", "model", "--data", data, "--out", tmp_path / "c"),
                 ("export", "model", "--out", tmp_path / "x.onnx")):
        r = spc(*args)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and f"spc {args[0]} needs torch" in lines[0] and "spc[train]" in lines[0], r.stderr
    assert not (tmp_path / "ft").exists() and not (tmp_path / "c").exists()
