"""Mimic distillation in two stages on cached teacher outputs, through the shared training loop.

Stage 1 trains the student's stack to reproduce a teacher hidden state (frame-wise MSE; by default
on per-channel standardised targets, so that a few high-energy channels do not dominate). Stage 2
trains through the head on the labels and, by default, on the teacher's soft labels (knowledge
distillation with a temperature), the stack unfrozen. ``DistillConfig.paper()`` is the paper's
recipe: plain MSE for 50 epochs, then 30 epochs of labels with the mimic frozen, Adam 1e-3, batch 128.

The student's front and the teacher are frozen, so the student's stack input, the teacher's target
states and its logits are computed once per clip and cached (float16, cast per batch); an epoch
then runs only the student's stack and head.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.clips import ClipSet
from ..errors import SpcError, SpcInternalError
from ..accuracy import score
from ..features import cache_outputs
from ..training.finetuning import mixed_loss
from ..training.loop import FitResult, Task, TrainConfig, fit, train_device

STAGE1 = TrainConfig(epochs=20, batch_size=64, lr=1e-3, weight_decay=0.0, warmup_ratio=0.0, schedule="constant",
                     patience=4)
STAGE2 = TrainConfig(epochs=10, batch_size=64, lr=3e-4, weight_decay=0.0, warmup_ratio=0.0, schedule="linear",
                     patience=4)


@dataclass(frozen=True)
class DistillConfig:
    """How a student learns from its teacher (defaults: the recipe that holds on pre-trained teachers)."""

    stage1: TrainConfig = field(default_factory=lambda: STAGE1)
    stage2: TrainConfig = field(default_factory=lambda: STAGE2)
    normalize_targets: bool = True  # stage 1: MSE on per-channel standardised teacher states
    soft_labels: float = 0.5  # stage 2: weight of the teacher's soft labels (0: the labels only)
    temperature: float = 2.0  # stage 2: softmax temperature of the soft labels
    unfreeze_mimic: bool = True  # stage 2 also trains the stack
    target_layer: int | None = None  # stage-1 target hidden state (default: the teacher's last layer)
    intermediate_layer: int | None = None  # 2-block students: extra target for the first block's output
    baseline: bool = False  # no teacher: stack and a fresh head learn from the labels only (stage 1 + 2 epochs)
    #: stream-like windows per training clip (``distill.windows``: shifted and partial words, neighbours, gaps,
    #: negatives, noise), each labelled by the teacher's outputs; 0: aligned clips only (the paper's recipe)
    stream_windows: float = 1.0
    version: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.soft_labels <= 1:
            raise SpcError(f"the soft-label weight must be in [0, 1], got {self.soft_labels}")
        if not self.temperature > 0:
            raise SpcError(f"the distillation temperature must be positive, got {self.temperature}")
        if not 0 <= self.stream_windows <= 20:
            raise SpcError(f"stream windows per training clip must be in [0, 20], got {self.stream_windows}")

    @classmethod
    def paper(cls, **changes) -> "DistillConfig":
        """The paper's recipe (docs/method.md): 50 epochs of MSE, 30 of labels with the mimic frozen."""
        adam = dict(batch_size=128, lr=1e-3, weight_decay=0.0, warmup_ratio=0.0, schedule="constant", patience=0)
        paper = cls(stage1=TrainConfig(epochs=50, **adam), stage2=TrainConfig(epochs=30, **adam),
                    normalize_targets=False, soft_labels=0.0, unfreeze_mimic=False, stream_windows=0.0)
        return replace(paper, **changes)

    def with_seed(self, seed: int) -> "DistillConfig":
        return replace(self, stage1=replace(self.stage1, seed=seed), stage2=replace(self.stage2, seed=seed))

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class DistillResult:
    stage1: FitResult | None
    stage2: FitResult

    @property
    def history(self) -> list[dict]:
        rows = [{"stage": "mimic", **r} for r in (self.stage1.history if self.stage1 else [])]
        return rows + [{"stage": "labels", **r} for r in self.stage2.history]

    @property
    def best(self) -> dict:
        return {"mimic": self.stage1.best if self.stage1 else None, "labels": self.stage2.best}


def _targets(teacher, student, config: DistillConfig) -> list[int]:
    n = teacher.num_layers
    target = n if config.target_layer is None else config.target_layer
    if not 1 <= target <= n:
        raise SpcError(f"the target hidden state must be in 1..{n}, got {target}")
    inter = config.intermediate_layer
    if inter is not None and (student.num_layers != 2 or not 1 <= inter < target):
        raise SpcError("an intermediate target needs a 2-block student and a state between 1 and the target")
    if inter is not None and student.width != teacher.width:
        raise SpcError("an intermediate target needs the student at the teacher's width")
    return [target] if inter is None else [target, inter]


def teacher_outputs(teacher, splits: dict, states, *, device="cpu", show_progress: bool = True,
                    with_input: bool = True) -> dict:
    """Per split name: the teacher's stack input (key 0; not with ``with_input=False``: a student with its own
    front end never reads it), hidden states ``states`` and logits, cached in float16."""
    keep = sorted({0, *states} if with_input else set(states))
    return {name: cache_outputs(teacher, clips.audio, keep, logits=True, device=device,
                                dtype=torch.float16, show_progress=show_progress, what=f"caching teacher outputs ({name})")
            for name, clips in splits.items()}


def label_loss(logits: torch.Tensor, y: torch.Tensor, teacher_logits: torch.Tensor, config: DistillConfig) -> torch.Tensor:
    """Stage 2's loss over a batch (logits B x C): on aligned clips (``y`` a class) the labels and the teacher's
    soft labels mixed by ``config.soft_labels``; on stream windows (``y`` = -1) the soft labels alone."""
    return mixed_loss(logits, y, teacher_logits, config.temperature, config.soft_labels)


def with_windows(train: ClipSet, config: DistillConfig, negatives) -> tuple[ClipSet, int]:
    """(the training clips followed by the stream-like windows, labelled -1: the teacher labels them; how many)."""
    n = 0 if config.baseline else int(round(config.stream_windows * len(train)))
    if n == 0:
        return train, 0
    from .windows import stream_windows

    audio, _ = stream_windows(train.audio, train.targets, train.labels, n, seed=config.stage1.seed, negatives=negatives)
    return ClipSet(audio, np.full(n, -1, np.int64), train.labels, [f"window:{k}" for k in range(n)]), n


def distill_mimic(student, teacher, train: ClipSet, val: ClipSet, config: DistillConfig, work: Path, *, run_id: str = "",
            show_progress: bool = True, teacher_cache: dict | None = None, negatives=None) -> DistillResult:
    """Train ``student`` (in place) from ``teacher``; it ends with the best stage-2 weights.

    ``teacher_cache``: ``teacher_outputs`` for "train" and "validation" computed earlier (several
    students of one teacher share it). With ``config.stream_windows``, stream-like windows (from the
    training clips and ``negatives``, long non-keyword audio) join the training set, supervised by the
    teacher's hidden state (stage 1) and soft labels (stage 2) only.
    """
    targets = _targets(teacher, student, config)
    device = train_device(config.stage1)
    windows, n_windows = with_windows(train, config, negatives)
    splits = {"train": train, "validation": val, **({"windows": windows} if n_windows else {})}
    base = dict(teacher_cache or teacher_outputs(teacher, {"train": train, "validation": val}, targets, device=device,
                                                 show_progress=show_progress))
    if n_windows:
        base["windows"] = teacher_outputs(teacher, {"windows": windows}, targets, device=device,
                                          show_progress=show_progress)["windows"]
    cache = {}
    for name, clips in splits.items():
        missing = [t for t in targets if t not in base[name]]
        if missing:
            raise SpcInternalError(f"the teacher cache lacks states {missing}")
        # a student that keeps the teacher's front (a pruned model, a one-layer mimic) reads the teacher's h_0
        cache[name] = dict(base[name], input=base[name][0] if student.stack.kind == "transformer" else
                           cache_outputs(student, clips.audio, [0], device=device, dtype=torch.float16,
                                         show_progress=False)[0])
    # per-channel standard deviation of the target over the training frames: the MSE's scale per channel
    std = (cache["train"][targets[0]].float().std(dim=(0, 1)).clamp_min(1e-6) if config.normalize_targets
           else torch.ones(())).to(device)
    y = {"train": torch.from_numpy(train.targets), "validation": torch.from_numpy(val.targets)}
    if n_windows:  # one training set: the aligned clips, then the windows (label -1)
        w = cache.pop("windows")
        cache["train"] = {k: torch.cat([v, w[k]]) for k, v in cache["train"].items()}
        y["train"] = torch.cat([y["train"], torch.from_numpy(windows.targets)])
    n_train = len(train) + n_windows
    student.to(device)
    for p in student.parameters():
        p.requires_grad_(False)

    def get(split, key, idx):
        return cache[split][key][idx].to(device, torch.float32)

    def run(split, idx):
        return student.run_stack(get(split, "input", idx))

    def stage1_loss(idx, epoch):
        hs = run("train", idx)
        loss = (((hs[-1] - get("train", targets[0], idx)) / std) ** 2).mean()
        if len(targets) > 1:
            loss = loss + (((hs[1] - get("train", targets[1], idx)) / std) ** 2).mean()
        return loss

    def stage2_loss(idx, epoch):
        logits = student.logits_from_hidden(run("train", idx))
        yb = y["train"][idx].to(device)
        if config.baseline:
            return nn.functional.cross_entropy(logits, yb)
        return label_loss(logits, yb, get("train", "logits", idx), config)

    def validate():
        bs, n = 256, len(val)
        sq, logits = 0.0, []
        for s in range(0, n, bs):
            idx = torch.arange(s, min(s + bs, n))
            hs = run("validation", idx)
            sq += float((((hs[-1] - get("validation", targets[0], idx)) / std) ** 2).sum())
            logits.append(student.logits_from_hidden(hs).float().cpu())
        logits = torch.cat(logits)
        return {"val_mse": sq / (n * hs[-1].shape[1] * hs[-1].shape[2]),
                "val_accuracy": score(logits.numpy(), y["validation"].numpy(), val.labels).accuracy,
                "val_loss": float(nn.functional.cross_entropy(logits, y["validation"]))}

    stack = student.stack_parameters()
    head = student.head.parameters_to_train()

    def train_mode(modules):
        def apply():
            student.eval()
            for m in modules:
                m.train()
        return apply

    first = None
    if not config.baseline:
        for p in stack:
            p.requires_grad_(True)
        task = Task(student, stack, stage1_loss, validate, n_train, select="val_mse", higher_is_better=False,
                    train_mode=train_mode(list(student.layers)))
        first = fit(task, config.stage1, work / "stage1.pt", run_id=run_id, what="stage 1: mimic the teacher",
                    show_progress=show_progress)
        for p in stack:
            p.requires_grad_(False)
    else:
        student.head.reset(config.stage1.seed)
    train_stack = config.baseline or config.unfreeze_mimic
    params = head + (stack if train_stack else [])
    for p in params:
        p.requires_grad_(True)
    stage2 = config.stage2
    if config.baseline:
        stage2 = replace(stage2, epochs=config.stage1.epochs + config.stage2.epochs)
    modules = student.head.modules_to_train() + (list(student.layers) if train_stack else [])
    task = Task(student, params, stage2_loss, validate, n_train, train_mode=train_mode(modules))
    second = fit(task, stage2, work / "stage2.pt", run_id=run_id, what="stage 2: labels through the head",
                 show_progress=show_progress)
    for p in student.parameters():
        p.requires_grad_(False)
    student.eval()
    return DistillResult(first, second)
