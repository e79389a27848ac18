"""Healing a pruned model cheaply, so that pruning holds on pre-trained models.

Cutting layers out of a pre-trained encoder shifts the representation the head reads; without
retraining, removing even one layer can cost a third of the accuracy. Two cheap repairs:
  head     re-fit the head on the pruned model's cached features (the layers stay as they are)
  distill  a short knowledge distillation from the unpruned model: the kept layers learn to
           reproduce its last hidden state, then the kept layers and the head learn from its
           soft labels and the labels (the mimic recipe, ``distill.trainer``, starting from the kept layers)
Both also learn from stream-like windows (``distill.windows``: shifted and partial words, gaps, negatives,
noise) labelled by the unpruned model, so that the healed model answers between and off the aligned clips
as the original does: a head re-fitted on aligned clips alone accepts keyword-free speech with confidence.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..data.clips import ClipSet
from ..distill.windows import stream_windows
from ..errors import SpcError
from ..features import cache_outputs
from ..training.finetuning import FinetuneConfig, SoftTargets, finetune
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
    #: stream-like windows per training clip, labelled by the unpruned model (0: the aligned clips only)
    stream_windows: float = 1.0
    #: the windows made as the streams are (``distill.pool``: the streams' SNRs, coloured noise and babble, rooms)
    window_snr: bool = False
    temperature: float = 2.0  # of the unpruned model's soft labels on the windows
    version: int = 3

    def __post_init__(self) -> None:
        if self.method not in HEALS:
            raise SpcError(f"unknown heal '{self.method}'; choose {', '.join(HEALS)}")
        if not 0 <= self.stream_windows <= 20:
            raise SpcError(f"stream windows per training clip must be in [0, 20], got {self.stream_windows}")
        if not self.temperature > 0:
            raise SpcError(f"the soft-label temperature must be positive, got {self.temperature}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Healed:
    """A healed candidate: its validation accuracy (best epoch) and the time the heal took."""

    model: object
    val_accuracy: float
    seconds: float


def teacher_windows(teacher, train: ClipSet, config: HealConfig, *, negatives: list[np.ndarray] | None = None,
                    device="cpu", seed: int = 0, show_progress: bool = False, keywords=None) -> SoftTargets | None:
    """``config.stream_windows`` stream-like windows per training clip (from ``train`` and ``negatives``, long
    non-keyword audio) with the unpruned ``teacher``'s logits on them; made once, shared by every candidate."""
    n = int(round(config.stream_windows * len(train)))
    if n == 0:
        return None
    if config.window_snr:
        from ..distill.pool import pool_windows
        from ..runtime import NON_KEYWORDS

        kws = list(keywords) if keywords else [x for x in train.labels if x not in NON_KEYWORDS]
        audio, _ = pool_windows(train.audio, [train.labels[t] for t in train.targets], kws, n,
                                teacher.meta.sampling_rate, seed=seed, negatives=negatives)
    else:
        audio, _ = stream_windows(train.audio, train.targets, train.labels, n, seed=seed, negatives=negatives)
    logits = cache_outputs(teacher, audio, [], logits=True, device=device, show_progress=show_progress,
                           what="teacher outputs on stream windows")["logits"]
    return SoftTargets(audio, logits, config.temperature)


def heal(pruned, teacher, train: ClipSet, val: ClipSet, config: HealConfig, work: Path, *, teacher_cache=None,
         windows: SoftTargets | None = None, negatives: list[np.ndarray] | None = None, run_id: str = "",
         show_progress: bool = False, what: str = "healing the head") -> Healed:
    """Repair ``pruned`` (a pruned copy of ``teacher``, changed in place) as ``config`` says; the head heal
    learns from ``windows`` too (``teacher_windows``), the distill heal makes its own from ``negatives``.
    ``what`` names the head heal's progress (which cut)."""
    t0 = time.perf_counter()
    if config.method == "head":
        result = finetune(pruned, train, val, FinetuneConfig(train=config.head, train_layers=0), work / "head.pt",
                          run_id=run_id, show_progress=show_progress, what=what, soft=windows)
        acc = result.best["val_accuracy"]
    elif config.method == "distill":
        from ..distill.trainer import DistillConfig, distill_mimic as distill

        cfg = DistillConfig(stage1=config.stage1, stage2=config.stage2, stream_windows=config.stream_windows,
                            temperature=config.temperature, window_snr=config.window_snr)
        result = distill(pruned, teacher, train, val, cfg, work, run_id=run_id, show_progress=show_progress,
                         teacher_cache=teacher_cache, negatives=negatives)
        acc = result.stage2.best["val_accuracy"]
    else:
        raise SpcError("heal method 'none' heals nothing")
    return Healed(pruned, float(acc), round(time.perf_counter() - t0, 2))
