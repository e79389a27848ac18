"""A tiny student with its own front end (issue 25, point 1) against its Whisper tiny.en teacher.

    python benchmarks/tiny_student.py --teacher WORK/teacher --data DATA --name NAME [--width 96 --layers 2]
    python benchmarks/tiny_student.py --readme     # rewrite the README section from the recorded JSON

For one teacher: ``spc distill --kind tiny`` (log-mel features in the graph, two small convolutions, fixed
positions, 1-2 narrow blocks, trained from the teacher's last hidden state through a learned projection and
from its logits, on cached teacher outputs and stream-like windows), then, in one process: parameters and
their share of the teacher's, test accuracy of both (PyTorch) with the paired-bootstrap interval of the
retention, ONNX Runtime CPU latency of the teacher, the tiny student, its INT8 CPU variant and the latency
floor (the teacher with no stack: its front end and head) in interleaved rounds at batch 1, and the training
time. Writes results/tiny_student/NAME.json and the README section (all recorded teachers).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "tiny_student"
START, END = "<!-- tiny-student:start -->", "<!-- tiny-student:end -->"


def measure(teacher_dir: Path, data: Path, name: str, width: int, layers: int, runs: int, work: Path,
            epochs: tuple[int, int], n_fft: int) -> dict:
    from spc.accuracy import evaluate, torch_predictor
    from spc.data import DataConfig, load_clips, open_dataset
    from spc.distill import DistillConfig, MimicConfig
    from spc.engines import build_artifact, open_runner
    from spc.export import ExportConfig, export_onnx
    from spc.models import load_model
    from spc.params import count_parameters
    from spc.engines.ort_run import OrtRunner
    from spc.precision.int8_cpu import QuantizeConfig, quantize_for_cpu
    from spc.prune.surgery import stackless
    from spc.recipes.distill_student import run_distill
    from spc.stats import retention_interval, retention_point
    from spc.targets import get_target
    from spc.timing import bench_callables, machine_info, time_at_shape

    from dataclasses import replace

    mimic = MimicConfig("tiny", layers, width=width, heads=4, n_fft=n_fft)
    base = DistillConfig()  # the default recipe, longer: a front end trained from nothing needs more epochs
    config = replace(base, stage1=replace(base.stage1, epochs=epochs[0], patience=8),
                     stage2=replace(base.stage2, epochs=epochs[1], patience=8))
    t0 = time.perf_counter()
    summary = run_distill(teacher_dir, DataConfig(str(data)), work / f"tiny-{name}", mimic=mimic, config=config,
                          overwrite=True, latency_runs=0)
    train_seconds = time.perf_counter() - t0
    teacher, student = load_model(teacher_dir), load_model(work / f"tiny-{name}")
    test = load_clips(open_dataset(data), "test", rate=teacher.meta.sampling_rate, clip_seconds=teacher.meta.clip_seconds,
                      labels=teacher.labels, show_progress=False)
    res = {who: evaluate(torch_predictor(m), test, 64) for who, m in (("teacher", teacher), ("tiny", student))}
    cpu = get_target("cpu")
    onnx = {}
    for who, m in (("teacher", teacher), ("tiny", student), ("floor", stackless(teacher))):
        path = work / f"{name}-{who}.onnx"
        export_onnx(m, path, ExportConfig(), audio=test.audio[:8])
        onnx[who] = path
    quantize_for_cpu(onnx["tiny"], work / f"{name}-tiny.int8-cpu.onnx")
    onnx["tiny-int8"] = work / f"{name}-tiny.int8-cpu.onnx"
    val = load_clips(open_dataset(data), "validation", rate=teacher.meta.sampling_rate,
                     clip_seconds=teacher.meta.clip_seconds, labels=teacher.labels, show_progress=False)
    quantize_for_cpu(onnx["tiny"], work / f"{name}-tiny.int8s-cpu.onnx", QuantizeConfig(conv="static"),
                     val.audio[:64], {"clips": 64, "split": "validation"})
    onnx["tiny-int8-static-conv"] = work / f"{name}-tiny.int8s-cpu.onnx"
    (work / f"built-{name}").mkdir(exist_ok=True)  # an existing folder: each artifact gets its own name in it
    built = {who: build_artifact(p, cpu, work / f"built-{name}").artifact for who, p in onnx.items()}
    with ExitStack() as stack:
        runners = {who: stack.enter_context(open_runner(p)) for who, p in built.items()}
        runners["tiny (1 thread)"] = stack.enter_context(OrtRunner(built["tiny"], threads=1))
        acc_onnx = {who: evaluate(runners[who], test, 32).accuracy
                    for who in ("teacher", "tiny", "tiny-int8", "tiny-int8-static-conv")}
        shape = (1, teacher.meta.clip_samples)
        lat = {r["artifact"]: r for r in bench_callables(runners, [shape], warmup=5, runs=runs)}
        # each alone too, as an app runs it: interleaved with the teacher (32 MB of weights) a small graph finds
        # its weights out of cache on every call; alone they stay in it (one model after another, same input)
        alone = {who: time_at_shape({who: runners[who]}, shape, 5, runs)[who].p50_ms for who in runners}
        threads = {who: r.threads for who, r in runners.items()}
    tp, sp = count_parameters(teacher), count_parameters(student)
    p50 = {k: v["p50_ms"] for k, v in lat.items()}
    ci = retention_interval(res["teacher"].correct, res["tiny"].correct, seed=0)
    return {
        "name": name, "teacher": str(teacher_dir), "data": str(data), "mimic": mimic.__dict__,
        "distill": config.as_dict(),
        "front_end": "log-mel (%d bands, %g ms windows, 10 ms hop, computed in the graph) -> two 1-D convolutions "
                     "(kernel 3, the second with stride 2: 50 frames per second) -> fixed sinusoidal positions; the "
                     "teacher's front end is the same kind of computation at 80 bands, 25 ms windows and 384 channels, "
                     "pre-trained" % (mimic.mel_bins, mimic.n_fft / 16),
        "params": {"teacher": tp.total, "tiny": sp.total, "share": sp.total / tp.total,
                   "tiny_parts": sp.as_dict()},
        "test_clips": len(test), "teacher_test": res["teacher"].accuracy, "tiny_test": res["tiny"].accuracy,
        "retention": retention_point(res["teacher"].correct, res["tiny"].correct),
        "retention_ci": [float(x) for x in ci], "onnx_test_accuracy": acc_onnx,
        "latency_p50_ms": p50, "threads": threads, "speedup_vs_teacher": p50["teacher"] / p50["tiny"],
        "speedup_int8_vs_teacher": p50["teacher"] / p50["tiny-int8"], "tiny_x_floor": p50["tiny"] / p50["floor"],
        "speedup_best_vs_teacher": p50["teacher"] / min(v for k, v in p50.items() if k.startswith("tiny")),
        "best_tiny": min((k for k in p50 if k.startswith("tiny")), key=p50.get),
        "floor_vs_teacher": p50["floor"] / p50["teacher"],
        "latency_alone_p50_ms": alone, "speedup_alone_vs_teacher": alone["teacher"] / alone["tiny"],
        "speedup_alone_best_vs_teacher": alone["teacher"] / min(v for k, v in alone.items() if k.startswith("tiny")),
        "train_seconds": round(train_seconds, 1), "distill_seconds": summary["seconds"],
        "history_epochs": {"stage1": len([r for r in summary["history"] if r["stage"] == "mimic"]),
                           "stage2": len([r for r in summary["history"] if r["stage"] == "labels"])},
        "runs": runs, "machine": machine_info(), "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def save(r: dict) -> None:
    """results/tiny_student/NAME.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{r['name']}.json").write_text(json.dumps(r, indent=2))


def _alone_text(r: dict) -> str:
    """Teacher and tiny student each timed alone (as an app runs one model), where recorded."""
    a = r.get("latency_alone_p50_ms")
    if not a:
        return "-"
    return (f"{a['teacher']:.2f} / {a['tiny']:.2f}, {r['speedup_alone_vs_teacher']:.1f}x "
            f"({r['speedup_alone_best_vs_teacher']:.1f}x)")


def readme() -> str:
    from readme_section import replace_section

    rows = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    lines = ["## A tiny student with its own front end (issue 25)", "",
             "Command: `python benchmarks/tiny_student.py --teacher WORK/teacher --data DATA --name NAME` "
             "(`spc distill --kind tiny`, then everything measured in one process; ONNX Runtime CPU builds timed in "
             "interleaved rounds at batch 1, 1 s clips). Goal: at most 5% of the teacher's parameters, at least 0.95 "
             "test retention, at least 10x lower ONNX Runtime latency, at most 15 minutes of training on 2 cores.", "",
             "| teacher | tiny student | parameters (share) | test accuracy vs teacher | retention [95% interval] | "
             "latency p50 ms: teacher / tiny / tiny INT8 / floor | speed-up vs teacher (INT8) | fastest tiny form: "
             "p50 ms, speed-up | each alone: teacher / tiny ms, speed-up (fastest form) | training |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    if not rows:
        lines = lines[:3] + ["Not recorded for the current code: the last results were removed when the code they "
                             "measure changed and the 2 cores had no time to run this again (the tiny student as a "
                             "detector is measured in the detector section).", ""]
    for r in rows:
        p, m = r["latency_p50_ms"], r["mimic"]
        ep = r["history_epochs"]
        best = r.get("best_tiny")
        best_s = f"{best}: {p[best]:.2f}, {r['speedup_best_vs_teacher']:.1f}x" if best else "-"
        lines.append(f"| {r['name']} | {m['n_layers']} x {m['width']} wide, {m['mel_bins']} mel bands, "
                     f"{m.get('n_fft', 400) / 16:g} ms STFT, "
                     f"{ep['stage1']} + {ep['stage2']} epochs | "
                     f"{r['params']['tiny'] / 1e6:.3f} M ({r['params']['share']:.1%}) | {r['tiny_test']:.1%} vs "
                     f"{r['teacher_test']:.1%} | {r['retention']:.3f} [{r['retention_ci'][0]:.3f}, {r['retention_ci'][1]:.3f}] | "
                     f"{p['teacher']:.2f} / {p['tiny']:.2f} / {p['tiny-int8']:.2f} / {p['floor']:.2f} | "
                     f"{r['speedup_vs_teacher']:.1f}x ({r['speedup_int8_vs_teacher']:.1f}x) | {best_s} | "
                     f"{_alone_text(r)} | {r['train_seconds'] / 60:.1f} min |")
    noted = [r for r in rows if r.get("conditions")]
    if noted:
        lines += [""] + [f"Conditions, {r['name']}: {r['conditions']}." for r in noted]
    if rows:
        lines += ["", "The floor is the teacher with no transformer layer (its pre-trained front end and head): what "
                  "replacing only the stack cannot go below; the tiny student replaces the front end too. "
                  f"Its front end: {rows[0]['front_end']}. The fastest form is timed among the tiny student on the "
                  "threads its build chose, on 1 thread, and its INT8 CPU variants (integer projections; and "
                  "static INT8 convolutions, calibrated on 64 validation clips), where recorded. Each CPU build runs on "
                  "the thread count it timed fastest at build (`spc build --target cpu`; threads per model in the JSON), "
                  "where recorded. The interleaved figures time the models in turn, one call each, so a small "
                  "graph's weights are evicted from the cache by the teacher's between its calls; \"each alone\" "
                  "times every model in its own run of consecutive calls, as an app that runs one model sees it "
                  "(both from the same process and builds)."]
    section = replace_section(HERE / "README.md", START, END, "\n".join(lines))
    print(section)
    return section


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", type=Path)
    p.add_argument("--data", type=Path)
    p.add_argument("--name")
    p.add_argument("--work", type=Path, default=Path("/tmp/tiny-student"))
    p.add_argument("--width", type=int, default=96)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--n-fft", type=int, default=400, help="the tiny student's STFT window (200: a cheaper front end)")
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--epochs", type=int, nargs=2, default=(30, 60), metavar=("STAGE1", "STAGE2"))
    p.add_argument("--readme", action="store_true", help="Only rewrite the README section from the JSON.")
    a = p.parse_args()
    if not a.readme:
        if not (a.teacher and a.data and a.name):
            p.error("--teacher, --data and --name are needed (or --readme)")
        a.work.mkdir(parents=True, exist_ok=True)
        r = measure(a.teacher, a.data, a.name, a.width, a.layers, a.runs, a.work, tuple(a.epochs), a.n_fft)
        save(r)
        print(json.dumps({k: r[k] for k in ("params", "retention", "retention_ci", "latency_p50_ms", "train_seconds")},
                         indent=1))
    readme()


if __name__ == "__main__":
    main()
