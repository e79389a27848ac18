"""Stage 5: the original and every candidate to ONNX, parity-checked; and the latency floor (no stack)."""

from __future__ import annotations

from ...export import ExportConfig, export_onnx
from ...models import load_model, weights_hash
from ...params import count_parameters
from ...prune.surgery import stackless
from .workdir import finish
from .candidate import Candidate
from .inputs import Run

ORIGINAL = "original"


def export_all(run: Run, candidates: dict[str, Candidate]) -> dict[str, Candidate]:
    """The original (first) and every candidate exported, each keyed by its own weights; {name: Candidate}."""
    entries = {ORIGINAL: Candidate("none", run.model_src), **candidates}
    val = run.inp.clips["validation"]
    for name, entry in entries.items():
        m = run.inp.model if name == ORIGINAL else load_model(entry.model)
        entry.weights_sha256 = weights_hash(m)
        path, res = run.stage("export", entry.weights_sha256, name)
        if res is None:
            rep = export_onnx(m, path / f"{name}.onnx", ExportConfig(seed=run.config.seed), audio=val.audio[:8])
            res = finish(path, {"onnx": f"{name}.onnx", "parity": rep.parity, "params": count_parameters(m).as_dict()})
        entry.onnx, entry.parity, entry.params = str(path / res["onnx"]), res["parity"], res["params"]
    run.mark("export")
    return entries


def export_floor(run: Run) -> str:
    """Stage 5b: the latency floor, the original without its stack (front end and head alone), to ONNX; timed
    beside the candidates (never one of them), so that a report shows how close a student is to the limit."""
    path, res = run.stage("floor", run.inp.key[0])
    if res is None:
        export_onnx(stackless(run.inp.model), path / "floor.onnx", ExportConfig(seed=run.config.seed),
                    audio=run.inp.clips["validation"].audio[:8])
        res = finish(path, {"onnx": "floor.onnx"})
    return str(path / res["onnx"])
