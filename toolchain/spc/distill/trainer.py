"""Two-stage mimic distillation (stage 1: MSE to the teacher's layer output; stage 2: labels through the head).

The teacher's frozen front is deterministic, so its output h_0 (the student's stack input) and the
target hidden states are computed once per clip and cached; an epoch then runs only the mimic and
the head. Every epoch ends with an atomic checkpoint, so an interrupted run resumes and ends
with the same result as an uninterrupted one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.clips import ClipSet
from ..errors import SpcError
from ..fileio import atomic_torch_save
from ..progress import make_progress
from .cache import teacher_features


@dataclass
class DistillConfig:
    """Training settings (defaults: the paper's recipe, Adam at 1e-3, batch 128)."""

    stage1_epochs: int = 50
    stage2_epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 128
    target_layer: int | None = None  # stage-1 target hidden state (default: the teacher's last layer)
    intermediate_layer: int | None = None  # 2-block students: extra target for the first block's output
    unfreeze_mimic: bool = False  # stage 2 also trains the mimic
    baseline: bool = False  # no stage 1: the student learns from labels only (mimic and a fresh head)
    seed: int = 0
    device: str = "auto"
    cache_mb: int = 4096


@dataclass
class DistillResult:
    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=dict)
    resumed_from: dict | None = None


def _head_logits(student, h0: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    return student.logits_from_hidden([h0, out])


def distill(student, teacher, train: ClipSet, val: ClipSet, config: DistillConfig, work: Path,
            save_best, show_progress: bool = True, run_id: str = "") -> DistillResult:
    """Train ``student`` (a ``MimicStudent``) from ``teacher``; ``save_best(student, row)`` keeps the best."""
    from ..train import resolve_device

    device = resolve_device(config.device)
    n_layers = teacher.num_layers
    target = n_layers if config.target_layer is None else config.target_layer
    if not 1 <= target <= n_layers:
        raise SpcError(f"--target-layer must be in 1..{n_layers} (hidden-state index), got {target}")
    inter = config.intermediate_layer
    if inter is not None and (student.mimic_cfg.n_layers != 2 or not 1 <= inter < target):
        raise SpcError("--intermediate-layer needs a 2-block student and an index between 1 and the target layer")
    if inter is not None and student.mimic_cfg.width not in (None, teacher.hf.config.hidden_size):
        raise SpcError("--intermediate-layer needs the mimic at the teacher's width")
    wanted = sorted({target} | ({inter} if inter is not None else set()))
    feats = {}
    for name, clips in (("train", train), ("validation", val)):
        feats[name] = teacher_features(teacher, student, clips.audio, wanted, config.batch_size, device, config.cache_mb,
                                       work / "cache", show_progress, f"{name} teacher outputs")
    torch.manual_seed(config.seed)
    student.to(device)
    for p in student.parameters():
        p.requires_grad_(False)
    head = [student.hf.projector, student.hf.classifier]
    if config.baseline:
        for m in head:
            for p in m.parameters():
                nn.init.normal_(p, std=0.02) if p.dim() > 1 else nn.init.zeros_(p)
    stages = ([] if config.baseline else [("mimic", config.stage1_epochs)]) + [
        ("labels", config.stage2_epochs + (config.stage1_epochs if config.baseline else 0))]
    work.mkdir(parents=True, exist_ok=True)
    ckpt = work / "distill_last.pt"
    state = torch.load(ckpt, map_location=device, weights_only=False) if ckpt.is_file() else None
    if state is not None and state.get("run_id") != run_id:
        raise SpcError(f"{work} holds another distillation run's checkpoint; use a new --out or --overwrite")
    history: list[dict] = state["history"] if state else []
    best: dict = state["best"] if state else {}
    result = DistillResult(history, best, {"stage": state["stage"], "epoch": state["epoch"]} if state else None)
    mse = nn.MSELoss()
    ce = nn.CrossEntropyLoss()
    y_train = torch.from_numpy(train.targets)
    y_val = torch.from_numpy(val.targets)

    def batch(split, idx, key):
        return torch.from_numpy(np.asarray(feats[split][key][idx])).to(device)

    with make_progress(show_progress) as progress:
        for stage_no, (stage, epochs) in enumerate(stages):
            if state and state["stage_no"] > stage_no:
                continue
            train_mimic = stage == "mimic" or config.baseline or config.unfreeze_mimic
            params = list(student.mimic.parameters()) if train_mimic else []
            if stage == "labels":
                params += [p for m in head for p in m.parameters()]
            for p in student.parameters():
                p.requires_grad_(False)
            for p in params:
                p.requires_grad_(True)
            opt = torch.optim.Adam(params, lr=config.lr)
            start = 0
            if state and state["stage_no"] == stage_no:
                student.load_state_dict(state["student"])
                opt.load_state_dict(state["optimizer"])
                torch.set_rng_state(state["rng"])
                start = state["epoch"] + 1
            state = None
            steps = max(1, -(-len(train) // config.batch_size))
            task = progress.add_task(f"stage {stage}", total=epochs * steps, completed=start * steps, info="")
            for epoch in range(start, epochs):
                t0 = time.perf_counter()
                gen = torch.Generator().manual_seed(config.seed * 7919 + stage_no * 1000 + epoch)
                order = torch.randperm(len(train), generator=gen).numpy()
                student.train()
                if not train_mimic:
                    student.mimic.eval()  # a frozen mimic runs without dropout
                losses = []
                for s in range(steps):
                    idx = np.sort(order[s * config.batch_size : (s + 1) * config.batch_size])
                    h0 = batch("train", idx, "input")
                    hs = student.run_stack(h0)
                    if stage == "mimic":
                        loss = mse(hs[-1], batch("train", idx, target))
                        if inter is not None:
                            loss = loss + mse(_first_block_out(student, hs), batch("train", idx, inter))
                    else:
                        loss = ce(_head_logits(student, h0, hs[-1]), y_train[idx].to(device))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    losses.append(loss.item())
                    progress.update(task, advance=1, info=f"epoch {epoch + 1}/{epochs} loss {np.mean(losses):.4f}")
                row = {"stage": stage, "epoch": epoch, "train_loss": float(np.mean(losses)),
                       **_validate(student, feats["validation"], y_val, target, config.batch_size, device),
                       "seconds": round(time.perf_counter() - t0, 2)}
                history.append(row)
                progress.update(task, info=f"epoch {epoch + 1}/{epochs} val mse {row['val_mse']:.4f} acc {row['val_accuracy']:.3f}")
                key = "val_mse" if stage == "mimic" else "val_accuracy"
                better = (row[key] < best.get(stage, {}).get(key, np.inf)) if stage == "mimic" else \
                    ((row["val_accuracy"], -row["val_loss"]) > (best.get(stage, {}).get("val_accuracy", -1.0),
                                                                 -best.get(stage, {}).get("val_loss", np.inf)))
                if better:
                    best[stage] = row
                    if stage == stages[-1][0]:
                        save_best(student, row)
                    else:
                        atomic_torch_save(student.state_dict(), work / f"best_{stage}.pt")
                atomic_torch_save({"run_id": run_id, "stage_no": stage_no, "stage": stage, "epoch": epoch,
                              "student": student.state_dict(), "optimizer": opt.state_dict(),
                              "rng": torch.get_rng_state(), "history": history, "best": best}, ckpt)
            if stage == "mimic" and (work / "best_mimic.pt").is_file():
                student.load_state_dict(torch.load(work / "best_mimic.pt", map_location=device, weights_only=True))
    student.eval()
    return result


def _first_block_out(student, hs):
    """Output of the first mimic block (the student is at the teacher's width here)."""
    return hs[1]


def _validate(student, feats, y, target, batch_size, device) -> dict:
    student.eval()
    sq, count, logits = 0.0, 0, []
    with torch.inference_mode():
        for s in range(0, len(y), batch_size):
            h0 = torch.from_numpy(np.asarray(feats["input"][s : s + batch_size])).to(device)
            out = student.run_stack(h0)[-1]
            tgt = torch.from_numpy(np.asarray(feats[target][s : s + batch_size])).to(device)
            sq += float(((out - tgt) ** 2).sum())
            count += tgt.numel()
            logits.append(_head_logits(student, h0, out).float().cpu())
    logits = torch.cat(logits)
    return {"val_mse": sq / count, "val_accuracy": float((logits.argmax(1) == y).double().mean()),
            "val_loss": float(nn.functional.cross_entropy(logits, y))}
