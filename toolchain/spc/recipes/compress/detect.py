"""compress as a detector: the keywords, the training negatives, each candidate's operating point chosen on the
validation streams (written into its manifest), and the built original and chosen artifact read on the test streams
at the points they carry."""

from __future__ import annotations

import json
from pathlib import Path

from ...engines.artifact_manifest import manifest_path
from ...errors import SpcError
from ...fileio import atomic_write_text, read_json
from ...runtime import KeywordSpotter
from ...stats import EPS, combined_verdict
from ...streaming.detector import detector_verdict, judge_test, judge_validation
from ...streaming.evaluation import split_classes, split_streams
from ...streaming.negatives import negative_audio
from ...streaming.operating_point import MANIFEST_KEY as OP_KEY
from ...streaming.scoring import score_streams
from .workdir import done, finish, stage_dir
from .candidate import Candidate
from .settings import CompressConfig


def stream_keywords(clips, config: CompressConfig) -> tuple[list[str] | None, str]:
    """(the keyword classes of the streams, or None with why: no non-keyword class to measure false accepts by)."""
    present = [x for x in clips.labels if x in {clips.labels[t] for t in clips.targets}]
    try:
        return split_classes(present, config.detector.keywords)[0], ""
    except SpcError as exc:
        return None, f"no false accepts can be measured on this data ({exc})"


def train_negatives(config: CompressConfig, keywords, work: Path, rate: int, show_progress: bool) -> list:
    """Keyword-free espeak-ng speech the training windows are cut from (its own seed: never the audio a candidate is
    chosen or reported on), at the streams' SNR range; cached in ``work``."""
    det = config.detector
    return negative_audio(rate, hours=config.train_negatives_hours, cache=work / "negatives-train",
                          exclude_words=keywords, seed=config.seed + 2, snr_db=det.snr_db, noise_db=det.noise_db,
                          show_progress=show_progress)[0]


def judge_on_validation(entries: dict[str, Candidate], val, inp, config: CompressConfig, work: Path,
                        show_progress: bool) -> dict:
    """The original and every candidate that passes the clip gate as a detector on streams built from the validation
    split (and its negative audio): each gets its own operating point at the budget, recorded as ``detector_val``
    and written into its ONNX manifest (so its build carries it). Returns {"keywords": [...]} or {"why": ...} when no
    detector can be judged."""
    if not config.stream:
        return {"why": "streaming evaluation switched off"}
    keywords, why = stream_keywords(val, config)
    if keywords is None:
        return {"why": why}
    det = config.detector
    judged_names = [n for n, e in entries.items() if n == "original" or e.passes_clips(config.retention, EPS)]
    path = stage_dir(work, "detect-validation", *inp.key, det.as_dict(),
                     sorted(entries[n].weights_sha256 + n for n in judged_names))
    res = done(path)
    if res is None:
        streams = split_streams(val, "validation", keywords, inp.model.meta.sampling_rate, inp.model.meta.clip_samples,
                                det, work, None, (), show_progress)
        judged = judge_validation({n: entries[n].onnx for n in judged_names}, streams, det,
                                  cache_dir=work / "scores", show_progress=show_progress)
        path.mkdir(parents=True, exist_ok=True)
        (path / "detectors.json").write_text(json.dumps({"judged": judged, "audio": streams.hours()}, indent=2))
        res = finish(path, {"summary": "detectors.json"})
    judged = read_json(path / res["summary"], "detector summary")["judged"]
    for name, entry in entries.items():
        entry.detector_val = judged.get(name) or {"judged": False, "retention": None,
                                                  "why": "fails the clip gate on validation: not read as a detector"}
        _record_point(entry.onnx, entry.detector_val.get("operating_point"))
    return {"keywords": keywords}


def synthetic_note(config: CompressConfig, detect: dict) -> str | None:
    """Why figures on synthetic negatives flatter the students, where they were trained on that source too."""
    det = config.detector
    if detect.get("keywords") and config.train_negatives_hours and (det.synthetic_hours or det.validation_synthetic_hours):
        return ("the students and heals learnt from espeak-ng windows (their own seed) and are judged on espeak-ng "
                "negatives too: a synthetic source they have heard and the original has not; the figures without "
                "synthetic negatives are in stream/detectors.json")
    return None


def _record_point(artifact: str, point: dict | None) -> None:
    """Write the operating point chosen on validation into an ONNX artifact's manifest (what builds inherit and the
    runtime runs at); None removes a stale one."""
    m = manifest_path(artifact)
    manifest = read_json(m, "artifact manifest")
    if manifest.get(OP_KEY) != point:
        manifest = {k: v for k, v in manifest.items() if k not in (OP_KEY, "temperature")}
        atomic_write_text(m, json.dumps({**manifest, **({OP_KEY: point} if point else {})}, indent=2))


def detector_score(judged: dict | None) -> tuple:
    """(detector retention, its interval) of a candidate for the choice; (None, None) where not judged."""
    if not judged or not judged.get("judged") or judged.get("retention") is None:
        return None, None
    lo, hi = judged.get("retention_ci") or [None, None]
    return judged["retention"], (float("nan") if lo is None else lo, float("nan") if hi is None else hi)


def judge_final(run, built: dict[str, str], chosen_on: dict[str, str], keywords: list[str]) -> dict:
    """The built original and chosen artifact (``built``: name -> artifact; ``chosen_on``: the ONNX exports their
    points were chosen on) at their carried operating points on the test streams (the user's negatives there where
    given), intervals re-choosing each point on the validation streams; written to ``OUT/stream`` (detectors.json
    with every occurrence and false accept, det.png, recordings.json)."""
    from ...streaming.evaluation import det_plot
    from ...streaming.reading import make_view

    config, inp, det = run.config, run.inp, run.config.detector
    rate, n = inp.model.meta.sampling_rate, inp.model.meta.clip_samples
    val = split_streams(inp.clips["validation"], "validation", keywords, rate, n, det, run.work, None, (),
                        run.show_progress)
    test = split_streams(inp.clips["test"], "test", keywords, rate, n, det, run.work, config.negatives, (),
                         run.show_progress)
    results = judge_test(built, chosen_on, val, test, det, cache_dir=run.work / "scores", show_progress=run.show_progress)
    out = run.out / "stream"
    out.mkdir(parents=True, exist_ok=True)
    views = {}
    for name, path in built.items():
        with KeywordSpotter(path) as sp:
            views[name] = make_view(test, score_streams(sp, test, det.hop_seconds, temperature=sp.temperature,
                                                        cache_dir=run.work / "scores", show_progress=False))
    det_plot(views, results, out / "det.png", det)
    atomic_write_text(out / "recordings.json", json.dumps(test.manifest(), indent=1))
    summary = {"keywords": keywords, "audio": test.hours(), "validation_audio": val.hours(),
               "config": det.as_dict(), "results": results,
               "files": {"json": str(out / "detectors.json"), "det_png": str(out / "det.png"),
                         "recordings": str(out / "recordings.json")}}
    atomic_write_text(out / "detectors.json", json.dumps(summary, indent=1))
    return summary


def final_detector(stream: dict | None, final: dict, config: CompressConfig, chosen_val: dict | None = None) -> dict:
    """The test verdict in both terms: clip retention and detector retention (hit rate at each model's carried
    operating point on the test streams, interval over occurrences and negative blocks); the verdict names what
    failed, or says why the detector was not judged (an unresolved budget, an original that meets no threshold)."""
    if stream is None:
        return {"detector": {"judged": False}, "verdict": final["clip_verdict"]}
    row = stream["results"]["compressed"]
    orig = stream["results"]["original"]
    detector = {k: row.get(k) for k in ("judged", "mode", "retention", "retention_ci", "hit_rate", "keywords", "why",
                                        "miss_rate_ci")}
    detector["original_hit_rate"] = orig.get("hit_rate")
    if row.get("operating_point") is None and not (chosen_val or {}).get("judged", True):
        # never read on validation (it failed the clip gate there), so it carries no point to read it at
        detector.update(judged=False, retention=None, why=f"{chosen_val.get('why')}: no operating point to judge it at")
        row = {**row, "judged": False}
    detector["verdict"] = detector_verdict(row, config.retention)
    detector["judged"] = detector["verdict"] is not None
    if not detector["judged"]:
        detector.setdefault("why", "not judged")
    return {"detector": detector, "verdict": combined_verdict(final["clip_verdict"], detector["verdict"]),
            "passed": final["passed"] and (not detector["judged"] or detector["retention"] >= config.retention - EPS)}


def stream_summary(stream: dict | None) -> dict | None:
    """Per model, the figures an app is judged by at its carried operating point (and the oracle beside it)."""
    if stream is None:
        return None
    det = stream["config"]
    out = {"keywords": stream["keywords"], "det_png": stream["files"]["det_png"], "json": stream["files"]["json"],
           "max_fa_per_hour": det["max_fa_per_hour"], "snr_db": det["snr_db"], "audio": stream["audio"]}
    for name, r in stream["results"].items():
        test = r.get("test") or {}
        at = test.get("at_point") or {}
        out["negative_hours"] = at.get("negative_hours", out.get("negative_hours"))
        out[name] = {"operating_point": r.get("operating_point"), "oracle": r.get("oracle"),
                     **{k: at.get(k) for k in ("threshold", "miss_rate", "miss_rate_ci", "fa_per_hour", "false_accepts",
                                               "resolved", "one_false_accept_per_hour", "latency_median_s",
                                               "latency_p90_s")},
                     "snr_bands": test.get("snr_bands"), "top_sources": (test.get("top_sources") or [])[:10],
                     "per_source": test.get("per_source")}
    return out
