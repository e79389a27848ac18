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
    from ..fileio import read_json

    path = manifest_path(artifact)
    if not path.is_file():
        raise SpcError(f"{artifact} has no manifest ({path.name}); export or build it with spc")
    return read_json(path, "artifact manifest")


def write_manifest(artifact: str | Path, data: dict) -> Path:
    from ..fileio import atomic_write_text

    return atomic_write_text(manifest_path(artifact), json.dumps(data, indent=2))


def load_artifact_manifest(artifact: str | Path) -> dict:
    """The manifest of an artifact about to be run, its sha256 checked against the file (one line on mismatch)."""
    from ..errors import SpcError
    from ..fileio import sha256_file

    path = Path(artifact)
    if not path.is_file():
        raise SpcError(f"artifact {path} does not exist")
    manifest = read_manifest(path)
    want = manifest.get("sha256")
    if want:
        got = sha256_file(path)
        if got != want:
            raise SpcError(f"{path} does not match its manifest (sha256 {got[:12]}..., manifest {want[:12]}...): "
                           "the file is truncated or was replaced; export or build it again")
    return manifest


SCHEMA_VERSION = 1
#: what belongs to one file and is never inherited by an artifact derived from it
OWN_KEYS = ("file", "sha256", "bytes", "kind", "precision", "export", "config", "provenance", "schema_version",
            "source_onnx", "source_sha256")


def derive_manifest(artifact: str | Path, parent: dict | None, *, parent_path: str | Path | None = None,
                    made_by: dict | None = None, **fields) -> dict:
    """The manifest of ``artifact``: what it shares with its parent (labels, rate, shapes), ``fields``, its own
    sha256, and provenance chaining it to the parent (path, sha256, the parent's own provenance) and to how it
    was made (``made_by``: the recipe and config). The one way every spc artifact gets its manifest."""
    from ..fileio import sha256_file

    path = Path(artifact)
    inherited = {k: v for k, v in (parent or {}).items() if k not in OWN_KEYS}
    provenance = {**(made_by or {})}
    if parent is not None:
        provenance["parent"] = {"path": str(parent_path) if parent_path else None, "sha256": parent.get("sha256"),
                                "kind": parent.get("kind"), "provenance": parent.get("provenance")}
        fields.setdefault("source_onnx", str(parent_path) if parent_path else None)
        fields.setdefault("source_sha256", parent.get("sha256"))
    return {**inherited, **fields, "file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size,
            "schema_version": SCHEMA_VERSION, "provenance": provenance}
