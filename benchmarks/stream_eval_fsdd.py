"""Streaming figures on FSDD: misses, false accepts per hour, latency and real-time factor of an artifact.

    spc finetune ../shared/models/whisper-tiny.en-encoder --data ../shared/data/fsdd --out WORK/teacher \
        --train-layers 0 --lr 1e-3 --epochs 15 --batch-size 64
    spc export WORK/teacher --out WORK/teacher.onnx
    python benchmarks/stream_eval_fsdd.py --artifact WORK/teacher.onnx

Digits 0 and 1 are the keywords, 2-9 the non-keywords; every test clip is used ``--repeats`` times in
seeded recordings (see spc.streaming.evaluation for the scoring rules). Writes stream_eval.json, det.png and
recordings.json to ``--out`` (default benchmarks/results/stream_eval/), plus machine.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

from spc.streaming.evaluation import StreamEvalConfig, stream_eval_lines, stream_figures

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Run the evaluation with the recorded settings and print its table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--artifact", required=True, help="an exported .onnx (or built artifact) of the FSDD teacher")
    p.add_argument("--data", default=str(HERE.parents[1] / "shared" / "data" / "fsdd"))
    p.add_argument("--keywords", default="0,1")
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--max-fa-per-hour", type=float, default=1.0)
    p.add_argument("--out", default=str(HERE / "results" / "stream_eval"))
    a = p.parse_args()
    config = StreamEvalConfig(keywords=tuple(a.keywords.split(",")), repeats=a.repeats, max_fa_per_hour=a.max_fa_per_hour)
    summary = stream_figures({"fsdd-teacher": a.artifact}, a.data, a.out, config=config)
    machine = {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
               "note": "2 cores shared with other jobs; real-time factor measured with chunks of 100 ms"}
    (Path(a.out) / "machine.json").write_text(json.dumps(machine, indent=2))
    print("\n".join(stream_eval_lines(summary)))


if __name__ == "__main__":
    main()
