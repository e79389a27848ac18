"""Latency on the target's own backend: build each candidate for the target and time the built artifacts.

What compress chooses by on any target it can build for here (TensorRT engines on a GPU; on the CPU,
ONNX Runtime graphs at the thread count each build chose, so a small student that is fastest on one
thread is ranked as it ships) and how it compares the final artifact with the original's: batch 1 at
the target's clip length, all candidates timed side by side in one run.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ..timing import LatencyStats, time_at_shape


@dataclass(frozen=True)
class TargetLatency:
    """One candidate built for the target and timed there (at ``batch`` x ``samples``)."""

    name: str
    artifact: str
    batch: int
    samples: int
    stats: LatencyStats

    @property
    def p50_ms(self) -> float:
        return self.stats.p50_ms

    def as_dict(self) -> dict:
        """Flat: name, artifact, shape and the latency figures."""
        return {"name": self.name, "artifact": self.artifact, "batch": self.batch, "samples": self.samples,
                **self.stats.as_dict()}


def headline_shape(target, manifest: dict) -> tuple[int, int]:
    """Batch 1 at the target's (opt) clip length, within the model's longest input."""
    rate = int(manifest["sampling_rate"])
    samples = int(round(target.profile.opt_seconds * rate))
    return 1, min(samples, int(manifest.get("max_samples", samples)))


def stale_engine(manifest: dict, target, gpu: dict) -> str:
    """Why a kept artifact must be built again here ("" to reuse it): an engine from another GPU, board or
    TensorRT version is rebuilt, never a stop (CPU graphs are not tied to the machine)."""
    if not target.is_gpu:
        return ""
    from .cuda_env import import_tensorrt
    from .tensorrt_run import stale_reason

    return stale_reason(manifest, gpu, import_tensorrt().__version__)


def _same_source(built: dict, source: dict) -> bool:
    """Whether a kept artifact was built from this ONNX as it is now: its graph and the temperature that
    compress calibrates into the export's manifest after the export (a build inherits it)."""
    return built.get("source_sha256") == source.get("sha256") and built.get("temperature") == source.get("temperature")


def measure_on_target(candidates: dict[str, str | Path], target, out_dir: str | Path, *, runs: int = 20,
                      warmup: int = 3, seed: int = 0, threads: int = 0, rebuild: bool = False) -> dict[str, TargetLatency]:
    """Build every ONNX candidate (name -> path) for ``target`` into ``out_dir`` and time them side by side.

    Raises ``BuildDeferred`` where this machine cannot build for the target (the caller then ranks by
    ONNX Runtime and leaves the build to the device). An artifact already built from the same ONNX
    (its manifest's source_sha256 matches, and the calibrated temperature it inherits) is reused unless
    ``rebuild``.
    """
    from .build import artifact_name, build_artifact
    from .device import require_build
    from .artifact_manifest import manifest_path, read_manifest

    check = require_build(target)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    built = {}
    for name, onnx in candidates.items():
        dest = out / artifact_name(onnx, target)
        src_sha = read_manifest(onnx).get("sha256")
        if (not rebuild and dest.is_file() and manifest_path(dest).is_file()
                and src_sha and _same_source(read_manifest(dest), read_manifest(onnx))):
            why = stale_engine(read_manifest(dest), target, check.gpu)
            if not why:
                built[name] = str(dest)
                continue
            print(f"note: rebuilding {dest.name}: {why}", file=sys.stderr)
        built[name] = build_artifact(onnx, target, dest).artifact
    return time_built(built, target, runs=runs, warmup=warmup, seed=seed, threads=threads)


def time_built(built: dict[str, str | Path], target, *, runs: int = 20, warmup: int = 3, seed: int = 0,
               threads: int = 0) -> dict[str, TargetLatency]:
    """Time built artifacts (name -> path) side by side at the target's headline shape, each on its own
    runner (a CPU graph on the threads its build chose unless ``threads``)."""
    from contextlib import ExitStack

    from .loader import open_runner

    with ExitStack() as stack:
        runners = {name: stack.enter_context(open_runner(path, threads)) for name, path in built.items()}
        shape = headline_shape(target, next(iter(runners.values())).manifest)
        timed = time_at_shape(runners, shape, warmup=warmup, runs=runs, seed=seed)
    return {name: TargetLatency(name, str(built[name]), *shape, s) for name, s in timed.items()}
