"""Google Speech Commands v0.02 in the three forms users hold it (see ``layouts``): the full archive with its
split lists, the preprocessed 12-class folder, and the official test set."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SpcError
from .dataset import SPLITS, ClipItem, KwsDataset
from .scan import label_order, outside_note, scan_audio, subfolders, has_audio

V2_12_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN, SILENCE = "_unknown_", "_silence_"
NOISE = "_background_noise_"
LIST_FILES = {"validation": "validation_list.txt", "test": "testing_list.txt"}


def is_speech_commands_test_set(root: Path) -> bool:
    """True for the official v0.02 test set: no split lists, and only the 12 v2-12 class folders."""
    if any((root / f).is_file() for f in LIST_FILES.values()):
        return False
    folders = {p.name for p in subfolders(root)} - {NOISE}
    return {UNKNOWN, SILENCE} <= folders <= set(V2_12_WORDS) | {UNKNOWN, SILENCE}


def is_speech_commands_preprocessed(root: Path) -> bool:
    """True for the preprocessed 12-class folder: split lists, and ``_unknown_``/``_silence_`` folders holding clips."""
    if not any((root / f).is_file() for f in LIST_FILES.values()):
        return False
    if not all((root / d).is_dir() for d in (UNKNOWN, SILENCE)):
        return False
    return has_audio(root / UNKNOWN) or has_audio(root / SILENCE)


def read_speech_commands_test_set(root: Path, task: str | None = None) -> KwsDataset:
    """The official v0.02 test set as the v2-12 task: every folder a class, every clip in the test split."""
    if task not in (None, "v2-12"):
        raise SpcError(f"{root} is the Speech Commands v0.02 test set, which holds the v2-12 task only "
                       f"(10 words, {UNKNOWN}, {SILENCE}), not task '{task}'")
    labels = list(V2_12_WORDS) + [UNKNOWN, SILENCE]
    test, skipped = [], []
    for label in labels:
        if (root / label).is_dir():
            files, dangling = scan_audio(root / label)
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
        files, dangling = scan_audio(root / folder, root=root, outside=outside)
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
    words = [p.name for p in subfolders(root) if not p.name.startswith("_")]
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
    present = [p.name for p in subfolders(root)]
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
    files, dangling = scan_audio(noise_dir, recursive=False)
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
