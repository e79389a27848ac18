"""The CPU target: an ONNX Runtime graph optimised offline and saved, with its thread settings."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

from .manifest import read_manifest, write_manifest


def build_ort(onnx_path: Path, target, out_path: Path) -> dict:
    """Save ONNX Runtime's fully optimised graph for this machine's CPU as ``out_path``; returns its manifest."""
    import onnxruntime as ort

    src = read_manifest(onnx_path)
    t0 = time.perf_counter()
    tmp = out_path.with_name(out_path.name + ".tmp")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # portable across CPUs
    opts.optimized_model_filepath = str(tmp)
    if target.threads:
        opts.intra_op_num_threads = target.threads
    ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    os.replace(tmp, out_path)
    manifest = {
        **{k: v for k, v in src.items() if k not in ("export", "file", "sha256")},
        "kind": "onnxruntime", "file": out_path.name, "source_onnx": str(onnx_path), "source_sha256": src["sha256"],
        "target": target.as_dict(), "precision": target.precision,
        "onnxruntime": ort.__version__, "threads": target.threads or os.cpu_count(),
        "cpu": platform.processor() or platform.machine(), "build_seconds": round(time.perf_counter() - t0, 2),
    }
    write_manifest(out_path, manifest)
    return manifest
