"""The runner for a path: an artifact's backend's runner (``backends``: a TensorRT engine, an ONNX Runtime graph)
or a PyTorch model folder.

Each backend imports its library only when its kind of artifact is opened, so ONNX artifacts need neither
TensorRT nor torch; the backends import ``runner.Runner`` and nothing here (no import cycle).
"""

from __future__ import annotations

from pathlib import Path

from .runner import Runner


def open_runner(artifact: str | Path, threads: int = 0) -> Runner:
    """The runner for an artifact file (manifest and sha256 checked) or a PyTorch model folder."""
    path = Path(artifact)
    if path.is_dir():
        from .torch_run import TorchRunner

        return TorchRunner(path)
    from .artifact_manifest import load_artifact_manifest

    from .backends import for_artifact

    manifest = load_artifact_manifest(path)
    return for_artifact(manifest, path).runner(path, manifest, threads)
