"""The CPU build's thread count, chosen by timing the saved graph on the build machine.

ONNX Runtime defaults to one intra-op thread per core, which is right for large graphs and wrong for small
ones: measured on 2 cores, the tiny student ran 1.06 ms on one thread against 1.37 ms on two, since a
millisecond-long graph spends more on waking and joining a second thread than it gains from it. The build
times the graph at 1, 2, 4, ... threads up to the cores on one clip of the target's shape and keeps the fewest
threads within ``TOLERANCE`` of the fastest (a thread that buys less than that is a core the app loses).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..timing import time_at_shape
from .ort_run import ort_session

#: more threads are kept only when they are this much faster than fewer (fraction of the faster p50)
TOLERANCE = 0.05


def thread_candidates(cores: int) -> list[int]:
    """1, 2, 4, ... below ``cores``, and ``cores`` itself: [1] on one core, [1, 2, 4, 6] on six."""
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    return counts + [max(cores, 1)]


def pick_threads(p50_ms: dict[int, float], tolerance: float = TOLERANCE) -> int:
    """The fewest threads whose p50 is within ``tolerance`` of the fastest one's."""
    best = min(p50_ms.values())
    return min(n for n, ms in p50_ms.items() if ms <= best * (1 + tolerance))


def time_threads(path: str | Path, shape: tuple[int, int], cores: int | None = None, warmup: int = 3,
                 runs: int = 15) -> dict:
    """Time ``path`` at each of ``thread_candidates(cores)`` on a seeded (batch, samples) input, in interleaved
    rounds; the record the manifest keeps (``thread_choice``): the chosen count, every p50 in ms, the shape."""
    cores = cores or os.cpu_count() or 1
    sessions = {n: ort_session(path, n) for n in thread_candidates(cores)}
    names = {n: s.get_inputs()[0].name for n, s in sessions.items()}
    fns = {n: (lambda x, s=s, name=names[n]: s.run(None, {name: x})) for n, s in sessions.items()}
    timed = time_at_shape(fns, shape, warmup, runs)
    p50 = {n: t.p50_ms for n, t in timed.items()}
    return {"threads": pick_threads(p50), "chosen_by": "timing", "p50_ms": {str(n): round(v, 4) for n, v in p50.items()},
            "shape": list(shape), "runs": runs, "tolerance": TOLERANCE, "cores": cores}


def fixed_threads(threads: int, chosen_by: str) -> dict:
    """The record for a thread count set by the build's config or the target (nothing timed)."""
    return {"threads": threads, "chosen_by": chosen_by}
