"""One interface for every backend: a runner is a context manager with ``infer(audio) -> logits``.

``OrtRunner`` (ONNX Runtime), ``TensorRTRunner`` (engines) and ``TorchRunner`` (PyTorch model
folders) share it; ``spc.engines.loader.open_runner`` picks one for a path (this module imports none of them). A runner is also a predictor
(``runner(audio)``), so ``spc.accuracy`` and the bench code take it as it is.
"""

from __future__ import annotations


import numpy as np

from ..errors import SpcError


class Runner:
    """Base: ``infer`` splits a batch by ``max_batch`` (None: no limit) and concatenates the logits."""

    manifest: dict
    max_batch: int | None = None

    def _infer_batch(self, audio: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def check_shape(self, shape: tuple[int, int]) -> None:
        """Refuse a clip length the artifact cannot run (engines have a profile; others take any)."""

    def infer(self, audio: np.ndarray) -> np.ndarray:
        """Logits (N x C float32) for audio (N x S, or one clip of S samples) at the model's rate."""
        x = np.ascontiguousarray(np.atleast_2d(np.asarray(audio, dtype=np.float32)))
        if x.ndim != 2:
            raise SpcError(f"audio must be clips x samples, got shape {tuple(x.shape)}")
        if len(x) == 0:
            return np.zeros((0, len(self.manifest.get("labels", []))), np.float32)
        self.check_shape(x.shape)
        step = self.max_batch or len(x)
        out = [np.asarray(self._infer_batch(x[s : s + step]), dtype=np.float32) for s in range(0, len(x), step)]
        return np.concatenate(out)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        return self.infer(audio)

    def close(self) -> None:
        """Free what the backend holds (device buffers, sessions); safe to call twice."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
