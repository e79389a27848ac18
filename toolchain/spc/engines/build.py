"""``spc build``: an ONNX file -> the artifact a target runs (TensorRT engine or optimised ONNX Runtime graph)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import SpcError
from .manifest import read_manifest


@dataclass
class BuildReport:
    artifact: str
    manifest: dict


def default_output(onnx_path: Path, target) -> Path:
    suffix = ".engine" if target.is_gpu else ".ort.onnx"
    return onnx_path.with_name(f"{onnx_path.stem}.{target.name}{suffix}")


def build_artifact(onnx_path: str | Path, target, out: str | Path | None = None, *, fp32_norms: bool = True,
                   timing_cache: str | Path | None = None) -> BuildReport:
    """Build for ``target`` (a ``spc.targets.Target``); GPU targets fail at once where TensorRT or a GPU is missing."""
    src = Path(onnx_path)
    if not src.is_file():
        raise SpcError(f"{src} does not exist")
    read_manifest(src)  # an ONNX file spc did not export has no labels or shapes: refuse it early
    out_path = Path(out) if out else default_output(src, target)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if target.is_gpu:
        from .tensorrt_build import build_tensorrt

        cache = Path(timing_cache) if timing_cache else out_path.parent / "timing.cache"
        manifest = build_tensorrt(src, target, out_path, fp32_norms=fp32_norms, timing_cache=cache)
    else:
        from .ort_build import build_ort

        manifest = build_ort(src, target, out_path)
    return BuildReport(str(out_path), manifest)
