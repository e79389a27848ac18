"""Distilled students (stage 4, methods auto and mimic): the mimic student, and the tiny student where asked."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict

from ....distill import MimicConfig, build_student, distill
from ....models import save_model
from ..workdir import finish
from ..candidate import Candidate, Producer, register
from ..detect import stream_keywords, train_negatives
from ..inputs import Run


def student(run: Run, name: str, design: MimicConfig) -> Candidate:
    """One distilled student of the original (``design``), trained on the clips and stream-like windows, or read
    from its stage."""
    config, inp = run.config, run.inp
    path, res = run.stage(name, asdict(design), config.distill.as_dict(), config.train_negatives_hours)
    if res is None:
        t1 = time.perf_counter()
        model, clips = inp.model, inp.clips
        made = build_student(model, design, seed=config.seed)
        keywords, _ = stream_keywords(clips["validation"], config)
        negatives = (train_negatives(config, keywords, run.work, model.meta.sampling_rate, run.show_progress)
                     if keywords and config.distill.stream_windows else None)
        result = distill(made, model, clips["train"], clips["validation"], config.distill.with_seed(config.seed),
                         path / "train", run_id=inp.run_id, show_progress=run.show_progress, negatives=negatives or None,
                         keywords=keywords)
        save_model(made, path / "student", {**made.meta.provenance, "teacher": run.model_src,
                                            "distill": config.distill.as_dict()})
        (path / "distill.json").write_text(json.dumps({"history": result.history, "best": result.best}, indent=2))
        shutil.rmtree(path / "train", ignore_errors=True)
        res = finish(path, {"model": "student", "summary": "distill.json", "seconds": round(time.perf_counter() - t1, 1)})
    return Candidate(design.kind if design.kind == "tiny" else "mimic", str(path / res["model"]),
                     summary=str(path / res["summary"]), distill_seconds=res["seconds"])


def mimic(run: Run) -> dict[str, Candidate]:
    made = {"mimic": student(run, "mimic", run.config.mimic)}
    run.mark("mimic")
    return made


def tiny(run: Run) -> dict[str, Candidate]:
    made = {"tiny": student(run, "tiny", run.config.tiny)}
    run.mark("tiny")
    return made


MIMIC = register(Producer("mimic", lambda config, target: config.wants("mimic"), mimic))
TINY = register(Producer("tiny", lambda config, target: config.wants("mimic") and config.tiny is not None,
                           tiny))
