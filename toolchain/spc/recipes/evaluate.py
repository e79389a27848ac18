"""Evaluate a model on a split of a data set, with label checking and bad-file accounting."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..data import DataConfig, as_data_config, load_clips, map_labels
from ..accuracy import EvalResult, evaluate, torch_predictor
from ..models import load_model
from ..torch_device import resolve_device
from ..errors import SpcError

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class EvalConfig:
    """What ``spc eval`` scores (``split``) and how (``batch_size``, torch ``device``)."""

    split: str = "test"
    batch_size: int = 32
    device: str = "auto"
    version: int = 1

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise SpcError(f"unknown split '{self.split}'; choose {', '.join(SPLITS)}")
        if self.batch_size < 1:
            raise SpcError(f"the batch size must be at least 1, got {self.batch_size}")

    def as_dict(self) -> dict:
        return asdict(self)


def run_eval(model_src: str | Path, data: DataConfig | str | Path, config: EvalConfig = EvalConfig(), *,
             show_progress: bool = True) -> EvalResult:
    """Load the model and the split, check the classes agree, and score the model (the result records ``config``)."""
    torch_device = resolve_device(config.device)  # a bad device name fails before any loading
    model = load_model(model_src)
    data = as_data_config(data)
    ds = data.open(show_notes=True)
    ds.split(config.split)  # an empty split is an error before the model runs
    order = map_labels(model.labels, ds.labels, by_name=data.subset)
    clips = load_clips(
        ds, config.split, rate=model.meta.sampling_rate, clip_seconds=model.meta.clip_seconds,
        labels=order, show_progress=show_progress,
    )
    result = evaluate(torch_predictor(model, torch_device), clips, config.batch_size, show_progress)
    result.config = config.as_dict()
    return result
