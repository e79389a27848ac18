"""The commands that train, evaluate, analyse or export a PyTorch model (the training install)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape

from ..console import eval_table, params_table, pct, skipped_lines, stderr, stdout
from ..errors import SpcError
from ..fileio import check_output_dir, check_output_file, refuse_overlap
from .group import cli, print_lines
from .options import (ANALYSIS_CFG, EVAL_CFG, PRECISION_CFG, CLIP_SECONDS, CSV, CSV_INT, DEVICE_HELP, DISTILL_CFG, EXPORT_CFG, FINETUNE_CFG,
                      MIMIC_CFG, NON_NEGATIVE, NON_NEGATIVE_FLOAT, POSITIVE, POSITIVE_FLOAT, PRUNE_CFG, RETENTION, SEED,
                      WARMUP, Finite, api_option, cfg_option, config_file_option, data_config, data_flags, make_config, run_flags)


@cli.command()
def families():
    """List the model families spc handles (by config.model_type)."""
    from ..families import supported_model_types

    for name in supported_model_types():
        stdout().print(name)


@cli.command()
@click.argument("backbone")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder.")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Output model folder.")
@cfg_option(FINETUNE_CFG, "train_layers", "--train-layers", type=NON_NEGATIVE,
              help="Train the head and only the top K layers (0: the head alone, on cached encoder features); "
                   "default: every layer.")
@cfg_option(FINETUNE_CFG, "train.epochs", "--epochs", type=POSITIVE)
@cfg_option(FINETUNE_CFG, "train.batch_size", "--batch-size", type=POSITIVE)
@cfg_option(FINETUNE_CFG, "train.lr", "--lr", type=POSITIVE_FLOAT, help="Peak learning rate (AdamW, warm-up then linear decay).")
@cfg_option(FINETUNE_CFG, "train.patience", "--patience", type=NON_NEGATIVE, help="Stop after this many epochs without a better validation accuracy (0: never).")
@cfg_option(FINETUNE_CFG, "train.seed", "--seed", type=SEED)
@cfg_option(FINETUNE_CFG, "train.device", "--device", help=DEVICE_HELP)
@api_option("spc.recipes.finetune:run_finetune", "clip_seconds", "--clip-seconds", type=CLIP_SECONDS, help="Clips are padded or cropped to this length.")
@cfg_option(FINETUNE_CFG, "freeze_feature_encoder", "--freeze-feature-encoder/--train-feature-encoder")
@cfg_option(FINETUNE_CFG, "augment", "--augment/--no-augment", help="Random shift and gain (when every layer trains).")
@config_file_option
@click.option("--overwrite", is_flag=True, help="Delete the output folder first.")
@data_flags
@click.pass_context
def finetune(ctx, backbone, data_dir, out_dir, clip_seconds, config_file, overwrite, **_):
    """Fine-tune BACKBONE into a keyword-spotting classifier (the paper's teacher step).

    BACKBONE is a hub id, a local model folder, a config .json (trained from scratch) or a preset
    (preset:wav2vec2-small, preset:whisper-small, preset:wav2vec2-base). Validation runs every epoch; the best epoch's
    model is written to --out with finetune.json when training ends (an unfinished run leaves only
    OUT/.spc-train, and the same command resumes it). Under torchrun it trains data-parallel.

    \b
    Examples:
      spc finetune ../shared/models/whisper-tiny.en-encoder --data ../shared/data/fsdd --out teacher --train-layers 0 --lr 1e-3
      spc finetune preset:wav2vec2-small --data ../shared/data/fsdd --out fsdd-teacher --lr 1e-3
      torchrun --nproc_per_node 4 -m spc.cli finetune facebook/wav2vec2-base --data sc --out kws
    """
    from ..recipes.finetune import run_finetune

    config = make_config(ctx, FINETUNE_CFG, config_file)
    summary = run_finetune(backbone, data_config(ctx), out_dir, config=config, clip_seconds=clip_seconds,
                           overwrite=overwrite)
    if not summary:  # a secondary torchrun process
        return
    out = stdout()
    out.print(params_table(summary["params"]))
    out.print(f"best epoch {summary['best_epoch'] + 1}: validation {pct(summary['val_accuracy'])}, "
              f"test {pct(summary['test_accuracy'])}; model in [bold]{escape(summary['model'])}[/]")


@cli.command(name="eval")
@click.argument("model")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder.")
@cfg_option(EVAL_CFG, "split", "--split", type=click.Choice(["train", "validation", "test"]))
@click.option("--map-labels", is_flag=True, help="Match data classes to the model's by name.")
@cfg_option(EVAL_CFG, "batch_size", "--batch-size", type=POSITIVE)
@cfg_option(EVAL_CFG, "device", "--device", help=DEVICE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of a table.")
@config_file_option
@data_flags
@click.pass_context
def eval_cmd(ctx, model, data_dir, map_labels, as_json, config_file, **_):
    """Accuracy, per-class accuracy and confusion matrix of MODEL on a data split.

    \b
    Example:
      spc eval fsdd-teacher --data ../shared/data/fsdd --split test --json
      spc eval fsdd-teacher --data ../shared/data/fsdd --config earlier-eval.json   # the same settings again
    """
    from ..console import label_mapping_note
    from ..data.clips import LabelSubsetError
    from ..recipes.evaluate import run_eval

    config = make_config(ctx, EVAL_CFG, config_file)
    split = config.split
    try:
        result = run_eval(model, data_config(ctx), config, show_progress=not as_json)
    except LabelSubsetError as exc:
        raise SpcError(f"{exc}; add --map-labels to score the model on these classes only") from None
    label_mapping_note(result.label_mapping)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        stdout().print(eval_table(result, f"{model} on {split}"))
        print_lines(skipped_lines(result.skipped, "spc eval --json"))


@cli.command()
@click.argument("model", required=False)
@click.option("--data", "data_dir", type=click.Path(), help="Data folder (the calibration clips come from it).")
@click.option("--out", "out_dir", type=click.Path(), help="Folder for analysis.json and the PNG figures.")
@cfg_option(ANALYSIS_CFG, "n_clips", "--clips", type=click.IntRange(min=4), help="Calibration clips (class-balanced sample).")
@cfg_option(ANALYSIS_CFG, "split", "--split", type=click.Choice(["train", "validation"]),
            help="Split the calibration clips are drawn from (never the test split).")
@cfg_option(ANALYSIS_CFG, "batch_size", "--batch-size", type=POSITIVE, help="Clips per batch (CKA and kNN are per batch).")
@cfg_option(ANALYSIS_CFG, "k", "--k", type=POSITIVE, help="Neighbours for mutual kNN alignment.")
@cfg_option(ANALYSIS_CFG, "seed", "--seed", type=SEED)
@cfg_option(ANALYSIS_CFG, "block_metric", "--block-metric",
            type=click.Choice(["cosine", "cosine_frames", "cka", "cka_batch_biased", "mutual_knn"]))
@cfg_option(ANALYSIS_CFG, "device", "--device", help=DEVICE_HELP)
@config_file_option
@click.option("--map-labels", is_flag=True, help="Match data classes to the model's by name.")
@click.option("--calib", help="Calibration manifest (name or path) instead of a fresh sample; see spc calib.")
@click.option("--compare", nargs=2, type=click.Path(exists=True, dir_okay=False), metavar="A.json B.json",
              help="Show two earlier analyses side by side instead of running one.")
@data_flags
@click.pass_context
def analyze(ctx, model, data_dir, out_dir, map_labels, calib, compare, config_file, **_):
    """Layer similarity of MODEL: cosine, CKA, mutual kNN, Block Influence and the block structure.

    Writes analysis.json (matrices, BI, blocks, settings) and PNG heatmaps with the blocks outlined.
    Hidden state 0 is the stack input; state i is the output of layer i (1-based here, BI and
    pruning use 0-based layer indices).

    \b
    Examples:
      spc analyze fsdd-teacher --data ../shared/data/fsdd --out analysis
      spc analyze --compare pretrained/analysis.json finetuned/analysis.json
    """
    from ..analysis.run import AnalysisResult
    from ..console import analysis_summary, compare_table

    config = make_config(ctx, ANALYSIS_CFG, config_file, key="settings")
    block_metric = config.block_metric
    if compare:
        a, b = (AnalysisResult.from_json(p) for p in compare)
        if out_dir:
            check_output_dir(out_dir)
        stdout().print(compare_table(a, b, block_metric))
        if out_dir:
            from ..analysis.plots import compare_figure

            path = compare_figure(a, b, block_metric, Path(out_dir))
            stdout().print(f"figure: {path}")
        return
    if not model or not data_dir or not out_dir:
        raise SpcError("analyze needs MODEL, --data and --out (or --compare A.json B.json)")
    from ..recipes.analyze import run_analysis

    result = run_analysis(model, data_config(ctx), out_dir, config=config, calib=calib)
    stdout().print(analysis_summary(result, block_metric))
    print_lines(skipped_lines(result.data.get("skipped", []), str(Path(out_dir) / "analysis.json")))
    stdout().print(f"results: {Path(out_dir) / 'analysis.json'} and PNG figures in {out_dir}")


@cli.command()
@click.argument("model")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder.")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Output folder (pruned model, JSON, PNG).")
@cfg_option(PRUNE_CFG, "retention", "--retention", type=RETENTION, help="Keep at least this fraction of validation accuracy.")
@cfg_option(PRUNE_CFG, "heal.method", "--heal",
            help="Repair each candidate: none, head (re-fit the head on cached features) or distill (short "
                 "knowledge distillation from the unpruned model).")
@cfg_option(PRUNE_CFG, "heal.stream_windows", "--heal-windows", type=Finite(0, 20),
            help="Stream-like windows per training clip that the heal also learns from, labelled by the unpruned "
                 "model (0: aligned clips only).")
@cfg_option(PRUNE_CFG, "orders", "--orders", type=CSV, help="Comma-separated removal orders to compare.")
@cfg_option(PRUNE_CFG, "max_remove", "--max-remove", type=POSITIVE, help="Remove at most this many layers (default: all but one).")
@cfg_option(PRUNE_CFG, "random_seeds", "--random-seeds", type=CSV_INT, help="Seeds of the random baseline orders.")
@cfg_option(PRUNE_CFG, "bi_variant", "--bi-variant",
            help="Block Influence cosine: per frame (ShortGPT) or flattened clip (the paper's code).")
@cfg_option(PRUNE_CFG, "calib_clips", "--calib-clips", type=POSITIVE, help="Clips (from validation) that BI is scored on.")
@click.option("--calib", help="Calibration manifest for BI scoring instead of --calib-clips; see spc calib.")
@cfg_option(PRUNE_CFG, "min_steps", "--min-steps", type=POSITIVE, help="Validation clips that must fit in the tolerance band (1 - retention).")
@cfg_option(PRUNE_CFG, "batch_size", "--batch-size", type=POSITIVE)
@cfg_option(PRUNE_CFG, "seed", "--seed", type=SEED)
@cfg_option(PRUNE_CFG, "device", "--device", help=DEVICE_HELP)
@run_flags("spc.recipes.prune_layers:run_prune")
@data_flags
@click.pass_context
def prune(ctx, model, data_dir, out_dir, calib, config_file, latency_runs, overwrite, **_):
    """Remove whole transformer layers of MODEL under a retention target, healing each candidate.

    Every order's validation-accuracy curve is measured without retraining and, with --heal, after
    healing (never on the test split); the order that removes the most layers while keeping
    --retention of the original validation accuracy is cut out and saved in OUT/model as a normal
    transformers checkpoint, with its test accuracy and the time the heal took.

    \b
    Example:
      spc prune teacher --data ../shared/data/fsdd --out pruned --retention 0.95 --heal head
    """
    from ..console import prune_table
    from ..recipes.prune_layers import run_prune

    config = make_config(ctx, PRUNE_CFG, config_file)
    summary = run_prune(model, data_config(ctx), out_dir, config=config, overwrite=overwrite,
                        latency_runs=latency_runs, calib=calib)
    stdout().print(prune_table(summary))
    stdout().print(f"best: [bold]{summary['best']}[/], kept layers {summary['kept_layers']}; "
                   f"pruned model in {escape(summary['pruned_model'])} (test {pct(summary['pruned_test_accuracy'])}); "
                   f"curves in {escape(str(Path(out_dir) / 'curves.png'))}")


@cli.command()
@click.argument("teacher")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder.")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Student model folder.")
@cfg_option(MIMIC_CFG, "kind", "--kind",
            help="layer: one teacher layer; transformer, linear: fresh blocks; tiny: a small whole model, own front end.")
@cfg_option(MIMIC_CFG, "init_layer", "--init-layer", type=NON_NEGATIVE, help="layer: the teacher layer it starts from.")
@cfg_option(MIMIC_CFG, "n_layers", "--layers", type=click.IntRange(1, 2), help="Mimic blocks (transformer, linear, tiny).")
@cfg_option(MIMIC_CFG, "hidden", "--hidden", type=POSITIVE, help="linear: bottleneck size h.")
@cfg_option(MIMIC_CFG, "heads", "--heads", type=POSITIVE, help="transformer, tiny: attention heads.")
@cfg_option(MIMIC_CFG, "ffn", "--ffn", type=POSITIVE, help="transformer, tiny: feed-forward size (default 1024; tiny: 4 x width).")
@cfg_option(MIMIC_CFG, "width", "--width", type=POSITIVE,
            help="transformer: width (default: the teacher's; narrower adds projections); tiny: its width (default 96).")
@cfg_option(MIMIC_CFG, "mel_bins", "--mel-bins", type=POSITIVE, help="tiny: log-mel bands of its own front end.")
@cfg_option(MIMIC_CFG, "n_fft", "--n-fft", type=click.IntRange(64, 1024),
            help="tiny: STFT window in samples (400 = 25 ms, Whisper's; 256 or 200: a cheaper front end).")
@click.option("--paper", is_flag=True, help="The paper's recipe: 50 epochs of plain MSE, 30 of labels, mimic frozen.")
@cfg_option(DISTILL_CFG, "stage1.epochs", "--stage1-epochs", type=POSITIVE, help="Epochs of mimicking the teacher.")
@cfg_option(DISTILL_CFG, "stage2.epochs", "--stage2-epochs", type=POSITIVE, help="Epochs on the labels.")
@cfg_option(DISTILL_CFG, "stage1.lr", "--lr", type=POSITIVE_FLOAT, help="Stage-1 learning rate (stage 2 has its own in --config).")
@cfg_option(DISTILL_CFG, "stage1.batch_size", "--batch-size", type=POSITIVE)
@cfg_option(DISTILL_CFG, "soft_labels", "--soft-labels", type=Finite(0, 1), help="Stage 2: weight of the teacher's soft labels.")
@cfg_option(DISTILL_CFG, "normalize_targets", "--normalize-targets/--raw-targets", help="Stage 1: MSE on per-channel standardised targets.")
@cfg_option(DISTILL_CFG, "unfreeze_mimic", "--unfreeze-mimic/--freeze-mimic", help="Stage 2 also trains the mimic.")
@cfg_option(DISTILL_CFG, "target_layer", "--target-layer", type=POSITIVE, help="Stage-1 target hidden state (default: the last layer).")
@cfg_option(DISTILL_CFG, "intermediate_layer", "--intermediate-layer", type=POSITIVE, help="2-block students: extra target for the first block.")
@cfg_option(DISTILL_CFG, "baseline", "--baseline", is_flag=True, help="Train the same student from labels only (no mimicking).")
@cfg_option(DISTILL_CFG, "stream_windows", "--stream-windows", type=Finite(0, 20),
            help="Stream-like windows per training clip (shifted, partial, neighbouring words, gaps, noise), "
                 "labelled by the teacher (0: aligned clips only).")
@cfg_option(DISTILL_CFG, "stage1.seed", "--seed", type=SEED, help="Seed of both stages.")
@cfg_option(DISTILL_CFG, "stage1.device", "--device", help=f"Both stages: {DEVICE_HELP}")
@run_flags("spc.recipes.distill_student:run_distill")
@data_flags
@click.pass_context
def distill(ctx, teacher, data_dir, out_dir, paper, config_file, latency_runs, overwrite, **_):
    """Replace TEACHER's whole transformer stack by a 1-2 block mimic student.

    Stage 1 trains the mimic to reproduce the teacher's last-layer output (frame-wise MSE on
    standardised channels), stage 2 trains through the head on the labels and the teacher's soft
    labels. The default mimic is one of the teacher's own layers (--kind layer), which keeps 95% on
    pre-trained teachers; --paper runs the paper's recipe. Teacher outputs are computed once and
    cached. The student is saved in OUT (spc.models.load_model(OUT)); a rerun resumes.

    \b
    Examples:
      spc distill teacher --data ../shared/data/fsdd --out mimic
      spc distill teacher --data ../shared/data/fsdd --out mimic-paper --kind transformer --paper
      spc distill teacher --data ../shared/data/fsdd --out scratch --kind transformer --baseline
      spc distill teacher --data ../shared/data/fsdd --out tiny --kind tiny --width 96 --layers 2
    """
    from ..console import distill_table
    from ..recipes.distill_student import run_distill

    from click.core import ParameterSource

    from ..configs import with_changes
    from ..distill import DistillConfig

    # a distill.json given to --config holds both: the student's settings under "mimic", the training's under "config"
    mimic = make_config(ctx, MIMIC_CFG, config_file, key="mimic")
    config = make_config(ctx, DISTILL_CFG, config_file, base=DistillConfig.paper() if paper else None)
    given = {n for n in ("seed", "device") if ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE}
    if config_file is None or "seed" in given:  # --seed and --device stand for both stages
        config = config.with_seed(config.stage1.seed)
    if config_file is None or "device" in given:
        config = with_changes(config, {"stage2.device": config.stage1.device})
    summary = run_distill(teacher, data_config(ctx), out_dir, mimic=mimic, config=config, overwrite=overwrite,
                          latency_runs=latency_runs)
    if summary:
        stdout().print(distill_table(summary))


@cli.command()
@click.argument("model")
@click.option("--out", "out_path", required=True, type=click.Path(), help="Output .onnx file (manifest beside it).")
@click.option("--data", "data_dir", type=click.Path(), help="Check parity on real clips of this data set.")
@click.option("--split", default="validation", show_default=True, type=click.Choice(["train", "validation", "test"]))
@cfg_option(EXPORT_CFG, "opset", "--opset", type=click.IntRange(17, 21))
@cfg_option(EXPORT_CFG, "with_hidden", "--with-hidden/--logits-only", help="Also output the last hidden state.")
@cfg_option(EXPORT_CFG, "simplify", "--simplify/--no-simplify", help="onnxsim, onnxslim as fallback.")
@cfg_option(EXPORT_CFG, "atol", "--atol", type=NON_NEGATIVE_FLOAT,
            help="Parity tolerance: |onnx - torch| <= atol + rtol max|torch|.")
@cfg_option(EXPORT_CFG, "rtol", "--rtol", type=NON_NEGATIVE_FLOAT)
@cfg_option(EXPORT_CFG, "seed", "--seed", type=SEED, help="Seed of the random parity clips (without --data).")
@config_file_option
@data_flags
@click.pass_context
def export(ctx, model, out_path, data_dir, split, config_file, **_):
    """Export MODEL (original, pruned or mimic student) to ONNX: raw audio in, logits out.

    Dynamic batch and time axes. The graph is run with ONNX Runtime against PyTorch on clips of
    several lengths and batch sizes; a disagreeing export is refused and nothing is written.

    \b
    Example:
      spc export fsdd-pruned/model --out fsdd-pruned.onnx --data ../shared/data/fsdd
    """
    from ..console import export_table
    from ..export import export_onnx
    from ..models import load_model

    config = make_config(ctx, EXPORT_CFG, config_file)

    if not str(out_path).endswith(".onnx"):
        raise SpcError(f"the output should be a .onnx file, got {out_path}")
    refuse_overlap({"output": out_path, "output manifest": f"{out_path}.json"},
                   {"model": model, "data folder": data_dir})
    check_output_file(out_path)  # before loading and exporting, not after
    m = load_model(model)
    audio = None
    if data_dir:
        from ..data import load_clips

        ds = data_config(ctx).open()
        clips = load_clips(ds, split, rate=m.meta.sampling_rate, clip_seconds=2.0, limit=8, seed=config.seed,
                           labels=sorted(set(ds.labels)), show_progress=False)
        audio = clips.audio
    report = export_onnx(m, out_path, config, audio=audio)
    stdout().print(export_table(report))


@cli.command()
@click.argument("model")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder (test split for accuracy).")
@click.option("--calib", required=True, help="Calibration manifest (name or path); see spc calib make.")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Folder for the ONNX variants and precision.json.")
@cfg_option(PRECISION_CFG, "int8_method", "--int8-method", type=click.Choice(["minmax", "entropy"]))
@cfg_option(PRECISION_CFG, "latency_runs", "--latency-runs", type=WARMUP, help="Timed CPU runs per variant (0: skip).")
@config_file_option
@data_flags
@click.pass_context
def precision(ctx, model, data_dir, calib, out_dir, config_file, **_):
    """FP16 check layer by layer, a mixed-precision ONNX, and INT8 (QDQ) on the CPU, from a calibration set.

    Reports which layers overflow the FP16 range or diverge in FP16, then the test accuracy and CPU
    latency of FP32, FP16, mixed (flagged layers in FP32) and INT8 side by side.

    \b
    Example:
      spc calib make --data ../shared/data/fsdd --n 256 --out fsdd-256
      spc precision fsdd-teacher --data ../shared/data/fsdd --calib fsdd-256 --out fsdd-precision
    """
    from rich.table import Table

    from ..recipes.precision_check import run_precision

    s = run_precision(model, data_config(ctx), calib, out_dir, make_config(ctx, PRECISION_CFG, config_file))
    check = s["fp16_check"]
    table = Table(title=f"precision of {model} (calibration {s['calibration']['hash']})",
                  caption=f"FP16 flagged layers: {check['flagged'] or 'none'}; FP16 top-1 agreement {check['top1_agreement']:.3f}")
    for col in ("variant", "test accuracy", "retention", "CPU p50 ms"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    lat = {r["artifact"]: r for r in s["latency_cpu"]}
    for k, a in s["test_accuracy"].items():
        table.add_row(k, pct(a), f"{s['retention'][k]:.3f}", f"{lat[k]['p50_ms']:.2f}" if k in lat else "-")
    stdout().print(table)
    for note in s.get("notes", []):
        stderr().print(f"note: {note}", markup=False, highlight=False)
