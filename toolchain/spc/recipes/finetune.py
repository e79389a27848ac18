"""Fine-tune a backbone (or train a config from scratch) into a keyword-spotting classifier.

Stages: check the output folder -> read the data -> load the model with the data's classes -> train
(validation every epoch, resumable from ``OUT/.spc-train``) -> save the best epoch's model ->
evaluate it on the test split -> ``finetune.json``, which marks the folder finished. An interrupted
run leaves only ``.spc-train`` (no loadable model), and the same command resumes it.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from ..data import DataConfig, clips_for
from ..errors import SpcError
from ..fileio import prepare_out_dir, read_json
from ..accuracy import evaluate, torch_predictor
from ..training.finetuning import FinetuneConfig, finetune
from ..models import load_model, save_model
from ..params import count_parameters
from ..training.loop import fingerprint, is_main_process, train_device
from ..locking import locks_output

SUMMARY = "finetune.json"
WORK = ".spc-train"


@locks_output("out_dir")
def run_finetune(backbone: str, data: DataConfig, out_dir: str | Path, *, config: FinetuneConfig = FinetuneConfig(),
                 clip_seconds: float = 1.0, overwrite: bool = False, show_progress: bool = True) -> dict:
    """Run the recipe; returns (and writes to ``out_dir/finetune.json``) the summary."""
    out = Path(out_dir)
    if not clip_seconds > 0:
        raise SpcError(f"clip length must be positive, got {clip_seconds} s")
    prepare_out_dir(out, SUMMARY, overwrite, {"model": backbone, "data folder": data.root})
    ds = data.open(show_notes=True)
    for split in ("train", "validation"):
        ds.split(split)
    model = load_model(backbone, labels=ds.labels, clip_seconds=clip_seconds, seed=config.train.seed)
    if config.train_layers is not None and config.train_layers > model.num_layers:
        raise SpcError(f"cannot train the top {config.train_layers} layers of a {model.num_layers}-layer model")
    clips = clips_for(model, ds, ("train", "validation"), show_progress=show_progress)
    run_id = fingerprint(backbone, model.hf.config.to_dict(), ds.describe(), config.as_dict(), clip_seconds)
    if (out / SUMMARY).is_file():
        saved = read_json(out / SUMMARY, "fine-tuning summary")
        if saved.get("run_id") != run_id:
            raise SpcError(f"{out} holds a finished run with other settings; choose another output folder or overwrite it")
        return saved
    t0 = time.perf_counter()
    result = finetune(model, clips["train"], clips["validation"], config, out / WORK / "last.pt", run_id=run_id,
                      show_progress=show_progress)
    if not is_main_process():
        return {}
    provenance = {"recipe": "finetune", "backbone": backbone, "data": ds.describe(), "finetune": config.as_dict(),
                  "best_epoch": result.best["epoch"], "val_accuracy": result.best["val_accuracy"]}
    save_model(model, out, provenance)
    best = load_model(out)
    test = clips_for(best, ds, ("test",), show_progress=show_progress)["test"]
    device = train_device(config.train)
    test_result = evaluate(torch_predictor(best, device), test, config.train.batch_size)
    summary = {
        "run_id": run_id, "backbone": backbone, "model": str(out), "data": ds.describe(), "config": config.as_dict(),
        "device": str(device), "history": result.history, "best_epoch": result.best["epoch"],
        "val_accuracy": result.best["val_accuracy"], "test_accuracy": test_result.accuracy,
        "test": test_result.as_dict(), "params": count_parameters(best).as_dict(),
        "skipped": {"train": clips["train"].skipped, "validation": clips["validation"].skipped, "test": test.skipped},
        "resumed_from_epoch": result.resumed_from, "stopped_early": result.stopped_early,
        "train_seconds": result.seconds, "seconds": round(time.perf_counter() - t0, 1), "finished": True,
    }
    (out / SUMMARY).write_text(json.dumps(summary, indent=2))
    shutil.rmtree(out / WORK, ignore_errors=True)
    return summary
