"""Fine-tuning a classifier on labelled clips: the whole model, or only the head and the top K layers.

With ``train_layers = K`` below the number of layers, everything under the top K layers is frozen,
so its output is computed once per clip and cached; an epoch then runs only the top K layers and
the head (``K = 0``: the head alone on the frozen encoder's features, seconds per epoch). Training
the whole stack reads the audio every epoch and can augment it (random shift and gain).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.clips import ClipSet
from ..errors import SpcError
from ..accuracy import score
from ..features import cache_outputs
from .loop import FitResult, Task, TrainConfig, fit, train_device


@dataclass(frozen=True)
class FinetuneConfig:
    """What to train (``train_layers`` None: every layer) and how (``train``)."""

    train: TrainConfig = field(default_factory=TrainConfig)
    train_layers: int | None = None  # the head plus the top K layers; 0: the head only
    freeze_feature_encoder: bool = True  # when every layer trains: keep the CNN feature encoder frozen
    augment: bool = True  # random shift (up to 0.1 s) and gain (0.8-1.2); only when training from audio
    version: int = 1

    def __post_init__(self) -> None:
        if self.train_layers is not None and self.train_layers < 0:
            raise SpcError(f"the number of layers to train must be >= 0, got {self.train_layers}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SoftTargets:
    """Extra training inputs labelled by a teacher alone: ``audio`` (M x S float32, e.g. stream-like
    windows) and the teacher's ``logits`` on them (M x C), learnt through the KL divergence of the
    softmaxes at ``temperature`` (no label is invented for a window)."""

    audio: np.ndarray
    logits: torch.Tensor
    temperature: float = 2.0

    def __post_init__(self) -> None:
        if len(self.audio) != len(self.logits):
            raise SpcError(f"{len(self.audio)} soft-target inputs but {len(self.logits)} teacher outputs")


def mixed_loss(logits: torch.Tensor, y: torch.Tensor, teacher_logits: torch.Tensor, temperature: float,
               soft_weight: float = 0.0, reduction: str = "mean") -> torch.Tensor:
    """Mean loss over a batch (logits B x C; ``reduction="none"``: per example): where ``y`` is a class,
    cross-entropy on it mixed with the teacher's soft labels by ``soft_weight``; where ``y`` is -1 (an input only
    the teacher labels), the soft labels alone (``teacher_logits`` B x C; T^2-scaled KL divergence at
    ``temperature``)."""
    hard = nn.functional.cross_entropy(logits, y.clamp_min(0), reduction="none")
    tt = temperature
    soft = tt * tt * nn.functional.kl_div(torch.log_softmax(logits / tt, -1), torch.softmax(teacher_logits / tt, -1),
                                          reduction="none").sum(-1)
    per = torch.where(y >= 0, (1 - soft_weight) * hard + soft_weight * soft, soft)
    return per if reduction == "none" else per.mean()


def augment(audio: torch.Tensor, idx: torch.Tensor, epoch: int, seed: int, rate: int = 16000) -> torch.Tensor:
    """Random shift (up to 0.1 s, circular) and gain (0.8-1.2), drawn per clip from (seed, epoch, clip index)."""
    out = torch.empty_like(audio)
    for row, (a, i) in enumerate(zip(audio, idx.tolist())):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch * 100_003 + i)
        shift = int(torch.randint(-rate // 10, rate // 10 + 1, (1,), generator=gen))
        out[row] = torch.roll(a, shift) * (0.8 + 0.4 * float(torch.rand(1, generator=gen)))
    return out


def _accuracy_and_loss(logits: torch.Tensor, y: torch.Tensor, labels: list[str]) -> dict:
    return {"val_accuracy": score(logits.numpy(), y.numpy(), labels).accuracy,
            "val_loss": float(nn.functional.cross_entropy(logits, y))}


def classifier_task(model, train: ClipSet, val: ClipSet, config: FinetuneConfig, *, show_progress: bool = True,
                    soft: SoftTargets | None = None) -> Task:
    """The ``Task`` that trains ``model`` (in place) as ``config`` says, on cached features where it can;
    with ``soft``, its inputs join the training set, each learnt from the teacher's logits."""
    device = train_device(config.train)
    n_classes = len(train.labels)
    audio_train = train.audio if soft is None else np.concatenate([train.audio, soft.audio])
    y_train = torch.from_numpy(train.targets)
    t_train = torch.zeros(len(train), n_classes)
    if soft is not None:
        y_train = torch.cat([y_train, torch.full((len(soft.audio),), -1, dtype=y_train.dtype)])
        t_train = torch.cat([t_train, soft.logits.float()])
    tt = soft.temperature if soft is not None else 1.0

    def batch_loss(logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return mixed_loss(logits, y_train[idx].to(device), t_train[idx].to(device), tt)

    model.to(device)
    n = model.num_layers
    k = n if config.train_layers is None else min(config.train_layers, n)
    for p in model.parameters():
        p.requires_grad_(False)
    head = model.head.parameters_to_train()
    y_val = torch.from_numpy(val.targets)
    bs = config.train.batch_size
    if config.train_layers is None:  # the whole model, from audio
        for p in model.parameters():
            p.requires_grad_(True)
        if config.freeze_feature_encoder:
            model.adapter.freeze_feature_encoder(model.hf)
        x_train, rate = torch.from_numpy(audio_train), model.meta.sampling_rate

        def loss(idx, epoch):
            audio = x_train[idx]
            if config.augment:
                audio = augment(audio, idx, epoch, config.train.seed, rate)
            return batch_loss(model(audio.to(device)), idx)

        def validate():
            logits = torch.cat([model(torch.from_numpy(val.audio[s : s + bs]).to(device)).float().cpu()
                                for s in range(0, len(val), bs)])
            return _accuracy_and_loss(logits, y_val, val.labels)

        return Task(model, [p for p in model.parameters() if p.requires_grad], loss, validate, len(y_train))

    first = n - k  # the first trainable layer; its input is cached
    frozen = list(range(first + 1)) if model.adapter.head_reads_all_states(model.hf) else [first]
    cached = {name: cache_outputs(model, audio, frozen, batch_size=64, device=device, show_progress=show_progress,
                                  what=f"caching {name} features")
              for name, audio in (("train", audio_train), ("validation", val.audio))}
    trainable = [p for i in range(first, n) for p in model.layers[i].parameters()]
    for p in trainable + head:
        p.requires_grad_(True)

    def forward(split, idx):
        states = [cached[split][i][idx].to(device) for i in frozen]
        hs = model.run_stack(states[-1], range(first, n))
        return model.logits_from_hidden(states[:-1] + hs)

    def loss(idx, epoch):
        return batch_loss(forward("train", idx), idx)

    def validate():
        logits = torch.cat([forward("validation", torch.arange(s, min(s + bs, len(val)))).float().cpu()
                            for s in range(0, len(val), bs)])
        return _accuracy_and_loss(logits, y_val, val.labels)

    def train_mode():
        model.eval()  # the frozen part keeps eval behaviour (no dropout); only what trains is in training mode
        for i in range(first, n):
            model.layers[i].train()
        for m in model.head.modules_to_train():
            m.train()

    return Task(model, trainable + head, loss, validate, len(y_train), train_mode=train_mode)


def finetune(model, train: ClipSet, val: ClipSet, config: FinetuneConfig, checkpoint: Path, *, run_id: str = "",
             show_progress: bool = True, what: str = "training", soft: SoftTargets | None = None) -> FitResult:
    """Train ``model`` in place (on ``soft``'s teacher-labelled inputs too); it ends with the weights of its
    best validation epoch."""
    if len(train) == 0 or len(val) == 0:
        raise SpcError("fine-tuning needs clips in both the train and the validation split")
    task = classifier_task(model, train, val, config, show_progress=show_progress, soft=soft)
    result = fit(task, config.train, checkpoint, run_id=run_id, what=what, show_progress=show_progress)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return result


__all__ = ["FinetuneConfig", "SoftTargets", "finetune", "classifier_task", "augment", "mixed_loss"]
