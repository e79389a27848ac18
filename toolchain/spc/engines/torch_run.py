"""PyTorch model folders behind the runner interface, so they are timed and scored beside artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .runner import Runner


class TorchRunner(Runner):
    """A model folder (or a loaded spc model) in eval mode on ``device``; its manifest is made from the model."""

    def __init__(self, model, device: str = "cpu"):
        import torch

        if isinstance(model, (str, Path)):
            from ..models import load_model

            model = load_model(model)
        self._torch = torch
        self.device = device
        self.model = model.to(device).eval()
        meta = model.meta
        self.manifest = {"kind": "pytorch", "labels": list(model.labels), "sampling_rate": meta.sampling_rate,
                         "clip_seconds": meta.clip_seconds, "max_samples": model.adapter.max_samples(model.hf, meta)}
        self.max_batch = None

    def _infer_batch(self, audio: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            return self.model(torch.from_numpy(audio).to(self.device)).float().cpu().numpy()

    def close(self) -> None:
        self.model = None
