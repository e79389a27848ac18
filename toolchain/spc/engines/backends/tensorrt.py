"""The GPU backend: a TensorRT engine, built on the target's own GPU (``tensorrt_build``), run by ``tensorrt_run``."""

from __future__ import annotations

from pathlib import Path

from ...errors import SpcError
from .backend import Backend, BuildCheck, register


def can_build(target) -> BuildCheck:
    """Where TensorRT 10.3+ imports, a GPU answers and it is the target's GPU (and board)."""
    from ..cuda_env import tensorrt_build_check  # imported here: cuda_env imports the registry

    return tensorrt_build_check(target)


def check(config) -> None:
    if config.threads:
        raise SpcError("--threads applies to CPU builds (ONNX Runtime); a TensorRT engine has no thread count")


def build(src: Path, target, out: Path, config) -> dict:
    from ..cuda_env import require_tensorrt_build
    from ..fp32_layers import check_node_names, flagged_nodes
    from ..tensorrt_build import build_tensorrt

    require_tensorrt_build(target)
    nodes = check_node_names(list(config.fp32_layers), src) + (flagged_nodes(config.fp32_from, src)
                                                               if config.fp32_from else [])
    return build_tensorrt(src, target, out, fp32_nodes=list(dict.fromkeys(nodes)),
                          timing_cache_dir=Path(config.timing_cache) if config.timing_cache else None,
                          opt_batch=config.opt_batch)


def runner(path: Path, manifest: dict, threads: int):
    from ..tensorrt_run import TensorRTRunner

    return TensorRTRunner(path, manifest=manifest)


BACKEND = register(Backend("tensorrt", ("tensorrt",), ".engine", True, check, can_build, build, runner))
