"""ONNX Runtime on the CPU against PyTorch eager: the unfused export and the fused CPU build (``spc build
--target cpu``), on base-size wav2vec2 (768 wide, 12 layers, random weights) and the Whisper tiny.en encoder.

Batch 1 and 8, 1 s clips; the three candidates are timed in interleaved rounds in one run, so the ratios
hold on a noisy machine.

    python benchmarks/onnx_vs_torch_cpu.py --runs 10

Writes benchmarks/results/onnx_vs_torch_cpu.json. Neither runtime spins idle threads between runs (spc's
sessions never do; PyTorch's OpenMP pool is set passive here), so one candidate's idle pool does not slow the next.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: see the docstring

import numpy as np  # noqa: E402
import torch  # noqa: E402

WHISPER = Path(__file__).resolve().parents[2] / "shared" / "models" / "whisper-tiny.en-encoder"
LABELS = [str(i) for i in range(12)]


def models() -> dict[str, object]:
    """The models measured: wav2vec2-base (random weights) and, where present, the Whisper tiny.en encoder."""
    from spc.models import load_model

    out = {"wav2vec2-base preset (random weights)": load_model("preset:wav2vec2-base", labels=LABELS)}
    if WHISPER.is_dir():
        out["whisper-tiny.en encoder (pre-trained)"] = load_model(str(WHISPER))
    return {k: m.eval() for k, m in out.items()}


def measure_model(model, work: Path, batches: tuple[int, ...], warmup: int, runs: int) -> dict:
    """Export, build for the CPU, and time PyTorch / unfused ORT / fused ORT side by side at each batch."""
    from spc.timing import measure_side_by_side
    from spc.engines import build_artifact
    from spc.engines.ort_run import OrtRunner, ort_session
    from spc.export import ExportConfig, export_onnx
    from spc.targets import get_target

    onnx_path = work / "model.onnx"
    export_onnx(model, onnx_path, ExportConfig(simplify=True, batch_sizes=(1, 2), seconds=(1.0,)))
    built = build_artifact(onnx_path, get_target("cpu"), work / "model.cpu.ort.onnx")
    threads = built.manifest["threads"]
    unfused = ort_session(onnx_path, threads)  # what the old figure timed: the export, optimised at load
    fused = OrtRunner(built.artifact, threads).session  # what spc deploys
    rows = []
    for batch in batches:
        x = (0.1 * np.random.default_rng(0).standard_normal((batch, 16000))).astype(np.float32)
        xt = torch.from_numpy(x)

        def torch_call():
            with torch.inference_mode():
                model(xt)

        stats = measure_side_by_side({"pytorch": torch_call, "ort_unfused": lambda: unfused.run(None, {"audio": x}),
                                      "ort_fused": lambda: fused.run(None, {"audio": x})}, warmup=warmup, runs=runs)
        p50 = {k: v.p50_ms for k, v in stats.items()}
        row = {"batch": batch, "seconds": 1.0, **{k: v.as_dict() for k, v in stats.items()},
               "speedup_unfused_p50": round(p50["pytorch"] / p50["ort_unfused"], 3),
               "speedup_fused_p50": round(p50["pytorch"] / p50["ort_fused"], 3),
               "fused_vs_unfused_p50": round(p50["ort_unfused"] / p50["ort_fused"], 3)}
        rows.append(row)
        print(f"  batch {batch}: torch {p50['pytorch']:.1f} ms, ORT unfused {p50['ort_unfused']:.1f} ms "
              f"({row['speedup_unfused_p50']:.2f}x), ORT fused {p50['ort_fused']:.1f} ms ({row['speedup_fused_p50']:.2f}x)")
    fusion = built.manifest["fusion"]
    return {"fusion": {k: fusion[k] for k in ("spc_attention", "fused", "fallback", "save_level", "parity")},
            "nodes_before": sum(fusion["ops_before"].values()), "nodes_after": sum(fusion["ops_after"].values()),
            "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    args = ap.parse_args()
    import onnxruntime

    results = {}
    for name, model in models().items():
        print(name)
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = measure_model(model, Path(tmp), tuple(args.batches), args.warmup, args.runs)
    load = os.getloadavg()[0]
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                          "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "ort_spinning": False,
                          "onnxruntime": onnxruntime.__version__, "load_average_1min_at_end": round(load, 2)},
              "runs": args.runs, "models": results}
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "onnx_vs_torch_cpu.json").write_text(json.dumps(result, indent=2))
    readme()


def readme() -> str:
    """benchmarks/README.md's table, from the recorded JSON only."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from readme_section import replace_section

    r = json.loads((Path(__file__).parent / "results" / "onnx_vs_torch_cpu.json").read_text())
    lines = [f"1 s clips, {r['machine']['cores']} cores, p50 of {r['runs']} interleaved rounds (1-minute load average "
             f"{r['machine']['load_average_1min_at_end']} at the end); each CPU build on the threads it chose by timing.",
             "", "| model | batch | PyTorch eager | ORT unfused | ORT fused build | fused vs unfused | nodes before -> after |",
             "| :--- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, m in r["models"].items():
        for row in m["rows"]:
            lines.append(f"| {name} | {row['batch']} | {row['pytorch']['p50_ms']:.1f} ms | "
                         f"{row['ort_unfused']['p50_ms']:.1f} ms ({row['speedup_unfused_p50']:.2f}x) | "
                         f"{row['ort_fused']['p50_ms']:.1f} ms ({row['speedup_fused_p50']:.2f}x) | "
                         f"{row['fused_vs_unfused_p50']:.2f}x | {m['nodes_before']} -> {m['nodes_after']} |")
    return replace_section(Path(__file__).parent / "README.md", "<!-- onnx-vs-torch:start -->",
                           "<!-- onnx-vs-torch:end -->", "\n".join(lines))


if __name__ == "__main__":
    import sys

    readme() if sys.argv[1:] == ["--readme"] else main()
