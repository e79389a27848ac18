"""INT8 that pays on the CPU (issue 25, point 2): each model's CPU build in FP32 and its two INT8 CPU variants.

    python benchmarks/int8_cpu.py --work WORK [--runs 30]   # WORK of pretrained_whisper.py (its --only int8 step)
    python benchmarks/int8_cpu.py --readme-only

For the Whisper tiny.en FSDD teachers (head-only and fully fine-tuned), their tiny students and the candidates
compress made on the head-only teacher (``pretrained_whisper.py`` steps teachers, tiny, compress_beyond; any
of them missing from WORK is left out): ``spc build --target cpu`` of the FP32 export, of ``spc quantize``
(integer MatMul/Gemm weights, per channel; convolutions and normalisations FP32) and of ``spc quantize --conv
static`` (convolutions too, calibrated on the committed FSDD calibration manifest); then, in one process per
model, test accuracy of each built artifact on FSDD's test split and their ONNX Runtime latency in interleaved
rounds at batch 1 (1 s clips), each build on the threads it chose. A variant whose INT8 graph fails spc's
agreement gate is recorded as refused, with the gate's reason. Writes results/int8_cpu.json and its README section.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
FSDD = HERE.parents[1] / "shared" / "data" / "fsdd"
CALIB = HERE.parent / "calibration" / "fsdd-take-split-256.json"
RESULTS = HERE / "results" / "int8_cpu.json"
START, END = "<!-- int8-cpu:start -->", "<!-- int8-cpu:end -->"
GOAL_SPEEDUP, GOAL_RETENTION = 1.5, 0.99


def export_for_cpu(model, work: Path) -> Path:
    """WORK/model.onnx: ``model`` exported (simplified, batch 1 and 2, 1 s clips) for its CPU variants."""
    from spc.export import ExportConfig, export_onnx

    onnx = work / "model.onnx"
    export_onnx(model, onnx, ExportConfig(simplify=True, batch_sizes=(1, 2), seconds=(1.0,)))
    return onnx


def cpu_variants(onnx: Path, work: Path, calib_audio, calib_info: dict, gated: bool = True) -> tuple[dict, dict]:
    """An export's FP32 CPU build and its two INT8 CPU variants, each built for the CPU in WORK: ({variant:
    artifact}, {variant: why it was refused}). ``gated`` False: the INT8 graphs are made without spc quantize's
    agreement gate (random weights: their logits tie, so top-1 flips at any perturbation; only their time is
    measured) and timed as ONNX Runtime optimises them at load."""
    from spc.engines import build_artifact
    from spc.errors import SpcError
    from spc.precision.int8_cpu import QuantizeConfig, int8_graph, quantize_for_cpu
    from spc.targets import get_target

    cpu = get_target("cpu")
    out, refused = {"fp32": build_artifact(onnx, cpu, work / "fp32.cpu.ort.onnx").artifact}, {}
    for name, cfg in (("int8", QuantizeConfig()), ("int8-static-conv", QuantizeConfig(conv="static"))):
        q = work / f"{name}.onnx"
        if not gated:
            int8_graph(onnx, q, cfg, calib_audio, "audio")
            out[name] = q
            continue
        try:
            quantize_for_cpu(onnx, q, cfg, calib_audio, calib_info)
        except SpcError as exc:  # the agreement gate refused it: recorded, not timed
            refused[name] = str(exc)
            continue
        out[name] = build_artifact(q, cpu, work / f"{name}.cpu.ort.onnx").artifact
    return out, refused


def compare(model_dir: Path, runs: int, work: Path) -> dict:
    """One trained model: its FP32 and INT8 CPU builds' test accuracy and interleaved latency at batch 1."""
    from spc.accuracy import evaluate
    from spc.data import load_clips, open_dataset
    from spc.engines import open_runner
    from spc.models import load_model
    from spc.params import count_parameters
    from spc.precision.int8_cpu import calibration_audio
    from spc.timing import bench_callables

    t0 = time.perf_counter()
    model = load_model(str(model_dir)).eval()
    work.mkdir(parents=True, exist_ok=True)
    onnx = export_for_cpu(model, work)
    audio, info = calibration_audio(onnx, CALIB, FSDD)  # read at the export's rate and clip length
    paths, refused = cpu_variants(onnx, work, audio, info)
    with ExitStack() as stack:
        runners = {k: stack.enter_context(open_runner(p)) for k, p in paths.items()}
        m = runners["fp32"].manifest
        clips = load_clips(open_dataset(FSDD), "test", rate=int(m["sampling_rate"]), clip_seconds=float(m["clip_seconds"]),
                           labels=list(m["labels"]), show_progress=False)
        acc = {k: evaluate(r, clips, 32).accuracy for k, r in runners.items()}
        samples = int(round(float(m["sampling_rate"]) * float(m["clip_seconds"])))
        lat = bench_callables(runners, [(1, samples)], warmup=5, runs=runs, seed=0)
        threads = {k: r.threads for k, r in runners.items()}
    p50 = {r["artifact"]: r["p50_ms"] for r in lat}
    return {"model": str(model_dir), "params": count_parameters(model).total, "calibration": info,
            "test_clips": len(clips.audio), "accuracy": acc, "retention": {k: v / acc["fp32"] for k, v in acc.items()},
            "p50_ms": p50, "vs_fp32": {k: p50["fp32"] / v for k, v in p50.items()}, "threads": threads,
            "bytes": {k: Path(p).stat().st_size for k, p in paths.items()}, "refused": refused,
            "seconds": round(time.perf_counter() - t0, 1)}


def models_in(work: Path) -> dict[str, Path]:
    """The trained models of a pretrained_whisper.py WORK: teachers, tiny students, compress's candidates."""
    found = {f"teacher-{t}": work / f"teacher-{t}" for t in ("head", "full")}
    found.update({f"tiny ({t} teacher)": work / f"tiny-whisper-tiny-en-fsdd-digits-{t}-stft200" for t in ("head", "full")})
    report = work / "compress_beyond-head" / "report.json"
    if report.is_file():
        for name, c in json.loads(report.read_text())["candidates"].items():
            if name != "original" and not name.endswith("-int8") and c.get("model"):
                found[f"{name} (compress, head teacher)"] = Path(c["model"])
    return {k: v for k, v in found.items() if (v / "config.json").is_file()}


def measure(work: Path, runs: int) -> dict:
    from spc.timing import machine_info

    rows = []
    for name, path in models_in(work).items():
        slug = "".join(c if c.isalnum() or c == "-" else "_" for c in name)  # a folder per model
        r = {"name": name, **compare(path, runs, work / "int8-cpu" / slug)}
        print(json.dumps({k: r[k] for k in ("name", "accuracy", "vs_fp32", "refused")}), flush=True)
        rows.append(r)
    return {"rows": rows, "runs": runs, "machine": machine_info(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d")}


def meets_goal(row: dict, variant: str) -> bool:
    """At least 1.5x faster than the FP32 build at batch 1 with at least 0.99 of its test accuracy."""
    return (variant in row["p50_ms"] and row["vs_fp32"][variant] >= GOAL_SPEEDUP
            and row["retention"][variant] >= GOAL_RETENTION - 1e-12)


def readme(result: dict) -> str:
    from readme_section import replace_section

    lines = ["## INT8 on the CPU (issue 25)", "",
             f"Command: `python benchmarks/int8_cpu.py --work WORK` (WORK of `pretrained_whisper.py`, run as its `int8` "
             f"step; this section is written from `results/int8_cpu.json`, {result.get('date', '-')}). Per model: "
             "`spc build --target cpu` of the FP32 export, of `spc quantize` (**int8**: integer MatMul/Gemm weights, "
             "per channel; convolutions, log-mel and normalisations FP32) and of `spc quantize --conv static` "
             "(**int8+conv**: the convolutions too, activations calibrated on `calibration/fsdd-take-split-256.json`); "
             f"test accuracy of each built artifact on FSDD's test split; p50 in interleaved rounds ({result['runs']} "
             "runs after 5 warm-up, batch 1, 1 s clips, 2 cores), each build on the threads it chose.", "",
             "| model | parameters | FP32 test acc. | int8: retention, speed-up | int8+conv: retention, speed-up | "
             "p50 ms FP32 / int8 / int8+conv | threads | goal met by |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]

    def cell(r: dict, v: str) -> str:
        if v not in r["p50_ms"]:
            return "refused by the gate"
        return f"{r['retention'][v]:.3f}, {r['vs_fp32'][v]:.2f}x"

    for r in result["rows"]:
        p = r["p50_ms"]
        met = [v for v in ("int8", "int8-static-conv") if meets_goal(r, v)]
        times = " / ".join(f"{p[v]:.2f}" if v in p else "-" for v in ("fp32", "int8", "int8-static-conv"))
        threads = " / ".join(str(r["threads"].get(v, "-")) for v in ("fp32", "int8", "int8-static-conv"))
        lines.append(f"| {r['name']} | {r['params'] / 1e6:.2f} M | {r['accuracy']['fp32']:.2%} | {cell(r, 'int8')} | "
                     f"{cell(r, 'int8-static-conv')} | {times} | {threads} | {', '.join(met) or 'none'} |")
    n_met = sum(any(meets_goal(r, v) for v in ("int8", "int8-static-conv")) for r in result["rows"])
    lines += ["", f"Goal (at least {GOAL_SPEEDUP}x faster than the FP32 build at batch 1 with at least {GOAL_RETENTION} "
              f"of its test accuracy): met by {n_met} of {len(result['rows'])} models with one INT8 form or the other."]
    refused = [(r["name"], v, why) for r in result["rows"] for v, why in r["refused"].items()]
    if refused:
        lines += [""] + [f"Refused, {n} {v}: {why}" for n, v, why in refused]
    return replace_section(HERE / "README.md", START, END, "\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, help="pretrained_whisper.py's work folder.")
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--readme-only", action="store_true", help="Rewrite the README section from the recorded JSON.")
    args = p.parse_args()
    if args.readme_only:
        print(readme(json.loads(RESULTS.read_text())))
        return
    if not args.work:
        p.error("--work is needed")
    result = measure(args.work, args.runs)
    RESULTS.write_text(json.dumps(result, indent=2, default=str))
    print(readme(result))


if __name__ == "__main__":
    main()
