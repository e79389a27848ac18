"""Terminal output helpers (Rich): tables for results, one-line errors."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text
from rich.table import Table


def stdout() -> Console:
    """Rich console on stdout; 160 columns when not a terminal (logs, pipes), so tables stay whole."""
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=160)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def millions(n: int) -> str:
    return f"{n / 1e6:.3f} M"


def eval_table(result, title: str) -> Table:
    """Per-class accuracy with the overall figure as the caption."""
    from rich.markup import escape

    table = Table(title=escape(title), caption=f"accuracy {pct(result.accuracy)} on {result.n_clips} clips"
                  + (f", {len(result.skipped)} files skipped" if result.skipped else ""))
    table.add_column("class")
    table.add_column("clips", justify="right")
    table.add_column("correct", justify="right")
    table.add_column("accuracy", justify="right")
    for name, row in result.per_class.items():
        table.add_row(escape(str(name)), str(row["n"]), str(row["correct"]), pct(row["accuracy"]))  # "[x]" as typed
    return table


def skipped_lines(skipped: list, where: str, limit: int = 5) -> list[str]:
    """The files a run skipped, one per line (at most ``limit``, then a count and where the full list is)."""
    if not skipped:
        return []
    lines = [f"skipped {len(skipped)} unusable file{'s' if len(skipped) != 1 else ''}:"]
    lines += [f"  {shown_path(path)}: {reason}" for path, reason in list(skipped)[:limit]]
    if len(skipped) > limit:
        lines.append(f"  ... and {len(skipped) - limit} more (all of them in {where})")
    return lines


def shown_path(path) -> str:
    """A path as text a terminal can show (bytes that are not UTF-8 become U+FFFD)."""
    import os

    return os.fsencode(str(path)).decode("utf-8", "replace")


def params_table(counts: dict, title: str = "parameters") -> Table:
    table = Table(title=title)
    table.add_column("part")
    table.add_column("parameters", justify="right")
    for key in ("feature_encoder", "stack", "stack_layers", "head", "other", "total"):
        table.add_row(key.replace("_", " "), millions(counts[key]))
    return table


def _blocks_text(result, metric: str) -> str:
    blocks = result.blocks[metric]["blocks"]
    return "  ".join(f"[{b['start']}-{b['end']}]" for b in blocks)


def analysis_summary(result, metric: str = "cka") -> Table:
    """Blocks per metric and the lowest-BI layers of one analysis."""
    table = Table(title=f"layer similarity of {result.model} ({result.n_clips} clips, {result.n_layers} layers)",
                  caption="blocks: hidden-state ranges [first-last]; 0 = stack input, i = output of layer i")
    table.add_column("metric")
    table.add_column("blocks")
    table.add_column("threshold", justify="right")
    for name in result.matrices:
        mark = " *" if name == metric else ""
        table.add_row(name + mark, _blocks_text(result, name), f"{result.blocks[name]['tau']:.3f}")
    low = result.lowest_bi(min(5, result.n_layers))
    bi = result.bi["frames"]
    table.add_row("lowest BI", ", ".join(f"layer {i} ({bi[i]:.3f})" for i in low), "")
    return table


def compare_table(a, b, metric: str = "cka") -> Table:
    """Two analyses side by side: blocks and BI per layer."""
    table = Table(title=f"{a.model}  vs  {b.model}")
    table.add_column("")
    table.add_column(a.model, overflow="fold")
    table.add_column(b.model, overflow="fold")
    table.add_row(f"blocks ({metric})", _blocks_text(a, metric), _blocks_text(b, metric))
    table.add_row("clips", str(a.n_clips), str(b.n_clips))
    for i in range(max(a.n_layers, b.n_layers)):
        fa = f"{a.bi['frames'][i]:.3f}" if i < a.n_layers else "-"
        fb = f"{b.bi['frames'][i]:.3f}" if i < b.n_layers else "-"
        table.add_row(f"BI layer {i}", fa, fb)
    return table


def prune_table(summary: dict) -> Table:
    """One row per order: layers removed at the target, accuracies, parameters, CPU latency ratio."""
    orig = summary["original"]
    table = Table(title=f"pruning {summary['model']} ({summary['n_layers']} layers), target "
                        f"{pct(summary['target_val_accuracy'])} = {summary['config']['retention']:.0%} of "
                        f"{pct(summary['baseline_val_accuracy'])} validation")
    for col, just in (("order", "left"), ("removed (safe)", "right"), ("removed (point)", "right"), ("val acc", "right"),
                      ("test acc", "right"), ("params", "right"), ("CPU latency vs original", "right")):
        table.add_column(col, justify=just)
    table.add_row("original", "0", "0", pct(summary["baseline_val_accuracy"]), pct(orig["test_accuracy"]),
                  millions(orig["params"]["total"]), "1.00x")
    for r in summary["orders"]:
        name = r["name"] + (" *" if r["name"] == summary["best"] else "")
        ratio = "-" if r["latency_ratio"] is None else f"{r['latency_ratio']:.2f}x"
        table.add_row(name, str(r["removed_at_target"]), str(r.get("removed_point", "-")), pct(r["val_accuracy"]),
                      pct(r["test_accuracy"]), millions(r["params"]["total"]), ratio)
    table.caption = ("removed (safe): the deepest cut whose 95% validation interval clears the target; (point): the "
                     "deepest that clears it on the point estimate")
    point = summary.get("point")
    if point:
        table.caption += (f"; flagged, not taken: {point['order']} removing {point['removed']} passes on the point "
                          f"estimate only (retention {point['retention']:.3f}, lower bound {point['interval'][0]:.3f}, "
                          f"by {point['margin_clips']} clips)")
    return table


def distill_table(summary: dict) -> Table:
    """Teacher and student side by side: parameters, accuracy, retention, CPU latency."""
    tp, sp = summary["params"]["teacher"], summary["params"]["student"]
    lat = summary["latency_ms"]
    m = summary["mimic"]
    design = f"{m['kind']} x{m['n_layers']}" + (f" (h={m['hidden']})" if m["kind"] == "linear" else "")
    table = Table(title=f"mimic distillation: {design}" + (" [baseline: labels only]" if summary["config"]["baseline"] else ""))
    for col in ("", "teacher", "student", "student / teacher"):
        table.add_column(col, justify="right" if col else "left")
    table.add_row("parameters (whole)", millions(tp["total"]), millions(sp["total"]),
                  f"{sp['total'] / tp['total']:.3f} (-{100 * summary['params']['whole_reduction']:.1f}%)")
    table.add_row("parameters (stack layers)", millions(tp["stack_layers"]), millions(sp["stack_layers"]),
                  f"-{100 * summary['params']['stack_layers_reduction']:.1f}%")
    table.add_row("validation accuracy", pct(summary["teacher_val_accuracy"]), pct(summary["student_val_accuracy"]),
                  f"{summary['retention_val']:.3f}")
    table.add_row("test accuracy", pct(summary["teacher_test_accuracy"]), pct(summary["student_test_accuracy"]),
                  f"{summary['retention_test']:.3f}")
    if lat:
        table.add_row("CPU latency p50 (batch 1)", f"{lat['teacher']['p50_ms']:.2f} ms", f"{lat['student']['p50_ms']:.2f} ms",
                      f"{summary['latency_ratio']:.3f}")
    return table


def export_table(report) -> Table:
    """Parity and graph size before and after simplification."""
    table = Table(title=f"exported {report.path}", caption=f"sha256 {report.sha256[:16]}...")
    for col in ("", "raw graph", "simplified" + (f" ({report.simplifier})" if report.simplifier else "")):
        table.add_column(col)
    after = report.after
    p2 = report.parity_simplified
    table.add_row("max |logit diff| vs PyTorch", f"{report.parity['max_abs_diff']:.2e}",
                  f"{p2['max_abs_diff']:.2e}" if p2 else "-")
    table.add_row("top-1 agreement", f"{report.parity['top1_agreement']:.3f}", f"{p2['top1_agreement']:.3f}" if p2 else "-")
    table.add_row("file size", f"{report.before.file_bytes / 2**20:.2f} MiB",
                  f"{after.file_bytes / 2**20:.2f} MiB" if after else "-")
    table.add_row("nodes", str(report.before.nodes), str(after.nodes) if after else "-")
    top = sorted(report.before.ops.items(), key=lambda kv: -kv[1])[:6]
    table.add_row("top operators", ", ".join(f"{k} {v}" for k, v in top),
                  ", ".join(f"{k} {v}" for k, v in sorted(after.ops.items(), key=lambda kv: -kv[1])[:6]) if after else "-")
    for note in report.notes:
        table.add_row("note", note, "")
    return table


def compress_table(report: dict) -> Table:
    """The summary table of a compress run: every candidate, and the final artifact (intervals where recorded)."""
    table = Table(title=f"spc compress: {report['model']} -> {report['target']['name']}")
    for col, just in (("candidate", "left"), ("parameters", "right"), ("val acc", "right"), ("val retention", "right"),
                      ("detector retention", "right"), ("latency p50", "right"), ("vs original", "right")):
        table.add_column(col, justify=just)
    from .recipes.compress.candidate import Candidate

    for name, row in report["candidates"].items():
        c = Candidate.from_dict(row)
        table.add_row(name + (" *" if name == report["chosen"] else ""), millions(c.params["total"]),
                      pct(c.val_accuracy), retention_text(c.val_retention, c.val_retention_ci),
                      detector_text(c.detector_val), f"{c.latency_onnx_ms['p50_ms']:.2f} ms", f"{c.latency_ratio:.2f}x")
    f = report["final"]
    table.caption = (f"final {f['kind']} artifact on test: {pct(f['test_accuracy'])} vs original {pct(f['original_test_accuracy'])}"
                     f" (retention {retention_text(f['retention'], f.get('retention_ci'))}"
                     + (f", McNemar p {f['mcnemar_p']:.3g}" if f.get("mcnemar_p") is not None else "")
                     + f"); p50 {f['latency_ms']['p50_ms']:.2f} ms vs {f['original_latency_ms']['p50_ms']:.2f} ms"
                     + (f"; latency floor (no stack) {report['latency_floor']['p50_ms']:.2f} ms"
                        if report.get("latency_floor") else ""))
    return table


def detector_text(judged: dict | None) -> str:
    """A candidate's detector retention on validation with its interval, and its miss rate at the budget."""
    if not judged or not judged.get("judged") or judged.get("retention") is None:
        return "-"
    miss = (judged.get("validation") or {}).get("miss_rate")
    return retention_text(judged["retention"], judged.get("retention_ci")) + (f" (miss {miss:.3f})" if miss is not None else "")


def interval(ci) -> tuple[float, float] | None:
    """A recorded interval ([lo, hi] from JSON, or a tuple) as two floats; None when absent or undefined."""
    if not ci or len(ci) != 2 or any(x is None or x != x for x in ci):
        return None
    return float(ci[0]), float(ci[1])


def retention_text(value: float, ci=None) -> str:
    """A retention with its 95% interval when there is one: ``0.987 [0.962, 1.004]``."""
    bounds = interval(ci)
    return f"{value:.3f}" + (f" [{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else "")


def compress_verdict(report: dict) -> str:
    """The run's verdict: ``final.verdict`` where recorded ("PASS, not significant at N clips"), else PASS or FAIL."""
    f = report["final"]
    return f.get("verdict") or ("PASS" if f["passed"] else "FAIL")


def compress_verdict_line(report: dict, report_path) -> str:
    """The console line after the compress table: verdict, retention with its interval, McNemar, speed-up."""
    from rich.markup import escape

    f = report["final"]
    verdict = compress_verdict(report)
    colour = "green" if verdict == "PASS" else "yellow" if verdict.startswith("PASS") else "red"
    extra = f", McNemar p = {f['mcnemar_p']:.3g}" if f.get("mcnemar_p") is not None else ""
    return (f"[bold {colour}]{escape(verdict)}[/]: {escape(str(report['chosen']))} keeps "
            f"{escape(retention_text(f['retention'], f.get('retention_ci')))} of the test accuracy{extra} "
            f"(target {report['retention_target']:.2f}), {f['speedup_p50']:.2f}x faster; "
            f"report in {escape(str(report_path))}")


def bench_table(result: dict) -> Table:
    table = Table(title=f"latency on {result['target']} ({result['machine'].get('gpu') or result['machine']['cpu']})")
    for col in ("artifact", "batch", "samples", "p50 ms", "p90 ms", "p99 ms", "mean ms", "clips/s", "accuracy"):
        table.add_column(col, justify="left" if col == "artifact" else "right")
    acc = result.get("accuracy", {})
    for r in result["latency"]:
        table.add_row(r["artifact"], str(r["batch"]), str(r["samples"]), f"{r['p50_ms']:.2f}", f"{r['p90_ms']:.2f}",
                      f"{r['p99_ms']:.2f}", f"{r['mean_ms']:.2f}", f"{r['clips_per_s']:.1f}", pct(acc.get(r["artifact"])))
    return table


def warn(message: str) -> None:
    """One yellow ``warning:`` line on stderr (markup in ``message`` is shown as typed)."""
    from rich.markup import escape

    stderr().print(f"[bold yellow]warning:[/] {escape(message)}", soft_wrap=True)


def label_mapping_note(mapping: dict | None) -> None:
    """The one line saying the data's classes were matched to the model's by name (stderr; nothing if identical)."""
    from rich.markup import escape

    if mapping and mapping.get("note"):
        stderr().print(f"[bold]note:[/] {escape(mapping['note'])}", soft_wrap=True)


def compress_deferred_line(target_name: str, why: str) -> Text:
    """The line before the device commands: why this machine cannot build the target, as plain text (an install
    hint such as ``pip install 'spc[tensorrt]'`` keeps its brackets; Rich would read them as markup)."""
    return Text(f"\nthis machine cannot build for {target_name}: {why.rstrip('.')}. On the device run:")
