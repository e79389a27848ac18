"""The clips a model is measured on before pruning (Block Influence, layer similarity): a calibration manifest's
clips, or a seeded class-balanced sample of the validation split. One rule shared by prune and compress."""

from __future__ import annotations

from pathlib import Path

from ..data import DataConfig, load_clips
from ..data.clips import ClipSet, map_labels
from .manifest import load_clips_from_manifest, load_manifest, manifest_hash


def calibration_clips(model, dataset, data: DataConfig, n_clips: int, seed: int,
                      calib: str | Path | None) -> tuple[ClipSet, dict | None]:
    """(clips, what they are): ``calib``'s clips where given (its hash and split recorded), else ``n_clips``
    seeded clips of the validation split; in the model's class order, at its rate and clip length."""
    order = map_labels(model.labels, dataset.labels, by_name=data.subset)
    rate, seconds = model.meta.sampling_rate, model.meta.clip_seconds
    if calib is None:
        return load_clips(dataset, "validation", rate=rate, clip_seconds=seconds, labels=order, limit=n_clips,
                          seed=seed, show_progress=False), None
    manifest = load_manifest(calib)
    info = {"manifest": str(calib), "hash": manifest_hash(manifest), "split": manifest["split"]}
    return load_clips_from_manifest(manifest, data.root, rate=rate, clip_seconds=seconds, labels=order), info
