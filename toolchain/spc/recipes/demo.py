"""The built-in default: spoken keywords made offline, a small teacher trained on them, then the main
job (``compress --target cpu --method auto``) on that teacher, with its report.

The data has the app's classes: ten keywords, ``_unknown_`` (other words) and ``_silence_`` (noise), so
compress judges every candidate as a streaming detector too (misses at 1 false accept per hour), on
streams cut short for time: 150 clips per split and 3 minutes of keyword-free speech (one false accept
is then 20 per hour, so the budget allows none).

Runs with no network and no GPU in under 5 minutes on 2 CPU cores; re-running reuses what is done.
The teacher is a Whisper-architecture model trained from scratch (``preset:whisper-small``): a log-mel
front end learns words from a few thousand clips in a few epochs, where a raw-waveform CNN needs far more.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..data import DataConfig
from ..fileio import atomic_write_text
from ..training.finetuning import FinetuneConfig
from ..synth import SynthConfig, make_keyword_dataset
from ..training.loop import TrainConfig
from .compress import CompressConfig, run_compress
from .finetune import run_finetune

DEMO_PRESET = "preset:whisper-small"
#: 2,400 keyword clips, 360 _unknown_, 150 _silence_: 1,746 train / 727 validation / 437 test
DEMO_SYNTH = SynthConfig(clips_per_word=240, unknown_clips=360, silence_clips=150)
DEMO_COMPRESS = CompressConfig(negatives_hours=0.05, stream_clips=150)
DEMO_TRAIN = FinetuneConfig(train=TrainConfig(epochs=25, batch_size=32, lr=2e-3, weight_decay=0.01, warmup_ratio=0.1,
                                              seed=0, device="auto", max_grad_norm=1.0),
                            freeze_feature_encoder=False, augment=True)


def run_demo(out_dir: str | Path = "spc-demo", *, train: FinetuneConfig = DEMO_TRAIN,
             synth: SynthConfig = DEMO_SYNTH, compress: CompressConfig | None = DEMO_COMPRESS,
             show_progress: bool = True) -> dict:
    """Make ``out/data``, train ``out/teacher``, compress it (``compress``; None: stop after the teacher) into
    ``out/report``; writes ``out/demo.json``."""
    out = Path(out_dir)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    data = make_keyword_dataset(out / "data", synth, show_progress=show_progress)
    seconds["data"] = time.perf_counter() - t0
    summary = run_finetune(DEMO_PRESET, DataConfig(str(data)), out / "teacher", config=train,
                           show_progress=show_progress)
    seconds["teacher"] = time.perf_counter() - t0 - seconds["data"]
    result = {"data": str(data), "teacher": summary["model"], "preset": DEMO_PRESET,
              "val_accuracy": summary["val_accuracy"], "test_accuracy": summary["test_accuracy"],
              "params": summary["params"], "chance": 1.0 / len(summary["data"]["labels"]),
              "clips": summary["data"]["clips"]}
    if compress is not None:
        t1 = time.perf_counter()
        report = run_compress(out / "teacher", DataConfig(str(data)), out / "report", "cpu", config=compress,
                              show_progress=show_progress)
        seconds["compress"] = time.perf_counter() - t1
        result["report"] = str(out / "report" / "report.md")
        final = report["final"]
        result["compress"] = {"chosen": report["chosen"],
                              **{k: final.get(k) for k in ("verdict", "clip_verdict", "passed", "test_accuracy",
                                                           "original_test_accuracy", "retention", "retention_ci",
                                                           "mcnemar_p", "speedup_p50", "detector")},
                              "stream": report.get("stream")}
    seconds["total"] = time.perf_counter() - t0
    result["seconds"] = seconds
    atomic_write_text(out / "demo.json", json.dumps(result, indent=2))
    return result
