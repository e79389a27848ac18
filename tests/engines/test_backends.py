"""The backend registry: a target names its backend, an artifact's kind names its runner, and a new backend is one
``register`` call, with no ``if backend == ...`` to edit (spc.engines.backends)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from spc.engines import backends
from spc.engines.build import BuildConfig, artifact_name, build_artifact
from spc.engines.loader import open_runner
from spc.errors import SpcError
from spc.targets import get_target, load_targets, parse_target

from trt_fakes import tiny_onnx

TARGETS = Path(__file__).resolve().parents[2] / "targets"


class _ToyRunner:
    """Runs a toy artifact: the logits the toy build wrote, whatever the audio."""

    def __init__(self, path: Path, manifest: dict, threads: int):
        self.logits = np.asarray(json.loads(path.read_text())["logits"], np.float32)
        self.manifest, self.threads = manifest, threads


def _toy_backend(calls: list) -> backends.Backend:
    def can_build(target):
        from spc.engines.backends import BuildCheck

        return BuildCheck(True)

    def build(src, target, out, config):
        from spc.fileio import sha256_file

        calls.append((Path(src).name, target.name, config.threads))
        out.write_text(json.dumps({"logits": [0.0, 1.0, 0.0]}))
        return {"kind": "toy", "file": out.name, "sha256": sha256_file(out), "labels": ["a", "b", "c"]}

    def check(config):
        if config.opt_batch:
            raise SpcError("the toy backend has no batch to tune")

    return backends.Backend("toy", ("toy",), ".toy", False, check, can_build, build, _ToyRunner)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A toy backend registered for this test only, and a target file naming it."""
    from spc.engines.backends import backend as registry

    calls: list = []
    monkeypatch.setattr(registry, "_REGISTRY", {**registry._REGISTRY})
    backends.register(_toy_backend(calls))
    data = tomllib.loads((TARGETS / "cpu.toml").read_text())
    data.update(name="toy-board", family="toy", backend="toy", family_default=True)
    folder = tmp_path / "targets"
    folder.mkdir()
    (folder / "toy.toml").write_text("\n".join(f"{k} = {json.dumps(v)}" for k, v in data.items() if k != "profile")
                                     + "\n[profile]\n" + "\n".join(f"{k} = {json.dumps(v)}"
                                                                  for k, v in data["profile"].items()) + "\n")
    monkeypatch.setenv("SPC_TARGETS_DIR", str(folder))
    return calls


def test_the_built_in_backends_are_registered_with_their_kinds():
    assert set(backends.backend_names()) >= {"tensorrt", "onnxruntime"}
    assert backends.for_target(get_target("cpu")).suffix == ".ort.onnx"
    assert backends.for_target(get_target("jetson-orin-nano")).gpu
    assert not get_target("cpu").is_gpu and get_target("rtx-4090").is_gpu
    assert backends.for_artifact({"kind": "onnx"}, Path("m.onnx")).name == "onnxruntime"
    assert backends.for_artifact({"kind": "tensorrt"}, Path("m.engine")).name == "tensorrt"


def test_a_registered_backend_builds_and_runs_through_the_same_paths(toy, tmp_path):
    target = get_target("toy-board")
    assert "toy-board" in load_targets() and not target.is_gpu
    src = tiny_onnx(tmp_path / "m.onnx")
    report = build_artifact(src, target, config=BuildConfig(threads=1))
    out = Path(report.artifact)
    assert out.name == artifact_name(src, target) == "m.toy-board.toy" and toy == [("m.onnx", "toy-board", 1)]
    assert report.manifest["kind"] == "toy" and report.manifest["build_config"]["threads"] == 1
    runner = open_runner(out, threads=2)
    assert isinstance(runner, _ToyRunner) and runner.threads == 2
    np.testing.assert_array_equal(runner.logits, [0.0, 1.0, 0.0])
    with pytest.raises(SpcError, match="the toy backend has no batch to tune"):  # refused before anything is written
        build_artifact(src, target, tmp_path / "other" / "x.toy", config=BuildConfig(opt_batch=2))
    assert not (tmp_path / "other").exists() and len(toy) == 1


def test_an_artifact_of_an_unknown_kind_is_one_line_naming_the_known_ones(tmp_path):
    with pytest.raises(SpcError, match=r"m.x is an artifact of kind 'mystery', which no backend here runs "
                                       r"\(known: .*tensorrt"):
        backends.for_artifact({"kind": "mystery"}, Path("m.x"))


def test_a_target_naming_an_unregistered_backend_is_refused_when_read():
    data = tomllib.loads((TARGETS / "cpu.toml").read_text())
    with pytest.raises(SpcError, match=r"backend 'toy' is not one of \("):
        parse_target({**data, "backend": "toy"}, "x.toml")
