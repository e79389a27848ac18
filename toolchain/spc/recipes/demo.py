"""The built-in default: spoken keywords made offline, a small teacher trained on them, evaluated.

Runs with no network and no GPU in a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..synth import SynthConfig, make_keyword_dataset
from ..train import TrainConfig
from .finetune import run_finetune

DEMO_TRAIN = TrainConfig(epochs=30, batch_size=32, lr=5e-4, weight_decay=0.01, warmup_ratio=0.1,
                         freeze_feature_encoder=False, augment=True, seed=0, device="auto")


def run_demo(out_dir: str | Path = "spc-demo", *, train: TrainConfig = DEMO_TRAIN,
             synth: SynthConfig = SynthConfig(), show_progress: bool = True) -> dict:
    """Make ``out/data``, train ``out/teacher`` (preset wav2vec2-small) and write ``out/demo.json``."""
    out = Path(out_dir)
    data = make_keyword_dataset(out / "data", synth, show_progress=show_progress)
    summary = run_finetune("preset:wav2vec2-small", data, out / "teacher", config=train, show_progress=show_progress)
    result = {"data": str(data), "teacher": summary["model"], "val_accuracy": summary["val_accuracy"],
              "test_accuracy": summary["test_accuracy"], "params": summary["params"],
              "chance": 1.0 / len(summary["data"]["labels"]), "seconds": summary["seconds"]}
    (out / "demo.json").write_text(json.dumps(result, indent=2))
    return result
