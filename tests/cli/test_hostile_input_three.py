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
    from spc.streaming.evaluation import StreamEvalConfig
    from spc.training.loop import TrainConfig

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

    from spc.training.loop import Task, TrainConfig, fit

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
    ("wide", {"hidden_size": 64}, r"is \([\d, ]+\) in the weights but \([\d, ]+\) by the config \(check hidden_size"),
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


# ---------------------------------------------------------------- full disks and output paths


def _full_disk(monkeypatch, after: int = 10):
    """Writes fail with ENOSPC after ``after`` bytes (the file keeps what was written): a full disk."""
    import errno

    real = Path.write_bytes

    def write_bytes(self, data):
        real(self, data[:after])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def test_a_full_disk_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    from spc.fileio import atomic_write_text

    target = tmp_path / "out.json"
    _full_disk(monkeypatch)
    with pytest.raises(SpcError, match=r"no space left on .* to write out.json \(needs about 1 MB\)"):
        atomic_write_text(target, "x" * 100)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_during_training_leaves_no_checkpoint_tmp(tmp_path, monkeypatch):
    import errno

    import torch

    from spc.fileio import atomic_torch_save

    def failing_save(obj, f):
        Path(f).write_text("partial")
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed: No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(SpcError, match="no space left on .* to write last.pt"):
        atomic_torch_save({"a": 1}, tmp_path / "last.pt")
    assert list(tmp_path.iterdir()) == []
    assert errno.ENOSPC


def test_bench_json_onto_a_full_disk_and_into_a_missing_folder(tmp_path, monkeypatch):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engines"))
    import trt_fakes

    onnx = trt_fakes.tiny_onnx(tmp_path / "m.onnx")
    r = invoke("bench", onnx, "--runs", 1, "--warmup", 0, "--json", tmp_path / "nd" / "b.json")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "nd" / "b.json").is_file()
    _full_disk(monkeypatch)
    r = invoke("bench", onnx, "--runs", 1, "--warmup", 0, "--json", tmp_path / "full.json")
    one_line(r, "no space left on .* to write full.json")
    assert not (tmp_path / "full.json").exists() and not (tmp_path / "full.json.tmp").exists()


def test_an_oserror_that_is_not_the_disk_is_still_a_bug():
    from spc.fileio import disk_error

    assert disk_error(FileNotFoundError(2, "No such file"), "x") is None
    assert "read-only" in str(disk_error(OSError(30, "Read-only file system"), "x"))


def test_a_deleted_working_folder_is_one_line(tmp_path):
    import subprocess
    import sys

    gone = tmp_path / "gone"
    gone.mkdir()
    code = (f"import os, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
            f"sys.argv = ['spc', 'targets']; from spc.cli import main; main()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "the current folder no longer exists" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- two runs on one output folder


def test_a_second_run_on_a_folder_in_use_is_one_line_and_a_stale_lock_is_taken_over(tmp_path, tone_dataset):
    import subprocess
    import sys

    from spc.locking import folder_lock, lock_path

    out = tmp_path / "kc"
    holder = subprocess.Popen([sys.executable, "-c", f"import time; from spc.locking import folder_lock\n"
                               f"with folder_lock({str(out)!r}):\n    print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = invoke("compress", tmp_path / "no-model", "--data", tone_dataset, "--out", out)
        one_line(r, rf"kc is in use by process {holder.pid} \(another spc run writing it\)")
        with pytest.raises(SpcError, match="in use by process"):
            with folder_lock(out):
                pass
    finally:
        holder.kill()
        holder.wait()
    lock_path(out).write_text("999999")  # the lock file of a killed run: no process holds its flock
    with folder_lock(out):
        assert lock_path(out).read_text() == str(os.getpid())
    assert not lock_path(out).exists()


def test_export_keeps_library_warnings_out_of_the_terminal(tmp_path):
    import json
    import subprocess
    import sys

    from spc.models import build_model, save_model

    save_model(build_model(tiny_configs()["whisper"], ["a", "b"], seed=0), tmp_path / "m")
    r = subprocess.run([sys.executable, "-m", "spc.cli", "export", str(tmp_path / "m"), "--out", str(tmp_path / "m.onnx")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stderr and "warn" not in r.stderr.lower(), r.stderr
    notes = json.loads((tmp_path / "m.onnx.json").read_text())["export"]["notes"]
    assert any(n.startswith("exporter ") for n in notes), notes
    made_by = json.loads((tmp_path / "m.onnx.json").read_text())["provenance"]
    assert "config" not in made_by  # the export config is stored once, as the manifest's own "config"
