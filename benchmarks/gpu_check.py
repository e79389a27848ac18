"""GPU check: one command, at most 8 minutes, on any CUDA machine; one JSON; non-zero exit on a parity failure.

    python benchmarks/gpu_check.py benchmarks/results/gpu_check.json [--teacher MODEL] [--runs 50]

Models: a base-size wav2vec2 with random weights (``spc.models.build_model(Wav2Vec2Config(), labels)``),
that model pruned to 7 of 12 layers, 1-block linear and transformer mimic students, and a pre-trained
teacher where ``--teacher`` names one.

PyTorch, FP32 and FP16, batch 1 and 32, 1 s clips:
  * device time: CUDA events recorded on the same stream as the model, the input already on the GPU
    in the model's precision (no cast or copy inside the timed region);
  * end-to-end time, reported separately: pinned host input -> GPU -> model -> pinned host logits,
    wall clock until the stream is done.
TensorRT (where ``import tensorrt`` works): every model exported with ``spc.export`` (parity-checked
against PyTorch on the CPU), built with spc's own ``build_artifact`` for a profile of this GPU and run
with spc's own ``TensorRTRunner``: parity against PyTorch FP32, device time (events around the
enqueue, on the runner's stream) and end-to-end time (``runner.infer``: pinned buffers, copies, sync).

Exit codes: 0 every check asked for ran and passed; 1 a parity check failed; 2 no CUDA GPU here; 3 a check
asked for could not run (TensorRT or cuda-python missing, or too old): the JSON says which and why.
``--pytorch-only`` asks for the PyTorch timings alone. The JSON records the GPU, the driver and the CUDA
runtimes it ran on (torch's own, and the system's that TensorRT uses, where cuda-python can say).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LABELS = [f"k{i}" for i in range(12)]
RATE = 16000


def cuda_or_exit():
    """torch with a CUDA device, or the clean exit 2 every CPU machine gets."""
    try:
        import torch
    except ImportError:
        print("no CUDA GPU: torch is not installed here", file=sys.stderr)
        raise SystemExit(2) from None
    if not torch.cuda.is_available():
        print("no CUDA GPU is visible here (torch.cuda.is_available() is False): run this on a CUDA machine",
              file=sys.stderr)
        raise SystemExit(2)
    return torch


def percentiles(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 4), "p90_ms": round(float(np.percentile(a, 90)), 4),
            "mean_ms": round(float(a.mean()), 4), "runs": len(ms)}


def torch_times(torch, model, audio: np.ndarray, dtype, warmup: int, runs: int) -> dict:
    """Device time (events on the model's stream) and end-to-end time (pinned host in and out) of one model."""
    stream = torch.cuda.current_stream()
    host_in = torch.from_numpy(audio).pin_memory()
    with torch.inference_mode():
        x_dev = host_in.to("cuda", non_blocking=True).to(dtype)
        y = model(x_dev)
        host_out = torch.empty(tuple(y.shape), dtype=torch.float32).pin_memory()
        for _ in range(warmup):
            model(x_dev)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        device = []
        for _ in range(runs):
            start.record(stream)
            model(x_dev)
            end.record(stream)
            end.synchronize()
            device.append(start.elapsed_time(end))
        e2e = []
        for _ in range(runs):
            t0 = time.perf_counter()
            xd = host_in.to("cuda", non_blocking=True).to(dtype)
            host_out.copy_(model(xd).float(), non_blocking=True)
            stream.synchronize()
            e2e.append((time.perf_counter() - t0) * 1e3)
    return {"device": percentiles(device), "end_to_end": percentiles(e2e)}


def parity(out: np.ndarray, ref: np.ndarray, rel: float = 0.05, atol: float = 1e-2) -> dict:
    """FP16 engines against PyTorch FP32: max |diff| within atol + rel * max |ref|; top-1 agreement recorded."""
    diff = float(np.abs(out - ref).max())
    bound = atol + rel * float(np.abs(ref).max())
    return {"max_abs_diff": diff, "bound": bound, "top1_agreement": float((out.argmax(1) == ref.argmax(1)).mean()),
            "passed": bool(np.isfinite(out).all() and diff <= bound)}


def check_target(here: dict):
    """An spc target for exactly this GPU (``gpu_info()``, so spc's own build accepts it), batch 1-32 at 0.5-2 s."""
    from spc.targets import ShapeProfile, target_for

    return target_for(here, "gpu-check", ShapeProfile(1, 1, 32, 0.5, 1.0, 2.0))


def driver_version() -> str:
    """The NVIDIA driver's version from nvidia-smi, or why it is unknown."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "unknown (nvidia-smi not found)"
    try:
        out = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({type(exc).__name__})"
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else "unknown"


def tensorrt_section(torch, models: dict, audio: dict, args, deadline: float) -> tuple[dict, list[str], list[str]]:
    """(what the engine checks found, parity failures, checks that could not run and why); never raises for a
    missing or too old TensorRT or cuda-python."""
    from spc.engines.cuda_env import gpu_info, import_tensorrt
    from spc.errors import SpcError

    try:
        trt = import_tensorrt()
        here = gpu_info()  # needs cuda-python 12.x
    except SpcError as exc:
        why = f"engine build, parity and latency not checked: {exc}"
        return {"not_checked": why}, [], [why]
    rows, failures = tensorrt_rows(torch, models, audio, args, deadline, check_target(here))
    section = {"version": trt.__version__, "gpu": here, "engines": rows}
    skipped = [f"{r['model']}: {r['skipped']}" for r in rows if "skipped" in r]
    return section, failures, skipped


def exit_code(failures: list[str], not_checked: list[str]) -> int:
    """1 for a parity failure, 3 where a check asked for did not run, else 0."""
    return 1 if failures else 3 if not_checked else 0


def tensorrt_rows(torch, models: dict, audio: dict, args, deadline: float, target) -> tuple[list[dict], list[str]]:
    """Export, build and run each model with spc's own code; parity and times per model."""
    from spc.engines import build_artifact
    from spc.engines.tensorrt_run import TensorRTRunner
    from spc.export import ExportConfig, export_onnx

    rows, failures = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in models.items():
            if time.monotonic() > deadline:
                rows.append({"model": name, "skipped": "time budget spent"})
                continue
            row = {"model": name}
            try:
                onnx_path = Path(tmp) / f"{name}.onnx"
                export_onnx(model, onnx_path, ExportConfig(batch_sizes=(1, 2), seconds=(1.0,)))
                report = build_artifact(onnx_path, target, Path(tmp) / f"{name}.engine")
                row["build_seconds"] = report.manifest["build_seconds"]
                with torch.inference_mode():
                    ref = model(torch.from_numpy(audio[8])).numpy()
                with TensorRTRunner(report.artifact) as runner:
                    row["parity"] = parity(runner.infer(audio[8]), ref)
                    for batch in (1, 32):
                        e2e = []
                        for _ in range(args.warmup):
                            runner.infer(audio[batch])
                        for _ in range(args.runs):
                            t0 = time.perf_counter()
                            runner.infer(audio[batch])
                            e2e.append((time.perf_counter() - t0) * 1e3)
                        row[f"batch{batch}"] = {
                            "device": percentiles(runner.device_times_ms(audio[batch], args.warmup, args.runs)),
                            "end_to_end": percentiles(e2e)}
                if not row["parity"]["passed"]:
                    failures.append(f"tensorrt {name}: {row['parity']}")
            except Exception as exc:  # keep measuring the others; an export or engine that fails is a failure
                row["error"] = f"{type(exc).__name__}: {exc}"
                failures.append(f"{name}: parity not established ({row['error']})")
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows, failures


def build_models(args) -> dict:
    import transformers

    from spc.distill import MimicConfig, build_student
    from spc.models import build_model, load_model
    from spc.prune import prune_model

    base = build_model(transformers.Wav2Vec2Config(), LABELS, seed=0).eval()
    models = {"wav2vec2-base-random": base, "pruned-7of12": prune_model(base, list(range(7))).eval(),
              "mimic-linear-1": build_student(base, MimicConfig("linear", 1)).eval(),
              "mimic-transformer-1": build_student(base, MimicConfig("transformer", 1, heads=12, ffn=3072)).eval()}
    if args.teacher:
        models["teacher"] = load_model(args.teacher).eval()
    return models


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="Where to write the JSON result.")
    ap.add_argument("--teacher", help="A pre-trained spc model folder to measure as well.")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--budget-s", type=float, default=300.0, help="Start no new engine build after this many seconds.")
    ap.add_argument("--pytorch-only", action="store_true", help="Time PyTorch only (no TensorRT check is asked for).")
    args = ap.parse_args(argv)
    torch = cuda_or_exit()
    t0 = time.monotonic()
    deadline = t0 + args.budget_s
    try:
        import spc  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(ROOT / "toolchain"))
    from spc.params import count_parameters

    models = build_models(args)
    rng = np.random.default_rng(0)
    audio = {b: (0.1 * rng.standard_normal((b, RATE))).astype(np.float32) for b in (1, 8, 32)}
    rows = []
    for name, model in models.items():
        for precision, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
            m = copy.deepcopy(model).to("cuda", dtype).eval()
            for batch in (1, 32):
                rows.append({"model": name, "precision": precision, "batch": batch, "samples": RATE,
                             "params_total": count_parameters(model).total,
                             **torch_times(torch, m, audio[batch], dtype, args.warmup, args.runs)})
                print(json.dumps(rows[-1]), flush=True)
            del m
            torch.cuda.empty_cache()
    result = {"gpu": torch.cuda.get_device_name(0), "driver": driver_version(), "torch": torch.__version__,
              "torch_cuda_runtime": torch.version.cuda, "python": platform.python_version(), "runs": args.runs,
              "warmup": args.warmup, "pytorch": rows}
    failures: list[str] = []
    not_checked: list[str] = []
    if args.pytorch_only:
        result["tensorrt"] = {"not_checked": "not asked (--pytorch-only)"}
    else:
        result["tensorrt"], failures, not_checked = tensorrt_section(torch, models, audio, args, deadline)
    result["parity_failures"] = failures
    result["not_checked"] = not_checked
    result["seconds"] = round(time.monotonic() - t0, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    engines = [r for r in result["tensorrt"].get("engines", []) if "parity" in r]
    print(f"wrote {out} in {result['seconds']} s; parity checked on {len(engines)} engines, "
          f"{len(failures)} failed" + (f"; not checked: {'; '.join(not_checked)}" if not_checked else ""))
    return exit_code(failures, not_checked)


if __name__ == "__main__":
    sys.exit(main())
