"""Stage 6: every candidate on validation, as a classifier and as a detector, timed as exported and as built for
the target; the fastest that meets the target in both terms is chosen (``stats.choose_candidate``)."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from ...accuracy import evaluate
from ...engines import BuildCheck, build_artifact, build_check, time_built
from ...engines.artifact_manifest import read_manifest
from ...engines.build import BuildConfig
from ...engines.loader import open_runner
from ...stats import EPS, CandidateScore, Pick, choose_candidate, margin_clips, retention_interval, retention_point
from ...timing import bench_callables, shapes_for
from .workdir import finish
from .candidate import Candidate
from .detect import detector_score, judge_on_validation, synthetic_note
from .exporting import ORIGINAL
from .inputs import Run

FLOOR = "floor (no stack)"  # the latency floor's name in the timing rows (no candidate can take it)


@dataclass
class Choice:
    """Stage 6's result: the chosen candidate's name, the pick (standing and reason), and what it was chosen by."""

    name: str
    pick: Pick
    detect: dict  # {"keywords": [...]} or {"why": ...} where no detector could be judged
    check: BuildCheck
    on_target: dict | None
    opt: list  # the (batch, samples) shapes timed
    floor: dict  # the stackless model's ONNX Runtime latency row (the floor of stack replacement)


def choose(run: Run, entries: dict[str, Candidate], runners: ExitStack, floor: str) -> Choice:
    """Every entry (the original first) on validation, as a classifier and as a detector, its ONNX export timed
    beside the stackless ``floor``; those passing built for the target and timed as built (``target_latency``);
    the fastest as built that meets the target in both terms (else the best, reported as failing)."""
    config, target, val = run.config, run.inp.target, run.inp.clips["validation"]
    candidates = [n for n in entries if n != ORIGINAL]
    fns = {name: runners.enter_context(open_runner(e.onnx, target.threads)) for name, e in entries.items()}
    intervals = score_clips(entries, fns, val, config)
    detect = judge_on_validation(entries, val, run.inp, config, run.work, run.show_progress)
    note = synthetic_note(config, detect)
    if note:
        run.notes.append(note)
    check = build_check(target)
    on_target = target_latency(run, entries, candidates, check)
    # batch 1 at the target's clip length: what the builds are tuned for and what a streaming app runs
    opt = [(1, shapes_for(target, run.inp.model.meta.sampling_rate, run.inp.model.meta.clip_samples)[0][1])]
    timed = {**fns, FLOOR: runners.enter_context(open_runner(floor, target.threads))}
    lat = {r["artifact"]: r for r in bench_callables(timed, opt, warmup=3, runs=config.latency_runs, seed=config.seed)}
    for name, e in entries.items():
        e.latency_onnx_ms = lat[name]
        e.latency_ratio = lat[name]["p50_ms"] / lat[ORIGINAL]["p50_ms"]
        e.latency_x_floor = lat[name]["p50_ms"] / lat[FLOOR]["p50_ms"]
        if on_target and name in on_target:
            e.latency_target_ms = on_target[name].as_dict()
            e.latency_target_ratio = on_target[name].p50_ms / on_target[ORIGINAL].p50_ms

    def speed(n: str) -> float:  # as built where built; one not built (it failed on validation) ranks last
        if on_target:
            return on_target[n].p50_ms if n in on_target else float("inf")
        return entries[n].latency_onnx_ms["p50_ms"]

    scores = {n: CandidateScore(entries[n].val_retention, intervals[n], speed(n),
                                *detector_score(entries[n].detector_val)) for n in candidates}
    pick = choose_candidate(scores, config.retention, len(val))
    name = pick.name or (max(candidates, key=lambda n: entries[n].val_retention) if candidates else ORIGINAL)
    run.mark("choose")
    return Choice(name, pick, detect, check, on_target, opt, {**lat[FLOOR], "onnx": floor})


def score_clips(entries: dict[str, Candidate], fns: dict, val, config) -> dict[str, tuple[float, float]]:
    """Each entry's validation accuracy and retention against the original (point, 95% interval, margin in clips),
    filled into the entries; returns the intervals as floats (NaN bounds kept) for the choice."""
    res = {name: evaluate(fns[name], val, 32) for name in entries}
    intervals = {}
    for name, e in entries.items():
        orig, mine = res[ORIGINAL].correct, res[name].correct
        e.val_accuracy = res[name].accuracy
        e.val_retention = retention_point(orig, mine)
        intervals[name] = retention_interval(orig, mine, seed=config.seed)
        e.val_retention_ci = finite(intervals[name])
        e.val_margin_clips = margin_clips(orig, mine, config.retention)
    return intervals


def target_latency(run: Run, entries: dict[str, Candidate], candidates: list[str], check: BuildCheck) -> dict | None:
    """Where this machine can build for the target: the candidates passing on validation and the original, built
    and timed as built (GPU: TensorRT engines; CPU: ONNX Runtime graphs on the threads each build chose)."""
    target, config = run.inp.target, run.config
    if not check:
        return None
    passing = [n for n in candidates if entries[n].passes_clips(config.retention, EPS)]
    built = {n: build_stage(run, entries[n], n, check) for n in [*passing, ORIGINAL]}
    return time_built(built, target, runs=config.latency_runs, seed=config.seed)


def build_stage(run: Run, entry: Candidate, name: str, check: BuildCheck) -> str:
    """One candidate built for the target (kept in its stage folder, keyed by its weights, the target, the
    operating point its manifest inherits and what an engine is tied to); the artifact's path."""
    target = run.inp.target
    path, res = run.stage("build", entry.weights_sha256, name, target.name,
                          (entry.detector_val or {}).get("operating_point"), check.identity())
    if res is None:
        path.mkdir(parents=True, exist_ok=True)
        # a GPU engine tuned for batch 1, the shape compress times (and a streaming app runs) it at
        config = BuildConfig(opt_batch=1) if target.is_gpu else BuildConfig()
        res = finish(path, {"artifact": Path(build_artifact(entry.onnx, target, path, config).artifact).name})
    artifact = str(path / res["artifact"])
    fusion = read_manifest(artifact).get("fusion") or {}
    note = f"{name}: {fusion.get('note')}"
    if fusion.get("fallback") and note not in run.notes:
        run.notes.append(note)
    return artifact


def finite(interval) -> list:
    """An interval for JSON: NaN bounds (an original with no clip right) become None."""
    return [None if x != x else float(x) for x in interval]
