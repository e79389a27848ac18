"""Hostile input, round four (issue 39): outputs that destroy inputs, a prompt that runs a model's code, caches and
lists trusted blindly.

Each case failed on the code before this round (an input deleted or replaced with exit 0, a prompt, a traceback,
a silent wrong figure); each now gives one ``error:`` line (or a said note) and leaves every input as it was.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import tiny_configs, tone, write_wav
from spc.cli import cli
from spc.errors import SpcError


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="spc", input=input)


def one_line(result, pattern: str) -> str:
    assert result.exit_code == 1, (result.exit_code, result.output, repr(result.exception))
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.output, result.output
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def tree_hash(path: Path) -> str:
    """A hash of every file under ``path`` (names and bytes): equal before and after means untouched."""
    h = hashlib.sha256()
    items = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in items:
        h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny saved model, its ONNX export (with manifest) and a small tone data set, made once."""
    from spc.export import ExportConfig, export_onnx
    from spc.models import build_model, save_model

    root = tmp_path_factory.mktemp("four")
    rng = np.random.default_rng(0)
    data = root / "data"
    for split, n in (("train", 6), ("validation", 4), ("test", 4)):
        for label, freq in (("low", 300), ("high", 2500)):
            for k in range(n):
                write_wav(data / split / label / f"{label}_{k}.wav", tone(freq * rng.uniform(0.9, 1.1), 0.8, rng=rng))
    model = build_model(tiny_configs()["wav2vec2"], ["low", "high"], seed=0)
    save_model(model, root / "model")
    export_onnx(model, root / "art" / "w2v.onnx", ExportConfig(seed=0))
    return {"root": root, "data": data, "model": root / "model", "onnx": root / "art" / "w2v.onnx"}


# ---------------------------------------------------------------- data loss: an output that is an input


@pytest.mark.parametrize("args, victim", [
    (["finetune", "{model}", "--data", "{data}", "--out", "{data}", "--overwrite", "--epochs", "1"], "data"),
    (["finetune", "{model}", "--data", "{data}", "--out", "{model}", "--overwrite", "--epochs", "1"], "model"),
    (["finetune", "{model}", "--data", "{data}", "--out", "{data}/train/out", "--epochs", "1"], "data"),
    (["prune", "{model}", "--data", "{data}", "--out", "{model}", "--overwrite"], "model"),
    (["distill", "{model}", "--data", "{data}", "--out", "{model}", "--overwrite"], "model"),
    (["compress", "{model}", "--data", "{data}", "--out", "{root}", "--overwrite"], "model"),
    (["analyze", "{model}", "--data", "{data}", "--out", "{model}"], "model"),
    (["export", "{model}", "--out", "{model}/x.onnx"], "model"),
    (["quantize", "{onnx}", "--out", "{onnx}"], "onnx"),
    (["quantize", "{onnx}", "--out", "{onnx}.json"], "onnx"),
    (["build", "{onnx}", "--target", "cpu", "--out", "{onnx}"], "onnx"),
    (["calib", "make", "--data", "{data}", "--n", "4", "--out", "{data}/calib"], "data"),
])
def test_an_output_that_is_or_holds_an_input_is_refused_before_anything_is_written(saved, args, victim):
    before = {k: tree_hash(saved[k]) for k in ("data", "model")}
    art = {p.name: p.read_bytes() for p in saved["onnx"].parent.iterdir()}
    r = invoke(*[a.format(**saved) for a in args])
    one_line(r, r"(is|sits inside|contains) the .*\(an input\)")
    assert {k: tree_hash(saved[k]) for k in ("data", "model")} == before
    assert {p.name: p.read_bytes() for p in saved["onnx"].parent.iterdir()} == art


@pytest.mark.parametrize("out, what", [("art/w2v.onnx", "artifact manifest"), ("model/config", "model config")])
def test_calib_make_never_replaces_a_json_that_is_not_a_calibration_manifest(saved, out, what):
    target = saved["root"] / (out + ".json" if not out.endswith(".json") else out)
    before = target.read_bytes()
    r = invoke("calib", "make", "--data", saved["data"], "--n", "4", "--out", saved["root"] / out)
    one_line(r, r"exists and is not an spc calibration manifest")
    assert target.read_bytes() == before, what


def test_calib_make_may_replace_its_own_manifest(saved, tmp_path):
    out = tmp_path / "c"
    assert invoke("calib", "make", "--data", saved["data"], "--n", "4", "--out", out).exit_code == 0
    r = invoke("calib", "make", "--data", saved["data"], "--n", "2", "--out", out)
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "c.json").read_text())["n"] == 2


def test_overwrite_removes_only_a_folder_spc_wrote(saved, tmp_path):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"\xff\xd8")
    r = invoke("finetune", saved["model"], "--data", saved["data"], "--out", mine, "--overwrite", "--epochs", "1")
    one_line(r, r"--overwrite deletes only a folder spc wrote")
    assert (mine / "holiday.jpg").read_bytes() == b"\xff\xd8"


def test_the_overlap_check_follows_symlinks(saved, tmp_path):
    from spc.fileio import refuse_overlap

    link = tmp_path / "link-to-data"
    link.symlink_to(saved["data"], target_is_directory=True)
    with pytest.raises(SpcError, match="sits inside the data folder"):
        refuse_overlap({"output folder": link / "out"}, {"data folder": saved["data"]})
    refuse_overlap({"output folder": tmp_path / "elsewhere"}, {"data folder": saved["data"], "model": "a-hub/id"})


# ---------------------------------------------------------------- code execution


def _custom_code_folder(root: Path, model_type: str = "evil-net") -> tuple[Path, Path]:
    folder = root / "custom"
    folder.mkdir()
    flag = root / "ran.txt"
    (folder / "config.json").write_text(json.dumps({
        "model_type": model_type, "auto_map": {"AutoConfig": "configuration_evil.EvilConfig"},
        "architectures": ["EvilModel"]}))
    (folder / "configuration_evil.py").write_text(f"open({str(flag)!r}, 'w').write('ran')\n"
                                                  "from transformers import PretrainedConfig\n"
                                                  "class EvilConfig(PretrainedConfig):\n    model_type = 'evil-net'\n")
    return folder, flag


@pytest.mark.parametrize("model_type", ["evil-net", "wav2vec2"])
def test_a_model_folder_asking_to_run_its_own_code_is_refused_without_a_prompt(tmp_path, saved, model_type):
    folder, flag = _custom_code_folder(tmp_path, model_type)
    r = invoke("eval", folder, "--data", saved["data"], input="y\n")
    one_line(r, r"auto_map.*never runs a model's custom code")
    assert "[y/N]" not in r.output and not flag.exists()


def test_an_unknown_model_type_is_one_line(tmp_path, saved):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    one_line(invoke("eval", folder, "--data", saved["data"]), r"unsupported model type 'bert'")


def test_a_pickled_weight_file_is_refused_in_one_line(tmp_path, saved):
    import os
    import shutil

    import torch

    class Planted:
        def __reduce__(self):
            return (os.system, ("echo planted > /dev/null",))

    folder = tmp_path / "m"
    shutil.copytree(saved["model"], folder)
    (folder / "model.safetensors").unlink()
    torch.save({"wav2vec2.masked_spec_embed": torch.zeros(2), "evil": Planted()}, folder / "pytorch_model.bin")
    one_line(invoke("eval", folder, "--data", saved["data"]), r"refused the weights .*more than tensors")


# ---------------------------------------------------------------- lists and folders read blindly


def _speech_commands(root: Path, words=("yes", "no"), n=3) -> Path:
    rng = np.random.default_rng(0)
    for w in words:
        for k in range(n):
            write_wav(root / w / f"{k}.wav", tone(300 + 100 * k, 0.5, rng=rng))
    return root


def test_a_byte_order_mark_and_windows_paths_in_a_list_are_read_and_said(tmp_path, capsys):
    from spc.data import DataConfig

    root = _speech_commands(tmp_path / "sc")
    (root / "validation_list.txt").write_bytes(b"\xef\xbb\xbfyes/0.wav\n.\\no\\0.wav\n")
    (root / "testing_list.txt").write_bytes("yes/1.wav\r\nno/1.wav\r\n".encode("utf-16"))
    ds = DataConfig(str(root)).open(show_notes=True)
    val = sorted(Path(i.path).relative_to(root).as_posix() for i in ds.splits["validation"])
    test = sorted(Path(i.path).relative_to(root).as_posix() for i in ds.splits["test"])
    assert val == ["no/0.wav", "yes/0.wav"] and test == ["no/1.wav", "yes/1.wav"]
    err = capsys.readouterr().err
    assert "byte-order mark" in err and "UTF-16" in err and "backslashes" in err


def test_a_file_in_both_lists_is_one_line(tmp_path):
    root = _speech_commands(tmp_path / "sc")
    (root / "validation_list.txt").write_text("yes/0.wav\n")
    (root / "testing_list.txt").write_text("yes/0.wav\nno/0.wav\n")
    r = invoke("eval", "preset:whisper-small", "--data", root)
    one_line(r, r"both name 1 file \(first: yes/0.wav\): a clip belongs to one split")


def test_empty_and_undecodable_class_folders_are_not_classes_and_are_said(tmp_path, capsys):
    from spc.data import DataConfig

    root = _speech_commands(tmp_path / "f", words=("yes", "no", "up"), n=4)
    (root / "empty").mkdir()
    (root / "mp3s").mkdir()
    (root / "mp3s" / "a.mp3").write_bytes(b"ID3")
    ds = DataConfig(str(root), layout="folders").open(show_notes=True)
    assert ds.labels == ["no", "up", "yes"]
    err = capsys.readouterr().err
    assert "class folder empty holds no audio: not a class" in err
    assert "class folder mp3s holds 1 .mp3 files, which spc does not read" in err


def test_a_class_folder_linked_outside_the_data_is_not_walked(tmp_path, capsys):
    from spc.data import DataConfig

    root = _speech_commands(tmp_path / "f", words=("yes", "no"), n=4)
    outside = _speech_commands(tmp_path / "elsewhere", words=("maybe",), n=3)
    (root / "yes" / "more").symlink_to(outside / "maybe", target_is_directory=True)
    (root / "root").symlink_to("/", target_is_directory=True)
    ds = DataConfig(str(root), layout="folders").open(show_notes=True)
    assert all(str(tmp_path / "elsewhere") not in i.path for s in ds.splits.values() for i in s)
    assert "root" not in ds.labels
    assert "lead outside it and were not read" in capsys.readouterr().err


def test_a_recording_read_as_a_clip_is_said(tmp_path, capsys):
    from spc.data import DataConfig, load_clips

    root = _speech_commands(tmp_path / "f", words=("yes", "no"), n=4)
    write_wav(root / "yes" / "long.wav", np.zeros(16000 * 600, np.float32) + 0.01)
    ds = DataConfig(str(root), layout="folders").open()
    for split in ("train", "validation", "test"):
        if any(i.path.endswith("long.wav") for i in ds.splits.get(split, [])):
            load_clips(ds, split, show_progress=False)
    assert "600.0 s): each is centre-cropped to 1 s" in capsys.readouterr().err


# ---------------------------------------------------------------- artifacts, configs, targets


def test_quantize_refuses_a_source_that_is_not_the_one_its_manifest_names(saved, tmp_path):
    import shutil

    src = tmp_path / "w2v.onnx"
    shutil.copy(saved["onnx"], src)
    shutil.copy(str(saved["onnx"]) + ".json", str(src) + ".json")
    src.write_bytes(src.read_bytes()[: len(src.read_bytes()) // 2])  # truncated, the manifest intact
    one_line(invoke("quantize", src, "--out", tmp_path / "q.onnx"), r"does not match its manifest")
    assert not (tmp_path / "q.onnx").exists()


def test_quantize_removes_what_a_killed_run_left(saved, tmp_path):
    import shutil

    src = tmp_path / "w2v.onnx"
    shutil.copy(saved["onnx"], src)
    shutil.copy(str(saved["onnx"]) + ".json", str(src) + ".json")
    stale = tmp_path / ".spc-quantize-dead"
    stale.mkdir()
    (stale / "pid").write_text("999999999")  # no such process
    (stale / "model.pre.onnx").write_bytes(b"x" * 100)
    r = invoke("quantize", src, "--out", tmp_path / "q.onnx")
    assert r.exit_code == 0, r.output
    assert not stale.exists() and not list(tmp_path.glob(".spc-quantize-*"))


@pytest.mark.parametrize("command, settings, message", [
    ("build", {"threads": 64}, r"threads must be 0 .* \(the cores here\)"),
    ("bench", {"threads": 64}, r"threads must be 0 .* \(the cores here\)"),
    ("build", {"version": 99}, "holds version 99 of BuildConfig"),
    ("bench", {"nothing": 1}, "unknown settings"),
])
def test_config_files_meet_the_checks_the_options_meet(saved, tmp_path, command, settings, message):
    (tmp_path / "c.json").write_text(json.dumps(settings))
    args = [command, saved["onnx"], "--config", tmp_path / "c.json"] + (["--target", "cpu"] if command == "build" else [])
    one_line(invoke(*args), message)


def test_a_config_file_of_another_kind_is_refused_not_read_as_defaults(tmp_path):
    from spc.configs import load_config
    from spc.recipes.bench import BenchConfig

    (tmp_path / "r.json").write_text(json.dumps({"results": [], "seconds": 3}))
    with pytest.raises(SpcError, match="holds no BenchConfig settings"):
        load_config(BenchConfig, tmp_path / "r.json", key="bench_config")


@pytest.mark.parametrize("field, value, message", [
    ("profile", {"min_batch": 1, "opt_batch": 1, "max_batch": 1, "min_seconds": 0.5, "opt_seconds": 1,
                 "max_seconds": 2, "extra": 1}, "damaged shape profile"),
    ("profile", "fast", "damaged shape profile"),
    ("profile", {"min_batch": 1, "opt_batch": 1, "max_batch": 1, "min_seconds": 0, "opt_seconds": 1,
                 "max_seconds": 2}, "damaged shape profile"),
    ("thread_choice", {"threads": "two"}, "damaged thread choice"),
])
def test_damaged_build_manifest_fields_are_one_line(saved, tmp_path, field, value, message):
    built = tmp_path / "b.cpu.ort.onnx"
    assert invoke("build", saved["onnx"], "--target", "cpu", "--out", built, "--threads", "1").exit_code == 0
    m = json.loads(Path(str(built) + ".json").read_text())
    if field == "profile":
        m["target"]["profile"] = value
    else:
        m[field] = value
    Path(str(built) + ".json").write_text(json.dumps(m))
    one_line(invoke("bench", built, "--runs", "1"), message)


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "is missing, not a folder"),
    (lambda p: p.write_text("x"), "is a file, not a folder"),
    (lambda p: (p / "x.toml").mkdir(parents=True), "is a folder, not a TOML file"),
    (lambda p: (p.mkdir(), (p / "y.toml").symlink_to(p / "nowhere")), "a link to nothing"),
])
def test_a_targets_folder_that_is_not_one_is_said(tmp_path, monkeypatch, make, message):
    where = tmp_path / "targets"
    make(where)
    monkeypatch.setenv("SPC_TARGETS_DIR", str(where))
    one_line(invoke("targets"), message)


def test_audio_errors_name_no_bytes_or_object(tmp_path):
    from spc.audio import BadAudio, read_audio, read_audio_bytes

    (tmp_path / "e.wav").write_bytes(b"")
    with pytest.raises(BadAudio, match=r"^empty file \(0 bytes\)$"):
        read_audio(tmp_path / "e.wav", 16000)
    (tmp_path / "g.wav").write_bytes(b"garbage" * 20)
    for call in (lambda: read_audio(tmp_path / "g.wav", 16000), lambda: read_audio_bytes(b"garbage" * 20, 16000)):
        with pytest.raises(BadAudio) as err:
            call()
        assert "b'" not in str(err.value) and "BytesIO" not in str(err.value) and "Format not recognised" in str(err.value)


@pytest.mark.parametrize("entry", ["/etc/passwd", "../../../../etc/passwd", "a/../../x.wav"])
def test_a_calibration_entry_outside_the_data_folder_is_refused(tmp_path, saved, entry):
    m = {"format": "spc-calibration-manifest/1", "split": "validation", "n": 1, "rule": "random", "seed": 0,
         "clips": [{"path": entry, "label": "low", "sha256": "0" * 64}]}
    from spc.calib.manifest import FORMAT

    m["format"] = FORMAT
    (tmp_path / "c.json").write_text(json.dumps(m))
    one_line(invoke("calib", "check", tmp_path / "c.json", "--data", saved["data"]), "is not inside the data folder")


def test_a_second_stream_eval_on_the_same_folder_waits_its_turn(tmp_path, saved):
    from spc.locking import folder_lock
    from spc.streaming.evaluation import evaluate_streams

    with folder_lock(tmp_path / "out"):
        with pytest.raises(SpcError, match="is in use by process"):
            evaluate_streams(saved["onnx"], saved["data"], tmp_path / "out", show_progress=False)


def test_every_class_may_be_a_keyword_when_there_is_negative_audio():
    from spc.streaming.evaluation import split_classes

    assert split_classes(["yes", "no"], None, negative_audio=True) == (["yes", "no"], [])
    with pytest.raises(SpcError, match="no negative audio"):
        split_classes(["yes", "no"], None)
