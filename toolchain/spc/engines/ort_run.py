"""ONNX Runtime: the one place spc opens a session, and the runner for .onnx / .ort.onnx artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import SpcError
from .runner import Runner

LEVELS = ("basic", "extended", "all")


def ort_errors() -> tuple[type[Exception], ...]:
    """ONNX Runtime's own exception types (a damaged model, a shape or input it cannot run)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return tuple(v for v in vars(state).values() if isinstance(v, type) and issubclass(v, Exception))


def ort_session(path: str | Path, threads: int = 0, providers: list[str] | None = None, *,
                level: str = "all", optimized_path: str | Path | None = None, profile_prefix: str | None = None):
    """An ONNX Runtime session (CPU unless ``providers`` says otherwise); an unreadable model is one user error.

    ``optimized_path`` also saves the optimised graph there (what ``spc build --target cpu`` keeps);
    ``profile_prefix`` turns ONNX Runtime's profiler on, its trace written under that prefix (``ort_profile``).
    Idle worker threads do not spin: a spinning pool keeps the cores busy after each run, which slows
    whatever runs next (the other candidate timed side by side, the app's audio thread between hops);
    measured here, two sessions timed in turns on 2 cores ran 1.5-2.5x slower with spinning on.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                     "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                     "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
    if threads:
        opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if optimized_path:
        opts.optimized_model_filepath = str(optimized_path)
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    try:
        return ort.InferenceSession(str(path), opts, providers=providers or ["CPUExecutionProvider"])
    except ort_errors() as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpcError(f"ONNX Runtime cannot load {path} ({type(exc).__name__}: {detail[-200:]}); "
                       "the file is damaged or not an ONNX model: export it again") from None


def built_threads(manifest: dict) -> int:
    """The thread count a CPU build chose (``thread_choice``), where this machine has that many cores; else 0
    (ONNX Runtime's default: one per core). Builds from before the choice record no ``thread_choice``."""
    import os

    from ..errors import SpcError

    choice = manifest.get("thread_choice")
    raw = choice.get("threads") if isinstance(choice, dict) else choice
    if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int) or raw < 0):
        raise SpcError(f"the manifest of {manifest.get('file', 'the artifact')} records a damaged thread choice "
                       f"({raw!r}): build it again")
    n = int(raw or 0)
    return n if 0 < n <= (os.cpu_count() or 1) else 0


class OrtRunner(Runner):
    """An exported .onnx or a built .ort.onnx on the CPU; any batch size in one call, on ``threads`` (0: the
    build's choice, ``built_threads``)."""

    def __init__(self, path: str | Path, threads: int = 0, manifest: dict | None = None):
        from .artifact_manifest import load_artifact_manifest

        self.path = Path(path)
        self.manifest = manifest if manifest is not None else load_artifact_manifest(path)
        self.max_batch = None
        self.threads = threads or built_threads(self.manifest)
        self.session = ort_session(path, self.threads)
        self.input = self.session.get_inputs()[0].name
        self.providers = self.session.get_providers()

    def _infer_batch(self, audio: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: audio})[0]

    def close(self) -> None:
        self.session = None
