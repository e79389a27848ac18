"""The command line: help, one-line errors, and the fine-tune -> eval round trip."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import tiny_configs
from spc.cli import cli


def run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def assert_one_line_error(result, pattern):
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    import re

    assert re.search(pattern, lines[0]), lines[0]


def test_help_lists_commands_and_examples():
    result = run("--help")
    assert result.exit_code == 0
    for word in ("finetune", "eval", "demo", "data", "Examples"):
        assert word in result.output
    assert "Example" in run("finetune", "--help").output


def test_families_lists_supported_types():
    assert run("families").output.split() == ["data2vec-audio", "hubert", "wav2vec2", "wavlm", "whisper"]


def test_eval_of_a_missing_model_is_one_line(tmp_path):
    (tmp_path / "data").mkdir()
    assert_one_line_error(run("eval", tmp_path / "nope", "--data", tmp_path / "data"), "neither a model folder")


def test_finetune_with_missing_data_is_one_line(tmp_path):
    assert_one_line_error(run("finetune", "preset:wav2vec2-small", "--data", tmp_path / "nodata", "--out", tmp_path / "o"),
                          "does not exist")
    assert not (tmp_path / "o").exists()


def test_hub_unreachable_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    (tmp_path / "data" / "a").mkdir(parents=True)
    result = run("eval", "facebook/wav2vec2-base", "--data", tmp_path / "data")
    assert_one_line_error(result, "cannot reach the Hugging Face hub")


def test_download_without_network_is_one_line(tmp_path, monkeypatch):
    import spc.data.download as dl

    monkeypatch.setattr(dl, "reachable", lambda url, timeout=5.0: False)
    result = run("data", "download", "speech-commands", tmp_path / "sc")
    assert_one_line_error(result, "cannot reach download.tensorflow.org")
    assert not (tmp_path / "sc").exists()


def test_finetune_then_eval_json(tmp_path, tone_dataset):
    cfg = tmp_path / "tiny.json"
    tiny_configs()["wav2vec2"].to_json_file(cfg)
    result = run("finetune", cfg, "--data", tone_dataset, "--out", tmp_path / "m", "--epochs", 2, "--batch-size", 12,
                 "--lr", 3e-3, "--train-feature-encoder", "--no-augment")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "m" / "finetune.json").read_text())
    result = run("eval", tmp_path / "m", "--data", tone_dataset, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["accuracy"] == pytest.approx(summary["test_accuracy"])
    assert report["n_clips"] == 18 and len(report["confusion"]) == 3


def test_prune_and_distill_commands(tmp_path, tone_dataset):
    from spc.models import build_model, save_model

    save_model(build_model(tiny_configs()["wav2vec2"], ["high", "low", "mid"], seed=0), tmp_path / "t")
    r = run("prune", tmp_path / "t", "--data", tone_dataset, "--out", tmp_path / "p")
    assert_one_line_error(r, "validation split .* has 18 clips; measuring a 95% retention target needs at least 200")
    r = run("prune", tmp_path / "t", "--data", tone_dataset, "--out", tmp_path / "p", "--retention", "1.5")
    assert_one_line_error(r, r"'--retention': 1.5 is not in the range 0<x<=1")
    r = run("distill", tmp_path / "t", "--data", tone_dataset, "--out", tmp_path / "s", "--stage1-epochs", 1,
            "--stage2-epochs", 1, "--hidden", 8, "--latency-runs", 2, "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "parameters (whole)" in r.output and (tmp_path / "s" / "distill.json").is_file()
    r = run("distill", tmp_path / "t", "--data", tone_dataset, "--out", tmp_path / "s2", "--kind", "transformer",
            "--heads", 5)
    assert_one_line_error(r, "not divisible by 5 heads")
