"""The built-in default: spoken keywords made offline, a small teacher trained on them, then the main
job (``compress --target cpu --method auto``) on that teacher, with its report.

The streaming figures are left out: the demo's classes are ten words with no silence or "unknown"
class, so a detector built on them fires on every gap. Measured with ``_unknown_`` and ``_silence_``
added (2,910 clips; streams of 150 clips per split and 3 minutes of negatives): the demo teacher reaches
87.8% on test, misses every keyword at 1 false accept per hour (0.476 of them at 1,296 per hour), and the
run takes 7.1 minutes, past the five-minute budget; a detector needs a teacher trained far longer.

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
from ..distill import DistillConfig
from ..prune import HealConfig, PruneConfig
from .compress import PRUNE_ORDERS, CompressConfig, run_compress
from .finetune import run_finetune

DEMO_PRESET = "preset:whisper-small"
DEMO_SYNTH = SynthConfig(clips_per_word=300)  # 1,800 train / 750 validation / 450 test clips
#: no detector judged (no non-keyword class), so the students learn from the aligned clips alone: the stream-like
#: windows would cost a minute of the five for nothing the demo measures
DEMO_COMPRESS = CompressConfig(stream=False, prune=PruneConfig(orders=PRUNE_ORDERS, heal=HealConfig(stream_windows=0.0)),
                               distill=DistillConfig(stream_windows=0.0))
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
