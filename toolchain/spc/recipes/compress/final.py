"""Stages 7-9: the chosen candidate and the original built for the target (where this machine can), the built
artifact's test accuracy and latency against the original built the same way, then both as detectors on the test
streams at the operating points they carry."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from ...accuracy import evaluate
from ...engines.loader import open_runner
from ...errors import SpcError
from ...stats import EPS, mcnemar_exact, retention_interval, retention_point, verdict
from ...timing import bench_callables
from .candidate import Candidate
from .choose import Choice, build_stage, finite
from .settings import CompressConfig
from .detect import judge_final
from .exporting import ORIGINAL
from .inputs import Run


@dataclass
class Final:
    """Stages 7-8: the built artifacts and the chosen one's test figures against the original's."""

    build: dict
    artifact: str
    original_artifact: str
    kind: str | None
    test: object  # accuracy.EvalResult of the chosen artifact on the test split
    original_test: object
    latency: dict  # {"original": row, "compressed": row}, batch 1


def build_and_test(run: Run, entries: dict[str, Candidate], choice: Choice, runners: ExitStack) -> Final:
    """Build the chosen candidate and the original for the target (where this machine can), then the test accuracy
    and latency of the built artifact itself against the original built the same way."""
    target, config, test = run.inp.target, run.config, run.inp.clips["test"]
    build = {"target": target.as_dict(), "built_here": bool(choice.check)}
    artifact, original = entries[choice.name].onnx, entries[ORIGINAL].onnx
    if choice.check:
        # built in the choose stage where it passed on validation (else now: the run reports it as failing)
        artifact, original = (build_stage(run, entries[n], n, choice.check) for n in (choice.name, ORIGINAL))
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


def stream_test(run: Run, entries: dict[str, Candidate], choice: Choice, final: Final) -> tuple[dict | None, list[str]]:
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
        built = {"original": final.original_artifact, "compressed": final.artifact}
        chosen_on = {"original": entries[ORIGINAL].onnx, "compressed": entries[choice.name].onnx}
        try:
            stream = judge_final(run, built, chosen_on, choice.detect["keywords"])
        except SpcError as exc:  # e.g. the test split holds no keyword clip: said in the report
            warnings.append(f"the detector was not judged on the test split: {exc}")
        for name, r in ((stream or {}).get("results") or {}).items():
            if (r.get("test") or {}).get("synthetic_note"):
                warnings.append(f"{name}: {r['test']['synthetic_note']}")
    elif config.stream:
        warnings.append(f"the detector was not judged: {choice.detect['why']}")
    run.mark("stream")
    return stream, warnings


def final_figures(final: Final, config: CompressConfig, artifact_copy: str) -> dict:
    """The chosen artifact's test figures against the original's: retention with its interval, the clip verdict,
    McNemar's p and the latency ratio."""
    t, o = final.test, final.original_test
    retention = retention_point(o.correct, t.correct)
    ci = retention_interval(o.correct, t.correct, seed=config.seed)
    lat = final.latency
    return {"artifact": artifact_copy, "kind": final.kind, "test_accuracy": t.accuracy,
            "original_test_accuracy": o.accuracy, "retention": retention, "retention_ci": finite(ci),
            "mcnemar_p": mcnemar_exact(o.correct, t.correct),
            "clip_verdict": verdict(retention, ci, config.retention, t.n_clips),
            "passed": retention >= config.retention - EPS, "test": t.as_dict(),
            "latency_ms": lat["compressed"], "original_latency_ms": lat["original"],
            "speedup_p50": lat["original"]["p50_ms"] / lat["compressed"]["p50_ms"]}
