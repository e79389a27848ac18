"""INT8 for the CPU (issue 25, point 2): dynamic INT8 weights of MatMul/Gemm, gated against FP32, torch-free."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import trt_fakes
from spc.errors import SpcError

pytestmark = pytest.mark.device


def test_the_cpu_int8_variant_runs_integer_kernels_and_agrees_with_fp32(tmp_path):
    import onnx

    from spc.engines import build_artifact, open_runner
    from spc.engines.artifact_manifest import read_manifest
    from spc.precision.int8_cpu import quantize_for_cpu
    from spc.targets import get_target

    src = trt_fakes.tiny_onnx(tmp_path / "m.onnx")
    m = quantize_for_cpu(src, tmp_path / "m.int8-cpu.onnx")
    assert m["precision"] == "int8-cpu" and m["quantization"]["format"] == "dynamic"
    assert m["int8_gate"]["top1_agreement"] == 1.0 and m["provenance"]["parent"]["path"] == str(src)
    ops = {n.op_type for n in onnx.load(str(tmp_path / "m.int8-cpu.onnx")).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeMatMul", "DynamicQuantizeLinear"}, ops
    built = build_artifact(tmp_path / "m.int8-cpu.onnx", get_target("cpu")).artifact
    assert read_manifest(built)["precision"] == "int8-cpu"
    x = (0.1 * np.random.default_rng(0).standard_normal((4, 16000)) + 0.05).astype(np.float32)
    with open_runner(built) as runner:
        out = runner.infer(x)
    np.testing.assert_array_equal(out.argmax(1), trt_fakes.expected_logits(x).argmax(1))
    np.testing.assert_allclose(out, trt_fakes.expected_logits(x), rtol=0.05, atol=0.02)


def test_only_an_fp32_export_is_quantised_and_the_cli_says_what_it_wrote(tmp_path):
    from spc.cli import cli
    from spc.precision.int8_cpu import quantize_for_cpu

    src = trt_fakes.tiny_onnx(tmp_path / "m.onnx")
    r = CliRunner().invoke(cli, ["quantize", str(src)])
    assert r.exit_code == 0 and "wrote" in r.output and (tmp_path / "m.int8-cpu.onnx").is_file(), r.output
    with pytest.raises(SpcError, match="is not an FP32 ONNX export"):
        quantize_for_cpu(tmp_path / "m.int8-cpu.onnx", tmp_path / "again.onnx")
    r = CliRunner().invoke(cli, ["quantize", str(tmp_path / "nope.onnx")])
    assert r.exit_code == 1 and "does not exist" in r.output


def test_the_gate_compares_on_the_calibration_clips_where_given(tmp_path, monkeypatch):
    """Real clips, not noise, where there are any: on noise a trained classifier's logits nearly tie, so its top-1
    flips at any perturbation and the gate would refuse a variant that keeps the test accuracy."""
    import spc.precision.int8_cpu as int8_cpu

    src = trt_fakes.tiny_onnx(tmp_path / "m.onnx")
    clips = (0.1 * np.random.default_rng(1).standard_normal((100, 16000)) + 0.05).astype(np.float32)
    m = int8_cpu.quantize_for_cpu(src, tmp_path / "real.onnx", calib_audio=clips)
    assert m["int8_gate"]["on"] == "calibration clips" and m["int8_gate"]["clips"] == int8_cpu.GATE_CLIPS == 64
    cases, on = int8_cpu.gate_cases({}, clips)
    assert on == "calibration clips" and [len(c) for c in cases] == [8] * 8
    np.testing.assert_array_equal(np.concatenate(cases), clips[:64])  # the first 64, in order
    m = int8_cpu.quantize_for_cpu(src, tmp_path / "noise.onnx")
    assert m["int8_gate"]["on"] == "speech-like clips" and m["int8_gate"]["clips"] == 8
    monkeypatch.setattr(int8_cpu, "MIN_AGREEMENT", 1.01)  # a gate nothing passes: the refusal names its clips
    with pytest.raises(SpcError, match=r"disagrees with FP32 on 0% of 64 calibration clips .*nothing was written"):
        int8_cpu.quantize_for_cpu(src, tmp_path / "refused.onnx", calib_audio=clips)
    assert not (tmp_path / "refused.onnx").exists()
