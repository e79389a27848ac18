"""Streaming evaluation: artifacts judged as an app runs them, at one operating point carried to the test streams.

For each artifact: the test split's streams (``spc.streaming.streams``: every clip at an SNR drawn from one range,
over noise of several colours and babble, then hours of keyword-free negatives) are scored once (cached by
content under ``OUT/scores``); the **operating point** is the one the artifact carries (``spc compress`` chose it
on validation), else one chosen here on the validation split's streams (built the same way, with their own
negatives) and said so; the test figures are read **at that point**: misses, false accepts per hour with the
resolution of the negative audio ("one false accept = N per hour"), latency, misses per SNR band, false accepts
per source and the sources that fire most, and every keyword occurrence and false accept. The oracle (the best
point on test itself) is shown beside it, labelled. Intervals resample the keyword occurrences and blocks of
negative audio together, with the threshold re-chosen on resampled validation negatives
(``spc.streaming.intervals``).

Scoring a detection emitted at stream time ``e`` (the end of its window): its window ``[e - clip, e]`` overlaps
keyword clip ``[a, b]`` when ``a < e < b + clip``; the first detection of the keyword's class overlapping it is its
hit, one overlapping no keyword a false accept; false accepts per hour = false accepts / the stream time at which
a window can end overlapping no keyword. No torch.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import SpcError
from ..fileio import atomic_write_text, check_output_dir, refuse_overlap
from ..locking import locks_output
from ..runtime import NON_KEYWORDS, KeywordSpotter, StreamingSpotter
from . import intervals as iv
from .mixing import COLOURS, NOISE_DB, SNR_DB
from .negatives import negative_sources
from .operating_point import DEFAULT, MAX_SMOOTH, OperatingPoint
from .reading import (Choice, View, choose_point, make_view, occurrence_records, per_source, read_at, resolution_note,
                      resolves, snr_bands, top_sources)
from .scoring import score_streams
from .streams import Streams, build_streams

SYNTHETIC = ("espeak-ng",)  # negative sources that are synthetic speech (left out in the "real only" reading)


@dataclass(frozen=True)
class StreamEvalConfig:
    """How streams are built, how an operating point is chosen, how the figures are read; recorded in the JSON."""

    keywords: tuple[str, ...] | None = None  # None: every class but _silence_/_unknown_
    max_fa_per_hour: float = 1.0  # the false-accept budget an operating point is chosen at
    hop_seconds: float = DEFAULT.hop_seconds
    smooth_choices: tuple[int, ...] = (1, 3, 5)  # smoothing (windows) an operating point may choose
    refractory_choices: tuple[float, ...] = (1.0, 2.0, 3.0)  # refractory periods (s) it may choose
    snr_db: tuple[float, float] = SNR_DB  # every placed clip's SNR, drawn uniformly per occurrence
    noise_db: float = NOISE_DB  # background noise RMS, dBFS
    colours: tuple[str, ...] = (*COLOURS, "babble")  # background scenes ("babble": the split's non-keyword clips)
    gap_seconds: tuple[float, float] = (0.5, 3.0)
    recording_seconds: float = 600.0
    repeats: int = 1
    #: the most clips the clip streams are built from: a seeded, class-balanced sample (None: every clip)
    max_clips: int | None = None
    #: hours of synthetic keyword-free speech (espeak-ng sentences at the same SNRs) added to the test streams, and to
    #: the validation streams an operating point is chosen on. Off by default: real audio first (the split's own
    #: non-keyword clips, your --negatives recordings); a model trained on real voices can fire on synthetic speech
    #: it never heard, so where only synthetic hours resolve the budget the figures say which source fired
    synthetic_hours: float = 0.0
    validation_synthetic_hours: float = 0.0
    seed: int = 0
    chunk_seconds: float = 0.1  # the live path is timed pushing chunks of this length, as an app pushes them
    live_seconds: float = 60.0  # seconds of test stream timed through the live path (0: not timed)
    bootstrap: int = 1000  # resamples of the intervals (0: none)
    threads: int = 0
    version: int = 4

    def __post_init__(self) -> None:
        for name in ("keywords", "smooth_choices", "refractory_choices", "snr_db", "colours", "gap_seconds"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, (value,) if isinstance(value, (str, int, float)) else tuple(value))
        problems = _problems(self)
        if problems:
            raise SpcError("streaming settings: " + "; ".join(problems))

    def as_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))


def _finite(*xs) -> bool:
    return all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in xs)


def _pair(p) -> bool:
    return isinstance(p, tuple) and len(p) == 2 and _finite(*p) and p[0] <= p[1]


def _problems(c: StreamEvalConfig) -> list[str]:
    """Every setting that cannot run, one phrase each."""
    out = []
    if c.version != StreamEvalConfig.version:
        out.append(f"version {c.version!r} is not {StreamEvalConfig.version} (settings from another spc: write them again)")
    if c.keywords is not None and (not c.keywords or not all(isinstance(k, str) and k.strip() for k in c.keywords)):
        out.append("keywords must be class names (one or more)")
    if not (_finite(c.max_fa_per_hour) and 0 < c.max_fa_per_hour <= 1000):
        out.append(f"the false-accept budget must be in (0, 1000] per hour, got {c.max_fa_per_hour}")
    if not (_finite(c.hop_seconds) and 0.001 <= c.hop_seconds <= 10):
        out.append(f"the hop must be in [0.001, 10] seconds, got {c.hop_seconds}")
    if not c.smooth_choices or not all(isinstance(s, int) and 1 <= s <= MAX_SMOOTH for s in c.smooth_choices):
        out.append(f"smoothing choices must be whole numbers of windows in [1, {MAX_SMOOTH}]")
    if not c.refractory_choices or not all(_finite(r) and 0 <= r <= 60 for r in c.refractory_choices):
        out.append("refractory choices must be seconds in [0, 60]")
    if not (_pair(c.snr_db) and -20 <= c.snr_db[0] and c.snr_db[1] <= 60):
        out.append("the SNR range must be LO,HI dB with -20 <= LO <= HI <= 60")
    if not (_finite(c.noise_db) and -90 <= c.noise_db <= -10):
        out.append(f"the noise level must be in [-90, -10] dBFS, got {c.noise_db}")
    if not c.colours or not set(c.colours) <= {*COLOURS, "babble"}:
        out.append(f"noise colours must be some of {', '.join((*COLOURS, 'babble'))}")
    if not (_pair(c.gap_seconds) and 0 <= c.gap_seconds[0] and c.gap_seconds[1] <= 60):
        out.append("gaps must be 0 <= min <= max <= 60 seconds, given as MIN,MAX")
    if not (_finite(c.recording_seconds) and 1 <= c.recording_seconds <= 86400):
        out.append("recordings must be 1 s to 24 h long")
    if not (isinstance(c.repeats, int) and 1 <= c.repeats <= 100):
        out.append(f"repeats must be 1 to 100, got {c.repeats}")
    if c.max_clips is not None and not (isinstance(c.max_clips, int) and c.max_clips >= 1):
        out.append(f"the most clips must be at least 1 (or none for every clip), got {c.max_clips}")
    for name in ("synthetic_hours", "validation_synthetic_hours"):
        if not (_finite(getattr(c, name)) and 0 <= getattr(c, name) <= 1000):
            out.append(f"{name} must be 0 to 1000 hours")
    if not (_finite(c.chunk_seconds, c.live_seconds) and 0 < c.chunk_seconds <= 10 and 0 <= c.live_seconds <= 3600):
        out.append("chunks must be (0, 10] s and the live timing 0 to 3600 s")
    if not (isinstance(c.bootstrap, int) and 0 <= c.bootstrap <= 100000):
        out.append("bootstrap resamples must be 0 to 100000")
    if not (isinstance(c.threads, int) and 0 <= c.threads <= (os.cpu_count() or 1)):
        out.append(f"threads must be 0 (default) to {os.cpu_count() or 1} (the cores here), got {c.threads}")
    return out


def split_classes(labels: list[str], keywords: Sequence[str] | None,
                  negative_audio: bool = False) -> tuple[list[str], list[str]]:
    """(keyword classes, non-keyword classes) among ``labels`` (the data's classes). Every class may be a keyword
    where there is ``negative_audio`` (hours of keyword-free recordings make the false accepts)."""
    if keywords:
        unknown = [k for k in keywords if k not in labels]
        if unknown:
            raise SpcError(f"keywords {unknown} are not classes of the data ({', '.join(labels)})")
        kws = [x for x in labels if x in keywords]
    else:
        kws = [x for x in labels if x not in NON_KEYWORDS]
    negatives = [x for x in labels if x not in kws]
    if not kws:
        raise SpcError(f"no keyword among the classes ({', '.join(labels)}): name the keywords with --keywords")
    if not negatives and not negative_audio:
        raise SpcError(f"every class ({', '.join(labels)}) is a keyword and there is no negative audio, so nothing can "
                       "make a false accept: name fewer keywords with --keywords, or add --negatives / --synthetic-negatives")
    return kws, negatives


# ------------------------------------------------------------------ building and scoring a split
def load_split(data, split: str, rate: int, clip_samples: int, labels: list[str]):
    """The clips of ``split`` at the artifact's rate and clip length, in its class order."""
    from ..data import as_data_config, load_clips

    ds = as_data_config(data).open()
    return load_clips(ds, split, rate=rate, clip_seconds=clip_samples / rate, labels=labels, show_progress=False)


def split_streams(clips, split: str, keywords: list[str], rate: int, clip_samples: int, config: StreamEvalConfig,
                  cache: Path, negatives_dir: str | None = None, noise: Sequence[np.ndarray] = (),
                  show_progress: bool = True) -> Streams:
    """A split's streams: its clips, plus the user's negatives (test only: choosing and reading on the same audio
    would flatter the point) or espeak-ng negatives made for this split (its own seed)."""
    hours = config.synthetic_hours if split == "test" else config.validation_synthetic_hours  # espeak-ng, if asked
    seed = config.seed + {"test": 0, "validation": 1}.get(split, 2)
    files, _ = negative_sources(rate, folder=negatives_dir if split == "test" else None, hours=hours,
                                cache=cache / f"negatives-{split}", exclude_words=keywords, seed=seed,
                                snr_db=config.snr_db, noise_db=config.noise_db, show_progress=show_progress)
    labels = [clips.labels[t] for t in clips.targets]
    return build_streams(split, clips.audio, labels, clips.paths, keywords, rate, clip_samples, config, files, noise)


def choose_on(view: View, config: StreamEvalConfig, chosen_on: str, temperature: float = 1.0) -> Choice:
    """The operating point ``config`` chooses on ``view`` (every smoothing and refractory period it offers)."""
    return choose_point(view, config.max_fa_per_hour, hop_seconds=config.hop_seconds,
                        smooth_choices=config.smooth_choices, refractory_choices=config.refractory_choices,
                        temperature=temperature, chosen_on=chosen_on)


def snr_edges(config: StreamEvalConfig, bands: int = 4) -> list[float]:
    lo, hi = config.snr_db
    return [float(x) for x in np.linspace(lo, hi, bands + 1)] if hi > lo else [lo, hi]


def test_figures(view: View, point: OperatingPoint, config: StreamEvalConfig) -> dict:
    """Everything read at ``point`` on the test streams: the summary, per SNR band, per source, the sources that fire
    most, the same without synthetic negatives, every occurrence and every false accept."""
    reading = read_at(view, point)
    records = occurrence_records(view, reading)
    real = view.without(SYNTHETIC)
    real_reading = read_at(real, point)
    synthetic = sum(fa.source_kind in SYNTHETIC for fa in reading.false_accepts)
    dominated = synthetic > len(reading.false_accepts) / 2
    return {"at_point": reading.summary(config.max_fa_per_hour), "snr_bands": snr_bands(records, snr_edges(config)),
            "per_source": per_source(view, reading), "top_sources": top_sources(reading.false_accepts),
            "synthetic_note": (f"synthetic speech made {synthetic} of the {len(reading.false_accepts)} false accepts: "
                               "the figure leans on audio the model may never have heard (see without_synthetic)")
                              if dominated else None,
            "without_synthetic": {**real_reading.summary(config.max_fa_per_hour),
                                  "left_out": list(SYNTHETIC)},
            "occurrences": records,
            "false_accepts": [asdict(fa) for fa in reading.false_accepts]}


# ------------------------------------------------------------------ stream-eval
@locks_output("out_dir")
def evaluate_streams(artifacts: Mapping[str, str | Path] | str | Path, data, out_dir: str | Path, *,
                     config: StreamEvalConfig = StreamEvalConfig(), negatives_dir: str | Path | None = None,
                     noise_dir: str | Path | None = None, reference: str | None = None,
                     show_progress: bool = True) -> dict:
    """Every artifact read at its operating point on the same test streams; writes ``stream_eval.json``,
    ``det.png`` and ``recordings.json`` in ``out_dir`` and returns the JSON's dict (see the module). With
    ``reference`` (one of the names) every other artifact's hit-rate retention against it gets a paired interval."""
    from ..data import as_data_config

    named = {Path(artifacts).name: artifacts} if isinstance(artifacts, (str, Path)) else dict(artifacts)
    if not named:
        raise SpcError("stream-eval needs at least one artifact")
    data = as_data_config(data)
    refuse_overlap({"output folder": out_dir}, {"data folder": data.root, "negatives folder": negatives_dir,
                                               "noise folder": noise_dir, **{f"artifact {n}": p for n, p in named.items()}})
    out = check_output_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spotters = {name: KeywordSpotter(path, threads=config.threads) for name, path in named.items()}
    try:
        return _evaluate(spotters, named, data, out, config, negatives_dir, noise_dir, reference, show_progress)
    finally:
        for sp in spotters.values():
            sp.close()


def _same_task(spotters: Mapping[str, KeywordSpotter]) -> KeywordSpotter:
    """The first spotter; refuse artifacts that differ in rate, clip length or classes (read on the same streams)."""
    first_name, first = next(iter(spotters.items()))
    for name, sp in spotters.items():
        if (sp.sampling_rate, sp.clip_samples) != (first.sampling_rate, first.clip_samples):
            raise SpcError(f"{name} runs {sp.sampling_rate} Hz clips of {sp.clip_samples} samples, {first_name} "
                           f"{first.sampling_rate} Hz clips of {first.clip_samples}: evaluate them separately")
        if sorted(sp.labels) != sorted(first.labels):
            raise SpcError(f"{name} has the classes {', '.join(sp.labels)}, {first_name} {', '.join(first.labels)}: "
                           "artifacts read on the same streams need the same classes")
    return first


def _noise(noise_dir, rate: int) -> list[np.ndarray]:
    if noise_dir is None:
        return []
    from .negatives import read_negatives

    return read_negatives(noise_dir, rate)


def _evaluate(spotters, named, data, out: Path, config: StreamEvalConfig, negatives_dir, noise_dir, reference,
              show_progress: bool) -> dict:
    first = _same_task(spotters)
    rate, n = first.sampling_rate, first.clip_samples
    test = load_split(data, "test", rate, n, first.labels)
    present = [x for x in first.labels if x in {test.labels[t] for t in test.targets}]
    keywords, _ = split_classes(present, config.keywords,
                                negative_audio=bool(negatives_dir) or config.synthetic_hours > 0)
    noise = _noise(noise_dir, rate)
    test_streams = split_streams(test, "test", keywords, rate, n, config, out, negatives_dir, noise, show_progress)
    need_validation = any(sp.operating_point is None for sp in spotters.values())
    val_streams = (split_streams(load_split(data, "validation", rate, n, first.labels), "validation", keywords, rate,
                                 n, config, out, None, noise, show_progress) if need_validation else None)
    results, views, ev_val, ev_test = {}, {}, {}, {}
    for name, sp in spotters.items():
        scores = score_streams(sp, test_streams, config.hop_seconds, temperature=sp.temperature,
                               cache_dir=out / "scores", show_progress=show_progress, name=name)
        view = views[name] = make_view(test_streams, scores)
        if sp.operating_point is not None:
            point, source, val_view = sp.operating_point, "carried by the artifact", None
        else:
            val_view = make_view(val_streams, score_streams(sp, val_streams, config.hop_seconds,
                                                            temperature=sp.temperature, cache_dir=out / "scores",
                                                            show_progress=show_progress, name=name))
            point = choose_on(val_view, config, f"validation streams of {data.root}", sp.temperature).point
            source = "chosen here on the validation streams (the artifact carries none)"
        oracle = choose_on(view, config, "test streams (oracle)", sp.temperature)
        res = {"artifact": str(named[name]), "operating_point": point.as_dict() if point else None,
               "operating_point_source": source,
               "oracle": {"operating_point": oracle.point.as_dict() if oracle.point else None,
                          **(oracle.reading.summary(config.max_fa_per_hour) if oracle.reading else {}),
                          "what": "the best point on the test streams themselves: no app can ship it"},
               "scoring": {"real_time_factor": scores.real_time_factor, "compute_seconds": scores.compute_seconds,
                           "audio_hours": scores.audio_seconds / 3600, "windows": scores.windows, "cached": scores.cached,
                           "live_real_time_factor": live_rtf(sp, test_streams, point, config)},
               "backend": {"kind": sp.manifest.get("kind"), "runner": type(sp.runner).__name__,
                           "providers": getattr(sp.runner, "providers", None)}}
        if point is not None:
            res["test"] = test_figures(view, point, config)
            ev_test[name] = iv.evidence(view, point)
            if val_view is not None:
                ev_val[name] = iv.evidence(val_view, point)
        else:
            res["test"] = None
            res["why"] = f"no threshold keeps the validation false accepts within {config.max_fa_per_hour:g} per hour"
        results[name] = res
    _intervals(results, ev_val, ev_test, config, reference)
    summary = _summary(data, test_streams, keywords, config, results, out, negatives_dir)
    atomic_write_text(out / "recordings.json", json.dumps(test_streams.manifest(), indent=1))
    det_plot(views, results, out / "det.png", config)
    atomic_write_text(out / "stream_eval.json", json.dumps(summary, indent=1))
    return summary


def _intervals(results: dict, ev_val: dict, ev_test: dict, config: StreamEvalConfig, reference: str | None) -> None:
    """Add each model's intervals: two-sided where its point was chosen here on validation, test-side only (the
    threshold fixed) where the artifact carried it."""
    if not config.bootstrap or not ev_test:
        return
    two = {n: ev_val[n] for n in ev_test if n in ev_val}
    fixed = {n: ev_test[n] for n in ev_test if n not in ev_val}
    if two:
        ref = reference if reference in two else None
        for name, row in iv.bootstrap(two, {n: ev_test[n] for n in two}, config.max_fa_per_hour, reference=ref,
                                      n_resamples=config.bootstrap, seed=config.seed).items():
            results[name]["test"]["at_point"].update(row, interval="occurrences and negative blocks resampled, "
                                                                   "threshold re-chosen on resampled validation")
    ref_at = ((results.get(reference) or {}).get("test") or {}).get("at_point") if reference else None
    if ref_at and ref_at["miss_rate"] is not None and ref_at["miss_rate"] < 1:
        for name, r in results.items():
            at = (r.get("test") or {}).get("at_point")
            if at and at["miss_rate"] is not None:
                at["retention"] = (1 - at["miss_rate"]) / (1 - ref_at["miss_rate"])
                at["retention_of"] = reference
    if fixed:
        for name, row in iv.bootstrap_fixed(fixed, {n: results[n]["operating_point"]["threshold"] for n in fixed},
                                            n_resamples=config.bootstrap, seed=config.seed).items():
            results[name]["test"]["at_point"].update(row, interval="occurrences and negative blocks resampled at the "
                                                                   "carried threshold")


def live_rtf(spotter: KeywordSpotter, streams: Streams, point: OperatingPoint | None, config: StreamEvalConfig) -> float | None:
    """Wall seconds per second of audio of the live path (``StreamingSpotter.push`` in ``chunk_seconds`` chunks) on
    the first ``live_seconds`` of the first stream: what an app pays, batch size one window per hop."""
    if config.live_seconds <= 0 or not streams.recordings:
        return None
    x = streams.recordings[0].load(streams.rate)[: int(config.live_seconds * streams.rate)]
    live = StreamingSpotter(spotter, point, ignore=tuple(l for l in spotter.labels if l not in streams.keywords))
    chunk = max(1, int(round(config.chunk_seconds * streams.rate)))
    t0 = time.perf_counter()
    for i in range(0, len(x), chunk):
        live.push(x[i : i + chunk])
    return (time.perf_counter() - t0) / (len(x) / streams.rate) if len(x) else None


def _summary(data, streams: Streams, keywords, config, results, out: Path, negatives_dir) -> dict:
    hours = streams.hours()
    return {"data": str(data.root), "split": "test", "keywords": keywords, "non_keywords": streams.non_keywords,
            "audio": {**hours, "negatives": str(negatives_dir) if negatives_dir else "espeak-ng"},
            "budget": {"max_fa_per_hour": config.max_fa_per_hour,
                       "resolved": resolves(config.max_fa_per_hour, _neg_hours(results)),
                       "note": None if resolves(config.max_fa_per_hour, _neg_hours(results))
                       else resolution_note(config.max_fa_per_hour, _neg_hours(results))},
            "config": config.as_dict(), "results": results,
            "files": {"json": str(out / "stream_eval.json"), "det_png": str(out / "det.png"),
                      "recordings": str(out / "recordings.json")}}


def _neg_hours(results: dict) -> float:
    for r in results.values():
        if r.get("test"):
            return r["test"]["at_point"]["negative_hours"]
    return 0.0


# ------------------------------------------------------------------ the DET curve
def det_plot(views: Mapping[str, View], results: Mapping[str, dict], path: Path, config: StreamEvalConfig,
             points: int = 30) -> Path:
    """Miss rate against false accepts per hour on the test streams (log x; zero drawn at half the resolution), each
    model at its point's smoothing and refractory period; the carried point starred, the oracle ringed."""
    from ..plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.6))
    floor = None
    for name, view in views.items():
        res = results[name]
        point = OperatingPoint.from_dict(res["operating_point"]) if res["operating_point"] else DEFAULT
        hours = view.negative_hours
        floor = 0.5 / hours if hours else 1.0
        scores = np.concatenate([s.score for s in view.series(point.smooth)]) if view.scores.posteriors else np.zeros(0)
        grid = np.unique(np.quantile(scores[scores > 0], np.linspace(0.5, 1, points))) if (scores > 0).any() else []
        xs, ys = [], []
        for t in grid:
            r = read_at(view, OperatingPoint(threshold=float(min(max(t, 1e-9), 1.0)), smooth=point.smooth,
                                             refractory_seconds=point.refractory_seconds, hop_seconds=point.hop_seconds))
            xs.append(max(r.fa_per_hour, floor))
            ys.append(r.miss_rate)
        line, = ax.plot(xs, ys, marker="o", ms=2, label=name)
        at = (res.get("test") or {}).get("at_point")
        if at:
            ax.plot([max(at["fa_per_hour"], floor)], [at["miss_rate"]], marker="*", ms=13, color=line.get_color())
        orc = res["oracle"]
        if orc.get("miss_rate") is not None:
            ax.plot([max(orc["fa_per_hour"], floor)], [orc["miss_rate"]], marker="o", ms=9, mfc="none",
                    color=line.get_color())
    ax.axvline(config.max_fa_per_hour, ls="--", color="gray", lw=1, label=f"{config.max_fa_per_hour:g} FA/h")
    ax.set_xscale("log")
    ax.set_xlabel(f"false accepts per hour (0 drawn at {floor:.2g})" if floor else "false accepts per hour")
    ax.set_ylabel("miss rate")
    ax.set_title("test streams: * at the carried operating point, o the oracle point", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ------------------------------------------------------------------ console lines
def _f(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def stream_eval_lines(summary: dict) -> list[str]:
    """Plain console lines: the audio, per artifact its point and where it came from, the figures at it (or why the
    budget is not resolved), the oracle, SNR bands, sources, and the files."""
    a, budget = summary["audio"], summary["budget"]
    lines = [f"test streams: {a['keyword_clips']} keyword clips ({', '.join(summary['keywords'])}) and "
             f"{a['non_keyword_clips']} non-keyword clips at {summary['config']['snr_db'][0]:g}-"
             f"{summary['config']['snr_db'][1]:g} dB SNR, {a['total_hours']:.2f} h in {a['recordings']} recordings "
             f"(negatives: {a['negatives']})"]
    if budget["note"]:
        lines.append(f"note: {budget['note']}: miss rates at the budget are not shown; add recordings of the app's "
                     "surroundings (--negatives DIR) or synthetic speech (--synthetic-negatives HOURS)")
    for name, r in summary["results"].items():
        lines.append(f"\n{name}: operating point {r['operating_point_source']}")
        if r["operating_point"]:
            lines.append("  " + OperatingPoint.from_dict(r["operating_point"]).describe())
        t = r.get("test")
        if not t:
            lines.append(f"  {r.get('why', 'not read')}")
            continue
        at = t["at_point"]
        lines.append(f"  {at['negative_hours']:.2f} h of negative audio: one false accept = "
                     f"{at['one_false_accept_per_hour']:.3g} per hour")
        if at["resolved"]:
            ci = at.get("miss_rate_ci") or [None, None]
            lines.append(f"  at the carried point: miss rate {at['miss_rate']:.3f} [{_f(ci[0], '.3f')}, {_f(ci[1], '.3f')}]"
                         f" ({at['misses']}/{at['keywords']}), {at['false_accepts']} false accepts = "
                         f"{at['fa_per_hour']:.2f} FA/h, latency p50 {_f(at['latency_median_s'], '.2f')} s")
        else:
            lines.append(f"  at the carried point: {at['false_accepts']} false accepts; miss rate not shown (unresolved)")
        orc = r["oracle"]
        if orc.get("miss_rate") is not None:
            lines.append(f"  oracle (best on test, no app can ship it): miss rate {orc['miss_rate']:.3f} at threshold "
                         f"{orc['threshold']:.6g}")
        lines.append("  misses per SNR band: " + ", ".join(
            f"{b['snr_db'][0]:g}-{b['snr_db'][1]:g} dB {b['misses']}/{b['keywords']}" for b in t["snr_bands"]))
        src = ", ".join(f"{k} {v['false_accepts']} in {v['negative_hours']:.2f} h" for k, v in t["per_source"].items())
        lines.append(f"  false accepts per source: {src}")
        if t.get("synthetic_note"):
            lines.append(f"  note: {t['synthetic_note']}")
        for s in t["top_sources"][:3]:
            lines.append(f"    fires most: {s['source']} ({s['kind']}, {s['false_accepts']})")
        sc = r["scoring"]
        lines.append(f"  scored at real-time factor {_f(sc['real_time_factor'], '.4f')} (windows batched"
                     f"{', from the cache' if sc['cached'] else ''}); live path {_f(sc['live_real_time_factor'], '.4f')}")
    f = summary["files"]
    lines.append(f"\n{f['json']}\n{f['det_png']}\n{f['recordings']}")
    return lines
