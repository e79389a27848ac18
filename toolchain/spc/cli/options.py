"""The option machinery every command shares: checked numbers, data flags, options derived from the config
dataclasses (each default stated once, where the config is defined), ``--config FILE``."""

from __future__ import annotations

import math
import os

import click


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
SMOOTH = click.IntRange(1, 1000)  # windows a live history holds: a billion-row history is a user error
def data_flags(f):
    f = click.option("--layout", default="auto", show_default=True, help=LAYOUT_HELP)(f)
    f = click.option("--split-by", type=click.Choice(["take", "speaker"]), help="fsdd layout: split rule.")(f)
    f = click.option("--test-speaker", help="fsdd layout with --split-by speaker: the held-out speaker.")(f)
    f = click.option("--task", type=click.Choice(["35", "v2-12"]), help="speech-commands layout: the task.")(f)
    return f


# ---------------------------------------------------------------- options derived from the config dataclasses
FINETUNE_CFG = "spc.training.finetuning:FinetuneConfig"
PRUNE_CFG = "spc.prune:PruneConfig"
MIMIC_CFG = "spc.models:MimicConfig"
DISTILL_CFG = "spc.distill:DistillConfig"
COMPRESS_CFG = "spc.recipes.compress:CompressConfig"
STREAM_CFG = "spc.streaming.evaluation:StreamEvalConfig"
ANALYSIS_CFG = "spc.analysis.run:AnalysisConfig"
EXPORT_CFG = "spc.export:ExportConfig"
EVAL_CFG = "spc.recipes.evaluate:EvalConfig"
BENCH_CFG = "spc.recipes.bench:BenchConfig"
BUILD_CFG = "spc.engines.build:BuildConfig"
CALIB_CFG = "spc.calib.manifest:CalibConfig"
PRECISION_CFG = "spc.recipes.precision_check:PrecisionConfig"
QUANTIZE_CFG = "spc.precision.int8_cpu:QuantizeConfig"
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
        from ..configs import default_of

        return default_of(_config_class(self.config), self.field)


def cfg_option(config: str, field: str, *decls, **kw):
    return click.option(*decls, cls=ConfigOption, config=config, field=field, **kw)


class SignatureOption(click.Option):
    """An option standing for a keyword parameter of the API function the command calls (``module:function`` or
    ``module:Class`` for its ``__init__``): its default is that parameter's, read when needed (stated once)."""

    def __init__(self, param_decls, *, function: str, parameter: str, **kw):
        super().__init__(param_decls, show_default=True, **kw)
        self.function, self.parameter = function, parameter

    def get_default(self, ctx, call: bool = True):
        import inspect

        params = inspect.signature(_config_class(self.function)).parameters
        if self.parameter not in params:  # a stand-in taking **kwargs (tests' fakes): nothing to show or pass
            return None
        return params[self.parameter].default


def api_option(function: str, parameter: str, *decls, **kw):
    return click.option(*decls, cls=SignatureOption, function=function, parameter=parameter, **kw)


def make_config(ctx, config: str, config_file: str | None = None, base=None, key: str = "config"):
    """The config: ``config_file`` (a config JSON, or a report holding one under ``key``), else ``base`` or the
    defaults, changed by the options of this config given on the command line (all of them without a file)."""
    from click.core import ParameterSource

    from ..configs import load_config, with_changes

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


CSV, CSV_INT, CSV_FLOAT = _Csv(str), _Csv(int), _Csv(float)
POSITIVE_FLOAT = Finite(min=0, min_open=True)
CLIP_SECONDS = Finite(min=0.1, max=30.0)
RETENTION = Finite(0, 1, min_open=True)
config_file_option = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False),
    help="Settings from a JSON file (a config, or a report/summary that holds one); options given override it.")


def data_config(ctx):
    """The ``DataConfig`` of the data options every data-reading command shares."""
    from ..data import DataConfig

    p = ctx.params
    return DataConfig(p["data_dir"], p["layout"], p["split_by"], p["test_speaker"], p["task"],
                      subset=bool(p.get("map_labels")))


def run_flags(function: str):
    """Options every model-producing command shares (prune, distill); ``function``: the recipe it calls, whose
    ``latency_runs`` default the option shows."""

    def add(f):
        f = click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")(f)
        f = click.option("--map-labels", is_flag=True,
                         help="The data holds only some of the model's classes: match them by name.")(f)
        f = api_option(function, "latency_runs", "--latency-runs", type=WARMUP, help="Timed CPU runs per model (0: skip).")(f)
        return config_file_option(f)

    return add


def detector_options(config: str, prefix: str = ""):
    """The streaming-detector option group compress and stream-eval share (Polygraphy's option groups as the model):
    each option one field of a ``StreamEvalConfig`` (``prefix``: where it sits inside ``config``)."""
    groups = [
        ("keywords", ("--keywords",), dict(type=CSV, help="Comma-separated keyword classes (default: all but "
                                           "_silence_/_unknown_); the other classes are non-keywords.")),
        ("max_fa_per_hour", ("--max-fa-per-hour",), dict(type=Finite(0, 1000, min_open=True),
                                                        help="False-accept budget the operating point is chosen at.")),
        ("synthetic_hours", ("--synthetic-negatives",), dict(type=Finite(0, 1000), help="Hours of synthetic keyword-free "
                                                             "speech (espeak-ng, made offline, cached) added to the test "
                                                             "streams (default: none; real audio first).")),
        ("validation_synthetic_hours", ("--validation-synthetic-negatives",),
         dict(type=Finite(0, 1000), help="Hours of it in the validation streams the operating point is chosen on.")),
        ("snr_db", ("--snr-db",), dict(type=CSV_FLOAT, help="LO,HI: every clip in a stream at an SNR drawn from this "
                                       "range (dB over the background noise), the same for every split.")),
        ("max_clips", ("--stream-clips",), dict(type=POSITIVE, help="Build each split's clip streams from at most this "
                                                "many clips (a seeded, class-balanced sample).")),
        ("hop_seconds", ("--hop",), dict(type=HOP, help="Window hop (s) of the live spotter.")),
        ("smooth_choices", ("--smooth-choices",), dict(type=CSV_INT, help="Smoothing (windows) the operating point "
                                                       "may choose on validation.")),
        ("refractory_choices", ("--refractory-choices",), dict(type=CSV_FLOAT, help="Refractory periods (s) it may "
                                                               "choose.")),
    ]

    def add(f):
        for field, decls, kw in reversed(groups):
            f = cfg_option(config, prefix + field, *decls, **kw)(f)
        return f

    return add
