"""Fine-tune a backbone (or train a config from scratch) into a keyword-spotting classifier.

Stages: read the data -> load the model with the data's classes -> train with validation every
epoch (best kept, resumable) -> reload the best checkpoint from disk -> evaluate on the test split.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from ..data import load_clips, open_dataset
from ..errors import SpcError
from ..evaluate import evaluate, torch_predictor
from ..models import load_model, save_model
from ..params import count_parameters
from ..train import TrainConfig, fingerprint, resolve_device, train_classifier

SUMMARY = "finetune.json"
CHECKPOINT = ".spc-train/last.pt"


def prepare_out_dir(out: Path, marker: str, overwrite: bool) -> None:
    """Refuse an output folder that holds something else, before any long work starts."""
    if overwrite and out.exists():
        shutil.rmtree(out)
    if out.is_file():
        raise SpcError(f"output {out} is a file, not a folder")
    ours = (out / marker).exists() or any(p.name.startswith(".spc-") for p in out.iterdir()) if out.is_dir() else True
    if out.is_dir() and any(out.iterdir()) and not ours:
        raise SpcError(f"output folder {out} is not empty and holds no spc run; choose another --out or --overwrite")


def run_finetune(
    backbone: str,
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    config: TrainConfig = TrainConfig(),
    layout: str = "auto",
    clip_seconds: float = 1.0,
    overwrite: bool = False,
    show_progress: bool = True,
    data_options: dict | None = None,
) -> dict:
    """Run the recipe; returns (and writes to ``out_dir/finetune.json``) the summary."""
    out = Path(out_dir)
    prepare_out_dir(out, SUMMARY, overwrite)
    ds = open_dataset(data_dir, layout, **(data_options or {}))
    device = resolve_device(config.device)
    model = load_model(backbone, labels=ds.labels, clip_seconds=clip_seconds, seed=config.seed)
    if config.freeze_feature_encoder:
        model.adapter.freeze_feature_encoder(model.hf)
    rate = model.meta.sampling_rate
    train = load_clips(ds, "train", rate=rate, clip_seconds=clip_seconds, labels=ds.labels, show_progress=show_progress)
    val = load_clips(ds, "validation", rate=rate, clip_seconds=clip_seconds, labels=ds.labels, show_progress=show_progress)
    run_id = fingerprint(backbone, model.hf.config.to_dict(), ds.describe(), config.as_dict(), clip_seconds)
    provenance = {"recipe": "finetune", "backbone": backbone, "data": ds.describe(), "train": config.as_dict()}

    def save_best(m, row):
        save_model(m, out, {**provenance, "epoch": row["epoch"], "val_accuracy": row["val_accuracy"]})

    t0 = time.perf_counter()
    result = train_classifier(
        model, train, val, config, out / CHECKPOINT, save_best, run_id=run_id, show_progress=show_progress
    )
    best = load_model(out)
    test = load_clips(ds, "test", rate=rate, clip_seconds=clip_seconds, labels=ds.labels, show_progress=show_progress)
    test_result = evaluate(torch_predictor(best, device), test, config.batch_size)
    summary = {
        "backbone": backbone, "model": str(out), "data": ds.describe(), "config": config.as_dict(),
        "device": str(device), "history": result.history, "best_epoch": result.best_epoch,
        "val_accuracy": result.best_val_accuracy, "test_accuracy": test_result.accuracy,
        "test": test_result.as_dict(), "params": count_parameters(best).as_dict(),
        "skipped": {"train": train.skipped, "validation": val.skipped, "test": test.skipped},
        "resumed_from_epoch": result.resumed_from, "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / SUMMARY).write_text(json.dumps(summary, indent=2))
    return summary
