"""compress's build stage: a candidate is built once per (weights, name, target, operating point, engine identity), so a
second run reuses the build and a TensorRT upgrade, another GPU or a new operating point builds anew."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import trt_fakes
from spc.engines import build_check
from spc.engines.artifact_manifest import read_manifest
from spc.targets import get_target


def _run(tmp_path, target):
    from spc.recipes.compress import Run  # needs torch: imported here, not at collection (the device venv has none)

    return Run(inp=SimpleNamespace(key=("inputs",), target=target), config=None, model_src="", data=None,
               out=tmp_path, show_progress=False)


def _builds(trt) -> int:
    return sum(1 for c in trt.calls if c[0] == "create_network")


def test_a_build_is_reused_until_tensorrt_or_the_operating_point_changes(monkeypatch, tmp_path):
    from spc.recipes.compress import Candidate, build_stage

    trt, _ = trt_fakes.install(monkeypatch)
    target = get_target("jetson-orin-nano")
    entry = Candidate("none", "", weights_sha256="w1", onnx=str(trt_fakes.tiny_onnx(tmp_path / "original.onnx")))
    run = _run(tmp_path, target)
    first = build_stage(run, entry, "original", build_check(target))
    assert _builds(trt) == 1 and read_manifest(first)["tensorrt"] == "10.3.0"
    assert build_stage(run, entry, "original", build_check(target)) == first and _builds(trt) == 1  # reused
    # a new operating point (the build inherits it from the export's manifest): built anew
    warm = replace(entry, detector_val={"operating_point": {"threshold": 0.7}})
    assert build_stage(run, warm, "original", build_check(target)) != first and _builds(trt) == 2
    # TensorRT upgraded (JetPack update): the kept engine would not deserialise, so it is built again, not refused
    trt, _ = trt_fakes.install(monkeypatch, version="10.4.0")
    again = build_stage(run, entry, "original", build_check(target))
    assert again != first and _builds(trt) == 1 and read_manifest(again)["tensorrt"] == "10.4.0"


def test_a_cpu_build_is_keyed_by_the_weights_and_the_name(tmp_path):
    from spc.recipes.compress import Candidate, build_stage

    cpu = get_target("cpu")
    run = _run(tmp_path, cpu)
    onnx = str(trt_fakes.tiny_onnx(tmp_path / "m.onnx"))
    a = build_stage(run, Candidate("mimic", "", weights_sha256="w1", onnx=onnx), "mimic", build_check(cpu))
    assert a.endswith(".cpu.ort.onnx") and read_manifest(a)["thread_choice"]["chosen_by"] == "timing"
    assert build_stage(run, Candidate("mimic", "", weights_sha256="w1", onnx=onnx), "mimic", build_check(cpu)) == a
    # the INT8 variant has the same weights: its name keeps it apart
    assert build_stage(run, Candidate("mimic", "", weights_sha256="w1", onnx=onnx), "mimic-int8", build_check(cpu)) != a
    assert build_stage(run, Candidate("mimic", "", weights_sha256="w2", onnx=onnx), "mimic", build_check(cpu)) != a
