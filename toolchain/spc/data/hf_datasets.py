"""Hugging Face ``datasets`` folders as a ``KwsDataset``, read in place, their audio decoded by spc itself.

Forms (told apart by their files):
  save_to_disk  ``DatasetDict.save_to_disk`` (``dataset_dict.json``, a folder per split) or
                ``Dataset.save_to_disk`` (``dataset_info.json`` + ``state.json``: one split)
  parquet       the hub's Parquet layout: ``data/train-00000-of-00001.parquet``, ``train/0000.parquet``,
                ``default/test/0000.parquet``; a file's split is the split word in its name or folders
A folder needs an ``audio`` column and a ``label`` (or ``labels``) column whose ``ClassLabel`` names
are the classes, in their order (a column of strings works too: its values, sorted). Split names
follow ``datasets``: "valid", "val" and "dev" are validation, "eval" is test.

The audio is read as stored (``Audio(decode=False)``: the encoded file's bytes, or a path) and decoded
with soundfile, so neither torchcodec nor FFmpeg is needed, and nothing is copied out. A clip is a
``ClipItem`` whose ``path`` is the folder and ``row``/``split`` its place; ``hf_rows.RowReaders`` opens
each split once. ``datasets`` is an optional extra (``pip install 'spc[hf]'``), imported only here.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path


from ..errors import SpcError
from ..fileio import first_line
from .dataset import SPLITS, ClipItem, KwsDataset
from .scan import is_hidden

AUDIO_COLUMN = "audio"
LABEL_COLUMNS = ("label", "labels")
# the split words of datasets' own data-file patterns (datasets.data_files), each to spc's split
SPLIT_WORDS = {"train": "train", "training": "train",
               "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
               "test": "test", "testing": "test", "eval": "test", "evaluation": "test"}


def require_datasets():
    """The ``datasets`` module, or a one-line user error saying how to install it."""
    try:
        import datasets
    except ImportError:
        raise SpcError("reading a Hugging Face datasets folder needs the datasets library: "
                       "pip install 'spc[hf]'") from None
    return datasets


def split_name(name: str) -> str | None:
    """spc's split for a datasets split or file name ("valid" -> "validation", "train-00000-of-00002" -> "train")."""
    for word in re.split(r"[^a-z0-9]+", name.lower()):
        if word in SPLIT_WORDS:
            return SPLIT_WORDS[word]
    return None


def hf_form(root: Path) -> str | None:
    """Which datasets form ``root`` is: "dataset_dict", "dataset" (one split), "parquet", or None."""
    if (root / "dataset_dict.json").is_file():
        return "dataset_dict"
    if (root / "dataset_info.json").is_file() and (root / "state.json").is_file():
        return "dataset"
    if _parquet_files(root):
        return "parquet"
    return None


def is_hf_dataset(root: Path) -> bool:
    """True for a folder ``datasets`` wrote (``save_to_disk``) or the hub's Parquet layout."""
    return hf_form(root) is not None


def _parquet_files(root: Path) -> list[Path]:
    """Parquet files at the top, anywhere under ``data/``, in a split folder, or in CONFIG/SPLIT folders."""
    found = [Path(f.path) for f in _entries(root) if f.name.endswith(".parquet") and f.is_file()]
    for d in (Path(e.path) for e in _entries(root) if e.is_dir() and not is_hidden(e.name)):
        if d.name == "data" or split_name(d.name):
            found += sorted(f for f in d.rglob("*.parquet")
                            if f.is_file() and not any(is_hidden(part) for part in f.relative_to(root).parts))
        else:  # CONFIG/SPLIT: a class folder of another layout is listed once, its files never opened
            for e in (Path(e.path) for e in _entries(d) if e.is_dir() and split_name(e.name)):
                found += [Path(f.path) for f in _entries(e) if f.name.endswith(".parquet") and f.is_file()]
    return found


def _entries(folder: Path) -> list[os.DirEntry]:
    """The entries of ``folder`` sorted by name (``os.scandir``: telling folders from files costs no ``stat``)."""
    with os.scandir(folder) as it:
        return sorted(it, key=lambda e: e.name)


def parquet_splits(root: Path) -> tuple[dict[str, list[Path]], list[str]]:
    """The Parquet files of each split (by the split word in the file name, else in its folders), and notes.

    Files without a split word are train when no file has one (as ``datasets`` reads them), else left
    out with a note. Files of several configurations (``a/train/...``, ``b/train/...``) are a user error.
    """
    files = _parquet_files(root)
    placed: list[tuple[Path, str | None, str]] = []
    for f in files:
        parts = f.relative_to(root).parts
        split, config = split_name(Path(parts[-1]).stem), "/".join(parts[:-1])
        for i in range(len(parts) - 2, -1, -1):  # the nearest folder with a split word, when the name has none
            if split is not None:
                break
            if (split := split_name(parts[i])) is not None:
                config = "/".join(parts[:i])
        placed.append((f, split, config))
    configs = sorted({c for _, s, c in placed if s is not None and c not in ("", "data")})
    if len(configs) > 1:
        raise SpcError(f"{root} holds the Parquet files of several configurations ({', '.join(configs)}): "
                       "give the folder of one of them")
    out: dict[str, list[Path]] = {}
    if all(s is None for _, s, _ in placed):
        return ({"train": [f for f, _, _ in placed]} if placed else {}), []
    for f, split, _ in placed:
        if split is not None:
            out.setdefault(split, []).append(f)
    loose = [f for f, s, _ in placed if s is None]
    if not loose:
        return out, []
    return out, [f"{len(loose)} Parquet file{'s' if len(loose) != 1 else ''} with no split in the name "
                 f"{'are' if len(loose) != 1 else 'is'} left out (first: {loose[0].relative_to(root).as_posix()})"]


def _label_column(features, where: str) -> str:
    """The label column of ``features``: ``label``, else ``labels``; a user error naming the columns if neither."""
    for name in LABEL_COLUMNS:
        if name in features:
            return name
    raise SpcError(f"{where} has no label column (label or labels); its columns: {', '.join(features)}")


def _class_names(feature, column: str, where: str) -> list[str] | None:
    """The ``ClassLabel`` names of the label column; None for a column of strings; else a user error."""
    datasets = require_datasets()
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    if isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string"):
        return None
    raise SpcError(f"{where}: column '{column}' is {feature!r}, not a ClassLabel (or text) with one class per clip")


def _check_audio_column(features, where: str) -> None:
    """A user error naming the columns when there is no ``audio`` column."""
    if AUDIO_COLUMN not in features:
        raise SpcError(f"{where} has no '{AUDIO_COLUMN}' column; its columns: {', '.join(features)}")


# ------------------------------------------------------------------ reading the folder's lists
@dataclass
class _Part:
    """One split as read from the folder: spc's split, the folder's own name for it, its label values."""

    split: str
    own: str | None
    labels: list
    column: str
    names: list[str] | None  # the ClassLabel names; None for text labels


def read_hf_dataset(root: Path) -> KwsDataset:
    """A datasets folder (any form, see the module) as a ``KwsDataset`` of rows, with its own splits."""
    form = hf_form(root)
    if form is None:
        raise SpcError(f"{root} is not a Hugging Face datasets folder (no dataset_dict.json, state.json "
                       "or Parquet files)")
    parts, notes = (_parquet_parts(root) if form == "parquet" else _saved_parts(root, form))
    names = _common_classes(root, parts)
    splits: dict[str, list[ClipItem]] = {s: [] for s in SPLITS}
    for part in parts:
        items, unlabelled = _items(root, part, names)
        splits[part.split] += items
        if unlabelled:
            notes.append(f"split '{part.own or part.split}': {unlabelled} row{'s' if unlabelled != 1 else ''} "
                         f"{'have' if unlabelled != 1 else 'has'} no label (-1 or none) and "
                         f"{'are' if unlabelled != 1 else 'is'} left out")
    held = [s for s in SPLITS if splits[s]]
    why = f"this datasets folder holds only the {' and '.join(held)} split{'s' if len(held) != 1 else ''}"
    return KwsDataset(str(root), "hf-datasets", names, splits,
                      {"form": "parquet" if form == "parquet" else "save_to_disk", "label_column": parts[0].column},
                      why_empty=why, notes=notes)


def _items(root: Path, part: _Part, names: list[str]) -> tuple[list[ClipItem], int]:
    """The labelled rows of a split as clips, and how many rows have no usable label (-1, none, out of range)."""
    known = set(names)
    items, unlabelled = [], 0
    for row, value in enumerate(part.labels):
        if part.names is None:
            label = value if isinstance(value, str) and value in known else None
        else:
            label = names[value] if isinstance(value, int) and 0 <= value < len(names) else None
        if label is None:
            unlabelled += 1
        else:
            items.append(ClipItem(str(root), label, row=row, split=part.own))
    return items, unlabelled


def _saved_parts(root: Path, form: str) -> tuple[list[_Part], list[str]]:
    """The splits of a ``save_to_disk`` folder: label values and class names of each, and notes."""
    datasets = require_datasets()
    if form == "dataset":
        own = _saved_split_name(root)
        folders: dict[str | None, Path] = {None: root}
        mapped = {None: split_name(own) if own else None}
        notes = [] if mapped[None] else [f"{root} is one datasets split with no train/validation/test name "
                                         f"({own or 'none'}): read as train"]
        mapped[None] = mapped[None] or "train"
    else:
        try:
            own_names = [str(n) for n in json.loads((root / "dataset_dict.json").read_text())["splits"]]
        except (OSError, ValueError, KeyError, TypeError):
            raise SpcError(f"{root / 'dataset_dict.json'} is damaged: it should list the splits") from None
        folders = {n: root / n for n in own_names}
        mapped = {n: split_name(n) for n in own_names}
        left = [n for n in own_names if mapped[n] is None]
        notes = [f"datasets split{'s' if len(left) != 1 else ''} {', '.join(left)} "
                 f"{'are' if len(left) != 1 else 'is'} not train, validation or test: left out"] if left else []
    parts = []
    for own, folder in folders.items():
        if mapped[own] is None:
            continue
        ds = load_saved_split(datasets, folder)
        where = str(folder)
        _check_audio_column(ds.features, where)
        column = _label_column(ds.features, where)
        names = _class_names(ds.features[column], column, where)
        parts.append(_Part(mapped[own], own, ds.data.column(column).to_pylist(), column, names))
    return parts, notes


def _saved_split_name(root: Path) -> str | None:
    """The split name a ``Dataset.save_to_disk`` folder recorded in ``state.json`` (None if it has none)."""
    try:
        own = json.loads((root / "state.json").read_text()).get("_split")
    except (OSError, ValueError, AttributeError):
        return None
    return str(own) if own else None


def load_saved_split(datasets, folder: Path):
    """``datasets.load_from_disk`` of one split folder, memory-mapped; a damaged one is a one-line user error."""
    try:
        ds = datasets.load_from_disk(str(folder))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        why = first_line(exc)
        raise SpcError(f"{folder} cannot be read as a datasets split: {why}") from None
    if not isinstance(ds, datasets.Dataset):
        raise SpcError(f"{folder} is a DatasetDict inside a DatasetDict; give the folder of one")
    if ds._indices is not None:  # a view (select, shuffle) saved without flattening: make the rows real
        ds = ds.flatten_indices(keep_in_memory=True)
    return ds


def _parquet_parts(root: Path) -> tuple[list[_Part], list[str]]:
    """The splits of a Parquet folder: label values and class names of each, and notes."""
    import pyarrow.parquet as pq

    datasets = require_datasets()
    files, notes = parquet_splits(root)
    parts = []
    for split, paths in files.items():
        labels: list = []
        column, names = None, None
        for f in paths:
            try:
                pf = pq.ParquetFile(f)
                features = datasets.Features.from_arrow_schema(pf.schema_arrow)
            except (OSError, ValueError) as exc:
                raise SpcError(_unreadable_parquet(f, exc)) from None
            _check_audio_column(features, str(f))
            column = _label_column(features, str(f))
            file_names = _class_names(features[column], column, str(f))
            if f != paths[0] and file_names != names:
                raise SpcError(f"{f}: its classes differ from those of {paths[0].name} (the same split)")
            names = file_names
            labels += pf.read(columns=[column]).column(0).to_pylist()
        parts.append(_Part(split, split, labels, column or "label", names))
    return parts, notes


def _unreadable_parquet(f: Path, exc: Exception) -> str:
    """The one-line error for a Parquet file pyarrow cannot open (a Git LFS pointer says how to fetch the file)."""
    with open(f, "rb") as fh:
        if fh.read(40).startswith(b"version https://git-lfs"):
            return f"{f} is a Git LFS pointer, not the Parquet file: fetch the files (git lfs pull) first"
    return f"{f} is not a readable Parquet file: {first_line(exc)}"


def _common_classes(root: Path, parts: list[_Part]) -> list[str]:
    """The classes all splits share (``ClassLabel`` names in order; text labels sorted); a user error if they differ."""
    if not parts:
        raise SpcError(f"{root} holds no train, validation or test split")
    if any(p.names is None for p in parts):
        if not all(p.names is None for p in parts):
            raise SpcError(f"{root}: some splits have ClassLabel labels and others text labels")
        return sorted({v for p in parts for v in p.labels if isinstance(v, str)})
    first = parts[0]
    for p in parts[1:]:
        if p.names != first.names:
            raise SpcError(f"{root}: the classes of split '{p.own or p.split}' differ from those of "
                           f"'{first.own or first.split}'")
    return list(first.names or [])
