"""Calibration sets: small, reproducible manifests of the clips every stage measures on."""

from .manifest import (CalibConfig, check_manifest, load_clips_from_manifest, load_manifest, make_manifest, manifest_hash,
                       save_manifest)

__all__ = ["CalibConfig", "make_manifest", "save_manifest", "load_manifest", "check_manifest", "manifest_hash",
           "load_clips_from_manifest"]
