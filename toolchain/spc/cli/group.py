"""The ``spc`` group: one red line and exit code 1 for a user error, the training install named where a command
needs it, and the console-script entry point."""

from __future__ import annotations

import os
import sys

import click
from rich.markup import escape

from ..console import stderr, stdout
from ..errors import SpcError, SpcInternalError

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
            from ..fileio import disk_error

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
