"""Each default stated once: an option's default is its config field's (``ConfigOption``) or its API function's
parameter's (``SignatureOption``), never a second literal in the CLI, except the few that exist only in the CLI."""

from __future__ import annotations

import dataclasses
import inspect

import click

from spc.cli import cli
from spc.cli.options import ConfigOption, SignatureOption
from spc.configs import default_of

#: (command, option name): defaults no config or API function holds (the CLI's own choices), each with its reason
CLI_ONLY = {
    ("compress", "target_name"): "the target is a CLI argument to run_compress, which has no default target",
    ("demo", "out_dir"): "the demo's work folder: the API takes a path",
    ("run", "top"): "how many classes the command prints",
    ("stream-eval", "out_dir"): "the output folder: the API takes a path",
    ("export", "split"): "which split export reads its parity clips from (the API takes clips)",
    ("*", "layout"): "data_flags: DataConfig's layout, given positionally by data_config",
}


def _commands():
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        cmd = cli.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from ((f"{name} {s}", cmd.get_command(ctx, s)) for s in cmd.list_commands(ctx))
        else:
            yield name, cmd


def _literal(p: click.Parameter) -> bool:
    if not isinstance(p, click.Option) or isinstance(p, (ConfigOption, SignatureOption)) or p.is_flag:
        return False
    return p.default is not None and p.default is not getattr(click.core, "UNSET", object())


def test_no_option_states_a_default_a_config_or_function_already_holds():
    literal = {(name, p.name) for name, cmd in _commands() for p in cmd.params if _literal(p)}
    unexplained = {k for k in literal if k not in CLI_ONLY and ("*", k[1]) not in CLI_ONLY}
    assert unexplained == set(), ("derive these defaults from the config (cfg_option) or the API function "
                                  f"(api_option), or list them in CLI_ONLY with why: {sorted(unexplained)}")
    # the list names nothing that is no longer there (a stale exemption hides the next duplicate)
    assert {k for k in CLI_ONLY if k[0] != "*"} <= literal


def test_derived_defaults_are_the_config_fields_and_signature_parameters():
    seen = {"config": 0, "signature": 0}
    for name, cmd in _commands():
        for p in cmd.params:
            if isinstance(p, ConfigOption):
                from spc.cli.options import _config_class

                cls = _config_class(p.config)
                cls = cls if isinstance(cls, type) else type(cls)
                assert dataclasses.is_dataclass(cls)
                assert p.get_default(None) == default_of(_config_class(p.config), p.field), (name, p.name)
                seen["config"] += 1
            elif isinstance(p, SignatureOption):
                from spc.cli.options import _config_class

                params = inspect.signature(_config_class(p.function)).parameters
                assert p.parameter in params, (name, p.name, "no such parameter")
                param = params[p.parameter]
                assert param.default is not inspect.Parameter.empty, (name, p.name)
                assert p.get_default(None) == param.default, (name, p.name)
                seen["signature"] += 1
    assert seen["config"] > 50 and seen["signature"] >= 4


def test_a_literal_default_that_duplicates_a_config_is_caught():
    """The check above can fail: an option given a literal default is reported."""
    opt = click.Option(["--latency-runs"], default=20)
    assert _literal(opt)
    assert not _literal(click.Option(["--overwrite"], is_flag=True))
