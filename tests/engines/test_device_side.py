"""The device side by the book (issue 21): TensorRT version gate, INT8 graphs TensorRT parses, engines tied to
the board, stale artifacts rebuilt, the CUDA runtime the system has, gpu_check.py that never crashes.

Each test names the documented behaviour its fake reproduces (see ``trt_fakes``' docstring for the sources).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import trt_fakes
from spc.engines import build_artifact, build_check, open_runner
from spc.engines.artifact_manifest import read_manifest
from spc.errors import SpcError
from spc.targets import get_target, load_targets

pytestmark = pytest.mark.device
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def onnx_model(tmp_path):
    return trt_fakes.tiny_onnx(tmp_path / "m.onnx")


# ---- point 2: TensorRT 8.6 (JetPack 6.0) is refused before any network is made


def test_tensorrt_8_6_is_refused_in_one_line(monkeypatch, onnx_model):
    """TensorRT 8.6's create_network(0) is implicit batch (the parser refuses it) and it has no STRONGLY_TYPED."""
    trt, _ = trt_fakes.install(monkeypatch, version="8.6.2")
    assert not hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    net = trt.Builder(None).create_network(0)  # what the old code did: the fake fails the way 8.6 does
    parser = trt.OnnxParser(net, None)
    assert not parser.parse_from_file(str(onnx_model)) and "explicit batch" in parser.get_error(0)
    trt.calls.clear()

    check = build_check(get_target("jetson-orin-nano"))
    assert not check and "TensorRT 8.6.2 is installed but spc needs TensorRT 10.3 or newer" in check.why
    assert "JetPack 6.1+" in check.why
    from spc.cli import cli

    r = CliRunner().invoke(cli, ["build", str(onnx_model), "--target", "jetson-orin-nano"])
    assert r.exit_code == 1 and "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    assert "TensorRT 8.6.2 is installed" in r.output
    assert trt.calls == [] and not list(onnx_model.parent.glob("*.engine"))


def test_tensorrt_10_3_and_newer_pass_the_gate():
    from spc.engines.cuda_env import check_tensorrt_version

    for ok in ("10.3.0", "10.3.0.30", "10.7.0", "11.0.1"):
        check_tensorrt_version(ok)
    for bad, why in (("10.2.0", "10.3 or newer"), ("8.6.2.3", "JetPack 6.0 ships TensorRT 8.6"), ("", "cannot read")):
        with pytest.raises(SpcError, match=why):
            check_tensorrt_version(bad)


# ---- point 3: INT32 bias DequantizeLinear


def test_parser_errors_are_one_line_naming_the_node(monkeypatch, tmp_path):
    """onnx-tensorrt dequantises INT8 only (its operator table; onnx-tensorrt#850): spc reports the parser's error."""
    trt_fakes.install(monkeypatch)
    bad = trt_fakes.tiny_onnx(tmp_path / "int8.onnx", qdq=True, int32_bias=True,
                              manifest_extra={"quantization": {"format": "QDQ"}})
    with pytest.raises(SpcError, match=r"TensorRT cannot parse .*int8.onnx: In node /classifier/DQ_bias .*only "
                                       r"activation types allowed"):
        build_artifact(bad, get_target("jetson-orin-nano"))
    assert not list(tmp_path.glob("*.engine"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    (tmp_path / "junk.onnx.json").write_text((tmp_path / "int8.onnx.json").read_text())
    with pytest.raises(SpcError, match="Failed to parse ONNX model"):
        build_artifact(junk, get_target("jetson-orin-nano"))


# ---- point 5: engines tied to the board


def test_orin_targets_are_distinct_boards():
    t = load_targets()
    boards = {n: (t[n].sm_counts, t[n].gpu_memory_gb, t[n].board_models, t[n].dla_cores)
              for n in ("jetson-orin-nano", "jetson-orin-nx", "jetson-agx-orin")}
    assert len(set(boards.values())) == 3
    assert boards["jetson-orin-nano"][3] == 0 and boards["jetson-orin-nx"][3] == 2 and boards["jetson-agx-orin"][0] == (16,)


@pytest.mark.parametrize("board, target, ok", [
    ("orin", "jetson-orin-nano", True), ("orin-nx", "jetson-orin-nx", True), ("agx-orin", "jetson-agx-orin", True),
    ("orin-nx", "jetson-orin-nano", False), ("orin", "jetson-orin-nx", False), ("agx-orin", "jetson-orin-nano", False)])
def test_build_only_on_the_target_board(monkeypatch, board, target, ok):
    trt_fakes.install(monkeypatch, gpu=board)
    check = build_check(get_target(target))
    assert bool(check) is ok
    if not ok:  # one line naming both boards
        assert "this GPU is Orin" in check.why and f"but {target} is" in check.why and "board" in check.why


def test_an_engine_from_another_board_is_refused_naming_both(monkeypatch, onnx_model):
    trt_fakes.install(monkeypatch, gpu="orin")
    engine = build_artifact(onnx_model, get_target("jetson-orin-nano")).artifact
    m = read_manifest(engine)
    assert m["sm_count"] == 8 and m["board"] == "NVIDIA Jetson Orin Nano Developer Kit" and m["gpu_memory_mb"] > 7000
    trt_fakes.install(monkeypatch, gpu="agx-orin")
    with pytest.raises(SpcError, match=r"cannot load m.jetson-orin-nano.engine: it was built on Orin \(sm 8.7, 8 SMs, "
                                       r"NVIDIA Jetson Orin Nano Developer Kit\), this is Orin \(sm 8.7, 16 SMs, "
                                       r"Jetson AGX Orin Developer Kit\); rebuild it here"):
        open_runner(engine)


# ---- point 6: a stale engine or timing cache is rebuilt, never a stop (compress keys its builds by the TensorRT
# version and the GPU: tests/recipes/test_compress_build_stage.py); a stale engine given to a runner is one line


def test_an_engine_from_another_tensorrt_is_refused_in_one_line(monkeypatch, tmp_path):
    trt_fakes.install(monkeypatch)
    a = trt_fakes.tiny_onnx(tmp_path / "original.onnx")
    engine = build_artifact(a, get_target("jetson-orin-nano"), tmp_path / "engines").artifact
    assert read_manifest(engine)["tensorrt"] == "10.3.0"
    # an engine from another TensorRT does not deserialise (developer guide, "Engine compatibility"): the runner's
    # own check says so first, in one line
    trt_fakes.install(monkeypatch, version="10.5.0")
    with pytest.raises(SpcError, match="built with TensorRT 10.3.0, this has 10.5.0"):
        open_runner(engine)


def test_a_plan_that_does_not_deserialise_is_one_line(monkeypatch, onnx_model):
    trt_fakes.install(monkeypatch)
    engine = Path(build_artifact(onnx_model, get_target("jetson-orin-nano")).artifact)
    engine.write_bytes(engine.read_bytes().replace(b'"10.3.0"', b'"10.3.1"'))  # a plan another build wrote
    from spc.engines.artifact_manifest import write_manifest
    from spc.fileio import sha256_file

    write_manifest(engine, {**read_manifest(engine), "sha256": sha256_file(engine)})
    with pytest.raises(SpcError, match="TensorRT could not load .*damaged or was built by another TensorRT"):
        open_runner(engine)


def test_build_identity_keys_cached_builds():
    from spc.engines.device import BuildCheck

    gpu = {"gpu": "Orin", "compute_capability": "8.7", "sm_count": 8, "board": "x"}
    assert BuildCheck(True).identity() == {}
    assert BuildCheck(True, "", gpu, "10.3.0").identity() != BuildCheck(True, "", gpu, "10.4.0").identity()


# ---- point 9: the CUDA runtime is the system's, not cuda-python's static one


def test_manifest_records_the_system_cuda_runtime(monkeypatch, onnx_model):
    trt_fakes.install(monkeypatch, system_runtime="12.6")
    m = build_artifact(onnx_model, get_target("jetson-orin-nano")).manifest
    assert m["cuda_runtime"] == "12.6" and m["cuda_runtime_source"] == "libcudart.so" and m["cuda_driver"] == "12.6"
    # no system libcudart: cuda-python's own version, labelled as such (a desktop: cuda-python 12.9 on a 12.8 driver
    # would fail, on a 12.9 one it runs)
    trt_fakes.install(monkeypatch, gpu="rtx-4090", runtime=12090, driver=12090)
    from spc.engines.cuda_env import gpu_info

    info = gpu_info()
    assert info["cuda_runtime"] == "12.9" and info["cuda_runtime_source"] == "cuda-python"


# ---- point 10: the fakes refuse what the real library refuses


def test_fake_context_refuses_unknown_names_and_unaligned_addresses(monkeypatch, onnx_model):
    """IExecutionContext::setTensorAddress: false for a name that is not an engine tensor or a pointer without
    256-byte alignment; get_tensor_shape answers per name."""
    trt, cudart = trt_fakes.install(monkeypatch)
    engine = build_artifact(onnx_model, get_target("jetson-orin-nano")).artifact
    with open_runner(engine) as runner:
        x = np.full((2, 16000), 0.1, np.float32)
        np.testing.assert_allclose(runner.infer(x), trt_fakes.expected_logits(x), rtol=1e-5)
        ctx = trt.contexts[-1]
        ptr = next(iter(cudart.device))
        assert ptr % 256 == 0 and not ctx.set_tensor_address("audio", ptr + 4)
        assert not ctx.set_tensor_address("nope", ptr) and ctx.get_tensor_shape("nope") == ()
        assert ctx.get_tensor_shape("audio") == (2, 16000) and ctx.get_tensor_shape("logits") == (2, 3)
        from spc.errors import SpcInternalError

        monkeypatch.setattr(type(ctx), "set_tensor_address", lambda self, n, p: False)
        with pytest.raises(SpcInternalError, match="refused the buffer address of 'audio'"):
            runner.infer(x)


# ---- point 8: gpu_check.py


def _gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_check_says_what_it_could_not_check(monkeypatch):
    gpu_check = _gpu_check()
    trt_fakes.install(monkeypatch, with_tensorrt=False)
    section, failures, not_checked = gpu_check.tensorrt_section(None, {}, {}, None, 0.0)
    assert failures == [] and "TensorRT is not installed" in section["not_checked"] and not_checked
    assert gpu_check.exit_code(failures, not_checked) == 3  # asked for, not checked: not a pass

    trt_fakes.install(monkeypatch)  # TensorRT present, cuda-python missing: no crash, and said
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, None)
    section, failures, not_checked = gpu_check.tensorrt_section(None, {}, {}, None, 0.0)
    assert "cuda-python is not installed" in section["not_checked"] and gpu_check.exit_code(failures, not_checked) == 3
    assert gpu_check.exit_code([], []) == 0 and gpu_check.exit_code(["x"], ["y"]) == 1
    assert gpu_check.driver_version()  # a version or why it is unknown


def test_gpu_check_target_matches_this_gpu(monkeypatch):
    gpu_check = _gpu_check()
    trt_fakes.install(monkeypatch, gpu="orin-nx")
    from spc.engines.cuda_env import gpu_info

    here = gpu_info()
    assert gpu_check.check_target(here).gpu_mismatch(here) == ""


# ---- point 7: the extras


def test_no_device_extra_drags_in_torch():
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    for deps in (project["dependencies"], extras["device"], extras["tensorrt"], extras["jetson"]):
        names = {d.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower() for d in deps}
        assert not names & {"torch", "transformers", "onnxsim", "onnxslim"}
    assert any(d.startswith("torch") for d in extras["train"])
    assert all("<13" in d for d in extras["tensorrt"] if d.startswith("cuda-python"))
    # a Jetson takes the cuda-python of JetPack 6.1/6.2's CUDA 12.6, the one the driver-too-old message names
    from spc.engines.cuda_env import JETSON_CUDA_PYTHON

    assert extras["jetson"] == [JETSON_CUDA_PYTHON] == ["cuda-python>=12.6,<12.7"]


def test_the_resolution_check_flags_torch_and_cuda_13():
    spec = importlib.util.spec_from_file_location("resolve_extras", ROOT / ".ci" / "resolve_extras.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.cuda13("cuda-bindings", "13.0.1") and mod.cuda13("nvidia-cublas-cu13", "13.1")
    assert not mod.cuda13("cuda-bindings", "12.9.10") and not mod.cuda13("tensorrt-cu12", "10.16")
    reqs, stubs = mod.requirements("tensorrt", "3.10")
    assert stubs == ["tensorrt-cu12<11,>=10.3"] and any(r.startswith("tomli") for r in reqs)
    assert not any(r.startswith("tomli") for r in mod.requirements("device", "3.12")[0])
    assert mod.FORBIDDEN >= {"torch", "transformers"}


def test_jetson_image_installs_no_torch():
    text = (ROOT / "Dockerfile.jetson").read_text()
    assert "FROM nvcr.io/nvidia/l4t-tensorrt:r10.3.0-runtime" in text and "'.[jetson]'" in text
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert installs and not any("torch" in line for line in installs)
    assert "find_spec('torch') is None" in text


def test_an_out_path_without_an_artifact_suffix_is_a_folder(tmp_path):
    """A Path drops a trailing slash: ``build_artifact(a, cpu, Path("built"))`` must not write a file named
    ``built`` (two builds into it would overwrite each other)."""
    from spc.targets import get_target

    a = trt_fakes.tiny_onnx(tmp_path / "a.onnx")
    b = trt_fakes.tiny_onnx(tmp_path / "b.onnx")
    first = build_artifact(a, get_target("cpu"), tmp_path / "built").artifact
    second = build_artifact(b, get_target("cpu"), tmp_path / "built").artifact
    assert Path(first) == tmp_path / "built" / "a.cpu.ort.onnx" and Path(second) == tmp_path / "built" / "b.cpu.ort.onnx"
    assert build_artifact(a, get_target("cpu"), tmp_path / "x.ort.onnx").artifact == str(tmp_path / "x.ort.onnx")
