"""The main job and the built-in default: ``spc compress`` and ``spc demo``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from ..console import pct, stdout
from ..fileio import check_output_dir, read_json
from .group import cli
from .options import (COMPRESS_CFG, DEMO_CFG, Finite, POSITIVE, RETENTION, RUNS, SEED, cfg_option, config_file_option,
                      data_config, data_flags, detector_options, make_config)


@cli.command()
@click.argument("model")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder (train/validation/test).")
@click.option("--target", "target_name", default="cpu", show_default=True, help="Target name or family (spc targets).")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Report folder (report.md, report.json, artifacts).")
@cfg_option(COMPRESS_CFG, "method", "--method",
            help="auto: try both and keep the fastest candidate that meets the target.")
@cfg_option(COMPRESS_CFG, "retention", "--retention", type=RETENTION, help="Keep at least this fraction of the accuracy.")
@cfg_option(COMPRESS_CFG, "prune.heal.method", "--heal", help="How pruned candidates are repaired.")
@cfg_option(COMPRESS_CFG, "prune.heal.stream_windows", "--heal-windows", type=Finite(0, 20),
            help="Stream-like windows per training clip that heals learn from (0: aligned clips only).")
@cfg_option(COMPRESS_CFG, "mimic.kind", "--mimic-kind", help="layer, transformer or linear.")
@cfg_option(COMPRESS_CFG, "mimic.n_layers", "--mimic-layers", type=click.IntRange(1, 2))
@cfg_option(COMPRESS_CFG, "distill.stage1.epochs", "--stage1-epochs", type=POSITIVE)
@cfg_option(COMPRESS_CFG, "distill.stage2.epochs", "--stage2-epochs", type=POSITIVE)
@cfg_option(COMPRESS_CFG, "analysis_clips", "--analysis-clips", type=click.IntRange(min=4))
@cfg_option(COMPRESS_CFG, "calib", "--calib", help="Calibration manifest for the analysis and BI scoring (see spc calib).")
@cfg_option(COMPRESS_CFG, "latency_runs", "--latency-runs", type=RUNS)
@cfg_option(COMPRESS_CFG, "seed", "--seed", type=SEED)
@cfg_option(COMPRESS_CFG, "stream", "--stream/--no-stream",
            help="Also judge the original and the chosen artifact as streaming detectors (misses, false accepts/h).")
@detector_options(COMPRESS_CFG, "detector.")
@cfg_option(COMPRESS_CFG, "train_negatives_hours", "--train-negatives-hours", type=Finite(0, 100),
            help="Hours of keyword-free espeak-ng speech the stream-like training windows are also cut from.")
@cfg_option(COMPRESS_CFG, "negatives", "--negatives", type=click.Path(),
            help="A folder of your own long non-keyword recordings for the test streams.")
@cfg_option(COMPRESS_CFG, "int8_cpu", "--int8-cpu/--no-int8-cpu",
            help="CPU targets: also try the INT8 CPU variant (integer projections, static INT8 convolutions) of the original and of every candidate.")
@click.option("--tiny", "with_tiny", is_flag=True,
              help="Also distil a tiny student with its own log-mel front end (distill --kind tiny) as a candidate.")
@config_file_option
@click.option("--map-labels", is_flag=True, help="The data holds only some of the model's classes: match them by name.")
@click.option("--overwrite", is_flag=True, help="Replace an existing report folder.")
@data_flags
@click.pass_context
def compress(ctx, model, data_dir, target_name, out_dir, config_file, overwrite, **_):
    """The main job: MODEL -> an artifact for --target that keeps --retention of the accuracy, with a report.

    Analyses, prunes (healing the candidates) and/or distils, exports to ONNX (parity-checked), judges
    every candidate on validation as a classifier (clip retention) and as a streaming detector (each at its
    own operating point, chosen at --max-fa-per-hour on validation streams, clips at --snr-db, the split's own
    non-keyword clips and any --validation-synthetic-negatives hours as the negative audio), picks the fastest that meets --retention in both (timed as built for the target:
    each passing candidate's CPU graph on the threads its build chose, or its engine), and evaluates
    the built artifact itself on the test split, as clips and as a detector read at the operating point it
    carries (its manifest holds it; spc run --stream and spc.runtime use it).
    Re-running reuses finished stages (keyed by the model's weights, the data and the settings).
    Where this machine cannot build the target's engine, it stops at ONNX and prints the commands to
    run on the device.

    \b
    Examples:
      spc compress fsdd-teacher --data ../shared/data/fsdd --target cpu --out fsdd-report
      spc compress kws-teacher --data speech_commands_v0.02 --target jetson-orin --out kws-report
      spc compress kws-teacher --data sc --out again --config kws-report/report.json
    """
    from ..recipes.compress import run_compress

    from dataclasses import replace

    from ..models import MimicConfig

    config = make_config(ctx, COMPRESS_CFG, config_file)
    if ctx.params["with_tiny"] and config.tiny is None:
        config = replace(config, tiny=MimicConfig(kind="tiny"))
    report = run_compress(model, data_config(ctx), out_dir, target_name, config=config, overwrite=overwrite)
    print_compress_summary(report, out_dir)


def print_compress_summary(report: dict, out_dir) -> None:
    from ..console import compress_deferred_line, compress_table, compress_verdict_line, label_mapping_note

    label_mapping_note(report.get("label_mapping"))
    stdout().print(compress_table(report))
    stdout().print(compress_verdict_line(report, Path(out_dir) / "report.md"))
    for warning in report.get("warnings", []):
        stdout().print(f"[bold yellow]warning:[/] {escape(str(warning))}")
    for line in report.get("next_steps", []):
        if line == report["next_steps"][0]:
            stdout().print(compress_deferred_line(report["target"]["name"], str(report["build"].get("deferred"))))
        stdout().print(f"  {escape(line)}", soft_wrap=True)


@cli.command()
@click.option("--out", "out_dir", default="spc-demo", show_default=True, type=click.Path(), help="Work folder.")
@cfg_option(DEMO_CFG, "train.epochs", "--epochs", type=POSITIVE, help="Teacher training epochs.")
def demo(out_dir, epochs):
    """The built-in default: offline keyword data (espeak-ng), a small teacher, then spc compress on it.

    \b
    1. 3,000 one-second clips of ten spoken words (ten voices, rates, pitches, noise), made offline;
    2. a Whisper-architecture teacher (0.87 M parameters, log-mel front) trained from scratch on them;
    3. spc compress --target cpu --method auto on that teacher, with its report.
    Needs no network and no GPU; about 5 minutes on 2 CPU cores. Writes OUT/data, OUT/teacher,
    OUT/report (report.md, report.json, the CPU artifact) and OUT/demo.json. Re-running reuses what is done.
    """
    from dataclasses import replace

    from ..recipes.demo import DEMO_TRAIN, run_demo

    train = replace(DEMO_TRAIN, train=replace(DEMO_TRAIN.train, epochs=epochs))
    check_output_dir(out_dir)
    result = run_demo(out_dir, train=train)
    stdout().print(
        f"demo teacher: test accuracy {pct(result['test_accuracy'])} (chance {pct(result['chance'])}), "
        f"{result['params']['total'] / 1e6:.2f} M parameters"
    )
    print_compress_summary(read_json(Path(out_dir) / "report" / "report.json", "compress report"), Path(out_dir) / "report")
    for line in demo_stream_lines(result.get("stream")):
        stdout().print(line)
    took = result["seconds"]
    stdout().print(f"demo took {took['total']:.0f} s (data {took['data']:.0f} s, teacher {took['teacher']:.0f} s, "
                   f"compress {took['compress']:.0f} s, streams {took.get('stream', 0):.0f} s); summary in "
                   f"{Path(out_dir) / 'demo.json'}")


def demo_stream_lines(stream: dict | None) -> list[str]:
    """The demo's streaming figures in plain lines (shown, not judged): the miss rate at each model's operating point
    (chosen on validation), or that the streams cannot resolve the budget."""
    if not stream:
        return []
    res = stream["fa_per_hour_resolution"]
    lines = [f"streams (not judged): keywords {', '.join(stream['keywords'])} at {stream['snr_db'][0]:g}-"
             f"{stream['snr_db'][1]:g} dB SNR, {stream['keyword_occurrences']} occurrences, "
             f"{stream['negative_hours']:.2f} h of non-keyword stream (one false accept = "
             f"{res:.1f} per hour); at <= {stream['max_fa_per_hour']:g} FA/h, operating points chosen on validation:"]
    if not stream["resolved"]:
        return lines + [f"  {stream['note']}: no miss rate is shown"]
    for name, f in stream["figures"].items():
        lines.append(f"  {name}: " + (f"miss rate {f['miss_rate']:.3f} at threshold {f['threshold']:.4g} "
                                      f"({f['fa_per_hour']:.1f} FA/h)" if f["miss_rate"] is not None
                                      else "no threshold meets the budget"))
    return lines
