"""Clips of a split loaded into memory as one fixed-length float32 array, bad files skipped and listed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..audio import BadAudio, fix_length, read_audio
from ..errors import SpcError
from ..progress import track
from .hf_rows import RowReaders
from .dataset import ClipItem, KwsDataset


@dataclass
class ClipSet:
    """``audio`` (N x S float32), ``targets`` (N, int64) indexing ``labels``; ``skipped``: (path, reason).

    ``paths`` name each clip as ``ClipItem.source`` does (``file``, ``file@start``, ``folder[split:row]``);
    ``skipped`` holds the files that could not be read and those the folder reader left out.

    ``label_mapping``: how the data's classes were matched to a model's (``LabelOrder.record()``),
    when they were loaded in a model's order.
    """

    audio: np.ndarray
    targets: np.ndarray
    labels: list[str]
    paths: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    label_mapping: dict | None = None

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, index: Sequence[int] | np.ndarray) -> "ClipSet":
        index = np.asarray(index, dtype=np.int64)
        return ClipSet(self.audio[index], self.targets[index], self.labels, [self.paths[i] for i in index], [],
                       self.label_mapping)


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
    good, reasons, long = _read_into(audio, items, rate, f"reading {split}", show_progress)
    kept, usable = 0, np.flatnonzero(good)
    for i in usable:  # close the gaps in place, in the split's order (no second array)
        if kept != i:
            audio[kept] = audio[i]
        kept += 1
    # files the folder reader already left out (dangling links) belong to the whole split, not to a sample of it
    skipped = list(dataset.skipped.get(split, [])) if limit is None else []
    skipped += [(items[i].path if items[i].row is None else items[i].source(), reasons[i]) for i in sorted(reasons)]
    if kept == 0:
        raise SpcError(f"split '{split}' of {dataset.root} has no usable clips ({len(skipped)} bad files)")
    _warn_long(long, split, clip_seconds)
    targets = [index[items[i].label] for i in usable]
    paths = [items[i].source() for i in usable]
    mapping = labels.record() if isinstance(labels, LabelOrder) else None
    return ClipSet(audio[:kept], np.asarray(targets, dtype=np.int64), order, paths, skipped, mapping)


def _read_into(audio: np.ndarray, items: list[ClipItem], rate: int, what: str,
               show_progress: bool) -> tuple[np.ndarray, dict[int, str], list[tuple[str, float]]]:
    """Read each item into its row of ``audio`` (N, samples), cut or padded to the row's length.

    Returns which rows were read (N,) bool, why each other one was not, and the clips far longer than a row.
    """
    n = audio.shape[1]
    good = np.zeros(len(items), dtype=bool)
    reasons: dict[int, str] = {}
    rows = RowReaders()  # rows of datasets folders: each split opened once
    long: list[tuple[str, float]] = []
    for i in track(_read_order(items), what, show=show_progress):
        it = items[i]
        try:
            x = rows.read(it, rate) if it.row is not None else read_audio(it.path, rate, it.start, it.duration)
        except BadAudio as exc:
            reasons[i] = str(exc)
            continue
        if len(x) > LONG_CLIPS * n:
            long.append((it.source(), len(x) / rate))
        audio[i] = fix_length(x, n)
        good[i] = True
    return good, reasons, long


def _warn_long(long: list[tuple[str, float]], split: str, clip_seconds: float) -> None:
    """One warning for the clips that are recordings rather than clips (each was centre-cropped)."""
    if not long:
        return
    from ..console import warn

    worst = max(long, key=lambda x: x[1])
    warn(f"{len(long)} clip{'s' if len(long) != 1 else ''} of split '{split}' last more than {LONG_CLIPS} times the "
         f"{clip_seconds:g} s clip (longest: {worst[0]}, {worst[1]:.1f} s): each is centre-cropped to "
         f"{clip_seconds:g} s; long recordings are streams (spc run --stream, stream-eval --negatives), not clips")


#: a clip longer than this many clip lengths is not a clip (a recording read as one): said when it is cropped
LONG_CLIPS = 3


def _read_order(items: list[ClipItem]) -> list[int]:
    """The order to read ``items`` in: files as listed, then rows of datasets folders by folder, split and row.

    Reading rows in their stored order reads each stored block once, even for a shuffled sample.
    """
    files = [i for i, it in enumerate(items) if it.row is None]
    rows = sorted((i for i, it in enumerate(items) if it.row is not None),
                  key=lambda i: (items[i].path, items[i].split or "", items[i].row))
    return files + rows


def balanced_indices(labels: Sequence[str], limit: int, seed: int | None = None) -> list[int]:
    """Indices of at most ``limit`` items taken class by class in turn (classes in sorted order; within a class
    in order, or shuffled with ``seed``): a class-balanced sample."""
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    out: list[int] = []
    queues = [list(v) for _, v in sorted(by_label.items())]
    if seed is not None:
        rng = np.random.default_rng(seed)
        queues = [[q[i] for i in rng.permutation(len(q))] for q in queues]
    while len(out) < limit and any(queues):
        for q in queues:
            if q and len(out) < limit:
                out.append(q.pop(0))
    return out


def _balanced_head(items: list[ClipItem], limit: int, seed: int | None = None) -> list[ClipItem]:
    return [items[i] for i in balanced_indices([it.label for it in items], limit, seed)]


class LabelSubsetError(SpcError):
    """The data holds only some of the model's classes: mapping them is allowed only when asked for."""


class LabelOrder(list):
    """The class order to load the data in (a plain list of names), and how it was matched to the model.

    ``mode``: "identical" (the same list), "by_name" (the same classes in another order, mapped by
    name), or "subset" (fewer classes than the model, mapped by name on request).
    """

    def __init__(self, order: Sequence[str], mode: str, model_labels: Sequence[str], data_labels: Sequence[str]):
        super().__init__(order)
        self.mode = mode
        self.model_labels, self.data_labels = list(model_labels), list(data_labels)

    @property
    def note(self) -> str | None:
        """One line for the user when the classes were matched by name; None when the lists are identical."""
        if self.mode == "by_name":
            return f"classes matched by name: the data's {len(self.data_labels)} classes are the model's in another order"
        if self.mode == "subset":
            missing = [c for c in self.model_labels if c not in set(self.data_labels)]
            return (f"classes matched by name: the data holds {len(self.data_labels)} of the model's "
                    f"{len(self.model_labels)} classes (not in the data: {', '.join(missing)})")
        return None

    def record(self) -> dict:
        """The ``label_mapping`` entry for a JSON output: mode, both class lists, and the note."""
        return {"mode": self.mode, "model_labels": self.model_labels, "data_labels": self.data_labels,
                "note": self.note}


def map_labels(model_labels: Sequence[str], data_labels: Sequence[str], by_name: bool = False,
               hint: str = "") -> LabelOrder:
    """Match the data's classes to the model's; return the class order to load the data in (a ``LabelOrder``).

    Identical lists pass; the same classes in another order are mapped by name (nothing is
    ambiguous). Fewer classes than the model are mapped by name only with ``by_name``, else a
    ``LabelSubsetError`` (``hint``, from a caller that has a way to ask, ends its message). Classes
    the model does not know are always an error. Messages name no command-line option.
    """
    model_labels, data_labels = list(model_labels), list(data_labels)
    if model_labels == data_labels:
        return LabelOrder(model_labels, "identical", model_labels, data_labels)
    extra = [c for c in data_labels if c not in set(model_labels)]
    if extra:
        raise SpcError(f"the data has classes the model does not know: {', '.join(extra)} "
                       f"(the model's classes: {', '.join(model_labels)})")
    if set(model_labels) == set(data_labels):
        return LabelOrder(model_labels, "by_name", model_labels, data_labels)
    if by_name:
        return LabelOrder(model_labels, "subset", model_labels, data_labels)
    missing = [c for c in model_labels if c not in set(data_labels)]
    raise LabelSubsetError(f"the data holds only {len(set(data_labels))} of the model's {len(model_labels)} classes "
                           f"(not in the data: {', '.join(missing)})" + (f"; {hint}" if hint else ""))
