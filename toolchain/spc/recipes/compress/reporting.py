"""Stage 10: report.json (every figure and setting), with the artifacts and their manifests copied beside it, and
the commands to run on the device where this machine could not build the target's engine."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ... import __version__
from ...engines import artifact_name
from ...engines.artifact_manifest import manifest_path
from ...compress_report import REPORT_SCHEMA
from ...targets import get_target
from ...timing import machine_info
from .candidate import Candidate
from .choose import Choice
from .detect import final_detector, stream_summary
from .exporting import ORIGINAL
from .final import Final, final_figures
from .inputs import Run


def make_report(run: Run, entries: dict[str, Candidate], analysis: Path, choice: Choice, final: Final,
                stream: dict | None, warnings: list[str]) -> dict:
    """The report (JSON-able); the artifacts and their manifests copied into ``out/artifacts``."""
    inp, config, out = run.inp, run.config, run.out
    clips, val, test = inp.clips, inp.clips["validation"], inp.clips["test"]
    (out / "artifacts").mkdir(exist_ok=True)
    copied = {name: copy_artifact(entry.onnx, out / "artifacts") for name, entry in entries.items()}
    floor_vs = choice.floor["p50_ms"] / entries[ORIGINAL].latency_onnx_ms["p50_ms"]
    report = {
        "schema_version": REPORT_SCHEMA, "run_id": inp.run_id, "job": inp.job, "model": run.model_src,
        "keys": {"weights_sha256": inp.key[0], "data_sha256": inp.key[1], "calibration_sha256": inp.key[2]},
        "data": {**inp.dataset.describe(), "val_clips": len(val), "test_clips": len(test),
                 "skipped": [x for c in clips.values() for x in c.skipped]},
        "target": inp.target.as_dict(), "method": config.method, "config": config.as_dict(),
        "retention_target": config.retention, "chosen": choice.name, "choice": choice.pick.as_dict(),
        "candidates": {name: e.as_dict() for name, e in entries.items()}, "label_mapping": val.label_mapping,
        "analysis": str(analysis), "calibration": {"manifest": config.calib, "hash": inp.key[2]} if config.calib else None,
        "final": final_figures(final, config, copy_artifact(final.artifact, out / "artifacts")),
        "latency_floor": {**choice.floor, "vs_original": floor_vs,
                          "what": "the original's front end and head with no transformer layer (ONNX Runtime, the "
                                  "candidates' shape, timed beside them): what replacing the stack cannot go below"},
        "build": final.build, "artifacts": copied, "stream": stream_summary(stream), "machine": machine_info(),
        "versions": versions(), "stages": run.timeline, "seconds": round(time.perf_counter() - run.t0, 1),
        "device_results": [], "warnings": warnings + run.notes,
    }
    report["final"].update(final_detector(stream, report["final"], config, entries[choice.name].detector_val))
    if not choice.check:
        report["next_steps"] = device_commands(report, run.data.root, out)
    return report


def copy_artifact(artifact: str, dest: Path) -> str:
    """Copy an artifact and its manifest into ``dest``; returns the copy's path."""
    for src in (Path(artifact), manifest_path(artifact)):
        shutil.copy2(src, dest / src.name)
    return str(dest / Path(artifact).name)


def device_commands(report: dict, data_dir, out: Path) -> list[str]:
    """The exact commands to run on the device when this machine cannot build the target's engine."""
    target = get_target(report["target"]["name"], quiet=True)
    onnx = Path(report["artifacts"][report["chosen"]])
    orig = Path(report["artifacts"][ORIGINAL])
    engine, orig_engine = onnx.with_name(artifact_name(onnx, target)), orig.with_name(artifact_name(orig, target))
    name = target.name
    return [
        f"spc build {onnx} --target {name} --out {engine}",
        f"spc build {orig} --target {name} --out {orig_engine}",
        f"spc bench {engine} {orig_engine} --target {name} --data {data_dir} --report {out}",
    ]


def versions() -> dict:
    """The library versions a run's figures came from."""
    import onnx
    import onnxruntime
    import torch
    import transformers

    return {"spc": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
