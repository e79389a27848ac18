"""Can this machine build (and so measure) a target's artifact? The one answer compress and build share."""

from __future__ import annotations

from ..errors import SpcError
from .backends import BuildCheck, BuildDeferred, for_target


def build_check(target) -> BuildCheck:
    """Whether this machine can build the target's artifact: its backend's answer (the CPU always; TensorRT where
    10.3+ imports, a GPU answers and it is the target's GPU: name, compute capability, SM count, memory and, on a
    Jetson, the board, since an engine for another GPU or board would be named and measured wrongly)."""
    return for_target(target).can_build(target)


def machine_check(targets: dict) -> tuple[list[str], bool]:
    """(plain lines saying what this machine has, whether it can build any GPU target): TensorRT and its version,
    the GPU, the board and where it was read, and per GPU target whether it builds here or why not. What the Jetson
    image runs first, since TensorRT's libraries arrive with the NVIDIA runtime only when the container runs."""
    from .cuda_env import BOARD_ENV, board_model, gpu_info, import_tensorrt, tegra_release

    lines = []
    try:
        lines.append(f"TensorRT {import_tensorrt().__version__}")
        gpu = gpu_info()
    except SpcError as exc:
        return lines + [f"not ready: {exc}"], False
    board = board_model()
    lines.append(f"GPU {gpu['gpu']} (sm {gpu['compute_capability']}, {gpu['sm_count']} SMs, "
                 f"{gpu['gpu_memory_mb'] / 1024:.1f} GB), CUDA driver {gpu['cuda_driver']}, runtime {gpu['cuda_runtime']}")
    if tegra_release():
        lines.append(f"L4T {tegra_release()}; board: " + (board or f"unreadable (in a container mount "
                     f"/tmp/nv_jetson_model or set {BOARD_ENV}; told apart by GPU memory and SMs instead)"))
    ok = False
    for t in sorted((t for t in targets.values() if t.is_gpu), key=lambda t: t.name):
        why = t.gpu_mismatch(gpu)
        ok |= not why
        lines.append(f"  {t.name}: " + ("builds here" if not why else f"not here ({why})"))
    return lines, ok

