"""The device side, round three (issue 36): inside the Jetson container, on TensorRT 11, tuned at the shape it is
timed at, runners that check their engine, and the texts that were wrong. The fakes fail as the documented library
fails (trt_fakes.py names each source)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import trt_fakes
from spc.engines import build_artifact
from spc.engines.build import BuildConfig
from spc.errors import SpcError
from spc.targets import get_target

pytestmark = pytest.mark.device
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def onnx_model(tmp_path):
    return trt_fakes.tiny_onnx(tmp_path / "m.onnx")


# ---- 1: inside the documented container the board is unknown, not wrong


def test_the_board_is_read_from_the_setting_the_container_copy_then_the_device_tree(tmp_path, monkeypatch):
    from spc.engines import cuda_env

    copy, tree = tmp_path / "nv_jetson_model", tmp_path / "model"
    tree.write_bytes(b"NVIDIA Jetson Orin Nano Developer Kit\x00")
    monkeypatch.setattr(cuda_env, "BOARD_FILES", (copy, tree))
    monkeypatch.delenv("SPC_JETSON_MODEL", raising=False)
    assert cuda_env.board_model() == "NVIDIA Jetson Orin Nano Developer Kit"
    copy.write_text("NVIDIA Jetson Orin NX Engineering Reference Developer Kit\n")
    assert cuda_env.board_model().startswith("NVIDIA Jetson Orin NX")
    monkeypatch.setenv("SPC_JETSON_MODEL", "Jetson AGX Orin Developer Kit")
    assert cuda_env.board_model() == "Jetson AGX Orin Developer Kit"
    (tmp_path / "nv_tegra_release").write_text("# R36 (release), REVISION: 4.3, GCID: 1, BOARD: generic\n")
    assert cuda_env.tegra_release(tmp_path / "nv_tegra_release") == "R36 (release), REVISION: 4.3, GCID: 1, BOARD: generic"
    assert cuda_env.tegra_release(tmp_path / "absent") == ""


def test_in_a_container_without_the_mount_the_gpu_decides_or_the_message_says_unknown(monkeypatch, onnx_model):
    trt_fakes.install(monkeypatch, gpu="orin", board="")  # an Orin Nano, /proc/device-tree masked
    m = build_artifact(onnx_model, get_target("jetson-orin-nano")).manifest
    assert m["kind"] == "tensorrt"  # 8 SMs and 7.4 GB: the Nano, and no other Orin target
    with pytest.raises(SpcError) as err:
        build_artifact(onnx_model, get_target("jetson-orin-nx"), onnx_model.with_name("nx.engine"))
    assert "cannot tell which Jetson this is" in str(err.value) and "/tmp/nv_jetson_model" in str(err.value)
    assert "but jetson-orin-nx is" not in str(err.value)
    trt_fakes.install(monkeypatch, gpu="orin")  # the board read: a wrong board is named as such
    with pytest.raises(SpcError, match="board 'NVIDIA Jetson Orin Nano Developer Kit'.* but jetson-orin-nx is"):
        build_artifact(onnx_model, get_target("jetson-orin-nx"), onnx_model.with_name("nx.engine"))
    trt_fakes.install(monkeypatch, gpu="rtx-4090")  # a desktop is still "no Jetson board"
    with pytest.raises(SpcError, match="no Jetson board"):
        build_artifact(onnx_model, get_target("jetson-orin-nano"), onnx_model.with_name("n.engine"))


def test_targets_check_says_what_it_finds_and_what_builds(monkeypatch):
    from click.testing import CliRunner

    from spc.cli import cli

    trt_fakes.install(monkeypatch, gpu="orin", board="")
    r = CliRunner().invoke(cli, ["targets", "--check"])
    assert r.exit_code == 0, r.output
    assert "TensorRT 10.3.0" in r.output and "board: unreadable" in r.output
    assert "jetson-orin-nano: builds here" in r.output and "jetson-orin-nx: not here" in r.output
    trt_fakes.install(monkeypatch, with_tensorrt=False)
    r = CliRunner().invoke(cli, ["targets", "--check"])
    assert r.exit_code == 1 and "TensorRT is not installed here" in r.output


# ---- 3: TensorRT 11 is strongly typed only


def test_tensorrt_11_refuses_an_fp32_export_and_builds_the_fp16_model_strongly_typed(monkeypatch, tmp_path):
    trt, _ = trt_fakes.install(monkeypatch, gpu="rtx-4090", version="11.4.0", runtime=12090, driver=12090)
    assert not hasattr(trt.BuilderFlag, "FP16") and not hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH")
    target = get_target("rtx-4090")
    fp32 = trt_fakes.tiny_onnx(tmp_path / "m.onnx")
    with pytest.raises(SpcError, match=r"TensorRT 11.4.0 builds strongly typed networks only .*fp16.onnx"):
        build_artifact(fp32, target)
    assert not list(tmp_path.glob("*.engine"))
    fp16 = trt_fakes.tiny_onnx(tmp_path / "fp16.onnx", manifest_extra={"precision": "fp16"})
    m = build_artifact(fp16, target).manifest
    assert m["strongly_typed"] and m["precision"] == "fp16" and trt.last_config.flags == set()
    qdq = trt_fakes.tiny_onnx(tmp_path / "int8.onnx", qdq=True, manifest_extra={"quantization": {"format": "QDQ"}})
    m = build_artifact(qdq, target).manifest
    assert m["strongly_typed"] and m["precision"] == "int8-qdq+fp32" and any("strongly typed" in n for n in m["notes"])


def test_tensorrt_10_builds_an_fp16_model_strongly_typed_and_an_fp32_one_with_the_flag(monkeypatch, tmp_path):
    trt, _ = trt_fakes.install(monkeypatch)
    target = get_target("jetson-orin-nano")
    fp16 = trt_fakes.tiny_onnx(tmp_path / "fp16.onnx", manifest_extra={"precision": "fp16-mixed"})
    m = build_artifact(fp16, target).manifest
    assert m["strongly_typed"] and trt.last_config.flags == set()
    assert ("create_network", 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)) in trt.calls
    m = build_artifact(trt_fakes.tiny_onnx(tmp_path / "m.onnx"), target).manifest
    assert not m["strongly_typed"] and trt.BuilderFlag.FP16 in trt.last_config.flags


# ---- 5: tuned at the shape it is timed at


def test_an_engine_is_tuned_for_the_batch_compress_times(monkeypatch, onnx_model, tmp_path):
    trt, _ = trt_fakes.install(monkeypatch, gpu="rtx-4090", runtime=12090, driver=12090)
    target = get_target("rtx-4090")
    assert target.profile.opt_batch > 1
    default = build_artifact(onnx_model, target).manifest
    assert default["profiles"]["opt"][0] == target.profile.opt_batch
    tuned = build_artifact(onnx_model, target, tmp_path / "b1.engine", BuildConfig(opt_batch=1)).manifest
    assert tuned["profiles"]["opt"][0] == 1 == tuned["tuned_for_batch"] and tuned["build_config"]["opt_batch"] == 1
    from spc.engines.target_latency import headline_shape

    assert headline_shape(target, tuned)[0] == tuned["tuned_for_batch"]  # what compress times is what it tuned for


# ---- 6: runners check the engine against the manifest


def test_a_manifest_that_disagrees_with_its_engine_is_one_line(monkeypatch, onnx_model):
    trt_fakes.install(monkeypatch)
    built = build_artifact(onnx_model, get_target("jetson-orin-nano"))
    from spc.engines import open_runner

    engine = Path(built.artifact)  # rewritten: an engine whose output is not the one its manifest names
    plan = json.loads(engine.read_bytes()[len(b"ENGINE"):])
    plan["outputs"] = ["scores"]
    engine.write_bytes(b"ENGINE" + json.dumps(plan).encode())
    m = json.loads(Path(str(engine) + ".json").read_text())
    from spc.fileio import sha256_file

    m["sha256"] = sha256_file(engine)
    Path(str(engine) + ".json").write_text(json.dumps(m))
    with pytest.raises(SpcError, match=r"does not describe its engine .*outputs \['logits'\].*outputs \['scores'\]"):
        open_runner(engine)


def test_the_fake_refuses_to_run_with_a_tensor_that_has_no_address(monkeypatch, onnx_model):
    import numpy as np

    trt, _ = trt_fakes.install(monkeypatch)
    built = build_artifact(onnx_model, get_target("jetson-orin-nano"))
    from spc.engines import open_runner

    with open_runner(built.artifact) as runner:
        runner._bind(np.zeros((1, 16000), np.float32))
        runner.context.addresses.pop("logits")  # as if an output had never been given an address
        with pytest.raises(RuntimeError, match="execution of .* failed"):
            runner._execute()
    assert any("Address is not set for tensor logits" in line for line in trt.log)


# ---- 7: the real-GPU test's target fits any GPU; 10: texts


def test_a_target_for_this_gpu_accepts_it_whatever_its_memory():
    from spc.targets import target_for

    for here in ({"gpu": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9", "sm_count": 128, "gpu_memory_mb": 24_000,
                  "board": ""},
                 {"gpu": "NVIDIA A100-SXM4-40GB", "compute_capability": "8.0", "sm_count": 108, "gpu_memory_mb": 40_000,
                  "board": ""},
                 {"gpu": "Orin", "compute_capability": "8.7", "sm_count": 8, "gpu_memory_mb": 7_500,
                  "board": "NVIDIA Jetson Orin Nano Developer Kit", "tegra": "R36"}):
        assert target_for(here).gpu_mismatch(here) == ""
    test = (ROOT / "tests" / "engines" / "test_gpu.py").read_text()
    assert "target_for(" in test and "get_target(\"h100\")" not in test


def test_target_texts_say_what_the_hardware_and_jetpack_offer():
    nano, nx, h100 = (get_target(n, quiet=True) for n in ("jetson-orin-nano", "jetson-orin-nx", "h100"))
    assert "MAXN" not in nano.power_mode.split("(")[0] and "JetPack 6.2 adds 25W and MAXN SUPER" in nano.power_mode
    assert "MAXN (25W)" not in nx.power_mode and "JetPack 6.2 adds 40W and MAXN SUPER" in nx.power_mode
    assert "SXM5 132 SMs" in h100.description and "PCIe 114 SMs" in h100.description
    here = {"gpu": "NVIDIA GH200 480GB", "compute_capability": "9.0", "sm_count": 132, "gpu_memory_mb": 97_000}
    assert h100.gpu_mismatch(here).startswith("this GPU is NVIDIA GH200")  # "H200" is not a part of "GH200"
    assert h100.gpu_mismatch({**here, "gpu": "NVIDIA H200", "gpu_memory_mb": 140_000}) == ""


# ---- 4: the image checks torch's absence at build time and TensorRT when it runs


def test_the_jetson_image_does_not_import_tensorrt_while_it_builds():
    docker = (ROOT / "Dockerfile.jetson").read_text()
    build_steps = [line for line in docker.splitlines() if not line.lstrip().startswith("#")]
    assert not any("import tensorrt" in line or ", tensorrt," in line for line in build_steps)
    assert "repo.download.nvidia.com/jetson/common" in docker and "python3-libnvinfer=10.3.*" in docker
    assert 'CMD ["spc", "targets", "--check"]' in docker
    readme = (ROOT / "README.md").read_text()
    assert "--runtime nvidia -v /tmp/nv_jetson_model:/tmp/nv_jetson_model:ro" in readme


def test_ci_upgrades_pip_before_the_dry_run_needs_it():
    ci = (ROOT / ".ci" / "run").read_text()
    for venv in (".venv", ".venv-device"):
        assert f"{venv}/bin/python -m pip install -q --upgrade pip" in ci
    assert ci.index(".venv/bin/python -m pip install -q --upgrade pip") < ci.index("resolve_extras.py")
