"""Candidates judged as detectors: misses at a false-accept budget, retention in the app's terms, calibrated scores.

A detector is run on seeded long recordings (``streaming_eval.build_recordings``: the split's keyword and
non-keyword clips between gaps of noise, plus hours of negative audio), once per model, through the runtime's
live path. Each model's threshold is chosen at the false-accept budget on those recordings
(``choose_threshold``); its **hit rate** there is hits / keyword occurrences. Detector retention is the
candidate's hit rate over the original's, with a paired bootstrap interval over keyword occurrences (both
models face the same occurrences: ``stats.retention_interval`` on per-occurrence hits).

Scores that carry their threshold: a student's window posteriors are calibrated to the original's by one
temperature (``fit_temperature``: the T minimising the mean KL(original || softmax(log p_student / T)) over
the validation windows); the runtime divides logits by the manifest's ``temperature``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..runtime import KeywordSpotter
from ..stats import retention_interval, retention_point
from .evaluation import Recordings, StreamEvalConfig, decide_all, stream_scores


@dataclass
class DetectorScore:
    """One model on one set of recordings: the chosen threshold's figures and per-occurrence hits."""

    rows: list[dict]
    chosen: dict | None
    hits: np.ndarray  # per keyword occurrence (recording order), hit at the chosen threshold
    negative_hours: float
    temperature: float = 1.0
    uncalibrated: dict | None = None  # the chosen row before calibration (students)

    @property
    def hit_rate(self) -> float:
        """Hits / keyword occurrences at the chosen threshold (0 when no threshold meets the budget)."""
        return float(self.hits.mean()) if len(self.hits) else float("nan")

    def summary(self) -> dict:
        """The figures a report needs (JSON)."""
        c = self.chosen or {}
        return {"threshold": c.get("threshold"), "miss_rate": c.get("miss_rate"), "fa_per_hour": c.get("fa_per_hour"),
                "false_accepts": c.get("false_accepts"), "hit_rate": self.hit_rate, "keywords": int(len(self.hits)),
                "negative_hours": self.negative_hours, "temperature": self.temperature,
                "uncalibrated": ({k: self.uncalibrated.get(k) for k in ("threshold", "miss_rate", "fa_per_hour")}
                                 if self.uncalibrated else None)}


def rescale(posteriors: Sequence[np.ndarray], temperature: float) -> list[np.ndarray]:
    """Window posteriors (K x C per recording) as the model would give them with logits divided by ``temperature``."""
    if temperature == 1.0:
        return list(posteriors)
    out = []
    for p in posteriors:
        z = np.log(np.clip(p, 1e-300, None)) / temperature
        z -= z.max(axis=-1, keepdims=True) if len(z) else 0.0
        e = np.exp(z)
        out.append(e / e.sum(axis=-1, keepdims=True))
    return out


def fit_temperature(reference: Sequence[np.ndarray], student: Sequence[np.ndarray], *, max_windows: int = 20000,
                    seed: int = 0) -> float:
    """The temperature T that brings ``student``'s window posteriors closest to ``reference``'s (mean KL, one
    value for all windows; bounded to [0.05, 20]); both are lists of K x C arrays over the same windows."""
    from scipy.optimize import minimize_scalar

    ref, stu = np.concatenate(list(reference)), np.concatenate(list(student))
    if len(ref) == 0:
        return 1.0
    if len(ref) > max_windows:
        pick = np.random.default_rng(seed).choice(len(ref), max_windows, replace=False)
        ref, stu = ref[pick], stu[pick]
    log_s = np.log(np.clip(stu, 1e-300, None))
    log_r = np.log(np.clip(ref, 1e-300, None))

    def kl(log_t: float) -> float:
        z = log_s / math.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        log_q = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(np.mean(np.sum(ref * (log_r - log_q), axis=1)))

    best = minimize_scalar(kl, bounds=(math.log(0.05), math.log(20.0)), method="bounded", options={"xatol": 1e-3})
    return float(math.exp(best.x))


def score_detector(spotter: KeywordSpotter, rec: Recordings, config: StreamEvalConfig, *,
                   reference: list[np.ndarray] | None = None) -> tuple[DetectorScore, list[np.ndarray]]:
    """(the detector's figures, its raw window posteriors); with ``reference`` (the original's posteriors on
    the same recordings) the scores are first calibrated to it and the uncalibrated choice kept beside."""
    scored = stream_scores(spotter, rec, config)
    posts, hours = scored["posteriors"], scored["negative_hours"]
    rows, chosen, hits = decide_all(spotter, rec, posts, hours, config)
    if reference is None:
        return DetectorScore(rows, chosen, np.asarray(hits, bool), hours), posts
    temperature = fit_temperature(reference, posts, seed=config.seed)
    cal_rows, cal_chosen, cal_hits = decide_all(spotter, rec, rescale(posts, temperature), hours, config)
    return DetectorScore(cal_rows, cal_chosen, np.asarray(cal_hits, bool), hours, temperature, chosen), posts


def detector_retention(original: DetectorScore, candidate: DetectorScore, seed: int = 0) -> dict:
    """Hit rate at the budget over the original's, with its 95% paired bootstrap interval over keyword occurrences."""
    point = retention_point(original.hits, candidate.hits)
    lo, hi = retention_interval(original.hits, candidate.hits, seed=seed)
    return {"retention": None if math.isnan(point) else point,
            "retention_ci": [None if math.isnan(x) else x for x in (lo, hi)],
            "original_hit_rate": original.hit_rate, "hit_rate": candidate.hit_rate}


def judge_detectors(artifacts: Mapping[str, str], rec: Recordings, config: StreamEvalConfig, *,
                    reference: str = "original", calibrate: bool = True, seed: int = 0) -> dict[str, dict]:
    """Every artifact as a detector on ``rec``, ``reference`` first (uncalibrated). With ``calibrate`` (the
    validation recordings) each other artifact's scores are calibrated to the reference's and the temperature
    is returned; without (the test recordings) each runs at the temperature its manifest records, as an app
    runs it. Per name: the summary, and the retention against the reference with its interval."""
    out: dict[str, dict] = {}
    with KeywordSpotter(artifacts[reference], threads=config.threads, temperature=1.0) as spotter:
        ref_score, ref_posts = score_detector(spotter, rec, config)
    out[reference] = {**ref_score.summary(), "retention": 1.0, "retention_ci": [1.0, 1.0]}
    for name, path in artifacts.items():
        if name == reference:
            continue
        with KeywordSpotter(path, threads=config.threads, temperature=1.0 if calibrate else None) as spotter:
            score, _ = score_detector(spotter, rec, config, reference=ref_posts if calibrate else None)
            score.temperature = score.temperature if calibrate else spotter.temperature
        out[name] = {**score.summary(), **detector_retention(ref_score, score, seed)}
    return out
