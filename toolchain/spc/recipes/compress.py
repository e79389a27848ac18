"""The main job: a fine-tuned checkpoint -> a deployable artifact that keeps the accuracy, with a report.

Reads top to bottom, one function per stage (``run_compress`` calls them in order); the model and the clips are
loaded once and handed to each:
  1. check_and_load    target, model, data and output folder, before any long work
  2. analyse           layer similarity on a calibration sample of the validation split
  3. prune_candidates  whole layers by every order under the retention target, healed (method prune/auto)
  4. mimic_candidate   distil the stack into a mimic student, on clips and stream-like windows (mimic/auto)
  5. export_all        the original and every candidate to ONNX, parity-checked
     export_floor      the original without its stack (front end and head): the latency floor, timed beside them
  6. choose            on validation, as classifiers and as detectors; those that pass built for the target
                       (ONNX Runtime graph on the CPU, on the threads its build chose; TensorRT engine where this
                       machine can) and timed as built; the fastest that meets the target
  7. build_and_test    the chosen one's build (and the original's), then the built artifact's test accuracy
  8.                   against the original built the same way
  9. stream_test       the original and the chosen artifact as detectors on the test split's streams
 10. make_report       report.json, report.md and the figures; the artifacts with their manifests
Each stage is kept in ``OUT/work`` under a key made of what it depends on by content (the model's
weights, the data's files, the settings), so a re-run skips what is done and a model retrained in
place is compressed anew. Where the target is a GPU this machine cannot build for, stage 7 is left
to the device: the run ends with the commands to run there.
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import onnx
import onnxruntime
import torch
import transformers

from .. import __version__
from ..analysis.plots import write_figures
from ..analysis.run import AnalysisConfig, analyze_model
from ..timing import bench_callables, machine_info, shapes_for
from ..calib import load_manifest, manifest_hash
from ..calib.select import calibration_clips
from ..data import DataConfig, clips_for
from ..distill import DistillConfig, MimicConfig, build_student, distill
from ..engines import BuildCheck, artifact_name, build_artifact, build_check, time_built
from ..engines.build import BuildConfig
from ..engines.loader import open_runner
from ..engines.artifact_manifest import manifest_path
from ..errors import SpcError
from ..accuracy import evaluate
from ..export import ExportConfig, export_onnx
from ..fileio import atomic_write_text, check_output_dir, mark_output, read_json, refuse_overlap, remove_output
from ..models import load_model, save_model, weights_hash
from ..params import count_parameters
from ..prune import PruneConfig, prune
from ..prune.curves import curves_figure
from ..prune.surgery import stackless
from ..precision.int8_cpu import QuantizeConfig, quantize_for_cpu
from ..report import REPORT_SCHEMA, write_report
from ..stats import (EPS, CandidateScore, choose_candidate, combined_verdict, margin_clips, mcnemar_exact,
                     retention_interval, retention_point, verdict)
from ..runtime import KeywordSpotter
from ..streaming.detector import detector_verdict, judge_test, judge_validation
from ..streaming.evaluation import StreamEvalConfig, split_classes, split_streams
from ..streaming.negatives import negative_audio
from ..streaming.operating_point import MANIFEST_KEY as OP_KEY
from ..streaming.scoring import score_streams
from ..targets import get_target
from ..training.loop import fingerprint
from ..workdir import done, finish, stage_dir
from ..locking import locks_output

METHODS = ("auto", "prune", "mimic")
REPORT = "report.json"
PRUNE_ORDERS = ("bi", "bi-iterative", "backward", "greedy")


@dataclass(frozen=True)
class CompressConfig:
    """Settings of a compress run (written into the report); ``retention`` also sets the pruning target."""

    method: str = "auto"
    retention: float = PruneConfig.retention
    analysis_clips: int = 256
    prune: PruneConfig = field(default_factory=lambda: PruneConfig(orders=PRUNE_ORDERS))
    mimic: MimicConfig = field(default_factory=MimicConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    latency_runs: int = 20
    seed: int = 0
    calib: str | None = None  # calibration manifest for analysis and BI scoring (else a seeded sample)
    stream: bool = True  # judge every candidate (validation) and the chosen artifact (test) as streaming detectors
    #: how detectors are judged: keywords, the false-accept budget, the streams (SNR, noise, hours of negatives) and
    #: the choices an operating point may make; the chosen artifact carries its point in its manifest
    detector: StreamEvalConfig = field(default_factory=StreamEvalConfig)
    negatives: str | None = None  # a folder of the user's own long non-keyword recordings (the test streams)
    #: keyword-free espeak-ng speech the heals' and students' stream-like training windows are also cut from
    train_negatives_hours: float = 1.0
    #: CPU targets: the INT8 CPU variant (integer projections, static INT8 convolutions) of the original and of each candidate competes too (off by default: it
    #: doubles the candidates, so the time spent judging them as detectors)
    int8_cpu: bool = False
    #: a tiny student with its own front end (``MimicConfig`` kind ``tiny``) as one more candidate (None: none)
    tiny: MimicConfig | None = None
    version: int = 5

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SpcError(f"unknown method '{self.method}'; choose {', '.join(METHODS)}")
        if not 0 < self.retention <= 1:
            raise SpcError(f"the retention target must be in (0, 1], got {self.retention}")
        if self.analysis_clips < 4 or self.latency_runs < 1:
            raise SpcError("compress needs at least 4 analysis clips and 1 timed run")
        if not (0 <= self.train_negatives_hours <= 100):
            raise SpcError("the training negative audio must be 0-100 hours")
        if self.tiny is not None and self.tiny.kind != "tiny":
            raise SpcError(f"the tiny candidate must be of kind 'tiny', got '{self.tiny.kind}'")
        object.__setattr__(self, "prune", replace(self.prune, retention=self.retention, seed=self.seed))

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Inputs:
    """Everything stage 1 checked and loaded, handed to the other stages."""

    target: object
    model: object
    dataset: object
    clips: dict
    calib_clips: object
    calib_info: dict | None
    key: tuple
    run_id: str
    job: str


def check_and_load(model_src, data: DataConfig, out: Path, target_name: str, config: CompressConfig,
                   overwrite: bool, show_progress: bool) -> Inputs:
    """Stage 1: every user error before long work; then the model and the clips, once."""
    target = get_target(target_name)
    refuse_overlap({"output folder": out}, {"model": model_src, "data folder": data.root,
                                            "calibration manifest": config.calib, "negatives folder": config.negatives})
    check_output_dir(out)
    model = load_model(model_src)
    ds = data.open(show_notes=True)
    splits = ["validation", "test"]
    if config.method != "prune" or config.prune.heal.method != "none":
        splits.append("train")
    for split in splits:
        ds.split(split)
    if config.method in ("auto", "prune"):
        config.prune.check_model(model.num_layers)
        config.prune.check_clips(len(ds.split("validation")), f"the validation split of {ds.root}")
    if config.method in ("auto", "mimic"):
        config.mimic.check_teacher(model.width, model.num_layers)
    calib_hash = None
    if config.calib is not None:
        calib_hash = manifest_hash(load_manifest(config.calib))  # a missing or test-split manifest fails here
    key = (weights_hash(model), ds.content_hash(), calib_hash)
    run_id = fingerprint(key, target.name, config.as_dict())
    job = fingerprint(str(model_src), ds.root, target.name)  # the same command; the model or data may have changed
    if overwrite:
        remove_output(out, REPORT)
    if (out / REPORT).is_file():
        if read_json(out / REPORT, "compress report").get("job") != job:
            raise SpcError(f"{out} holds the report of another run; choose another output folder or overwrite it")
    elif out.is_dir() and any(out.iterdir()) and not (out / "work").is_dir():
        raise SpcError(f"output folder {out} is not empty and holds no spc report; choose another output folder")
    clips = clips_for(model, ds, splits, subset=data.subset, show_progress=show_progress)
    calib_clips, calib_info = calibration_clips(model, ds, data, config.analysis_clips, config.seed, config.calib)
    return Inputs(target, model, ds, clips, calib_clips, calib_info, key, run_id, job)


@dataclass
class Run:
    """What every stage shares: the checked inputs, the settings, the folders and the timeline."""

    inp: Inputs
    config: CompressConfig
    model_src: str
    data: DataConfig
    out: Path
    show_progress: bool
    t0: float = field(default_factory=time.perf_counter)
    timeline: list[str] = field(default_factory=list)
    clock: float = 0.0
    notes: list[str] = field(default_factory=list)  # what a stage left out, for the report's warnings

    @property
    def work(self) -> Path:
        return self.out / "work"

    def stage(self, name: str, *key) -> tuple[Path, dict | None]:
        """(the stage's folder keyed by its inputs' content, its recorded result or None where not done)."""
        path = stage_dir(self.work, name, *self.inp.key, *key)
        return path, done(path)

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.timeline.append(f"{name} {now - (self.clock or self.t0):.1f} s")
        self.clock = now


@dataclass
class Choice:
    """Stage 6's result: the chosen candidate and what it was chosen by."""

    name: str
    choice: object
    detect: dict
    check: BuildCheck
    on_target: dict | None
    opt: list
    floor: dict  # the stackless model's ONNX Runtime latency row (the floor of stack replacement)


@dataclass
class Final:
    """Stages 7-8: the built artifacts and the chosen one's test figures against the original's."""

    build: dict
    artifact: str
    original_artifact: str
    kind: str | None
    test: object
    original_test: object
    latency: dict


FLOOR = "floor (no stack)"  # the latency floor's name in the timing rows (no candidate can take it)


@locks_output("out_dir")
def run_compress(model_src: str | Path, data: DataConfig, out_dir: str | Path, target_name: str = "cpu", *,
                 config: CompressConfig = CompressConfig(), overwrite: bool = False, show_progress: bool = True) -> dict:
    """Run every stage; returns the report (also in ``out/report.json`` and ``out/report.md``)."""
    out = Path(out_dir)
    t0 = time.perf_counter()
    inp = check_and_load(model_src, data, out, target_name, config, overwrite, show_progress)
    run = Run(inp, config, str(model_src), data, out, show_progress, t0)
    mark_output(out, "compress")
    run.work.mkdir(parents=True, exist_ok=True)
    run.mark("check and load")
    analysis = analyse(run)
    candidates = {**prune_candidates(run), **mimic_candidate(run)}
    entries = export_all(run, candidates)
    candidates.update(int8_variants(run, entries, candidates))
    floor = export_floor(run)
    with ExitStack() as runners:  # every runner this run opens is closed when the block ends, whatever happens
        choice = choose(run, entries, candidates, runners, floor)
        final = build_and_test(run, entries, choice, runners)
    stream, warnings = stream_test(run, entries, choice, final)
    report = make_report(run, entries, analysis, choice, final, stream, warnings)
    write_report(report, out)
    return report


def analyse(run: Run) -> Path:
    """Stage 2: layer similarity on the calibration clips (figures and analysis.json); returns the JSON's path."""
    inp = run.inp
    cfg = AnalysisConfig(n_clips=len(inp.calib_clips), seed=run.config.seed)
    path, res = run.stage("analyze", asdict(cfg))
    if res is None:
        result = analyze_model(inp.model, inp.calib_clips, cfg, run.show_progress, model_name=run.model_src)
        result.data = {**inp.dataset.describe(), "clips_used": len(inp.calib_clips), "calibration": inp.calib_info}
        path.mkdir(parents=True, exist_ok=True)
        result.to_json(path / "analysis.json")
        write_figures(result, path)
        finish(path, {"analysis": "analysis.json"})
    run.mark("analyse")
    return path / "analysis.json"


def prune_candidates(run: Run) -> dict[str, dict]:
    """Stage 3 (methods auto and prune): every healed pruning depth that passes, a candidate of its own."""
    config, inp = run.config, run.inp
    if config.method not in ("auto", "prune"):
        return {}
    clips = inp.clips
    path, res = run.stage("prune", config.prune.as_dict(), config.train_negatives_hours)
    if res is None:
        heal = config.prune.heal
        keywords, _ = stream_keywords(clips["validation"], config)
        negatives = (train_negatives(config, keywords, run.work, inp.model.meta.sampling_rate, run.show_progress)
                     if keywords and heal.method != "none" and heal.stream_windows else None)
        _, result = prune(inp.model, config.prune, clips["validation"], inp.calib_clips, test=clips["test"],
                          train=clips.get("train"), work=path / "heal", negatives=negatives or None,
                          show_progress=run.show_progress)
        depths = {}
        for cut in result.depths:
            name = f"pruned-{cut.removed}"
            m = result.model_of(cut)
            save_model(m, path / name, {**m.meta.provenance, "recipe": "prune", "order": cut.order,
                                        "heal": result.heal, "teacher": run.model_src, "standing": cut.standing})
            depths[name] = name
        (path / "prune.json").write_text(json.dumps(result.as_dict(), indent=2))
        curves_figure(result, path / "curves.png")
        shutil.rmtree(path / "heal", ignore_errors=True)
        res = finish(path, {"models": depths, "summary": "prune.json", "heal_seconds": result.heal_seconds()})
    run.mark("prune")
    return {name: {"method": "prune", "model": str(path / folder), "summary": str(path / res["summary"]),
                   "heal_seconds": res["heal_seconds"]} for name, folder in res["models"].items()}


def mimic_candidate(run: Run) -> dict[str, dict]:
    """Stage 4 (methods auto and mimic): a mimic student, trained on the clips and stream-like windows; and the
    tiny student where ``config.tiny`` asks for one."""
    config = run.config
    if config.method not in ("auto", "mimic"):
        return {}
    students = {"mimic": config.mimic, **({"tiny": config.tiny} if config.tiny is not None else {})}
    out = {name: _student(run, name, design) for name, design in students.items()}
    run.mark("mimic")
    return out


def _student(run: Run, name: str, design: MimicConfig) -> dict:
    """One distilled student of the original (``design``), trained or read from its stage."""
    config, inp = run.config, run.inp
    path, res = run.stage(name, asdict(design), config.distill.as_dict(), config.train_negatives_hours)
    if res is None:
        t1 = time.perf_counter()
        model, clips = inp.model, inp.clips
        student = build_student(model, design, seed=config.seed)
        keywords, _ = stream_keywords(clips["validation"], config)
        negatives = (train_negatives(config, keywords, run.work, model.meta.sampling_rate, run.show_progress)
                     if keywords and config.distill.stream_windows else None)
        result = distill(student, model, clips["train"], clips["validation"], config.distill.with_seed(config.seed),
                         path / "train", run_id=inp.run_id, show_progress=run.show_progress, negatives=negatives or None,
                         keywords=keywords)
        save_model(student, path / "student", {**student.meta.provenance, "teacher": run.model_src,
                                               "distill": config.distill.as_dict()})
        (path / "distill.json").write_text(json.dumps({"history": result.history, "best": result.best}, indent=2))
        shutil.rmtree(path / "train", ignore_errors=True)
        res = finish(path, {"model": "student", "summary": "distill.json", "seconds": round(time.perf_counter() - t1, 1)})
    return {"method": "tiny" if design.kind == "tiny" else "mimic", "model": str(path / res["model"]),
            "summary": str(path / res["summary"]), "distill_seconds": res["seconds"]}


def export_all(run: Run, candidates: dict[str, dict]) -> dict[str, dict]:
    """Stage 5: the original and every candidate to ONNX (parity-checked), each keyed by its own weights."""
    entries = {"original": {"method": "none", "model": run.model_src}, **candidates}
    val = run.inp.clips["validation"]
    for name, entry in entries.items():
        m = run.inp.model if name == "original" else load_model(entry["model"])
        entry["weights_sha256"] = weights_hash(m)
        path, res = run.stage("export", entry["weights_sha256"], name)
        if res is None:
            rep = export_onnx(m, path / f"{name}.onnx", ExportConfig(seed=run.config.seed), audio=val.audio[:8])
            res = finish(path, {"onnx": f"{name}.onnx", "parity": rep.parity, "params": count_parameters(m).as_dict()})
        entry.update(onnx=str(path / res["onnx"]), parity=res["parity"], params=res["params"])
    run.mark("export")
    return entries


#: compress's INT8 CPU variants: integer projections and static INT8 convolutions (ONNX Runtime's fast kernels)
INT8_CONFIG = QuantizeConfig(conv="static")
INT8_CALIB_CLIPS = 64  # of the calibration clips: enough for min/max ranges, cheap to run


def int8_variants(run: Run, entries: dict[str, dict], candidates: dict) -> dict[str, dict]:
    """Stage 5a (CPU targets): the INT8 CPU variant (``spc quantize --conv static``, its convolutions calibrated on
    the analysis's calibration clips; where those fail the agreement gate, integer projections alone) of the
    original and of every candidate,
    each a candidate of its own (``NAME-int8``), added to ``entries``; one whose INT8 graph fails the agreement
    gate is left out with a note."""
    config, target = run.config, run.inp.target
    if target.is_gpu or not config.int8_cpu:
        return {}
    added = {}
    audio = run.inp.calib_clips.audio[:INT8_CALIB_CLIPS]
    info = {**(run.inp.calib_info or {}), "clips": len(audio)}
    for name in ["original", *candidates]:
        entry = entries[name]
        path, res = run.stage("int8", entry["weights_sha256"], name, INT8_CONFIG.as_dict(), info)
        if res is None:
            try:
                m, fallback = quantize_for_cpu(entry["onnx"], path / f"{name}-int8.onnx", INT8_CONFIG, audio, info), None
            except SpcError as exc:  # static convolutions can fail the gate where integer projections alone pass
                try:  # gated on the same calibration clips
                    m, fallback = (quantize_for_cpu(entry["onnx"], path / f"{name}-int8.onnx", QuantizeConfig(), audio,
                                                    info), str(exc))
                except SpcError as exc2:
                    run.notes.append(f"{name}: no INT8 variant ({exc2})")
                    continue
            res = finish(path, {"onnx": f"{name}-int8.onnx", "gate": m["int8_gate"], "conv_fallback": fallback})
        if res.get("conv_fallback"):
            run.notes.append(f"{name}: its INT8 variant keeps the convolutions FP32 (static INT8 convolutions: "
                             f"{res['conv_fallback']})")
        added[f"{name}-int8"] = {"method": f"{entry['method']}+int8-cpu", "model": entry["model"], "int8_of": name}
        entries[f"{name}-int8"] = {**added[f"{name}-int8"], "weights_sha256": entry["weights_sha256"],
                                   "onnx": str(path / res["onnx"]), "params": entry["params"],
                                   "parity": {"max_abs_diff": res["gate"]["max_abs_diff"],
                                              "top1_agreement": res["gate"]["top1_agreement"]}}
    run.mark("int8")
    return added


def export_floor(run: Run) -> str:
    """Stage 5b: the latency floor, the original without its stack (front end and head alone), to ONNX; timed
    beside the candidates (never one of them), so that a report shows how close a student is to the limit."""
    path, res = run.stage("floor", run.inp.key[0])
    if res is None:
        export_onnx(stackless(run.inp.model), path / "floor.onnx", ExportConfig(seed=run.config.seed),
                    audio=run.inp.clips["validation"].audio[:8])
        res = finish(path, {"onnx": "floor.onnx"})
    return str(path / res["onnx"])


def choose(run: Run, entries: dict[str, dict], candidates: dict, runners: ExitStack, floor: str) -> Choice:
    """Stage 6: every candidate on validation, as a classifier and as a detector, its ONNX export timed beside the
    stackless ``floor``; those passing built for the target and timed as built (``target_latency``); the fastest
    as built that meets the target in both terms (else the best, reported as failing)."""
    config, target, val = run.config, run.inp.target, run.inp.clips["validation"]
    fns, res = {}, {}
    for name, entry in entries.items():
        fns[name] = runners.enter_context(open_runner(entry["onnx"], target.threads))
        res[name] = evaluate(fns[name], val, 32)
        entry["val_accuracy"] = res[name].accuracy
    val_ci = {}
    for name, entry in entries.items():
        orig, mine = res["original"].correct, res[name].correct
        entry["val_retention"] = retention_point(orig, mine)
        val_ci[name] = retention_interval(orig, mine, seed=config.seed)
        entry["val_retention_ci"] = _finite(val_ci[name])
        entry["val_margin_clips"] = margin_clips(orig, mine, config.retention)
    detect = judge_on_validation(entries, val, run.inp, config, run.work, run.show_progress)
    check = build_check(target)
    on_target = target_latency(run, entries, candidates, check)
    # batch 1 at the target's clip length: what the builds are tuned for and what a streaming app runs
    opt = [(1, shapes_for(target, run.inp.model.meta.sampling_rate, run.inp.model.meta.clip_samples)[0][1])]
    timed = {**fns, FLOOR: runners.enter_context(open_runner(floor, target.threads))}
    lat = {r["artifact"]: r for r in bench_callables(timed, opt, warmup=3, runs=config.latency_runs, seed=config.seed)}
    for name, entry in entries.items():
        entry["latency_onnx_ms"] = lat[name]
        entry["latency_ratio"] = lat[name]["p50_ms"] / lat["original"]["p50_ms"]
        entry["latency_x_floor"] = lat[name]["p50_ms"] / lat[FLOOR]["p50_ms"]
        if on_target and name in on_target:
            entry["latency_target_ms"] = on_target[name].as_dict()
            entry["latency_target_ratio"] = on_target[name].p50_ms / on_target["original"].p50_ms

    def speed(n: str) -> float:  # as built where built; one not built (it failed on validation) ranks last
        if on_target:
            return on_target[n].p50_ms if n in on_target else float("inf")
        return entries[n]["latency_onnx_ms"]["p50_ms"]

    scores = {n: CandidateScore(entries[n]["val_retention"], val_ci[n], speed(n),
                                *_detector_score(entries[n].get("detector_val"))) for n in candidates}
    picked = choose_candidate(scores, config.retention, len(val))
    name = picked.name or (max(candidates, key=lambda n: entries[n]["val_retention"]) if candidates else "original")
    run.mark("choose")
    return Choice(name, picked, detect, check, on_target, opt, {**lat[FLOOR], "onnx": floor})


def target_latency(run: Run, entries: dict, candidates: dict, check: BuildCheck) -> dict | None:
    """Where this machine can build for the target: the candidates passing on validation and the original, built
    and timed as built (GPU: TensorRT engines; CPU: ONNX Runtime graphs on the threads each build chose)."""
    target, config = run.inp.target, run.config
    if not check:
        return None
    passing = [n for n in candidates if entries[n]["val_retention"] >= config.retention - EPS]
    built = {n: build_stage(run, entries[n], n, check) for n in [*passing, "original"]}
    return time_built(built, target, runs=config.latency_runs, seed=config.seed)


def build_stage(run: Run, entry: dict, name: str, check: BuildCheck) -> str:
    """One candidate built for the target (kept in its stage folder, keyed by its weights, the target, the
    operating point its manifest inherits and what an engine is tied to); the artifact's path."""
    target = run.inp.target
    path, res = run.stage("build", entry["weights_sha256"], name, target.name,
                          (entry.get("detector_val") or {}).get("operating_point"), check.identity())
    if res is None:
        path.mkdir(parents=True, exist_ok=True)
        # a GPU engine tuned for batch 1, the shape compress times (and a streaming app runs) it at
        config = BuildConfig(opt_batch=1) if target.is_gpu else BuildConfig()
        res = finish(path, {"artifact": Path(build_artifact(entry["onnx"], target, path, config).artifact).name})
    return str(path / res["artifact"])


def build_and_test(run: Run, entries: dict, choice: Choice, runners: ExitStack) -> Final:
    """Stages 7-8: build the chosen candidate and the original for the target (where this machine can), then the
    test accuracy and latency of the built artifact itself against the original built the same way."""
    target, config, test = run.inp.target, run.config, run.inp.clips["test"]
    build = {"target": target.as_dict(), "built_here": bool(choice.check)}
    artifact, original = entries[choice.name]["onnx"], entries["original"]["onnx"]
    if choice.check:
        # built in the choose stage where it passed on validation (else now: the run reports it as failing)
        artifact, original = (build_stage(run, entries[n], n, choice.check) for n in (choice.name, "original"))
        build["artifact"] = artifact
    else:
        build["deferred"] = choice.check.why
    run.mark("build")
    final_fn = runners.enter_context(open_runner(artifact, target.threads))
    orig_fn = runners.enter_context(open_runner(original, target.threads))
    final_test, orig_test = evaluate(final_fn, test, 32), evaluate(orig_fn, test, 32)
    lat = {r["artifact"]: r for r in bench_callables({"original": orig_fn, "compressed": final_fn}, choice.opt,
                                                     warmup=3, runs=config.latency_runs, seed=config.seed)}
    for name, fn in (("original", orig_fn), ("compressed", final_fn)):
        if hasattr(fn, "threads"):  # ONNX Runtime: the count each CPU build chose (0: the library's default)
            lat[name]["threads"] = fn.threads
    run.mark("final")
    return Final(build, artifact, original, final_fn.manifest.get("kind"), final_test, orig_test, lat)


def stream_test(run: Run, entries: dict, choice: Choice, final: Final) -> tuple[dict | None, list[str]]:
    """Stage 9, the app's terms: the original and the chosen artifact, built, read on the test split's streams at the
    operating points they carry (chosen on validation); (their figures or None, warnings that say why the detector
    was not judged or the original is near chance)."""
    config, model = run.config, run.inp.model
    warnings = []
    chance = 1.0 / len(model.labels)
    if final.original_test.accuracy < 2 * chance:
        warnings.append(f"the original model is near chance on the test split ({final.original_test.accuracy:.1%}, "
                        f"chance {chance:.1%}): retention against it means little; check the model and the data first")
    stream = None
    if config.stream and choice.detect.get("keywords"):
        keywords = choice.detect["keywords"]
        try:
            stream = judge_final(run, entries, choice, final, keywords)
        except SpcError as exc:  # e.g. the test split holds no keyword clip: said in the report
            warnings.append(f"the detector was not judged on the test split: {exc}")
    elif config.stream:
        warnings.append(f"the detector was not judged: {choice.detect['why']}")
    run.mark("stream")
    return stream, warnings


def judge_final(run: Run, entries: dict, choice: Choice, final: Final, keywords: list[str]) -> dict:
    """The built original and chosen artifact at their carried operating points on the test streams (the user's
    negatives there where given), intervals re-choosing each point on the validation streams; written to
    ``OUT/stream`` (detectors.json with every occurrence and false accept, det.png, recordings.json)."""
    from ..streaming.evaluation import det_plot
    from ..streaming.reading import make_view

    config, inp, det = run.config, run.inp, run.config.detector
    rate, n = inp.model.meta.sampling_rate, inp.model.meta.clip_samples
    val = split_streams(inp.clips["validation"], "validation", keywords, rate, n, det, run.work, None, (),
                        run.show_progress)
    test = split_streams(inp.clips["test"], "test", keywords, rate, n, det, run.work, config.negatives, (),
                         run.show_progress)
    built = {"original": final.original_artifact, "compressed": final.artifact}
    chosen_on = {"original": entries["original"]["onnx"], "compressed": entries[choice.name]["onnx"]}
    judged = judge_test(built, chosen_on, val, test, det, cache_dir=run.work / "scores", show_progress=run.show_progress)
    out = run.out / "stream"
    out.mkdir(parents=True, exist_ok=True)
    views = {}
    for name, path in built.items():
        with KeywordSpotter(path) as sp:
            views[name] = make_view(test, score_streams(sp, test, det.hop_seconds, temperature=sp.temperature,
                                                        cache_dir=run.work / "scores", show_progress=False))
    results = {k: {**v, "operating_point": v["operating_point"]} for k, v in judged.items()}
    det_plot(views, {k: {**v, "test": v["test"]} for k, v in results.items()}, out / "det.png", det)
    atomic_write_text(out / "recordings.json", json.dumps(test.manifest(), indent=1))
    summary = {"keywords": keywords, "audio": test.hours(), "validation_audio": val.hours(),
               "config": det.as_dict(), "results": results,
               "files": {"json": str(out / "detectors.json"), "det_png": str(out / "det.png"),
                         "recordings": str(out / "recordings.json")}}
    atomic_write_text(out / "detectors.json", json.dumps(summary, indent=1))
    return summary


def make_report(run: Run, entries: dict, analysis: Path, choice: Choice, final: Final, stream: dict | None,
                warnings: list[str]) -> dict:
    """Stage 10: the report (JSON-able); the artifacts and their manifests copied into ``out/artifacts``."""
    inp, config, out = run.inp, run.config, run.out
    clips, val, test = inp.clips, inp.clips["validation"], inp.clips["test"]
    (out / "artifacts").mkdir(exist_ok=True)
    copied = {name: _copy_artifact(entry["onnx"], out / "artifacts") for name, entry in entries.items()}
    report = {
        "schema_version": REPORT_SCHEMA, "run_id": inp.run_id, "job": inp.job, "model": run.model_src,
        "keys": {"weights_sha256": inp.key[0], "data_sha256": inp.key[1], "calibration_sha256": inp.key[2]},
        "data": {**inp.dataset.describe(), "val_clips": len(val), "test_clips": len(test),
                 "skipped": [x for c in clips.values() for x in c.skipped]},
        "target": inp.target.as_dict(), "method": config.method, "config": config.as_dict(),
        "retention_target": config.retention, "chosen": choice.name, "choice": choice.choice.as_dict(),
        "candidates": entries, "label_mapping": val.label_mapping, "analysis": str(analysis),
        "calibration": {"manifest": config.calib, "hash": inp.key[2]} if config.calib else None,
        "final": final_figures(final, config, _copy_artifact(final.artifact, out / "artifacts")),
        "latency_floor": {**choice.floor, "vs_original": choice.floor["p50_ms"] / entries["original"]["latency_onnx_ms"]["p50_ms"],
                          "what": "the original's front end and head with no transformer layer (ONNX Runtime, the "
                                  "candidates' shape, timed beside them): what replacing the stack cannot go below"},
        "build": final.build, "artifacts": copied, "stream": _stream_summary(stream), "machine": machine_info(),
        "versions": _versions(), "stages": run.timeline, "seconds": round(time.perf_counter() - run.t0, 1),
        "device_results": [], "warnings": warnings + run.notes,
    }
    report["final"].update(final_detector(stream, report["final"], config, entries[choice.name].get("detector_val")))
    if not choice.check:
        report["next_steps"] = device_commands(report, run.data.root, out)
    return report


def final_figures(final: Final, config: CompressConfig, artifact_copy: str) -> dict:
    """The chosen artifact's test figures against the original's: retention with its interval, the clip verdict,
    McNemar's p and the latency ratio."""
    t, o = final.test, final.original_test
    retention = retention_point(o.correct, t.correct)
    ci = retention_interval(o.correct, t.correct, seed=config.seed)
    lat = final.latency
    return {"artifact": artifact_copy, "kind": final.kind, "test_accuracy": t.accuracy,
            "original_test_accuracy": o.accuracy, "retention": retention, "retention_ci": _finite(ci),
            "mcnemar_p": mcnemar_exact(o.correct, t.correct),
            "clip_verdict": verdict(retention, ci, config.retention, t.n_clips),
            "passed": retention >= config.retention - EPS, "test": t.as_dict(),
            "latency_ms": lat["compressed"], "original_latency_ms": lat["original"],
            "speedup_p50": lat["original"]["p50_ms"] / lat["compressed"]["p50_ms"]}


def train_negatives(config: CompressConfig, keywords, work: Path, rate: int, show_progress: bool) -> list:
    """Keyword-free espeak-ng speech the training windows are cut from (its own seed: never the audio a candidate is
    chosen or reported on), at the streams' SNR range; cached in ``work``."""
    det = config.detector
    return negative_audio(rate, hours=config.train_negatives_hours, cache=work / "negatives-train",
                          exclude_words=keywords, seed=config.seed + 2, snr_db=det.snr_db, noise_db=det.noise_db,
                          show_progress=show_progress)[0]


def stream_keywords(clips, config: CompressConfig) -> tuple[list[str] | None, str]:
    """(the keyword classes of the streams, or None with why: no non-keyword class to measure false accepts by)."""
    present = [x for x in clips.labels if x in {clips.labels[t] for t in clips.targets}]
    try:
        return split_classes(present, config.detector.keywords)[0], ""
    except SpcError as exc:
        return None, f"no false accepts can be measured on this data ({exc})"


def judge_on_validation(entries: dict, val, inp: Inputs, config: CompressConfig, work: Path,
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
    judged_names = [n for n, e in entries.items()
                    if n == "original" or e["val_retention"] >= config.retention - EPS]
    path = stage_dir(work, "detect-validation", *inp.key, det.as_dict(),
                     sorted(entries[n]["weights_sha256"] + n for n in judged_names))
    res = done(path)
    if res is None:
        streams = split_streams(val, "validation", keywords, inp.model.meta.sampling_rate, inp.model.meta.clip_samples,
                                det, work, None, (), show_progress)
        judged = judge_validation({n: entries[n]["onnx"] for n in judged_names}, streams, det,
                                  cache_dir=work / "scores", show_progress=show_progress)
        path.mkdir(parents=True, exist_ok=True)
        (path / "detectors.json").write_text(json.dumps({"judged": judged, "audio": streams.hours()}, indent=2))
        res = finish(path, {"summary": "detectors.json"})
    judged = read_json(path / res["summary"], "detector summary")["judged"]
    for name, entry in entries.items():
        entry["detector_val"] = judged.get(name) or {"judged": False, "retention": None,
                                                     "why": "fails the clip gate on validation: not read as a detector"}
        _record_point(entry["onnx"], entry["detector_val"].get("operating_point"))
    return {"keywords": keywords}


def _record_point(artifact: str, point: dict | None) -> None:
    """Write the operating point chosen on validation into an ONNX artifact's manifest (what builds inherit and the
    runtime runs at); None removes a stale one."""
    m = manifest_path(artifact)
    manifest = read_json(m, "artifact manifest")
    if manifest.get(OP_KEY) != point:
        manifest = {k: v for k, v in manifest.items() if k not in (OP_KEY, "temperature")}
        atomic_write_text(m, json.dumps({**manifest, **({OP_KEY: point} if point else {})}, indent=2))


def _detector_score(judged: dict | None) -> tuple:
    """(detector retention, its interval) of a candidate for the choice; (None, None) where not judged."""
    if not judged or not judged.get("judged") or judged.get("retention") is None:
        return None, None
    lo, hi = judged.get("retention_ci") or [None, None]
    return judged["retention"], (float("nan") if lo is None else lo, float("nan") if hi is None else hi)


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


def _stream_summary(stream: dict | None) -> dict | None:
    """Per model, the figures an app is judged by at its carried operating point (and the oracle beside it)."""
    if stream is None:
        return None
    det = stream["config"]
    out = {"keywords": stream["keywords"], "det_png": stream["files"]["det_png"], "json": stream["files"]["json"],
           "max_fa_per_hour": det["max_fa_per_hour"], "snr_db": det["snr_db"], "audio": stream["audio"]}
    for name, r in stream["results"].items():
        at = (r.get("test") or {}).get("at_point") or {}
        out["negative_hours"] = at.get("negative_hours", out.get("negative_hours"))
        out[name] = {"operating_point": r.get("operating_point"), "oracle": r.get("oracle"),
                     **{k: at.get(k) for k in ("threshold", "miss_rate", "miss_rate_ci", "fa_per_hour", "false_accepts",
                                               "resolved", "one_false_accept_per_hour", "latency_median_s",
                                               "latency_p90_s")},
                     "snr_bands": (r.get("test") or {}).get("snr_bands"),
                     "top_sources": ((r.get("test") or {}).get("top_sources") or [])[:10],
                     "per_source": (r.get("test") or {}).get("per_source")}
    return out


def _finite(interval) -> list:
    """An interval for JSON: NaN bounds (an original with no clip right) become None."""
    return [None if x != x else float(x) for x in interval]


def _copy_artifact(artifact: str, dest: Path) -> str:
    """Copy an artifact and its manifest into ``dest``; returns the copy's path."""
    for src in (Path(artifact), manifest_path(artifact)):
        shutil.copy2(src, dest / src.name)
    return str(dest / Path(artifact).name)


def device_commands(report: dict, data_dir, out: Path) -> list[str]:
    """The exact commands to run on the device when this machine cannot build the target's engine."""
    target = get_target(report["target"]["name"], quiet=True)
    onnx = Path(report["artifacts"][report["chosen"]])
    orig = Path(report["artifacts"]["original"])
    engine, orig_engine = onnx.with_name(artifact_name(onnx, target)), orig.with_name(artifact_name(orig, target))
    name = target.name
    return [
        f"spc build {onnx} --target {name} --out {engine}",
        f"spc build {orig} --target {name} --out {orig_engine}",
        f"spc bench {engine} {orig_engine} --target {name} --data {data_dir} --report {out}",
    ]


def _versions() -> dict:
    return {"spc": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
