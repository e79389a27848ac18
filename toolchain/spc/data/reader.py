"""Opening a data folder in any supported layout: detect the layout, read it with its reader, check the result.

Apart from ``layouts`` (the folder layouts; the data set type in ``dataset``) so that the Hugging Face reader, which builds
on those types, is one more layout here and not an import back into ``layouts``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import SpcError
from .hf_datasets import is_hf_dataset, read_hf_dataset
from .dataset import KwsDataset
from .layouts import FSDD_NAME, read_folders, read_fsdd
from .scan import audio_files
from .speech_commands import LIST_FILES, is_speech_commands_test_set, read_speech_commands

LAYOUTS = ("auto", "speech-commands", "speech-commands-v2-12", "folders", "fsdd", "hf-datasets")


def detect_layout(root: Path) -> str:
    """Guess the layout of a folder from its files."""
    if any((root / f).is_file() for f in LIST_FILES.values()):
        return "speech-commands"
    if is_speech_commands_test_set(root):
        return "speech-commands"
    if is_hf_dataset(root):
        return "hf-datasets"
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    files = audio_files(folder)
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
        # task None: "35" for the full archive, "v2-12" for the test set and the preprocessed 12-class folder
        ds = read_speech_commands(path, task=options.get("task"))
    elif layout == "speech-commands-v2-12":
        ds = read_speech_commands(path, task="v2-12")
    elif layout == "fsdd":
        ds = read_fsdd(path, options.get("split_by", "take"), options.get("test_speaker"))
    elif layout == "hf-datasets":
        ds = read_hf_dataset(path)
    else:
        ds = read_folders(path)
    if not any(ds.splits.values()):
        raise SpcError(f"{path} holds no audio clips ({ds.layout} layout)")
    if len(ds.labels) < 2:
        raise SpcError(f"{path} has {len(ds.labels)} class ({', '.join(ds.labels) or 'none'}; {ds.layout} layout): "
                       "keyword spotting needs at least two classes")
    return ds
