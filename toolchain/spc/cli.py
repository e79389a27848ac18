"""The ``spc`` command: a thin Click layer over the Python API (see ``spc --help``)."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import click
from rich.markup import escape

from .console import eval_table, params_table, pct, shown_path, skipped_lines, stderr, stdout
from .errors import SpcError, SpcInternalError
from .fileio import check_output_dir, check_output_file, read_json

LAYOUT_HELP = "Data layout: auto, speech-commands, speech-commands-v2-12, folders, fsdd, hf-datasets."
DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps."


class Finite(click.FloatRange):
    """A float range that also refuses nan and inf (``click.FloatRange`` lets nan through: it compares False)."""

    def convert(self, value, param, ctx):
        v = super().convert(value, param, ctx)
        if not math.isfinite(v):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return v


POSITIVE = click.IntRange(min=1, max=10**9)
NON_NEGATIVE = click.IntRange(min=0, max=10**9)
NON_NEGATIVE_FLOAT = Finite(min=0)
SEED = click.IntRange(0, 2**32 - 1)  # what numpy's and torch's generators take
RUNS = click.IntRange(1, 100_000)
WARMUP = click.IntRange(0, 10_000)
THREADS = click.IntRange(0, os.cpu_count() or 1)  # 0: the library's default; more than the cores only slows it
HOP = Finite(min=0.001, max=10.0)
#: a group run without a command shows its help (Click 8.2+ raises this usage error for it)
HELP_ERRORS = tuple(c for c in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if c is not None)


class SpcGroup(click.Group):
    """Turns user errors (spc's and Click's usage errors) into one red line and exit code 1, with no traceback.

    Anything else, ``SpcInternalError`` included, keeps its traceback: it is a bug in spc to report.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SpcError as exc:
            error_line(str(exc))
            ctx.exit(1)
        except click.UsageError as exc:
            if isinstance(exc, HELP_ERRORS):
                raise
            usage_line(exc)
            ctx.exit(1)
        except (OSError, RuntimeError) as exc:  # a full or read-only disk, wherever the write happened
            from .fileio import disk_error

            problem = disk_error(exc, getattr(exc, "filename", None))
            if problem is None:
                raise
            error_line(str(problem))
            ctx.exit(1)
        except ModuleNotFoundError as exc:
            missing = training_module(exc)
            if missing is None:
                raise
            error_line(f"spc {ctx.invoked_subcommand or ''} needs {missing}, which the device install leaves out: "
                       "install the training side with pip install torch==2.13.0 'spc[train]'".replace("spc  ", "spc "))
            ctx.exit(1)
        except SpcInternalError:
            stderr().print("[bold red]internal error[/] (a bug in spc: please report it with this traceback)")
            raise
        except KeyboardInterrupt:
            stderr().print("[yellow]interrupted[/]: run the same command again to resume")
            ctx.exit(130)

    def make_context(self, info_name, args, parent=None, **extra):
        """The top-level options (``spc --bogus``) get the same one line and exit code 1."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            if isinstance(exc, HELP_ERRORS):
                raise
            usage_line(exc)
            raise click.exceptions.Exit(1) from None


#: what the `train` extra adds to the device install (a command that needs one of them trains or exports)
TRAINING_MODULES = ("torch", "transformers", "safetensors", "onnxsim", "onnxslim", "onnxconverter_common",
                    "espeakng_loader")


def training_module(exc: ModuleNotFoundError) -> str | None:
    """The training-side package a command failed to import, or None for any other missing module (a bug)."""
    top = (exc.name or "").split(".")[0]
    return top if top in TRAINING_MODULES else None


def usage_line(exc: click.UsageError) -> None:
    """Click's usage error as one ``error:`` line that points at the command's --help."""
    where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    error_line(exc.format_message().replace("\n", " ") + where)


def error_line(message: str) -> None:
    """One red ``error:`` line on stderr; brackets in the message (``'.[tensorrt]'``) are shown as typed."""
    stderr().print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def print_lines(lines: list[str]) -> None:
    """Plain lines on stdout (no Rich markup: paths may hold brackets)."""
    for line in lines:
        stdout().print(line, markup=False, soft_wrap=True)


def data_flags(f):
    f = click.option("--layout", default="auto", show_default=True, help=LAYOUT_HELP)(f)
    f = click.option("--split-by", type=click.Choice(["take", "speaker"]), help="fsdd layout: split rule.")(f)
    f = click.option("--test-speaker", help="fsdd layout with --split-by speaker: the held-out speaker.")(f)
    f = click.option("--task", type=click.Choice(["35", "v2-12"]), help="speech-commands layout: the task.")(f)
    return f


# ---------------------------------------------------------------- options derived from the config dataclasses
FINETUNE_CFG = "spc.finetune:FinetuneConfig"
PRUNE_CFG = "spc.prune:PruneConfig"
MIMIC_CFG = "spc.models:MimicConfig"
DISTILL_CFG = "spc.distill:DistillConfig"
COMPRESS_CFG = "spc.recipes.compress:CompressConfig"
DEMO_CFG = "spc.recipes.demo:DEMO_TRAIN"  # the demo's own training settings (an instance)


def _config_class(ref: str):
    import importlib

    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


class ConfigOption(click.Option):
    """An option standing for one (dotted) field of a config dataclass: its default is the dataclass's,
    read when needed (so the CLI imports no torch up front), and the config validates the value."""

    def __init__(self, param_decls, *, config: str, field: str, **kw):
        super().__init__(param_decls, show_default=True, **kw)
        self.config, self.field = config, field

    def get_default(self, ctx, call: bool = True):
        from .configs import default_of

        return default_of(_config_class(self.config), self.field)


def cfg_option(config: str, field: str, *decls, **kw):
    return click.option(*decls, cls=ConfigOption, config=config, field=field, **kw)


def make_config(ctx, config: str, config_file: str | None = None, base=None, key: str = "config"):
    """The config: ``config_file`` (a config JSON, or a report holding one under ``key``), else ``base`` or the
    defaults, changed by the options of this config given on the command line (all of them without a file)."""
    from click.core import ParameterSource

    from .configs import load_config, with_changes

    cls = _config_class(config)
    start = load_config(cls, config_file, key) if config_file else base if base is not None else cls()
    changes = {p.field: ctx.params[p.name] for p in ctx.command.params
               if isinstance(p, ConfigOption) and p.config == config
               and ((config_file is None and base is None)
                    or ctx.get_parameter_source(p.name) == ParameterSource.COMMANDLINE)}
    return with_changes(start, changes)


class _Csv(click.ParamType):
    name = "A,B,..."

    def __init__(self, item=str):
        self.item = item

    def convert(self, value, param, ctx):
        if isinstance(value, (tuple, list)):
            return tuple(value)
        try:
            return tuple(self.item(x.strip()) for x in str(value).split(",") if x.strip())
        except ValueError:
            self.fail(f"'{value}' is not a comma-separated list of {self.item.__name__}", param, ctx)


CSV, CSV_INT = _Csv(str), _Csv(int)
POSITIVE_FLOAT = Finite(min=0, min_open=True)
CLIP_SECONDS = Finite(min=0.1, max=30.0)
RETENTION = Finite(0, 1, min_open=True)
config_file_option = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False),
    help="Settings from a JSON file (a config, or a report/summary that holds one); options given override it.")


def data_config(ctx):
    """The ``DataConfig`` of the data options every data-reading command shares."""
    from .data import DataConfig

    p = ctx.params
    return DataConfig(p["data_dir"], p["layout"], p["split_by"], p["test_speaker"], p["task"],
                      subset=bool(p.get("map_labels")))



def run_flags(f):
    """Options every model-producing command shares (prune, distill)."""
    f = click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")(f)
    f = click.option("--map-labels", is_flag=True,
                     help="The data holds only some of the model's classes: match them by name.")(f)
    f = click.option("--latency-runs", default=20, show_default=True, type=WARMUP,
                     help="Timed CPU runs per model (0: skip).")(f)
    f = config_file_option(f)
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
    # spc shows its own progress: transformers reads this when a training command first imports it (the
    # device commands import no transformers, so they run in the torch-free device install)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if sys.modules.get("transformers") is not None:  # imported already (spc used as a library in this process)
        sys.modules["transformers"].utils.logging.disable_progress_bar()


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
@cfg_option(FINETUNE_CFG, "train_layers", "--train-layers", type=NON_NEGATIVE,
              help="Train the head and only the top K layers (0: the head alone, on cached encoder features); "
                   "default: every layer.")
@cfg_option(FINETUNE_CFG, "train.epochs", "--epochs", type=POSITIVE)
@cfg_option(FINETUNE_CFG, "train.batch_size", "--batch-size", type=POSITIVE)
@cfg_option(FINETUNE_CFG, "train.lr", "--lr", type=POSITIVE_FLOAT, help="Peak learning rate (AdamW, warm-up then linear decay).")
@cfg_option(FINETUNE_CFG, "train.patience", "--patience", type=NON_NEGATIVE, help="Stop after this many epochs without a better validation accuracy (0: never).")
@cfg_option(FINETUNE_CFG, "train.seed", "--seed", type=SEED)
@cfg_option(FINETUNE_CFG, "train.device", "--device", help=DEVICE_HELP)
@click.option("--clip-seconds", default=1.0, show_default=True, type=CLIP_SECONDS, help="Clips are padded or cropped to this length.")
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
    from .recipes.finetune import run_finetune

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
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "validation", "test"]))
@click.option("--map-labels", is_flag=True, help="Match data classes to the model's by name.")
@click.option("--batch-size", default=32, show_default=True, type=POSITIVE)
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
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
        result = run_eval(model, data_config(click.get_current_context()), split=split, batch_size=batch_size,
                          device=device, show_progress=not as_json)
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
@click.option("--clips", "n_clips", default=256, show_default=True, type=click.IntRange(min=4),
              help="Calibration clips (class-balanced sample).")
@click.option("--split", default="validation", show_default=True, type=click.Choice(["train", "validation"]),
              help="Split the calibration clips are drawn from (never the test split).")
@click.option("--batch-size", default=64, show_default=True, type=POSITIVE,
              help="Clips per batch (CKA and kNN are per batch).")
@click.option("--k", default=10, show_default=True, type=POSITIVE, help="Neighbours for mutual kNN alignment.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--block-metric", default="cka", show_default=True,
              type=click.Choice(["cosine", "cosine_frames", "cka", "cka_batch_biased", "mutual_knn"]))
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
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
        if out_dir:
            check_output_dir(out_dir)
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
    result = run_analysis(model, data_config(click.get_current_context()), out_dir, config=config, calib=calib)
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
@run_flags
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
    from .console import prune_table
    from .recipes.prune import run_prune

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
            help="layer: one teacher layer trained to reproduce the stack; transformer or linear: fresh blocks.")
@cfg_option(MIMIC_CFG, "init_layer", "--init-layer", type=NON_NEGATIVE, help="layer: the teacher layer it starts from.")
@cfg_option(MIMIC_CFG, "n_layers", "--layers", type=click.IntRange(1, 2), help="Mimic blocks (transformer, linear).")
@cfg_option(MIMIC_CFG, "hidden", "--hidden", type=POSITIVE, help="linear: bottleneck size h.")
@cfg_option(MIMIC_CFG, "heads", "--heads", type=POSITIVE, help="transformer: attention heads.")
@cfg_option(MIMIC_CFG, "ffn", "--ffn", type=POSITIVE, help="transformer: feed-forward size.")
@cfg_option(MIMIC_CFG, "width", "--width", type=POSITIVE, help="transformer: width (default: the teacher's; narrower adds projections).")
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
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@run_flags
@data_flags
@click.pass_context
def distill(ctx, teacher, data_dir, out_dir, paper, seed, device, config_file, latency_runs, overwrite, **_):
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
    """
    from .console import distill_table
    from .recipes.distill import run_distill

    from click.core import ParameterSource

    from .configs import with_changes
    from .distill import DistillConfig

    # a distill.json given to --config holds both: the student's settings under "mimic", the training's under "config"
    mimic = make_config(ctx, MIMIC_CFG, config_file, key="mimic")
    config = make_config(ctx, DISTILL_CFG, config_file, base=DistillConfig.paper() if paper else None)
    given = {n for n in ("seed", "device") if ctx.get_parameter_source(n) == ParameterSource.COMMANDLINE}
    if config_file is None or "seed" in given:
        config = config.with_seed(seed)
    if config_file is None or "device" in given:
        config = with_changes(config, {"stage1.device": device, "stage2.device": device})
    summary = run_distill(teacher, data_config(ctx), out_dir, mimic=mimic, config=config, overwrite=overwrite,
                          latency_runs=latency_runs)
    if summary:
        stdout().print(distill_table(summary))


@cli.command()
@click.argument("model")
@click.option("--out", "out_path", required=True, type=click.Path(), help="Output .onnx file (manifest beside it).")
@click.option("--data", "data_dir", type=click.Path(), help="Check parity on real clips of this data set.")
@click.option("--split", default="validation", show_default=True, type=click.Choice(["train", "validation", "test"]))
@click.option("--opset", default=17, show_default=True, type=click.IntRange(min=17))
@click.option("--with-hidden", is_flag=True, help="Also output the last hidden state.")
@click.option("--simplify/--no-simplify", default=True, show_default=True, help="onnxsim, onnxslim as fallback.")
@click.option("--atol", default=1e-3, show_default=True, type=NON_NEGATIVE_FLOAT,
              help="Parity tolerance: |onnx - torch| <= atol + rtol max|torch|.")
@click.option("--rtol", default=1e-3, show_default=True, type=NON_NEGATIVE_FLOAT)
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

    if not str(out_path).endswith(".onnx"):
        raise SpcError(f"the output should be a .onnx file, got {out_path}")
    check_output_file(out_path)  # before loading and exporting, not after
    m = load_model(model)
    audio = None
    if data_dir:
        from .data import load_clips

        ds = data_config(click.get_current_context()).open()
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
@click.option("--top", default=3, show_default=True, type=POSITIVE, help="Classes to show for a clip.")
@click.option("--stream/--clip", "as_stream", default=None,
              help="Detect keywords along the recording (default: when it is longer than 1.5 clips).")
@click.option("--hop", default=0.1, show_default=True, type=HOP,
              help="Stream: window hop in seconds.")
@click.option("--smooth", default=3, show_default=True, type=POSITIVE, help="Stream: posteriors averaged over this many windows.")
@click.option("--threshold", default=0.8, show_default=True, type=Finite(0, 1),
              help="Stream: detection threshold on the smoothed posterior.")
@click.option("--threads", default=0, show_default=True, type=THREADS, help="ONNX Runtime threads (0: default; at most the cores).")
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
        raise SpcError(f"{shown_path(audio_path)}: {exc}") from None
    if as_stream is None:
        as_stream = len(x) > 1.5 * spotter.clip_samples
    if as_stream:
        table = Table(title=f"keywords in {escape(shown_path(audio_path))}")
        for col in ("time (s)", "keyword", "score"):
            table.add_column(col)
        for d in spotter.stream(x, hop, smooth, threshold):
            table.add_row(f"{d.time_s:.2f}", d.label, f"{d.score:.3f}")
        stdout().print(table)
    else:
        table = Table(title=escape(shown_path(audio_path)))
        table.add_column("class")
        table.add_column("probability", justify="right")
        for label, p in spotter.classify(x, top):
            table.add_row(label, f"{p:.4f}")
        stdout().print(table)


@cli.command(name="stream-eval")
@click.argument("artifacts", nargs=-1, required=True)
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder (its test split is used).")
@click.option("--out", "out_dir", default="stream-eval", show_default=True, type=click.Path(),
              help="Folder for stream_eval.json, det.png and recordings.json.")
@click.option("--keywords", help="Comma-separated keyword classes (default: all but _silence_/_unknown_); "
              "the other classes are non-keywords.")
@click.option("--max-fa-per-hour", default=1.0, show_default=True, type=NON_NEGATIVE_FLOAT,
              help="Choose the threshold with the fewest misses at or under this many false accepts per hour.")
@click.option("--thresholds", help="Comma-separated detection thresholds (default: 0.3 ... 0.999).")
@click.option("--hop", default=0.1, show_default=True, type=HOP, help="Window hop (s).")
@click.option("--smooth", default=3, show_default=True, type=POSITIVE, help="Posteriors averaged over this many windows.")
@click.option("--refractory", default=1.0, show_default=True, type=NON_NEGATIVE_FLOAT, help="Seconds between detections.")
@click.option("--gap", default="0.5,3.0", show_default=True, help="Min,max seconds of background noise between clips.")
@click.option("--noise-rms", default=0.003, show_default=True, type=NON_NEGATIVE_FLOAT, help="Background (pink) noise level.")
@click.option("--repeats", default=1, show_default=True, type=POSITIVE, help="Use every test clip this many times "
              "(more hours, reshuffled gaps and noise; the same clips).")
@click.option("--chunk-ms", default=100, show_default=True, type=POSITIVE, help="Audio pushed per call, as an app would.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--threads", default=0, show_default=True, type=THREADS, help="ONNX Runtime threads (0: default; at most the cores).")
@click.option("--negatives", "negatives_dir", type=click.Path(),
              help="A folder of your own long non-keyword recordings, added as recordings of their own.")
@click.option("--negatives-hours", default=0.0, show_default=True, type=Finite(0, 100),
              help="Hours of keyword-free speech spoken offline by espeak-ng (cached in OUT/negatives) to add.")
@data_flags
def stream_eval(artifacts, data_dir, out_dir, keywords, max_fa_per_hour, thresholds, hop, smooth, refractory, gap,
                noise_rms, repeats, chunk_ms, seed, threads, negatives_dir, negatives_hours, layout, split_by,
                test_speaker, task):
    """Misses, false accepts per hour, latency and real-time factor of ARTIFACTS run live on long recordings.

    Builds seeded recordings from the test split (keyword and non-keyword clips between gaps of noise;
    recordings.json gives every clip's position), streams them through spc.runtime.StreamingSpotter
    and reports every threshold, a DET curve (det.png) and the threshold that meets --max-fa-per-hour.

    \b
    Examples:
      spc stream-eval fsdd.onnx --data ../shared/data/fsdd --keywords 0,1 --out fsdd-stream
      spc stream-eval model.onnx --data kws-data --negatives-hours 2 --out stream   # 2 h more negative audio
      spc stream-eval model.onnx --data kws-data --negatives my-kitchen-recordings/
      spc stream-eval report/artifacts/pruned.cpu.ort.onnx --data speech_commands_v0.02 --task v2-12
    """
    from .streaming_eval import DEFAULT_THRESHOLDS, StreamEvalConfig, stream_eval_lines, stream_figures

    def floats(text, what):
        try:
            return tuple(float(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise SpcError(f"{what} must be comma-separated numbers, got '{text}'") from None

    gaps = floats(gap, "--gap")
    if len(gaps) != 2:
        raise SpcError(f"--gap must be MIN,MAX seconds, got '{gap}'")
    config = StreamEvalConfig(
        keywords=tuple(k.strip() for k in keywords.split(",") if k.strip()) if keywords else None, hop_seconds=hop,
        smooth=smooth, refractory_seconds=refractory,
        thresholds=floats(thresholds, "--thresholds") if thresholds else DEFAULT_THRESHOLDS,
        max_fa_per_hour=max_fa_per_hour, gap_seconds=gaps, noise_rms=noise_rms, repeats=repeats, seed=seed,
        chunk_seconds=chunk_ms / 1000, threads=threads)
    named = {}
    for a in artifacts:
        named[Path(a).name if Path(a).name not in named else a] = a
    data = data_config(click.get_current_context())
    negatives, source = [], None
    if negatives_dir or negatives_hours:
        from .engines.manifest import manifest_path
        from .streaming.negatives import negative_audio
        from .streaming_eval import split_classes

        check_output_dir(out_dir)
        rate = int(read_json(manifest_path(artifacts[0]), "artifact manifest").get("sampling_rate", 16000))
        kws, _ = split_classes(data.open().labels, config.keywords)
        negatives, source = negative_audio(rate, folder=negatives_dir, hours=negatives_hours,
                                           cache=Path(out_dir) / "negatives", exclude_words=kws, seed=seed)
    s = stream_figures(named, data, out_dir, config=config, negatives=negatives, negatives_source=source)
    print_lines(stream_eval_lines(s))


@cli.command()
@click.argument("model")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder (train/validation/test).")
@click.option("--target", "target_name", default="cpu", show_default=True, help="Target name or family (spc targets).")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Report folder (report.md, report.json, artifacts).")
@cfg_option(COMPRESS_CFG, "method", "--method",
            help="auto: try both and keep the fastest candidate that meets the target.")
@cfg_option(COMPRESS_CFG, "retention", "--retention", type=RETENTION, help="Keep at least this fraction of the accuracy.")
@cfg_option(COMPRESS_CFG, "prune.heal.method", "--heal", help="How pruned candidates are repaired.")
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
@cfg_option(COMPRESS_CFG, "keywords", "--keywords", type=CSV,
            help="Classes that are keywords in the streaming evaluation (default: all but _silence_/_unknown_).")
@cfg_option(COMPRESS_CFG, "max_fa_per_hour", "--max-fa-per-hour", type=Finite(0, 1000),
            help="False-accept budget: each detector's threshold is the one with the fewest misses at or under it.")
@cfg_option(COMPRESS_CFG, "negatives_hours", "--negatives-hours", type=Finite(0, 100),
            help="Hours of keyword-free speech (espeak-ng, made offline, cached) added to each split's streams.")
@cfg_option(COMPRESS_CFG, "negatives", "--negatives", type=click.Path(),
            help="A folder of your own long non-keyword recordings for the test streams.")
@config_file_option
@click.option("--map-labels", is_flag=True, help="The data holds only some of the model's classes: match them by name.")
@click.option("--overwrite", is_flag=True, help="Replace an existing report folder.")
@data_flags
@click.pass_context
def compress(ctx, model, data_dir, target_name, out_dir, config_file, overwrite, **_):
    """The main job: MODEL -> an artifact for --target that keeps --retention of the accuracy, with a report.

    Analyses, prunes (healing the candidates) and/or distils, exports to ONNX (parity-checked), judges
    every candidate on validation as a classifier (clip retention) and as a streaming detector (hit rate
    at --max-fa-per-hour on streams with --negatives-hours of negative audio; scores calibrated to the
    original's), picks the fastest that meets --retention in both, builds it for the target and
    evaluates the built artifact itself on the test split, as clips and as a detector.
    Re-running reuses finished stages (keyed by the model's weights, the data and the settings).
    Where this machine cannot build the target's engine, it stops at ONNX and prints the commands to
    run on the device.

    \b
    Examples:
      spc compress fsdd-teacher --data ../shared/data/fsdd --target cpu --out fsdd-report
      spc compress kws-teacher --data speech_commands_v0.02 --target jetson-orin --out kws-report
      spc compress kws-teacher --data sc --out again --config kws-report/report.json
    """
    from .recipes.compress import run_compress

    config = make_config(ctx, COMPRESS_CFG, config_file)
    report = run_compress(model, data_config(ctx), out_dir, target_name, config=config, overwrite=overwrite)
    print_compress_summary(report, out_dir)


def print_compress_summary(report: dict, out_dir) -> None:
    from .console import compress_deferred_line, compress_table, compress_verdict_line, label_mapping_note

    label_mapping_note(report.get("label_mapping"))
    stdout().print(compress_table(report))
    stdout().print(compress_verdict_line(report, Path(out_dir) / "report.md"))
    for warning in report.get("warnings", []):
        stdout().print(f"[bold yellow]warning:[/] {escape(str(warning))}")
    for line in report.get("next_steps", []):
        if line == report["next_steps"][0]:
            stdout().print(compress_deferred_line(report["target"]["name"], str(report["build"].get("deferred"))))
        stdout().print(f"  {escape(line)}", soft_wrap=True)


@cli.command(name="bench")
@click.argument("artifacts", nargs=-1, required=True)
@click.option("--target", "target_name", help="Shapes from this target's profile (default: the target the first "
              "artifact was built for), kept within each engine's own profile.")
@click.option("--data", "data_dir", type=click.Path(), help="Also measure accuracy on this data set.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["validation", "test"]))
@click.option("--report", "report_dir", type=click.Path(), help="Add the figures to this compress report.")
@click.option("--runs", default=30, show_default=True, type=RUNS, help="Timed runs per shape (after warm-up).")
@click.option("--warmup", default=5, show_default=True, type=WARMUP)
@click.option("--threads", default=0, show_default=True, type=THREADS, help="ONNX Runtime threads (0: default; at most the cores).")
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

    if json_path:
        check_output_file(json_path)  # before the timing, not after
    result = run_bench(list(artifacts), target_name, data=data_config(click.get_current_context()) if data_dir else None,
                       split=split, report_dir=report_dir, runs=runs, warmup=warmup, threads=threads)
    from .console import bench_table, label_mapping_note

    for mapping in {m["note"]: m for m in result.get("label_mapping", {}).values() if m.get("note")}.values():
        label_mapping_note(mapping)
    stdout().print(bench_table(result))
    if json_path:
        from .fileio import atomic_write_text

        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json_path, json.dumps(result, indent=2))


@cli.command()
@click.option("--out", "out_dir", default="spc-demo", show_default=True, type=click.Path(), help="Work folder.")
@cfg_option(DEMO_CFG, "train.epochs", "--epochs", type=POSITIVE, help="Teacher training epochs.")
def demo(out_dir, epochs):
    """The built-in default: offline keyword data (espeak-ng), a small teacher, then spc compress on it.

    \b
    1. 3,000 one-second clips of ten spoken words (ten voices, rates, pitches, noise), made offline;
    2. a Whisper-architecture teacher (0.87 M parameters, log-mel front) trained from scratch on them;
    3. spc compress --target cpu --method auto on that teacher, with its report.
    Needs no network and no GPU; under 5 minutes on 2 CPU cores. Writes OUT/data, OUT/teacher,
    OUT/report (report.md, report.json, the CPU artifact) and OUT/demo.json. Re-running reuses what is done.
    """
    from dataclasses import replace

    from .recipes.demo import DEMO_TRAIN, run_demo

    train = replace(DEMO_TRAIN, train=replace(DEMO_TRAIN.train, epochs=epochs))
    check_output_dir(out_dir)
    result = run_demo(out_dir, train=train)
    stdout().print(
        f"demo teacher: test accuracy {pct(result['test_accuracy'])} (chance {pct(result['chance'])}), "
        f"{result['params']['total'] / 1e6:.2f} M parameters"
    )
    print_compress_summary(read_json(Path(out_dir) / "report" / "report.json", "compress report"), Path(out_dir) / "report")
    took = result["seconds"]
    stdout().print(f"demo took {took['total']:.0f} s (data {took['data']:.0f} s, teacher {took['teacher']:.0f} s, "
                   f"compress {took['compress']:.0f} s); summary in {Path(out_dir) / 'demo.json'}")


@cli.group()
def calib():
    """Calibration sets: make a manifest, check it against a data folder."""


@calib.command(name="make")
@click.option("--data", "data_dir", required=True, type=click.Path(), help="Data folder.")
@click.option("--n", "n_clips", default=512, show_default=True, type=POSITIVE, help="Clips in the set.")
@click.option("--out", "out", help="Manifest name or path (NAME -> NAME.json).")
@click.option("--split", default="validation", show_default=True, type=click.Choice(["validation", "train", "test"]),
              help="Where clips are drawn from (test is refused).")
@click.option("--rule", default="class-balanced", show_default=True, type=click.Choice(["class-balanced", "random"]))
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--from", "rule_file", type=click.Path(exists=True, dir_okay=False), help="Build from a rule file.")
@data_flags
def calib_make(data_dir, n_clips, out, split, rule, seed, rule_file, layout, split_by, test_speaker, task):
    """Draw a reproducible calibration set from DATA and write its manifest.

    \b
    Example:
      spc calib make --data ../shared/data/fsdd --n 256 --out fsdd-256
    """
    from .calib.manifest import make_from_rule, make_manifest, manifest_hash, save_manifest

    if rule_file:
        manifest = make_from_rule(rule_file, data_dir)
        out = out or Path(rule_file).name.replace(".rule.json", "")
    else:
        if not out:
            raise SpcError("calib make needs --out NAME (or --from RULE)")
        ds = data_config(click.get_current_context()).open()
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
@click.option("--latency-runs", default=20, show_default=True, type=WARMUP)
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

    s = run_precision(model, data_config(click.get_current_context()), calib, out_dir, latency_runs=latency_runs,
                      int8_method=int8_method)
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
    try:
        os.getcwd()
    except FileNotFoundError:  # every relative path, and some libraries' absolute ones, would fail later
        error_line("the current folder no longer exists (deleted while this shell was in it): cd to a folder "
                   "that exists and run the command again")
        sys.exit(1)
    sys.exit(cli.main(standalone_mode=True))


if __name__ == "__main__":
    main()
