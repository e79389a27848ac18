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

This module reads the folders and fsdd layouts; Speech Commands is ``speech_commands``, the folder walk ``scan``,
the data set type ``dataset``, and hf-datasets ``hf_datasets``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ..errors import SpcError
from .dataset import SPLITS, ClipItem, KwsDataset
from .scan import AUDIO_EXT, class_note, label_order, outside_note, scan_audio, subfolders
from .speech_commands import SILENCE, UNKNOWN

__all__ = ["AUDIO_EXT", "FSDD_NAME", "SILENCE", "UNKNOWN", "ClipItem", "KwsDataset", "read_folders", "read_fsdd"]

FSDD_NAME = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>[^_]+)_(?P<take>\d+)$")


def _hash_split(name: str, val_pct: float = 10.0, test_pct: float = 10.0) -> str:
    """Stable split of a file name (like Speech Commands' own rule): the same name, the same split."""
    h = int(hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest(), 16) % 10000 / 100.0
    return "validation" if h < val_pct else "test" if h < val_pct + test_pct else "train"



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
            for cls in subfolders(d):
                files, dangling = scan_audio(cls, root=root, outside=outside)
                if not files and not dangling:
                    notes.append(f"{split}: {class_note(cls)}")
                    continue
                labels.add(cls.name)
                splits[split].extend(ClipItem(str(f), cls.name) for f in files)
                skipped.setdefault(split, []).extend((str(f), why) for f, why in dangling)
        return KwsDataset(str(root), "folders", sorted(labels), splits, {"split": "folders"},
                          notes=notes + outside_note(root, outside), skipped={k: v for k, v in skipped.items() if v})
    classes = []
    for cls in subfolders(root):
        files, dangling = scan_audio(cls, root=root, outside=outside)
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
    files, links = scan_audio(folder, recursive=False)
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
