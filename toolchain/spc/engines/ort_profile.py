"""Where an ONNX graph spends its time on the CPU: ONNX Runtime's own profiler, summed per op type.

ONNX Runtime writes a Chrome trace (one ``Session``/``model_run`` event per run and one ``Node`` event per
kernel, ``args.op_name`` its op type); the warm-up runs are dropped by their place in the trace, and each op
type's kernel time is given as a share of the kernels' total, so the figure answers "what would a faster
kernel of this kind buy" on the machine that ran it.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class OpShare:
    """One op type's kernel time over the measured runs."""

    op_type: str
    nodes: int  # how many nodes of this type the optimised graph runs
    ms_per_run: float
    share: float  # of all kernel time


@dataclass(frozen=True)
class OpProfile:
    """Per-op-type kernel times of one graph at one input shape, most expensive first."""

    path: str
    shape: tuple[int, int]  # (batch, samples)
    threads: int
    runs: int
    run_ms_p50: float  # whole-run wall time (the trace's model_run events), median
    kernel_ms_per_run: float  # the kernels' sum; below run_ms_p50 by the session's own overhead
    ops: tuple[OpShare, ...]
    top_nodes: tuple[tuple[str, str, float], ...]  # (node name, op type, ms per run), the 10 dearest

    def as_dict(self) -> dict:
        d = asdict(self)
        d["ops"] = [asdict(o) for o in self.ops]
        d["top_nodes"] = [list(t) for t in self.top_nodes]
        return d


def summarize_trace(events: list[dict], warmup: int) -> tuple[list[float], dict, dict]:
    """The trace's per-run wall times (ms) after ``warmup`` runs, and the kernel microseconds of those runs
    per op type and per node ((op type, total us, node count) and (op type, total us))."""
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])[warmup:]
    spans = [(e["ts"], e["ts"] + e["dur"]) for e in runs]
    per_op: dict[str, list] = defaultdict(lambda: [0.0, set()])
    per_node: dict[str, list] = defaultdict(lambda: ["", 0.0])
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        if not any(a <= e["ts"] <= b for a, b in spans):
            continue
        op = e.get("args", {}).get("op_name", "?")
        node = e["name"][: -len("_kernel_time")]
        per_op[op][0] += e["dur"]
        per_op[op][1].add(node)
        per_node[node][0] = op
        per_node[node][1] += e["dur"]
    return ([(b - a) / 1000 for a, b in spans], {k: (v[0], len(v[1])) for k, v in per_op.items()},
            {k: tuple(v) for k, v in per_node.items()})


def profile_ops(path: str | Path, shape: tuple[int, int] = (1, 16000), *, runs: int = 30, warmup: int = 5,
                threads: int = 0, seed: int = 0) -> OpProfile:
    """Profile ``path`` (an .onnx or a built .ort.onnx) on the CPU at (batch, samples) of seeded noise."""
    from ..fileio import read_json_array
    from .ort_run import ort_session

    batch, samples = shape
    audio = (0.05 * np.random.default_rng(seed).standard_normal((batch, samples))).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        session = ort_session(path, threads, profile_prefix=str(Path(tmp) / "ort"))
        name = session.get_inputs()[0].name
        for _ in range(warmup + runs):
            session.run(None, {name: audio})
        trace = Path(session.end_profiling())
        events = read_json_array(trace, "ONNX Runtime profile")
        used = session.get_session_options().intra_op_num_threads
    walls, per_op, per_node = summarize_trace(events, warmup)
    total = sum(us for us, _ in per_op.values()) or 1.0
    ops = tuple(OpShare(op, n, us / runs / 1000, us / total)
                for op, (us, n) in sorted(per_op.items(), key=lambda kv: -kv[1][0]))
    top = tuple((node, op, us / runs / 1000)
                for node, (op, us) in sorted(per_node.items(), key=lambda kv: -kv[1][1])[:10])
    return OpProfile(str(path), (batch, samples), used, runs, float(np.median(walls)) if walls else float("nan"),
                     total / runs / 1000, ops, top)


__all__ = ["OpShare", "OpProfile", "profile_ops", "summarize_trace"]
