"""Keyword-spotting data sets: readers for each layout, and clips loaded as fixed-length arrays."""

from .clips import ClipSet, load_clips, map_labels
from .config import DataConfig, as_data_config, clips_for
from .dataset import ClipItem, KwsDataset
from .reader import open_dataset

__all__ = ["DataConfig", "as_data_config", "clips_for", "ClipItem", "KwsDataset", "open_dataset", "ClipSet", "load_clips", "map_labels"]
