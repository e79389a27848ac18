"""Artifact manifests: the JSON beside every model.onnx / model.engine / model.ort.onnx."""

from __future__ import annotations

import json
from pathlib import Path


def manifest_path(artifact: str | Path) -> Path:
    p = Path(artifact)
    return p.with_name(p.name + ".json")


def read_manifest(artifact: str | Path) -> dict:
    """The manifest of an artifact; a user error where it is missing."""
    from ..errors import SpcError

    path = manifest_path(artifact)
    if not path.is_file():
        raise SpcError(f"{artifact} has no manifest ({path.name}); export or build it with spc")
    return json.loads(path.read_text())


def write_manifest(artifact: str | Path, data: dict) -> Path:
    from ..fileio import atomic_write_text

    return atomic_write_text(manifest_path(artifact), json.dumps(data, indent=2))
