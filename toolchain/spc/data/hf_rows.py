"""Reading the audio of rows of Hugging Face ``datasets`` folders (the items ``hf_datasets`` lists): each split opened
once, its stored audio decoded by spc (no torchcodec, no FFmpeg)."""

from __future__ import annotations

import bisect
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..audio import BadAudio, read_audio, read_audio_bytes
from ..errors import SpcError
from .dataset import ClipItem
from .hf_datasets import AUDIO_COLUMN, hf_form, load_saved_split, parquet_splits, require_datasets


def _decode_value(value, base: Path, rate: int, start: float, duration: float | None) -> np.ndarray:
    """A row's stored audio (``{"bytes", "path"}`` or bytes) as mono float32 at ``rate``; raises ``BadAudio``."""
    if isinstance(value, (bytes, bytearray)):
        value = {"bytes": value}
    if not isinstance(value, dict):
        raise BadAudio(f"no audio in this row ({type(value).__name__})")
    if value.get("bytes"):
        return read_audio_bytes(bytes(value["bytes"]), rate, start, duration)
    if value.get("path"):
        path = Path(value["path"])
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            raise BadAudio(f"the row holds no audio bytes and its path {value['path']} is not a file")
        return read_audio(path, rate, start, duration)
    raise BadAudio("the row holds no audio (no bytes and no path)")


class _SavedRows:
    """The audio column of one ``save_to_disk`` split, memory-mapped and cast to ``Audio(decode=False)``."""

    def __init__(self, folder: Path):
        datasets = require_datasets()
        ds = load_saved_split(datasets, folder).select_columns([AUDIO_COLUMN])
        if isinstance(ds.features[AUDIO_COLUMN], datasets.Audio):
            ds = ds.cast_column(AUDIO_COLUMN, datasets.Audio(decode=False))  # bytes and path, no torchcodec
        self.ds, self.base = ds, folder

    def value(self, row: int):
        """The stored audio value of ``row``."""
        if not 0 <= row < len(self.ds):
            raise BadAudio(f"row {row} is not in the split (it has {len(self.ds)} rows)")
        return self.ds[row][AUDIO_COLUMN]


class _ParquetRows:
    """The audio column of one split's Parquet files, read a row group at a time (the last few kept)."""

    def __init__(self, files: list[Path], base: Path, keep: int = 4):
        import pyarrow.parquet as pq

        self.files = [pq.ParquetFile(f) for f in files]
        self.groups: list[tuple[int, int]] = []  # (file, row group) in row order
        self.starts: list[int] = []
        total = 0
        for i, pf in enumerate(self.files):
            for g in range(pf.metadata.num_row_groups):
                self.groups.append((i, g))
                self.starts.append(total)
                total += pf.metadata.row_group(g).num_rows
        self.total, self.base, self.keep = total, base, keep
        self.cache: OrderedDict[int, list] = OrderedDict()

    def value(self, row: int):
        """The stored audio value of ``row`` (its row group read once while it stays in the cache)."""
        if not 0 <= row < self.total:
            raise BadAudio(f"row {row} is not in the split (it has {self.total} rows)")
        k = bisect.bisect_right(self.starts, row) - 1
        if k not in self.cache:
            i, g = self.groups[k]
            self.cache[k] = self.files[i].read_row_group(g, columns=[AUDIO_COLUMN]).column(0).to_pylist()
            while len(self.cache) > self.keep:
                self.cache.popitem(last=False)
        self.cache.move_to_end(k)
        return self.cache[k][row - self.starts[k]]


class RowReaders:
    """Reads rows of datasets folders, opening each (folder, split) once and keeping it open."""

    def __init__(self):
        self.open: dict[tuple[str, str | None], _SavedRows | _ParquetRows] = {}

    def _reader(self, folder: str, split: str | None):
        """The reader of ``folder``'s split ``split``, opened on first use."""
        key = (folder, split)
        if key not in self.open:
            root = Path(folder)
            form = hf_form(root)
            if form == "dataset":
                self.open[key] = _SavedRows(root)
            elif form == "dataset_dict":
                self.open[key] = _SavedRows(root / str(split))
            elif form == "parquet":
                self.open[key] = _ParquetRows(parquet_splits(root)[0].get(str(split), []), root)
            else:
                raise SpcError(f"{folder} is no longer a Hugging Face datasets folder")
        return self.open[key]

    def read(self, item: ClipItem, rate: int) -> np.ndarray:
        """The audio of a row item as mono float32 at ``rate``; raises ``BadAudio`` for a row that cannot be used."""
        reader = self._reader(item.path, item.split)
        return _decode_value(reader.value(int(item.row)), reader.base, rate, item.start, item.duration)

    def sha256(self, item: ClipItem) -> str:
        """The sha256 of a row item's stored audio (its encoded bytes, or the file its path names): what a
        calibration manifest records, so that a changed row is found like a changed file."""
        import hashlib

        reader = self._reader(item.path, item.split)
        value = reader.value(int(item.row))
        if isinstance(value, (bytes, bytearray)):
            value = {"bytes": value}
        if isinstance(value, dict) and value.get("bytes"):
            return hashlib.sha256(bytes(value["bytes"])).hexdigest()
        if isinstance(value, dict) and value.get("path"):
            path = Path(value["path"]) if Path(value["path"]).is_absolute() else reader.base / value["path"]
            if path.is_file():
                from ..fileio import sha256_file

                return sha256_file(path)
        raise BadAudio("the row holds no audio (no bytes and no readable path)")
