"""What every compress stage shares: the checked inputs (stage 1) and the run (settings, folders, timeline)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ...calib import load_manifest, manifest_hash
from ...calib.select import calibration_clips
from ...data import DataConfig, clips_for
from ...errors import SpcError
from ...fileio import check_output_dir, read_json, refuse_overlap, remove_output
from ...models import load_model, weights_hash
from ...targets import get_target
from ...training.loop import fingerprint
from .workdir import done, stage_dir
from .settings import REPORT, CompressConfig


@dataclass
class Inputs:
    """Everything stage 1 checked and loaded, handed to the other stages."""

    target: object
    model: object
    dataset: object
    clips: dict
    calib_clips: object
    calib_info: dict | None
    key: tuple
    run_id: str
    job: str


def check_and_load(model_src, data: DataConfig, out: Path, target_name: str, config: CompressConfig,
                   overwrite: bool, show_progress: bool) -> Inputs:
    """Stage 1: every user error before long work; then the model and the clips, once."""
    target = get_target(target_name)
    refuse_overlap({"output folder": out}, {"model": model_src, "data folder": data.root,
                                            "calibration manifest": config.calib, "negatives folder": config.negatives})
    check_output_dir(out)
    model = load_model(model_src)
    ds = data.open(show_notes=True)
    splits = ["validation", "test"]
    if config.method != "prune" or config.prune.heal.method != "none":
        splits.append("train")
    for split in splits:
        ds.split(split)
    if config.wants("prune"):
        config.prune.check_model(model.num_layers)
        config.prune.check_clips(len(ds.split("validation")), f"the validation split of {ds.root}")
    if config.wants("mimic"):
        config.mimic.check_teacher(model.width, model.num_layers)
    calib_hash = None
    if config.calib is not None:
        calib_hash = manifest_hash(load_manifest(config.calib))  # a missing or test-split manifest fails here
    key = (weights_hash(model), ds.content_hash(), calib_hash)
    run_id = fingerprint(key, target.name, config.as_dict())
    job = fingerprint(str(model_src), ds.root, target.name)  # the same command; the model or data may have changed
    if overwrite:
        remove_output(out, REPORT)
    if (out / REPORT).is_file():
        if read_json(out / REPORT, "compress report").get("job") != job:
            raise SpcError(f"{out} holds the report of another run; choose another output folder or overwrite it")
    elif out.is_dir() and any(out.iterdir()) and not (out / "work").is_dir():
        raise SpcError(f"output folder {out} is not empty and holds no spc report; choose another output folder")
    clips = clips_for(model, ds, splits, subset=data.subset, show_progress=show_progress)
    calib_clips, calib_info = calibration_clips(model, ds, data, config.analysis_clips, config.seed, config.calib)
    return Inputs(target, model, ds, clips, calib_clips, calib_info, key, run_id, job)


@dataclass
class Run:
    """What every stage shares: the checked inputs, the settings, the folders and the timeline."""

    inp: Inputs
    config: CompressConfig
    model_src: str
    data: DataConfig
    out: Path
    show_progress: bool
    t0: float = field(default_factory=time.perf_counter)
    timeline: list[str] = field(default_factory=list)
    clock: float = 0.0
    notes: list[str] = field(default_factory=list)  # what a stage left out, for the report's warnings

    @property
    def work(self) -> Path:
        return self.out / "work"

    def stage(self, name: str, *key) -> tuple[Path, dict | None]:
        """(the stage's folder keyed by its inputs' content, its recorded result or None where not done)."""
        path = stage_dir(self.work, name, *self.inp.key, *key)
        return path, done(path)

    def mark(self, name: str) -> None:
        """End a stage: its time goes into the timeline and, with progress shown, one line on stderr."""
        now = time.perf_counter()
        seconds = now - (self.clock or self.t0)
        self.timeline.append(f"{name} {seconds:.1f} s")
        self.clock = now
        if self.show_progress:
            from ...console import stderr

            stderr().print(f"compress: {name} done in {seconds:.1f} s ({now - self.t0:.0f} s in all)", highlight=False)
