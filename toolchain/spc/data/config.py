"""``DataConfig``: where the clips are and how to read them, in one value every recipe takes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from .dataset import KwsDataset
from .reader import LAYOUTS, open_dataset


@dataclass(frozen=True)
class DataConfig:
    """A data folder, its layout (``auto`` detects it) and the layout's options."""

    root: str
    layout: str = "auto"
    split_by: str | None = None  # fsdd: "take" or "speaker"
    test_speaker: str | None = None  # fsdd with a speaker split
    task: str | None = None  # speech-commands: "35" or "v2-12"
    subset: bool = False  # the data holds only some of the model's classes (mapped by name)
    version: int = 1

    def __post_init__(self) -> None:
        from ..errors import SpcError

        if self.layout not in LAYOUTS:
            raise SpcError(f"unknown data layout '{self.layout}'; choose one of {', '.join(LAYOUTS)}")
        object.__setattr__(self, "root", str(Path(self.root)))

    def options(self) -> dict:
        """The layout options that are set."""
        opts = {"split_by": self.split_by, "test_speaker": self.test_speaker, "task": self.task}
        return {k: v for k, v in opts.items() if v is not None}

    def open(self, show_notes: bool = False) -> KwsDataset:
        """Read the folder's file lists (no audio yet); with ``show_notes``, each thing the reader found odd but read
        anyway (a list's byte-order mark, a class folder of .mp3 files, links leading outside) as a warning line."""
        ds = open_dataset(self.root, self.layout, **self.options())
        if show_notes:
            from ..console import warn

            for note in ds.notes:
                warn(note)
        return ds

    def as_dict(self) -> dict:
        return asdict(self)


def as_data_config(data: "DataConfig | str | Path") -> DataConfig:
    """A ``DataConfig`` for a folder given as a plain path (the layout detected), or the config itself."""
    return data if isinstance(data, DataConfig) else DataConfig(str(data))


def clips_for(model, dataset: KwsDataset, splits, *, subset: bool = False, show_progress: bool = True) -> dict:
    """The clips of ``splits`` at the model's rate and length, their classes in the model's order."""
    from .clips import load_clips, map_labels

    order = map_labels(model.labels, dataset.labels, by_name=subset)
    return {s: load_clips(dataset, s, rate=model.meta.sampling_rate, clip_seconds=model.meta.clip_seconds,
                          labels=order, show_progress=show_progress) for s in splits}
