"""``spc build``: an ONNX file -> the artifact a target runs (TensorRT engine or optimised ONNX Runtime graph)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import SpcError
from ..fileio import check_output_file, refuse_overlap
from .artifact_manifest import manifest_path, read_manifest, write_manifest
from .backends import for_target


@dataclass(frozen=True)
class BuildConfig:
    """Build settings beyond the target's. TensorRT: ONNX nodes kept in FP32 (``fp32_layers``, and the layers a
    ``spc precision`` precision.json flagged, ``fp32_from``) and the timing-cache folder (None: the artifact's).
    CPU: the ONNX Runtime threads the artifact runs with (``threads``; 0: the target's, else the fastest count
    timed at build, ``engines.ort_threads``)."""

    fp32_layers: tuple[str, ...] = ()
    fp32_from: str | None = None
    timing_cache: str | None = None
    threads: int = 0
    #: TensorRT: the batch the optimisation profile is tuned for (0: the target's opt_batch); compress tunes for the
    #: batch it times (1), since TensorRT picks its kernels for the optimum shape
    opt_batch: int = 0
    version: int = 3

    def __post_init__(self) -> None:
        import os

        if not isinstance(self.opt_batch, int) or not 0 <= self.opt_batch <= 4096:
            raise SpcError(f"opt_batch must be 0 (the target's) to 4096, not {self.opt_batch!r}")
        if not 0 <= int(self.threads) <= (os.cpu_count() or 1):
            raise SpcError(f"threads must be 0 (pick by timing) to {os.cpu_count() or 1} (the cores here), "
                           f"not {self.threads}")
        names = []  # "a,b", ["a", "b"] or a repeated option's [("a", "b"), ("c",)]
        for item in self.fp32_layers:
            names += [str(n) for n in item] if isinstance(item, (tuple, list)) else str(item).split(",")
        object.__setattr__(self, "fp32_layers", tuple(n.strip() for n in names if n.strip()))
        object.__setattr__(self, "threads", int(self.threads))

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class BuildReport:
    artifact: str
    manifest: dict


def artifact_name(onnx_path: str | Path, target) -> str:
    """The one naming rule for built artifacts: ``<stem>.<target><suffix>``, the suffix the target's backend's
    (``.engine`` for TensorRT, ``.ort.onnx`` for ONNX Runtime)."""
    return f"{Path(onnx_path).stem}.{target.name}{for_target(target).suffix}"


def default_output(onnx_path: Path, target) -> Path:
    return Path(onnx_path).with_name(artifact_name(onnx_path, target))


def build_artifact(onnx_path: str | Path, target, out: str | Path | None = None,
                   config: BuildConfig = BuildConfig()) -> BuildReport:
    """Build for ``target`` (a ``spc.targets.Target``); ``out`` is a file (``.onnx`` / ``.engine``), or a folder
    that gets ``artifact_name``.

    GPU targets raise ``BuildDeferred`` ("cannot build <target> here: <why>") where TensorRT, a GPU
    or the target's GPU is missing, before anything is written. ``fp32_layers`` (ONNX node names)
    and the layers ``fp32_from`` (a ``spc precision`` precision.json) flagged stay FP32 in the engine;
    ``timing_cache`` is the folder of TensorRT timing caches (default: the artifact's folder). The artifact's
    manifest records ``config`` (``build_config``), so ``spc build --config ARTIFACT.json`` builds it again.
    """
    fp32_from = config.fp32_from
    src = Path(onnx_path)
    if not src.is_file():
        raise SpcError(f"{src} does not exist")
    manifest = read_manifest(src)  # an ONNX file spc did not export has no labels or shapes: refuse it early
    made = manifest.get("provenance") or {}
    if made.get("recipe") == "build" or manifest.get("kind", "onnx") != "onnx":
        origin = Path(str(manifest.get("source_onnx") or "the ONNX export")).name
        raise SpcError(f"{src.name} is already built for {made.get('target', 'a target')}; build {origin} "
                       "(the ONNX export it came from) instead")
    backend = for_target(target)
    backend.check(config)
    out_path = Path(out) if out else default_output(src, target)
    # a folder: an existing one, a trailing slash, or a name without an artifact's suffix (a Path drops the slash)
    suffix = backend.suffix
    if out is not None and (out_path.is_dir() or str(out).endswith(("/", "\\"))
                            or not str(out_path).endswith((".onnx", ".engine", suffix))):
        out_path = out_path / artifact_name(src, target)
    refuse_overlap({"output": out_path, "output manifest": manifest_path(out_path)},
                   {"ONNX source": src, "source manifest": manifest_path(src), "precision file": fp32_from})
    check_output_file(out_path)  # before the build, not after
    out_path.parent.mkdir(parents=True, exist_ok=True)
    manifest = backend.build(src, target, out_path, config)
    manifest = {**manifest, "build_config": config.as_dict()}
    write_manifest(out_path, manifest)
    return BuildReport(str(out_path), manifest)
