"""Readers that turn a folder into a ``KwsDataset``: labelled clip lists for train/validation/test.

Layouts:
  speech-commands  one folder per word, ``validation_list.txt`` / ``testing_list.txt`` give the
                   split, ``_background_noise_`` gives ``_silence_`` clips; tasks "35" and "v2-12".
                   The official test set (``speech_commands_test_set_v0.02``: the 10 words,
                   ``_unknown_`` and ``_silence_`` holding ready 1 s clips, no lists) is read as the
                   v2-12 task with only a test split.
  folders          ``ROOT/{train,validation,test}/CLASS/*.wav``, or ``ROOT/CLASS/*.wav`` split by a
                   stable hash of the file name (80/10/10)
  fsdd             file-name labels ``{label}_{speaker}_{take}.wav`` (Free Spoken Digit Dataset):
                   split by take (0-4 test, 5-9 validation, rest train) or by held-out speaker
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SpcError

SPLITS = ("train", "validation", "test")
AUDIO_EXT = (".wav", ".flac", ".ogg")
V2_12_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN, SILENCE = "_unknown_", "_silence_"
FSDD_NAME = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>[^_]+)_(?P<take>\d+)$")


@dataclass(frozen=True)
class ClipItem:
    """One clip: a file, or a segment of one (``start``/``duration`` in seconds)."""

    path: str
    label: str
    start: float = 0.0
    duration: float | None = None


@dataclass
class KwsDataset:
    """Labelled clips per split, and the class list (in the order models should use)."""

    root: str
    layout: str
    labels: list[str]
    splits: dict[str, list[ClipItem]] = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    why_empty: str = ""  # why some splits are empty by design (ends the empty-split error)

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
        return {
            "root": self.root, "layout": self.layout, "labels": self.labels, "options": self.options,
            "clips": {s: len(self.splits.get(s, [])) for s in SPLITS},
        }

    def content_hash(self) -> str:
        """A sha256 over every clip's split, label, path, size and modification time: changes when the data does."""
        import hashlib
        import os

        h = hashlib.sha256(repr((self.layout, self.labels, sorted(self.options.items()))).encode())
        for split in SPLITS:
            for item in self.splits.get(split, []):
                st = os.stat(item.path) if os.path.exists(item.path) else None
                h.update(f"{split}|{item.label}|{item.path}|{st.st_size if st else -1}|"
                         f"{st.st_mtime_ns if st else -1}\n".encode("utf-8", "surrogateescape"))
        return h.hexdigest()


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXT)


def _hash_split(name: str, val_pct: float = 10.0, test_pct: float = 10.0) -> str:
    """Stable split of a file name (like Speech Commands' own rule): the same name, the same split."""
    h = int(hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest(), 16) % 10000 / 100.0
    return "validation" if h < val_pct else "test" if h < val_pct + test_pct else "train"


# ------------------------------------------------------------------ speech commands
def is_speech_commands_test_set(root: Path) -> bool:
    """True for the official v0.02 test set: no split lists, and only the 12 v2-12 class folders."""
    if (root / "validation_list.txt").is_file() or (root / "testing_list.txt").is_file():
        return False
    folders = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    folders -= {"_background_noise_", "__MACOSX"}
    return {UNKNOWN, SILENCE} <= folders <= set(V2_12_WORDS) | {UNKNOWN, SILENCE}


def read_speech_commands_test_set(root: Path, task: str | None = None) -> KwsDataset:
    """The official v0.02 test set as the v2-12 task: every folder a class, every clip in the test split."""
    if task not in (None, "v2-12"):
        raise SpcError(f"{root} is the Speech Commands v0.02 test set, which holds the v2-12 task only "
                       f"(10 words, {UNKNOWN}, {SILENCE}), not task '{task}'")
    labels = list(V2_12_WORDS) + [UNKNOWN, SILENCE]
    test = [ClipItem(str(f), label) for label in labels if (root / label).is_dir() for f in _audio_files(root / label)]
    return KwsDataset(str(root), "speech-commands", labels, {"train": [], "validation": [], "test": test},
                      {"task": "v2-12", "set": "official test set"},
                      why_empty="the Speech Commands test set holds only the test split; train and validate "
                                "on the full v0.02 archive")


def read_speech_commands(root: Path, task: str | None = None, silence_per_split: dict | None = None) -> KwsDataset:
    """Google Speech Commands v0.02 (``task`` "35", the default: all words; "v2-12": 10 words + unknown + silence).

    The official test set (see ``is_speech_commands_test_set``) is read as the v2-12 task.
    """
    if is_speech_commands_test_set(root):
        return read_speech_commands_test_set(root, task)
    task = task or "35"
    if task not in ("35", "v2-12"):
        raise SpcError(f"unknown Speech Commands task '{task}'; choose '35' or 'v2-12'")
    lists = {}
    for split, fname in (("validation", "validation_list.txt"), ("test", "testing_list.txt")):
        f = root / fname
        # surrogateescape: list entries match file names that are not valid UTF-8, as os.listdir gives them
        lists[split] = set(f.read_bytes().decode("utf-8", "surrogateescape").split()) if f.is_file() else set()
    words = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    if not words:
        raise SpcError(f"{root} has no word folders (expected Speech Commands layout)")
    splits: dict[str, list[ClipItem]] = {s: [] for s in SPLITS}
    for word in words:
        label = word if task == "35" or word in V2_12_WORDS else UNKNOWN
        for f in _audio_files(root / word):
            rel = f"{word}/{f.name}"
            split = "validation" if rel in lists["validation"] else "test" if rel in lists["test"] else "train"
            splits[split].append(ClipItem(str(f), label))
    labels = words if task == "35" else list(V2_12_WORDS) + [UNKNOWN, SILENCE]
    if task == "v2-12":
        _add_silence(root / "_background_noise_", splits, silence_per_split)
    return KwsDataset(str(root), "speech-commands", labels, splits, {"task": task})


def _add_silence(noise_dir: Path, splits: dict, per_split: dict | None) -> None:
    """1 s segments of the background-noise files: first 80% of each file for train, then 10%/10%."""
    import soundfile as sf

    per_split = per_split or {"train": 1800, "validation": 200, "test": 200}
    if not noise_dir.is_dir():
        return
    files = _audio_files(noise_dir)
    if not files:
        return
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


# ------------------------------------------------------------------ folder per class
def read_folders(root: Path) -> KwsDataset:
    """``ROOT/{train,validation,test}/CLASS/*`` or ``ROOT/CLASS/*`` (hash split)."""
    split_dirs = {s: root / s for s in SPLITS}
    if (root / "valid").is_dir() and not split_dirs["validation"].is_dir():
        split_dirs["validation"] = root / "valid"
    splits: dict[str, list[ClipItem]] = {s: [] for s in SPLITS}
    if split_dirs["train"].is_dir():
        labels: set[str] = set()
        for split, d in split_dirs.items():
            if not d.is_dir():
                continue
            for cls in sorted(p for p in d.iterdir() if p.is_dir()):
                labels.add(cls.name)
                splits[split].extend(ClipItem(str(f), cls.name) for f in _audio_files(cls))
        return KwsDataset(str(root), "folders", sorted(labels), splits, {"split": "folders"})
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for cls in classes:
        for f in _audio_files(cls):
            splits[_hash_split(f"{cls.name}/{f.name}")].append(ClipItem(str(f), cls.name))
    return KwsDataset(str(root), "folders", [c.name for c in classes], splits, {"split": "hash"})


# ------------------------------------------------------------------ file-name labels (FSDD)
def read_fsdd(root: Path, split_by: str = "take", test_speaker: str | None = None) -> KwsDataset:
    """File-name labelled clips ``{label}_{speaker}_{take}.wav``, split by take or by speaker."""
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    rows = []
    for f in _audio_files(folder):
        m = FSDD_NAME.match(f.stem)
        if m:
            rows.append((f, m["label"], m["speaker"], int(m["take"])))
    if not rows:
        raise SpcError(f"{root} has no files named like {{label}}_{{speaker}}_{{take}}.wav")
    speakers = sorted({r[2] for r in rows})
    splits: dict[str, list[ClipItem]] = {s: [] for s in SPLITS}
    if split_by == "take":
        for f, label, _, take in rows:
            split = "test" if take < 5 else "validation" if take < 10 else "train"
            splits[split].append(ClipItem(str(f), label))
        options = {"split_by": "take", "test": "takes 0-4", "validation": "takes 5-9"}
    elif split_by == "speaker":
        if len(speakers) < 3:
            raise SpcError(f"a speaker split needs at least 3 speakers; {root} has {len(speakers)}")
        test_speaker = test_speaker or speakers[-1]
        if test_speaker not in speakers:
            raise SpcError(f"speaker '{test_speaker}' is not in {root}; speakers: {', '.join(speakers)}")
        val_speaker = next(s for s in speakers if s != test_speaker)
        for f, label, speaker, _ in rows:
            split = "test" if speaker == test_speaker else "validation" if speaker == val_speaker else "train"
            splits[split].append(ClipItem(str(f), label))
        options = {"split_by": "speaker", "test": test_speaker, "validation": val_speaker}
    else:
        raise SpcError(f"unknown split rule '{split_by}'; choose 'take' or 'speaker'")
    labels = sorted({r[1] for r in rows}, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
    return KwsDataset(str(root), "fsdd", labels, splits, options)


LAYOUTS = ("auto", "speech-commands", "speech-commands-v2-12", "folders", "fsdd")


def detect_layout(root: Path) -> str:
    """Guess the layout of a folder from its files."""
    if (root / "validation_list.txt").is_file() or (root / "testing_list.txt").is_file():
        return "speech-commands"
    if is_speech_commands_test_set(root):
        return "speech-commands"
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    files = _audio_files(folder)
    if files and sum(bool(FSDD_NAME.match(f.stem)) for f in files) >= 0.9 * len(files):
        return "fsdd"
    return "folders"


def open_dataset(root: str | Path, layout: str = "auto", **options) -> KwsDataset:
    """Read a data folder in any supported layout (``auto`` detects it)."""
    path = Path(root)
    if path.exists() and not path.is_dir():
        raise SpcError(f"data {path} is a file, not a folder: give the folder that holds the clips")
    if not path.is_dir():
        raise SpcError(f"data folder {path} does not exist")
    if layout not in LAYOUTS:
        raise SpcError(f"unknown data layout '{layout}'; choose one of {', '.join(LAYOUTS)}")
    if layout == "auto":
        layout = detect_layout(path)
    if layout == "speech-commands":
        ds = read_speech_commands(path, task=options.get("task"))  # None: "35", or "v2-12" for the test set
    elif layout == "speech-commands-v2-12":
        ds = read_speech_commands(path, task="v2-12")
    elif layout == "fsdd":
        ds = read_fsdd(path, options.get("split_by", "take"), options.get("test_speaker"))
    else:
        ds = read_folders(path)
    if not any(ds.splits.values()):
        raise SpcError(f"{path} holds no audio clips ({ds.layout} layout)")
    if len(ds.labels) < 2:
        raise SpcError(f"{path} has {len(ds.labels)} class ({', '.join(ds.labels) or 'none'}; {ds.layout} layout): "
                       "keyword spotting needs at least two classes")
    return ds
