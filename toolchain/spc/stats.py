"""Retention with its uncertainty: a paired bootstrap interval, McNemar's exact test, the verdict, the candidate rule.

Every function takes per-clip correctness (boolean arrays, one entry per clip, the original and
the compressed model scored on the same clips in the same order). Retention is
acc(compressed) / acc(original).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from .errors import SpcError

#: the tolerance every retention comparison uses (a retention equal to the target passes)
EPS = 1e-12


def _pairs(original_correct: Sequence[bool] | np.ndarray, compressed_correct: Sequence[bool] | np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """The two correctness arrays as booleans of one length (a mismatch is a caller's error)."""
    a = np.asarray(original_correct, dtype=bool).ravel()
    b = np.asarray(compressed_correct, dtype=bool).ravel()
    if a.shape != b.shape:
        raise SpcError(f"paired statistics need the same clips: {len(a)} original and {len(b)} compressed results")
    return a, b


def pair_counts(original_correct, compressed_correct) -> dict[str, int]:
    """Clips in each cell: both right, original only, compressed only, both wrong."""
    a, b = _pairs(original_correct, compressed_correct)
    return {"both": int(np.sum(a & b)), "original_only": int(np.sum(a & ~b)),
            "compressed_only": int(np.sum(~a & b)), "neither": int(np.sum(~a & ~b))}


def retention_point(original_correct, compressed_correct) -> float:
    """acc(compressed) / acc(original) on the clips (NaN when the original gets none right)."""
    a, b = _pairs(original_correct, compressed_correct)
    return float(b.sum() / a.sum()) if a.sum() else float("nan")


def retention_interval(original_correct, compressed_correct, *, confidence: float = 0.95, n_resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """Paired bootstrap percentile interval of the retention, resampling clips (seeded, vectorised).

    A clip contributes only through its cell (both right, original only, compressed only, both
    wrong), so resampling n clips with replacement is drawing the four cell counts from a
    multinomial with the observed cell frequencies: the same bootstrap as indexing clips, in
    O(n_resamples) memory. Resamples where the original gets nothing right (retention undefined)
    are dropped; with no clip the original gets right the interval is (NaN, NaN).
    """
    if not 0 < confidence < 1:
        raise SpcError(f"confidence must be in (0, 1), got {confidence}")
    c = pair_counts(original_correct, compressed_correct)
    n = sum(c.values())
    if n == 0 or c["both"] + c["original_only"] == 0:
        return float("nan"), float("nan")
    p = np.array([c["both"], c["original_only"], c["compressed_only"], c["neither"]], dtype=float) / n
    draws = np.random.default_rng(seed).multinomial(n, p, size=n_resamples)
    orig = draws[:, 0] + draws[:, 1]
    comp = draws[:, 0] + draws[:, 2]
    ratio = comp[orig > 0] / orig[orig > 0]
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(ratio, [alpha, 1 - alpha])
    return float(lo), float(hi)


def margin_clips(original_correct, compressed_correct, retention: float) -> int:
    """Correct clips above (>= 0) or below (< 0) the fewest that meet ``retention`` of the original's."""
    a, b = _pairs(original_correct, compressed_correct)
    return int(b.sum()) - math.ceil(retention * int(a.sum()) - EPS)


def mcnemar_exact(original_correct, compressed_correct) -> float:
    """Two-sided exact McNemar p-value: a binomial(b + c, 1/2) test on the discordant clips (1.0 with none)."""
    c = pair_counts(original_correct, compressed_correct)
    b, k = c["original_only"], c["compressed_only"]
    if b + k == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(min(b, k), b + k, 0.5).pvalue)


def verdict(retention: float, interval: tuple[float, float], target: float, n_clips: int) -> str:
    """"PASS", "PASS, not significant at N clips" (the interval reaches below the target) or "FAIL"."""
    if not retention >= target - EPS:
        return "FAIL"
    lower = interval[0]
    if math.isnan(lower) or lower < target - EPS:
        return f"PASS, not significant at {n_clips} clips"
    return "PASS"


class CandidateScore(NamedTuple):
    """What the choice needs of a candidate: validation retention, its interval, measured latency, and where
    the candidate was judged as a detector, its detector retention (hit rate at the budget) and interval."""

    retention: float
    interval: tuple[float, float]
    latency_ms: float
    detector_retention: float | None = None
    detector_interval: tuple[float, float] | None = None


def _both(score: "CandidateScore") -> tuple[float, float]:
    """(the lower of the clip and detector point retentions, the lower of their interval lower bounds)."""
    if score.detector_retention is None:
        return score.retention, _lower(score)
    return (min(score.retention, score.detector_retention),
            min(_lower(score), lower_bound(score.detector_interval)))


def combined_verdict(clip: str, detector: str | None) -> str:
    """The run's verdict from the clip verdict and the detector verdict (None: the detector was not judged);
    a FAIL names what failed."""
    if detector is None:
        return clip
    failed = [what for what, v in (("clip accuracy", clip), ("detector", detector)) if v == "FAIL"]
    if failed:
        return f"FAIL ({' and '.join(failed)})"
    unsure = [v.split(", ", 1)[1] for v in (clip, detector) if v != "PASS"]
    return "PASS" if not unsure else "PASS, " + "; ".join(unsure)


@dataclass(frozen=True)
class Pick:
    """The chosen candidate (None without candidates), how it stands against the target, and why, in one line."""

    name: str | None
    standing: str  # "safe", "point estimate only" or "fails"
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def choose_candidate(candidates: Mapping[str, CandidateScore], target: float, n_clips: int) -> Pick:
    """Pick the candidate to build, accounting for how many validation clips measured its retention.

    The rule: a candidate passes *safely* when the lower bound of its 95% retention interval on
    the validation split is at or above the target, and passes *on the point estimate* when only
    its measured retention is. The fastest safe candidate is chosen; only when none is safe is the
    fastest candidate that passes on the point estimate chosen, and the reason says so; when none
    passes at all, the one with the highest retention is chosen (the run will say FAIL). A faster
    candidate passed over because it was not safe is named in the reason. On a small validation
    set the intervals are wide, so fewer candidates are safe: a candidate that passes on 250 clips
    by one clip is not preferred over a safer one without saying so. Pass only compressed
    candidates (the original is always "safe").
    """
    if not candidates:
        return Pick(None, "fails", "no candidate to choose from")
    fastest = sorted(candidates, key=lambda n: (candidates[n].latency_ms, -_both(candidates[n])[1]))
    safe = [n for n in fastest if _both(candidates[n])[1] >= target - EPS]
    point = [n for n in fastest if _both(candidates[n])[0] >= target - EPS]
    if safe:
        name = safe[0]
        reason = (f"{name}: the fastest candidate whose 95% interval clears the target "
                  f"(lower bound {_both(candidates[name])[1]:.3f} >= {target:.3f} at {n_clips} validation clips"
                  + (", clip and detector retention" if candidates[name].detector_retention is not None else "") + ")")
        skipped = [n for n in point if n not in safe and candidates[n].latency_ms < candidates[name].latency_ms]
        if skipped:
            reason += "; faster but passing on the point estimate only: " + ", ".join(
                f"{n} (retention {_both(candidates[n])[0]:.3f}, lower bound {_both(candidates[n])[1]:.3f})" for n in skipped)
        return Pick(name, "safe", reason)
    if point:
        name = point[0]
        return Pick(name, "point estimate only",
                      f"{name}: no candidate's 95% interval clears the target at {n_clips} validation clips; the "
                      f"fastest that passes on the point estimate (retention {_both(candidates[name])[0]:.3f}, "
                      f"lower bound {_both(candidates[name])[1]:.3f} < {target:.3f})")
    name = max(candidates, key=lambda n: _both(candidates[n])[0])
    why = _failing(candidates[name], target)
    return Pick(name, "fails", f"{name}: no candidate reaches the target on validation; the highest retention "
                                 f"({_both(candidates[name])[0]:.3f} < {target:.3f}; {why})")


def _failing(score: "CandidateScore", target: float) -> str:
    """Which retention misses the target: the clip accuracy, the detector, or both."""
    failed = [what for what, r in (("clip accuracy", score.retention), ("detector", score.detector_retention))
              if r is not None and not r >= target - EPS]
    return " and ".join(failed) + " below the target" if failed else "both at the target"


def lower_bound(interval) -> float:
    """An interval's lower bound, with an undefined one (None, NaN, no interval) counted as failing."""
    lo = interval[0] if interval else None
    return -math.inf if lo is None or math.isnan(lo) else float(lo)


def _lower(score: CandidateScore) -> float:
    """The clip-retention interval's lower bound of a candidate."""
    return lower_bound(score.interval)
