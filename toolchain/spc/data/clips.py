"""Clips of a split loaded into memory as one fixed-length float32 array, bad files skipped and listed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..audio import BadAudio, fix_length, read_audio
from ..errors import SpcError
from ..progress import track
from .layouts import ClipItem, KwsDataset


@dataclass
class ClipSet:
    """``audio`` (N x S float32), ``targets`` (N, int64) indexing ``labels``; ``skipped``: (path, reason)."""

    audio: np.ndarray
    targets: np.ndarray
    labels: list[str]
    paths: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, index: Sequence[int] | np.ndarray) -> "ClipSet":
        index = np.asarray(index, dtype=np.int64)
        return ClipSet(self.audio[index], self.targets[index], self.labels, [self.paths[i] for i in index], [])


def load_clips(
    dataset: KwsDataset,
    split: str,
    *,
    rate: int = 16000,
    clip_seconds: float = 1.0,
    labels: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int | None = None,
    show_progress: bool = True,
) -> ClipSet:
    """Read every clip of ``split``: mono, ``rate`` Hz, ``clip_seconds`` long; unusable files are skipped.

    ``labels`` fixes the class order (a model's); by default the data set's. ``limit`` takes clips
    from each class in turn (round robin), so a small set stays class-balanced; with ``seed`` the
    clips of each class are shuffled first (a seeded class-balanced sample), else taken in order.
    """
    items = dataset.split(split)
    order = list(labels) if labels is not None else dataset.labels
    index = {name: i for i, name in enumerate(order)}
    missing = sorted({it.label for it in items} - set(index))
    if missing:
        raise SpcError(f"labels {missing} of split '{split}' are not among the classes {order}")
    if limit is not None:
        items = _balanced_head(items, limit, seed)
    n = int(round(rate * clip_seconds))
    audio = np.zeros((len(items), n), dtype=np.float32)
    targets, paths, skipped, kept = [], [], [], 0
    for it in track(items, f"reading {split}", show=show_progress):
        try:
            x = read_audio(it.path, rate, it.start, it.duration)
        except BadAudio as exc:
            skipped.append((it.path, str(exc)))
            continue
        audio[kept] = fix_length(x, n)
        targets.append(index[it.label])
        paths.append(it.path if not it.start else f"{it.path}@{it.start}")
        kept += 1
    if kept == 0:
        raise SpcError(f"split '{split}' of {dataset.root} has no usable clips ({len(skipped)} bad files)")
    return ClipSet(audio[:kept], np.asarray(targets, dtype=np.int64), order, paths, skipped)


def _balanced_head(items: list[ClipItem], limit: int, seed: int | None = None) -> list[ClipItem]:
    by_label: dict[str, list[ClipItem]] = {}
    for it in items:
        by_label.setdefault(it.label, []).append(it)
    out: list[ClipItem] = []
    queues = [list(v) for _, v in sorted(by_label.items())]
    if seed is not None:
        rng = np.random.default_rng(seed)
        queues = [[q[i] for i in rng.permutation(len(q))] for q in queues]
    while len(out) < limit and any(queues):
        for q in queues:
            if q and len(out) < limit:
                out.append(q.pop(0))
    return out


def map_labels(model_labels: Sequence[str], data_labels: Sequence[str], by_name: bool = False) -> list[str]:
    """Check that data and model classes agree; return the class order to load the data in.

    Identical lists pass. With ``by_name``, data classes that are a subset of the model's are
    mapped onto the model's indices by name. Anything else is a user error naming the difference.
    """
    model_labels, data_labels = list(model_labels), list(data_labels)
    if model_labels == data_labels:
        return model_labels
    extra = sorted(set(data_labels) - set(model_labels))
    if by_name and not extra:
        return model_labels
    hint = "" if by_name else " (use --map-labels to match classes by name)"
    if extra:
        raise SpcError(f"the data has classes the model does not know: {extra}{hint}")
    if set(model_labels) == set(data_labels):
        raise SpcError(f"the model and the data order their classes differently{hint}")
    raise SpcError(
        f"the model's classes {model_labels} differ from the data's {data_labels}{hint}"
    )
