"""Pruning, mimic distillation and the main job on a teacher fine-tuned by spc on FSDD (real recordings).

    spc finetune preset:wav2vec2-small --data ../shared/data/fsdd --out WORK/fsdd-teacher --epochs 15 --lr 1e-3 \\
        --train-feature-encoder --batch-size 32
    python benchmarks/fsdd_compression.py --teacher WORK/fsdd-teacher --work WORK [--only prune distill compress]

Records (figures, not model files) in benchmarks/results/fsdd/: prune.json + curves.png, distill.json,
compress/ (report.json, report.md, figures), analysis/ (analysis.json, heatmaps), precision.json; the
``readme`` step rewrites the FSDD section of benchmarks/README.md from those records only.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"
RESULTS = Path(__file__).parent / "results" / "fsdd"
START, END = "<!-- fsdd:start -->", "<!-- fsdd:end -->"


def prune(teacher: Path, work: Path) -> dict:
    from spc.data import DataConfig
    from spc.prune import PruneConfig
    from spc.recipes.prune_layers import run_prune

    s = run_prune(teacher, DataConfig(str(FSDD)), work / "prune", config=PruneConfig(), overwrite=True, latency_runs=30)
    shutil.copy2(work / "prune" / "prune.json", RESULTS / "prune.json")
    shutil.copy2(work / "prune" / "curves.png", RESULTS / "prune_curves.png")
    return s


def teacher(teacher: Path, work: Path) -> dict:
    """The from-scratch FSDD teacher (the command in the docstring), its summary recorded."""
    from spc.data import DataConfig
    from spc.training.finetuning import FinetuneConfig
    from spc.recipes.finetune import run_finetune
    from spc.training.loop import TrainConfig

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
    from spc.recipes.distill_student import run_distill

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
    from spc.recipes.precision_check import run_precision

    calib = Path(__file__).resolve().parents[1] / "calibration" / "fsdd-take-split-256.json"
    s = run_precision(teacher, FSDD, calib, work / "precision")
    (RESULTS / "precision.json").write_text(json.dumps(s, indent=2, default=str))
    return s


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _read(name: str):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def readme(teacher: Path | None = None, work: Path | None = None) -> str:
    """The FSDD section of benchmarks/README.md, from the recorded JSON only."""
    t, a, p, pr, d = (_read(n) for n in ("teacher_finetune.json", "analysis/analysis.json", "prune.json",
                                          "precision.json", "distill.json"))
    c = _read("compress/report.json")
    lines = [START, "## FSDD (real recordings), a teacher trained from scratch (`fsdd_compression.py`)", "",
             "```bash", "python benchmarks/fsdd_compression.py --teacher WORK/fsdd-teacher --work WORK", "```", "",
             "`preset:wav2vec2-small` trained from scratch (no pre-trained weights can be fetched here): the wav2vec2 "
             "layout (7-layer CNN with 32 channels and LayerNorm, stride 320; 6 transformer layers, 144 wide, FFN 384). "
             "FSDD split by take (0-4 test, 5-9 validation, 10-49 train: 300 / 300 / 2,400 clips), 2 CPU cores. "
             "Every figure below is read from the files under `results/fsdd/`.", ""]
    if t:
        best = max(t["history"], key=lambda r: r["val_accuracy"]) if t.get("history") else {}
        lines += ["### The teacher", "",
                  f"{t['params']['total'] / 1e6:.2f} M parameters, 15 epochs (every layer, augmentation): best epoch "
                  f"{best.get('epoch', -1) + 1}, validation {_pct(t['val_accuracy'])}, test {_pct(t['test_accuracy'])} "
                  f"(`results/fsdd/teacher_finetune.json`; {t['seconds']:.0f} s of wall time, which depends on what else "
                  "the 2 cores ran meanwhile).", ""]
    if a:
        blocks = " ".join(f"[{b['start']}]" if b["start"] == b["end"] else f"[{b['start']}-{b['end']}]"
                          for b in a["blocks"]["cka"]["blocks"])
        bi = ", ".join(f"{x:.3f}" for x in a["bi"]["frames"])
        lines += ["### Layer similarity (`results/fsdd/analysis/`)", "",
                  f"{a['n_clips']} class-balanced validation clips. CKA blocks over hidden states 0-{a['n_layers']} "
                  f"(0 = stack input): **{blocks}**. Block Influence per layer (0-based): {bi}.", ""]
    if p:
        orig = p["original"]
        lines += ["### Pruning, healed (`results/fsdd/prune.json`, `prune_curves.png`)", "",
                  f"Target: 95% of the original validation accuracy ({_pct(p['baseline_val_accuracy'])} -> "
                  f"{_pct(p['target_val_accuracy'])}); heal `{p['heal']}` after each cut (random orders: not healed). "
                  f"Original test accuracy {_pct(orig['test_accuracy'])}.", "",
                  "| order | removed at target | kept layers | validation after removing 0..5 layers: no heal | healed | "
                  "test acc | PyTorch CPU latency vs original |", "| --- | ---: | --- | --- | --- | ---: | ---: |"]
        for o in p["orders"]:
            curve = " ".join(f"{x:.3f}" for x in o["val_curve"])
            healed = " ".join("-" if x is None else f"{x:.3f}" for x in o["healed_curve"])
            ratio = "-" if o.get("latency_ratio") is None else f"{o['latency_ratio']:.2f}"
            lines.append(f"| {o['name']} | {o['removed_at_target']} | {o['keep']} | {curve} | {healed} | "
                         f"{_pct(o['test_accuracy'])} | {ratio} |")
        lines += ["", f"Chosen order: **{p['best']}**, kept layers {p['kept_layers']}: test "
                  f"{_pct(p['pruned_test_accuracy'])}, retention {p['pruned_test_accuracy'] / orig['test_accuracy']:.3f}; "
                  f"healing took {p['heal_seconds']:.0f} s of the {p['seconds']:.0f} s run.", ""]
        if p.get("depths"):
            lines += ["Every healed depth that passes the target on validation, by the interval rule (the deepest "
                      "**safe** cut, whose paired-bootstrap lower bound clears the target, is the pruned model; a cut "
                      "passing on the point estimate only is flagged; each is a `pruned-k` candidate of compress):", "",
                      "| removed | order | val retention [95% interval] | passed by (clips) | standing | test retention |",
                      "| ---: | --- | ---: | ---: | --- | ---: |"]
            for dep in p["depths"]:
                lo, hi = dep["interval"]
                test = dep.get("test_accuracy")
                test_s = "-" if test is None else f"{test / orig['test_accuracy']:.3f}"
                lines.append(f"| {dep['removed']} of {p['n_layers']} | {dep['order']} | "
                             f"{dep['retention']:.3f} [{lo:.3f}, {hi:.3f}] | {dep['margin_clips']:+d} | "
                             f"{dep['standing']} | {test_s} |")
            lines.append("")
    if d:
        lines += ["### Mimic distillation (`results/fsdd/distill.json`)", "",
                  "Default recipe: one teacher layer as the mimic, stage 1 MSE on per-channel standardised targets, "
                  "stage 2 labels plus the teacher's soft labels with the mimic trained; the paper's recipe: fresh blocks, "
                  "plain MSE then labels with the mimic frozen (50 + 30 epochs at most); baseline: labels only.", "",
                  "| design | epochs (stage 1 + 2) | val acc | test acc | test retention | parameters | whole-model "
                  "reduction | PyTorch CPU latency vs teacher | same design at base size: reduction |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in d:
            lines.append(f"| {r['design']} | {r['epochs']['stage1']} + {r['epochs']['stage2']} | {_pct(r['student_val'])} | "
                         f"{_pct(r['student_test'])} | {r['retention_test']:.3f} | {r['params_student'] / 1e3:.1f} k | "
                         f"{_pct(r['whole_reduction'])} | {r['cpu_latency_ratio']:.2f} | {_pct(r['base_size_whole_reduction'])} |")
        lines.append("")
    if c:
        f = c["final"]
        lo, hi = f["retention_ci"]
        lines += ["### The main job (`results/fsdd/compress/report.md`)", "",
                  "```bash", "spc compress WORK/fsdd-teacher --data ../shared/data/fsdd --target cpu --out WORK/compress",
                  "```", "",
                  f"Chosen: {c['choice']['reason'] if isinstance(c.get('choice'), dict) else c['chosen']}. "
                  f"The built ONNX Runtime artifact keeps {_pct(f['test_accuracy'])} on test against the original's "
                  f"{_pct(f['original_test_accuracy'])} (both exported and run the same way): retention "
                  f"{f['retention']:.3f}, 95% interval [{lo:.3f}, {hi:.3f}], McNemar p = {f['mcnemar_p']:.3g}: "
                  f"**{f['verdict']}**, {f['speedup_p50']:.2f}x lower ONNX Runtime latency (p50, batch 1, 1 s); "
                  f"{c['seconds']:.0f} s in all.", "",
                  "| candidate | validation retention [95% CI] | latency vs original |", "| --- | --- | ---: |"]
        for name, cand in c["candidates"].items():
            ci = cand.get("val_retention_ci") or [None, None]
            ci_s = "-" if ci[0] is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
            ratio = cand.get("latency_ratio")
            lines.append(f"| {name} | {cand['val_retention']:.3f} {ci_s} | {'-' if ratio is None else f'{ratio:.2f}'} |")
        lines.append("")
    if pr:
        lines += ["### Precision (`results/fsdd/precision.json`)", "",
                  f"Calibration: {pr['calibration']['clips']} class-balanced validation clips (manifest hash "
                  f"{pr['calibration']['hash']}). Test accuracy and ONNX Runtime CPU latency (p50, batch 1, 1 s), "
                  "side by side:", "", "| variant | test accuracy | retention | CPU p50 |", "| --- | ---: | ---: | ---: |"]
        p50 = {r["artifact"]: r["p50_ms"] for r in pr["latency_cpu"] if r["batch"] == 1}
        for v in ("fp32", "fp16", "mixed", "int8"):
            if v in pr["test_accuracy"]:
                lines.append(f"| {v.upper()} | {_pct(pr['test_accuracy'][v])} | {pr['retention'][v]:.3f} | "
                             f"{p50.get(v, float('nan')):.2f} ms |")
        lines += ["", "FP16 and INT8 graphs are for GPUs and INT8 accelerators (the TensorRT path builds them); on "
                  "this CPU ONNX Runtime wraps them in casts and quantise/dequantise pairs.", ""]
    from readme_section import replace_section

    return replace_section(Path(__file__).parent / "README.md", START, END, "\n".join(lines[1:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", required=True, type=Path)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--only", nargs="*", default=["teacher", "analyze", "prune", "precision", "distill", "compress", "readme"])
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for step in args.only:
        globals()[step](args.teacher, args.work)


if __name__ == "__main__":
    main()
