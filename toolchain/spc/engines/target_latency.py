"""Latency on the target's own backend: built artifacts timed side by side at the target's headline shape.

What compress chooses by on any target it can build for here (TensorRT engines on a GPU; on the CPU,
ONNX Runtime graphs at the thread count each build chose, so a small student that is fastest on one
thread is ranked as it ships; compress builds them in its build stage) and how it compares the final
artifact with the original's: batch 1 at the target's clip length, all timed in one run.
"""

from __future__ import annotations

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
