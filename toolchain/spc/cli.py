"""The ``spc`` command: a thin Click layer over the Python API (see ``spc --help``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .console import eval_table, params_table, pct, stderr, stdout
from .errors import SpcError

LAYOUT_HELP = "Data layout: auto, speech-commands, speech-commands-v2-12, folders, fsdd."


class SpcGroup(click.Group):
    """Turns user errors into one red line and exit code 1, with no traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SpcError as exc:
            stderr().print(f"[bold red]error:[/] {exc}", soft_wrap=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            stderr().print("[yellow]interrupted[/]: run the same command again to resume")
            ctx.exit(130)


def data_options(split_by: str | None, test_speaker: str | None, task: str | None) -> dict:
    opts = {}
    if split_by:
        opts["split_by"] = split_by
    if test_speaker:
        opts["test_speaker"] = test_speaker
    if task:
        opts["task"] = task
    return opts


def data_flags(f):
    f = click.option("--layout", default="auto", show_default=True, help=LAYOUT_HELP)(f)
    f = click.option("--split-by", type=click.Choice(["take", "speaker"]), help="fsdd layout: split rule.")(f)
    f = click.option("--test-speaker", help="fsdd layout with --split-by speaker: the held-out speaker.")(f)
    f = click.option("--task", type=click.Choice(["35", "v2-12"]), help="speech-commands layout: the task.")(f)
    return f


def run_flags(f):
    """Options every model-producing command shares (prune, distill)."""
    f = click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")(f)
    f = click.option("--map-labels", is_flag=True, help="Match data classes to the model's by name.")(f)
    f = click.option("--device", default="auto", show_default=True)(f)
    f = click.option("--seed", default=0, show_default=True)(f)
    f = click.option("--latency-runs", default=20, show_default=True, help="Timed CPU runs per model (0: skip).")(f)
    return f


@click.group(cls=SpcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spc")
def cli():
    """Compress fine-tuned speech transformers for keyword spotting on Jetson and desktop GPUs.

    \b
    Examples:
      spc demo                                   # the built-in default, offline, CPU
      spc finetune facebook/wav2vec2-base --data speech_commands_v0.02 --out kws-teacher
      spc eval kws-teacher --data speech_commands_v0.02 --split test
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # spc shows its own progress; keep the terminal readable


@cli.command()
def families():
    """List the model families spc handles (by config.model_type)."""
    from .families import supported_model_types

    for name in supported_model_types():
        stdout().print(name)


@cli.command()
@click.argument("backbone")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder.")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Output model folder.")
@click.option("--epochs", default=10, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--lr", default=1e-4, show_default=True, help="Peak learning rate (AdamW, warm-up then linear decay).")
@click.option("--seed", default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--clip-seconds", default=1.0, show_default=True, help="Clips are padded or cropped to this length.")
@click.option("--freeze-feature-encoder/--train-feature-encoder", default=True, show_default=True)
@click.option("--augment/--no-augment", default=True, show_default=True, help="Random shift and gain.")
@click.option("--overwrite", is_flag=True, help="Delete the output folder first.")
@data_flags
def finetune(backbone, data_dir, out_dir, epochs, batch_size, lr, seed, device, clip_seconds,
             freeze_feature_encoder, augment, overwrite, layout, split_by, test_speaker, task):
    """Fine-tune BACKBONE into a keyword-spotting classifier (the paper's teacher step).

    BACKBONE is a hub id, a local model folder, a config .json (trained from scratch) or a preset
    (preset:wav2vec2-small, preset:wav2vec2-base). Validation runs every epoch and the best model is
    kept in --out; an interrupted run resumes when the same command is run again.

    \b
    Example:
      spc finetune preset:wav2vec2-small --data ../shared/data/fsdd --out fsdd-teacher --lr 1e-3
    """
    from .recipes.finetune import run_finetune
    from .train import TrainConfig

    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device,
                         freeze_feature_encoder=freeze_feature_encoder, augment=augment)
    summary = run_finetune(backbone, data_dir, out_dir, config=config, layout=layout, clip_seconds=clip_seconds,
                           overwrite=overwrite, data_options=data_options(split_by, test_speaker, task))
    out = stdout()
    out.print(params_table(summary["params"]))
    out.print(f"best epoch {summary['best_epoch'] + 1}: validation {pct(summary['val_accuracy'])}, "
              f"test {pct(summary['test_accuracy'])}; model in [bold]{summary['model']}[/]")


@cli.command(name="eval")
@click.argument("model")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "validation", "test"]))
@click.option("--map-labels", is_flag=True, help="Match data classes to the model's by name.")
@click.option("--batch-size", default=32, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of a table.")
@data_flags
def eval_cmd(model, data_dir, split, map_labels, batch_size, device, as_json, layout, split_by, test_speaker, task):
    """Accuracy, per-class accuracy and confusion matrix of MODEL on a data split.

    \b
    Example:
      spc eval fsdd-teacher --data ../shared/data/fsdd --split test --json
    """
    from .console import label_mapping_note
    from .data.clips import LabelSubsetError
    from .recipes.evaluate import run_eval

    try:
        result = run_eval(model, data_dir, split=split, layout=layout, by_name=map_labels, batch_size=batch_size,
                          device=device, show_progress=not as_json,
                          data_options=data_options(split_by, test_speaker, task))
    except LabelSubsetError as exc:
        raise SpcError(f"{exc}; add --map-labels to score the model on these classes only") from None
    label_mapping_note(result.label_mapping)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        stdout().print(eval_table(result, f"{model} on {split}"))


@cli.command()
@click.argument("model", required=False)
@click.option("--data", "data_dir", type=click.Path(), help="Data folder (the calibration clips come from it).")
@click.option("--out", "out_dir", type=click.Path(), help="Folder for analysis.json and the PNG figures.")
@click.option("--clips", "n_clips", default=256, show_default=True, help="Calibration clips (class-balanced sample).")
@click.option("--split", default="validation", show_default=True, type=click.Choice(["train", "validation"]),
              help="Split the calibration clips are drawn from (never the test split).")
@click.option("--batch-size", default=64, show_default=True, help="Clips per batch (CKA and kNN are per batch).")
@click.option("--k", default=10, show_default=True, help="Neighbours for mutual kNN alignment.")
@click.option("--seed", default=0, show_default=True)
@click.option("--block-metric", default="cka", show_default=True,
              type=click.Choice(["cosine", "cosine_frames", "cka", "cka_batch_biased", "mutual_knn"]))
@click.option("--device", default="auto", show_default=True)
@click.option("--map-labels", is_flag=True, help="Match data classes to the model's by name.")
@click.option("--calib", help="Calibration manifest (name or path) instead of a fresh sample; see spc calib.")
@click.option("--compare", nargs=2, type=click.Path(exists=True, dir_okay=False), metavar="A.json B.json",
              help="Show two earlier analyses side by side instead of running one.")
@data_flags
def analyze(model, data_dir, out_dir, n_clips, split, batch_size, k, seed, block_metric, device, map_labels, calib,
            compare, layout, split_by, test_speaker, task):
    """Layer similarity of MODEL: cosine, CKA, mutual kNN, Block Influence and the block structure.

    Writes analysis.json (matrices, BI, blocks, settings) and PNG heatmaps with the blocks outlined.
    Hidden state 0 is the stack input; state i is the output of layer i (1-based here, BI and
    pruning use 0-based layer indices).

    \b
    Examples:
      spc analyze fsdd-teacher --data ../shared/data/fsdd --out analysis
      spc analyze --compare pretrained/analysis.json finetuned/analysis.json
    """
    from .analysis.run import AnalysisConfig, AnalysisResult
    from .console import analysis_summary, compare_table

    if compare:
        a, b = (AnalysisResult.from_json(p) for p in compare)
        stdout().print(compare_table(a, b, block_metric))
        if out_dir:
            from .analysis.plots import compare_figure

            path = compare_figure(a, b, block_metric, Path(out_dir))
            stdout().print(f"figure: {path}")
        return
    if not model or not data_dir or not out_dir:
        raise SpcError("analyze needs MODEL, --data and --out (or --compare A.json B.json)")
    from .recipes.analyze import run_analysis

    config = AnalysisConfig(n_clips=n_clips, batch_size=batch_size, k=k, seed=seed, split=split,
                            block_metric=block_metric, device=device)
    result = run_analysis(model, data_dir, out_dir, config=config, layout=layout, by_name=map_labels,
                          data_options=data_options(split_by, test_speaker, task), calib=calib)
    stdout().print(analysis_summary(result, block_metric))
    stdout().print(f"results: {Path(out_dir) / 'analysis.json'} and PNG figures in {out_dir}")


@cli.command()
@click.argument("model")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder.")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Output folder (pruned model, JSON, PNG).")
@click.option("--retention", default=0.95, show_default=True, help="Keep at least this fraction of validation accuracy.")
@click.option("--orders", default="bi,bi-iterative,backward,forward,random,greedy", show_default=True,
              help="Comma-separated removal orders to compare.")
@click.option("--max-remove", type=int, help="Remove at most this many layers (default: all but one).")
@click.option("--random-seeds", default="0,1,2", show_default=True, help="Seeds of the random baseline orders.")
@click.option("--bi-variant", default="frames", show_default=True, type=click.Choice(["frames", "flat"]),
              help="Block Influence cosine: per frame (ShortGPT) or flattened clip (the paper's code).")
@click.option("--calib-clips", default=256, show_default=True, help="Clips (from validation) that BI is scored on.")
@click.option("--calib", help="Calibration manifest for BI scoring instead of --calib-clips; see spc calib.")
@click.option("--min-steps", default=10, show_default=True,
              help="Validation clips that must fit in the tolerance band (1 - retention).")
@click.option("--batch-size", default=64, show_default=True)
@run_flags
@data_flags
def prune(model, data_dir, out_dir, retention, orders, max_remove, random_seeds, bi_variant, calib_clips, calib,
          min_steps, batch_size, latency_runs, seed, device, map_labels, overwrite, layout, split_by, test_speaker, task):
    """Remove whole transformer layers of MODEL, without retraining, under a retention target.

    Every order's validation-accuracy curve is measured (never on the test split); the order that
    removes the most layers while keeping --retention of the original validation accuracy is cut
    out and saved in OUT/model as a normal transformers checkpoint, with its test accuracy.

    \b
    Example:
      spc prune fsdd-teacher --data ../shared/data/fsdd --out fsdd-pruned --retention 0.95
    """
    from .console import prune_table
    from .prune import PruneConfig
    from .recipes.prune import run_prune

    try:
        seeds = tuple(int(x) for x in random_seeds.split(",") if x.strip())
    except ValueError:
        raise SpcError(f"--random-seeds must be comma-separated integers, got '{random_seeds}'") from None
    config = PruneConfig(orders=tuple(o.strip() for o in orders.split(",") if o.strip()), retention=retention,
                         random_seeds=seeds, bi_variant=bi_variant, calib_clips=calib_clips, batch_size=batch_size,
                         max_remove=max_remove, min_steps=min_steps, seed=seed, device=device)
    summary = run_prune(model, data_dir, out_dir, config=config, by_name=map_labels, overwrite=overwrite,
                        latency_runs=latency_runs, layout=layout,
                        data_options=data_options(split_by, test_speaker, task), calib=calib)
    stdout().print(prune_table(summary))
    stdout().print(f"best: [bold]{summary['best']}[/], kept layers {summary['kept_layers']}; "
                   f"pruned model in {summary['pruned_model']} (test {pct(summary['pruned_test_accuracy'])}); "
                   f"curves in {Path(out_dir) / 'curves.png'}")


@cli.command()
@click.argument("teacher")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder.")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Student model folder.")
@click.option("--kind", default="linear", show_default=True, type=click.Choice(["linear", "transformer"]),
              help="Mimic design.")
@click.option("--layers", "n_layers", default=1, show_default=True, type=click.IntRange(1, 2), help="Mimic blocks.")
@click.option("--hidden", default=64, show_default=True, help="linear: bottleneck size h.")
@click.option("--heads", default=4, show_default=True, help="transformer: attention heads.")
@click.option("--ffn", default=1024, show_default=True, help="transformer: feed-forward size.")
@click.option("--width", type=int, help="transformer: width (default: the teacher's; narrower adds projections).")
@click.option("--stage1-epochs", default=50, show_default=True, help="Epochs of MSE to the teacher.")
@click.option("--stage2-epochs", default=30, show_default=True, help="Epochs on the labels.")
@click.option("--lr", default=1e-3, show_default=True, help="Adam learning rate.")
@click.option("--batch-size", default=128, show_default=True)
@click.option("--target-layer", type=int, help="Stage-1 target hidden state (default: the last layer).")
@click.option("--intermediate-layer", type=int, help="2-block students: extra target for the first block.")
@click.option("--unfreeze-mimic", is_flag=True, help="Stage 2 also trains the mimic.")
@click.option("--baseline", is_flag=True, help="Train the same student from labels only (no mimicking).")
@click.option("--cache-mb", default=4096, show_default=True, help="Teacher outputs kept in memory up to this; else on disk.")
@run_flags
@data_flags
def distill(teacher, data_dir, out_dir, kind, n_layers, hidden, heads, ffn, width, stage1_epochs, stage2_epochs, lr,
            batch_size, target_layer, intermediate_layer, unfreeze_mimic, baseline, cache_mb, latency_runs, seed,
            device, map_labels, overwrite, layout, split_by, test_speaker, task):
    """Replace TEACHER's whole transformer stack by a 1-2 block mimic student.

    Stage 1 trains the mimic to reproduce the teacher's last-layer output (frame-wise MSE), stage 2
    trains the head on the labels with the mimic frozen. Teacher outputs are computed once and
    cached. The student (raw audio in, logits out) is saved in OUT and loads with
    spc.models.load_model(OUT); an interrupted run resumes when run again.

    \b
    Examples:
      spc distill fsdd-teacher --data ../shared/data/fsdd --out fsdd-mimic --kind linear --layers 1
      spc distill fsdd-teacher --data ../shared/data/fsdd --out fsdd-scratch --baseline
    """
    from .console import distill_table
    from .distill import DistillConfig, MimicConfig
    from .recipes.distill import run_distill

    mimic = MimicConfig(kind=kind, n_layers=n_layers, hidden=hidden, heads=heads, ffn=ffn, width=width)
    config = DistillConfig(stage1_epochs=stage1_epochs, stage2_epochs=stage2_epochs, lr=lr, batch_size=batch_size,
                           target_layer=target_layer, intermediate_layer=intermediate_layer,
                           unfreeze_mimic=unfreeze_mimic, baseline=baseline, seed=seed, device=device,
                           cache_mb=cache_mb)
    summary = run_distill(teacher, data_dir, out_dir, mimic=mimic, config=config, by_name=map_labels,
                          overwrite=overwrite, latency_runs=latency_runs, layout=layout,
                          data_options=data_options(split_by, test_speaker, task))
    stdout().print(distill_table(summary))


@cli.command()
@click.argument("model")
@click.option("--out", "out_path", required=True, type=click.Path(), help="Output .onnx file (manifest beside it).")
@click.option("--data", "data_dir", type=click.Path(), help="Check parity on real clips of this data set.")
@click.option("--split", default="validation", show_default=True, type=click.Choice(["train", "validation", "test"]))
@click.option("--opset", default=17, show_default=True)
@click.option("--with-hidden", is_flag=True, help="Also output the last hidden state.")
@click.option("--simplify/--no-simplify", default=True, show_default=True, help="onnxsim, onnxslim as fallback.")
@click.option("--atol", default=1e-3, show_default=True, help="Parity tolerance: |onnx - torch| <= atol + rtol max|torch|.")
@click.option("--rtol", default=1e-3, show_default=True)
@data_flags
def export(model, out_path, data_dir, split, opset, with_hidden, simplify, atol, rtol, layout, split_by, test_speaker,
           task):
    """Export MODEL (original, pruned or mimic student) to ONNX: raw audio in, logits out.

    Dynamic batch and time axes. The graph is run with ONNX Runtime against PyTorch on clips of
    several lengths and batch sizes; a disagreeing export is refused and nothing is written.

    \b
    Example:
      spc export fsdd-pruned/model --out fsdd-pruned.onnx --data ../shared/data/fsdd
    """
    from .console import export_table
    from .export import ExportConfig, export_onnx
    from .models import load_model

    m = load_model(model)
    audio = None
    if data_dir:
        from .data import load_clips, open_dataset

        ds = open_dataset(data_dir, layout, **data_options(split_by, test_speaker, task))
        clips = load_clips(ds, split, rate=m.meta.sampling_rate, clip_seconds=2.0, limit=8, seed=0,
                           labels=sorted(set(ds.labels)), show_progress=False)
        audio = clips.audio
    report = export_onnx(m, out_path, ExportConfig(opset=opset, with_hidden=with_hidden, simplify=simplify,
                                                    atol=atol, rtol=rtol), audio=audio)
    stdout().print(export_table(report))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print every field of every target as JSON.")
def targets(as_json):
    """List the device profiles in targets/ (use a name or a family with --target)."""
    from rich.table import Table

    from .targets import load_targets

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
@click.option("--target", "target_name", required=True, help="A target name or family (see spc targets).")
@click.option("--out", "out_path", type=click.Path(), help="Output artifact file or folder (default: beside the ONNX file).")
@click.option("--fp32-layers", "fp32_layers", multiple=True,
              help="TensorRT: ONNX node names to keep in FP32 (comma-separated or repeated).")
@click.option("--fp32-from", "fp32_from", type=click.Path(),
              help="TensorRT: keep in FP32 the layers this precision.json (spc precision) flagged.")
@click.option("--timing-cache", type=click.Path(),
              help="TensorRT: folder of timing caches, one per GPU and TensorRT version (default: the artifact's).")
def build(onnx_path, target_name, out_path, fp32_layers, fp32_from, timing_cache):
    """Build the artifact TARGET runs from ONNX_PATH: a TensorRT engine, or an optimised ONNX Runtime graph.

    A GPU target is built only on its own GPU (name, compute capability, SM count); elsewhere this
    says why and stops. An INT8 QDQ model from spc precision (int8.onnx) becomes an INT8 engine.

    \b
    Examples:
      spc build model.onnx --target jetson-orin      # on the board: model.jetson-orin-nano.engine
      spc build model.onnx --target rtx-4090 --fp32-from precision/precision.json
      spc build model.onnx --target cpu              # model.cpu.ort.onnx
    """
    from .engines import build_artifact
    from .targets import get_target

    target = get_target(target_name)
    names = [n for item in fp32_layers for n in item.split(",") if n.strip()]
    report = build_artifact(onnx_path, target, out_path, fp32_layers=names, fp32_from=fp32_from,
                            timing_cache=timing_cache)
    stdout().print(f"built [bold]{report.artifact}[/] for {target.name} ({target.backend}, "
                   f"{report.manifest.get('precision', target.precision)}); manifest {report.artifact}.json")


@cli.command(name="run")
@click.argument("artifact", type=click.Path())
@click.argument("audio_path", type=click.Path())
@click.option("--top", default=3, show_default=True, help="Classes to show for a clip.")
@click.option("--stream/--clip", "as_stream", default=None,
              help="Detect keywords along the recording (default: when it is longer than 1.5 clips).")
@click.option("--hop", default=0.1, show_default=True, help="Stream: window hop in seconds.")
@click.option("--smooth", default=3, show_default=True, help="Stream: posteriors averaged over this many windows.")
@click.option("--threshold", default=0.8, show_default=True, help="Stream: detection threshold on the smoothed posterior.")
@click.option("--threads", default=0, show_default=True, help="ONNX Runtime threads (0: default).")
def run_cmd(artifact, audio_path, top, as_stream, hop, smooth, threshold, threads):
    """Classify AUDIO_PATH with an exported model or engine, or detect keywords along a recording.

    \b
    Examples:
      spc run model.onnx yes.wav
      spc run model.onnx kitchen-recording.wav --stream --threshold 0.9
    """
    from rich.table import Table

    from .audio import BadAudio, read_audio
    from .runtime import KeywordSpotter

    spotter = KeywordSpotter(artifact, threads=threads)
    try:
        x = read_audio(audio_path, spotter.sampling_rate)
    except BadAudio as exc:
        raise SpcError(f"{audio_path}: {exc}") from None
    if as_stream is None:
        as_stream = len(x) > 1.5 * spotter.clip_samples
    if as_stream:
        table = Table(title=f"keywords in {audio_path}")
        for col in ("time (s)", "keyword", "score"):
            table.add_column(col)
        for d in spotter.stream(x, hop, smooth, threshold):
            table.add_row(f"{d.time_s:.2f}", d.label, f"{d.score:.3f}")
        stdout().print(table)
    else:
        table = Table(title=str(audio_path))
        table.add_column("class")
        table.add_column("probability", justify="right")
        for label, p in spotter.classify(x, top):
            table.add_row(label, f"{p:.4f}")
        stdout().print(table)


@cli.command()
@click.argument("model")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder (train/validation/test).")
@click.option("--target", "target_name", default="cpu", show_default=True, help="Target name or family (spc targets).")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Report folder (report.md, report.json, artifacts).")
@click.option("--method", default="auto", show_default=True, type=click.Choice(["auto", "prune", "mimic"]),
              help="auto: try both and keep the fastest candidate that meets the target.")
@click.option("--retention", default=0.95, show_default=True, help="Keep at least this fraction of the accuracy.")
@click.option("--mimic-kind", default="linear", show_default=True, type=click.Choice(["linear", "transformer"]))
@click.option("--mimic-layers", default=1, show_default=True, type=click.IntRange(1, 2))
@click.option("--stage1-epochs", default=50, show_default=True)
@click.option("--stage2-epochs", default=30, show_default=True)
@click.option("--analysis-clips", default=256, show_default=True)
@click.option("--calib", help="Calibration manifest for the analysis and BI scoring (see spc calib).")
@click.option("--latency-runs", default=20, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing report folder.")
@data_flags
def compress(model, data_dir, target_name, out_dir, method, retention, mimic_kind, mimic_layers, stage1_epochs,
             stage2_epochs, analysis_clips, calib, latency_runs, seed, overwrite, layout, split_by, test_speaker, task):
    """The main job: MODEL -> an artifact for --target that keeps --retention of the accuracy, with a report.

    Analyses, prunes and/or distils, exports to ONNX (parity-checked), picks the candidate that meets
    the target on validation with the lowest measured latency, builds it for the target and
    evaluates the built artifact itself on the test split. Re-running reuses finished stages.
    Where this machine cannot build the target's engine, it stops at ONNX and prints the commands to
    run on the device.

    \b
    Examples:
      spc compress fsdd-teacher --data ../shared/data/fsdd --target cpu --out fsdd-report
      spc compress kws-teacher --data speech_commands_v0.02 --target jetson-orin --out kws-report
    """
    from .distill import DistillConfig, MimicConfig
    from .recipes.compress import CompressConfig, run_compress

    config = CompressConfig(method=method, retention=retention, analysis_clips=analysis_clips,
                            mimic=MimicConfig(kind=mimic_kind, n_layers=mimic_layers),
                            distill=DistillConfig(stage1_epochs=stage1_epochs, stage2_epochs=stage2_epochs, seed=seed),
                            latency_runs=latency_runs, seed=seed, calib=calib)
    report = run_compress(model, data_dir, out_dir, target_name, config=config, layout=layout, overwrite=overwrite,
                          data_options=data_options(split_by, test_speaker, task))
    print_compress_summary(report, out_dir)


def print_compress_summary(report: dict, out_dir) -> None:
    from .console import compress_table

    stdout().print(compress_table(report))
    f = report["final"]
    verdict = "[bold green]PASS[/]" if f["passed"] else "[bold red]FAIL[/]"
    stdout().print(f"{verdict}: {report['chosen']} keeps {f['retention']:.3f} of the test accuracy "
                   f"(target {report['retention_target']:.2f}), {f['speedup_p50']:.2f}x faster; "
                   f"report in {Path(out_dir) / 'report.md'}")
    for warning in report.get("warnings", []):
        stdout().print(f"[bold yellow]warning:[/] {warning}")
    for line in report.get("next_steps", []):
        if line == report["next_steps"][0]:
            stdout().print(f"\nthis machine cannot build for {report['target']['name']} "
                           f"({report['build'].get('deferred')}); on the device run:")
        stdout().print(f"  {line}", soft_wrap=True)


@cli.command(name="bench")
@click.argument("artifacts", nargs=-1, required=True)
@click.option("--target", "target_name", help="Shapes from this target's profile (default: the target the first "
              "artifact was built for), kept within each engine's own profile.")
@click.option("--data", "data_dir", type=click.Path(), help="Also measure accuracy on this data set.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["validation", "test"]))
@click.option("--report", "report_dir", type=click.Path(), help="Add the figures to this compress report.")
@click.option("--runs", default=30, show_default=True, help="Timed runs per shape (after warm-up).")
@click.option("--warmup", default=5, show_default=True)
@click.option("--threads", default=0, show_default=True, help="ONNX Runtime threads (0: default).")
@click.option("--json", "json_path", type=click.Path(), help="Write the results to this JSON file.")
@data_flags
def bench_cmd(artifacts, target_name, data_dir, split, report_dir, runs, warmup, threads, json_path, layout, split_by,
              test_speaker, task):
    """Latency (p50/p90/p99/mean, clips per second) of ARTIFACTS side by side, at the target's shapes.

    ARTIFACTS are .onnx / .ort.onnx / .engine files with manifests, or model folders (PyTorch).
    Several artifacts are timed in interleaved rounds, so their ratios are measured in one run.

    \b
    Example (on the board, after spc compress printed it):
      spc bench report/artifacts/pruned.jetson-orin-nano.engine --target jetson-orin-nano --data data --report report
    """
    from .recipes.bench import run_bench

    result = run_bench(list(artifacts), target_name, data_dir=data_dir, split=split, report_dir=report_dir, runs=runs,
                       warmup=warmup, threads=threads, layout=layout,
                       data_options=data_options(split_by, test_speaker, task))
    from .console import bench_table, label_mapping_note

    for mapping in {m["note"]: m for m in result.get("label_mapping", {}).values() if m.get("note")}.values():
        label_mapping_note(mapping)
    stdout().print(bench_table(result))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))


@cli.command()
@click.option("--out", "out_dir", default="spc-demo", show_default=True, type=click.Path(), help="Work folder.")
@click.option("--epochs", default=None, type=int, help="Training epochs (default: the demo's 30).")
def demo(out_dir, epochs):
    """The built-in default: offline keyword data (espeak-ng), a small teacher, then spc compress on it.

    Needs no network and no GPU; a few minutes on 2 CPU cores. Writes OUT/data, OUT/teacher and
    OUT/report (report.md, report.json, the CPU artifact). Re-running reuses what is done.
    """
    from dataclasses import replace

    from .recipes.demo import DEMO_TRAIN, run_demo

    train = DEMO_TRAIN if epochs is None else replace(DEMO_TRAIN, epochs=epochs)
    result = run_demo(out_dir, train=train)
    stdout().print(
        f"demo teacher: test accuracy {pct(result['test_accuracy'])} (chance {pct(result['chance'])}), "
        f"{result['params']['total'] / 1e6:.2f} M parameters"
    )
    print_compress_summary(json.loads((Path(out_dir) / "report" / "report.json").read_text()), Path(out_dir) / "report")


@cli.group()
def calib():
    """Calibration sets: make a manifest, check it against a data folder."""


@calib.command(name="make")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder.")
@click.option("--n", "n_clips", default=512, show_default=True, help="Clips in the set.")
@click.option("--out", "out", help="Manifest name or path (NAME -> NAME.json).")
@click.option("--split", default="validation", show_default=True, type=click.Choice(["validation", "train", "test"]),
              help="Where clips are drawn from (test is refused).")
@click.option("--rule", default="class-balanced", show_default=True, type=click.Choice(["class-balanced", "random"]))
@click.option("--seed", default=0, show_default=True)
@click.option("--from", "rule_file", type=click.Path(exists=True, dir_okay=False), help="Build from a rule file.")
@data_flags
def calib_make(data_dir, n_clips, out, split, rule, seed, rule_file, layout, split_by, test_speaker, task):
    """Draw a reproducible calibration set from DATA and write its manifest.

    \b
    Example:
      spc calib make --data ../shared/data/fsdd --n 256 --out fsdd-256
    """
    from .calib.manifest import make_from_rule, make_manifest, manifest_hash, save_manifest
    from .data import open_dataset

    if rule_file:
        manifest = make_from_rule(rule_file, data_dir)
        out = out or Path(rule_file).name.replace(".rule.json", "")
    else:
        if not out:
            raise SpcError("calib make needs --out NAME (or --from RULE)")
        ds = open_dataset(data_dir, layout, **data_options(split_by, test_speaker, task))
        manifest = make_manifest(ds, n_clips, seed=seed, split=split, rule=rule, name=str(out))
    path = save_manifest(manifest, out)
    labels = {}
    for c in manifest["clips"]:
        labels[c["label"]] = labels.get(c["label"], 0) + 1
    stdout().print(f"{path}: {manifest['n']} clips from {manifest['split']} ({manifest['rule']}, seed {manifest['seed']}), "
                   f"{len(labels)} classes, hash {manifest_hash(manifest)}")


@calib.command(name="check")
@click.argument("name")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder.")
def calib_check(name, data_dir):
    """Say which clips of manifest NAME are missing from DATA or changed (exit 1 if any)."""
    from .calib.manifest import check_manifest, load_manifest

    status = check_manifest(load_manifest(name), data_dir)
    for p in status["missing"]:
        stdout().print(f"missing  {p}")
    for p in status["changed"]:
        stdout().print(f"changed  {p}")
    stdout().print(f"{status['clips']} clips: {len(status['missing'])} missing, {len(status['changed'])} changed")
    if not status["ok"]:
        sys.exit(1)


@cli.command()
@click.argument("model")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder (test split for accuracy).")
@click.option("--calib", required=True, help="Calibration manifest (name or path); see spc calib make.")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Folder for the ONNX variants and precision.json.")
@click.option("--int8-method", default="minmax", show_default=True, type=click.Choice(["minmax", "entropy"]))
@click.option("--latency-runs", default=20, show_default=True)
@data_flags
def precision(model, data_dir, calib, out_dir, int8_method, latency_runs, layout, split_by, test_speaker, task):
    """FP16 check layer by layer, a mixed-precision ONNX, and INT8 (QDQ) on the CPU, from a calibration set.

    Reports which layers overflow the FP16 range or diverge in FP16, then the test accuracy and CPU
    latency of FP32, FP16, mixed (flagged layers in FP32) and INT8 side by side.

    \b
    Example:
      spc calib make --data ../shared/data/fsdd --n 256 --out fsdd-256
      spc precision fsdd-teacher --data ../shared/data/fsdd --calib fsdd-256 --out fsdd-precision
    """
    from rich.table import Table

    from .recipes.precision import run_precision

    s = run_precision(model, data_dir, calib, out_dir, layout=layout, latency_runs=latency_runs, int8_method=int8_method,
                      data_options=data_options(split_by, test_speaker, task))
    check = s["fp16_check"]
    table = Table(title=f"precision of {model} (calibration {s['calibration']['hash']})",
                  caption=f"FP16 flagged layers: {check['flagged'] or 'none'}; FP16 top-1 agreement {check['top1_agreement']:.3f}")
    for col in ("variant", "test accuracy", "retention", "CPU p50 ms"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    lat = {r["artifact"]: r for r in s["latency_cpu"]}
    for k, a in s["test_accuracy"].items():
        table.add_row(k, pct(a), f"{s['retention'][k]:.3f}", f"{lat[k]['p50_ms']:.2f}")
    stdout().print(table)


@cli.group()
def data():
    """Data sets: download."""


@data.command()
@click.argument("name", type=click.Choice(["speech-commands"]))
@click.argument("dest", type=click.Path())
def download(name, dest):
    """Download and unpack a data set (Speech Commands v0.02, 2.3 GB) into DEST."""
    from .data.download import download_speech_commands

    path = download_speech_commands(Path(dest))
    stdout().print(f"Speech Commands v0.02 in {path}")


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(standalone_mode=True))


if __name__ == "__main__":
    main()
