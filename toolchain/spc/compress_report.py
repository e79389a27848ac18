"""The compress report: report.json (every figure and setting) and report.md (readable on its own)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .console import compress_verdict, detector_text, interval, millions, pct, retention_text
from .fileio import atomic_write_text
from .plotting import finish_axes, pyplot, save_png
from .recipes.compress.candidate import Candidate


#: report.json's layout (compress writes it, ``bench --report`` adds to it): 3 since each model carries the
#: operating point it is read at
REPORT_SCHEMA = 3

def candidates_of(report: dict) -> dict[str, Candidate]:
    """A report's candidate rows as typed candidates (what the tables and figures render from)."""
    return {name: Candidate.from_dict(row) for name, row in report["candidates"].items()}


def accuracy_latency_figure(report: dict, path: Path) -> Path:
    """Validation accuracy against measured latency, one point per candidate, with the retention line: each
    candidate's latency as built for the target (what compress ranks by) where it was built, else (it failed
    on validation, or the target is built on a device) its ONNX export's, marked x."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=110)
    rows = candidates_of(report)
    any_built = any(c.latency_target_ms for c in rows.values())
    for name, c in rows.items():
        built = c.latency_target_ms
        x, y = (built or c.latency_onnx_ms)["p50_ms"], c.val_accuracy
        marker = "*" if name == report["chosen"] else "o" if built or not any_built else "x"
        ax.scatter([x], [y], s=60, marker=marker)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    base = report["candidates"]["original"]["val_accuracy"]
    ax.axhline(report["retention_target"] * base, color="red", ls=":", lw=1,
               label=f"{report['retention_target']:.0%} of the original")
    what = "as built for the target; x: ONNX export, not built" if any_built else "ONNX Runtime, ONNX exports"
    ax.set_xlabel("latency p50 (ms, batch 1, %s)" % what)
    ax.set_title("candidates: accuracy vs measured latency", fontsize=10)
    ax.set_xlim(left=0)
    finish_axes(ax, legend_loc="lower right", legend_size=8)
    return save_png(fig, path)


def _figures(report: dict, out: Path) -> dict[str, str]:
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    found = {}
    analysis = Path(report["analysis"]).parent
    for name in ("heatmap_cka.png", "heatmap_cosine.png", "block_influence.png"):
        if (analysis / name).is_file():
            shutil.copy2(analysis / name, figs / name)
            found[name] = f"figures/{name}"
    prune = next((c for c in candidates_of(report).values() if c.method == "prune"), None)
    if prune and (Path(prune.summary).parent / "curves.png").is_file():
        shutil.copy2(Path(prune.summary).parent / "curves.png", figs / "pruning_curves.png")
        found["pruning_curves.png"] = "figures/pruning_curves.png"
    accuracy_latency_figure(report, figs / "accuracy_latency.png")
    found["accuracy_latency.png"] = "figures/accuracy_latency.png"
    return found


def _threads_text(final: dict) -> str:
    """The ONNX Runtime threads each side ran on, where recorded (a CPU build picks its own by timing)."""
    mine, orig = final["latency_ms"].get("threads"), final["original_latency_ms"].get("threads")
    if mine is None or orig is None:
        return ""
    return f", {mine or 'default'} vs {orig or 'default'} ONNX Runtime threads, as each build chose"


def render_markdown(report: dict, figures: dict[str, str]) -> str:
    """compress's report.md from its report.json (``figures``: image name -> path relative to the report)."""
    lines = [*_summary_lines(report), *_candidate_lines(report), *_floor_lines(report.get("latency_floor")),
             *_tiny_lines((report.get("config") or {}).get("tiny"), "tiny" in report.get("candidates", {})),
             *_params_lines(report), *_device_lines(report.get("device_results")), *_stream_lines(report.get("stream")),
             *_figure_lines(figures), *_next_step_lines(report), *_settings_lines(report)]
    return "\n".join(lines) + "\n"


def _summary_lines(report: dict) -> list[str]:
    """The title, the verdict with its figures, warnings and how the candidate was chosen."""
    f = report["final"]
    return [
        f"# spc compress report: {report['model']} for {report['target']['name']}",
        "",
        f"**{compress_verdict(report)}**: the {f['kind']} artifact keeps **{f['retention']:.3f}** of the original's test "
        f"accuracy ({pct(f['test_accuracy'])} vs {pct(f['original_test_accuracy'])}; target "
        f"{report['retention_target']:.2f}{_uncertainty(f)}), and runs **{f['speedup_p50']:.2f}x** faster (p50 "
        f"{f['latency_ms']['p50_ms']:.2f} ms vs {f['original_latency_ms']['p50_ms']:.2f} ms, batch "
        f"{f['latency_ms']['batch']}, {f['latency_ms']['samples']} samples{_threads_text(f)}) on "
        f"{report['machine'].get('gpu') or report['machine']['cpu']}.",
        "",
        *_detector_lines(f),
        *[f"> **Warning:** {w}\n" for w in report.get("warnings", [])],
        f"Chosen candidate: **{report['chosen']}** (method `{report['method']}`); artifact `{f['artifact']}`. "
        "Both accuracies are of the exported artifacts run by ONNX Runtime (or TensorRT) on the test split, "
        "never of the PyTorch models; candidates were chosen on the validation split."
        + (f" Choice: {report['choice']['reason']}." if (report.get("choice") or {}).get("reason") else ""),
        "",
        *_uncertainty_note(report),
    ]


def _candidate_lines(report: dict) -> list[str]:
    """The candidates table (the chosen one starred)."""
    lines = [
        "## Candidates",
        "",
        "| candidate | method | parameters | stack layers | val acc (artifact) | val retention | passed by (clips) | detector retention (val) | latency p50 (ms) | vs original | x floor | as built p50 (ms) | parity max diff |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, c in candidates_of(report).items():
        mark = " *" if name == report["chosen"] else ""
        lines.append(
            f"| {name}{mark} | {c.method} | {millions(c.params['total'])} | {millions(c.params['stack_layers'])} | "
            f"{pct(c.val_accuracy)} | {retention_text(c.val_retention, c.val_retention_ci)} | "
            f"{_margin(c.val_margin_clips)} | {detector_text(c.detector_val)} | {c.latency_onnx_ms['p50_ms']:.2f} | "
            f"{c.latency_ratio:.2f}x | {_x_floor(c)} | {_as_built(c)} | {c.parity['max_abs_diff']:.1e} |")
    return lines


def _params_lines(report: dict) -> list[str]:
    """Parameters of each candidate by part."""
    lines = ["", "## Parameters by part", "", "| candidate | feature encoder | stack | stack layers | head | total |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, c in candidates_of(report).items():
        p = c.params
        lines.append(f"| {name} | {millions(p['feature_encoder'])} | {millions(p['stack'])} | "
                     f"{millions(p['stack_layers'])} | {millions(p['head'])} | {millions(p['total'])} |")
    return lines


def _device_lines(device_results: list | None) -> list[str]:
    """What a device measured of the built artifacts (after ``bench --report``), if anything."""
    if not device_results:
        return []
    lines = ["", "## Measured on the device", "", "| artifact | batch | samples | p50 ms | p99 ms | clips/s | test acc |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in device_results:
        for row in r["latency"]:
            lines.append(f"| {Path(r['artifact']).name} | {row['batch']} | {row['samples']} | {row['p50_ms']:.2f} | "
                         f"{row['p99_ms']:.2f} | {row['clips_per_s']:.1f} | {pct(r.get('accuracy'))} |")
    return lines


_FIGURE_TITLES = {"accuracy_latency.png": "Accuracy against measured latency", "heatmap_cka.png": "Layer similarity (CKA)",
                  "heatmap_cosine.png": "Layer similarity (cosine)", "block_influence.png": "Block Influence per layer",
                  "pruning_curves.png": "Pruning curves (validation)"}


def _figure_lines(figures: dict[str, str]) -> list[str]:
    lines = ["", "## Figures", ""]
    for name, rel in figures.items():
        title = _FIGURE_TITLES.get(name, name)
        lines += [f"### {title}", "", f"![{title}]({rel})", ""]
    return lines


def _next_step_lines(report: dict) -> list[str]:
    """The commands to run on the device when this machine could not build for the target."""
    if not report.get("next_steps"):
        return []
    return ["## On the device", "", f"This machine could not build for {report['target']['name']} "
            f"({report['build'].get('deferred')}). Run there, from this folder's parent:", "", "```bash",
            *report["next_steps"], "```", ""]


def _settings_lines(report: dict) -> list[str]:
    t, d = report["target"], report["data"]
    return ["## Settings", "", f"- data: `{d['root']}` ({d['layout']}), {d['val_clips']} validation and "
            f"{d['test_clips']} test clips, {len(d['skipped'])} files skipped",
            f"- target: {t['name']} ({t['backend']}, {t['precision']}; {t['power_mode']})",
            f"- calibration: {report['calibration']['manifest']} (hash {report['calibration']['hash']})"
            if report.get("calibration") else "- calibration: a seeded class-balanced sample of the validation split",
            f"- machine: {report['machine']}", f"- versions: {report['versions']}",
            f"- stages: {', '.join(report['stages'])}; {report['seconds']} s",
            "", "Every setting is in `report.json`."]

def _x_floor(c: Candidate) -> str:
    return "-" if c.latency_x_floor is None else f"{c.latency_x_floor:.2f}x"


def _as_built(c: Candidate) -> str:
    """The candidate built for the target and timed as built (what compress ranks by), with its ratio to the
    original built the same way; "-" where it was not built (it failed on validation, or a device builds it)."""
    if not c.latency_target_ms:
        return "-"
    ratio = c.latency_target_ratio
    return f"{c.latency_target_ms['p50_ms']:.2f}" + (f" ({ratio:.2f}x)" if ratio is not None else "")


def _floor_lines(floor: dict | None) -> list[str]:
    """The latency floor under the candidates table: what a model with no stack at all costs."""
    if not floor:
        return []
    return ["", f"Latency floor: {floor['p50_ms']:.2f} ms p50 ({floor['vs_original']:.2f} of the original's), "
                f"{floor['what']}. \"x floor\" is each candidate's latency over it: 1.00x would leave nothing to gain "
                "by shrinking the stack further; the rest is the front end's."]


def _tiny_lines(design: dict | None, present: bool) -> list[str]:
    """What the tiny candidate's own front end computes, beside the original's (which every other candidate keeps)."""
    if not design or not present:
        return []
    width = design.get("width") or 96
    return ["", f"`tiny` has a front end of its own, trained from nothing with the student: log-mel features computed in "
                f"the graph ({design.get('mel_bins', 40)} bands, {design.get('n_fft', 400) / 16:g} ms windows, 10 ms hop) "
                f"-> two 1-D convolutions (kernel 3, the second with stride 2: 50 frames per second, {width} channels) -> "
                f"fixed sinusoidal positions -> {design.get('n_layers', 1)} block(s) {width} wide. Every other candidate "
                "keeps the original's pre-trained front end, so its features are the original's; the tiny student's are "
                "its own, tied to the original's only through the stage-1 projection of its last hidden state."]


def _detector_lines(final: dict) -> list[str]:
    """The test verdict's second half: the built artifact as a detector against the original (or why not judged)."""
    d = final.get("detector") or {}
    if not d.get("judged"):
        return [f"As a detector: not judged ({d['why']}).", ""] if d.get("why") else []
    lo, hi = (d.get("retention_ci") or [None, None])
    how = ("hit rate at its carried operating point" if d.get("mode") != "absolute"
           else "1 - its extra misses over the original's (the original is not a usable detector here)")
    return [f"As a detector on the test streams, each model at the operating point it carries (chosen on validation): "
            f"hit rate {pct(d.get('hit_rate'))} against the original's {pct(d.get('original_hit_rate'))} over "
            f"{d.get('keywords')} keyword occurrences; detector retention ({how}) **{d['retention']:.3f}**"
            + (f" (95% interval {lo:.3f}-{hi:.3f}, occurrences and negative blocks resampled, thresholds re-chosen)"
               if lo is not None else "")
            + f", {d.get('verdict')}. A candidate must clear the target in both clip and detector retention.", ""]


def _margin(clips: int | None) -> str:
    """Validation clips a candidate cleared the target by (+) or missed it by (-)."""
    return "-" if clips is None else f"{clips:+d}"


def _stream_lines(stream: dict | None) -> list[str]:
    """The app's terms: each model at the operating point it carries, on the test streams, with the oracle beside."""
    if not stream:
        return []
    num = lambda x, spec: "-" if x is None else format(x, spec)  # noqa: E731
    hours = stream.get("negative_hours")
    per = 1 / hours if hours else None
    lines = ["", "## As a streaming detector", "",
             f"Long recordings built from the test split (keywords: {', '.join(stream['keywords'])}; every clip at "
             f"{stream['snr_db'][0]:g}-{stream['snr_db'][1]:g} dB SNR over noise; {num(hours, '.2f')} h of negative "
             f"audio: one false accept = {num(per, '.3g')} per hour). Each model runs at the operating point its "
             f"artifact carries, chosen on the validation streams at {stream['max_fa_per_hour']:g} false accepts per "
             f"hour; the oracle column is the best point on test itself, which no app can ship "
             f"(DET curve: `{stream['det_png']}`; every occurrence and false accept: `{stream['json']}`).", "",
             "| model | operating point | miss rate at it (95% interval) | false accepts / h | oracle miss rate | "
             "latency median |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for name in ("original", "compressed"):
        r = stream.get(name) or {}
        p = r.get("operating_point") or {}
        ci = r.get("miss_rate_ci") or [None, None]
        miss = (f"{num(r.get('miss_rate'), '.3f')} ({num(ci[0], '.3f')}-{num(ci[1], '.3f')})" if r.get("resolved")
                else "not resolved")
        lines.append(f"| {name} | threshold {num(p.get('threshold'), '.4g')}, smoothing {p.get('smooth', '-')}, "
                     f"refractory {num(p.get('refractory_seconds'), 'g')} s | {miss} | {num(r.get('fa_per_hour'), '.2f')} | "
                     f"{num((r.get('oracle') or {}).get('miss_rate'), '.3f')} | {num(r.get('latency_median_s'), '.2f')} s |")
    bands = (stream.get("compressed") or {}).get("snr_bands") or []
    if bands:
        lines += ["", "Misses per SNR band (original / compressed): " + ", ".join(
            f"{b['snr_db'][0]:g}-{b['snr_db'][1]:g} dB {o['misses']}/{b['misses']} of {b['keywords']}"
            for o, b in zip((stream.get("original") or {}).get("snr_bands") or bands, bands)) + "."]
    top = (stream.get("compressed") or {}).get("top_sources") or []
    if top:
        lines += ["", "Negative sources that fire the compressed artifact most: " + "; ".join(
            f"`{t['source']}` ({t['kind']}, {t['false_accepts']})" for t in top[:10]) + "."]
    return lines


def _uncertainty(final: dict) -> str:
    """``; 95% interval lo-hi over N test clips; McNemar exact p = x`` for the summary, from what was recorded."""
    parts = []
    bounds = interval(final.get("retention_ci"))
    if bounds:
        n = (final.get("test") or {}).get("n_clips")
        parts.append(f"95% interval {bounds[0]:.3f}-{bounds[1]:.3f}" + (f" over {n} test clips" if n else ""))
    if final.get("mcnemar_p") is not None:
        parts.append(f"McNemar exact p = {final['mcnemar_p']:.3g}")
    return "".join(f"; {p}" for p in parts)


def _uncertainty_note(report: dict) -> list[str]:
    """How to read the intervals and the p-value (only when the report holds them)."""
    f = report["final"]
    has_ci = interval(f.get("retention_ci")) or any(interval(e.get("val_retention_ci"))
                                                     for e in report["candidates"].values())
    if not has_ci and f.get("mcnemar_p") is None:
        return []
    return ["Retention intervals are 95% paired bootstrap intervals over clips (the original and the candidate "
            "scored on the same clips); a PASS whose interval reaches below the target says \"not significant\". "
            "McNemar's exact test compares the two on the clips where exactly one is right: a small p means the "
            "accuracy change is real, not the luck of the sample.", ""]


def write_report(report: dict, out: Path) -> None:
    """Write report.json and report.md (with figures) into ``out``, atomically per file."""
    out.mkdir(parents=True, exist_ok=True)
    figures = _figures(report, out)
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, default=str))
    atomic_write_text(out / "report.md", render_markdown(report, figures))
