"""Backends as registered pairs of a builder and a runner (Polygraphy's loaders and runners as the model).

A backend says what it builds (the artifact's ``kind`` and file suffix), whether this machine can build it for a
target (``can_build``), how (``build``) and how a built artifact runs (``runner``). A target names its backend
(``targets/*.toml``: ``backend = "tensorrt"``); an artifact's manifest names its kind. Adding a backend (ONNX
Runtime's CUDA provider, DLA on an Orin) is one module calling ``register`` plus its test. Each module imports its
library only when it builds or runs, so the device side needs neither TensorRT nor torch to import this.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import SpcError
from .backend import Backend, BuildCheck, BuildDeferred, register, registered
from . import onnxruntime, tensorrt  # noqa: F401,E402 (each registers itself)

__all__ = ["Backend", "BuildCheck", "BuildDeferred", "backend_names", "for_artifact", "for_target", "register"]


def backend_names() -> tuple[str, ...]:
    return tuple(registered())


def for_target(target) -> Backend:
    """The backend a target builds with; a user error naming the known ones."""
    try:
        return registered()[target.backend]
    except KeyError:
        raise SpcError(f"target {target.name} names backend '{target.backend}'; known: {', '.join(registered())}") from None


def for_artifact(manifest: dict, path: Path) -> Backend:
    """The backend that runs an artifact of this manifest's kind (a plain ONNX export runs on ONNX Runtime)."""
    kind = manifest.get("kind", "onnx")
    for b in registered().values():
        if kind in b.kinds:
            return b
    raise SpcError(f"{path} is an artifact of kind '{kind}', which no backend here runs (known: "
                   f"{', '.join(k for b in registered().values() for k in b.kinds)})")
