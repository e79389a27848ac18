"""Healing a pruned model cheaply, so that pruning holds on pre-trained models.

Cutting layers out of a pre-trained encoder shifts the representation the head reads; without
retraining, removing even one layer can cost a third of the accuracy. Two cheap repairs:
  head     re-fit the head on the pruned model's cached features (the layers stay as they are)
  distill  a short knowledge distillation from the unpruned model: the kept layers learn to
           reproduce its last hidden state, then the kept layers and the head learn from its
           soft labels and the labels (the mimic recipe, ``distill.trainer``, starting from the kept layers)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..data.clips import ClipSet
from ..errors import SpcError
from ..training.loop import TrainConfig

HEALS = ("none", "head", "distill")

HEAD_TRAIN = TrainConfig(epochs=20, batch_size=64, lr=1e-3, weight_decay=0.0, warmup_ratio=0.0, schedule="linear",
                         patience=5)
DISTILL_STAGE1 = TrainConfig(epochs=5, batch_size=64, lr=5e-4, weight_decay=0.0, warmup_ratio=0.0,
                             schedule="constant", patience=2)
DISTILL_STAGE2 = TrainConfig(epochs=5, batch_size=64, lr=2e-4, weight_decay=0.0, warmup_ratio=0.0,
                             schedule="linear", patience=2)


@dataclass(frozen=True)
class HealConfig:
    """How a pruned candidate is repaired (``method`` none, head or distill)."""

    method: str = "head"
    head: TrainConfig = field(default_factory=lambda: HEAD_TRAIN)
    stage1: TrainConfig = field(default_factory=lambda: DISTILL_STAGE1)
    stage2: TrainConfig = field(default_factory=lambda: DISTILL_STAGE2)
    version: int = 1

    def __post_init__(self) -> None:
        if self.method not in HEALS:
            raise SpcError(f"unknown heal '{self.method}'; choose {', '.join(HEALS)}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Healed:
    """A healed candidate: its validation accuracy (best epoch) and the time the heal took."""

    model: object
    val_accuracy: float
    seconds: float


def heal(pruned, teacher, train: ClipSet, val: ClipSet, config: HealConfig, work: Path, *, teacher_cache=None,
         run_id: str = "", show_progress: bool = False) -> Healed:
    """Repair ``pruned`` (a pruned copy of ``teacher``, changed in place) as ``config`` says."""
    t0 = time.perf_counter()
    if config.method == "head":
        from ..training.finetuning import FinetuneConfig, finetune

        result = finetune(pruned, train, val, FinetuneConfig(train=config.head, train_layers=0), work / "head.pt",
                          run_id=run_id, show_progress=show_progress, what="healing the head")
        acc = result.best["val_accuracy"]
    elif config.method == "distill":
        from ..distill.trainer import DistillConfig, distill

        cfg = DistillConfig(stage1=config.stage1, stage2=config.stage2, stream_windows=0.0)  # aligned clips (as before)
        result = distill(pruned, teacher, train, val, cfg, work, run_id=run_id, show_progress=show_progress,
                         teacher_cache=teacher_cache)
        acc = result.stage2.best["val_accuracy"]
    else:
        raise SpcError("heal method 'none' heals nothing")
    return Healed(pruned, float(acc), round(time.perf_counter() - t0, 2))
