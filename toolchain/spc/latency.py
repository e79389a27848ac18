"""Kept so existing imports work: the timing code lives in ``spc.bench`` (import it from there)."""

from __future__ import annotations

from .bench import LatencyStats, measure_side_by_side, stats, torch_cpu_latency

__all__ = ["LatencyStats", "measure_side_by_side", "stats", "torch_cpu_latency"]
