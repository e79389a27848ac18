"""The compress report and console summary show retention intervals, McNemar and the verdict; old reports still render."""

from __future__ import annotations

import copy
import io

from rich.console import Console

from spc.console import compress_table, compress_verdict_line, retention_text
from spc.compress_report import render_markdown


def candidate(method: str, val_acc: float, retention: float, p50: float, ratio: float) -> dict:
    params = {"total": 1_000_000, "stack_layers": 500_000, "feature_encoder": 300_000, "stack": 600_000, "head": 100_000}
    return {"method": method, "params": params, "val_accuracy": val_acc, "val_retention": retention,
            "latency_onnx_ms": {"p50_ms": p50}, "latency_ratio": ratio, "parity": {"max_abs_diff": 1e-6}}


def old_report() -> dict:
    """A report as compress wrote it before intervals: no retention_ci, mcnemar_p, verdict or val_retention_ci."""
    lat = {"p50_ms": 2.0, "batch": 1, "samples": 16000}
    return {
        "model": "teacher", "target": {"name": "cpu", "backend": "onnxruntime", "precision": "fp32", "power_mode": "-",
                                       "profile": {"opt_batch": 1}},
        "retention_target": 0.95, "machine": {"cpu": "test cpu", "gpu": None}, "warnings": [], "chosen": "pruned",
        "method": "auto",
        "candidates": {"original": candidate("original", 0.92, 1.0, 4.0, 1.0),
                       "pruned": candidate("prune", 0.90, 0.978, 2.0, 0.5)},
        "final": {"artifact": "artifacts/pruned.cpu.ort.onnx", "kind": "onnxruntime", "test_accuracy": 0.88,
                  "original_test_accuracy": 0.90, "retention": 0.9778, "passed": True, "test": {"n_clips": 250},
                  "latency_ms": lat, "original_latency_ms": {**lat, "p50_ms": 4.0}, "speedup_p50": 2.0},
        "device_results": [], "build": {}, "data": {"root": "data", "layout": "folders", "val_clips": 250,
                                                    "test_clips": 250, "skipped": []},
        "calibration": None, "versions": {}, "stages": ["final"], "seconds": 1.0,
    }


def new_report() -> dict:
    report = copy.deepcopy(old_report())
    report["final"].update(retention_ci=[0.9301, 1.0123], mcnemar_p=0.3437, verdict="PASS, not significant at 250 clips")
    report["candidates"]["pruned"]["val_retention_ci"] = [0.9512, 1.0]
    report["candidates"]["original"]["val_retention_ci"] = [1.0, 1.0]
    report["choice"] = {"name": "pruned", "standing": "safe", "reason": "pruned: the fastest safe candidate"}
    return report


def rendered(renderable) -> str:
    buf = io.StringIO()
    Console(file=buf, width=200, force_terminal=False).print(renderable)
    return buf.getvalue()


def test_markdown_shows_intervals_mcnemar_and_the_verdict():
    md = render_markdown(new_report(), {})
    assert md.count("**PASS, not significant at 250 clips**") == 1
    assert "target 0.95; 95% interval 0.930-1.012 over 250 test clips; McNemar exact p = 0.344)" in md
    assert "| 0.978 [0.951, 1.000] |" in md and "Choice: pruned: the fastest safe candidate." in md
    assert "95% paired bootstrap intervals over clips" in md


def test_markdown_of_a_report_without_the_fields_is_unchanged_in_form():
    md = render_markdown(old_report(), {})
    assert "**PASS**: the onnxruntime artifact keeps **0.978**" in md and "| 0.978 |" in md
    assert "interval" not in md and "McNemar" not in md and "Choice:" not in md
    failed = old_report()
    failed["final"]["passed"] = False
    assert "**FAIL**" in render_markdown(failed, {})


def test_console_table_and_verdict_line():
    text = " ".join(rendered(compress_table(new_report())).split())  # the caption wraps to the table's width
    assert "0.978 [0.951, 1.000]" in text and "retention 0.978 [0.930, 1.012], McNemar p 0.344" in text
    line = rendered(compress_verdict_line(new_report(), "out/report.md"))
    assert line.strip() == ("PASS, not significant at 250 clips: pruned keeps 0.978 [0.930, 1.012] of the test "
                            "accuracy, McNemar p = 0.344 (target 0.95), 2.00x faster; report in out/report.md")
    old = rendered(compress_verdict_line(old_report(), "out/report.md"))
    assert old.startswith("PASS: pruned keeps 0.978 of the test accuracy (target 0.95)")
    assert "0.978" in rendered(compress_table(old_report()))


def test_retention_text_tolerates_missing_and_undefined_intervals():
    assert retention_text(0.95) == "0.950"
    assert retention_text(0.95, None) == "0.950" and retention_text(0.95, [float("nan"), float("nan")]) == "0.950"
    assert retention_text(0.95, (0.9, 1.0)) == "0.950 [0.900, 1.000]"
