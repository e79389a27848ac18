"""What the similarity metrics cost next to the forward passes, and whether memory grows with clips.

Base-size wav2vec2 (768 wide, 12 layers, random weights) on the CPU, batch 64, 1 s clips of noise.
Time: forward passes alone vs forward + every metric, measured in the same process on the same
clips. Memory: peak RSS of a child process that analyses N clips, for two values of N: the peak is reset once the model and the clips are loaded, so it is
the analysis's own (the clips' audio array, which grows with N by design, is reported beside it).

    python benchmarks/analysis_overhead.py --clips 256 --memory-clips 256 2048

Writes benchmarks/results/analysis_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch


def model():
    from spc.models import load_model

    return load_model("preset:wav2vec2-base", labels=[str(i) for i in range(12)]).eval()


def clips(n, seed=0):
    from spc.data.clips import ClipSet

    audio = (0.1 * np.random.default_rng(seed).standard_normal((n, 16000))).astype(np.float32)
    return ClipSet(audio, np.arange(n) % 12, [str(i) for i in range(12)], [str(i) for i in range(n)])


def timing(n: int, batch: int) -> dict:
    from spc.analysis.accumulate import SimilarityAccumulator

    m, data = model(), clips(n)
    fwd = metric = 0.0
    acc = SimilarityAccumulator(m.num_layers + 1)
    with torch.inference_mode():
        m.hidden_states(torch.from_numpy(data.audio[:2]))  # warm-up
        for s in range(0, n, batch):
            x = torch.from_numpy(data.audio[s : s + batch])
            t0 = time.perf_counter()
            hs = m.hidden_states(x)
            t1 = time.perf_counter()
            acc.update(hs)
            t2 = time.perf_counter()
            fwd += t1 - t0
            metric += t2 - t1
    return {"clips": n, "batch": batch, "forward_s": round(fwd, 2), "metrics_s": round(metric, 2),
            "metrics_over_forward": round(metric / fwd, 3)}


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_memory_child(n: int, batch: int) -> None:
    """Peak RSS of the analysis itself: the peak is reset (Linux clear_refs) once model and clips are loaded."""
    from spc.analysis.run import AnalysisConfig, analyze_model

    m = model()
    data = clips(n)
    setup_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    baseline = _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    analyze_model(m, data, AnalysisConfig(batch_size=batch, device="cpu"), show_progress=False)
    peak = _status_mb("VmHWM")
    print(json.dumps({"clips": n, "audio_array_mb": round(data.audio.nbytes / 2**20, 1),
                      "rss_before_analysis_mb": round(baseline, 1), "peak_rss_during_analysis_mb": round(peak, 1),
                      "analysis_peak_above_baseline_mb": round(peak - baseline, 1),
                      "process_peak_incl_setup_mb": round(max(setup_peak, peak), 1)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--memory-clips", type=int, nargs="*", default=[256, 2048])
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        peak_memory_child(args.child, args.batch)
        return
    result = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                          "torch": torch.__version__},
              "model": "wav2vec2-base preset (94.57 M, random weights)", "timing": timing(args.clips, args.batch)}
    print(json.dumps(result["timing"]))
    mem = []
    for n in args.memory_clips:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--batch", str(args.batch)],
                             check=True, capture_output=True, text=True).stdout
        mem.append(json.loads(out.strip().splitlines()[-1]))
        print(mem[-1])
    result["memory"] = mem
    if len(mem) >= 2:
        key = "analysis_peak_above_baseline_mb"
        result["analysis_peak_ratio_largest_to_smallest"] = round(mem[-1][key] / mem[0][key], 3)
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "analysis_overhead.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    readme()


def readme() -> str:
    """benchmarks/README.md's section, from the recorded JSON only."""
    from readme_section import replace_section

    r = json.loads((Path(__file__).parent / "results" / "analysis_overhead.json").read_text())
    t, mem = r["timing"], r["memory"]
    key = "analysis_peak_above_baseline_mb"
    body = (f"{r['model']}, CPU, {r['machine']['threads']} threads, batch {t['batch']}, 1 s clips. Every metric (two "
            f"cosines, two CKA forms, mutual kNN over all layer pairs) took {t['metrics_s']:.2f} s against "
            f"{t['forward_s']:.2f} s of forward passes on {t['clips']} clips: **+{t['metrics_over_forward']:.0%} over "
            f"the forward time** (goal: at most +50%). Peak memory of the analysis itself, above what the loaded model "
            f"and clips hold: " + " and ".join(f"{m[key]:,.0f} MB at {m['clips']:,} clips" for m in mem)
            + (f" ({r['analysis_peak_ratio_largest_to_smallest']:.3f}x for {mem[-1]['clips'] // mem[0]['clips']}x the "
               "clips: the accumulators are fixed-size)" if len(mem) >= 2 else "") + ".")
    return replace_section(Path(__file__).parent / "README.md", "<!-- analysis-overhead:start -->",
                           "<!-- analysis-overhead:end -->", body)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    if sys.argv[1:] == ["--readme"]:
        print(readme())
    else:
        main()
