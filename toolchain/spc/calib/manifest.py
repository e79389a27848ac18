"""Calibration manifests (format: calibration/FORMAT.md).

A manifest lists clips by path relative to the data folder, with label and sha256, the data set it
was drawn from, the seed and the sampling rule. It is drawn from the validation (or training)
split, never the test split, class-balanced by default, and deterministic for a seed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..data.clips import ClipSet, _balanced_head, load_clips
from ..audio import BadAudio
from ..data.hf_rows import RowReaders
from ..data.dataset import ClipItem, KwsDataset
from ..data.reader import open_dataset
from ..errors import SpcError
from ..fileio import atomic_write_text, read_json, refuse_overlap, sha256_file

FORMAT = "spc-calibration/1"
RULES = ("class-balanced", "random")


@dataclass(frozen=True)
class CalibConfig:
    """A calibration set's draw: ``n_clips`` clips of ``split`` (never test) by ``rule``, seeded."""

    n_clips: int = 512
    split: str = "validation"
    rule: str = "class-balanced"
    seed: int = 0
    version: int = 1

    def __post_init__(self) -> None:
        if self.split == "test":
            raise SpcError("calibration clips never come from the test split; use validation (default) or train")
        if self.split not in ("validation", "train"):
            raise SpcError(f"unknown split '{self.split}'; calibration clips come from validation or train")
        if self.rule not in RULES:
            raise SpcError(f"unknown sampling rule '{self.rule}'; choose {', '.join(RULES)}")
        if self.n_clips < 1:
            raise SpcError(f"a calibration set needs at least 1 clip, got {self.n_clips}")

    def as_dict(self) -> dict:
        return asdict(self)


def make_manifest(ds: KwsDataset, config: CalibConfig = CalibConfig(), *, name: str = "") -> dict:
    """Draw ``config.n_clips`` clips of ``config.split`` by ``config.rule`` (seeded) and describe them with
    their hashes; the manifest records ``config``."""
    n, seed, split, rule = config.n_clips, config.seed, config.split, config.rule
    items = ds.split(split)
    if rule == "class-balanced":
        chosen = _balanced_head(items, n, seed)
    else:
        order = np.random.default_rng(seed).permutation(len(items))[:n]
        chosen = [items[i] for i in sorted(order)]
    root = Path(ds.root)
    rows = RowReaders()  # rows of a datasets folder: hashed by their stored audio, each split opened once
    clips = []
    for it in chosen:
        entry = {"path": os.path.relpath(it.path, root), "label": it.label, "start": it.start, "duration": it.duration}
        if it.row is None:
            entry["sha256"] = sha256_file(it.path)
        else:
            entry.update(row=int(it.row), source_split=it.split, sha256=rows.sha256(it))
        clips.append(entry)
    return {"format": FORMAT, "name": name, "dataset": {"layout": ds.layout, "options": ds.options, "labels": ds.labels},
            "split": split, "rule": rule, "seed": seed, "n": len(clips), "config": config.as_dict(), "clips": clips}


def manifest_hash(manifest: dict) -> str:
    """A hash of what the manifest selects (clips, labels, content hashes), for reports and caches."""
    body = [(c["path"], c["label"], c["sha256"], c.get("start"), c.get("duration")) for c in manifest["clips"]]
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()[:16]


def manifest_file(out: str | Path) -> Path:
    """Where ``save_manifest`` writes ``out`` (``NAME`` -> ``NAME.json``)."""
    path = Path(out)
    return path if path.suffix == ".json" else path.with_name(path.name + ".json")


def save_manifest(manifest: dict, out: str | Path, data_root: str | Path | None = None) -> Path:
    """Write a manifest (``NAME`` -> ``NAME.json``) atomically; refuse, before writing, a path inside the data
    folder or an existing file that is not a calibration manifest (an artifact's manifest, a model's config)."""
    path = manifest_file(out)
    refuse_overlap({"calibration manifest": path}, {"data folder": data_root})
    if path.is_dir():
        raise SpcError(f"calibration manifest {path} is a folder, not a file")
    if path.exists():
        try:
            old = read_json(path, "calibration manifest")
        except SpcError:  # unreadable: not a manifest of ours either
            old = {}
        if old.get("format") != FORMAT:
            raise SpcError(f"{path} exists and is not an spc calibration manifest: choose another --out "
                           "(calib make replaces only a calibration manifest)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(manifest, indent=1))


def calibration_dirs() -> list[Path]:
    return [Path.cwd(), Path.cwd() / "calibration", Path(__file__).resolve().parents[3] / "calibration"]


def load_manifest(name_or_path: str | Path) -> dict:
    """A manifest by path, or by name from ./, ./calibration/ or the project's calibration/."""
    p = Path(name_or_path)
    candidates = [p, p.with_name(p.name + ".json")] + [d / f"{p.name}.json" for d in calibration_dirs()] + \
        [d / p.name for d in calibration_dirs()]
    for c in candidates:
        if c.is_file():
            data = read_json(c, "calibration manifest")
            if data.get("format") != FORMAT:
                raise SpcError(f"{c} is not an spc calibration manifest ({FORMAT})")
            if data.get("split") == "test":
                raise SpcError(f"{c} draws from the test split; calibration must not")
            if data.get("clips") is None:
                raise SpcError(f"{c} is a rule without clips; build it with: spc calib make --from {c} --data DIR")
            _check_clips(c, data["clips"])
            return data
    raise SpcError(f"no calibration manifest '{name_or_path}' (looked in ., ./calibration and the project's calibration/)")


def _check_clips(path: Path, clips) -> None:
    """Every clip entry of a manifest names its path, label and sha256 (a damaged manifest is one line)."""
    ok = isinstance(clips, list) and all(
        isinstance(c, dict) and all(isinstance(c.get(k), str) for k in ("path", "label", "sha256")) for c in clips)
    if not ok:
        raise SpcError(f"{path} is damaged: every clip needs a path, a label and a sha256")
    if not clips:
        raise SpcError(f"{path} names no clip: make it again with spc calib make")
    from pathlib import PurePosixPath, PureWindowsPath

    for c in clips:  # entries resolve inside the data folder: an absolute or climbing path is refused, not read
        p = PurePosixPath(c["path"])
        if p.is_absolute() or PureWindowsPath(c["path"]).is_absolute() or ".." in p.parts:
            raise SpcError(f"{path} names {c['path']!r}, which is not inside the data folder: a calibration entry is a "
                           "path relative to it")


def check_manifest(manifest: dict, data_dir: str | Path) -> dict:
    """Which clips are missing from ``data_dir`` or changed (sha256 differs)."""
    root = Path(data_dir)
    missing, changed = [], []
    rows = RowReaders()
    for c in manifest["clips"]:
        f = root / c["path"]
        where = c["path"] if c.get("row") is None else f"{c['path']}#{c.get('source_split')}/{c['row']}"
        if c.get("row") is not None:  # a row of a datasets folder
            try:
                digest = rows.sha256(_item(root, c))
            except (BadAudio, SpcError, IndexError, KeyError, OSError):
                missing.append(where)
                continue
            if digest != c["sha256"]:
                changed.append(where)
        elif not f.is_file():
            missing.append(where)
        elif sha256_file(f) != c["sha256"]:
            changed.append(where)
    return {"clips": len(manifest["clips"]), "missing": missing, "changed": changed, "ok": not missing and not changed}


def load_clips_from_manifest(manifest: dict, data_dir: str | Path, *, rate: int, clip_seconds: float,
                             labels: list[str], strict: bool = True) -> ClipSet:
    """The manifest's clips as a ``ClipSet``; refuses missing or changed files when ``strict``."""
    if strict:
        status = check_manifest(manifest, data_dir)
        if not status["ok"]:
            raise SpcError(f"calibration set differs from {data_dir}: {len(status['missing'])} missing, "
                           f"{len(status['changed'])} changed (see spc calib check)")
    root = Path(data_dir)
    items = [_item(root, c) for c in manifest["clips"]]
    ds = KwsDataset(str(root), "manifest", list(labels), {"validation": items})
    return load_clips(ds, "validation", rate=rate, clip_seconds=clip_seconds, labels=labels, show_progress=False)


def _item(root: Path, c: dict) -> ClipItem:
    """The clip a manifest entry names: a file (or a segment of one), or a row of a datasets folder."""
    return ClipItem(str(root / c["path"]), c["label"], c.get("start") or 0.0, c.get("duration"),
                    row=c.get("row"), split=c.get("source_split"))


def make_from_rule(rule_file: str | Path, data_dir: str | Path) -> dict:
    """Materialise a rule-only manifest (the defaults in calibration/) against a copy of the data set."""
    rule = read_json(rule_file, "calibration rule")
    try:
        layout, options = str(rule["dataset"]["layout"]), dict(rule["dataset"].get("options", {}))
        n, seed, split, how = int(rule["n"]), int(rule["seed"]), str(rule["split"]), str(rule["rule"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SpcError(f"{rule_file} is not a calibration rule (dataset.layout, n, seed, split, rule): "
                       f"bad or missing {exc}") from None
    ds = open_dataset(data_dir, layout, **options)
    return make_manifest(ds, CalibConfig(n, split, how, seed), name=str(rule.get("name", "")))
