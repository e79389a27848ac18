"""Everything a device imports runs on Python 3.10 (JetPack 6, l4t-tensorrt r10.3): checked statically with vermin."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_package_and_gpu_check_need_at_most_python_310():
    vermin = shutil.which("vermin", path=str(Path(sys.executable).parent)) or shutil.which("vermin")
    if vermin is None:
        pytest.skip("vermin is not installed (pip install -e '.[dev]')")
    paths = [str(ROOT / "toolchain" / "spc"), str(ROOT / "benchmarks" / "gpu_check.py")]
    r = subprocess.run([vermin, "--target=3.10-", "--violations", "--no-tips", "--eval-annotations", *paths],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
