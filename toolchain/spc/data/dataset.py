"""The data set type every layout reader returns: labelled clips per split, and the class list."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SpcError
from .scan import is_hidden

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class ClipItem:
    """One clip: a file, a segment of one (``start``/``duration`` in seconds), or a row of a datasets folder.

    For a row, ``path`` is the Hugging Face ``datasets`` folder, ``row`` the row's index in that
    folder's split ``split`` (the folder's own split name, e.g. "valid").
    """

    path: str
    label: str
    start: float = 0.0
    duration: float | None = None
    row: int | None = None
    split: str | None = None

    def source(self) -> str:
        """How to name the clip to a user: the file, ``file@start`` for a segment, ``folder[split:row]`` for a row."""
        if self.row is not None:
            return f"{self.path}[{self.split or ''}:{self.row}]"
        return self.path if not self.start else f"{self.path}@{self.start}"


@dataclass
class KwsDataset:
    """Labelled clips per split, and the class list (in the order models should use).

    ``notes``: one line each about what the reader found odd but read anyway (list entries that name
    no file, folders read as ``_unknown_``); ``skipped``: per split, (path, reason) of the audio files
    left out while reading the folder (dangling symbolic links).
    """

    root: str
    layout: str
    labels: list[str]
    splits: dict[str, list[ClipItem]] = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    why_empty: str = ""  # why some splits are empty by design (ends the empty-split error)
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def split(self, name: str) -> list[ClipItem]:
        """The clips of a split; an empty or unknown split is a user error naming it and the folder."""
        if name not in SPLITS:
            raise SpcError(f"unknown split '{name}'; choose one of {', '.join(SPLITS)}")
        items = self.splits.get(name, [])
        if not items:
            raise SpcError(f"split '{name}' of {self.root} ({self.layout} layout) has no clips"
                           + (f": {self.why_empty}" if self.why_empty else ""))
        return items

    def describe(self) -> dict:
        """Root, layout, classes, options and clip counts (plus notes and skipped files when there are any)."""
        out = {
            "root": self.root, "layout": self.layout, "labels": self.labels, "options": self.options,
            "clips": {s: len(self.splits.get(s, [])) for s in SPLITS},
        }
        if self.notes:  # only when present, so the description (and run ids made from it) of clean data stays as it was
            out["notes"] = list(self.notes)
        if any(self.skipped.values()):
            out["skipped"] = {s: [list(x) for x in v] for s, v in self.skipped.items() if v}
        return out

    def content_hash(self) -> str:
        """A sha256 over every clip's split, label, path, size and modification time: changes when the data does.

        A row of a datasets folder is hashed by its place, and the folder once by its files' sizes and times.
        """
        h = hashlib.sha256(repr((self.layout, self.labels, sorted(self.options.items()))).encode())
        folders: set[str] = set()
        for split in SPLITS:
            for item in self.splits.get(split, []):
                if item.row is not None:
                    folders.add(item.path)
                    h.update(f"{split}|{item.label}|{item.path}|{item.split}|{item.row}\n"
                             .encode("utf-8", "surrogateescape"))
                    continue
                st = os.stat(item.path) if os.path.exists(item.path) else None
                h.update(f"{split}|{item.label}|{item.path}|{st.st_size if st else -1}|"
                         f"{st.st_mtime_ns if st else -1}\n".encode("utf-8", "surrogateescape"))
        for folder in sorted(folders):
            h.update(folder_signature(Path(folder)).encode())
        return h.hexdigest()


def folder_signature(folder: Path) -> str:
    """A sha256 over the relative path, size and modification time of every file under ``folder``."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
        for name in sorted(filenames):
            f = Path(dirpath) / name
            st = f.stat() if f.exists() else None
            h.update(f"{f.relative_to(folder).as_posix()}|{st.st_size if st else -1}|{st.st_mtime_ns if st else -1}\n"
                     .encode("utf-8", "surrogateescape"))
    return h.hexdigest()
