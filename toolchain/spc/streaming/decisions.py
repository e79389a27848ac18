"""The runtime's decisions for a whole recording at once, and an operating point chosen exactly at a budget.

``spc.runtime.Decider`` decides window by window, as an app must. Evaluation has every window's posteriors
already, so it computes the same smoothed keyword scores with a cumulative sum and the same greedy refractory
scan with ``searchsorted`` (identical detections: ``tests/runtime/test_decisions.py``), which is what makes it
affordable to read a detector at any threshold, and to choose one exactly: the false accepts change only where
the threshold crosses a window's score, so the threshold is one of the scores (no grid), found by bisection.
No torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..runtime import Detection


@dataclass(frozen=True)
class ScoreSeries:
    """One recording's smoothed keyword scores: for window k, the best keyword's averaged posterior and its class."""

    score: np.ndarray  # K, float64
    label: np.ndarray  # K, int (index into the labels)
    centre_s: np.ndarray  # K, window centres (s), computed as the Decider computes them
    end_s: np.ndarray  # K, window ends (s)


def smoothed_series(posteriors: np.ndarray, keep: np.ndarray, smooth: int, rate: int, clip_samples: int,
                    hop_samples: int) -> ScoreSeries:
    """The Decider's scores of every window: posteriors (K x C) averaged over the last ``smooth`` windows (fewer at
    the start, divided by ``smooth`` all the same, as its zeroed history does), ignored classes (``keep`` False) out."""
    p = np.asarray(posteriors, np.float64)
    k = len(p)
    if k == 0:
        empty = np.zeros(0)
        return ScoreSeries(empty, np.zeros(0, int), empty, empty)
    # the Decider's ring: slot j holds the latest window k' <= k with k' % smooth == j (zeros before there is
    # one), summed slot by slot in slot order, as numpy sums its history array: the same floats, bit for bit
    idx = np.arange(k)
    total = np.zeros_like(p)
    for j in range(smooth):
        src = idx - ((idx - j) % smooth)
        total += np.where((src >= 0)[:, None], p[np.maximum(src, 0)], 0.0)
    avg = np.where(keep[None, :], total / smooth, -1.0)
    label = avg.argmax(axis=1)
    start = idx * hop_samples
    return ScoreSeries(avg[idx, label], label, (start + clip_samples / 2) / rate, (start + clip_samples) / rate)


def detect(series: ScoreSeries, threshold: float, refractory_s: float) -> np.ndarray:
    """Indices of the windows the Decider fires on at ``threshold``: the first window at or above it, then the first
    one whose centre lies at least ``refractory_s`` after the last detection's, and so on."""
    above = np.flatnonzero(series.score >= threshold)
    if len(above) == 0:
        return above
    times = series.centre_s[above]
    fired, i = [], 0
    while i < len(above):
        fired.append(above[i])
        last = times[i]
        j = int(np.searchsorted(times, last + refractory_s, side="left"))
        j = max(j - 1, i + 1)
        while j < len(above) and times[j] - last < refractory_s:  # the Decider's own float comparison
            j += 1
        i = j
    return np.asarray(fired, int)


def detections(series: ScoreSeries, threshold: float, refractory_s: float, labels: list[str]) -> list[Detection]:
    """The Detection objects the runtime would emit (for reports and tests)."""
    return [Detection(round(float(series.centre_s[k]), 3), labels[int(series.label[k])], float(series.score[k]),
                      float(series.end_s[k])) for k in detect(series, threshold, refractory_s)]


@dataclass(frozen=True)
class Keyword:
    """A keyword occurrence in a recording (stream seconds) and its class index."""

    start_s: float
    end_s: float
    label: int


@dataclass
class Outcome:
    """One recording (or several, added up) read at one threshold."""

    hits: np.ndarray  # per keyword occurrence, bool
    hit_latency_s: list[float]
    false_accepts: list[int]  # window indices of the false accepts (per recording when read alone)
    substitutions: int = 0
    duplicates: int = 0


def read_recording(series: ScoreSeries, keywords: list[Keyword], threshold: float, refractory_s: float,
                   clip_s: float) -> Outcome:
    """Hits, false accepts, substitutions and duplicates of one recording at ``threshold``. A detection's window
    ``[e - clip, e]`` overlaps keyword ``[a, b]`` when ``a < e < b + clip``: the first of the keyword's own class
    is its hit, a later one a duplicate, one of another class a substitution; one overlapping no keyword is a
    false accept."""
    fired = detect(series, threshold, refractory_s)
    hit = np.zeros(len(keywords), bool)
    latency, fas, subs, dups = [], [], 0, 0
    starts = np.array([k.start_s for k in keywords])
    ends = np.array([k.end_s for k in keywords])
    for w in fired:
        e, lab = series.end_s[w], series.label[w]
        near = np.flatnonzero((starts < e) & (e < ends + clip_s))
        if len(near) == 0:
            fas.append(int(w))
            continue
        same = [j for j in near if keywords[j].label == lab]
        fresh = [j for j in same if not hit[j]]
        if fresh:
            hit[fresh[0]] = True
            latency.append(float(e - keywords[fresh[0]].end_s))
        elif same:
            dups += 1
        else:
            subs += 1
    return Outcome(hit, latency, fas, subs, dups)


def occurrence_peaks(series: ScoreSeries, keywords: list[Keyword], clip_s: float) -> np.ndarray:
    """Per keyword occurrence, the highest smoothed score of its own class among the windows that overlap it (0 where
    none): the highest threshold at which it can be hit (refractory periods aside)."""
    out = np.zeros(len(keywords))
    for j, k in enumerate(keywords):
        lo = int(np.searchsorted(series.end_s, k.start_s, side="right"))
        hi = int(np.searchsorted(series.end_s, k.end_s + clip_s, side="left"))
        seg = slice(lo, hi)
        own = series.label[seg] == k.label
        if own.any():
            out[j] = float(series.score[seg][own].max())
    return out
