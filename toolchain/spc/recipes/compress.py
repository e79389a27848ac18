"""The main job: a fine-tuned checkpoint -> a deployable artifact that keeps the accuracy, with a report.

Stages (each kept in the work folder, keyed by its inputs, so a re-run skips what is done):
  1. check    target, model, data and output folder, before any long work
  2. analyse  layer similarity on a calibration sample of the validation split
  3. prune    whole layers by every order under the retention target         (--method prune/auto)
  4. mimic    distil the stack into a mimic student                          (--method mimic/auto)
  5. export   the original and every candidate to ONNX, parity-checked
  6. choose   among candidates meeting the target on validation (ONNX Runtime), the fastest measured
  7. build    for the target (ONNX Runtime graph on the CPU; TensorRT engine where TensorRT and a GPU are)
  8. final    test accuracy of the built artifact itself, and of the original exported the same way
  9. report   report.json, report.md and the figures; the artifacts with their manifests
Where the target is a GPU this machine cannot build for, stage 7 is left to the device: the run
ends with the commands to run there, and `spc bench --report` adds the engine's figures.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..data import load_clips, map_labels, open_dataset
from ..distill import DistillConfig, MimicConfig
from ..engines.manifest import manifest_path
from ..errors import SpcError
from ..evaluate import evaluate
from ..export import ExportConfig, export_onnx
from ..models import load_model
from ..params import count_parameters
from ..prune import PruneConfig
from ..targets import get_target
from ..train import fingerprint
from ..workdir import done, finish, stage_dir

METHODS = ("auto", "prune", "mimic")
REPORT = "report.json"


@dataclass
class CompressConfig:
    """Settings of a compress run (written into the report)."""

    method: str = "auto"
    retention: float = 0.95
    analysis_clips: int = 256
    prune: PruneConfig = field(default_factory=lambda: PruneConfig(orders=("bi", "bi-iterative", "backward", "greedy")))
    mimic: MimicConfig = field(default_factory=MimicConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    latency_runs: int = 20
    seed: int = 0
    calib: str | None = None  # calibration manifest for analysis and BI scoring (else a seeded sample)


def _backend_ready(target) -> tuple[bool, str]:
    """Whether this machine can build and run the target's artifact (False + why, for GPU targets)."""
    if not target.is_gpu:
        return True, ""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False, "TensorRT is not installed here"
    try:
        from ..engines.cuda_env import gpu_info

        gpu_info()
    except SpcError as exc:
        return False, str(exc).split(":")[0]
    return True, ""


def check_inputs(model_src, data_dir, out: Path, target_name: str, config: CompressConfig, layout: str,
                 data_options: dict, overwrite: bool):
    """Stage 1: every user error before long work. Returns (target, model, dataset, label order, run id)."""
    if config.method not in METHODS:
        raise SpcError(f"unknown method '{config.method}'; choose {', '.join(METHODS)}")
    if not 0 < config.retention <= 1:
        raise SpcError(f"--retention must be in (0, 1], got {config.retention}")
    target = get_target(target_name)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise SpcError("onnxruntime is not installed: spc needs it to check and evaluate artifacts") from None
    model = load_model(model_src)
    ds = open_dataset(data_dir, layout, **data_options)
    order = map_labels(model.labels, ds.labels)
    for split in ("train", "validation", "test") if config.method != "prune" else ("validation", "test"):
        ds.split(split)
    if config.method in ("auto", "prune"):
        config.prune.retention = config.retention
        config.prune.validate(model.num_layers)
        n_val = len(ds.split("validation"))
        if n_val < config.prune.clips_needed():
            raise SpcError(f"the validation split of {ds.root} has {n_val} clips; measuring a {config.retention:.0%} "
                           f"retention target needs at least {config.prune.clips_needed()}")
    if config.method in ("auto", "mimic"):
        config.mimic.validate(model.hf.config.hidden_size)
    if config.calib is not None:
        from ..calib import load_manifest

        load_manifest(config.calib)  # a missing or test-split manifest is an error before any work
    run_id = fingerprint(str(model_src), ds.describe(), target.name, asdict(config))
    if out.is_file():
        raise SpcError(f"output {out} is a file, not a folder")
    if overwrite and out.exists():
        shutil.rmtree(out)
    if (out / REPORT).is_file():
        previous = json.loads((out / REPORT).read_text()).get("run_id")
        if previous != run_id:
            raise SpcError(f"{out} holds the report of another run; choose another --out or --overwrite")
    elif out.is_dir() and any(out.iterdir()) and not (out / "work").is_dir():
        raise SpcError(f"output folder {out} is not empty and holds no spc report; choose another --out")
    return target, model, ds, order, run_id


def run_compress(model_src: str | Path, data_dir: str | Path, out_dir: str | Path, target_name: str = "cpu", *,
                 config: CompressConfig = CompressConfig(), layout: str = "auto", data_options: dict | None = None,
                 overwrite: bool = False, show_progress: bool = True) -> dict:
    """Run every stage; returns the report (also in ``out/report.json`` and ``out/report.md``)."""
    from ..recipes.analyze import run_analysis
    from ..recipes.distill import run_distill
    from ..recipes.prune import run_prune
    from ..analysis.run import AnalysisConfig

    out = Path(out_dir)
    target, model, ds, order, run_id = check_inputs(model_src, data_dir, out, target_name, config, layout,
                                                    data_options or {}, overwrite)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    ready, why_not = _backend_ready(target)
    t0 = time.perf_counter()
    calib_hash = None
    if config.calib is not None:
        from ..calib import load_manifest, manifest_hash

        calib_hash = manifest_hash(load_manifest(config.calib))
    key = (str(model_src), ds.describe(), calib_hash)
    timeline = []

    def stage(name, *k):
        path = stage_dir(work, name, *key, *k)
        return path, done(path)

    # 2. analyse
    path, res = stage("analyze", config.analysis_clips, config.seed)
    if res is None:
        run_analysis(model_src, data_dir, path, config=AnalysisConfig(n_clips=config.analysis_clips, seed=config.seed),
                     layout=layout, show_progress=show_progress, data_options=data_options, calib=config.calib)
        res = finish(path, {"analysis": str(path / "analysis.json")})
    analysis_dir = path
    timeline.append("analyse")

    candidates: dict[str, dict] = {}
    # 3. prune
    if config.method in ("auto", "prune"):
        path, res = stage("prune", asdict(config.prune))
        if res is None:
            summary = run_prune(model_src, data_dir, path / "run", config=config.prune, layout=layout,
                                latency_runs=0, show_progress=show_progress, data_options=data_options, overwrite=True,
                                calib=config.calib)
            res = finish(path, {"model": summary["pruned_model"], "summary": str(path / "run" / "prune.json")})
        candidates["pruned"] = {"method": "prune", "model": res["model"], "summary": res["summary"]}
        timeline.append("prune")
    # 4. mimic
    if config.method in ("auto", "mimic"):
        path, res = stage("mimic", asdict(config.mimic), asdict(config.distill))
        if res is None:
            run_distill(model_src, data_dir, path / "student", mimic=config.mimic, config=config.distill, layout=layout,
                        latency_runs=0, show_progress=show_progress, data_options=data_options)
            res = finish(path, {"model": str(path / "student"), "summary": str(path / "student" / "distill.json")})
        candidates["mimic"] = {"method": "mimic", "model": res["model"], "summary": res["summary"]}
        timeline.append("mimic")

    # 5. export
    artifacts = out / "artifacts"
    artifacts.mkdir(exist_ok=True)
    entries = {"original": {"method": "none", "model": str(model_src)}, **candidates}
    kw = dict(rate=model.meta.sampling_rate, clip_seconds=model.meta.clip_seconds, labels=order, show_progress=False)
    val = load_clips(ds, "validation", **kw)
    test = load_clips(ds, "test", **kw)
    for name, entry in entries.items():
        path, res = stage("export", entry["model"], name)
        if res is None:
            m = load_model(entry["model"])
            rep = export_onnx(m, path / f"{name}.onnx", ExportConfig(seed=config.seed), audio=val.audio[:8])
            res = finish(path, {"onnx": str(path / f"{name}.onnx"), "parity": rep.parity,
                                "params": count_parameters(m).as_dict()})
        entry.update(onnx=res["onnx"], parity=res["parity"], params=res["params"])
    timeline.append("export")

    # 6. choose on validation, measured on the backend
    from ..bench import bench_callables, shapes_for
    from ..runtime import load_backend

    fns = {}
    for name, entry in entries.items():
        fn, _ = load_backend(entry["onnx"], target.threads)
        fns[name] = fn
        entry["val_accuracy"] = evaluate(fn, val, 32).accuracy
    opt = shapes_for(target, model.meta.sampling_rate, model.meta.clip_samples)[:1]  # opt batch, opt length
    lat = {r["artifact"]: r for r in bench_callables(fns, opt, warmup=3, runs=config.latency_runs, seed=config.seed)}
    base_val = entries["original"]["val_accuracy"]
    for name, entry in entries.items():
        entry["val_retention"] = entry["val_accuracy"] / base_val if base_val else 0.0
        entry["latency_onnx_ms"] = lat[name]
        entry["latency_ratio"] = lat[name]["p50_ms"] / lat["original"]["p50_ms"]
    passing = [n for n in candidates if entries[n]["val_retention"] >= config.retention - 1e-12]
    if passing:
        chosen = min(passing, key=lambda n: entries[n]["latency_onnx_ms"]["p50_ms"])
    elif candidates:
        chosen = max(candidates, key=lambda n: entries[n]["val_retention"])
    else:
        chosen = "original"
    timeline.append("choose")

    # 7. build
    build = {"target": target.as_dict(), "built_here": ready}
    final_artifact = entries[chosen]["onnx"]
    if ready:
        from ..engines import build_artifact

        path, res = stage("build", entries[chosen]["onnx"], target.name)
        if res is None:
            rep = build_artifact(entries[chosen]["onnx"], target, path / Path(entries[chosen]["onnx"]).name.replace(
                ".onnx", ".engine" if target.is_gpu else ".ort.onnx"))
            res = finish(path, {"artifact": rep.artifact})
        final_artifact = res["artifact"]
        build["artifact"] = final_artifact
    else:
        build["deferred"] = why_not
    timeline.append("build")

    # 8. final evaluation of the artifact itself, and the original exported the same way
    final_fn, final_manifest = load_backend(final_artifact, target.threads)
    orig_fn = fns["original"]
    final_test = evaluate(final_fn, test, 32)
    orig_test = evaluate(orig_fn, test, 32)
    final_lat = {r["artifact"]: r for r in bench_callables({"original": orig_fn, "compressed": final_fn}, opt,
                                                           warmup=3, runs=config.latency_runs, seed=config.seed)}
    retention = final_test.accuracy / orig_test.accuracy if orig_test.accuracy else 0.0
    chance = 1.0 / len(order)
    warnings = []
    if orig_test.accuracy < 2 * chance:
        warnings.append(f"the original model is near chance on the test split ({orig_test.accuracy:.1%}, chance "
                        f"{chance:.1%}): retention against it means little; check the model and the data first")
    timeline.append("final")

    # 9. report
    copied = {name: _copy_artifact(entry["onnx"], artifacts) for name, entry in entries.items()}
    final_copy = _copy_artifact(final_artifact, artifacts)
    from ..bench import machine_info

    report = {
        "run_id": run_id, "model": str(model_src), "data": {**ds.describe(), "val_clips": len(val),
                                                             "test_clips": len(test), "skipped": val.skipped + test.skipped},
        "target": target.as_dict(), "method": config.method, "config": asdict(config), "retention_target": config.retention,
        "chosen": chosen, "candidates": entries, "analysis": str(analysis_dir / "analysis.json"),
        "calibration": {"manifest": config.calib, "hash": calib_hash} if config.calib else None,
        "final": {"artifact": final_copy, "kind": final_manifest.get("kind"), "test_accuracy": final_test.accuracy,
                  "original_test_accuracy": orig_test.accuracy, "retention": retention,
                  "passed": retention >= config.retention - 1e-12, "test": final_test.as_dict(),
                  "latency_ms": final_lat["compressed"], "original_latency_ms": final_lat["original"],
                  "speedup_p50": final_lat["original"]["p50_ms"] / final_lat["compressed"]["p50_ms"]},
        "build": build, "artifacts": copied, "machine": machine_info(), "versions": _versions(),
        "stages": timeline, "seconds": round(time.perf_counter() - t0, 1), "device_results": [],
        "warnings": warnings,
    }
    if not ready:
        report["next_steps"] = device_commands(report, data_dir, out)
    from ..report import write_report

    write_report(report, out)
    return report


def _copy_artifact(artifact: str, dest: Path) -> str:
    """Copy an artifact and its manifest into ``dest``; returns the copy's path."""
    for src in (Path(artifact), manifest_path(artifact)):
        shutil.copy2(src, dest / src.name)
    return str(dest / Path(artifact).name)


def device_commands(report: dict, data_dir, out: Path) -> list[str]:
    """The exact commands to run on the device when this machine cannot build the target's engine."""
    name = report["target"]["name"]
    onnx = Path(report["artifacts"][report["chosen"]])
    engine = onnx.with_name(f"{onnx.stem}.{name}.engine")
    orig = Path(report["artifacts"]["original"])
    return [
        f"spc build {onnx} --target {name} --out {engine}",
        f"spc build {orig} --target {name}",
        f"spc bench {engine} {orig.with_name(f'{orig.stem}.{name}.engine')} --target {name} --data {data_dir} --report {out}",
    ]


def _versions() -> dict:
    import onnx
    import onnxruntime
    import torch
    import transformers

    from .. import __version__

    return {"spc": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
