"""Distil a fine-tuned teacher's whole transformer stack into a 1-2 block mimic student.

Stages: read train/validation/test -> build the student (teacher's front and head, fresh mimic)
-> stage 1 (MSE to the teacher's layer output) and stage 2 (labels), on cached teacher outputs,
resumable -> reload the best student from disk -> test accuracy of teacher and student,
parameters, CPU latency side by side -> JSON.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from ..data import load_clips, map_labels, open_dataset
from ..distill import DistillConfig, MimicConfig, build_student, distill
from ..evaluate import evaluate, torch_predictor
from ..latency import torch_cpu_latency
from ..models import load_model, save_model
from ..params import count_parameters
from ..train import fingerprint, resolve_device
from .finetune import prepare_out_dir

RESULT = "distill.json"


def run_distill(teacher_src: str | Path, data_dir: str | Path, out_dir: str | Path, *,
                mimic: MimicConfig = MimicConfig(), config: DistillConfig = DistillConfig(), layout: str = "auto",
                by_name: bool = False, overwrite: bool = False, latency_runs: int = 20, show_progress: bool = True,
                data_options: dict | None = None) -> dict:
    """Run the recipe; the student goes to ``out`` (loadable with ``spc.models.load_model``)."""
    out = Path(out_dir)
    teacher = load_model(teacher_src)
    mimic.validate(teacher.hf.config.hidden_size)
    ds = open_dataset(data_dir, layout, **(data_options or {}))
    order = map_labels(teacher.labels, ds.labels, by_name=by_name)
    for split in ("train", "validation", "test"):
        ds.split(split)
    prepare_out_dir(out, RESULT, overwrite)
    kw = dict(rate=teacher.meta.sampling_rate, clip_seconds=teacher.meta.clip_seconds, labels=order,
              show_progress=show_progress)
    train, val, test = (load_clips(ds, s, **kw) for s in ("train", "validation", "test"))
    student = build_student(teacher, mimic, seed=config.seed)
    provenance = {**student.meta.provenance, "teacher": str(teacher_src), "distill": asdict(config),
                  "data": ds.describe()}
    run_id = fingerprint(str(teacher_src), asdict(mimic), asdict(config), ds.describe())

    def save_best(m, row):
        save_model(m, out, {**provenance, "best": row})

    t0 = time.perf_counter()
    result = distill(student, teacher, train, val, config, out / ".spc-distill", save_best, show_progress, run_id)
    seconds = round(time.perf_counter() - t0, 1)
    best = load_model(out)
    device = resolve_device(config.device)
    teacher_test = evaluate(torch_predictor(teacher, device), test, 64).accuracy
    student_test = evaluate(torch_predictor(best, device), test, 64).accuracy
    teacher_val = evaluate(torch_predictor(teacher, device), val, 64).accuracy
    student_val = evaluate(torch_predictor(best, device), val, 64).accuracy
    tp, sp = count_parameters(teacher).as_dict(), count_parameters(best).as_dict()
    latency = torch_cpu_latency({"teacher": teacher.cpu(), "student": best.cpu()}, runs=latency_runs) if latency_runs else {}
    summary = {
        "teacher": str(teacher_src), "student": str(out), "mimic": asdict(mimic), "config": asdict(config),
        "data": {**ds.describe(), "skipped": train.skipped + val.skipped + test.skipped},
        "teacher_val_accuracy": teacher_val, "student_val_accuracy": student_val,
        "teacher_test_accuracy": teacher_test, "student_test_accuracy": student_test,
        "retention_val": student_val / teacher_val if teacher_val else None,
        "retention_test": student_test / teacher_test if teacher_test else None,
        "params": {"teacher": tp, "student": sp,
                   "whole_reduction": 1 - sp["total"] / tp["total"],
                   "stack_layers_reduction": 1 - sp["stack_layers"] / tp["stack_layers"]},
        "latency_ms": {k: v.as_dict() for k, v in latency.items()},
        "latency_ratio": latency["student"].p50_ms / latency["teacher"].p50_ms if latency else None,
        "latency_setup": {"device": "cpu", "batch": 1, "clip_samples": teacher.meta.clip_samples, "runs": latency_runs},
        "history": result.history, "best": result.best, "resumed_from": result.resumed_from, "seconds": seconds,
    }
    (out / RESULT).write_text(json.dumps(summary, indent=2))
    return summary
