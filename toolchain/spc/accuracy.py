"""Accuracy, per-class accuracy and confusion matrix of any predictor (PyTorch, ONNX Runtime, TensorRT)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from .data.clips import ClipSet
from .progress import track

if TYPE_CHECKING:
    import torch

#: audio batch (B x S float32) -> logits (B x C)
Predictor = Callable[[np.ndarray], np.ndarray]


def torch_predictor(model: "torch.nn.Module", device: "str | torch.device" = "cpu") -> Predictor:
    """A predictor running ``model`` (audio -> logits) in eval mode without gradients (torch imported here:
    the rest of this module serves the torch-free device install)."""
    import torch

    model = model.to(device).eval()

    def predict(audio: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(audio)).to(device)).float().cpu().numpy()

    return predict


def predict_logits(predictor: Predictor, audio: np.ndarray, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
    """Run ``predictor`` over ``audio`` (N x S) in batches; logits N x C."""
    starts = range(0, len(audio), batch_size)
    outs = [predictor(audio[s : s + batch_size]) for s in track(starts, "evaluating", show=show_progress)]
    return np.concatenate(outs, axis=0)


@dataclass
class EvalResult:
    """Accuracy of a model on a set of clips, with the per-class view and what was skipped."""

    accuracy: float
    n_clips: int
    labels: list[str]
    per_class: dict[str, dict]
    confusion: list[list[int]]  # rows: true class, columns: predicted class
    skipped: list[tuple[str, str]] = field(default_factory=list)
    label_mapping: dict | None = None  # how the data's classes were matched to the model's (LabelOrder.record())
    config: dict | None = None  # the settings that produced it (``spc eval``'s EvalConfig), where a recipe ran it
    #: per clip, whether the prediction was right (for paired statistics, see spc.stats); not in as_dict()
    correct: np.ndarray | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        """Every field but the per-clip ``correct`` array, as plain JSON-ready values."""
        return {k: v for k, v in asdict(self).items() if k != "correct"}


def score(logits: np.ndarray, targets: np.ndarray, labels: list[str], skipped=()) -> EvalResult:
    """Accuracy, per-class accuracy and confusion matrix from logits and integer targets."""
    pred = logits.argmax(axis=1)
    c = len(labels)
    confusion = np.zeros((c, c), dtype=np.int64)
    np.add.at(confusion, (targets, pred), 1)
    per_class = {}
    for i, name in enumerate(labels):
        n = int(confusion[i].sum())
        per_class[name] = {"n": n, "correct": int(confusion[i, i]), "accuracy": float(confusion[i, i] / n) if n else None}
    return EvalResult(
        accuracy=float((pred == targets).mean()) if len(targets) else float("nan"),
        n_clips=int(len(targets)), labels=list(labels), per_class=per_class,
        confusion=confusion.tolist(), skipped=list(skipped), correct=pred == targets,
    )


def evaluate(predictor: Predictor, clips: ClipSet, batch_size: int = 32, show_progress: bool = False) -> EvalResult:
    """Evaluate a predictor on loaded clips."""
    logits = predict_logits(predictor, clips.audio, batch_size, show_progress)
    result = score(logits, clips.targets, clips.labels, clips.skipped)
    result.label_mapping = clips.label_mapping
    return result
