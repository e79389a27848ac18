"""Candidates judged as detectors: an operating point each, chosen on validation, carried to test, compared there.

compress reads every candidate (and the original) on the validation split's streams and gives each its own
operating point at the user's budget (``spc.streaming.reading.choose_point``); the point goes into the candidate's
manifest, so the built artifact carries it. On the test streams each built artifact is read **at its carried
point**. Detector retention is the candidate's hit rate there over the original's, with an interval that resamples
keyword occurrences and negative blocks together (``spc.streaming.intervals``). Two cases are said plainly instead
of being turned into a ratio: a budget the negative audio cannot resolve (no detector verdict), and an original that
misses most keywords (``UNUSABLE_MISS_RATE``): then candidates are judged by their absolute miss rate against it.
No torch.
"""

from __future__ import annotations

import math
from typing import Mapping

from ..runtime import KeywordSpotter
from . import intervals as iv
from .evaluation import StreamEvalConfig, choose_on, test_figures
from .reading import make_view, read_at, resolution_note, resolves
from .scoring import score_streams
from .streams import Streams

#: an original missing more than this share of the keywords at the budget is not a usable detector: retention
#: against it means little, so candidates are judged by absolute miss rate
UNUSABLE_MISS_RATE = 0.5


def _views(artifacts: Mapping[str, str], streams: Streams, config: StreamEvalConfig, cache_dir, show_progress: bool,
           carried: bool) -> tuple[dict, dict]:
    """(views, carried operating points or None) of every artifact on ``streams`` (scores cached)."""
    views, points = {}, {}
    for name, path in artifacts.items():
        with KeywordSpotter(path, threads=config.threads) as sp:
            t = sp.temperature if carried else 1.0
            scores = score_streams(sp, streams, config.hop_seconds, temperature=t, cache_dir=cache_dir,
                                   show_progress=show_progress, name=name)
            points[name] = sp.operating_point if carried else None
        views[name] = make_view(streams, scores)
    return views, points


def judge_validation(artifacts: Mapping[str, str], streams: Streams, config: StreamEvalConfig, *, cache_dir,
                     reference: str = "original", show_progress: bool = True) -> dict[str, dict]:
    """Every artifact on the validation streams: its operating point (None where no threshold meets the budget),
    the figures there and, against ``reference``, its detector retention and interval."""
    views, _ = _views(artifacts, streams, config, cache_dir, show_progress, carried=False)
    out, evidence = {}, {}
    for name, view in views.items():
        choice = choose_on(view, config, f"validation streams ({streams.hours()['total_hours']:.2f} h)")
        out[name] = {"operating_point": choice.point.as_dict() if choice.point else None,
                     "validation": choice.reading.summary(config.max_fa_per_hour) if choice.reading else None,
                     "tried": choice.tried}
        if choice.point is not None:
            evidence[name] = iv.evidence(view, choice.point)
    _retention(out, evidence, evidence, config, reference, "validation")
    return out


def judge_test(built: Mapping[str, str], chosen_on: Mapping[str, str], validation: Streams, test: Streams,
               config: StreamEvalConfig, *, cache_dir, reference: str = "original", show_progress: bool = True
               ) -> dict[str, dict]:
    """Every built artifact on the test streams at the operating point it carries, with the oracle beside it; the
    intervals re-choose each threshold on resampled validation negatives (``chosen_on``: the artifact each point was
    chosen on, whose validation scores are cached)."""
    views, points = _views(built, test, config, cache_dir, show_progress, carried=True)
    val_views, _ = _views(chosen_on, validation, config, cache_dir, show_progress, carried=False)
    out, ev_val, ev_test = {}, {}, {}
    for name, view in views.items():
        point = points[name]
        oracle = choose_on(view, config, "test streams (oracle)")
        out[name] = {"operating_point": point.as_dict() if point else None,
                     "oracle": oracle.reading.summary(config.max_fa_per_hour) if oracle.reading else None,
                     "test": test_figures(view, point, config) if point else None,
                     **({} if point else {"why": "the artifact carries no operating point"})}
        if point is not None:
            ev_test[name], ev_val[name] = iv.evidence(view, point), iv.evidence(val_views[name], point)
    _retention(out, ev_val, ev_test, config, reference, "test")
    return out


def _retention(out: dict, ev_val: dict, ev_test: dict, config: StreamEvalConfig, reference: str, split: str) -> None:
    """Add hit rates, the retention against ``reference`` and its interval, and how each is judged."""
    budget = config.max_fa_per_hour
    ref = out.get(reference, {})
    ref_fig = _figures(ref, split)
    ci = (iv.bootstrap({n: ev_val[n] for n in ev_test}, ev_test, budget, reference=reference,
                       n_resamples=config.bootstrap, seed=config.seed)
          if config.bootstrap and reference in ev_test else {})
    for name, row in out.items():
        fig = _figures(row, split)
        row["hit_rate"] = None if fig is None else 1 - fig["miss_rate"]
        row["keywords"] = None if fig is None else fig["keywords"]
        row["miss_rate_ci"] = ci.get(name, {}).get("miss_rate_ci")
        if name == reference:
            row.update(retention=1.0, retention_ci=[1.0, 1.0], judged=fig is not None, mode="reference")
            continue
        row.update(_judgement(ref_fig, fig, ci.get(name, {}), budget))


def _figures(row: dict, split: str) -> dict | None:
    """A model's reading on ``split`` (validation summary, or the test figures at the carried point)."""
    if not row:
        return None
    if split == "validation":
        return row.get("validation")
    return (row.get("test") or {}).get("at_point")


def _judgement(ref: dict | None, fig: dict | None, ci: dict, budget: float) -> dict:
    """How a candidate compares with the original as a detector: its retention and interval, or why not judged."""
    if ref is None:
        return {"judged": False, "retention": None, "retention_ci": [None, None],
                "why": f"the original meets no threshold within {budget:g} false accepts per hour"}
    if not resolves(budget, ref["negative_hours"]):
        return {"judged": False, "retention": None, "retention_ci": [None, None],
                "why": resolution_note(budget, ref["negative_hours"])}
    if fig is None:
        return {"judged": True, "retention": 0.0, "retention_ci": [0.0, 0.0], "mode": "ratio",
                "why": f"no threshold keeps its false accepts within {budget:g} per hour: it detects nothing there"}
    if ref["miss_rate"] > UNUSABLE_MISS_RATE:
        # the original cannot detect under these negatives: compare absolute miss rates (1 - the extra misses)
        return {"judged": True, "mode": "absolute", "retention": 1.0 - (fig["miss_rate"] - ref["miss_rate"]),
                "retention_ci": ci.get("absolute_ci", [None, None]),
                "why": f"the original misses {ref['miss_rate']:.0%} of the keywords at {budget:g} FA/h: it is not a "
                       "usable detector under these negatives, so the candidate is judged by its absolute miss rate "
                       "(1 - its extra misses) instead of a ratio"}
    hit_ref = 1 - ref["miss_rate"]
    return {"judged": True, "mode": "ratio",
            "retention": (1 - fig["miss_rate"]) / hit_ref if hit_ref > 0 else float("nan"),
            "retention_ci": ci.get("retention_ci", [None, None])}


def detector_verdict(row: dict, target: float) -> str | None:
    """PASS / "PASS, not significant at N keywords" / FAIL for a judged candidate row; None where not judged."""
    if not row.get("judged") or row.get("retention") is None or math.isnan(row["retention"]):
        return None
    from ..stats import EPS

    if row["retention"] < target - EPS:
        return "FAIL"
    lo = (row.get("retention_ci") or [None])[0]
    if lo is None or lo < target - EPS:
        return f"PASS, not significant at {row.get('keywords', 'these')} keywords"
    return "PASS"


__all__ = ["UNUSABLE_MISS_RATE", "detector_verdict", "judge_test", "judge_validation", "read_at"]
