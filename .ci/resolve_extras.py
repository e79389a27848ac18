"""Resolve spc's device-side installs against the package registry, as a board would, without installing them.

    python .ci/resolve_extras.py          # exit 1 if an install drags in torch, transformers or a CUDA-13 package

For each of ``.[device]``, ``.[tensorrt]`` and ``.[jetson]`` and each of Python 3.10 (JetPack 6) and 3.12, on
the platform that install is for (the Jetson's aarch64, a desktop's x86_64), ``pip install --dry-run --report``
resolves the base dependencies plus the extra (environment markers evaluated for that Python) from wheels only.
``tensorrt-cu12`` is a stub whose library wheels come from NVIDIA's own index (unreachable from CI): its pin is
checked by fetching the stub itself (``pip download --no-deps``), and its CUDA-12 name is the point of the pin.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ("3.10", "3.12")
PLATFORMS = {
    "x86_64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64"],
    "aarch64": ["manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64"],
}
INSTALLS = {"device": ("x86_64", "aarch64"), "tensorrt": ("x86_64",), "jetson": ("aarch64",)}
FORBIDDEN = {"torch", "transformers", "torchaudio", "safetensors"}
STUBS = {"tensorrt-cu12"}  # resolved by name only (see the docstring)


def requirements(extra: str, python: str) -> tuple[list[str], list[str]]:
    """(requirements to resolve, stubs to fetch by name) of the base install plus ``extra`` on ``python``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs, stubs = [], []
    for line in project["dependencies"] + project["optional-dependencies"][extra]:
        r = Requirement(line)
        if r.marker is not None and not r.marker.evaluate({"python_version": python, "python_full_version": python + ".0"}):
            continue
        r.marker = None
        (stubs if r.name.lower() in STUBS else reqs).append(str(r))
    return reqs, stubs


def cuda13(name: str, version: str) -> bool:
    """A package built for CUDA 13 (needs driver 580+): cuda-python/cuda-bindings 13, or a *-cu13 wheel."""
    n = name.lower().replace("_", "-")
    major = int(re.match(r"\d+", version).group()) if re.match(r"\d+", version) else 0
    return n.endswith("-cu13") or (n in {"cuda-python", "cuda-bindings", "cuda-core"} and major >= 13)


def resolve(reqs: list[str], python: str, arch: str) -> list[tuple[str, str]]:
    """(name, version) of everything pip would install for ``reqs`` on ``python`` / ``arch``, wheels only."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--target",
               str(Path(tmp) / "t"), "--report", str(report), "--python-version", python, "--only-binary=:all:"]
        for p in PLATFORMS[arch]:
            cmd += ["--platform", p]
        r = subprocess.run(cmd + reqs, capture_output=True, text=True)
        if r.returncode != 0:
            err = [x for x in r.stderr.splitlines() if x.startswith("ERROR")]
            raise SystemExit(f"cannot resolve for Python {python} {arch}: {' '.join(err) or r.stderr[-500:]}")
        return [(i["metadata"]["name"], i["metadata"]["version"]) for i in json.loads(report.read_text())["install"]]


def fetch_stub(stub: str) -> str:
    """The file pip picks for a stub requirement (its own sdist, without its NVIDIA-hosted dependencies)."""
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp,
                            stub], capture_output=True, text=True)
        files = [p.name for p in Path(tmp).iterdir()]
        if r.returncode != 0 or not files:
            raise SystemExit(f"cannot fetch {stub}: {r.stderr[-300:]}")
        return files[0]


def main() -> int:
    bad = []
    for extra, arches in INSTALLS.items():
        for python in PYTHONS:
            reqs, stubs = requirements(extra, python)
            for arch in arches:
                got = resolve(reqs, python, arch)
                names = {n.lower() for n, _ in got}
                problems = sorted(names & FORBIDDEN) + [f"{n} {v} (CUDA 13)" for n, v in got if cuda13(n, v)]
                versions = dict((n.lower(), v) for n, v in got)
                keys = ", ".join(f"{k} {versions[k]}" for k in ("onnxruntime", "numpy", "cuda-python", "cuda-bindings")
                                 if k in versions)
                print(f".[{extra}] Python {python} {arch}: {len(got)} packages ({keys})"
                      + (f"  PROBLEM: {', '.join(problems)}" if problems else ""))
                bad += [f".[{extra}] {python} {arch}: {p}" for p in problems]
            for stub in stubs:
                print(f".[{extra}] Python {python}: {stub} -> {fetch_stub(stub)} (its libraries come from NVIDIA's index)")
    if bad:
        print("device installs that drag in torch or CUDA 13:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
