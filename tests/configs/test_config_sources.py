"""Every command that does work takes its settings from one frozen dataclass: no option restates a default its
config states, each has --config, and the settings a run records bring the same settings back."""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engines"))
import trt_fakes  # noqa: E402

from spc.cli import cli  # noqa: E402
from spc.cli.options import ConfigOption, _config_class  # noqa: E402

WORK_COMMANDS = {"finetune", "eval", "analyze", "prune", "distill", "export", "precision", "quantize", "build", "bench",
                 "stream-eval", "compress", "calib make"}


def _commands(group: click.Group, prefix: str = ""):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def _fields(config) -> set[str]:
    """Every field name of a config class (or instance), nested configs' fields too."""
    cls = config if isinstance(config, type) else type(config)
    hints = typing.get_type_hints(cls)
    out = set()
    for f in dataclasses.fields(cls):
        out.add(f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            out |= _fields(hints[f.name])
    return out


def restated_defaults(cmd: click.Command) -> list[str]:
    """Options of ``cmd`` that state a default of their own for a setting the command's configs hold."""
    configs = {p.config for p in cmd.params if isinstance(p, ConfigOption)}
    held = set().union(*(_fields(_config_class(c)) for c in configs)) if configs else set()
    return [f"--{p.name} (default {p.default!r})" for p in cmd.params
            if isinstance(p, click.Option) and not isinstance(p, ConfigOption) and p.name in held and p.default is not None]


def test_no_option_restates_a_default_that_its_commands_config_states():
    bad = {name: r for name, cmd in _commands(cli) if (r := restated_defaults(cmd))}
    assert not bad


def test_the_restated_default_check_catches_one():
    @click.command()
    @click.option("--seed", default=0)
    @click.option("--runs", cls=ConfigOption, config="spc.recipes.bench:BenchConfig", field="runs")
    def fake(seed, runs):
        pass

    @click.command()
    @click.option("--warmup", default=5)  # BenchConfig.warmup stated again
    @click.option("--runs", cls=ConfigOption, config="spc.recipes.bench:BenchConfig", field="runs")
    def restating(warmup, runs):
        pass

    assert restated_defaults(fake) == []  # BenchConfig has no seed
    assert restated_defaults(restating) == ["--warmup (default 5)"]


def test_every_command_that_does_work_has_a_config_and_a_config_file_option():
    found = dict(_commands(cli))
    assert WORK_COMMANDS <= set(found)
    for name in sorted(WORK_COMMANDS):
        params = found[name].params
        assert any(isinstance(p, ConfigOption) for p in params), name
        assert any(p.name == "config_file" for p in params), name


def _invoke(*args) -> str:
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def test_calib_build_quantize_and_bench_rerun_the_settings_they_recorded(tmp_path, tone_dataset):
    from spc.engines.artifact_manifest import read_manifest

    # calib make: the manifest records its draw; --config brings it back on another output
    _invoke("calib", "make", "--data", tone_dataset, "--n", 7, "--seed", 3, "--rule", "random", "--out", tmp_path / "a")
    first = json.loads((tmp_path / "a.json").read_text())
    assert first["config"] == {"n_clips": 7, "split": "validation", "rule": "random", "seed": 3, "version": 1}
    _invoke("calib", "make", "--data", tone_dataset, "--config", tmp_path / "a.json", "--out", tmp_path / "b")
    again = json.loads((tmp_path / "b.json").read_text())
    assert again["config"] == first["config"] and again["clips"] == first["clips"]
    _invoke("calib", "make", "--data", tone_dataset, "--config", tmp_path / "a.json", "--n", 4, "--out", tmp_path / "c")
    assert json.loads((tmp_path / "c.json").read_text())["config"] == {**first["config"], "n_clips": 4}

    # quantize: the INT8 variant's manifest records its settings
    onnx = trt_fakes.tiny_onnx(tmp_path / "m.onnx")
    q = tmp_path / "m.int8-cpu.onnx"
    _invoke("quantize", onnx, "--per-tensor", "--out", q)
    assert read_manifest(q)["config"] == {"per_channel": False, "conv": "fp32", "version": 2}
    _invoke("quantize", onnx, "--config", manifest_json(q), "--out", tmp_path / "q2.onnx")
    assert read_manifest(tmp_path / "q2.onnx")["config"]["per_channel"] is False

    # build: the artifact's manifest records the build settings
    _invoke("build", onnx, "--target", "cpu", "--out", f"{tmp_path}/one/")
    built = tmp_path / "one" / "m.cpu.ort.onnx"
    assert read_manifest(built)["build_config"] == {"fp32_layers": [], "fp32_from": None, "timing_cache": None,
                                                   "threads": 0, "opt_batch": 0, "version": 3}
    _invoke("build", onnx, "--target", "cpu", "--out", f"{tmp_path}/two/", "--config", manifest_json(built))
    assert read_manifest(tmp_path / "two" / "m.cpu.ort.onnx")["build_config"] == read_manifest(built)["build_config"]
    _invoke("build", onnx, "--target", "cpu", "--out", f"{tmp_path}/three/", "--config", manifest_json(built),
            "--threads", "1")  # an option given wins over the file
    three = read_manifest(tmp_path / "three" / "m.cpu.ort.onnx")
    assert three["build_config"]["threads"] == 1 and three["thread_choice"] == {"threads": 1, "chosen_by": "build config"}

    # bench: the --json result records its settings; --config reruns them, an option given wins
    _invoke("bench", built, "--runs", 3, "--warmup", 1, "--json", tmp_path / "b1.json")
    b1 = json.loads((tmp_path / "b1.json").read_text())
    assert b1["config"] == {"runs": 3, "warmup": 1, "threads": 0, "split": "test", "version": 1}
    assert {r["runs"] for r in b1["latency"]} == {3}
    _invoke("bench", built, "--config", tmp_path / "b1.json", "--warmup", 0, "--json", tmp_path / "b2.json")
    b2 = json.loads((tmp_path / "b2.json").read_text())
    assert b2["config"] == {**b1["config"], "warmup": 0} and {r["runs"] for r in b2["latency"]} == {3}


def manifest_json(artifact: Path) -> Path:
    from spc.engines.artifact_manifest import manifest_path

    return manifest_path(artifact)


def test_eval_json_reruns_its_settings(tmp_path, tone_dataset):
    from conftest import tiny_configs
    from spc.data import open_dataset
    from spc.models import build_model, save_model

    model = build_model(tiny_configs()["wav2vec2"], open_dataset(tone_dataset).labels, seed=0)
    save_model(model, tmp_path / "m")
    out = _invoke("eval", tmp_path / "m", "--data", tone_dataset, "--split", "validation", "--batch-size", 5,
                  "--device", "cpu", "--json")
    first = json.loads(out)
    assert first["config"] == {"split": "validation", "batch_size": 5, "device": "cpu", "version": 1}
    (tmp_path / "e.json").write_text(out)
    again = json.loads(_invoke("eval", tmp_path / "m", "--data", tone_dataset, "--config", tmp_path / "e.json",
                               "--json"))
    assert again["config"] == first["config"] and again["n_clips"] == first["n_clips"]


def test_precision_reads_its_settings_back_from_its_summary(tmp_path):
    from spc.configs import load_config
    from spc.errors import SpcError
    from spc.recipes.precision_check import PrecisionConfig

    cfg = PrecisionConfig(int8_method="entropy", latency_runs=0)
    (tmp_path / "precision.json").write_text(json.dumps({"model": "m", "config": cfg.as_dict()}))
    assert load_config(PrecisionConfig, tmp_path / "precision.json") == cfg
    with pytest.raises(SpcError, match="unknown INT8 calibration 'kl'"):
        PrecisionConfig(int8_method="kl")


@pytest.mark.parametrize("command, target, options, key", [
    ("finetune", "spc.recipes.finetune.run_finetune", ["--epochs", "3", "--lr", "0.002"], "config"),
    ("prune", "spc.recipes.prune_layers.run_prune", ["--retention", "0.9", "--heal", "none"], "config"),
    ("compress", "spc.recipes.compress.run_compress", ["--retention", "0.9", "--method", "prune", "--int8-cpu"], "config"),
    ("precision", "spc.recipes.precision_check.run_precision", ["--int8-method", "entropy", "--latency-runs", "2"], "config"),
])
def test_the_long_commands_rerun_the_settings_their_summary_records(tmp_path, monkeypatch, command, target, options, key):
    """run -> the summary records the config -> --config SUMMARY -> the same settings (the recipes faked)."""
    seen = []

    def fake(*args, **kwargs):
        config = kwargs.get("config") or [a for a in args if dataclasses.is_dataclass(a)][-1]  # not the DataConfig
        seen.append(config)
        raise SystemExit(0)

    monkeypatch.setattr(target, fake)
    (tmp_path / "d").mkdir()
    base = [command, "m", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "o")]
    if command == "precision":
        base += ["--calib", "c"]
    CliRunner().invoke(cli, base + options)
    first = seen[-1]
    (tmp_path / "summary.json").write_text(json.dumps({key: dataclasses.asdict(first)}))
    CliRunner().invoke(cli, base + ["--config", str(tmp_path / "summary.json")])
    assert len(seen) == 2 and seen[-1] == first and seen[-1] != type(first)()


def test_optional_nested_configs_and_repeated_lists_come_back_as_configs(tmp_path):
    """A report's ``tiny`` (a MimicConfig or null) is read back as a MimicConfig; ``--fp32-layers`` may repeat."""
    from spc.configs import from_dict
    from spc.engines.build import BuildConfig
    from spc.models import MimicConfig
    from spc.recipes.compress import CompressConfig

    config = CompressConfig(tiny=MimicConfig("tiny", 2, width=64))
    again = from_dict(CompressConfig, json.loads(json.dumps(config.as_dict())))
    assert again == config and isinstance(again.tiny, MimicConfig)
    assert from_dict(CompressConfig, json.loads(json.dumps(CompressConfig().as_dict()))).tiny is None
    assert BuildConfig(fp32_layers=(("/a", "/b"), ("/c",))).fp32_layers == ("/a", "/b", "/c")
    assert BuildConfig(fp32_layers=("/a,/b",)).fp32_layers == ("/a", "/b")


def test_calib_make_reruns_a_manifest_written_before_manifests_held_their_config(tmp_path, tone_dataset):
    _invoke("calib", "make", "--data", tone_dataset, "--n", 5, "--seed", 2, "--out", tmp_path / "a")
    old = json.loads((tmp_path / "a.json").read_text())
    del old["config"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    _invoke("calib", "make", "--data", tone_dataset, "--config", tmp_path / "old.json", "--out", tmp_path / "b")
    again = json.loads((tmp_path / "b.json").read_text())
    assert again["clips"] == old["clips"] and again["config"]["n_clips"] == 5 and again["config"]["seed"] == 2
