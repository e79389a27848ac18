"""Pruned depths (stage 3, methods auto and prune): every healed depth that passes, a candidate of its own."""

from __future__ import annotations

import json
import shutil

from ....models import save_model
from ....prune import prune
from ....prune.curves import curves_figure
from ..candidate import Candidate, Producer, register
from ..detect import stream_keywords, train_negatives
from ..inputs import Run
from ..workdir import finish


def pruned_depths(run: Run) -> dict[str, Candidate]:
    """Whole layers removed by every order under the retention target, healed; one candidate per passing depth
    (``pruned-N``), with the search's summary and curves kept in the stage folder."""
    config, inp = run.config, run.inp
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
    return {name: Candidate("prune", str(path / folder), summary=str(path / res["summary"]),
                            heal_seconds=res["heal_seconds"]) for name, folder in res["models"].items()}


PRODUCER = register(Producer("prune", lambda config, target: config.wants("prune"), pruned_depths))
