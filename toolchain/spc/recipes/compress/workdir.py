"""A work folder that keeps each stage's output keyed by its inputs: re-running skips what is done,
and an interrupted stage resumes inside its own folder."""

from __future__ import annotations

import json
from pathlib import Path

from ...fileio import atomic_write_text, read_json
from ...training.loop import fingerprint

DONE = "stage.json"


def stage_dir(work: Path, name: str, *key) -> Path:
    """``work/NAME-KEYHASH``: the same inputs always map to the same folder."""
    return work / f"{name}-{fingerprint(name, *key)[:12]}"


def done(path: Path) -> dict | None:
    """The recorded result of a finished stage, or None."""
    f = path / DONE
    return read_json(f, "stage record") if f.is_file() else None


def finish(path: Path, result: dict) -> dict:
    """Record a stage as finished (atomically)."""
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path / DONE, json.dumps(result, indent=2, default=str))
    return result
