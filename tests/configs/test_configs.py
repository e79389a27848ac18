"""Configs are frozen dataclasses: JSON round trips, dotted changes revalidated, one-line errors, CLI defaults from them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from spc.cli import cli
from spc.configs import default_of, from_dict, load_config, with_changes
from spc.data import DataConfig
from spc.distill import DistillConfig, MimicConfig
from spc.errors import SpcError
from spc.training.finetuning import FinetuneConfig
from spc.prune import HealConfig, PruneConfig
from spc.recipes.compress import CompressConfig
from spc.training.loop import TrainConfig

CONFIGS = [TrainConfig, FinetuneConfig, PruneConfig, HealConfig, MimicConfig, DistillConfig, CompressConfig]


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_config_round_trips_through_json_and_is_frozen_and_versioned(cls):
    config = cls()
    again = from_dict(cls, json.loads(json.dumps(dataclasses.asdict(config))))
    assert again == config
    assert config.version >= 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.version = 99  # type: ignore[misc]


def test_the_papers_distillation_round_trips_too():
    assert from_dict(DistillConfig, json.loads(json.dumps(DistillConfig.paper().as_dict()))) == DistillConfig.paper()


def test_dotted_changes_are_validated_again():
    changed = with_changes(CompressConfig(), {"prune.heal.method": "distill", "distill.stage1.epochs": 3, "retention": 0.9})
    assert changed.prune.heal.method == "distill" and changed.distill.stage1.epochs == 3
    assert changed.prune.retention == 0.9  # compress's target is the pruning target
    with pytest.raises(SpcError, match="unknown heal"):
        with_changes(CompressConfig(), {"prune.heal.method": "scrub"})
    with pytest.raises(SpcError, match="at least 1 epoch"):
        with_changes(FinetuneConfig(), {"train.epochs": 0})


def test_unknown_settings_and_damaged_files_are_one_line(tmp_path):
    with pytest.raises(SpcError, match=r"unknown settings \['epochz'\]"):
        from_dict(TrainConfig, {"epochz": 3})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SpcError, match="cannot read config file"):
        load_config(TrainConfig, tmp_path / "bad.json")


def test_a_report_reruns_its_own_settings(tmp_path):
    """``--config report.json`` reads the config a report recorded (the key ``config``)."""
    config = with_changes(CompressConfig(), {"method": "prune", "prune.orders": ("bi", "greedy"), "seed": 3})
    (tmp_path / "report.json").write_text(json.dumps({"run_id": "x", "config": config.as_dict()}))
    assert load_config(CompressConfig, tmp_path / "report.json") == config


def test_the_cli_shows_the_dataclass_defaults():
    """One source of truth: --help shows what the config dataclasses say."""
    for command, flag, value in (("finetune", "--epochs", default_of(FinetuneConfig, "train.epochs")),
                                 ("prune", "--heal", default_of(PruneConfig, "heal.method")),
                                 ("distill", "--kind", default_of(MimicConfig, "kind")),
                                 ("compress", "--retention", default_of(CompressConfig, "retention"))):
        text = CliRunner().invoke(cli, [command, "--help"], terminal_width=200).output
        line = next(x for x in text.splitlines() if x.strip().startswith(flag))
        assert f"default: {value}" in line, line


def test_data_config_refuses_an_unknown_layout():
    with pytest.raises(SpcError, match="unknown data layout"):
        DataConfig("somewhere", layout="zip")


@pytest.mark.parametrize("settings, message", [
    ({"retention": "high"}, "retention must be a number, got 'high'"),
    ({"seed": "zero"}, "seed must be an integer, got 'zero'"),
    ({"latency_runs": 2.5}, "latency_runs must be an integer, got 2.5"),
    ({"stream": "yes"}, "stream must be true or false, got 'yes'"),
    ({"detector": {"keywords": ["yes", 3]}}, r"keywords must be a list \(str items\) or null"),
    ({"keywords": ["yes"]}, r"unknown settings \['keywords'\]"),
])
def test_config_files_are_type_checked_on_construction(tmp_path, settings, message):
    (tmp_path / "c.json").write_text(json.dumps(settings))
    with pytest.raises(SpcError, match=message):
        load_config(CompressConfig, tmp_path / "c.json")
    r = CliRunner().invoke(cli, ["compress", "m", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                                 "--config", str(tmp_path / "c.json")])
    assert r.exit_code == 1 and "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1


def test_distill_config_file_sets_the_student_seed_and_device(tmp_path, monkeypatch):
    """A distill.json given to --config reruns its student (mimic) and its seed and device; flags given win."""
    seen = {}

    def fake_run_distill(teacher, data, out, *, mimic, config, **_):
        seen.update(mimic=mimic, config=config)

    monkeypatch.setattr("spc.recipes.distill_student.run_distill", fake_run_distill)
    mimic = MimicConfig(kind="transformer", n_layers=2, heads=2, ffn=64)
    config = with_changes(DistillConfig().with_seed(7), {"stage1.device": "cpu", "stage2.device": "cpu",
                                                         "stage1.epochs": 3})
    (tmp_path / "distill.json").write_text(json.dumps({"mimic": dataclasses.asdict(mimic), "config": config.as_dict()}))
    args = ["distill", "t", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(tmp_path / "distill.json")]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert seen["mimic"] == mimic and seen["config"] == config
    r = CliRunner().invoke(cli, args + ["--seed", "9", "--layers", "1"])
    assert r.exit_code == 0, r.output
    assert seen["config"].stage1.seed == 9 and seen["config"].stage1.epochs == 3 and seen["mimic"].n_layers == 1


def test_the_streaming_defaults_are_stated_once():
    """hop, smoothing, threshold and refractory time come from spc.streaming.operating_point.DEFAULT everywhere: the
    runtime falls back to it, stream-eval's config takes its hop from it, and no CLI option writes one as a literal
    (``spc run``'s options default to the artifact's operating point)."""
    import ast
    from pathlib import Path

    from spc.streaming.evaluation import StreamEvalConfig
    from spc.streaming.operating_point import DEFAULT

    cfg = StreamEvalConfig()
    assert cfg.hop_seconds == DEFAULT.hop_seconds and DEFAULT.smooth in cfg.smooth_choices
    assert DEFAULT.refractory_seconds in cfg.refractory_choices
    cli_dir = Path(__file__).resolve().parents[2] / "toolchain" / "spc" / "cli"
    literal = []
    for f in cli_dir.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                    and node.args[0].value in ("--hop", "--smooth", "--threshold", "--refractory"):
                default = next((k.value for k in node.keywords if k.arg == "default"), None)
                if isinstance(default, ast.Constant):
                    literal.append(f"{f.name}: {node.args[0].value}")
    assert literal == []
    text = CliRunner().invoke(cli, ["stream-eval", "--help"], terminal_width=200).output
    line = next(x for x in text.splitlines() if x.strip().startswith("--hop"))
    assert f"default: {DEFAULT.hop_seconds}" in line
    text = CliRunner().invoke(cli, ["run", "--help"], terminal_width=200).output
    line = next(x for x in text.splitlines() if x.strip().startswith("--hop"))
    assert "the artifact's operating point" in line


def test_stream_eval_takes_its_options_from_the_config_and_reruns_its_json(tmp_path, monkeypatch):
    """stream-eval's options come from StreamEvalConfig; --config stream_eval.json gives the same settings back."""
    from spc.streaming.evaluation import StreamEvalConfig

    seen = []

    def fake_evaluate(named, data, out, *, config, negatives_dir, noise_dir):
        seen.append(config)
        (Path(out)).mkdir(parents=True, exist_ok=True)
        (Path(out) / "stream_eval.json").write_text(json.dumps({"config": dataclasses.asdict(config)}))
        return {}

    monkeypatch.setattr("spc.streaming.evaluation.evaluate_streams", fake_evaluate)
    monkeypatch.setattr("spc.streaming.evaluation.stream_eval_lines", lambda s: [])
    (tmp_path / "d").mkdir()
    args = ["stream-eval", "m.onnx", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "s")]
    r = CliRunner().invoke(cli, args + ["--hop", "0.2", "--gap", "1,2", "--keywords", "yes,no", "--seed", "4",
                                        "--snr-db", "0,20", "--smooth-choices", "3"])
    assert r.exit_code == 0, r.output
    first = seen[-1]
    assert first == dataclasses.replace(StreamEvalConfig(), hop_seconds=0.2, gap_seconds=(1.0, 2.0),
                                        keywords=("yes", "no"), seed=4, snr_db=(0.0, 20.0), smooth_choices=(3,))
    r = CliRunner().invoke(cli, args + ["--config", str(tmp_path / "s" / "stream_eval.json")])
    assert r.exit_code == 0, r.output
    assert seen[-1] == first
    r = CliRunner().invoke(cli, args + ["--gap", "1,2,3"])
    assert r.exit_code == 1 and "gaps must be" in r.output


def test_export_and_analyze_take_their_options_from_their_configs_and_rerun_their_files(tmp_path, monkeypatch):
    """export's options are ExportConfig's, analyze's AnalysisConfig's; each reruns the file it wrote."""
    from spc.analysis.run import AnalysisConfig
    from spc.export import ExportConfig

    seen = {}
    monkeypatch.setattr("spc.models.load_model", lambda m: None)

    def fake_export(model, out, config, audio=None):
        seen["export"] = config
        Path(out).write_text(json.dumps({"config": dataclasses.asdict(config)}))
        raise SystemExit(0)

    monkeypatch.setattr("spc.export.export_onnx", fake_export)
    r = CliRunner().invoke(cli, ["export", "m", "--out", str(tmp_path / "a.onnx"), "--opset", "18", "--atol", "0.01",
                                 "--with-hidden"])
    assert r.exit_code == 0, r.output
    assert seen["export"] == ExportConfig(opset=18, atol=0.01, with_hidden=True)
    first = seen["export"]
    r = CliRunner().invoke(cli, ["export", "m", "--out", str(tmp_path / "b.onnx"), "--config", str(tmp_path / "a.onnx")])
    assert r.exit_code == 0 and seen["export"] == first, r.output

    def fake_analysis(model, data, out, *, config, calib):
        seen["analyze"] = config
        raise SystemExit(0)

    monkeypatch.setattr("spc.recipes.analyze.run_analysis", fake_analysis)
    (tmp_path / "d").mkdir()
    (tmp_path / "analysis.json").write_text(json.dumps({"settings": dataclasses.asdict(AnalysisConfig(k=5, n_clips=64))}))
    r = CliRunner().invoke(cli, ["analyze", "m", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "o"),
                                 "--config", str(tmp_path / "analysis.json"), "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert seen["analyze"] == AnalysisConfig(k=5, n_clips=64, seed=3)
