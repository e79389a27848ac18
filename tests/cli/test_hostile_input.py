"""Hostile input (issue 16, issue 14 item 6): a careless user gets one red line and exit code 1, nothing half-written.

The matrix test at the end runs every CLI command with a representative bad input of each kind and
checks exit code 1, exactly one line on stderr, no traceback, and nothing new in the output folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import tiny_configs, tone, write_wav
from spc.cli import cli
from spc.errors import SpcError, SpcInternalError

LABELS = ["high", "low", "mid"]
FREQS = {"high": 2500, "low": 300, "mid": 900}
TOOLCHAIN = Path(__file__).resolve().parents[2] / "toolchain" / "spc"


# ----------------------------------------------------------------------------- helpers
def invoke(*args):
    """Run the CLI in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="spc")


def assert_one_line(result, pattern: str | None = None) -> str:
    """Exit code 1, exactly one line on stderr (``error: ...``), no traceback; returns the line."""
    assert result.exit_code == 1, (result.exit_code, result.output, repr(result.exception))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), lines[0]
    assert "Traceback" not in result.output
    if pattern:
        assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def make_data(root: Path, labels=LABELS, per_split: int = 3) -> Path:
    """``root/{train,validation,test}/CLASS/*.wav``: short noisy tones."""
    rng = np.random.default_rng(0)
    for split in ("train", "validation", "test"):
        for label in labels:
            for k in range(per_split):
                write_wav(root / split / label / f"{label}_{k}.wav", tone(FREQS.get(label, 500), 0.5, rng=rng))
    return root


def graph_onnx(path: Path, labels=LABELS) -> Path:
    """A runnable ONNX model (audio -> mean * [1, 2, 3]) with an spc manifest: fast stand-in for an export."""
    import onnx
    from onnx import TensorProto, helper

    from spc.engines.artifact_manifest import write_manifest
    from spc.fileio import sha256_file

    n = len(labels)
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, n], [float(i + 1) for i in range(n)])
    nodes = [helper.make_node("ReduceMean", ["audio"], ["m"], axes=[1], keepdims=1),
             helper.make_node("MatMul", ["m", "w"], ["logits"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["b", "s"])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", n])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    write_manifest(path, {"kind": "onnx", "file": path.name, "sha256": sha256_file(path), "input": "audio",
                          "outputs": ["logits"], "labels": list(labels), "sampling_rate": 16000,
                          "clip_seconds": 1.0, "max_samples": 32000})
    return path


def unwritable_dir() -> Path:
    """A folder this process cannot create files in (``/sys`` even for root); skips where there is none."""
    candidate = Path("/sys")
    try:
        fd, probe = tempfile.mkstemp(dir=candidate)
    except OSError:
        return candidate / "spc-out"
    os.close(fd)
    os.unlink(probe)
    pytest.skip("no unwritable folder on this machine")


# ----------------------------------------------------------------------------- shared inputs
@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    """A tiny model, its data, an ONNX artifact and damaged copies of each, made once for the module."""
    from spc.models import build_model, save_model

    root = tmp_path_factory.mktemp("inputs")
    data = make_data(root / "data")
    model = save_model(build_model(tiny_configs()["wav2vec2"], LABELS, seed=0), root / "model")
    truncated = Path(shutil.copytree(model, root / "truncated"))
    weights = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    bad_meta = Path(shutil.copytree(model, root / "bad-meta"))
    (bad_meta / "spc.json").write_text('{"sampling_rate": 16000,')
    onnx_path = graph_onnx(root / "art" / "model.onnx")
    bad_manifest = graph_onnx(root / "bad-manifest" / "model.onnx")
    Path(str(bad_manifest) + ".json").write_text("{not json")
    one_class = make_data(root / "one-class", labels=["only"])
    corrupt = root / "corrupt.json"
    corrupt.write_text('{"format": ')
    report = root / "report"
    report.mkdir()
    (report / "report.json").write_text("[1, 2")
    a_file = root / "a-file.txt"
    a_file.write_text("not a folder\n")
    wav = write_wav(root / "clip.wav", tone(900, 1.0))
    return {"root": root, "data": data, "model": model, "truncated": truncated, "bad_meta": bad_meta,
            "onnx": onnx_path, "bad_manifest": bad_manifest, "one_class": one_class, "corrupt": corrupt,
            "report": report, "file": a_file, "wav": wav}


# ----------------------------------------------------------------------------- 1, 21: loading models
def test_truncated_safetensors_is_one_line(inputs):
    for cmd in (["eval", inputs["truncated"], "--data", inputs["data"]],
                ["export", inputs["truncated"], "--out", inputs["root"] / "never" / "m.onnx"]):
        assert_one_line(invoke(*cmd), r"cannot load weights of .*damaged or truncated")
    assert not (inputs["root"] / "never").exists()


def test_truncated_real_whisper_checkpoint_is_one_line(inputs, tmp_path):
    from conftest import require_whisper

    whisper = require_whisper()
    copy = Path(shutil.copytree(whisper, tmp_path / "whisper"))
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    assert_one_line(invoke("eval", copy, "--data", inputs["data"]), r"cannot load weights of .*damaged or truncated")


def test_folder_with_config_but_no_weights_warns_in_one_line(inputs, tmp_path):
    folder = Path(shutil.copytree(inputs["model"], tmp_path / "no-weights"))
    (folder / "model.safetensors").unlink()
    result = invoke("eval", folder, "--data", inputs["data"], "--json")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any(line.startswith("warning:") and "no weights" in line and "random weights" in line for line in lines)
    assert sum("warning:" in line for line in lines) == 1
    json.loads(result.stdout)  # the JSON on stdout stays clean


# ----------------------------------------------------------------------------- 2: numbers at the boundary
@pytest.mark.parametrize("value", ["0", "-1"])
def test_eval_batch_size_below_one_is_one_line(inputs, value):
    assert_one_line(invoke("eval", inputs["model"], "--data", inputs["data"], "--batch-size", value), "--batch-size")


def test_eval_recipe_refuses_batch_size_zero(inputs):
    from spc.recipes.evaluate import EvalConfig, run_eval

    with pytest.raises(SpcError, match="batch size"):
        run_eval(inputs["model"], inputs["data"], EvalConfig(batch_size=0), show_progress=False)


# ----------------------------------------------------------------------------- 3, 4: output folders
def test_check_output_dir_refuses_files_and_unwritable_folders_and_creates_nothing(tmp_path):
    from spc.fileio import check_output_dir, check_output_file

    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert tree(tmp_path) == set()  # probed, nothing created
    (tmp_path / "f").write_text("x")
    with pytest.raises(SpcError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "f")
    with pytest.raises(SpcError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "f" / "sub")
    with pytest.raises(SpcError, match="is a folder, not a file"):
        check_output_file(tmp_path)
    with pytest.raises(SpcError, match="cannot be written"):
        check_output_dir(unwritable_dir())
    assert tree(tmp_path) == {"f"}


def test_analyze_checks_its_output_before_loading_anything(inputs, tmp_path, monkeypatch):
    import spc.recipes.analyze as recipe

    def no_work(*args, **kwargs):
        raise AssertionError("the analysis started before the output folder was checked")

    monkeypatch.setattr(recipe, "load_model", no_work)
    common = ["analyze", inputs["model"], "--data", inputs["data"], "--clips", 8, "--batch-size", 8, "--k", 3]
    assert_one_line(invoke(*common, "--out", inputs["file"]), "is a file, not a folder")
    assert_one_line(invoke(*common, "--out", unwritable_dir()), "cannot be written")


def test_export_checks_its_output_before_loading_the_model(inputs, monkeypatch):
    import spc.models

    monkeypatch.setattr(spc.models, "load_model", lambda *a, **k: pytest.fail("loaded before the check"))
    assert_one_line(invoke("export", inputs["model"], "--out", unwritable_dir() / "m.onnx"), "cannot be written")
    assert_one_line(invoke("export", inputs["model"], "--out", inputs["root"]), r"should be a \.onnx file")


# ----------------------------------------------------------------------------- 6, 14: bench and run numbers
@pytest.mark.parametrize("flags", [["--runs", "0", "--warmup", "0"], ["--warmup", "-1"]])
def test_bench_refuses_zero_runs(inputs, flags):
    assert_one_line(invoke("bench", inputs["onnx"], *flags), "--runs|--warmup")


def test_bench_recipe_refuses_zero_runs(inputs):
    from spc.recipes.bench import BenchConfig, run_bench

    with pytest.raises(SpcError, match="at least one timed run"):
        run_bench([str(inputs["onnx"])], config=BenchConfig(runs=0, warmup=0))


@pytest.mark.parametrize("top", ["0", "-1"])
def test_run_top_below_one_is_one_line(inputs, top):
    assert_one_line(invoke("run", inputs["onnx"], inputs["wav"], "--top", top), "--top")


def test_run_top_shows_the_classes_asked_for(inputs):
    result = invoke("run", inputs["onnx"], inputs["wav"], "--top", "3")
    assert result.exit_code == 0, result.output
    assert all(label in result.stdout for label in LABELS)


# ----------------------------------------------------------------------------- 7: devices
@pytest.mark.parametrize("name", ["bogus", "cuda:x", "gpu", ""])
def test_resolve_device_refuses_unknown_names(name):
    from spc.torch_device import resolve_device

    with pytest.raises(SpcError, match="unknown device"):
        resolve_device(name)


def test_resolve_device_accepts_the_known_names():
    import torch

    from spc.torch_device import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("AUTO").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(SpcError, match="no CUDA GPU"):
            resolve_device("cuda:1")


def test_bogus_device_is_one_line(inputs, tmp_path):
    assert_one_line(invoke("eval", inputs["model"], "--data", inputs["data"], "--device", "bogus"), "unknown device")
    assert_one_line(invoke("analyze", inputs["model"], "--data", inputs["data"], "--out", tmp_path / "a", "--clips", 8,
                           "--batch-size", 8, "--k", 3, "--device", "bogus"), "unknown device")
    assert not (tmp_path / "a").exists()


# ----------------------------------------------------------------------------- 10: brackets in messages
def test_error_messages_keep_their_brackets(monkeypatch):
    import spc.targets
    from spc.engines.cuda_env import INSTALL_HINT

    def fail():
        raise SpcError(f"TensorRT is not installed here: GPU targets need {INSTALL_HINT}")

    monkeypatch.setattr(spc.targets, "load_targets", fail)
    line = assert_one_line(invoke("targets"))
    assert "pip install 'spc[tensorrt]'" in line and "'spc[jetson]'" in line


def test_usage_errors_are_one_line_with_exit_code_one():
    assert_one_line(invoke("eval", "--no-such-flag"), r"No such option.*spc eval --help")
    assert_one_line(invoke("eval"), r"Missing")
    assert_one_line(invoke("--bogus"), r"No such option.*spc --help")
    assert_one_line(invoke("evaluate"), r"No such command 'evaluate'")
    assert "Commands:" in invoke().output  # no command at all still shows the help


def test_a_real_process_prints_one_line_and_exits_with_one(inputs, tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "spc.cli", "eval", inputs["truncated"], "--data", inputs["data"]],
                          capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 1, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error:"), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- 12: paths that are not what they seem
def test_relative_model_path_says_no_such_folder(inputs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    assert_one_line(invoke("eval", "m/nonexistent", "--data", inputs["data"]), "no such model folder: m/nonexistent")


def test_unknown_hub_id_offline_says_there_is_no_such_folder(inputs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert_one_line(invoke("eval", "someone/missing", "--data", inputs["data"]),
                    "no folder 'someone/missing' here.*cannot reach the Hugging Face hub")


def test_data_given_as_a_file_says_so(inputs):
    assert_one_line(invoke("eval", inputs["model"], "--data", inputs["file"]), "is a file, not a folder")


# ----------------------------------------------------------------------------- 13: audio files
def test_run_on_a_missing_audio_file_says_it_does_not_exist(inputs, tmp_path):
    assert_one_line(invoke("run", inputs["onnx"], tmp_path / "missing.wav"), "missing.wav: no such file")
    assert_one_line(invoke("run", inputs["onnx"], tmp_path), "is a folder, not an audio file")


# ----------------------------------------------------------------------------- 15: one class
def test_a_single_class_is_refused(inputs):
    from spc.data import open_dataset

    with pytest.raises(SpcError, match="at least two classes"):
        open_dataset(inputs["one_class"])
    assert_one_line(invoke("eval", inputs["model"], "--data", inputs["one_class"]), "at least two classes")


# ----------------------------------------------------------------------------- 16: mutual kNN with few clips
def test_mutual_knn_with_too_few_clips_is_refused_not_replaced(inputs, tmp_path):
    from spc.analysis.run import AnalysisConfig, analyze_model
    from spc.data import load_clips, open_dataset
    from spc.models import load_model

    clips = load_clips(open_dataset(inputs["data"]), "validation", labels=LABELS, show_progress=False)  # 9 clips
    config = AnalysisConfig(batch_size=64, k=10, block_metric="mutual_knn", device="cpu")
    with pytest.raises(SpcError, match="mutual kNN with k=10 needs more than 10 clips"):
        analyze_model(load_model(inputs["model"]), clips, config, show_progress=False)
    result = analyze_model(load_model(inputs["model"]), clips, AnalysisConfig(batch_size=64, k=3,
                           block_metric="mutual_knn", device="cpu"), show_progress=False)
    assert result.blocks["primary"]["metric"] == "mutual_knn" and "mutual_knn" in result.matrices
    assert_one_line(invoke("analyze", inputs["model"], "--data", inputs["data"], "--out", tmp_path / "a",
                           "--block-metric", "mutual_knn", "--clips", 8, "--k", 10), "mutual kNN")
    assert not (tmp_path / "a").exists()


# ----------------------------------------------------------------------------- 17: file names that are not UTF-8
def test_a_wav_whose_name_is_not_utf8_is_read(tmp_path):
    from spc.audio import read_audio
    from spc.data import load_clips, open_dataset

    root = make_data(tmp_path / "d", per_split=2)
    src = root / "test" / "low" / "low_0.wav"
    odd = os.fsencode(src.parent) + b"/caf\xe9-low.wav"
    try:
        os.rename(os.fsencode(src), odd)
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    name = os.fsdecode(odd)
    assert read_audio(name, 16000).size > 0
    clips = load_clips(open_dataset(root), "test", labels=LABELS, show_progress=False)
    assert clips.skipped == [] and name in clips.paths


# ----------------------------------------------------------------------------- 18: skipped files are listed
def test_skipped_files_are_listed_by_eval_and_analyze(inputs, tmp_path):
    root = Path(shutil.copytree(inputs["data"], tmp_path / "d"))
    for split in ("test", "validation"):
        (root / split / "mid" / "broken[1].wav").write_bytes(b"RIFF not really")
    result = invoke("eval", inputs["model"], "--data", root)
    assert result.exit_code == 0, result.output
    assert "skipped 1 unusable file:" in result.stdout and "broken[1].wav: unreadable" in result.stdout
    result = invoke("analyze", inputs["model"], "--data", root, "--out", tmp_path / "a", "--clips", 8,
                    "--batch-size", 8, "--k", 3)
    assert result.exit_code == 0, result.output
    assert "skipped 1 unusable file:" in result.stdout and "broken[1].wav" in result.stdout
    assert json.loads((tmp_path / "a" / "analysis.json").read_text())["data"]["skipped"][0][0].endswith("broken[1].wav")


def test_skipped_lines_are_short():
    from spc.console import skipped_lines

    lines = skipped_lines([(f"f{i}.wav", "empty") for i in range(12)], "out.json", limit=5)
    assert lines[0] == "skipped 12 unusable files:" and len(lines) == 7 and "7 more (all of them in out.json)" in lines[-1]
    assert skipped_lines([], "x") == []


# ----------------------------------------------------------------------------- 19: export leftovers
def test_export_removes_work_folders_a_killed_export_left(inputs, tmp_path):
    out = tmp_path / "model.onnx"
    dead = tmp_path / ".export.model.onnx.2147483647.abc"       # the process that made it is gone
    old = tmp_path / ".export.k2j3h4"                           # an older spc's unnamed work folder
    live = tmp_path / f".export.model.onnx.{os.getpid()}.xyz"   # a running export: kept
    other = tmp_path / ".export.other.onnx.2147483647.abc"      # another output's: not ours to judge
    for d in (dead, old, live, other):
        d.mkdir()
        (d / "raw.onnx").write_bytes(b"partial")
    result = invoke("export", inputs["model"], "--out", out, "--no-simplify")
    assert result.exit_code == 0, result.output
    assert out.is_file() and not dead.exists() and not old.exists()
    assert live.exists() and other.exists()
    assert not [p for p in tmp_path.glob(f".export.model.onnx.{os.getpid()}.*") if p != live]


# ----------------------------------------------------------------------------- 14.6: error types, JSON, causes
def test_internal_errors_keep_their_traceback(monkeypatch):
    import spc.targets

    def bug():
        raise SpcInternalError("an invariant broke")

    monkeypatch.setattr(spc.targets, "load_targets", bug)
    result = invoke("targets")
    assert isinstance(result.exception, SpcInternalError)
    assert "internal error" in result.stderr and "a bug in spc" in result.stderr
    assert not issubclass(SpcInternalError, SpcError)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "\xff\xfe"])
def test_read_json_is_one_user_error_on_corruption(tmp_path, text):
    from spc.fileio import read_json

    path = tmp_path / "x.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(SpcError, match=r"cannot read thing .*x\.json") as info:
        read_json(path, "thing")
    assert "\n" not in str(info.value)
    with pytest.raises(SpcError, match="does not exist"):
        read_json(tmp_path / "missing.json", "thing")


def test_read_json_lives_in_fileio_and_models_reuse_it():
    import spc.fileio
    import spc.models.io

    assert spc.models.io.read_json is spc.fileio.read_json


def test_every_json_file_is_read_through_read_json():
    offenders = [f"{p.relative_to(TOOLCHAIN)}:{i}" for p in TOOLCHAIN.rglob("*.py") if p.name != "fileio.py"
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r"json\.load\(|json\.loads\([^)]*read_text", line)]
    assert offenders == [], "read these through spc.fileio.read_json: " + ", ".join(offenders)


def test_no_broad_except_drops_its_cause():
    """``except Exception`` must bind the exception (to report or re-raise it); a bare one hides the cause."""
    offenders = [f"{p.relative_to(TOOLCHAIN)}:{i}" for p in TOOLCHAIN.rglob("*.py")
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r"except\s+(Exception|BaseException)\s*:", line) or re.match(r"\s*except\s*:", line)]
    assert offenders == []


def test_onnxsim_failure_is_recorded_in_the_notes(tmp_path, monkeypatch):
    import onnxsim

    from spc.export.onnx_export import simplify

    def broken(model, *a, **k):
        raise ValueError("shape inference exploded")

    monkeypatch.setattr(onnxsim, "simplify", broken)
    notes: list[str] = []
    assert simplify(graph_onnx(tmp_path / "g.onnx"), tmp_path / "s.onnx", notes) == "onnxslim"
    assert notes and "ValueError: shape inference exploded" in notes[0]


def test_machine_info_says_why_there_is_no_gpu(monkeypatch):
    import spc.engines.cuda_env as cuda_env
    from spc.timing import machine_info

    def no_gpu():
        raise SpcError("no CUDA GPU is visible on this machine")

    monkeypatch.setattr(cuda_env, "gpu_info", no_gpu)
    info = machine_info()
    assert info["gpu"] is None and "no CUDA GPU" in info["gpu_note"]


def test_damaged_files_spc_reads_are_one_line(inputs, tmp_path):
    from spc.analysis.run import AnalysisResult
    from spc.calib.manifest import load_manifest, make_from_rule
    from spc.engines.fp32_layers import flagged_nodes
    from spc.recipes.compress.workdir import done

    corrupt = inputs["corrupt"]
    for call, what in ((lambda: load_manifest(corrupt), "calibration manifest"),
                       (lambda: make_from_rule(corrupt, inputs["data"]), "calibration rule"),
                       (lambda: flagged_nodes(corrupt, inputs["onnx"]), "precision report"),
                       (lambda: AnalysisResult.from_json(corrupt), "analysis")):
        with pytest.raises(SpcError, match=f"cannot read {what}"):
            call()
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "stage.json").write_text("{")
    with pytest.raises(SpcError, match="cannot read stage record"):
        done(stage)
    (tmp_path / "rule.json").write_text('{"n": 4}')
    with pytest.raises(SpcError, match="not a calibration rule"):
        make_from_rule(tmp_path / "rule.json", inputs["data"])
    (tmp_path / "cal.json").write_text(json.dumps({"format": "spc-calibration/1", "split": "validation",
                                                   "clips": [{"path": "a.wav"}]}))
    from spc.calib.manifest import FORMAT

    (tmp_path / "cal.json").write_text(json.dumps({"format": FORMAT, "split": "validation", "clips": [{"path": 1}]}))
    with pytest.raises(SpcError, match="damaged"):
        load_manifest(tmp_path / "cal.json")


def test_a_manifest_without_labels_is_one_line(inputs, tmp_path):
    from spc.engines.artifact_manifest import read_manifest, write_manifest

    art = graph_onnx(tmp_path / "m.onnx")
    manifest = read_manifest(art)
    del manifest["labels"]
    write_manifest(art, manifest)
    assert_one_line(invoke("run", art, inputs["wav"]), "manifest of .* is damaged")


# ----------------------------------------------------------------------------- Done when: every command
def _cases(i: dict, work: Path, gone: Path) -> list[tuple[str, list, str]]:
    """(id, argv, pattern) per command and kind of bad input; outputs go under ``work`` (or ``gone``, unwritable)."""
    out, no_data, f = work / "out", work / "no-data", i["file"]
    model, data = i["model"], i["data"]
    return [
        ("families/usage", ["families", "--bogus"], "No such option"),
        ("finetune/missing-data", ["finetune", "preset:wav2vec2-small", "--data", no_data, "--out", out], "does not exist"),
        ("finetune/out-is-file", ["finetune", "preset:wav2vec2-small", "--data", data, "--out", f], "not a folder"),
        ("finetune/unwritable", ["finetune", "preset:wav2vec2-small", "--data", data, "--out", gone], "cannot be written"),
        ("eval/truncated-weights", ["eval", i["truncated"], "--data", data], "damaged or truncated"),
        ("eval/corrupt-spc-json", ["eval", i["bad_meta"], "--data", data], "cannot read model metadata"),
        ("eval/batch-size", ["eval", model, "--data", data, "--batch-size", 0], "--batch-size"),
        ("eval/device", ["eval", model, "--data", data, "--device", "bogus"], "unknown device"),
        ("eval/data-is-file", ["eval", model, "--data", f], "is a file, not a folder"),
        ("eval/one-class", ["eval", model, "--data", i["one_class"]], "at least two classes"),
        ("analyze/out-is-file", ["analyze", model, "--data", data, "--out", f], "is a file, not a folder"),
        ("analyze/unwritable", ["analyze", model, "--data", data, "--out", gone], "cannot be written"),
        ("analyze/batch-size", ["analyze", model, "--data", data, "--out", out, "--batch-size", -1], "--batch-size"),
        ("analyze/knn-clips", ["analyze", model, "--data", data, "--out", out, "--block-metric", "mutual_knn",
                               "--clips", 5], "mutual kNN"),
        ("analyze/corrupt-compare", ["analyze", "--compare", i["corrupt"], i["corrupt"]], "cannot read analysis"),
        ("analyze/corrupt-calib", ["analyze", model, "--data", data, "--out", out, "--calib", i["corrupt"]],
         "cannot read calibration manifest"),
        ("prune/missing-data", ["prune", model, "--data", no_data, "--out", out], "does not exist"),
        ("finetune/batch-size", ["finetune", model, "--data", data, "--out", out, "--batch-size", 0], "--batch-size"),
        ("finetune/epochs", ["finetune", model, "--data", data, "--out", out, "--epochs", 0], "--epochs"),
        ("finetune/clip-seconds", ["finetune", model, "--data", data, "--out", out, "--clip-seconds", 0],
         "--clip-seconds"),
        ("finetune/out-is-file", ["finetune", model, "--data", data, "--out", f], "not a folder"),
        ("finetune/bad-config", ["finetune", model, "--data", data, "--out", out, "--config", i["corrupt"]],
         "cannot read config file"),
        ("prune/batch-size", ["prune", model, "--data", data, "--out", out, "--batch-size", 0], "--batch-size"),
        ("prune/heal", ["prune", model, "--data", data, "--out", out, "--heal", "scrub"], "unknown heal 'scrub'"),
        ("distill/batch-size", ["distill", model, "--data", data, "--out", out, "--batch-size", 0], "--batch-size"),
        ("distill/kind", ["distill", model, "--data", data, "--out", out, "--kind", "conv"], "unknown mimic kind"),
        ("compress/method", ["compress", model, "--data", data, "--out", out, "--method", "zip"], "unknown method"),
        ("prune/out-is-file", ["prune", model, "--data", data, "--out", f], "not a folder"),
        ("distill/out-is-file", ["distill", model, "--data", data, "--out", f], "not a folder"),
        ("export/truncated-weights", ["export", i["truncated"], "--out", out / "m.onnx"], "damaged or truncated"),
        ("export/unwritable", ["export", model, "--out", gone / "m.onnx"], "cannot be written"),
        ("export/opset", ["export", model, "--out", out / "m.onnx", "--opset", 13], "--opset"),
        ("targets/usage", ["targets", "--bogus"], "No such option"),
        ("build/missing-onnx", ["build", work / "missing.onnx", "--target", "cpu"], "does not exist"),
        ("build/corrupt-manifest", ["build", i["bad_manifest"], "--target", "cpu", "--out", out / "m.ort.onnx"],
         "cannot read artifact manifest"),
        ("build/unknown-target", ["build", i["onnx"], "--target", "toaster", "--out", out / "m.ort.onnx"], "toaster"),
        ("run/missing-audio", ["run", i["onnx"], work / "missing.wav"], "no such file"),
        ("run/top", ["run", i["onnx"], i["wav"], "--top", 0], "--top"),
        ("run/corrupt-manifest", ["run", i["bad_manifest"], i["wav"]], "cannot read artifact manifest"),
        ("compress/out-is-file", ["compress", model, "--data", data, "--out", f], "not a folder"),
        ("compress/missing-model", ["compress", work / "no-model", "--data", data, "--out", out], "neither a model"),
        ("bench/runs", ["bench", i["onnx"], "--runs", 0, "--warmup", 0], "--runs"),
        ("bench/corrupt-report", ["bench", i["onnx"], "--report", i["report"]], "cannot read compress report"),
        ("bench/json-unwritable", ["bench", i["onnx"], "--json", gone / "b.json"], "cannot be written"),
        ("demo/epochs", ["demo", "--out", out, "--epochs", 0], "--epochs"),
        ("demo/out-is-file", ["demo", "--out", f], "is a file, not a folder"),
        ("calib-make/n", ["calib", "make", "--data", data, "--n", 0, "--out", out / "c"], "--n"),
        ("calib-make/corrupt-rule", ["calib", "make", "--data", data, "--from", i["corrupt"], "--out", out / "c"],
         "cannot read calibration rule"),
        ("calib-check/corrupt", ["calib", "check", i["corrupt"], "--data", data], "cannot read calibration manifest"),
        ("precision/corrupt-calib", ["precision", model, "--data", data, "--calib", i["corrupt"], "--out", out],
         "cannot read calibration manifest"),
        ("precision/unwritable", ["precision", model, "--data", data, "--calib", i["corrupt"], "--out", gone],
         "cannot be written"),
        ("data-download/usage", ["data", "download", "bogus", out], "Invalid value"),
    ]


CASE_IDS = [c[0] for c in _cases({k: Path("/x") for k in ("file", "model", "data", "truncated", "bad_meta", "one_class",
                                                          "corrupt", "onnx", "bad_manifest", "wav", "report")},
                                 Path("/w"), Path("/g"))]


@pytest.mark.parametrize("case", CASE_IDS)
def test_every_command_gives_one_line_for_bad_input(inputs, tmp_path, monkeypatch, case):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    work = tmp_path / "work"
    work.mkdir()
    gone = unwritable_dir() if "unwritable" in case else Path("/unused")
    _, argv, pattern = next(c for c in _cases(inputs, work, gone) if c[0] == case)
    before, inputs_before = tree(work), tree(inputs["root"])
    assert_one_line(invoke(*argv), pattern)
    assert tree(work) == before, f"{case} left {tree(work) - before}"
    assert tree(inputs["root"]) == inputs_before, f"{case} wrote {tree(inputs['root']) - inputs_before}"
