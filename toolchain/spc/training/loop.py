"""The one training loop of spc: fine-tuning, healing after pruning and mimic distillation all run through ``fit``.

``fit`` optimises a ``Task`` (its parameters, the loss of a batch of training indices, a validation
score) for ``TrainConfig.epochs`` epochs: seeded shuffling, AdamW with warm-up and linear decay (or a
constant rate), gradient clipping, early stopping on the validation score, and an atomic
checkpoint after every epoch, so that an interrupted run resumes and ends exactly where an
uninterrupted one would. At the end the model holds the best epoch's weights.

Data-parallel: started under ``torchrun`` (``WORLD_SIZE`` > 1), the task runs inside PyTorch's
``DistributedDataParallel`` (``gloo`` on the CPU, ``nccl`` on GPUs; bucketed all-reduce overlapped with
the backward pass): every process takes its share of each global batch, its loss weighted so that
DDP's gradient average is the global batch's mean gradient, so two processes compute the same update as
one process on the same global batch. Only the first process writes checkpoints and shows progress.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import SpcError
from ..fileio import atomic_torch_save
from ..progress import make_progress

SCHEDULES = ("linear", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (validated on construction)."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    schedule: str = "linear"  # warm-up then linear decay, or a constant rate
    max_grad_norm: float = 1.0  # gradient clipping (0: off)
    patience: int = 0  # early stopping: stop after this many epochs without a better validation score (0: off)
    seed: int = 0
    device: str = "auto"
    version: int = 1

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise SpcError(f"training needs at least 1 epoch, got {self.epochs}")
        if self.batch_size < 1:
            raise SpcError(f"batch size must be at least 1, got {self.batch_size}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise SpcError(f"learning rate must be a finite number > 0, got {self.lr}")
        if not all(math.isfinite(x) for x in (self.weight_decay, self.warmup_ratio, self.max_grad_norm)):
            raise SpcError("weight decay, warm-up and gradient clipping must be finite numbers")
        if self.weight_decay < 0 or not 0 <= self.warmup_ratio < 1 or self.max_grad_norm < 0 or self.patience < 0:
            raise SpcError("weight decay, gradient clipping and patience must be >= 0 and warm-up in [0, 1)")
        if self.schedule not in SCHEDULES:
            raise SpcError(f"unknown learning-rate schedule '{self.schedule}'; choose {' or '.join(SCHEDULES)}")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Task:
    """What one run optimises.

    ``loss(idx, epoch)``: the mean loss over training examples ``idx`` (a 1-D LongTensor) in epoch
    ``epoch`` (for per-example augmentation that does not depend on how a batch is split);
    ``validate()``: metrics of the model as it is now; ``select``: the metric that picks the best
    epoch and whether higher is better; ``model``: what is checkpointed; ``train_mode``: puts the
    modules into training mode (default ``model.train()``; a frozen part may stay in eval mode).
    """

    model: nn.Module
    params: list[nn.Parameter]
    loss: Callable[[torch.Tensor, int], torch.Tensor]
    validate: Callable[[], dict]
    n_train: int
    select: str = "val_accuracy"
    higher_is_better: bool = True
    train_mode: Callable[[], None] | None = None


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=dict)
    resumed_from: int | None = None
    stopped_early: bool = False
    seconds: float = 0.0


def fingerprint(*parts) -> str:
    """A short stable hash of JSON-able settings (stage keys, and refusing to resume a different run)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def world() -> tuple[int, int]:
    """(rank, world size) of this process; joins the process group on first use under torchrun."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def is_main_process() -> bool:
    """True in a single-process run and in the first process of a torchrun job."""
    return world()[0] == 0


def train_device(config: TrainConfig) -> torch.device:
    """The device this process trains on: the configured one, or this process's GPU under torchrun."""
    from ..torch_device import resolve_device

    device = resolve_device(config.device)
    if device.type == "cuda" and world()[1] > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def _rank(task: Task, metrics: dict) -> tuple:
    """What makes an epoch better (larger is better): the selected metric, then a lower validation loss."""
    score = metrics[task.select] if task.higher_is_better else -metrics[task.select]
    return (score, -metrics.get("val_loss", 0.0))


def _schedule(opt, config: TrainConfig, total: int):
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    warm = max(1, int(config.warmup_ratio * total))
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))


class _TaskModule(nn.Module):
    """The task as one module for ``DistributedDataParallel``: forward(idx, epoch) is the task's loss, and the
    trained parameters are its own (the model's, plus any the task trains outside the model)."""

    def __init__(self, task: Task):
        super().__init__()
        self.model = task.model
        inside = {id(p) for p in task.model.parameters()}
        self.extra = nn.ParameterList([p for p in task.params if id(p) not in inside])
        self._task = task

    def forward(self, idx: torch.Tensor, epoch: int, weight: float) -> torch.Tensor:
        if len(idx) == 0:  # this process's share of a short last batch is empty: a zero that touches every parameter
            return sum((p * 0.0).sum() for p in self._task.params)
        return self._task.loss(idx, epoch) * weight


def _data_parallel(task: Task, size: int):
    """``task``'s loss as a callable (idx, epoch, weight) -> loss: wrapped in DDP under torchrun, else plain."""
    module = _TaskModule(task)
    if size <= 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device = next(iter(task.params)).device
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None,
                                   find_unused_parameters=True)


def load_checkpoint(path: Path) -> dict:
    """A checkpoint this loop wrote: tensors and plain values only (``weights_only=True``), so that a ``last.pt``
    planted in an output or work folder cannot run code when the same command runs again."""
    import pickle

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpcError(f"{path} is not a checkpoint spc wrote (it holds more than tensors and plain values, or is "
                       f"damaged: {first[:120]}); delete it to start the run afresh") from None
    if not isinstance(state, dict) or "run_id" not in state:
        raise SpcError(f"{path} is not a checkpoint spc wrote; delete it to start the run afresh")
    return state


def fit(task: Task, config: TrainConfig, checkpoint: Path, *, run_id: str = "", what: str = "training",
        show_progress: bool = True) -> FitResult:
    """Train ``task`` as configured; resume from ``checkpoint`` when it belongs to the same ``run_id``.

    A finished checkpoint is not trained again: the best weights are loaded and the recorded history
    returned. The checkpoint is the caller's to delete once the result is safely saved.
    """
    rank, size = world()
    if not task.params:
        raise SpcError("nothing to train: every parameter is frozen")
    t0 = time.perf_counter()
    opt = torch.optim.AdamW(task.params, lr=config.lr, weight_decay=config.weight_decay)
    steps = max(1, math.ceil(task.n_train / config.batch_size))
    sched = _schedule(opt, config, steps * config.epochs)
    result = FitResult()
    best_state, best_score, start, stale = None, None, 0, 0
    if checkpoint.is_file():
        state = load_checkpoint(checkpoint)
        if state.get("run_id") != run_id:
            raise SpcError(f"{checkpoint.parent} holds another run's checkpoint; use a new output folder or overwrite it")
        result.history, result.best = state["history"], state["best"]
        best_state, best_score, stale = state["best_state"], state["best_score"], state["stale"]
        if state.get("finished"):
            task.model.load_state_dict(best_state)
            result.stopped_early = state.get("stopped_early", False)
            return result
        task.model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        start = result.resumed_from = state["epoch"] + 1
    if start == 0:
        torch.manual_seed(config.seed)  # dropout; a resumed run restored the generator above
    step_loss = _data_parallel(task, size)
    with make_progress(show_progress and rank == 0) as progress:
        bar = progress.add_task(what, total=steps * config.epochs, completed=start * steps, info="")
        for epoch in range(start, config.epochs):
            e0 = time.perf_counter()
            order = torch.randperm(task.n_train, generator=torch.Generator().manual_seed(config.seed * 100003 + epoch))
            (task.train_mode or task.model.train)()
            losses = []
            for s in range(steps):
                idx = order[s * config.batch_size : (s + 1) * config.batch_size]
                mine = idx[rank::size]
                # DDP averages gradients over processes: weight = size x my share makes that the global mean
                weight = size * len(mine) / len(idx)
                loss = step_loss(mine, epoch, weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if config.max_grad_norm:
                    nn.utils.clip_grad_norm_(task.params, config.max_grad_norm)
                opt.step()
                sched.step()
                losses.append(float(loss.detach()) / weight if len(mine) else 0.0)
                progress.update(bar, advance=1, info=f"epoch {epoch + 1}/{config.epochs} loss {np.mean(losses):.4f}")
            task.model.eval()
            with torch.inference_mode():
                metrics = task.validate()
            row = {"epoch": epoch, "train_loss": float(np.mean(losses)), **metrics,
                   "lr": opt.param_groups[0]["lr"], "seconds": round(time.perf_counter() - e0, 2)}
            result.history.append(row)
            score = _rank(task, metrics)
            if best_score is None or score > tuple(best_score):
                best_score, stale, result.best = score, 0, row
                best_state = copy.deepcopy(task.model.state_dict())
            else:
                stale += 1
            progress.update(bar, info=f"epoch {epoch + 1}/{config.epochs} {task.select} {metrics[task.select]:.4f} "
                                      f"(best {result.best[task.select]:.4f})")
            result.stopped_early = bool(config.patience) and stale >= config.patience and epoch + 1 < config.epochs
            done = epoch + 1 == config.epochs or result.stopped_early
            if rank == 0:
                checkpoint.parent.mkdir(parents=True, exist_ok=True)
                atomic_torch_save({
                    "run_id": run_id, "epoch": epoch, "model": task.model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "rng": torch.get_rng_state(), "history": result.history,
                    "best": result.best, "best_state": best_state, "best_score": best_score, "stale": stale,
                    "finished": done, "stopped_early": result.stopped_early,
                }, checkpoint)
            if result.stopped_early:
                progress.update(bar, completed=steps * config.epochs)
                break
    task.model.load_state_dict(best_state)
    result.seconds = round(time.perf_counter() - t0, 2)
    return result
