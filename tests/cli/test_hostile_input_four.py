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
