"""Readers that turn a folder into a ``KwsDataset``: labelled clip lists for train/validation/test.

Layouts:
  speech-commands  Google Speech Commands v0.02 as users hold it, in three forms, told apart by their files:
                   - the full archive: one folder per word, ``validation_list.txt`` / ``testing_list.txt``
                     give the split, ``_background_noise_`` gives ``_silence_`` clips; tasks "35" (the
                     default) and "v2-12" (10 words, the other words as ``_unknown_``, ``_silence_``).
                   - the preprocessed 12-class folder: the 10 v2-12 word folders plus ready ``_unknown_``
                     and ``_silence_`` folders, with the two lists (entries like ``_unknown_/a.wav``):
                     read as the v2-12 task with those folders as classes (no silence is cut).
                   - the official test set (``speech_commands_test_set_v0.02``: the 10 words, ``_unknown_``
                     and ``_silence_`` holding ready 1 s clips, no lists): the v2-12 task, a test split only.
                   List entries that name no file are counted in ``notes``.
  folders          ``ROOT/{train,validation,test}/CLASS/**.wav``, or ``ROOT/CLASS/**.wav`` split by a
                   stable hash of the file name (80/10/10)
  fsdd             file-name labels ``{label}_{speaker}_{take}.wav`` (Free Spoken Digit Dataset):
                   split by take (0-4 test, 5-9 validation, rest train) or by held-out speaker
  hf-datasets      a Hugging Face ``datasets`` folder (``save_to_disk`` or the hub's Parquet files) with
                   its own splits; read in place by ``hf_datasets`` (needs the ``hf`` extra)

A class folder is read with its sub-folders (the label is the class folder's name); hidden folders
(``.ipynb_checkpoints``) and ``__MACOSX`` are never classes and never read. Audio files that are
dangling symbolic links are listed in ``KwsDataset.skipped`` with the reason, not dropped silently.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..errors import SpcError

SPLITS = ("train", "validation", "test")
AUDIO_EXT = (".wav", ".flac", ".ogg")
#: audio spc does not decode (soundfile reads WAV, FLAC and OGG): a folder of these is said, not read as empty
UNREAD_EXT = (".mp3", ".m4a", ".aac", ".wma", ".opus", ".mp4", ".webm", ".aiff", ".aif")
V2_12_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN, SILENCE = "_unknown_", "_silence_"
NOISE = "_background_noise_"
LIST_FILES = {"validation": "validation_list.txt", "test": "testing_list.txt"}
FSDD_NAME = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>[^_]+)_(?P<take>\d+)$")


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


def is_hidden(name: str) -> bool:
    """Folders that are never classes nor read: hidden ones (``.ipynb_checkpoints``) and macOS's ``__MACOSX``."""
    return name.startswith(".") or name == "__MACOSX"


def _subfolders(folder: Path) -> list[Path]:
    """The sub-folders of ``folder`` that can be classes (sorted; hidden ones and ``__MACOSX`` left out)."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not is_hidden(p.name))


def _dangling(p: Path) -> str | None:
    """Why ``p`` cannot be read when it is a symbolic link that leads nowhere (None otherwise)."""
    if p.is_symlink() and not p.exists():
        return f"dangling symbolic link (to {os.readlink(p)})"
    return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _walk_audio(folder: Path, recursive: bool = True, root: Path | None = None,
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


def _scan(folder: Path, recursive: bool = True, root: Path | None = None,
          outside: list[Path] | None = None) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The audio files under ``folder``, and the dangling links among them with the reason."""
    files, dangling = [], []
    for p, why in _walk_audio(folder, recursive, root, outside):
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
    return _scan(folder, recursive=False)[0]


def _has_audio(folder: Path) -> bool:
    """True when ``folder`` (or a sub-folder) holds at least one audio file; stops at the first."""
    return folder.is_dir() and any(why is None for _, why in _walk_audio(folder))


def _hash_split(name: str, val_pct: float = 10.0, test_pct: float = 10.0) -> str:
    """Stable split of a file name (like Speech Commands' own rule): the same name, the same split."""
    h = int(hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest(), 16) % 10000 / 100.0
    return "validation" if h < val_pct else "test" if h < val_pct + test_pct else "train"


# ------------------------------------------------------------------ speech commands
def is_speech_commands_test_set(root: Path) -> bool:
    """True for the official v0.02 test set: no split lists, and only the 12 v2-12 class folders."""
    if any((root / f).is_file() for f in LIST_FILES.values()):
        return False
    folders = {p.name for p in _subfolders(root)} - {NOISE}
    return {UNKNOWN, SILENCE} <= folders <= set(V2_12_WORDS) | {UNKNOWN, SILENCE}


def is_speech_commands_preprocessed(root: Path) -> bool:
    """True for the preprocessed 12-class folder: split lists, and ``_unknown_``/``_silence_`` folders holding clips."""
    if not any((root / f).is_file() for f in LIST_FILES.values()):
        return False
    if not all((root / d).is_dir() for d in (UNKNOWN, SILENCE)):
        return False
    return _has_audio(root / UNKNOWN) or _has_audio(root / SILENCE)


def read_speech_commands_test_set(root: Path, task: str | None = None) -> KwsDataset:
    """The official v0.02 test set as the v2-12 task: every folder a class, every clip in the test split."""
    if task not in (None, "v2-12"):
        raise SpcError(f"{root} is the Speech Commands v0.02 test set, which holds the v2-12 task only "
                       f"(10 words, {UNKNOWN}, {SILENCE}), not task '{task}'")
    labels = list(V2_12_WORDS) + [UNKNOWN, SILENCE]
    test, skipped = [], []
    for label in labels:
        if (root / label).is_dir():
            files, dangling = _scan(root / label)
            test += [ClipItem(str(f), label) for f in files]
            skipped += [(str(f), why) for f, why in dangling]
    return KwsDataset(str(root), "speech-commands", labels, {"train": [], "validation": [], "test": test},
                      {"task": "v2-12", "set": "official test set"},
                      why_empty="the Speech Commands test set holds only the test split; train and validate "
                                "on the full v0.02 archive",
                      skipped={"test": skipped} if skipped else {})


def _decode_list(f: Path) -> tuple[list[str], list[str]]:
    """(the entries of a split list, notes): UTF-8 (a byte-order mark dropped) or UTF-16 by its mark; ``./`` and
    backslashes normalised to the folder's relative form; anything else unreadable is one user error."""
    raw = f.read_bytes()
    notes = []
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            raise SpcError(f"{f} starts like UTF-16 but is not: write it as UTF-8, one path per line") from None
        notes.append(f"{f.name} is UTF-16: read as such")
    else:
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
            notes.append(f"{f.name} starts with a UTF-8 byte-order mark: ignored")
        # surrogateescape: list entries match file names that are not valid UTF-8, as os.listdir gives them
        text = raw.decode("utf-8", "surrogateescape")
    entries, changed = [], 0
    for line in text.splitlines():
        e = line.strip()
        if not e:
            continue
        n = e.replace("\\", "/")
        while n.startswith("./"):
            n = n[2:]
        changed += n != e
        entries.append(n)
    if changed:
        notes.append(f"{f.name}: {changed} entr{'ies' if changed != 1 else 'y'} written with ./ or backslashes, read as "
                     "relative paths with /")
    return entries, notes


def _read_lists(root: Path) -> tuple[dict[str, list[str]], list[str]]:
    """(the entries of ``validation_list.txt`` and ``testing_list.txt`` in file order, a missing list empty; notes).
    A file both lists name is a user error: a clip belongs to one split."""
    lists, notes = {}, []
    for split, fname in LIST_FILES.items():
        f = root / fname
        lists[split], n = _decode_list(f) if f.is_file() else ([], [])
        notes += n
    both = sorted(set(lists["validation"]) & set(lists["test"]))
    if both:
        raise SpcError(f"{LIST_FILES['validation']} and {LIST_FILES['test']} both name {len(both)} "
                       f"file{'s' if len(both) != 1 else ''} (first: {both[0]}): a clip belongs to one split")
    return lists, notes


class _ListSplit:
    """Puts Speech Commands clips into splits by the two lists, and remembers which entries it met."""

    def __init__(self, root: Path):
        self.root = root
        self.lists, self.read_notes = _read_lists(root)
        self.sets = {split: set(entries) for split, entries in self.lists.items()}
        self.seen: set[str] = set()

    def __call__(self, f: Path) -> str:
        """The split of file ``f`` (under the root): validation or test when a list names it, else train."""
        rel = f.relative_to(self.root).as_posix()
        self.seen.add(rel)
        return "validation" if rel in self.sets["validation"] else "test" if rel in self.sets["test"] else "train"

    def notes(self) -> list[str]:
        """How the lists were read, and one line per list that names files the folder does not hold: how many, and
        the first."""
        out = list(self.read_notes)
        for split, entries in self.lists.items():
            missing = [e for e in entries if e not in self.seen]
            if missing:
                out.append(f"{LIST_FILES[split]} names {len(missing)} file{'s' if len(missing) != 1 else ''} "
                           f"that {'are' if len(missing) != 1 else 'is'} not in the folder (first: {missing[0]})")
        return out


def _read_word_folders(root: Path, folders: dict[str, str], place: _ListSplit) -> tuple[dict, dict, list[str]]:
    """Clips of each folder (name -> label) into splits by the lists; dangling links into ``skipped``; links that
    lead outside ``root`` not followed (the third item: a note saying so)."""
    splits: dict[str, list[ClipItem]] = {s: [] for s in SPLITS}
    skipped: dict[str, list[tuple[str, str]]] = {}
    outside: list[Path] = []
    for folder, label in folders.items():
        files, dangling = _scan(root / folder, root=root, outside=outside)
        for f in files:
            splits[place(f)].append(ClipItem(str(f), label))
        for f, why in dangling:
            skipped.setdefault(place(f), []).append((str(f), why))
    return splits, skipped, outside_note(root, outside)


def read_speech_commands(root: Path, task: str | None = None, silence_per_split: dict | None = None) -> KwsDataset:
    """Google Speech Commands v0.02 (``task`` "35", the default: all words; "v2-12": 10 words + unknown + silence).

    The official test set (see ``is_speech_commands_test_set``) and the preprocessed 12-class folder
    (see ``is_speech_commands_preprocessed``) are read as the v2-12 task.
    """
    if is_speech_commands_test_set(root):
        return read_speech_commands_test_set(root, task)
    if is_speech_commands_preprocessed(root):
        return read_speech_commands_preprocessed(root, task)
    task = task or "35"
    if task not in ("35", "v2-12"):
        raise SpcError(f"unknown Speech Commands task '{task}'; choose '35' or 'v2-12'")
    words = [p.name for p in _subfolders(root) if not p.name.startswith("_")]
    if not words:
        raise SpcError(f"{root} has no word folders (expected Speech Commands layout)")
    place = _ListSplit(root)
    folders = {w: w if task == "35" or w in V2_12_WORDS else UNKNOWN for w in words}
    splits, skipped, outside = _read_word_folders(root, folders, place)
    labels = words if task == "35" else list(V2_12_WORDS) + [UNKNOWN, SILENCE]
    notes = place.notes() + outside
    if task == "v2-12":
        notes += _add_silence(root / NOISE, splits, silence_per_split)
    return KwsDataset(str(root), "speech-commands", labels, splits, {"task": task}, notes=notes, skipped=skipped)


def read_speech_commands_preprocessed(root: Path, task: str | None = None) -> KwsDataset:
    """The preprocessed 12-class folder as the v2-12 task: its ``_unknown_`` and ``_silence_`` folders are classes.

    Nothing is cut from ``_background_noise_`` (the silence clips are ready); word folders outside
    the ten are read as ``_unknown_``, with a note, except where none of the ten is there: then the word
    folders are the keywords of a task of the same form (``spc.data.fsdd_kws`` writes one).
    """
    if task not in (None, "v2-12"):
        raise SpcError(f"{root} is the preprocessed 12-class Speech Commands folder (10 words, {UNKNOWN}, "
                       f"{SILENCE}): it holds the v2-12 task only, not task '{task}'")
    present = [p.name for p in _subfolders(root)]
    words = [name for name in present if not name.startswith("_")]
    if words and not set(words) & set(V2_12_WORDS):  # the same form with a keyword set of its own (e.g. digits)
        labels = sorted(words, key=label_order) + [UNKNOWN, SILENCE]
    else:
        labels = list(V2_12_WORDS) + [UNKNOWN, SILENCE]
    others = [name for name in present if name not in labels and not name.startswith("_")]
    folders = {name: name for name in labels if name in present} | dict.fromkeys(others, UNKNOWN)
    place = _ListSplit(root)
    splits, skipped, outside = _read_word_folders(root, folders, place)
    notes = place.notes() + outside
    if others:
        notes.append(f"folder{'s' if len(others) != 1 else ''} {', '.join(others)} "
                     f"{'are' if len(others) != 1 else 'is'} not among the 10 words: read as {UNKNOWN}")
    return KwsDataset(str(root), "speech-commands", labels, splits, {"task": "v2-12", "form": "preprocessed"},
                      notes=notes, skipped=skipped)


def _add_silence(noise_dir: Path, splits: dict, per_split: dict | None) -> list[str]:
    """1 s segments of the background-noise files: first 80% of each file for train, then 10%/10%.

    Returns notes (dangling links among the noise files).
    """
    import soundfile as sf

    per_split = per_split or {"train": 1800, "validation": 200, "test": 200}
    if not noise_dir.is_dir():
        return []
    files, dangling = _scan(noise_dir, recursive=False)
    notes = [f"{noise_dir.name}/{f.name} is left out of the silence clips: {why}" for f, why in dangling]
    if not files:
        return notes
    spans = {"train": (0.0, 0.8), "validation": (0.8, 0.9), "test": (0.9, 1.0)}
    for split, count in per_split.items():
        lo, hi = spans[split]
        for k in range(count):
            f = files[k % len(files)]
            length = sf.info(os.fsencode(f)).duration  # bytes: file names need not be valid UTF-8
            a, b = lo * length, hi * length - 1.0
            if b <= a:
                continue
            n_in_file = count // len(files) + 1
            start = a + (b - a) * ((k // len(files)) / max(1, n_in_file - 1))
            splits[split].append(ClipItem(str(f), SILENCE, round(start, 3), 1.0))
    return notes


# ------------------------------------------------------------------ folder per class
def read_folders(root: Path) -> KwsDataset:
    """``ROOT/{train,validation,test}/CLASS/**`` or ``ROOT/CLASS/**`` (hash split); sub-folders of a class are read.
    A class folder with no audio it can read is not a class (said in ``notes``); links leading outside ROOT are not
    followed (said too)."""
    split_dirs = {s: root / s for s in SPLITS}
    if (root / "valid").is_dir() and not split_dirs["validation"].is_dir():
        split_dirs["validation"] = root / "valid"
    splits: dict[str, list[ClipItem]] = {s: [] for s in SPLITS}
    skipped: dict[str, list[tuple[str, str]]] = {}
    outside: list[Path] = []
    notes: list[str] = []
    if split_dirs["train"].is_dir():
        labels: set[str] = set()
        for split, d in split_dirs.items():
            if not d.is_dir():
                continue
            for cls in _subfolders(d):
                files, dangling = _scan(cls, root=root, outside=outside)
                if not files and not dangling:
                    notes.append(f"{split}: {class_note(cls)}")
                    continue
                labels.add(cls.name)
                splits[split].extend(ClipItem(str(f), cls.name) for f in files)
                skipped.setdefault(split, []).extend((str(f), why) for f, why in dangling)
        return KwsDataset(str(root), "folders", sorted(labels), splits, {"split": "folders"},
                          notes=notes + outside_note(root, outside), skipped={k: v for k, v in skipped.items() if v})
    classes = []
    for cls in _subfolders(root):
        files, dangling = _scan(cls, root=root, outside=outside)
        if not files and not dangling:
            notes.append(class_note(cls))
            continue
        classes.append(cls.name)
        for f in files:  # the hash key of a file directly in the class folder is CLASS/NAME, as it always was
            splits[_hash_split(f"{cls.name}/{f.relative_to(cls).as_posix()}")].append(ClipItem(str(f), cls.name))
        for f, why in dangling:
            skipped.setdefault(_hash_split(f"{cls.name}/{f.relative_to(cls).as_posix()}"), []).append((str(f), why))
    return KwsDataset(str(root), "folders", classes, splits, {"split": "hash"}, notes=notes + outside_note(root, outside),
                      skipped=skipped)


# ------------------------------------------------------------------ file-name labels (FSDD)
def read_fsdd(root: Path, split_by: str = "take", test_speaker: str | None = None) -> KwsDataset:
    """File-name labelled clips ``{label}_{speaker}_{take}.wav``, split by take or by speaker."""
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    rows, dangling = [], []
    files, links = _scan(folder, recursive=False)
    for f, why in [(f, None) for f in files] + links:
        m = FSDD_NAME.match(f.stem)
        if m:
            (rows if why is None else dangling).append((f, m["label"], m["speaker"], int(m["take"]), why))
    if not rows:
        raise SpcError(f"{root} has no files named like {{label}}_{{speaker}}_{{take}}.wav")
    speakers = sorted({r[2] for r in rows})
    splits: dict[str, list[ClipItem]] = {s: [] for s in SPLITS}
    skipped: dict[str, list[tuple[str, str]]] = {}
    if split_by == "take":
        for f, label, _, take, why in rows + dangling:
            split = "test" if take < 5 else "validation" if take < 10 else "train"
            if why is None:
                splits[split].append(ClipItem(str(f), label))
            else:
                skipped.setdefault(split, []).append((str(f), why))
        options = {"split_by": "take", "test": "takes 0-4", "validation": "takes 5-9"}
    elif split_by == "speaker":
        if len(speakers) < 3:
            raise SpcError(f"a speaker split needs at least 3 speakers; {root} has {len(speakers)}")
        test_speaker = test_speaker or speakers[-1]
        if test_speaker not in speakers:
            raise SpcError(f"speaker '{test_speaker}' is not in {root}; speakers: {', '.join(speakers)}")
        val_speaker = next(s for s in speakers if s != test_speaker)
        for f, label, speaker, _, why in rows + dangling:
            split = "test" if speaker == test_speaker else "validation" if speaker == val_speaker else "train"
            if why is None:
                splits[split].append(ClipItem(str(f), label))
            else:
                skipped.setdefault(split, []).append((str(f), why))
        options = {"split_by": "speaker", "test": test_speaker, "validation": val_speaker}
    else:
        raise SpcError(f"unknown split rule '{split_by}'; choose 'take' or 'speaker'")
    labels = sorted({r[1] for r in rows}, key=label_order)
    return KwsDataset(str(root), "fsdd", labels, splits, options, skipped=skipped)
