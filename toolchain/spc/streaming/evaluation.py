"""Streaming evaluation: an artifact judged as an app judges it - misses, false accepts per hour, latency, cost.

Long recordings are built from the test split: keyword clips and non-keyword clips (with leading and
trailing digital silence trimmed) in a seeded random order, separated by random gaps, over seeded pink
background noise; ``recordings.json`` gives every clip's position. Each recording is pushed through
``spc.runtime.StreamingSpotter`` in live-sized chunks (the same code an app runs), once per artifact;
the window posteriors are then decided at every threshold by the runtime's own ``Decider``.

Scoring a detection emitted at stream time ``e`` (the end of its window, ``Detection.end_s``): its window
``[e - clip, e]`` overlaps keyword clip ``[a, b]`` when ``a < e < b + clip``.

- a **hit**: the first detection of the keyword's label whose window overlaps it; latency ``e - b``
  (from the end of the keyword's audio to the end of the window that fired);
- a **miss**: a keyword clip with no hit; miss rate = misses / keyword clips;
- a **false accept**: a detection whose window overlaps no keyword clip (non-keyword speech or noise);
  false accepts per hour = false accepts / **negative hours**: the stream time at which a window could end
  (``clip`` s after the start to the end) and overlap no keyword clip;
- a detection overlapping a keyword with another label is a **substitution**, a second one with the same
  label a **duplicate**: both are counted and reported, neither is a hit nor a false accept.

Real-time factor: wall-clock seconds spent in ``push`` (windowing, batching, the backend) over seconds of
audio, chunks of ``chunk_seconds``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..audio import trim_silence, unit_rms
from ..data.clips import balanced_indices
from ..errors import SpcError
from ..fileio import atomic_write_text, check_output_dir
from ..runtime import Detection, KeywordSpotter, NON_KEYWORDS, STREAM, StreamingSpotter

#: the detection thresholds every artifact is swept over; fine near 1 because a confident model (a pruned one, a
#: student before calibration) can fire on keyword-free speech above 0.999, and a grid that stops there would
#: leave it no threshold at the false-accept budget (scored as detecting nothing) when a higher one would do
DEFAULT_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999,
                      0.9995, 0.9998, 0.9999, 0.99995, 0.99998, 0.99999, 0.999995, 0.999998, 0.999999)


@dataclass(frozen=True)
class StreamEvalConfig:
    """How recordings are built and detections decided; every field is recorded in the JSON."""

    keywords: tuple[str, ...] | None = None  # None: every class but _silence_/_unknown_
    hop_seconds: float = STREAM.hop_seconds
    smooth: int = STREAM.smooth
    refractory_seconds: float = STREAM.refractory_seconds
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    max_fa_per_hour: float = 1.0
    gap_seconds: tuple[float, float] = (0.5, 3.0)
    noise_rms: float = 0.003
    recording_seconds: float = 600.0
    repeats: int = 1
    #: the most clips the keyword recordings are built from: a seeded, class-balanced sample (None: every clip);
    #: what keeps a quick run quick, at the price of fewer keyword occurrences (a wider interval)
    max_clips: int | None = None
    seed: int = 0
    chunk_seconds: float = 0.1
    threads: int = 0
    version: int = 2

    def __post_init__(self) -> None:
        import math
        import os

        def finite(*xs) -> bool:
            return all(isinstance(x, (int, float)) and math.isfinite(x) for x in xs)

        problems = []
        if not (finite(self.hop_seconds) and 0 < self.hop_seconds <= 10):
            problems.append(f"the hop must be in (0, 10] seconds, got {self.hop_seconds}")
        if self.smooth < 1 or self.repeats < 1:
            problems.append("smoothing and repeats must be at least 1")
        if self.max_clips is not None and self.max_clips < 1:
            problems.append(f"the most clips must be at least 1 (or none for every clip), got {self.max_clips}")
        if not (finite(self.refractory_seconds, self.noise_rms) and self.refractory_seconds >= 0 and self.noise_rms >= 0):
            problems.append("the refractory time and the noise level must be finite numbers >= 0")
        if not self.thresholds or not all(finite(t) and 0 <= t <= 1 for t in self.thresholds):
            problems.append("thresholds must be numbers in [0, 1]")
        if not (finite(self.max_fa_per_hour) and self.max_fa_per_hour >= 0):
            problems.append(f"the false-accept budget must be a finite number >= 0 per hour, got {self.max_fa_per_hour}")
        lo, hi = (tuple(self.gap_seconds) + (None, None))[:2] if len(self.gap_seconds) == 2 else (-1, -1)
        if not (finite(lo, hi) and 0 <= lo <= hi <= 60):
            problems.append("gaps must be 0 <= min <= max <= 60 seconds, given as MIN,MAX")
        if not (finite(self.recording_seconds, self.chunk_seconds) and 0 < self.chunk_seconds <= 10
                and 1 <= self.recording_seconds <= 86400):
            problems.append("recordings must be 1 s to 24 h long and chunks (0, 10] s")
        if not 0 <= self.threads <= (os.cpu_count() or 1):
            problems.append(f"threads must be 0 (default) to {os.cpu_count() or 1} (the cores here), got {self.threads}")
        if problems:
            raise SpcError("streaming settings: " + "; ".join(problems))


@dataclass(frozen=True)
class PlacedClip:
    """One test clip inside a long recording (seconds from the recording's start)."""

    recording: int
    label: str
    keyword: bool
    start_s: float
    end_s: float
    path: str


@dataclass
class Recordings:
    """The long recordings and where every clip lies in them."""

    audio: list[np.ndarray]
    clips: list[PlacedClip]
    rate: int
    keywords: list[str]
    negatives: list[str]

    def seconds(self, i: int) -> float:
        return len(self.audio[i]) / self.rate

    def keyword_clips(self) -> list[list[PlacedClip]]:
        """Per recording, its keyword clips (in placing order)."""
        out: list[list[PlacedClip]] = [[] for _ in self.audio]
        for c in self.clips:
            if c.keyword:
                out[c.recording].append(c)
        return out

    def manifest(self, config: StreamEvalConfig) -> dict:
        """``recordings.json``: settings, each recording's length and each clip's position."""
        return {"rate": self.rate, "keywords": self.keywords, "negatives": self.negatives, "config": config_dict(config),
                "recordings": [{"index": i, "seconds": round(self.seconds(i), 4)} for i in range(len(self.audio))],
                "clips": [asdict(c) for c in self.clips]}


@dataclass
class Tally:
    """Counts of one threshold over all recordings."""

    keywords: int = 0
    hits: int = 0
    false_accepts: int = 0
    substitutions: int = 0
    duplicates: int = 0
    latencies: list[float] = field(default_factory=list)
    hit_flags: list[bool] = field(default_factory=list)  # per keyword occurrence, in recording order: was it hit


def config_dict(config: StreamEvalConfig) -> dict:
    """The config as plain JSON values."""
    d = asdict(config)
    d["keywords"] = list(config.keywords) if config.keywords else None
    d["thresholds"], d["gap_seconds"] = list(config.thresholds), list(config.gap_seconds)
    return d


def check_config(config: StreamEvalConfig) -> None:
    """One user error for settings that cannot run."""
    lo, hi = config.gap_seconds
    if not 0 <= lo <= hi or config.repeats < 1 or config.chunk_seconds <= 0 or config.recording_seconds <= 0:
        raise SpcError("stream-eval needs 0 <= gap min <= gap max, repeats >= 1, chunk and recording seconds > 0")
    if not config.thresholds or not all(0 < t <= 1 for t in config.thresholds):
        raise SpcError("stream-eval thresholds must lie in (0, 1]")
    if config.max_fa_per_hour < 0:
        raise SpcError("--max-fa-per-hour must be >= 0")


def split_classes(labels: list[str], keywords: tuple[str, ...] | None) -> tuple[list[str], list[str]]:
    """(keyword classes, non-keyword classes) among ``labels`` (the data's classes)."""
    if keywords:
        unknown = [k for k in keywords if k not in labels]
        if unknown:
            raise SpcError(f"keywords {unknown} are not classes of the test split ({', '.join(labels)})")
        kws = [x for x in labels if x in keywords]
    else:
        kws = [x for x in labels if x not in NON_KEYWORDS]
    negatives = [x for x in labels if x not in kws]
    if not kws or not negatives:
        raise SpcError(f"stream-eval needs keyword and non-keyword classes; the test split has {', '.join(labels)}: "
                       "name the keywords with --keywords (the other classes become non-keywords)")
    return kws, negatives


def pink_noise(n: int, rms: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of 1/f noise at ``rms``."""
    if n == 0 or rms == 0:
        return np.zeros(n, np.float32)
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1.0))
    x = np.fft.irfft(spec, n)
    return (rms * unit_rms(x)).astype(np.float32)


def build_recordings(audio: np.ndarray, labels: list[str], paths: list[str], keywords: list[str], rate: int,
                     clip_samples: int, config: StreamEvalConfig, negatives: Sequence[np.ndarray] = ()) -> Recordings:
    """Seeded long recordings: the clips (``repeats`` times, shuffled; at most ``max_clips`` of them, a
    class-balanced sample) separated by random gaps, over noise;
    then ``negatives`` (long non-keyword audio at ``rate``: espeak-ng sentences over noise, a user's
    recordings), cut into recordings of at most ``config.recording_seconds``, as they are."""
    if config.max_clips is not None and len(audio) > config.max_clips:
        keep = sorted(balanced_indices(labels, config.max_clips, seed=config.seed))
        audio, labels, paths = [audio[i] for i in keep], [labels[i] for i in keep], [paths[i] for i in keep]
    rng = np.random.default_rng(config.seed)
    clips = [trim_silence(np.asarray(a, np.float32)) for a in audio]
    order = np.concatenate([rng.permutation(len(clips)) for _ in range(config.repeats)])
    gap = lambda: int(rng.uniform(*config.gap_seconds) * rate)  # noqa: E731
    groups, current, pos = [], [], gap()
    for idx in order:
        if len(clips[idx]) == 0:
            continue
        current.append((int(idx), pos))
        pos += len(clips[idx]) + gap()
        if pos >= config.recording_seconds * rate:
            groups.append((current, pos + clip_samples))
            current, pos = [], gap()
    if current:
        groups.append((current, pos + clip_samples))
    out = Recordings([], [], rate, list(keywords), sorted({*labels} - {*keywords}))
    for r, (items, length) in enumerate(groups):
        x = pink_noise(length, config.noise_rms, rng)
        for idx, start in items:
            x[start : start + len(clips[idx])] += clips[idx]
            out.clips.append(PlacedClip(r, labels[idx], labels[idx] in keywords, round(start / rate, 6),
                                        round((start + len(clips[idx])) / rate, 6), paths[idx]))
        out.audio.append(x)
    step = int(config.recording_seconds * rate)
    for long in negatives:
        for start in range(0, len(long), step):
            piece = np.asarray(long[start : start + step], np.float32)
            if len(piece) >= clip_samples:  # it brings its own background noise
                out.audio.append(piece.copy())
    return out


def stream_posteriors(live: StreamingSpotter, x: np.ndarray, chunk_samples: int) -> tuple[np.ndarray, float]:
    """(window posteriors K x C, wall seconds) of one recording pushed in chunks, as an app would push it."""
    live.reset()
    posts, spent = [], 0.0
    for i in range(0, len(x), chunk_samples):
        t0 = time.perf_counter()
        posts.extend(p for _, p in live.posteriors(x[i : i + chunk_samples]))
        spent += time.perf_counter() - t0
    return np.array(posts).reshape(len(posts), len(live.labels)), spent


def decide(live: StreamingSpotter, posteriors: np.ndarray, threshold: float) -> list[Detection]:
    """The detections the runtime's decider makes from these posteriors at ``threshold``."""
    decider = live.new_decider(threshold)
    return [d for k, p in enumerate(posteriors) if (d := decider.update(k, p)) is not None]


def tally_recording(detections: list[Detection], keywords: list[PlacedClip], clip_s: float, tally: Tally) -> None:
    """Add one recording's hits, false accepts, substitutions, duplicates and latencies to ``tally``."""
    hit = [False] * len(keywords)
    tally.keywords += len(keywords)
    for d in detections:
        near = [j for j, k in enumerate(keywords) if k.start_s < d.end_s < k.end_s + clip_s]
        same = [j for j in near if keywords[j].label == d.label]
        fresh = [j for j in same if not hit[j]]
        if fresh:
            hit[fresh[0]] = True
            tally.hits += 1
            tally.latencies.append(d.end_s - keywords[fresh[0]].end_s)
        elif same:
            tally.duplicates += 1
        elif near:
            tally.substitutions += 1
        else:
            tally.false_accepts += 1
    tally.hit_flags.extend(hit)


def negative_seconds(keywords: list[PlacedClip], seconds: float, clip_s: float) -> float:
    """Stream time at which a window can end (from ``clip_s`` to the end) and overlap no keyword clip."""
    covered, lo_prev, hi_prev = 0.0, None, None
    for lo, hi in sorted((max(k.start_s, clip_s), min(k.end_s + clip_s, seconds)) for k in keywords):
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


def threshold_row(threshold: float, tally: Tally, negative_hours: float) -> dict:
    """One threshold's figures (JSON)."""
    lat = np.asarray(tally.latencies)
    return {"threshold": threshold, "keywords": tally.keywords, "hits": tally.hits,
            "misses": tally.keywords - tally.hits, "miss_rate": 1 - tally.hits / tally.keywords if tally.keywords else None,
            "false_accepts": tally.false_accepts,
            "fa_per_hour": tally.false_accepts / negative_hours if negative_hours > 0 else None,
            "substitutions": tally.substitutions, "duplicates": tally.duplicates,
            "latency_median_s": float(np.median(lat)) if len(lat) else None,
            "latency_p90_s": float(np.percentile(lat, 90)) if len(lat) else None}


def choose_threshold(rows: list[dict], max_fa_per_hour: float) -> dict | None:
    """The row with the lowest miss rate among those at or under ``max_fa_per_hour`` (then fewer FA, higher threshold)."""
    ok = [r for r in rows if r["fa_per_hour"] is not None and r["fa_per_hour"] <= max_fa_per_hour]
    return min(ok, key=lambda r: (r["miss_rate"], r["fa_per_hour"], -r["threshold"])) if ok else None


def audio_hours(rec: Recordings) -> dict:
    """Hours of all audio, keyword clips and non-keyword clips, and their counts."""
    kw = [c for c in rec.clips if c.keyword]
    neg = [c for c in rec.clips if not c.keyword]
    total = sum(rec.seconds(i) for i in range(len(rec.audio)))
    return {"total_hours": total / 3600, "keyword_clips": len(kw), "keyword_hours": sum(c.end_s - c.start_s for c in kw) / 3600,
            "non_keyword_clips": len(neg), "non_keyword_clip_hours": sum(c.end_s - c.start_s for c in neg) / 3600,
            "recordings": len(rec.audio)}


def stream_scores(spotter: KeywordSpotter, rec: Recordings, config: StreamEvalConfig) -> dict:
    """Run every recording through the live path once: window posteriors per recording, wall seconds, negative hours."""
    live = _live(spotter, rec, config)
    clip_s = spotter.clip_samples / spotter.sampling_rate
    chunk = max(1, int(round(config.chunk_seconds * rec.rate)))
    per_recording = rec.keyword_clips()
    posts, spent, negative = [], 0.0, 0.0
    for i, x in enumerate(rec.audio):
        p, s = stream_posteriors(live, x, chunk)
        posts.append(p)
        spent += s
        negative += negative_seconds(per_recording[i], rec.seconds(i), clip_s)
    return {"posteriors": posts, "spent": spent, "negative_hours": negative / 3600, "max_batch": live.max_batch}


def _live(spotter: KeywordSpotter, rec: Recordings, config: StreamEvalConfig) -> StreamingSpotter:
    """The live spotter the evaluation runs: the config's settings, every non-keyword class ignored."""
    ignore = tuple(x for x in spotter.labels if x not in rec.keywords)
    return StreamingSpotter(spotter, config.hop_seconds, config.smooth, config.thresholds[0], config.refractory_seconds,
                            ignore=ignore)


def decide_all(spotter: KeywordSpotter, rec: Recordings, posts: list[np.ndarray], negative_hours: float,
               config: StreamEvalConfig) -> tuple[list[dict], dict | None, list[bool]]:
    """(every threshold's figures, the row chosen at ``max_fa_per_hour``, per keyword occurrence whether the
    chosen threshold hit it) from window posteriors computed once."""
    live = _live(spotter, rec, config)
    clip_s = spotter.clip_samples / spotter.sampling_rate
    rows, flags = [], {}
    per_recording = rec.keyword_clips()
    for thr in config.thresholds:
        tally = Tally()
        for i, p in enumerate(posts):
            tally_recording(decide(live, p, thr), per_recording[i], clip_s, tally)
        rows.append(threshold_row(thr, tally, negative_hours))
        flags[thr] = tally.hit_flags
    chosen = choose_threshold(rows, config.max_fa_per_hour)
    return rows, chosen, (flags[chosen["threshold"]] if chosen else [False] * len([c for c in rec.clips if c.keyword]))


def evaluate_artifact(spotter: KeywordSpotter, rec: Recordings, config: StreamEvalConfig) -> dict:
    """Every threshold's figures, the chosen threshold and the real-time factor of one artifact."""
    scored = stream_scores(spotter, rec, config)
    posts = scored["posteriors"]
    rows, chosen, hits = decide_all(spotter, rec, posts, scored["negative_hours"], config)
    seconds = sum(rec.seconds(i) for i in range(len(rec.audio)))
    runner = spotter.runner
    return {"negative_hours": scored["negative_hours"], "thresholds": rows, "chosen": chosen,
            "real_time_factor": scored["spent"] / seconds, "compute_seconds": scored["spent"],
            "windows": int(sum(len(p) for p in posts)), "hits": hits, "temperature": spotter.temperature,
            "backend": {"kind": spotter.manifest.get("kind"), "runner": type(runner).__name__,
                        "providers": getattr(runner, "providers", None), "max_batch": scored["max_batch"]}}


def det_plot(results: Mapping[str, dict], path: Path, max_fa_per_hour: float) -> Path:
    """Miss rate against false accepts per hour (log x; zero false accepts drawn at half the resolution)."""
    from ..plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    floors = []
    for name, res in results.items():
        floor = 0.5 / res["negative_hours"]
        floors.append(floor)
        rows = sorted(res["thresholds"], key=lambda r: -r["threshold"])  # from few false accepts to many
        xs = [max(r["fa_per_hour"], floor) for r in rows]
        line, = ax.plot(xs, [r["miss_rate"] for r in rows], marker="o", ms=3, label=name)
        if res["chosen"]:
            c = res["chosen"]
            ax.plot([max(c["fa_per_hour"], floor)], [c["miss_rate"]], marker="*", ms=12, color=line.get_color())
            ax.annotate(f"{c['threshold']:g}", (max(c["fa_per_hour"], floor), c["miss_rate"]), textcoords="offset points",
                        xytext=(6, 6), fontsize=8)
    ax.axvline(max(max_fa_per_hour, min(floors)), ls="--", color="gray", lw=1, label=f"{max_fa_per_hour:g} FA/h")
    ax.set_xscale("log")
    ax.set_xlabel(f"false accepts per hour (0 drawn at {min(floors):.2g})")
    ax.set_ylabel("miss rate")
    hours = next(iter(results.values()))["negative_hours"]
    ax.set_title(f"DET, {hours:.2f} h of negative audio (* chosen threshold)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def load_test_clips(data, spotter: KeywordSpotter):
    """The test split at the artifact's rate and clip length, in its class order."""
    from ..data import as_data_config, load_clips

    ds = as_data_config(data).open()
    return load_clips(ds, "test", rate=spotter.sampling_rate, clip_seconds=spotter.clip_samples / spotter.sampling_rate,
                      labels=spotter.labels, show_progress=False)


def stream_figures(artifacts: Mapping[str, str | Path] | str | Path, data, out_dir: str | Path, *,
                   config: StreamEvalConfig = StreamEvalConfig(), negatives: Sequence[np.ndarray] = (),
                   negatives_source: str | None = None) -> dict:
    """Streaming figures of one artifact or several ({name: path}) on the same recordings: JSON, DET PNG, manifest.

    Writes ``stream_eval.json``, ``det.png`` and ``recordings.json`` in ``out_dir`` and returns the JSON's dict
    (``results[name]["chosen"]`` is the threshold that meets ``config.max_fa_per_hour``, or None; the returned
    dict also holds ``results[name]["hits"]``, per keyword occurrence whether the chosen threshold hit it).
    ``negatives``: long non-keyword audio at the artifacts' rate added as recordings of its own.
    """
    check_config(config)
    out = check_output_dir(out_dir)
    named = {Path(artifacts).name: artifacts} if isinstance(artifacts, (str, Path)) else dict(artifacts)
    if not named:
        raise SpcError("stream-eval needs at least one artifact")
    results, rec, hours = {}, None, None
    for name, path in named.items():
        with KeywordSpotter(path, threads=config.threads) as spotter:
            if rec is None:
                test = load_test_clips(data, spotter)
                present = [x for x in test.labels if x in {test.labels[t] for t in test.targets}]
                keywords, _ = split_classes(present, config.keywords)
                rec = build_recordings(test.audio, [test.labels[t] for t in test.targets], test.paths, keywords,
                                       spotter.sampling_rate, spotter.clip_samples, config, negatives=negatives)
                hours = {**audio_hours(rec), "negative_audio_hours": sum(len(x) for x in negatives) / rec.rate / 3600,
                         "negative_audio": negatives_source}
            elif spotter.sampling_rate != rec.rate:
                raise SpcError(f"{path} runs at {spotter.sampling_rate} Hz, the first artifact at {rec.rate} Hz")
            results[name] = {"artifact": str(path), **evaluate_artifact(spotter, rec, config)}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "recordings.json", json.dumps(rec.manifest(config), indent=1))
    det_plot(results, out / "det.png", config.max_fa_per_hour)
    summary = {"data": str(getattr(data, "root", data)), "split": "test", "keywords": rec.keywords, "negatives": rec.negatives,
               "audio": hours, "config": config_dict(config), "results": results,
               "files": {"json": str(out / "stream_eval.json"), "det_png": str(out / "det.png"),
                         "recordings": str(out / "recordings.json")}}
    written = {**summary, "results": {n: {k: v for k, v in r.items() if k != "hits"} for n, r in results.items()}}
    atomic_write_text(out / "stream_eval.json", json.dumps(written, indent=2))
    return summary


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def stream_eval_lines(summary: dict) -> list[str]:
    """Plain console lines: the audio, one table per artifact, the chosen threshold and the files."""
    a = summary["audio"]
    lines = [f"{a['keyword_clips']} keyword clips ({', '.join(summary['keywords'])}), {a['non_keyword_clips']} non-keyword "
             f"clips ({', '.join(summary['negatives'])}) in {a['recordings']} recordings, {a['total_hours']:.3f} h"
             + (f", of which {a['negative_audio_hours']:.2f} h negative audio ({a['negative_audio']})"
                if a.get("negative_audio_hours") else "")]
    for name, r in summary["results"].items():
        lines.append(f"\n{name}: {r['negative_hours']:.3f} h of negative audio (one false accept = "
                     f"{1 / r['negative_hours'] if r['negative_hours'] else float('inf'):.2f} per hour), real-time factor "
                     f"{r['real_time_factor']:.4f} ({r['backend']['runner']}, batches <= {r['backend']['max_batch']})")
        lines.append(f"{'threshold':>9}  {'miss rate':>9}  {'FA':>4}  {'FA/h':>7}  {'latency p50':>11}  {'p90':>6}")
        for row in r["thresholds"]:
            lines.append(f"{row['threshold']:>9g}  {_fmt(row['miss_rate'], '.3f'):>9}  {row['false_accepts']:>4}  "
                         f"{_fmt(row['fa_per_hour'], '.2f'):>7}  {_fmt(row['latency_median_s'], '.3f'):>10}s  "
                         f"{_fmt(row['latency_p90_s'], '.3f'):>5}s")
        c = r["chosen"]
        cap = summary["config"]["max_fa_per_hour"]
        lines.append(f"threshold {c['threshold']:g} meets {cap:g} FA/h: miss rate {c['miss_rate']:.3f}, "
                     f"{c['fa_per_hour']:.2f} FA/h" if c else f"no threshold meets {cap:g} FA/h")
    f = summary["files"]
    lines.append(f"\n{f['json']}\n{f['det_png']}\n{f['recordings']}")
    return lines
