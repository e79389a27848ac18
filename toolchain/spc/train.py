"""A seeded, resumable training loop for classifiers (fine-tuning, from-scratch, distillation stage 2).

Each epoch ends with a checkpoint (model, optimiser, scheduler, RNG state) written atomically, so a
run killed or interrupted resumes from its last finished epoch and ends with the same result as an
uninterrupted one. The best model on the validation split is kept through ``save_best``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .data.clips import ClipSet
from .errors import SpcError
from .fileio import atomic_torch_save
from .evaluate import predict_logits, score, torch_predictor
from .progress import make_progress


@dataclass
class TrainConfig:
    """Hyper-parameters of a classifier training run."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    freeze_feature_encoder: bool = True
    augment: bool = True  # random shift (up to 0.1 s) and gain (0.8-1.2)
    max_grad_norm: float = 5.0  # gradient clipping
    seed: int = 0
    device: str = "auto"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    best_epoch: int
    best_val_accuracy: float
    history: list[dict] = field(default_factory=list)
    resumed_from: int | None = None


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA where present, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SpcError("--device cuda was asked for but no CUDA GPU is visible")
    return torch.device(device)


def fingerprint(*parts) -> str:
    """A short stable hash of JSON-able run settings (to refuse resuming a different run)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _augment(audio: torch.Tensor, gen: torch.Generator, rate: int = 16000) -> torch.Tensor:
    shift = torch.randint(-rate // 10, rate // 10 + 1, (audio.shape[0],), generator=gen)
    gain = 0.8 + 0.4 * torch.rand(audio.shape[0], 1, generator=gen)
    return torch.stack([torch.roll(a, int(s)) for a, s in zip(audio, shift)]) * gain


def train_classifier(
    model: nn.Module,
    train: ClipSet,
    val: ClipSet,
    config: TrainConfig,
    checkpoint: Path,
    save_best: Callable[[nn.Module, dict], None],
    *,
    trainable: Callable[[nn.Module], list[nn.Parameter]] | None = None,
    run_id: str = "",
    show_progress: bool = True,
) -> TrainResult:
    """Train ``model`` (audio -> logits) with cross-entropy; resume from ``checkpoint`` if it matches ``run_id``.

    ``trainable`` picks the parameters to optimise (default: all that require grad).
    """
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    model.to(device)
    params = trainable(model) if trainable else [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise SpcError("nothing to train: every parameter is frozen")
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = max(1, math.ceil(len(train) / config.batch_size))
    total = steps_per_epoch * config.epochs
    warm = max(1, int(config.warmup_ratio * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    history: list[dict] = []
    best = {"epoch": -1, "accuracy": -1.0}
    start_epoch, resumed = 0, None
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        if state.get("run_id") != run_id:
            raise SpcError(f"{checkpoint.parent} holds another run's checkpoint; use a new --out or --overwrite")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        history, best = state["history"], state["best"]
        start_epoch = resumed = state["epoch"] + 1
    x_train = torch.from_numpy(train.audio)
    y_train = torch.from_numpy(train.targets)
    loss_fn = nn.CrossEntropyLoss()
    with make_progress(show_progress) as progress:
        task = progress.add_task("training", total=total, completed=start_epoch * steps_per_epoch, info="")
        for epoch in range(start_epoch, config.epochs):
            gen = torch.Generator().manual_seed(config.seed * 100003 + epoch)
            order = torch.randperm(len(train), generator=gen)
            model.train()
            t0, losses = time.perf_counter(), []
            for s in range(steps_per_epoch):
                idx = order[s * config.batch_size : (s + 1) * config.batch_size]
                audio = x_train[idx]
                if config.augment:
                    audio = _augment(audio, gen)
                loss = loss_fn(model(audio.to(device)), y_train[idx].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                opt.step()
                sched.step()
                losses.append(loss.item())
                progress.update(task, advance=1, info=f"epoch {epoch + 1}/{config.epochs} loss {np.mean(losses):.3f}")
            model.eval()
            logits = predict_logits(torch_predictor(model, device), val.audio, config.batch_size)
            val_acc = score(logits, val.targets, val.labels).accuracy
            val_loss = float(nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(val.targets)))
            row = {"epoch": epoch, "train_loss": float(np.mean(losses)), "val_accuracy": val_acc,
                   "val_loss": val_loss, "seconds": round(time.perf_counter() - t0, 2)}
            history.append(row)
            progress.update(task, info=f"epoch {epoch + 1}/{config.epochs} loss {row['train_loss']:.3f} val {val_acc:.3f}")
            # best: highest validation accuracy, ties broken by the lower validation loss
            if (val_acc, -val_loss) > (best["accuracy"], -best.get("loss", float("inf"))):
                best = {"epoch": epoch, "accuracy": val_acc, "loss": val_loss}
                save_best(model, row)
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            atomic_torch_save({
                "run_id": run_id, "epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None, "history": history, "best": best,
            }, checkpoint)
    return TrainResult(best["epoch"], best["accuracy"], history, resumed)
