"""Distil a fine-tuned teacher's whole transformer stack into a 1-2 block mimic student.

Stages: check the design, data and output folder -> read train/validation/test -> build the
student (the teacher's front and head around the mimic) -> stage 1 (mimic the teacher's hidden
state) and stage 2 (labels and soft labels), on cached teacher outputs, resumable -> save the
student and reload it from disk -> test accuracy of teacher and student, parameters, CPU latency
side by side -> JSON.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from ..timing import torch_cpu_latency
from ..data import DataConfig, clips_for
from ..distill import DistillConfig, MimicConfig, build_student, distill
from ..accuracy import evaluate, torch_predictor
from ..fileio import check_output_dir, prepare_out_dir, refuse_overlap
from ..models import load_model, save_model
from ..params import count_parameters
from ..training.loop import fingerprint, is_main_process, train_device
from ..locking import locks_output

RESULT = "distill.json"
WORK = ".spc-distill"


@locks_output("out_dir")
def run_distill(teacher_src: str | Path, data: DataConfig, out_dir: str | Path, *, mimic: MimicConfig = MimicConfig(),
                config: DistillConfig = DistillConfig(), overwrite: bool = False, latency_runs: int = 20,
                show_progress: bool = True, negatives=None, keywords=None) -> dict:
    """Run the recipe; the student goes to ``out`` (loadable with ``spc.models.load_model``). ``negatives``:
    long non-keyword audio at the teacher's rate that the stream-like training windows are also cut from."""
    out = Path(out_dir)
    inputs = {"teacher": teacher_src, "data folder": data.root}
    refuse_overlap({"output folder": out}, inputs)
    check_output_dir(out)
    teacher = load_model(teacher_src)
    mimic.check_teacher(teacher.width, teacher.num_layers)
    ds = data.open(show_notes=True)
    for split in ("train", "validation", "test"):
        ds.split(split)
    prepare_out_dir(out, RESULT, overwrite, inputs)
    clips = clips_for(teacher, ds, ("train", "validation", "test"), subset=data.subset, show_progress=show_progress)
    student = build_student(teacher, mimic, seed=config.stage1.seed)
    run_id = fingerprint(str(teacher_src), mimic, config.as_dict(), ds.describe(), [len(x) for x in negatives or []],
                         sorted(keywords or []))
    t0 = time.perf_counter()
    result = distill(student, teacher, clips["train"], clips["validation"], config, out / WORK, run_id=run_id,
                     show_progress=show_progress, negatives=negatives, keywords=keywords)
    seconds = round(time.perf_counter() - t0, 1)
    if not is_main_process():
        return {}
    save_model(student, out, {**student.meta.provenance, "teacher": str(teacher_src), "distill": config.as_dict(),
                              "data": ds.describe(), "best": result.best})
    best = load_model(out)
    device = train_device(config.stage1)
    acc = {(who, split): evaluate(torch_predictor(m, device), clips[split], 64).accuracy
           for who, m in (("teacher", teacher), ("student", best)) for split in ("validation", "test")}
    tp, sp = count_parameters(teacher).as_dict(), count_parameters(best).as_dict()
    latency = torch_cpu_latency({"teacher": teacher.cpu(), "student": best.cpu()}, runs=latency_runs,
                                samples=teacher.meta.clip_samples) if latency_runs else {}
    summary = {
        "teacher": str(teacher_src), "student": str(out), "mimic": mimic.__dict__, "config": config.as_dict(),
        "data": {**ds.describe(), "skipped": [x for c in clips.values() for x in c.skipped]},
        "teacher_val_accuracy": acc["teacher", "validation"], "student_val_accuracy": acc["student", "validation"],
        "teacher_test_accuracy": acc["teacher", "test"], "student_test_accuracy": acc["student", "test"],
        "retention_val": acc["student", "validation"] / acc["teacher", "validation"] if acc["teacher", "validation"] else None,
        "retention_test": acc["student", "test"] / acc["teacher", "test"] if acc["teacher", "test"] else None,
        "params": {"teacher": tp, "student": sp, "whole_reduction": 1 - sp["total"] / tp["total"],
                   "stack_layers_reduction": 1 - sp["stack_layers"] / tp["stack_layers"]},
        "latency_ms": {k: v.as_dict() for k, v in latency.items()},
        "latency_ratio": latency["student"].p50_ms / latency["teacher"].p50_ms if latency else None,
        "latency_setup": {"device": "cpu", "batch": 1, "clip_samples": teacher.meta.clip_samples, "runs": latency_runs},
        "history": result.history, "best": result.best,
        "resumed_from": {"stage1": result.stage1.resumed_from if result.stage1 else None,
                         "stage2": result.stage2.resumed_from},
        "seconds": seconds, "finished": True,
    }
    (out / RESULT).write_text(json.dumps(summary, indent=2))
    shutil.rmtree(out / WORK, ignore_errors=True)
    return summary
