"""Analyse a model's layer similarity on a class-balanced calibration sample of a split.

Stages: read the data -> sample ``n_clips`` class-balanced clips (seeded) -> stream them through
the model, reducing each batch of hidden states -> blocks and BI -> JSON, PNG figures.
"""

from __future__ import annotations

from pathlib import Path

from ..analysis.plots import write_figures
from ..analysis.run import AnalysisConfig, AnalysisResult, analyze_model, check_enough_clips
from ..data import DataConfig, as_data_config, load_clips, map_labels
from ..errors import SpcError
from ..fileio import check_output_dir, refuse_overlap
from ..models import load_model

RESULT = "analysis.json"


def run_analysis(model_src: str | Path, data: DataConfig | str | Path, out_dir: str | Path, *,
                 config: AnalysisConfig = AnalysisConfig(), show_progress: bool = True,
                 calib: str | Path | None = None) -> AnalysisResult:
    """Run the recipe; writes ``out/analysis.json`` and ``out/*.png``."""
    if config.n_clips < 4:
        raise SpcError(f"--clips must be at least 4 (CKA's unbiased estimator), got {config.n_clips}")
    if config.k < 1:
        raise SpcError(f"--k must be at least 1, got {config.k}")
    if config.batch_size <= config.k:
        raise SpcError(f"--batch-size ({config.batch_size}) must exceed --k ({config.k}) for mutual kNN")
    if calib is None:  # a calibration manifest's own size is checked once it is read
        check_enough_clips(config.n_clips, config)
    data = as_data_config(data)
    refuse_overlap({"output folder": out_dir}, {"model": model_src, "data folder": data.root, "calibration manifest": calib})
    out = check_output_dir(out_dir)  # before the analysis runs, not after
    model = load_model(model_src)
    ds = data.open(show_notes=True)
    order = map_labels(model.labels, ds.labels, by_name=data.subset)
    calib_info = None
    if calib is not None:
        from ..calib import load_clips_from_manifest, load_manifest, manifest_hash

        manifest = load_manifest(calib)
        clips = load_clips_from_manifest(manifest, data.root, rate=model.meta.sampling_rate,
                                         clip_seconds=model.meta.clip_seconds, labels=order)
        calib_info = {"manifest": str(calib), "hash": manifest_hash(manifest), "split": manifest["split"]}
    else:
        clips = load_clips(ds, config.split, rate=model.meta.sampling_rate, clip_seconds=model.meta.clip_seconds,
                           labels=order, limit=config.n_clips, seed=config.seed, show_progress=show_progress)
    result = analyze_model(model, clips, config, show_progress, model_name=str(model_src))
    result.data = {**ds.describe(), "split": config.split, "clips_used": len(clips), "skipped": clips.skipped,
                   "calibration": calib_info}
    out.mkdir(parents=True, exist_ok=True)
    result.to_json(out / RESULT)
    write_figures(result, out)
    return result
