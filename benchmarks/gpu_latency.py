"""GPU check (run on a machine with an NVIDIA GPU): PyTorch FP16 latency of the original and the compressed
models, and where TensorRT is installed, an FP16 engine's parity and latency against PyTorch.

    python benchmarks/gpu_latency.py --out benchmarks/results/gpu_latency.json

Models: base-size wav2vec2 (random weights), that model pruned to 7 of 12 layers (40% removed,
the paper's figure), and 1-block linear and transformer mimic students. Timing uses CUDA events
after warm-up, batch 1 and 8, 1 s clips, every model timed in interleaved rounds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch


def cuda_timer(fn, warmup: int, runs: int) -> list[float]:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="benchmarks/results/gpu_latency.json")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible: run this on a GPU machine")
    from spc.distill import MimicConfig, build_student
    from spc.models import load_model
    from spc.params import count_parameters
    from spc.prune import prune_model

    base = load_model("preset:wav2vec2-base", labels=[str(i) for i in range(12)]).eval()
    models = {"original": base, "pruned-7of12": prune_model(base, [0, 1, 2, 3, 4, 5, 6]),
              "mimic-linear-1": build_student(base, MimicConfig("linear", 1)).eval(),
              "mimic-transformer-1": build_student(base, MimicConfig("transformer", 1, heads=12, ffn=3072)).eval()}
    rows = []
    for batch in (1, 8):
        x = torch.from_numpy((0.1 * np.random.default_rng(0).standard_normal((batch, 16000))).astype(np.float32)).cuda()
        per = {}
        for name, m in models.items():
            m16 = m.cuda().half()
            with torch.inference_mode():
                per[name] = float(np.median(cuda_timer(lambda: m16(x.half()), args.warmup, args.runs)))
        for name, ms in per.items():
            rows.append({"model": name, "batch": batch, "p50_ms": round(ms, 3),
                         "ratio_to_original": round(ms / per["original"], 3),
                         "params_total": count_parameters(models[name]).total})
            print(rows[-1])
    result = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
              "precision": "fp16 (PyTorch .half())", "runs": args.runs, "rows": rows}
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        result["tensorrt"] = "not installed: engine parity and latency not measured"
    else:
        result["tensorrt"] = tensorrt_check(base.float().cpu(), args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def tensorrt_check(model, args) -> dict:
    """Export, build an FP16 engine for the H100/H200 profile, compare with PyTorch FP32 and time it."""
    from spc.engines import build_artifact
    from spc.engines.tensorrt_run import TensorRTRunner
    from spc.export import export_onnx
    from spc.targets import get_target

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "base.onnx"
        export_onnx(model, onnx_path)
        report = build_artifact(onnx_path, get_target("h100"))
        x = (0.1 * np.random.default_rng(1).standard_normal((8, 16000))).astype(np.float32)
        with torch.inference_mode():
            ref = model(torch.from_numpy(x)).numpy()
        with TensorRTRunner(report.artifact) as runner:
            out = runner(x)
            times = cuda_timer(lambda: runner(x), args.warmup, args.runs)
    return {"max_abs_diff": float(np.abs(out - ref).max()), "top1_agreement": float((out.argmax(1) == ref.argmax(1)).mean()),
            "engine_p50_ms_batch8": float(np.median(times)), "manifest": report.manifest}


if __name__ == "__main__":
    main()
