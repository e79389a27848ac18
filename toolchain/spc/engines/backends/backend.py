"""The backend registry's parts (a leaf: the backends, ``cuda_env`` and ``tensorrt_build`` import it, it imports none
of them): what a backend is, what its can-build check answers, and the registry itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ...errors import SpcError


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


@dataclass(frozen=True)
class Backend:
    """What a backend builds and runs: ``name`` (the targets' ``backend``), the ``kinds`` of artifact it opens (the
    first is what it builds), the built file's ``suffix``, whether it targets a GPU, and its four functions
    (``check`` runs before anything is written)."""

    name: str
    kinds: tuple[str, ...]
    suffix: str
    gpu: bool  # builds on (and for) a GPU: engines are built on the device, timed at batch 1
    check: Callable  # (config: BuildConfig) -> None; raises SpcError for options this backend has no use for
    can_build: Callable  # (target) -> BuildCheck
    build: Callable  # (src: Path, target, out: Path, config: BuildConfig) -> manifest dict
    runner: Callable  # (path: Path, manifest: dict, threads: int) -> Runner


_REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Make ``backend`` available to targets naming it and to artifacts of its kinds."""
    _REGISTRY[backend.name] = backend
    return backend


def registered() -> dict[str, Backend]:
    """The registered backends by name (what ``backends`` looks targets and artifacts up in)."""
    return _REGISTRY
