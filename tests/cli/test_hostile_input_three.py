"""Hostile input, round three (issue 24): numbers out of range, planted checkpoints, file modes, messages.

Every case was a traceback, a silent acceptance or a wrong message before; each now gives one ``error:`` line,
exit code 1 and nothing half-written.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import tiny_configs, tone, write_wav
from spc.cli import cli
from spc.errors import SpcError


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="spc")


def one_line(result, pattern: str) -> str:
    assert result.exit_code == 1, (result.exit_code, result.output, repr(result.exception))
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.output, result.output
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


@pytest.fixture
def files(tmp_path):
    wav = write_wav(tmp_path / "a.wav", tone(440))
    (tmp_path / "data").mkdir()
    return {"wav": wav, "data": tmp_path / "data", "tmp": tmp_path}


@pytest.mark.parametrize("args, option", [
    (["run", "m.onnx", "{wav}", "--hop", "inf"], "--hop"),
    (["finetune", "x", "--data", "{data}", "--out", "{tmp}/o", "--lr", "inf"], "--lr"),
    (["finetune", "x", "--data", "{data}", "--out", "{tmp}/o", "--clip-seconds", "1e9"], "--clip-seconds"),
    (["finetune", "x", "--data", "{data}", "--out", "{tmp}/o", "--seed", "99999999999999999999999"], "--seed"),
    (["export", "m", "--out", "{tmp}/m.onnx", "--atol", "nan"], "--atol"),
    (["bench", "m.onnx", "--runs", "1000000000000000000000"], "--runs"),
    (["bench", "m.onnx", "--threads", "100000"], "--threads"),
    (["stream-eval", "m.onnx", "--data", "{data}", "--out", "{tmp}/s", "--max-fa-per-hour", "nan"], "--max-fa-per-hour"),
    (["compress", "m", "--data", "{data}", "--out", "{tmp}/c", "--retention", "nan"], "--retention"),
])
def test_numbers_out_of_range_are_one_line_naming_the_option(files, args, option):
    r = invoke(*[a.format(**files) for a in args])
    one_line(r, re.escape(option))
    assert not any((files["tmp"] / d).exists() for d in ("o", "s", "c", "m.onnx"))


def test_configs_refuse_non_finite_numbers():
    from spc.export import ExportConfig
    from spc.streaming_eval import StreamEvalConfig
    from spc.train import TrainConfig

    for make in (lambda: TrainConfig(lr=float("inf")), lambda: ExportConfig(atol=float("nan")),
                 lambda: StreamEvalConfig(max_fa_per_hour=float("nan")), lambda: StreamEvalConfig(hop_seconds=float("inf")),
                 lambda: StreamEvalConfig(threads=100_000)):
        with pytest.raises(SpcError):
            make()


# ---------------------------------------------------------------- security: a planted checkpoint


class Planted:
    """Anything but tensors and plain values: unpickling it could run code."""

    def __reduce__(self):
        return (os.system, ("echo planted > /dev/null",))


def test_a_checkpoint_holding_a_pickled_object_is_refused(tmp_path):
    import torch

    from spc.train import Task, TrainConfig, fit

    ckpt = tmp_path / "last.pt"
    torch.save({"run_id": "r", "evil": Planted()}, ckpt)
    model = torch.nn.Linear(2, 2)
    task = Task(model, list(model.parameters()), lambda idx, e: model(torch.ones(len(idx), 2)).sum(),
                lambda: {"val_accuracy": 0.0}, n_train=4)
    with pytest.raises(SpcError, match=r"last.pt is not a checkpoint spc wrote .*delete it"):
        fit(task, TrainConfig(epochs=1, batch_size=2, device="cpu"), ckpt, run_id="r", show_progress=False)


def test_a_planted_checkpoint_stops_finetune_in_one_line(tmp_path, tone_dataset):
    import torch

    cfg = tmp_path / "tiny.json"
    tiny_configs()["wav2vec2"].to_json_file(cfg)
    out = tmp_path / "m"
    (out / ".spc-train").mkdir(parents=True)
    torch.save({"run_id": "x", "evil": Planted()}, out / ".spc-train" / "last.pt")
    r = invoke("finetune", cfg, "--data", tone_dataset, "--out", out, "--epochs", 1)
    one_line(r, "is not a checkpoint spc wrote")


# ---------------------------------------------------------------- file modes


def test_saved_weights_respect_the_umask(tmp_path):
    from spc.models import build_model, save_model

    old = os.umask(0o022)
    try:
        save_model(build_model(tiny_configs()["wav2vec2"], ["a", "b"], seed=0), tmp_path / "m")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "m").iterdir()}
    assert modes["model.safetensors"] == 0o644 and set(modes.values()) == {0o644}, modes


# ---------------------------------------------------------------- messages read as typed


def test_messages_with_brackets_render_through_rich_as_typed():
    """Every library message holding an install hint keeps its brackets when Rich prints it."""
    import io

    from rich.console import Console

    from spc.cli import error_line
    from spc.console import compress_deferred_line
    from spc.engines.cuda_env import INSTALL_HINT

    for text in (INSTALL_HINT, f"cannot build jetson-orin-nano here: TensorRT is not installed here. On a GPU "
                               f"machine install {INSTALL_HINT}; elsewhere use --target cpu."):
        buf = io.StringIO()
        Console(file=buf, width=400).print(compress_deferred_line("jetson-orin-nano", text))
        assert "'spc[tensorrt]'" in buf.getvalue() and "'spc[jetson]'" in buf.getvalue()
    assert text.count("(") <= 1  # one sentence that says what to do, not three nested parentheses
    assert callable(error_line)


def test_building_a_built_artifact_is_refused(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engines"))
    import trt_fakes

    onnx = trt_fakes.tiny_onnx(tmp_path / "m.onnx")
    assert invoke("build", onnx, "--target", "cpu").exit_code == 0
    built = tmp_path / "m.cpu.ort.onnx"
    before = {p.name for p in tmp_path.iterdir()}
    one_line(invoke("build", built, "--target", "cpu"), r"m.cpu.ort.onnx is already built for cpu; build m.onnx")
    assert {p.name for p in tmp_path.iterdir()} == before  # no m.cpu.ort.cpu.ort.onnx


# ---------------------------------------------------------------- model folders whose config disagrees with the weights


def _edited_model(tmp_path, name, change) -> Path:
    import json

    from spc.models import build_model, save_model

    src = tmp_path / "m"
    if not src.exists():
        save_model(build_model(tiny_configs()["wav2vec2"], ["high", "low", "mid"], seed=0), src)
    import shutil

    dst = tmp_path / name
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    cfg.update(change)
    if change.get("id2label") is None and "id2label" in change:
        cfg.pop("id2label")
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


@pytest.mark.parametrize("name, change, message", [
    ("wide", {"hidden_size": 64}, r"is \(\d+(, \d+)*\) in the weights but .* by the config \(check hidden_size"),
    ("labels", {"num_labels": 5, "id2label": {str(i): f"c{i}" for i in range(5)},
                "label2id": {f"c{i}": i for i in range(5)}}, r"check num_labels / id2label"),
    ("deeper", {"num_hidden_layers": 6}, r"the config asks for layers 4, 5 that the weights do not have"),
    ("shallower", {"num_hidden_layers": 2}, r"the weights hold layers 2, 3 that the config does not have"),
    ("gaps", {"id2label": {"0": "a", "1": "b", "5": "c"}, "label2id": {"a": 0, "b": 1, "c": 5}},
     r"id2label must number the classes 0-2"),
])
def test_a_config_that_disagrees_with_its_weights_is_one_line(tmp_path, tone_dataset, name, change, message):
    model = _edited_model(tmp_path, name, change)
    r = invoke("eval", model, "--data", tone_dataset)
    line = one_line(r, message)
    assert "damaged or truncated" not in line and "LOAD REPORT" not in r.output


def test_a_backbone_without_a_head_is_the_allowed_case(tmp_path, capsys):
    import transformers

    from spc.models import load_model

    backbone = transformers.Wav2Vec2Model(tiny_configs()["wav2vec2"])
    backbone.save_pretrained(tmp_path / "backbone")
    m = load_model(tmp_path / "backbone", labels=["a", "b"])
    assert m.labels == ["a", "b"]
