"""What each of issue 35's ingredients is worth: the default mimic student trained with them added one at a time,
each judged as a detector the way an app runs it (issue 35's ablation).

    python benchmarks/student_ablation.py --work WORK            # WORK: detector_fsdd_kws.py's (its teacher, task)
    python benchmarks/student_ablation.py --only readme          # the README section from the JSON

The teacher and the FSDD keyword task are detector_fsdd_kws.py's (run its teacher step first). Each recipe adds one
ingredient to the one before (``DistillConfig`` fields):
  today      one window per clip per epoch, drawn once (``distill.windows``: noise at -70 to -30 dBFS)
  pool       a pool of 4 epochs' worth of those windows, each epoch drawing its own (``pool_factor``)
  snr        the pool made as the streams are: the streams' SNRs, coloured noise and babble, gain, rooms
             (``window_snr``)
  weights    stage 2 weighs keyword-free windows by a ramp to 5 and adds a keyword-versus-rest term
             (``negative_weight``, ``keyword_weight``)
  hard       a quarter of each epoch's windows are the pool's negatives the student scores highest
             (``hard_negatives``)
  detector   the stage-2 checkpoint with the best keyword recall at a budget on validation streams (``select``)
Every student learns from the same hour of training negatives (their own seed). Each is read with the teacher on
the same streams, smaller than detector_fsdd_kws.py's to afford six students: every clip at 5-25 dB SNR, 1 h
(validation) and 2 h (test) of espeak-ng negatives, budget 5 false accepts per hour (resolved: 5 and 10 false
accepts' worth), operating points chosen on validation and carried to test.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "student_ablation"
START, END = "<!-- student-ablation:start -->", "<!-- student-ablation:end -->"
BUDGET, VAL_HOURS, TEST_HOURS = 5.0, 1.0, 2.0


def recipes() -> dict:
    """Each recipe, cumulative, as a DistillConfig."""
    from spc.distill import DistillConfig

    today = DistillConfig(stream_windows=1.0)
    pool = replace(today, pool_factor=4.0)
    snr = replace(pool, window_snr=True)
    weights = replace(snr, negative_weight=5.0, keyword_weight=1.0)
    hard = replace(weights, hard_negatives=0.25)
    detector = replace(hard, select="detector")
    return {"today": today, "pool": pool, "snr": snr, "weights": weights, "hard": hard, "detector": detector}


def _stream_config():
    from spc.streaming.evaluation import StreamEvalConfig

    return StreamEvalConfig(max_fa_per_hour=BUDGET, validation_synthetic_hours=VAL_HOURS, synthetic_hours=TEST_HOURS)


def run(work: Path, only: list[str] | None = None) -> dict:
    """Train each recipe's mimic (or reuse one trained with the same settings), export it, and read every student with
    the teacher on the ablation's streams; records results/student_ablation/ablation.json."""
    import sys

    sys.path.insert(0, str(HERE))
    from detector_fsdd_kws import task

    from spc.data import DataConfig
    from spc.export import ExportConfig, export_onnx
    from spc.models import MimicConfig, load_model
    from spc.recipes.distill_student import run_distill
    from spc.streaming.evaluation import evaluate_streams
    from spc.streaming.negatives import negative_audio

    data = DataConfig(str(task(work)))
    negatives, _ = negative_audio(16000, hours=1.0, cache=work / "negatives-train", exclude_words=("0", "1", "2"),
                                  seed=2)
    out = json.loads((RESULTS / "ablation.json").read_text()) if (RESULTS / "ablation.json").is_file() else {}
    out.setdefault("recipes", {})
    teacher_onnx = work / "onnx" / "teacher.onnx"
    if not teacher_onnx.is_file():
        export_onnx(load_model(work / "teacher"), teacher_onnx, ExportConfig())
    artifacts = {"teacher": str(teacher_onnx)}
    for name, cfg in recipes().items():
        dest = work / "ablation" / name
        if only is None or name in only:
            s = run_distill(work / "teacher", data, dest, mimic=MimicConfig(), config=cfg, overwrite=True,
                            latency_runs=0, negatives=negatives, keywords=("0", "1", "2"))
            export_onnx(load_model(dest), work / "ablation" / f"{name}.onnx", ExportConfig())
            out["recipes"][name] = {"config": cfg.as_dict(), "student_test": s["student_test_accuracy"],
                                    "retention_test": s["retention_test"], "seconds": s["seconds"]}
            print(name, s["retention_test"], s["seconds"], flush=True)
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / "ablation.json").write_text(json.dumps(out, indent=1))
        if (work / "ablation" / f"{name}.onnx").is_file():
            artifacts[name] = str(work / "ablation" / f"{name}.onnx")
    t0 = time.perf_counter()
    s = evaluate_streams(artifacts, data, work / "ablation-stream", config=_stream_config(), reference="teacher")
    out["streams_seconds"] = round(time.perf_counter() - t0, 1)
    out["config"], out["audio"] = s["config"], s["audio"]
    out["detectors"] = {n: {"operating_point": r["operating_point"], "at_point": r["test"]["at_point"],
                            "snr_bands": r["test"]["snr_bands"], "oracle_miss_rate": r["oracle"].get("miss_rate"),
                            "per_source": r["test"]["per_source"]}
                        for n, r in s["results"].items() if r.get("test")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ablation.json").write_text(json.dumps(out, indent=1))
    return out


def _num(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def readme(work: Path | None = None) -> str:
    """The README section, from the recorded JSON only."""
    from readme_section import replace_section

    path = RESULTS / "ablation.json"
    a = json.loads(path.read_text()) if path.is_file() else None
    lines = ["## What each student ingredient is worth as a detector (`student_ablation.py`, issue 35)", "",
             "Command: `python benchmarks/student_ablation.py --work WORK` (WORK: `detector_fsdd_kws.py`'s teacher and "
             "task). Each row adds one ingredient to the row above (see the script's docstring)."]
    if not a or not a.get("detectors"):
        lines += ["", "Not run yet."]
    else:
        det, t = a["detectors"], a["detectors"]["teacher"]["at_point"]
        c = a["config"]
        lines += ["", f"Streams: clips at {c['snr_db'][0]:g}-{c['snr_db'][1]:g} dB SNR, {c['validation_synthetic_hours']:g} h "
                  f"(validation) and {c['synthetic_hours']:g} h (test) of espeak-ng negatives; budget "
                  f"{c['max_fa_per_hour']:g} FA/h (test: {t['negative_hours']:.2f} h of negative audio, one false "
                  f"accept = {t['one_false_accept_per_hour']:.2f} per hour); each model's operating point chosen on "
                  f"validation and carried to test. Teacher: test miss rate {t['miss_rate']:.3f} "
                  f"[{_num((t.get('miss_rate_ci') or [None])[0], '.3f')}, "
                  f"{_num((t.get('miss_rate_ci') or [None, None])[1], '.3f')}].", "",
                  "Each model is read at its own carried point, so their test false-accept rates differ (FA/h column): "
                  "fewer misses at a higher FA/h is partly the trade, not only a better detector.", "",
                  "| recipe | clip retention (test) | test miss rate at the carried point [95%] | misses vs teacher | "
                  "hit-rate retention [95%] | FA/h | misses at 5-10 dB | training s |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, r in a["recipes"].items():
            d = det.get(name)
            if not d:
                continue
            at = d["at_point"]
            ci, rci = at.get("miss_rate_ci") or [None, None], at.get("retention_ci") or [None, None]
            low = d["snr_bands"][0]
            lines.append(f"| {name} | {r['retention_test']:.3f} | {at['miss_rate']:.3f} [{_num(ci[0], '.3f')}, "
                         f"{_num(ci[1], '.3f')}] | {_num(at['miss_rate'] / t['miss_rate'] if t['miss_rate'] else None, '.2f')}x"
                         f" | {_num(at.get('retention'), '.3f')} [{_num(rci[0], '.3f')}, {_num(rci[1], '.3f')}] | "
                         f"{at['fa_per_hour']:.2f} | {low['misses']}/{low['keywords']} | {r['seconds']:.0f} |")
    section = replace_section(HERE / "README.md", START, END, "\n".join(lines))
    print(section)
    return section


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, help="detector_fsdd_kws.py's work folder (its teacher and task).")
    p.add_argument("--only", nargs="+", help="Train these recipes only (the others are read from WORK), or 'readme'.")
    args = p.parse_args()
    if args.only == ["readme"]:
        readme()
        return
    if not args.work:
        p.error("--work is needed")
    run(args.work, args.only)
    readme()


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(HERE))
    main()
