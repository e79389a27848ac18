"""The CPU target: an ONNX Runtime graph optimised offline and saved, with its thread settings."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

from ..fileio import sha256_file
from .manifest import derive_manifest, load_artifact_manifest, write_manifest
from .ort_run import ort_session


def build_ort(onnx_path: Path, target, out_path: Path) -> dict:
    """Save ONNX Runtime's optimised graph for this machine's CPU as ``out_path``; returns its manifest."""
    import onnxruntime as ort

    src = load_artifact_manifest(onnx_path)
    t0 = time.perf_counter()
    tmp = out_path.with_name(out_path.name + ".tmp")
    ort_session(onnx_path, target.threads, level="extended", optimized_path=tmp)  # extended: portable across CPUs
    os.replace(tmp, out_path)
    manifest = derive_manifest(
        out_path, src, parent_path=onnx_path, made_by={"recipe": "build", "target": target.name},
        kind="onnxruntime", target=target.as_dict(), precision=src.get("precision", target.precision),
        onnxruntime=ort.__version__, threads=target.threads or os.cpu_count(),
        cpu=platform.processor() or platform.machine(), build_seconds=round(time.perf_counter() - t0, 2))
    write_manifest(out_path, manifest)
    return manifest
