"""Latency of artifacts on their backend (ONNX Runtime or TensorRT) and of PyTorch models, side by side."""

from __future__ import annotations

import os
import platform

import numpy as np

from .latency import measure_side_by_side


def shapes_for(target, rate: int, max_samples: int) -> list[tuple[int, int]]:
    """(batch, samples) pairs to time: the target's min/opt/max batch at its opt clip length, and the
    opt batch at the min/max clip lengths."""
    p = target.profile

    def n(sec):
        return min(max_samples, int(round(sec * rate)))

    pairs = [(p.opt_batch, n(p.opt_seconds)), (p.min_batch, n(p.opt_seconds)), (p.max_batch, n(p.opt_seconds)),
             (p.opt_batch, n(p.min_seconds)), (p.opt_batch, n(p.max_seconds))]
    return list(dict.fromkeys(pairs))


def bench_callables(fns: dict, shapes: list[tuple[int, int]], warmup: int = 5, runs: int = 30, seed: int = 0) -> list[dict]:
    """Each of ``fns`` (audio -> logits) at each shape, interleaved; p50/p90/p99/mean and clips per second."""
    rows = []
    for batch, samples in shapes:
        x = (0.1 * np.random.default_rng(seed).standard_normal((batch, samples))).astype(np.float32)
        stats = measure_side_by_side({k: (lambda f=f: f(x)) for k, f in fns.items()}, warmup, runs)
        for name, s in stats.items():
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
    except Exception:  # no GPU or no cuda-python: a CPU machine
        info["gpu"] = None
    return info
