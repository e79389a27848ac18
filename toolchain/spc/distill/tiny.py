"""Training a tiny student (``MimicConfig`` kind ``tiny``): a small model with its own front end, from the teacher.

The student shares nothing with the teacher, so it learns from audio: every epoch runs its log-mel front,
convolutions and blocks on the clips (cheap at its size), while the teacher's outputs are computed once and
cached (float16). The two stages of ``DistillConfig`` keep their meaning:

- stage 1, mimic: the student's last hidden state (B x T_s x d), through a learned projection to the teacher's
  width (d -> D, training only) and resampled to the teacher's frame count T, reproduces the teacher's target
  state (B x T x D; MSE on per-channel standardised targets);
- stage 2, labels: the student's head learns from the labels and the teacher's soft labels (stream windows:
  soft labels alone), the whole student training.

The stream-like windows of ``distill.windows`` join the training set as they do for a mimic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..accuracy import score
from ..data.clips import ClipSet
from ..errors import SpcError
from ..training.loop import Task, fit, train_device
from .trainer import DistillConfig, DistillResult, detector_parts, hard_negatives, label_loss, teacher_outputs


def is_tiny(student) -> bool:
    """Whether ``student`` is a tiny student (its own front end): recorded in its provenance at build time."""
    return ((student.meta.provenance or {}).get("mimic") or {}).get("kind") == "tiny"


def to_frames(x: torch.Tensor, frames: int) -> torch.Tensor:
    """B x T x D -> B x ``frames`` x D by linear interpolation along time (identity where T == frames)."""
    if x.shape[1] == frames:
        return x
    return nn.functional.interpolate(x.transpose(1, 2), size=frames, mode="linear", align_corners=False).transpose(1, 2)


def distill_tiny(student, teacher, train: ClipSet, val: ClipSet, config: DistillConfig, work: Path, *,
                 run_id: str = "", show_progress: bool = True, teacher_cache: dict | None = None,
                 negatives=None, keywords=None) -> DistillResult:
    """Train the tiny ``student`` (in place) from ``teacher``; it ends with its best stage-2 weights.

    ``teacher_cache``: ``teacher_outputs`` for "train" and "validation" holding the target state and the logits;
    windows, weights, hard negatives and the checkpoint's selection as ``trainer.distill_mimic`` has them.
    """
    if config.baseline:
        raise SpcError("a tiny student has no labels-only baseline here: train the same model from the labels with "
                       "spc finetune instead")
    target = teacher.num_layers if config.target_layer is None else config.target_layer
    device = train_device(config.stage1)
    windows, sampler, mask, selection = detector_parts(train, val, config, negatives, keywords,
                                                       student.meta.sampling_rate)
    cache = dict(teacher_cache or teacher_outputs(teacher, {"train": train, "validation": val}, [target],
                                                   device=device, show_progress=show_progress, with_input=False))
    audio = {"train": train.audio, "validation": val.audio, **({"selection": selection.audio} if selection else {})}
    y = {"train": torch.from_numpy(train.targets), "validation": torch.from_numpy(val.targets)}
    if sampler:
        w = teacher_outputs(teacher, {"windows": windows}, [target], device=device, show_progress=show_progress,
                            with_input=False)["windows"]
        cache["train"] = {k: torch.cat([cache["train"][k], w[k]]) for k in (target, "logits")}
        audio["train"] = np.concatenate([train.audio, windows.audio])
        y["train"] = torch.cat([y["train"], torch.from_numpy(windows.targets)])
    std = (cache["train"][target].float().std(dim=(0, 1)).clamp_min(1e-6) if config.normalize_targets
           else torch.ones(())).to(device)
    torch.manual_seed(config.stage1.seed)
    proj = nn.Linear(student.width, teacher.width).to(device)  # training only: never saved with the student
    with_proj = nn.ModuleDict({"student": student, "proj": proj})  # stage 1 checkpoints (and resumes) both
    student.to(device)

    def hidden(split: str, idx: torch.Tensor) -> list[torch.Tensor]:
        return student.hidden_states(torch.from_numpy(audio[split][idx.numpy()]).to(device))

    def mimic_error(hs: list[torch.Tensor], split: str, idx: torch.Tensor) -> torch.Tensor:
        want = cache[split][target][idx].to(device, torch.float32)
        return ((to_frames(proj(hs[-1]), want.shape[1]) - want) / std) ** 2

    def drawn(idx, epoch):  # an epoch's training index -> clips-then-pool
        return sampler.map(idx, epoch) if sampler else idx

    def stage1_loss(idx, epoch):
        idx = drawn(idx, epoch)
        return mimic_error(hidden("train", idx), "train", idx).mean()

    mined = set()

    def stage2_loss(idx, epoch):
        if sampler and mask is not None and config.hard_negatives and epoch not in mined:
            mined.add(epoch)
            sampler.set_hard(epoch, hard_negatives(sampler, mask, cache["train"]["logits"],
                                                   lambda g: student.logits_from_hidden(hidden("train", g)), len(train)))
        idx = drawn(idx, epoch)
        logits = student.logits_from_hidden(hidden("train", idx))
        return label_loss(logits, y["train"][idx].to(device), cache["train"]["logits"][idx].to(device, torch.float32),
                          config, keyword_mask=mask, progress=epoch / max(1, config.stage2.epochs - 1))

    def detector_recall() -> float:
        with torch.no_grad():
            logits = torch.cat([student.logits_from_hidden(hidden("selection", torch.arange(s, min(s + 128, n)))).float()
                                for n in [len(selection.audio)] for s in range(0, n, 128)])
        return selection.recall(torch.softmax(logits, -1).numpy())

    def validate(detector: bool = False):
        sq, frames, logits = 0.0, 0, []
        with torch.no_grad():
            for s in range(0, len(val), 128):
                idx = torch.arange(s, min(s + 128, len(val)))
                hs = hidden("validation", idx)
                err = mimic_error(hs, "validation", idx)
                sq, frames = sq + float(err.sum()), frames + err.numel()
                logits.append(student.logits_from_hidden(hs).float().cpu())
        logits = torch.cat(logits)
        out = {"val_mse": sq / frames, "val_accuracy": score(logits.numpy(), y["validation"].numpy(), val.labels).accuracy,
               "val_loss": float(nn.functional.cross_entropy(logits, y["validation"]))}
        return {**out, "val_detector": detector_recall()} if detector else out

    for p in student.parameters():
        p.requires_grad_(True)
    _freeze_fixed_positions(student)
    trainable = [p for p in student.parameters() if p.requires_grad]

    def train_mode():
        student.train()

    n_train = sampler.n_train if sampler else len(train)
    first = fit(Task(with_proj, trainable + list(proj.parameters()), stage1_loss, validate, n_train,
                     select="val_mse", higher_is_better=False, train_mode=train_mode),
                config.stage1, work / "stage1.pt", run_id=run_id, what="stage 1: mimic the teacher (tiny student)",
                show_progress=show_progress)
    second = fit(Task(student, trainable, stage2_loss, lambda: validate(selection is not None), n_train,
                      select="val_detector" if selection else "val_accuracy", train_mode=train_mode), config.stage2,
                 work / "stage2.pt", run_id=run_id, what="stage 2: labels through the head (tiny student)",
                 show_progress=show_progress)
    for p in student.parameters():
        p.requires_grad_(False)
    student.eval()
    return DistillResult(first, second)


def _freeze_fixed_positions(student) -> None:
    """Whisper's positional table is fixed (sinusoidal): it stays as it is."""
    for name, p in student.hf.named_parameters():
        if "embed_positions" in name:
            p.requires_grad_(False)
