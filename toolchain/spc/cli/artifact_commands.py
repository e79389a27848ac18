"""The device commands: targets, build, run and bench on ONNX and engine artifacts (no torch)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape

from ..console import shown_path, stderr, stdout
from ..errors import SpcError
from ..fileio import check_output_file
from .group import cli, print_lines
from .options import (BENCH_CFG, BUILD_CFG, CSV, HOP, POSITIVE, QUANTIZE_CFG, RUNS, SMOOTH, THREADS, WARMUP, Finite, api_option, cfg_option,
                      config_file_option, data_config, data_flags, make_config)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print every field of every target as JSON.")
@click.option("--check", "check_here", is_flag=True,
              help="Check this machine instead: TensorRT, cuda-python, the GPU and board, and which GPU targets it "
                   "can build (exit 1 where none).")
def targets(as_json, check_here):
    """List the device profiles in targets/ (use a name or a family with --target), or check this machine.

    \b
    Examples:
      spc targets
      spc targets --json
      spc targets --check        # on the board or in its container: what spc finds and can build here
    """
    from rich.table import Table

    from ..targets import load_targets

    if check_here:
        from ..engines.device import machine_check

        lines, ok = machine_check(load_targets())
        print_lines(lines)
        if not ok:
            raise SpcError("this machine can build none of the GPU targets (see above)")
        return
    found = sorted(load_targets().values(), key=lambda t: (t.family, t.name))
    if as_json:
        click.echo(json.dumps([t.as_dict() for t in found], indent=2))
        return
    table = Table(title="targets", caption="* the board a family name resolves to; --json for every field")
    for col in ("name", "family", "backend", "precision", "gpu (sm, SMs)", "batch", "seconds"):
        table.add_column(col, no_wrap=True)
    for t in found:
        p = t.profile
        gpu = f"{t.gpu} ({t.compute_capability}, {'/'.join(map(str, t.sm_counts)) or 'any'})" if t.is_gpu else "-"
        table.add_row(t.name + (" *" if t.family_default else ""), t.family, t.backend, t.precision, gpu,
                      f"{p.min_batch}/{p.opt_batch}/{p.max_batch}", f"{p.min_seconds}/{p.opt_seconds}/{p.max_seconds}")
    stdout().print(table)


@cli.command()
@click.argument("onnx_path", type=click.Path())
@click.option("--out", "out_path", type=click.Path(), help="Output .onnx file (default: NAME.int8-cpu.onnx beside it).")
@cfg_option(QUANTIZE_CFG, "per_channel", "--per-channel/--per-tensor", help="Weight scales per output channel.")
@cfg_option(QUANTIZE_CFG, "conv", "--conv", type=click.Choice(["fp32", "static"]),
            help="Convolutions: FP32, or static INT8 (QLinearConv, calibrated: needs --calibration and --data).")
@click.option("--calibration", "calib", help="Calibration manifest (spc calib make): calibrates --conv static, and "
              "the agreement gate runs on its clips (else on speech-like noise).")
@click.option("--data", "data_dir", type=click.Path(), help="Data folder the calibration manifest's clips are in.")
@config_file_option
@click.pass_context
def quantize(ctx, onnx_path, out_path, calib, data_dir, config_file, **_):
    """INT8 for the CPU: ONNX_PATH (an FP32 export) with its MatMul/Gemm weights in INT8, run by ONNX Runtime's
    integer kernels; the normalisations stay FP32, the convolutional front end too unless --conv static.
    Checked against the FP32 graph (top-1 agreement) before anything is written: on the --calibration clips
    where given, else on speech-like noise (where a trained model's logits nearly tie, so give real clips).
    For TensorRT use spc precision's QDQ int8.onnx instead.

    \b
    Examples:
      spc quantize report/artifacts/mimic.onnx && spc build report/artifacts/mimic.int8-cpu.onnx --target cpu
      spc quantize model.onnx --conv static --calibration calibration/fsdd-take-split-256.json --data ../shared/data/fsdd
    """
    from ..precision.int8_cpu import calibration_audio, quantize_for_cpu

    src = Path(onnx_path)
    if not src.is_file():
        raise SpcError(f"{src} does not exist")
    config = make_config(ctx, QUANTIZE_CFG, config_file)
    if (calib is None) != (data_dir is None):
        raise SpcError("--calibration and --data go together (the manifest names clips inside the data folder)")
    if config.conv == "static" and calib is None:
        raise SpcError("--conv static needs calibration clips: give --calibration MANIFEST --data DIR")
    out = Path(out_path) if out_path else src.with_name(f"{src.stem}.int8-cpu.onnx")
    audio, info = calibration_audio(src, calib, data_dir) if calib else (None, None)
    m = quantize_for_cpu(src, out, config, audio, info)
    gate = m["int8_gate"]
    convs = len(m["quantization"].get("conv", {}).get("nodes", []))
    print_lines([f"wrote {out} (INT8 {', '.join(m['quantization']['ops'])} weights"
                 + (f", {convs} convolutions static INT8" if convs else "")
                 + f"; top-1 agreement with FP32 {gate['top1_agreement']:.0%} on {gate['clips']} "
                 + f"{gate.get('on', 'speech-like clips')})"])


@cli.command()
@click.argument("onnx_path", type=click.Path())
@click.option("--target", "target_name", required=True, help="A target name or family (see spc targets).")
@click.option("--out", "out_path", type=click.Path(), help="Output artifact file or folder (default: beside the ONNX file).")
@cfg_option(BUILD_CFG, "fp32_layers", "--fp32-layers", type=CSV, multiple=True,
            help="TensorRT: ONNX node names to keep in FP32 (comma-separated or repeated).")
@cfg_option(BUILD_CFG, "fp32_from", "--fp32-from", type=click.Path(),
            help="TensorRT: keep in FP32 the layers this precision.json (spc precision) flagged.")
@cfg_option(BUILD_CFG, "timing_cache", "--timing-cache", type=click.Path(),
            help="TensorRT: folder of timing caches, one per GPU and TensorRT version (default: the artifact's).")
@cfg_option(BUILD_CFG, "threads", "--threads", type=THREADS,
            help="CPU: ONNX Runtime threads the artifact runs with (0: the target's, else the fastest count timed here).")
@config_file_option
@click.pass_context
def build(ctx, onnx_path, target_name, out_path, config_file, **_):
    """Build the artifact TARGET runs from ONNX_PATH: a TensorRT engine, or an optimised ONNX Runtime graph.

    A GPU target is built only on its own GPU (name, compute capability, SM count); elsewhere this
    says why and stops. An INT8 QDQ model from spc precision (int8.onnx) becomes an INT8 engine. A CPU
    build times its graph at 1, 2, ... threads up to the cores and keeps the fastest (fewest within 5%),
    which its runners use. The artifact's manifest records the build settings: --config ARTIFACT.json
    builds the same again.

    \b
    Examples:
      spc build model.onnx --target jetson-orin      # on the board: model.jetson-orin-nano.engine
      spc build model.onnx --target rtx-4090 --fp32-from precision/precision.json
      spc build model.onnx --target cpu              # model.cpu.ort.onnx
    """
    from ..engines import build_artifact
    from ..targets import get_target

    target = get_target(target_name)
    report = build_artifact(onnx_path, target, out_path, make_config(ctx, BUILD_CFG, config_file, key="build_config"))
    choice = report.manifest.get("thread_choice") or {}
    threads = "" if not choice else f", {choice['threads']} thread{'s' * (choice['threads'] != 1)} ({choice['chosen_by']})"
    stdout().print(f"built [bold]{report.artifact}[/] for {target.name} ({target.backend}, "
                   f"{report.manifest.get('precision', target.precision)}{threads}); manifest {report.artifact}.json")
    fusion = report.manifest.get("fusion") or {}
    if fusion.get("fallback"):
        stderr().print(f"note: {fusion['note']}", markup=False, highlight=False)


@cli.command(name="run")
@click.argument("artifact", type=click.Path())
@click.argument("audio_path", type=click.Path())
@click.option("--top", default=3, show_default=True, type=POSITIVE, help="Classes to show for a clip.")
@click.option("--stream/--clip", "as_stream", default=None,
              help="Detect keywords along the recording (default: when it is longer than 1.5 clips).")
@click.option("--hop", type=HOP, help="Stream: window hop in seconds (default: the artifact's operating point).")
@click.option("--smooth", type=SMOOTH, help="Stream: posteriors averaged over this many windows (default: the artifact's).")
@click.option("--threshold", type=Finite(0, 1, min_open=True),
              help="Stream: detection threshold on the smoothed posterior (default: the artifact's).")
@click.option("--refractory", type=Finite(0, 3600), help="Stream: seconds between detections (default: the artifact's).")
@api_option("spc.runtime:KeywordSpotter", "threads", "--threads", type=THREADS, help="ONNX Runtime threads (0: default; at most the cores).")
def run_cmd(artifact, audio_path, top, as_stream, hop, smooth, threshold, refractory, threads):
    """Classify AUDIO_PATH with an exported model or engine, or detect keywords along a recording.

    A stream runs at the operating point the artifact carries (spc compress chose it on validation streams at
    your false-accept budget); an option given changes that one setting, and the output says which point is in
    force. An artifact without one runs at spc's defaults, and says so.

    \b
    Examples:
      spc run model.onnx yes.wav
      spc run report/artifacts/mimic.cpu.ort.onnx kitchen-recording.wav --stream
      spc run model.onnx kitchen-recording.wav --stream --threshold 0.9
    """
    from rich.table import Table

    from ..audio import BadAudio, read_audio
    from ..runtime import KeywordSpotter, StreamingSpotter

    with KeywordSpotter(artifact, threads=threads) as spotter:
        try:
            x = read_audio(audio_path, spotter.sampling_rate)
        except BadAudio as exc:
            raise SpcError(f"{shown_path(audio_path)}: {exc}") from None
        if as_stream is None:
            as_stream = len(x) > 1.5 * spotter.clip_samples
        if as_stream:
            live = StreamingSpotter(spotter, hop_seconds=hop, smooth=smooth, threshold=threshold,
                                    refractory_seconds=refractory)
            found = live.push(x) + live.flush()
            table = Table(title=f"keywords in {escape(shown_path(audio_path))}", title_justify="left")
            for col in ("time (s)", "keyword", "score"):
                table.add_column(col)
            for d in found:
                table.add_row(f"{d.time_s:.2f}", escape(d.label), f"{d.score:.3f}")
            stdout().print(table)
            stdout().print(f"operating point: {escape(live.point_source)}: {escape(live.point.describe())}")
        else:
            table = Table(title=escape(shown_path(audio_path)), title_justify="left")
            table.add_column("class")
            table.add_column("probability", justify="right")
            for label, p in spotter.classify(x, top):
                table.add_row(escape(label), f"{p:.4f}")
            stdout().print(table)


@cli.command(name="bench")
@click.argument("artifacts", nargs=-1, required=True)
@click.option("--target", "target_name", help="Shapes from this target's profile (default: the target the first "
              "artifact was built for), kept within each engine's own profile.")
@click.option("--data", "data_dir", type=click.Path(), help="Also measure accuracy on this data set.")
@cfg_option(BENCH_CFG, "split", "--split", type=click.Choice(["validation", "test"]))
@click.option("--report", "report_dir", type=click.Path(), help="Add the figures to this compress report.")
@cfg_option(BENCH_CFG, "runs", "--runs", type=RUNS, help="Timed runs per shape (after warm-up).")
@cfg_option(BENCH_CFG, "warmup", "--warmup", type=WARMUP)
@cfg_option(BENCH_CFG, "threads", "--threads", type=THREADS, help="ONNX Runtime threads (0: default; at most the cores).")
@click.option("--json", "json_path", type=click.Path(), help="Write the results to this JSON file.")
@config_file_option
@data_flags
@click.pass_context
def bench_cmd(ctx, artifacts, target_name, data_dir, report_dir, json_path, config_file, **_):
    """Latency (p50/p90/p99/mean, clips per second) of ARTIFACTS side by side, at the target's shapes.

    ARTIFACTS are .onnx / .ort.onnx / .engine files with manifests, or model folders (PyTorch).
    Several artifacts are timed in interleaved rounds, so their ratios are measured in one run.
    --config takes the settings of an earlier --json result.

    \b
    Example (on the board, after spc compress printed it):
      spc bench report/artifacts/pruned.jetson-orin-nano.engine --target jetson-orin-nano --data data --report report
    """
    from ..recipes.bench import run_bench

    config = make_config(ctx, BENCH_CFG, config_file)
    if json_path:
        check_output_file(json_path)  # before the timing, not after
    result = run_bench(list(artifacts), target_name, data=data_config(ctx) if data_dir else None,
                       report_dir=report_dir, config=config)
    from ..console import bench_table, label_mapping_note

    for mapping in {m["note"]: m for m in result.get("label_mapping", {}).values() if m.get("note")}.values():
        label_mapping_note(mapping)
    stdout().print(bench_table(result))
    if json_path:
        from ..fileio import atomic_write_text

        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json_path, json.dumps(result, indent=2))
