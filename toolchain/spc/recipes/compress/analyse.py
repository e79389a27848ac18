"""Stage 2: layer similarity on the calibration clips (figures and analysis.json)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ...analysis.plots import write_figures
from ...analysis.run import AnalysisConfig, analyze_model
from .workdir import finish
from .inputs import Run


def analyse(run: Run) -> Path:
    """Cosine, CKA and mutual kNN between layers, and the block structure; returns analysis.json's path."""
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
