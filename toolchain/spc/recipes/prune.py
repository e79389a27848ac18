"""Prune whole layers of a fine-tuned model under a retention target, with no retraining.

Stages: check the settings and the data -> read validation (calibration sample drawn from it)
and test clips -> score every order on cached stack inputs -> cut the best order's layers and save
a normal transformers checkpoint -> reload it and evaluate on the test split -> parameters and
CPU latency of each order's model next to the original's -> JSON, PNG.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..data import load_clips, map_labels, open_dataset
from ..errors import SpcError
from ..evaluate import evaluate, torch_predictor
from ..latency import torch_cpu_latency
from ..models import load_model, save_model
from ..params import count_parameters
from ..prune import PruneConfig, prune_model, prune_search
from ..prune.plots import curves_figure
from .finetune import prepare_out_dir

RESULT = "prune.json"


def run_prune(model_src: str | Path, data_dir: str | Path, out_dir: str | Path, *,
              config: PruneConfig = PruneConfig(), layout: str = "auto", by_name: bool = False,
              overwrite: bool = False, latency_runs: int = 20, show_progress: bool = True,
              data_options: dict | None = None, calib: str | Path | None = None) -> dict:
    """Run the recipe; writes ``out/model`` (the pruned checkpoint), ``out/prune.json`` and ``out/curves.png``."""
    out = Path(out_dir)
    model = load_model(model_src)
    config.validate(model.num_layers)
    ds = open_dataset(data_dir, layout, **(data_options or {}))
    order = map_labels(model.labels, ds.labels, by_name=by_name)
    n_val = len(ds.split("validation"))
    if n_val < config.clips_needed():
        raise SpcError(
            f"the validation split of {ds.root} has {n_val} clips; measuring a {config.retention:.0%} retention "
            f"target needs at least {config.clips_needed()} (so that {config.min_steps} clips fit in the tolerance)"
        )
    ds.split("test")
    prepare_out_dir(out, RESULT, overwrite)
    kw = dict(rate=model.meta.sampling_rate, clip_seconds=model.meta.clip_seconds, labels=order,
              show_progress=show_progress)
    val = load_clips(ds, "validation", **kw)
    calib_info = None
    if calib is not None:
        from ..calib import load_clips_from_manifest, load_manifest, manifest_hash

        manifest = load_manifest(calib)
        calib_info = {"manifest": str(calib), "hash": manifest_hash(manifest), "split": manifest["split"]}
        calib = load_clips_from_manifest(manifest, data_dir, rate=kw["rate"], clip_seconds=kw["clip_seconds"],
                                         labels=order)
    else:
        calib = load_clips(ds, "validation", limit=config.calib_clips, seed=config.seed, **kw)
    test = load_clips(ds, "test", **kw)
    t0 = time.perf_counter()
    result = prune_search(model, val, calib, config, test=test, show_progress=show_progress)

    best = result.order(result.best)
    pruned = prune_model(model, best.keep)
    pruned.meta.provenance = {**pruned.meta.provenance, "recipe": "prune", "teacher": str(model_src),
                              "order": best.name, "retention": config.retention}
    save_model(pruned, out / "model", pruned.meta.provenance)
    reloaded = load_model(out / "model")
    test_check = evaluate(torch_predictor(reloaded), test, config.batch_size).accuracy

    models = {"original": model}
    for r in result.orders:
        models.setdefault(f"keep{tuple(r.keep)}", prune_model(model, r.keep) if len(r.keep) < model.num_layers else model)
    latency = torch_cpu_latency(models, runs=latency_runs) if latency_runs else {}
    base_ms = latency["original"].p50_ms if latency else None
    rows = []
    for r in result.orders:
        key = f"keep{tuple(r.keep)}"
        params = count_parameters(models[key]).as_dict()
        rows.append({**r.__dict__, "params": params,
                     "latency_ms": latency[key].as_dict() if latency else None,
                     "latency_ratio": (latency[key].p50_ms / base_ms) if latency else None})
    summary = {
        "model": str(model_src), "data": {**ds.describe(), "val_clips": len(val), "calib_clips": len(calib),
                                          "test_clips": len(test), "skipped": val.skipped + test.skipped,
                                          "calibration": calib_info},
        "config": result.config, "n_layers": result.n_layers, "bi": result.bi,
        "baseline_val_accuracy": result.baseline_val_accuracy, "target_val_accuracy": result.target_val_accuracy,
        "original": {"params": count_parameters(model).as_dict(),
                     "test_accuracy": result.baseline_test_accuracy,
                     "latency_ms": latency["original"].as_dict() if latency else None},
        "orders": rows, "best": result.best, "kept_layers": best.keep, "removed_layers": best.removal[: best.removed_at_target],
        "pruned_model": str(out / "model"), "pruned_test_accuracy": test_check,
        "latency_setup": {"device": "cpu", "batch": 1, "clip_samples": 16000, "runs": latency_runs},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / RESULT).write_text(json.dumps(summary, indent=2))
    curves_figure(result, out / "curves.png")
    return summary
