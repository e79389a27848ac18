"""compress, top to bottom: each stage one call (the stages' modules say what each does)."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

from ...data import DataConfig
from ...fileio import mark_output
from ...locking import locks_output
from ...compress_report import write_report
from .analyse import analyse
from .candidate import Candidate, check_names
from .choose import choose
from .settings import CompressConfig
from .exporting import export_all, export_floor
from .final import build_and_test, stream_test
from .producers import wanted
from .reporting import make_report
from .inputs import Run, check_and_load


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
    entries = export_all(run, make_candidates(run))
    for producer in wanted(config, inp.target, variant=True):  # derived from the exports (INT8 variants)
        made = producer.make(run, dict(entries))
        check_names(made, entries)
        entries.update(made)
    floor = export_floor(run)
    with ExitStack() as runners:  # every runner this run opens is closed when the block ends, whatever happens
        choice = choose(run, entries, runners, floor)
        final = build_and_test(run, entries, choice, runners)
    stream, warnings = stream_test(run, entries, choice, final)
    report = make_report(run, entries, analysis, choice, final, stream, warnings)
    write_report(report, out)
    return report


def make_candidates(run: Run) -> dict[str, Candidate]:
    """Stages 3-4: every candidate the settings ask for, producer by producer (pruned depths, students, ...)."""
    made: dict[str, Candidate] = {}
    for producer in wanted(run.config, run.inp.target, variant=False):
        new = producer.make(run)
        check_names(new, made)
        made.update(new)
    return made
