"""All of spc's latency measurement in one module: side-by-side timing, the shapes to time, machine facts.

Candidates are timed in interleaved rounds in one run, so that a noisy machine slows them alike and
their ratios stay meaningful. Artifacts are timed through their runners (``spc.engines.runner``), at
shapes taken from the target's profile and kept within every artifact's own (engine) profile.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from .errors import SpcError


@dataclass(frozen=True)
class ShapeProfile:
    """Batch sizes and clip lengths (seconds) an engine is built for."""

    min_batch: int
    opt_batch: int
    max_batch: int
    min_seconds: float
    opt_seconds: float
    max_seconds: float


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds per call over ``runs`` timed calls (after warm-up)."""

    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    runs: int

    def as_dict(self) -> dict:
        return asdict(self)


def stats(times_s: list[float]) -> LatencyStats:
    ms = np.asarray(times_s) * 1e3
    return LatencyStats(float(ms.mean()), float(np.percentile(ms, 50)), float(np.percentile(ms, 90)),
                        float(np.percentile(ms, 99)), len(ms))


def measure_side_by_side(fns: dict[str, Callable[[], object]], warmup: int = 3, runs: int = 20,
                         timer: Callable[[], float] = time.perf_counter) -> dict[str, LatencyStats]:
    """Time each zero-argument callable ``runs`` times, rotating their order every round."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(runs):
        for name in names[r % len(names):] + names[: r % len(names)]:
            t0 = timer()
            fns[name]()
            times[name].append(timer() - t0)
    return {name: stats(t) for name, t in times.items()}


def torch_cpu_latency(models: dict, batch: int = 1, samples: int = 16000, warmup: int = 3, runs: int = 20,
                      seed: int = 0) -> dict[str, LatencyStats]:
    """Side-by-side latency of PyTorch models (audio -> logits) on one fixed random input."""
    import torch

    audio = torch.from_numpy(np.random.default_rng(seed).standard_normal((batch, samples)).astype(np.float32) * 0.1)

    def runner(m):
        m.eval()

        def call():
            with torch.inference_mode():
                m(audio)

        return call

    return measure_side_by_side({k: runner(m) for k, m in models.items()}, warmup, runs)


def profile_shapes(profile, rate: int, max_samples: int) -> list[tuple[int, int]]:
    """(batch, samples) pairs to time: min/opt/max batch at the opt clip length, and the opt batch at the
    min/max clip lengths (``profile`` is a ``ShapeProfile``)."""
    p = profile

    def n(sec):
        return min(max_samples, int(round(sec * rate)))

    pairs = [(p.opt_batch, n(p.opt_seconds)), (p.min_batch, n(p.opt_seconds)), (p.max_batch, n(p.opt_seconds)),
             (p.opt_batch, n(p.min_seconds)), (p.opt_batch, n(p.max_seconds))]
    return list(dict.fromkeys(pairs))


def shapes_for(target, rate: int, max_samples: int) -> list[tuple[int, int]]:
    """The shapes ``profile_shapes`` gives for a target's profile."""
    return profile_shapes(target.profile, rate, max_samples)


def recorded_profile(data):
    """The shape profile a built artifact's manifest records (``target.profile``), checked: one user error for a
    damaged one (an unknown key, a string, zero seconds)."""
    try:
        profile = ShapeProfile(**data)
        numbers = [getattr(profile, f) for f in ("min_batch", "opt_batch", "max_batch", "min_seconds", "opt_seconds",
                                                  "max_seconds")]
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 and x == x and x != float("inf")
                   for x in numbers):
            raise ValueError(numbers)
        return profile
    except (TypeError, ValueError) as exc:
        raise SpcError(f"the artifact's manifest records a damaged shape profile ({str(exc)[:80]}): build it again "
                       "or give --target") from None


def bench_shapes(target, manifests: list[dict]) -> list[tuple[int, int]]:
    """Shapes to time artifacts at: the target's profile (or, without one, the first artifact's build
    target), each shape clipped into every artifact's engine profile so no runner is asked beyond it."""
    from .errors import SpcError

    rate = int(manifests[0]["sampling_rate"])
    max_samples = min(int(m.get("max_samples", 30 * rate)) for m in manifests)
    profile = target.profile if target is not None else None
    if profile is None:
        built_for = next((m["target"].get("profile") for m in manifests if isinstance(m.get("target"), dict)), None)
        if built_for is None:
            raise SpcError("no --target given and no artifact records the target it was built for")
        profile = recorded_profile(built_for)
    limits = [m["profiles"] for m in manifests if m.get("profiles")]
    shapes = []
    for batch, samples in profile_shapes(profile, rate, max_samples):
        for lim in limits:
            batch = min(max(batch, int(lim["min"][0])), int(lim["max"][0]))
            samples = min(max(samples, int(lim["min"][1])), int(lim["max"][1]))
        shapes.append((batch, samples))
    return list(dict.fromkeys(shapes))


def time_at_shape(fns: dict, shape: tuple[int, int], warmup: int = 5, runs: int = 30,
                  seed: int = 0) -> dict[str, LatencyStats]:
    """Each of ``fns`` (audio -> logits: runners or plain callables) timed side by side on one seeded random
    input of ``shape`` (batch, samples)."""
    batch, samples = shape
    x = (0.1 * np.random.default_rng(seed).standard_normal((batch, samples))).astype(np.float32)
    return measure_side_by_side({k: (lambda f=f: f(x)) for k, f in fns.items()}, warmup, runs)


def bench_callables(fns: dict, shapes: list[tuple[int, int]], warmup: int = 5, runs: int = 30, seed: int = 0) -> list[dict]:
    """Each of ``fns`` at each shape, interleaved; p50/p90/p99/mean and clips per second."""
    rows = []
    for batch, samples in shapes:
        for name, s in time_at_shape(fns, (batch, samples), warmup, runs, seed).items():
            rows.append({"artifact": name, "batch": batch, "samples": samples, **s.as_dict(),
                         "clips_per_s": batch / (s.mean_ms / 1e3)})
    return rows


def machine_info() -> dict:
    """What latency figures were measured on."""
    import onnxruntime

    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "platform": platform.platform()}
    try:
        from .engines.cuda_env import gpu_info

        info.update(gpu_info())
    except (SpcError, RuntimeError) as exc:  # no GPU, no cuda-python, or a driver problem: say which
        info["gpu"] = None
        info["gpu_note"] = str(exc)
    return info
