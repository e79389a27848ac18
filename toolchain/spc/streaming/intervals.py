"""Intervals for a detector read at a carried operating point, resampling both sides of the evidence.

The miss rate at the budget depends on the keyword occurrences and on the negative audio that set the threshold.
So each bootstrap resample draws, together and paired across models (all face the same streams):

- the validation negative audio in blocks (``BLOCK_SECONDS`` of one recording), and re-chooses each model's
  threshold there (the lowest at which its false-accept events stay within the budget);
- the test keyword occurrences and the test negative audio blocks, and reads each model's misses and false
  accepts at its re-chosen threshold.

It works on a compact summary of each model (``Evidence``): per keyword occurrence its peak score (the highest
threshold that would hit it) and per block the peak scores of its false-accept events (runs of negative-time
windows above ``FLOOR`` no more than a refractory period apart), at the carried point's smoothing and refractory
period, each occurrence the exact reading misses at the point counted as missed from the point's threshold up.
That is what the exact readings reduce to, refractory interactions away from the point aside; the point estimates
come from the exact readings (``spc.streaming.reading``), the intervals from this. No torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .decisions import occurrence_peaks, read_recording
from .operating_point import OperatingPoint
from .reading import View, _covered

BLOCK_SECONDS = 300.0
FLOOR = 0.02  # scores below this never make a false-accept event (no budget puts a threshold there)


@dataclass
class Evidence:
    """One model on one split at one smoothing and refractory period: occurrence peaks and events per block."""

    peaks: np.ndarray  # per keyword occurrence (included recordings, recording order)
    block_hours: np.ndarray  # per block, negative hours
    block_events: list[np.ndarray]  # per block, the peak score of each false-accept event


def evidence(view: View, point: OperatingPoint) -> Evidence:
    """The summary the bootstrap resamples, for ``view`` at ``point``'s smoothing and refractory period."""
    clip_s = view.streams.clip_seconds
    hop = view.scores.hop_seconds
    peaks, hours, events = [], [], []
    for r, (series, kws) in enumerate(zip(view.series(point.smooth), view.keywords)):
        if not view.include[r]:
            continue
        peak = occurrence_peaks(series, kws, clip_s)
        # an occurrence the exact reading misses although its peak clears the threshold (a detection just before
        # it held the refractory period) counts as missed at and above the point's threshold
        hit = read_recording(series, kws, point.threshold, point.refractory_seconds, clip_s).hits
        held = ~hit & (peak >= point.threshold)
        peak[held] = np.nextafter(point.threshold, 0.0)
        peaks.append(peak)
        lo, hi = _covered(kws, clip_s)
        e = series.end_s
        if len(lo):
            j = np.searchsorted(lo, e, side="left") - 1
            inside = (j >= 0) & (e < hi[np.maximum(j, 0)]) & (e > lo[np.maximum(j, 0)])
        else:
            inside = np.zeros(len(e), bool)
        negative = ~inside
        block = np.floor(series.centre_s / BLOCK_SECONDS).astype(int)
        n_blocks = int(block.max()) + 1 if len(block) else 0
        for b in range(n_blocks):
            in_block = (block == b) & negative
            hours.append(in_block.sum() * hop / 3600)
            idx = np.flatnonzero(in_block & (series.score >= FLOOR))
            events.append(_event_peaks(series.score[idx], series.centre_s[idx], point.refractory_seconds))
    return Evidence(np.concatenate(peaks) if peaks else np.zeros(0), np.asarray(hours), events)


def _event_peaks(scores: np.ndarray, times: np.ndarray, refractory: float) -> np.ndarray:
    """The peak score of each run of windows whose centres lie less than ``refractory`` apart."""
    if len(scores) == 0:
        return scores
    breaks = np.flatnonzero(np.diff(times) >= max(refractory, 1e-9)) + 1
    return np.array([seg.max() for seg in np.split(scores, breaks)])


def threshold_for(events: np.ndarray, hours: float, budget: float) -> float:
    """The lowest threshold at which the events (peak scores) stay within ``budget`` per hour of ``hours``."""
    allowed = math.floor(budget * hours + 1e-9)
    if len(events) <= allowed:
        return FLOOR
    ranked = np.sort(events)[::-1]
    return float(np.nextafter(ranked[allowed], np.inf))


def bootstrap(validation: Mapping[str, Evidence], test: Mapping[str, Evidence], budget: float, *,
              reference: str | None = None, n_resamples: int = 1000, confidence: float = 0.95,
              seed: int = 0) -> dict[str, dict]:
    """Per model: 95% intervals of the test miss rate and FA/h at a threshold re-chosen on resampled validation
    negatives, and (against ``reference``) of the hit-rate retention; every model resampled with the same draws."""
    names = list(test)
    first_v, first_t = validation[names[0]], test[names[0]]
    n_vb, n_tb, n_occ = len(first_v.block_hours), len(first_t.block_hours), len(first_t.peaks)
    rng = np.random.default_rng(seed)
    miss = {n: np.full(n_resamples, np.nan) for n in names}
    fa = {n: np.full(n_resamples, np.nan) for n in names}
    for b in range(n_resamples):
        vb = rng.integers(0, n_vb, n_vb) if n_vb else np.zeros(0, int)
        tb = rng.integers(0, n_tb, n_tb) if n_tb else np.zeros(0, int)
        occ = rng.integers(0, n_occ, n_occ) if n_occ else np.zeros(0, int)
        for n in names:
            v, t = validation[n], test[n]
            v_hours = float(v.block_hours[vb].sum())
            v_events = np.concatenate([v.block_events[i] for i in vb]) if len(vb) else np.zeros(0)
            thr = threshold_for(v_events, v_hours, budget)
            if n_occ:
                miss[n][b] = float((t.peaks[occ] < thr).mean())
            t_hours = float(t.block_hours[tb].sum())
            if t_hours > 0:
                fa[n][b] = sum(int((t.block_events[i] >= thr).sum()) for i in tb) / t_hours
    q = [(1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100]
    out = {}
    for n in names:
        row = {"miss_rate_ci": _pct(miss[n], q), "fa_per_hour_ci": _pct(fa[n], q), "resamples": n_resamples}
        if reference is not None and n != reference:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = (1 - miss[n]) / (1 - miss[reference])
            row["retention_ci"] = _pct(ratio[np.isfinite(ratio)], q)
            row["absolute_ci"] = _pct(1.0 - (miss[n] - miss[reference]), q)
        out[n] = row
    return out


def _pct(x: np.ndarray, q) -> list[float | None]:
    x = x[np.isfinite(x)]
    return [float(v) for v in np.percentile(x, q)] if len(x) else [None, None]


def bootstrap_fixed(test: Mapping[str, Evidence], thresholds: Mapping[str, float], *, n_resamples: int = 1000,
                    confidence: float = 0.95, seed: int = 0) -> dict[str, dict]:
    """Per model: 95% intervals of the test miss rate and FA/h at a fixed threshold (a point carried in from
    elsewhere, whose validation evidence is not here), resampling test occurrences and negative blocks together."""
    names = list(test)
    n_tb, n_occ = len(test[names[0]].block_hours), len(test[names[0]].peaks)
    rng = np.random.default_rng(seed)
    miss = {n: np.full(n_resamples, np.nan) for n in names}
    fa = {n: np.full(n_resamples, np.nan) for n in names}
    for b in range(n_resamples):
        tb = rng.integers(0, n_tb, n_tb) if n_tb else np.zeros(0, int)
        occ = rng.integers(0, n_occ, n_occ) if n_occ else np.zeros(0, int)
        for n in names:
            t, thr = test[n], thresholds[n]
            if n_occ:
                miss[n][b] = float((t.peaks[occ] < thr).mean())
            hours = float(t.block_hours[tb].sum())
            if hours > 0:
                fa[n][b] = sum(int((t.block_events[i] >= thr).sum()) for i in tb) / hours
    q = [(1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100]
    return {n: {"miss_rate_ci": _pct(miss[n], q), "fa_per_hour_ci": _pct(fa[n], q), "resamples": n_resamples}
            for n in names}
