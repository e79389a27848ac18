"""Run the similarity analysis of a model over a calibration set of clips, batch by batch."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.clips import ClipSet
from ..errors import SpcError, SpcInternalError
from ..fileio import read_json
from ..progress import track
from .accumulate import SimilarityAccumulator
from .blocks import find_blocks
from .metrics import block_influence

METRICS = ("cosine", "cosine_frames", "cka", "cka_batch_biased", "mutual_knn")


@dataclass(frozen=True)
class AnalysisConfig:
    """Settings of an analysis run (recorded in its JSON)."""

    n_clips: int = 256
    batch_size: int = 64
    k: int = 10
    seed: int = 0
    split: str = "validation"
    block_metric: str = "cka"
    device: str = "auto"
    version: int = 1

    def __post_init__(self) -> None:
        if self.n_clips < 4 or self.batch_size < 1 or self.k < 1:
            raise SpcError("analysis needs at least 4 clips, a batch size of 1 or more and k >= 1")
        if self.split not in ("train", "validation"):
            raise SpcError(f"analysis reads the train or validation split, not '{self.split}'")


@dataclass
class AnalysisResult:
    """Similarity matrices over hidden states h_0..h_L, Block Influence per layer, and blocks.

    ``bi`` lists layers by their 0-based index in the stack: BI of layer j = 1 - cos(h_j, h_{j+1}).
    """

    model: str
    n_layers: int
    n_clips: int
    matrices: dict[str, list[list[float]]]
    bi: dict[str, list[float]]
    blocks: dict[str, dict]
    settings: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)

    def lowest_bi(self, count: int = 3, variant: str = "frames") -> list[int]:
        """The ``count`` layers with the lowest Block Influence (least change: first to prune)."""
        return [int(i) for i in np.argsort(self.bi[variant], kind="stable")[:count]]

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def from_json(cls, path: str | Path) -> "AnalysisResult":
        """An earlier ``analysis.json``; one user error line where it is damaged or not an analysis."""
        data = read_json(path, "analysis")
        try:
            result = cls(**data)
        except TypeError:
            raise SpcError(f"{path} is not an spc analysis.json (fields {sorted(data)[:6]})") from None
        if not all(isinstance(getattr(result, k), dict) for k in ("matrices", "bi", "blocks")):
            raise SpcError(f"{path} is a damaged analysis.json (matrices, bi and blocks must be objects)")
        return result


def summarize(acc: SimilarityAccumulator, model_name: str, block_metric: str) -> AnalysisResult:
    """Turn filled accumulators into matrices, BI scores and blocks."""
    mats = {k: v.numpy() for k, v in acc.result().items()}
    n_layers = acc.n_states - 1
    bi = {
        "frames": block_influence(np.diagonal(mats["cosine_frames"], 1)).tolist(),
        "flat": block_influence(np.diagonal(mats["cosine"], 1)).tolist(),
    }
    blocks = {}
    for name, m in mats.items():
        found, tau = find_blocks(m)
        blocks[name] = {"tau": tau, "blocks": [b.as_dict() for b in found]}
    if block_metric not in mats:  # check_enough_clips refuses this before any clip runs
        raise SpcInternalError(f"the {block_metric} matrix was not computed ({acc.clips} clips, k={acc.k})")
    blocks["primary"] = {"metric": block_metric}
    return AnalysisResult(model_name, n_layers, acc.clips, {k: v.tolist() for k, v in mats.items()}, bi, blocks)


def check_enough_clips(n_clips: int, config: AnalysisConfig) -> None:
    """Refuse a calibration set too small for the block metric (CKA needs 4 clips, mutual kNN more than k)."""
    if config.block_metric not in METRICS:
        raise SpcError(f"unknown block metric '{config.block_metric}'; choose one of {', '.join(METRICS)}")
    batch = min(n_clips, config.batch_size)
    if config.block_metric.startswith("cka") and batch < 4:
        raise SpcError(f"CKA needs at least 4 clips per batch; the calibration set has {n_clips} "
                       f"(batch size {config.batch_size})")
    if config.block_metric == "mutual_knn" and batch <= config.k:
        raise SpcError(f"mutual kNN with k={config.k} needs more than {config.k} clips per batch; the calibration "
                       f"set has {n_clips} (batch size {config.batch_size}): lower k or use more clips")


def analyze_model(model, clips: ClipSet, config: AnalysisConfig = AnalysisConfig(), show_progress: bool = True,
                  model_name: str = "") -> AnalysisResult:
    """Stream ``clips`` through ``model`` (a ``SpeechClassifier``) and reduce every batch of hidden states."""
    from ..torch_device import resolve_device

    check_enough_clips(len(clips), config)
    device = resolve_device(config.device)
    model = model.to(device).eval()
    acc = SimilarityAccumulator(model.num_layers + 1, k=config.k)
    starts = range(0, len(clips), config.batch_size)
    for s in track(starts, "analysing", show=show_progress):
        audio = torch.from_numpy(clips.audio[s : s + config.batch_size]).to(device)
        with torch.inference_mode():
            hiddens = model.hidden_states(audio)
            acc.update(hiddens)
        del hiddens
    result = summarize(acc, model_name or model.meta.source, config.block_metric)
    result.settings = asdict(config)
    return result
