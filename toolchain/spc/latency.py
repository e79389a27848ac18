"""Latency measured side by side: candidates are timed in interleaved rounds in one run, so that a
noisy machine slows them alike and their ratios stay meaningful."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np


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
