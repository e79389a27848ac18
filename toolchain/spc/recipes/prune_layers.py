"""Prune whole layers of a fine-tuned model under a retention target, healing the candidates where asked.

Stages: check the settings, data and output folder -> read validation (a calibration sample drawn
from it), test, and with healing train clips -> score every order (healing each candidate along
the way) -> save the best candidate as a normal transformers checkpoint -> reload it and evaluate
on the test split -> parameters and CPU latency of each order's model next to the original's -> JSON, PNG.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from ..timing import torch_cpu_latency
from ..data import DataConfig, clips_for
from ..accuracy import evaluate, torch_predictor
from ..calib.select import calibration_clips
from ..fileio import check_output_dir, prepare_out_dir, refuse_overlap
from ..models import load_model, save_model
from ..params import count_parameters
from ..prune import PruneConfig, prune, prune_model
from ..prune.curves import curves_figure
from ..locking import locks_output

RESULT = "prune.json"


@locks_output("out_dir")
def run_prune(model_src: str | Path, data: DataConfig, out_dir: str | Path, *, config: PruneConfig = PruneConfig(),
              overwrite: bool = False, latency_runs: int = 20, show_progress: bool = True,
              calib: str | Path | None = None) -> dict:
    """Run the recipe; writes ``out/model`` (the pruned checkpoint), ``out/prune.json`` and ``out/curves.png``."""
    out = Path(out_dir)
    inputs = {"model": model_src, "data folder": data.root, "calibration manifest": calib}
    refuse_overlap({"output folder": out}, inputs)
    check_output_dir(out)
    model = load_model(model_src)
    config.check_model(model.num_layers)
    ds = data.open(show_notes=True)
    splits = ("validation", "test") + (("train",) if config.heal.method != "none" else ())
    for split in splits:
        ds.split(split)
    config.check_clips(len(ds.split("validation")), f"the validation split of {ds.root}")
    prepare_out_dir(out, RESULT, overwrite, inputs)
    clips = clips_for(model, ds, splits, subset=data.subset, show_progress=show_progress)
    calib_clips, calib_info = calibration_clips(model, ds, data, config.calib_clips, config.seed, calib)
    t0 = time.perf_counter()
    pruned, result = prune(model, config, clips["validation"], calib_clips, test=clips["test"], train=clips.get("train"),
                           work=out / ".spc-heal", show_progress=show_progress)
    best = result.order(result.best)
    pruned.meta.provenance = {**pruned.meta.provenance, "recipe": "prune", "teacher": str(model_src),
                              "order": best.name, "retention": config.retention, "heal": config.heal.method}
    save_model(pruned, out / "model", pruned.meta.provenance)
    reloaded = load_model(out / "model")
    test_check = evaluate(torch_predictor(reloaded), clips["test"], config.batch_size).accuracy

    models = {"original": model}
    for r in result.orders:
        if len(r.keep) < model.num_layers:
            models.setdefault(f"keep{tuple(r.keep)}", prune_model(model, r.keep))
    latency = torch_cpu_latency(models, runs=latency_runs, samples=model.meta.clip_samples) if latency_runs else {}
    rows = []
    for r in result.orders:
        key = f"keep{tuple(r.keep)}" if len(r.keep) < model.num_layers else "original"
        rows.append({**asdict(r), "params": count_parameters(models[key]).as_dict(),
                     "latency_ms": latency[key].as_dict() if latency else None,
                     "latency_ratio": latency[key].p50_ms / latency["original"].p50_ms if latency else None})
    summary = {
        "model": str(model_src), "data": {**ds.describe(), **{f"{s}_clips": len(c) for s, c in clips.items()},
                                          "calib_clips": len(calib_clips), "calibration": calib_info,
                                          "skipped": [x for c in clips.values() for x in c.skipped]},
        "config": result.config, "heal": result.heal, "n_layers": result.n_layers, "bi": result.bi,
        "baseline_val_accuracy": result.baseline_val_accuracy, "target_val_accuracy": result.target_val_accuracy,
        "original": {"params": count_parameters(model).as_dict(), "test_accuracy": result.baseline_test_accuracy,
                     "latency_ms": latency["original"].as_dict() if latency else None},
        "orders": rows, "best": result.best, "kept_layers": best.keep,
        "removed_layers": best.removal[: best.removed_at_target],
        "heal_seconds": result.heal_seconds(),
        "safe": asdict(result.safe) if result.safe else None, "point": asdict(result.point) if result.point else None,
        "depths": [asdict(cut) for cut in result.depths],
        "pruned_model": str(out / "model"), "pruned_test_accuracy": test_check,
        "latency_setup": {"device": "cpu", "batch": 1, "clip_samples": model.meta.clip_samples, "runs": latency_runs},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / RESULT).write_text(json.dumps(summary, indent=2))
    curves_figure(result, out / "curves.png")
    shutil.rmtree(out / ".spc-heal", ignore_errors=True)
    return summary
