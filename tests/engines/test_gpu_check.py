"""benchmarks/gpu_check.py imports and, where no CUDA GPU is visible, exits 2 with one line (issue 13, point 8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def test_gpu_check_exits_cleanly_without_cuda(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible: run the check itself")
    out = tmp_path / "gpu_check.json"
    r = subprocess.run([sys.executable, str(SCRIPT), str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "no CUDA GPU" in r.stderr and "Traceback" not in r.stderr and not out.exists()


def test_gpu_check_parity_rule():
    import importlib.util

    import numpy as np

    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)  # imports without torch or CUDA at module level
    ref = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], np.float32)
    assert gpu_check.parity(ref + 0.01, ref)["passed"]
    assert not gpu_check.parity(ref + 1.0, ref)["passed"]
    assert not gpu_check.parity(np.full_like(ref, np.nan), ref)["passed"]
