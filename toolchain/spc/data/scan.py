"""Walking a data folder for audio: which files are clips, which are links that lead nowhere or outside it,
and the one-line notes about folders that hold no audio spc reads.

Hidden folders (``.ipynb_checkpoints``) and ``__MACOSX`` are never classes and never read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

AUDIO_EXT = (".wav", ".flac", ".ogg")
#: audio spc does not decode (soundfile reads WAV, FLAC and OGG): a folder of these is said, not read as empty
UNREAD_EXT = (".mp3", ".m4a", ".aac", ".wma", ".opus", ".mp4", ".webm", ".aiff", ".aif")


def is_hidden(name: str) -> bool:
    """Folders that are never classes nor read: hidden ones (``.ipynb_checkpoints``) and macOS's ``__MACOSX``."""
    return name.startswith(".") or name == "__MACOSX"


def subfolders(folder: Path) -> list[Path]:
    """The sub-folders of ``folder`` that can be classes (sorted; hidden ones and ``__MACOSX`` left out)."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not is_hidden(p.name))


def _dangling(p: Path) -> str | None:
    """Why ``p`` cannot be read when it is a symbolic link that leads nowhere (None otherwise)."""
    if p.is_symlink() and not p.exists():
        return f"dangling symbolic link (to {os.readlink(p)})"
    return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def walk_audio(folder: Path, recursive: bool = True, root: Path | None = None,
                outside: list[Path] | None = None) -> Iterator[tuple[Path, str | None]]:
    """(audio file, None) for each audio file under ``folder``, or (file, reason) for a dangling link; sorted.

    Sub-folders are walked when ``recursive`` (hidden ones and ``__MACOSX`` never; a folder reached
    twice through links only once). With ``root``, a symbolic link (folder or file) that leads outside it is not
    followed (a class folder linked to ``/`` would walk the whole file system): it goes into ``outside``.
    """
    seen: set[str] = set()
    inside = os.path.realpath(root) if root is not None else None

    def leaves(e) -> bool:
        if inside is None or not e.is_symlink() or _inside(os.path.realpath(e.path), inside):
            return False
        if outside is not None:
            outside.append(Path(e.path))
        return True

    def walk(d: Path) -> Iterator[tuple[Path, str | None]]:
        real = os.path.realpath(d)
        if real in seen:
            return
        seen.add(real)
        try:
            with os.scandir(d) as it:  # scandir: telling folders from files costs no stat for most entries
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError:
            return
        for e in entries:
            if e.is_dir():
                if recursive and not is_hidden(e.name) and not leaves(e):
                    yield from walk(Path(e.path))
            elif os.path.splitext(e.name)[1].lower() in AUDIO_EXT:
                if e.is_file():
                    if not leaves(e):
                        yield Path(e.path), None
                elif (why := _dangling(Path(e.path))) is not None:
                    yield Path(e.path), why

    if inside is not None and not _inside(os.path.realpath(folder), inside):  # a class folder linked outside
        if outside is not None:
            outside.append(folder)
        return
    yield from walk(folder)


def scan_audio(folder: Path, recursive: bool = True, root: Path | None = None,
          outside: list[Path] | None = None) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The audio files under ``folder``, and the dangling links among them with the reason."""
    files, dangling = [], []
    for p, why in walk_audio(folder, recursive, root, outside):
        (files.append(p) if why is None else dangling.append((p, why)))
    return files, dangling


def unread_files(folder: Path) -> dict[str, int]:
    """Per extension, the audio files under ``folder`` that spc does not decode (.mp3, .m4a, ...)."""
    out: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not is_hidden(d)]
        for f in filenames:
            ext = os.path.splitext(f)[1].lower()
            if ext in UNREAD_EXT:
                out[ext] = out.get(ext, 0) + 1
    return out


def class_note(cls: Path) -> str:
    """Why a class folder gave no clip: empty, or holding audio spc does not read."""
    unread = unread_files(cls)
    if unread:
        kinds = ", ".join(f"{n} {ext}" for ext, n in sorted(unread.items()))
        return (f"class folder {cls.name} holds {kinds} files, which spc does not read (convert them to WAV or FLAC): "
                "not a class")
    return f"class folder {cls.name} holds no audio: not a class"


def outside_note(root: Path, outside: list[Path]) -> list[str]:
    """One line for the symbolic links that lead outside the data folder (not read)."""
    if not outside:
        return []
    return [f"{len(outside)} symbolic link{'s' if len(outside) != 1 else ''} in {root} lead{'s' if len(outside) == 1 else ''} "
            f"outside it and {'were' if len(outside) != 1 else 'was'} not read (first: {outside[0]} -> "
            f"{os.path.realpath(outside[0])}); copy the files into the data folder to use them"]


def label_order(name: str) -> tuple:
    """Sort key of class names: numbers first in numeric order (0, 1, ..., 10), then the rest by name."""
    return (not name.isdigit(), int(name) if name.isdigit() else 0, name)


def audio_files(folder: Path) -> list[Path]:
    """The audio files directly in ``folder`` (no sub-folders), sorted."""
    return scan_audio(folder, recursive=False)[0]


def has_audio(folder: Path) -> bool:
    """True when ``folder`` (or a sub-folder) holds at least one audio file; stops at the first."""
    return folder.is_dir() and any(why is None for _, why in walk_audio(folder))
