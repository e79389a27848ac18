"""The CPU backend: an ONNX Runtime graph, fused and saved, on the threads its build timed (``ort_build``)."""

from __future__ import annotations

from pathlib import Path

from ...errors import SpcError
from .backend import Backend, BuildCheck, register


def can_build(target) -> BuildCheck:
    return BuildCheck(True)


def check(config) -> None:
    if config.fp32_layers or config.fp32_from:
        raise SpcError("--fp32-layers applies to TensorRT engines (GPU targets); the CPU build runs FP32 already")


def build(src: Path, target, out: Path, config) -> dict:
    from ..ort_build import build_ort

    return build_ort(src, target, out, threads=config.threads)


def runner(path: Path, manifest: dict, threads: int):
    from ..ort_run import OrtRunner

    return OrtRunner(path, threads, manifest=manifest)


BACKEND = register(Backend("onnxruntime", ("onnxruntime", "onnx"), ".ort.onnx", False, check, can_build, build, runner))
