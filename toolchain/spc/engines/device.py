"""Can this machine build (and so measure) a target's artifact? The one answer compress and build share."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SpcError


class BuildDeferred(SpcError):
    """The target's artifact must be built on the device; ``why`` says what is missing or different here."""

    def __init__(self, target_name: str, why: str):
        super().__init__(f"cannot build {target_name} here: {why}")
        self.why = why


@dataclass(frozen=True)
class BuildCheck:
    """Truthy where this machine can build for the target; ``why`` otherwise; ``gpu`` is gpu_info() where known."""

    ok: bool
    why: str = ""
    gpu: dict = field(default_factory=dict)
    tensorrt: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def identity(self) -> dict:
        """What a built artifact is tied to (GPU, board, TensorRT); {} for the CPU. Keys cached builds, so that an
        engine kept from another TensorRT or board is built again instead of refused at load."""
        return {**self.gpu, "tensorrt": self.tensorrt} if self.tensorrt else {}


def build_check(target) -> BuildCheck:
    """CPU targets always; GPU targets where TensorRT 10.3+ imports, a GPU answers and it is the target's GPU
    (name, compute capability, SM count, memory and, on a Jetson, the board; an engine for another GPU or board
    would be named and measured wrongly)."""
    if not target.is_gpu:
        return BuildCheck(True)
    from .cuda_env import gpu_info, import_tensorrt

    try:
        version = import_tensorrt().__version__
        gpu = gpu_info()
    except SpcError as exc:
        return BuildCheck(False, str(exc))
    mismatch = target.gpu_mismatch(gpu)
    if mismatch:
        return BuildCheck(False, f"{mismatch}; build on the device", gpu, version)
    return BuildCheck(True, "", gpu, version)


def require_build(target) -> BuildCheck:
    """``build_check`` or ``BuildDeferred`` ("cannot build <target> here: <why>")."""
    check = build_check(target)
    if not check:
        raise BuildDeferred(target.name, check.why)
    return check


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

