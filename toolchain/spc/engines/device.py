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
