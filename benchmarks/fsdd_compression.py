"""Pruning, mimic distillation and the main job on a teacher fine-tuned by spc on FSDD (real recordings).

    spc finetune preset:wav2vec2-small --data ../shared/data/fsdd --out WORK/fsdd-teacher --epochs 15 --lr 1e-3 \\
        --train-feature-encoder --batch-size 32
    python benchmarks/fsdd_compression.py --teacher WORK/fsdd-teacher --work WORK [--only prune distill compress]

Records (figures, not model files) in benchmarks/results/fsdd/: prune.json + curves.png, distill.json,
compress/ (report.json, report.md, figures), analysis/ (analysis.json, heatmaps), README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"
RESULTS = Path(__file__).parent / "results" / "fsdd"


def prune(teacher: Path, work: Path) -> dict:
    from spc.data import DataConfig
    from spc.prune import PruneConfig
    from spc.recipes.prune import run_prune

    s = run_prune(teacher, DataConfig(str(FSDD)), work / "prune", config=PruneConfig(), overwrite=True, latency_runs=30)
    shutil.copy2(work / "prune" / "prune.json", RESULTS / "prune.json")
    shutil.copy2(work / "prune" / "curves.png", RESULTS / "prune_curves.png")
    return s


def teacher(teacher: Path, work: Path) -> dict:
    """The from-scratch FSDD teacher (the command in the docstring), its summary recorded."""
    from spc.data import DataConfig
    from spc.finetune import FinetuneConfig
    from spc.recipes.finetune import run_finetune
    from spc.train import TrainConfig

    cfg = FinetuneConfig(train=TrainConfig(epochs=15, batch_size=32, lr=1e-3), freeze_feature_encoder=False)
    s = run_finetune("preset:wav2vec2-small", DataConfig(str(FSDD)), teacher, config=cfg)
    (RESULTS / "teacher_finetune.json").write_text(json.dumps(s, indent=2))
    return s


def analyze(teacher: Path, work: Path) -> None:
    from spc.recipes.analyze import run_analysis

    run_analysis(teacher, FSDD, work / "analysis", show_progress=False)
    dst = RESULTS / "analysis"
    dst.mkdir(parents=True, exist_ok=True)
    for f in (work / "analysis").iterdir():
        shutil.copy2(f, dst / f.name)


def distill(teacher: Path, work: Path) -> list[dict]:
    """The default recipe (one teacher layer), the paper's recipe on fresh blocks, and labels-only baselines."""
    from spc.data import DataConfig
    from spc.distill import DistillConfig, MimicConfig, build_student
    from spc.models import load_model
    from spc.params import count_parameters
    from spc.recipes.distill import run_distill

    paper = DistillConfig.paper()
    designs = [("layer-1 (default)", MimicConfig(), DistillConfig()),
               ("linear-1 (paper)", MimicConfig("linear", 1), paper),
               ("transformer-1 (paper)", MimicConfig("transformer", 1, heads=4, ffn=576), paper),
               ("transformer-1-baseline", MimicConfig("transformer", 1, heads=4, ffn=576), DistillConfig(baseline=True))]
    base = load_model("preset:wav2vec2-base", labels=[str(i) for i in range(10)])
    base_total = count_parameters(base).total
    rows = []
    for name, mimic, cfg in designs:
        slug = name.split(" ")[0] + ("-paper" if "paper" in name else "-base" if "baseline" in name else "")
        s = run_distill(teacher, DataConfig(str(FSDD)), work / f"distill-{slug}", mimic=mimic, overwrite=True,
                        latency_runs=30, config=cfg)
        # the same design at base size (768 wide, 12 layers, random weights): whole-model reduction
        base_mimic = MimicConfig(mimic.kind, mimic.n_layers, hidden=mimic.hidden, ffn=3072 if mimic.kind == "transformer"
                                 else mimic.ffn, heads=12 if mimic.kind == "transformer" else mimic.heads)
        base_student = count_parameters(build_student(base, base_mimic)).total
        rows.append({"design": name, "mimic": s["mimic"], "config": s["config"],
                     "epochs": {"stage1": sum(r["stage"] == "mimic" for r in s["history"]),
                                "stage2": sum(r["stage"] == "labels" for r in s["history"])},
                     "teacher_test": s["teacher_test_accuracy"], "student_test": s["student_test_accuracy"],
                     "teacher_val": s["teacher_val_accuracy"], "student_val": s["student_val_accuracy"],
                     "retention_test": s["retention_test"], "retention_val": s["retention_val"],
                     "params_teacher": s["params"]["teacher"]["total"], "params_student": s["params"]["student"]["total"],
                     "whole_reduction": s["params"]["whole_reduction"],
                     "stack_layers_reduction": s["params"]["stack_layers_reduction"],
                     "cpu_latency_ratio": s["latency_ratio"], "latency_ms": s["latency_ms"],
                     "base_size_whole_reduction": 1 - base_student / base_total, "seconds": s["seconds"]})
        print(json.dumps(rows[-1])[:300], flush=True)
        (RESULTS / "distill.json").write_text(json.dumps(rows, indent=2))
    return rows


def compress(teacher: Path, work: Path) -> dict:
    from spc.data import DataConfig
    from spc.recipes.compress import CompressConfig, run_compress

    out = work / "compress"
    r = run_compress(teacher, DataConfig(str(FSDD)), out, "cpu", config=CompressConfig(), overwrite=True)
    dst = RESULTS / "compress"
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    shutil.copy2(out / "report.json", dst / "report.json")
    shutil.copy2(out / "report.md", dst / "report.md")
    shutil.copytree(out / "figures", dst / "figures")
    return r


def precision(teacher: Path, work: Path) -> dict:
    """FP32 / FP16 / mixed / INT8 of the teacher on the committed calibration manifest."""
    from spc.recipes.precision import run_precision

    calib = Path(__file__).resolve().parents[1] / "calibration" / "fsdd-take-split-256.json"
    s = run_precision(teacher, FSDD, calib, work / "precision", latency_runs=20)
    (RESULTS / "precision.json").write_text(json.dumps(s, indent=2, default=str))
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", required=True, type=Path)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--only", nargs="*", default=["teacher", "analyze", "prune", "precision", "distill", "compress"])
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for step in args.only:
        globals()[step](args.teacher, args.work)


if __name__ == "__main__":
    main()
