"""A detector read as an app runs it: one operating point chosen on validation streams, read on test streams.

``View`` is one model's window posteriors on one split's streams, ready to read. ``read_at`` gives the exact
figures at an operating point (the runtime's own decisions, ``spc.streaming.decisions``): hits per keyword
occurrence, false accepts with where they came from, substitutions, duplicates, latency. ``choose_point``
picks, on validation, the lowest threshold whose false accepts stay within the budget, exactly (a threshold is
one of the window scores, found by bisection; false accepts do not rise with the threshold), for each smoothing
and refractory period offered, and keeps the one with the fewest misses (the runtime's defaults where that does
not pay). A figure at a budget the negative audio cannot resolve (fewer than ``MIN_EVENTS`` false accepts' worth
of it) is flagged, not presented as a miss rate. No torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np

from .decisions import Keyword, ScoreSeries, detect, occurrence_peaks, read_recording, smoothed_series
from .operating_point import DEFAULT, OperatingPoint
from .scoring import StreamScores
from .streams import Streams

#: a budget is resolved where the negative audio holds at least this many of its false accepts (budget x hours):
#: with 5 allowed, the Poisson 95% interval of the count is 1.6 to 11.7, so the rate is known to a factor of ~2-3
MIN_EVENTS = 5.0


def resolves(budget: float, hours: float) -> bool:
    """True where ``hours`` of negative audio can tell a rate of ``budget`` false accepts per hour from zero."""
    return budget * hours >= MIN_EVENTS - 1e-9


def resolution_note(budget: float, hours: float) -> str:
    """"0.10 h of negative audio (one false accept = 9.9 per hour) cannot resolve 1 FA/h; it needs 5.0 h"."""
    per = 1 / hours if hours > 0 else float("inf")
    return (f"{hours:.2f} h of negative audio (one false accept = {per:.2g} per hour) cannot resolve "
            f"{budget:g} FA/h; it needs {MIN_EVENTS / budget if budget > 0 else float('inf'):.3g} h")


@dataclass
class View:
    """One model's scores on one split's streams, with what reading them needs."""

    streams: Streams
    scores: StreamScores
    keep: np.ndarray  # C, bool: the keyword classes (every other class is ignored, as an app ignores it)
    keywords: list[list[Keyword]]  # per recording
    negative_seconds: list[float]  # per recording: stream time a window can end overlapping no keyword
    include: np.ndarray  # per recording, bool: read this recording (False: left out, e.g. a synthetic source)

    @property
    def negative_hours(self) -> float:
        return float(sum(s for s, i in zip(self.negative_seconds, self.include) if i)) / 3600

    def series(self, smooth: int) -> list[ScoreSeries]:
        """Per recording, the smoothed keyword scores at this smoothing (cached)."""
        cache = self.__dict__.setdefault("_series", {})
        if smooth not in cache:
            hop = max(1, int(round(self.scores.hop_seconds * self.streams.rate)))
            cache[smooth] = [smoothed_series(p, self.keep, smooth, self.streams.rate, self.streams.clip_samples, hop)
                             for p in self.scores.posteriors]
        return cache[smooth]

    def without(self, source_kinds: Sequence[str]) -> "View":
        """The same view with the recordings of these source kinds left out (e.g. ``("espeak-ng",)``)."""
        include = np.array([r.source_kind not in source_kinds for r in self.streams.recordings])
        v = View(self.streams, self.scores, self.keep, self.keywords, self.negative_seconds, include & self.include)
        if "_series" in self.__dict__:
            v.__dict__["_series"] = self.__dict__["_series"]
        return v


def make_view(streams: Streams, scores: StreamScores) -> View:
    """A model's scores on ``streams`` ready to read: its keyword classes and every recording's keywords."""
    labels = scores.labels
    missing = [k for k in streams.keywords if k not in labels]
    if missing:
        raise ValueError(f"the model has no class {missing}")
    keep = np.array([x in streams.keywords for x in labels])
    index = {x: i for i, x in enumerate(labels)}
    clip_s = streams.clip_seconds
    kws = [[Keyword(c.start_s, c.end_s, index[c.label]) for c in streams.keyword_clips(r.index)]
           for r in streams.recordings]
    neg = [negative_seconds(k, r.seconds, clip_s) for k, r in zip(kws, streams.recordings)]
    return View(streams, scores, keep, kws, neg, np.ones(len(streams.recordings), bool))


def negative_seconds(keywords: Sequence[Keyword], seconds: float, clip_s: float) -> float:
    """Stream time at which a window can end (from ``clip_s`` to the end) and overlap no keyword clip."""
    spans = sorted((max(k.start_s, clip_s), min(k.end_s + clip_s, seconds)) for k in keywords)
    covered, lo_prev, hi_prev = 0.0, None, None
    for lo, hi in spans:
        if hi <= lo:
            continue
        if hi_prev is not None and lo <= hi_prev:
            hi_prev = max(hi_prev, hi)
            continue
        if hi_prev is not None:
            covered += hi_prev - lo_prev
        lo_prev, hi_prev = lo, hi
    if hi_prev is not None:
        covered += hi_prev - lo_prev
    return max(seconds - clip_s, 0.0) - covered


@dataclass
class FalseAccept:
    """A detection that overlaps no keyword: where, how sure, and what audio was under its window."""

    recording: int
    end_s: float
    score: float
    label: str
    source_kind: str  # "clips" (a non-keyword clip of the split), "noise", "espeak-ng" or "user"
    source: str  # the clip's path, the noise's kind, or the negative file with the offset of the window


@dataclass
class Reading:
    """A model read at one operating point on one split's streams (every included recording)."""

    point: OperatingPoint
    hits: np.ndarray  # per keyword occurrence of the included recordings, in recording order
    false_accepts: list[FalseAccept]
    negative_hours: float
    latencies: list[float]
    substitutions: int = 0
    duplicates: int = 0

    @property
    def keywords(self) -> int:
        return int(len(self.hits))

    @property
    def miss_rate(self) -> float:
        return float(1 - self.hits.mean()) if len(self.hits) else float("nan")

    @property
    def fa_per_hour(self) -> float:
        return len(self.false_accepts) / self.negative_hours if self.negative_hours > 0 else float("nan")

    def summary(self, budget: float) -> dict:
        """The figures (JSON): miss rate, FA/h, counts, latency and whether the budget is resolved."""
        lat = np.asarray(self.latencies)
        return {"threshold": self.point.threshold, "smooth": self.point.smooth,
                "refractory_seconds": self.point.refractory_seconds, "keywords": self.keywords,
                "misses": int(self.keywords - self.hits.sum()), "miss_rate": _num(self.miss_rate),
                "false_accepts": len(self.false_accepts), "negative_hours": self.negative_hours,
                "fa_per_hour": _num(self.fa_per_hour),
                "one_false_accept_per_hour": _num(1 / self.negative_hours if self.negative_hours else float("inf")),
                "resolved": resolves(budget, self.negative_hours),
                "substitutions": self.substitutions, "duplicates": self.duplicates,
                "latency_median_s": float(np.median(lat)) if len(lat) else None,
                "latency_p90_s": float(np.percentile(lat, 90)) if len(lat) else None}


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _fa_source(view: View, rec_index: int, end_s: float) -> tuple[str, str]:
    """(kind, name) of the audio under a false accept's window ``[end - clip, end]``."""
    rec = view.streams.recordings[rec_index]
    clip_s = view.streams.clip_seconds
    if rec.kind == "negatives":
        return rec.source_kind, f"{rec.source}@{rec.offset_s + max(0.0, end_s - clip_s):.1f}s"
    under = [c for c in view.streams.clips if c.recording == rec_index and not c.keyword
             and c.start_s < end_s and end_s < c.end_s + clip_s]
    if under:
        return "clips", under[0].path
    mid = end_s - clip_s / 2
    kind = next((k for a, b, k in rec.scenes if a <= mid < b), rec.scenes[-1][2] if rec.scenes else "noise")
    return "noise", f"noise:{kind}"


def read_at(view: View, point: OperatingPoint) -> Reading:
    """The exact figures of ``view`` at ``point`` (its smoothing, threshold and refractory period)."""
    clip_s = view.streams.clip_seconds
    labels = view.scores.labels
    hits, fas, lats, subs, dups = [], [], [], 0, 0
    for r, (series, kws) in enumerate(zip(view.series(point.smooth), view.keywords)):
        if not view.include[r]:
            continue
        out = read_recording(series, kws, point.threshold, point.refractory_seconds, clip_s)
        hits.append(out.hits)
        lats += out.hit_latency_s
        subs, dups = subs + out.substitutions, dups + out.duplicates
        for w in out.false_accepts:
            kind, source = _fa_source(view, r, float(series.end_s[w]))
            fas.append(FalseAccept(r, float(series.end_s[w]), float(series.score[w]), labels[int(series.label[w])],
                                   kind, source))
    hits_arr = np.concatenate(hits) if hits else np.zeros(0, bool)
    return Reading(point, hits_arr, fas, view.negative_hours, lats, subs, dups)


def _covered(kws: Sequence[Keyword], clip_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Merged open intervals (start, end + clip) of a recording's keywords: a window ending inside one overlaps."""
    spans = sorted((k.start_s, k.end_s + clip_s) for k in kws)
    lo, hi = [], []
    for a, b in spans:
        if lo and a <= hi[-1]:
            hi[-1] = max(hi[-1], b)
        else:
            lo.append(a)
            hi.append(b)
    return np.asarray(lo), np.asarray(hi)


def _fa_counter(view: View, smooth: int, refractory: float):
    """A function threshold -> false accepts over the included recordings (vectorised per recording)."""
    clip_s = view.streams.clip_seconds
    parts = [(s, _covered(k, clip_s)) for s, k, inc in zip(view.series(smooth), view.keywords, view.include) if inc]

    def count(threshold: float) -> int:
        n = 0
        for series, (lo, hi) in parts:
            e = series.end_s[detect(series, threshold, refractory)]
            if len(lo) == 0:
                n += len(e)
                continue
            j = np.searchsorted(lo, e, side="left") - 1  # the last interval starting before e
            inside = (j >= 0) & (e < hi[np.maximum(j, 0)]) & (e > lo[np.maximum(j, 0)])
            n += int((~inside).sum())
        return n

    return count


def _candidates(view: View, smooth: int) -> np.ndarray:
    """Every distinct window score in (0, 1]: the only places the decisions change."""
    scores = np.unique(np.concatenate([s.score for s, inc in zip(view.series(smooth), view.include) if inc]
                                      or [np.zeros(0)]))
    return scores[(scores > 0) & (scores <= 1)]


def lowest_threshold(view: View, smooth: int, refractory: float, budget: float) -> float | None:
    """The lowest threshold (one of the window scores, so exact) at which the false accepts per hour of ``view``
    stay within ``budget``; None where only a threshold above every score (detecting nothing) would."""
    scores = _candidates(view, smooth)
    if len(scores) == 0:
        return None
    allowed = math.floor(budget * view.negative_hours + 1e-9)
    count = _fa_counter(view, smooth, refractory)
    lo, hi = 0, len(scores)  # invariant: every index >= hi meets the budget (len: nothing fires)
    while lo < hi:
        mid = (lo + hi) // 2
        if count(float(scores[mid])) <= allowed:
            hi = mid
        else:
            lo = mid + 1
    return float(scores[lo]) if lo < len(scores) else None


@dataclass
class Choice:
    """The operating point chosen on validation, the reading there, and every setting tried."""

    point: OperatingPoint | None
    reading: Reading | None
    tried: list[dict] = field(default_factory=list)


def highest_threshold(view: View, point: OperatingPoint) -> OperatingPoint:
    """``point`` with its threshold raised as far as it goes (one of the window scores) without missing a keyword it
    hits: the same misses, fewer or as many false accepts, and a margin against audio it has not heard."""
    scores = _candidates(view, point.smooth)
    scores = scores[scores >= point.threshold]
    misses = lambda t: int((~read_at(view, replace(point, threshold=float(t))).hits).sum())  # noqa: E731
    base = misses(point.threshold)
    lo, hi = 0, len(scores) - 1  # invariant: scores[lo] keeps the misses; find the last index that does
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if misses(scores[mid]) <= base:
            lo = mid
        else:
            hi = mid - 1
    return replace(point, threshold=float(scores[lo])) if len(scores) else point


def _margin(view: View, point: OperatingPoint) -> OperatingPoint:
    """``point`` with its threshold (a window score) moved half-way down to the next lower score: the same decisions
    on ``view`` (no score lies between), with a margin either side for scores that differ in their last bits (an app
    scoring one window at a time, another backend)."""
    scores = _candidates(view, point.smooth)
    below = scores[scores < point.threshold]
    lower = float(below[-1]) if len(below) else 0.0
    return replace(point, threshold=(lower + point.threshold) / 2)


def choose_point(view: View, budget: float, *, hop_seconds: float, smooth_choices: Sequence[int] = (DEFAULT.smooth,),
                 refractory_choices: Sequence[float] = (DEFAULT.refractory_seconds,), temperature: float = 1.0,
                 chosen_on: str = "validation streams") -> Choice:
    """For each smoothing and refractory period offered, the lowest threshold within ``budget`` on ``view``, then
    raised as long as it misses no more keywords (``highest_threshold``) and set half-way to the next lower score
    (``_margin``: the same decisions); the setting with the fewest misses (ties:
    the runtime's defaults, then the less smoothing). None where no threshold meets the budget."""
    tried, best = [], None
    for smooth in smooth_choices:
        for refractory in refractory_choices:
            thr = lowest_threshold(view, smooth, refractory, budget)
            row = {"smooth": smooth, "refractory_seconds": refractory, "threshold": thr, "miss_rate": None}
            if thr is not None:
                p = _margin(view, highest_threshold(view, OperatingPoint(
                    threshold=thr, smooth=smooth, refractory_seconds=refractory, hop_seconds=hop_seconds,
                    temperature=temperature)))
                row["threshold"] = p.threshold
                reading = read_at(view, p)
                row.update(miss_rate=_num(reading.miss_rate), fa_per_hour=_num(reading.fa_per_hour))
                rank = (reading.miss_rate, (smooth, refractory) != (DEFAULT.smooth, DEFAULT.refractory_seconds),
                        smooth, refractory)
                if best is None or rank < best[0]:
                    best = (rank, reading)
            tried.append(row)
    if best is None:
        return Choice(None, None, tried)
    reading = best[1]
    point = replace(reading.point, max_fa_per_hour=budget, fa_per_hour=_num(reading.fa_per_hour),
                    miss_rate=_num(reading.miss_rate), negative_hours=reading.negative_hours, keywords=reading.keywords,
                    chosen_on=chosen_on)
    reading.point = point
    return Choice(point, reading, tried)


def occurrence_records(view: View, reading: Reading) -> list[dict]:
    """Per keyword occurrence (included recordings, recording order): where, who, SNR, its peak score, hit or not."""
    peaks = np.concatenate([occurrence_peaks(s, k, view.streams.clip_seconds)
                            for s, k, inc in zip(view.series(reading.point.smooth), view.keywords, view.include)
                            if inc] or [np.zeros(0)])
    clips = [c for r in view.streams.recordings if view.include[r.index] for c in view.streams.keyword_clips(r.index)]
    return [{"recording": c.recording, "start_s": c.start_s, "end_s": c.end_s, "label": c.label, "speaker": c.speaker,
             "snr_db": c.snr_db, "path": c.path, "peak_score": round(float(p), 6), "hit": bool(h)}
            for c, p, h in zip(clips, peaks, reading.hits)]


def snr_bands(records: list[dict], edges: Sequence[float]) -> list[dict]:
    """Misses per SNR band (``edges``: band limits in dB, ascending)."""
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = [r for r in records if lo <= r["snr_db"] < hi or (hi == edges[-1] and r["snr_db"] == hi)]
        misses = sum(not r["hit"] for r in inside)
        out.append({"snr_db": [lo, hi], "keywords": len(inside), "misses": misses,
                    "miss_rate": misses / len(inside) if inside else None})
    return out


def top_sources(false_accepts: list[FalseAccept], n: int = 10) -> list[dict]:
    """The ``n`` negative sources (files, clips, noise kinds) that fire most, with their false accepts."""
    counts: dict[tuple[str, str], list[float]] = {}
    for fa in false_accepts:
        key = (fa.source_kind, fa.source.rsplit("@", 1)[0])
        counts.setdefault(key, []).append(fa.score)
    ranked = sorted(counts.items(), key=lambda kv: (-len(kv[1]), -max(kv[1])))[:n]
    return [{"kind": k, "source": s, "false_accepts": len(v), "max_score": max(v)} for (k, s), v in ranked]


def per_source(view: View, reading: Reading) -> dict:
    """False accepts and FA/h per kind of negative audio (clip streams: the split's non-keyword clips and the noise
    between them, together the clip streams' negative hours; each negative file source on its own hours)."""
    hours: dict[str, float] = {}
    for r, sec in zip(view.streams.recordings, view.negative_seconds):
        if view.include[r.index]:
            kind = "clip streams" if r.kind == "clips" else r.source_kind
            hours[kind] = hours.get(kind, 0.0) + sec / 3600
    out = {k: {"negative_hours": h, "false_accepts": 0} for k, h in hours.items()}
    for fa in reading.false_accepts:
        kind = "clip streams" if fa.source_kind in ("clips", "noise") else fa.source_kind
        out[kind]["false_accepts"] += 1
        if kind == "clip streams":
            out[kind].setdefault("of_which", {"clips": 0, "noise": 0})[fa.source_kind] += 1
    for v in out.values():
        v["fa_per_hour"] = v["false_accepts"] / v["negative_hours"] if v["negative_hours"] > 0 else None
    return out
