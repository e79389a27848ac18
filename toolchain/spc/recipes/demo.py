"""The built-in default: spoken keywords made offline, a small teacher trained on them, then the main
job (``compress --target cpu --method auto``) on that teacher, with its report.

Runs with no network and no GPU in a few minutes on 2 CPU cores; re-running reuses what is done.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..data import DataConfig
from ..finetune import FinetuneConfig
from ..synth import SynthConfig, make_keyword_dataset
from ..train import TrainConfig
from .finetune import run_finetune

DEMO_TRAIN = FinetuneConfig(train=TrainConfig(epochs=30, batch_size=32, lr=5e-4, weight_decay=0.01, warmup_ratio=0.1,
                                              seed=0, device="auto", max_grad_norm=1.0),
                            freeze_feature_encoder=False, augment=True)


def run_demo(out_dir: str | Path = "spc-demo", *, train: FinetuneConfig = DEMO_TRAIN,
             synth: SynthConfig = SynthConfig(), compress: bool = True, show_progress: bool = True) -> dict:
    """Make ``out/data``, train ``out/teacher``, compress it into ``out/report``; writes ``out/demo.json``."""
    from .compress import CompressConfig, run_compress

    out = Path(out_dir)
    data = make_keyword_dataset(out / "data", synth, show_progress=show_progress)
    summary = run_finetune("preset:wav2vec2-small", DataConfig(str(data)), out / "teacher", config=train,
                           show_progress=show_progress)
    result = {"data": str(data), "teacher": summary["model"], "val_accuracy": summary["val_accuracy"],
              "test_accuracy": summary["test_accuracy"], "params": summary["params"],
              "chance": 1.0 / len(summary["data"]["labels"]), "seconds": summary["seconds"]}
    if compress:
        # two words are the app's keywords, the other eight what it must not fire on (the streaming figures)
        keywords = tuple(summary["data"]["labels"][:2])
        report = run_compress(out / "teacher", DataConfig(str(data)), out / "report", "cpu",
                              config=CompressConfig(keywords=keywords),
                              show_progress=show_progress)
        result["report"] = str(out / "report" / "report.md")
        result["compress"] = {"chosen": report["chosen"], **{k: report["final"][k] for k in
                              ("test_accuracy", "original_test_accuracy", "retention", "passed", "speedup_p50")}}
    (out / "demo.json").write_text(json.dumps(result, indent=2))
    return result
