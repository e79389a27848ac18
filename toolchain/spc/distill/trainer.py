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
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ..data.clips import ClipSet
from ..errors import SpcError, SpcInternalError
from ..accuracy import score
from ..features import cache_outputs
from ..training.finetuning import mixed_loss
from ..training.loop import FitResult, Task, TrainConfig, fit, train_device

if TYPE_CHECKING:
    from .pool import EpochSampler

SELECT = ("accuracy", "detector")
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
    #: stream-like windows per training clip and epoch, each labelled by the teacher's outputs; 0: aligned clips
    #: only (the paper's recipe)
    stream_windows: float = 1.0
    #: issue 35's ingredients, each measured by benchmarks/student_ablation.py before it became a default:
    #: the windows made as the streams are (``distill.pool``: every clip at the streams' SNRs over coloured noise
    #: or babble, gain, rooms); False: ``distill.windows`` (noise at -70 to -30 dBFS, no rooms)
    window_snr: bool = False
    #: the pool holds this many epochs' worth of windows, each epoch drawing its own (1: the same windows every epoch)
    pool_factor: float = 1.0
    #: stage 2: the loss on windows the teacher calls keyword-free weighted by a ramp from 1 to this over the epochs
    negative_weight: float = 1.0
    #: stage 2: weight of a keyword-versus-rest term (the student's keyword probability against the teacher's)
    keyword_weight: float = 0.0
    #: stage 2: share of each epoch's windows taken from the pool's keyword-free windows the student scores highest
    hard_negatives: float = 0.0
    #: the stage-2 checkpoint: the best validation clip accuracy ("accuracy") or the best keyword recall at the
    #: false-accept budget its validation streams resolve ("detector", ``distill.selection``)
    select: str = "accuracy"
    version: int = 3

    def __post_init__(self) -> None:
        if not 0 <= self.soft_labels <= 1:
            raise SpcError(f"the soft-label weight must be in [0, 1], got {self.soft_labels}")
        if not self.temperature > 0:
            raise SpcError(f"the distillation temperature must be positive, got {self.temperature}")
        if not 0 <= self.stream_windows <= 20:
            raise SpcError(f"stream windows per training clip must be in [0, 20], got {self.stream_windows}")
        if not 1 <= self.pool_factor <= 20:
            raise SpcError(f"the window pool must hold 1 to 20 epochs' worth, got {self.pool_factor}")
        if not (1 <= self.negative_weight <= 1000 and 0 <= self.keyword_weight <= 100 and 0 <= self.hard_negatives <= 1):
            raise SpcError("negative weight must be 1-1000, keyword weight 0-100 and the hard-negative share 0-1")
        if self.select not in SELECT:
            raise SpcError(f"unknown checkpoint selection '{self.select}'; choose {', '.join(SELECT)}")

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


def label_loss(logits: torch.Tensor, y: torch.Tensor, teacher_logits: torch.Tensor, config: DistillConfig,
               keyword_mask: torch.Tensor | None = None, progress: float = 1.0) -> torch.Tensor:
    """Stage 2's loss over a batch (logits B x C): on aligned clips (``y`` a class) the labels and the teacher's
    soft labels mixed by ``config.soft_labels``; on stream windows (``y`` = -1) the soft labels alone. With
    ``keyword_mask`` (C, bool: the keyword classes), a keyword-versus-rest term (binary cross-entropy of the
    student's keyword probability against the teacher's) weighted by ``config.keyword_weight``, and the examples the
    teacher calls keyword-free weighted by a ramp from 1 to ``config.negative_weight`` (``progress``: 0 at the first
    epoch, 1 at the last)."""
    per = mixed_loss(logits, y, teacher_logits, config.temperature, config.soft_labels, reduction="none")
    if keyword_mask is None or not bool(keyword_mask.any()):
        return per.mean()
    p_s = torch.softmax(logits, -1)[:, keyword_mask].sum(-1).clamp(1e-6, 1 - 1e-6)
    p_t = torch.softmax(teacher_logits, -1)[:, keyword_mask].sum(-1).clamp(0.0, 1.0)
    per = per + config.keyword_weight * nn.functional.binary_cross_entropy(p_s, p_t, reduction="none")
    w = torch.where(p_t < 0.5, 1.0 + (config.negative_weight - 1.0) * min(max(progress, 0.0), 1.0), 1.0)
    return (w * per).sum() / w.sum()


def keyword_mask(labels: list[str], keywords) -> torch.Tensor | None:
    """Which classes are keywords (``keywords``, else every class but _silence_/_unknown_); None where that leaves
    no class that is not one (no keyword-free class: nothing to weigh or mine)."""
    from ..runtime import NON_KEYWORDS

    kws = set(keywords) if keywords else {x for x in labels if x not in NON_KEYWORDS}
    mask = torch.tensor([x in kws for x in labels])
    return mask if bool(mask.any()) and not bool(mask.all()) else None


def with_windows(train: ClipSet, config: DistillConfig, negatives, keywords=None, rate: int = 16000
                 ) -> tuple[ClipSet, "EpochSampler | None"]:
    """(the stream-like window pool, labelled -1: the teacher labels them; the sampler that draws each epoch's
    windows from it, or None where there are none)."""
    per_epoch = 0 if config.baseline else int(round(config.stream_windows * len(train)))
    if per_epoch == 0:
        return ClipSet(np.zeros((0, train.audio.shape[1]), np.float32), np.zeros(0, np.int64), train.labels, []), None
    n = int(round(per_epoch * config.pool_factor))
    if config.window_snr:
        from ..runtime import NON_KEYWORDS
        from .pool import pool_windows

        names = [train.labels[t] for t in train.targets]
        kws = list(keywords) if keywords else [x for x in train.labels if x not in NON_KEYWORDS]
        audio, _ = pool_windows(train.audio, names, kws, n, rate, seed=config.stage1.seed, negatives=negatives)
    else:
        from .windows import stream_windows

        audio, _ = stream_windows(train.audio, train.targets, train.labels, n, seed=config.stage1.seed,
                                  negatives=negatives)
    from .pool import EpochSampler

    sampler = EpochSampler(len(train), n, per_epoch, config.stage1.seed, config.hard_negatives)
    return ClipSet(audio, np.full(n, -1, np.int64), train.labels, [f"window:{k}" for k in range(n)]), sampler


def detector_parts(train: ClipSet, val: ClipSet, config: DistillConfig, negatives, keywords, rate: int):
    """(the window pool, its sampler, the keyword mask, the detector selection or None): what every student's
    training shares of issue 35's ingredients."""
    windows, sampler = with_windows(train, config, negatives, keywords, rate)
    mask = keyword_mask(train.labels, keywords)
    selection = None
    if config.select == "detector" and mask is not None:
        from .selection import DetectorSelection

        kws = [x for x, m in zip(train.labels, mask.tolist()) if m]
        selection = DetectorSelection(val.audio, [val.labels[t] for t in val.targets], val.paths, val.labels, kws, rate,
                                      seed=config.stage2.seed)
    return windows, sampler, mask, selection


def hard_negatives(sampler, mask: torch.Tensor, teacher_logits: torch.Tensor, student_logits, n_clips: int) -> np.ndarray:
    """Pool windows (pool-local indices) the teacher calls keyword-free, most confusing to the student first:
    ranked by the student's keyword probability (``student_logits(global indices) -> logits``, no gradient)."""
    p_t = torch.softmax(teacher_logits[n_clips:].float(), -1)[:, mask].sum(-1)
    negative = torch.nonzero(p_t < 0.5).flatten()
    if len(negative) == 0:
        return np.zeros(0, np.int64)
    with torch.no_grad():
        p_s = torch.cat([torch.softmax(student_logits(negative[s : s + 256] + n_clips).float().cpu(), -1)[:, mask].sum(-1)
                         for s in range(0, len(negative), 256)])
    return negative[torch.argsort(p_s, descending=True)].numpy()


def distill_mimic(student, teacher, train: ClipSet, val: ClipSet, config: DistillConfig, work: Path, *, run_id: str = "",
                  show_progress: bool = True, teacher_cache: dict | None = None, negatives=None,
                  keywords=None) -> DistillResult:
    """Train ``student`` (in place) from ``teacher``; it ends with the best stage-2 weights.

    ``teacher_cache``: ``teacher_outputs`` for "train" and "validation" computed earlier (several
    students of one teacher share it). With ``config.stream_windows``, stream-like windows (from the
    training clips and ``negatives``, long non-keyword audio) join each epoch's training set, drawn from a pool
    (``distill.pool``), supervised by the teacher's hidden state (stage 1) and soft labels (stage 2) only;
    ``keywords`` (default: every class but _silence_/_unknown_) name what issue 35's ingredients weigh, mine and
    select for.
    """
    targets = _targets(teacher, student, config)
    device = train_device(config.stage1)
    rate = student.meta.sampling_rate
    windows, sampler, mask, selection = detector_parts(train, val, config, negatives, keywords, rate)
    extra = {**({"windows": windows} if sampler else {}),
             **({"selection": ClipSet(selection.audio, np.zeros(len(selection.audio), np.int64), val.labels, [])}
                if selection else {})}
    splits = {"train": train, "validation": val, **extra}
    base = dict(teacher_cache or teacher_outputs(teacher, {"train": train, "validation": val}, targets, device=device,
                                                 show_progress=show_progress))
    base.update(teacher_outputs(teacher, extra, targets, device=device, show_progress=show_progress) if extra else {})
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
    if sampler:  # one training set: the aligned clips, then the window pool (label -1), each epoch a draw of it
        w = cache.pop("windows")
        cache["train"] = {k: torch.cat([v, w[k]]) for k, v in cache["train"].items()}
        y["train"] = torch.cat([y["train"], torch.from_numpy(windows.targets)])
    n_train = sampler.n_train if sampler else len(train)
    student.to(device)
    for p in student.parameters():
        p.requires_grad_(False)

    def get(split, key, idx):
        return cache[split][key][idx].to(device, torch.float32)

    def run(split, idx):
        return student.run_stack(get(split, "input", idx))

    def drawn(idx, epoch):  # an epoch's training index -> clips-then-pool
        return sampler.map(idx, epoch) if sampler else idx

    def stage1_loss(idx, epoch):
        idx = drawn(idx, epoch)
        hs = run("train", idx)
        loss = (((hs[-1] - get("train", targets[0], idx)) / std) ** 2).mean()
        if len(targets) > 1:
            loss = loss + (((hs[1] - get("train", targets[1], idx)) / std) ** 2).mean()
        return loss

    mined = set()

    def stage2_loss(idx, epoch):
        if sampler and mask is not None and config.hard_negatives and epoch not in mined:
            mined.add(epoch)  # the first batch of an epoch: mine with the student as the epoch starts
            sampler.set_hard(epoch, hard_negatives(sampler, mask, cache["train"]["logits"],
                                                   lambda g: student.logits_from_hidden(run("train", g)), len(train)))
        idx = drawn(idx, epoch)
        logits = student.logits_from_hidden(run("train", idx))
        yb = y["train"][idx].to(device)
        if config.baseline:
            return nn.functional.cross_entropy(logits, yb)
        return label_loss(logits, yb, get("train", "logits", idx), config, keyword_mask=mask,
                          progress=epoch / max(1, config.stage2.epochs - 1))

    def logits_of(split, n):
        out = []
        for s in range(0, n, 256):
            out.append(student.logits_from_hidden(run(split, torch.arange(s, min(s + 256, n)))).float().cpu())
        return torch.cat(out)

    def validate(detector: bool = False):
        bs, n = 256, len(val)
        sq, logits = 0.0, []
        for s in range(0, n, bs):
            idx = torch.arange(s, min(s + bs, n))
            hs = run("validation", idx)
            sq += float((((hs[-1] - get("validation", targets[0], idx)) / std) ** 2).sum())
            logits.append(student.logits_from_hidden(hs).float().cpu())
        logits = torch.cat(logits)
        out = {"val_mse": sq / (n * hs[-1].shape[1] * hs[-1].shape[2]),
               "val_accuracy": score(logits.numpy(), y["validation"].numpy(), val.labels).accuracy,
               "val_loss": float(nn.functional.cross_entropy(logits, y["validation"]))}
        if detector:
            out["val_detector"] = selection.recall(torch.softmax(logits_of("selection", len(selection.audio)), -1).numpy())
        return out

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
    task = Task(student, params, stage2_loss, lambda: validate(selection is not None), n_train,
                select="val_detector" if selection else "val_accuracy", train_mode=train_mode(modules))
    second = fit(task, stage2, work / "stage2.pt", run_id=run_id, what="stage 2: labels through the head",
                 show_progress=show_progress)
    for p in student.parameters():
        p.requires_grad_(False)
    student.eval()
    return DistillResult(first, second)
