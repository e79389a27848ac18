"""Keyword-spotting data sets: readers for each layout, and clips loaded as fixed-length arrays."""

from .clips import ClipSet, load_clips, map_labels
from .layouts import ClipItem, KwsDataset, open_dataset

__all__ = ["ClipItem", "KwsDataset", "open_dataset", "ClipSet", "load_clips", "map_labels"]
