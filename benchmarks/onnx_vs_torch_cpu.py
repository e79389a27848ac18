"""ONNX Runtime on the CPU against PyTorch eager, base-size wav2vec2 (768 wide, 12 layers, random weights).

Batch 1 and 8, clips of 1 s and 2 s; both backends timed in interleaved rounds in one run, so the
ratios hold on a noisy machine.

    python benchmarks/onnx_vs_torch_cpu.py --runs 10

Writes benchmarks/results/onnx_vs_torch_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    from spc.export import ExportConfig, export_onnx
    from spc.export.parity import ort_session
    from spc.latency import measure_side_by_side
    from spc.models import load_model

    model = load_model("preset:wav2vec2-base", labels=[str(i) for i in range(12)]).eval()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "base.onnx"
        export_onnx(model, path, ExportConfig(simplify=True, batch_sizes=(1, 2), seconds=(1.0, 2.0)))
        sess = ort_session(path)
        for batch in (1, 8):
            for seconds in (1.0, 2.0):
                x = (0.1 * np.random.default_rng(0).standard_normal((batch, int(16000 * seconds)))).astype(np.float32)
                xt = torch.from_numpy(x)

                def torch_call():
                    with torch.inference_mode():
                        model(xt)

                stats = measure_side_by_side({"pytorch": torch_call, "onnxruntime": lambda: sess.run(None, {"audio": x})},
                                             warmup=args.warmup, runs=args.runs)
                row = {"batch": batch, "seconds": seconds, **{k: v.as_dict() for k, v in stats.items()},
                       "speedup_p50": round(stats["pytorch"].p50_ms / stats["onnxruntime"].p50_ms, 3)}
                rows.append(row)
                print(f"batch {batch} {seconds:.0f}s: torch p50 {stats['pytorch'].p50_ms:.1f} ms, "
                      f"ORT p50 {stats['onnxruntime'].p50_ms:.1f} ms, speedup {row['speedup_p50']:.2f}x")
    import onnxruntime

    result = {"machine": {"cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
                          "torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
              "model": "wav2vec2-base preset (94.57 M, random weights)", "runs": args.runs, "rows": rows}
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "onnx_vs_torch_cpu.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
