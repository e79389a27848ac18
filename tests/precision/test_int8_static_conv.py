"""Static INT8 convolutions in the CPU INT8 variant (issue 25): QLinearConv on the front end, the STFT kept FP32."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import tiny_configs


@pytest.fixture
def whisper_export(tmp_path):
    """A tiny Whisper exported by spc: its log-mel STFT and two front-end convolutions are Conv nodes."""
    from spc.models.io import build_model

    return _export(build_model(tiny_configs()["whisper"], ["a", "b", "c"], seed=0).eval(), tmp_path)


def _export(model, tmp_path):
    from spc.export import ExportConfig, export_onnx

    path = tmp_path / "m.onnx"
    export_onnx(model, path, ExportConfig(simplify=True, batch_sizes=(1, 2), seconds=(1.0,)))
    return path


def _speech(n: int, seed: int = 0) -> np.ndarray:
    from spc.engines.ort_build import speechlike

    return speechlike(n, 16000, 16000, seed=seed)


def test_static_convolutions_become_qlinearconv_but_the_stft_stays_fp32(tmp_path, whisper_export):
    import onnx

    from spc.engines.ort_run import ort_session
    from spc.precision.int8_cpu import QuantizeConfig, quantize_for_cpu

    out = tmp_path / "m.int8.onnx"
    m = quantize_for_cpu(whisper_export, out, QuantizeConfig(conv="static"), _speech(8), {"clips": 8})
    nodes = onnx.load(str(out)).graph.node
    ops = {n.op_type for n in nodes}
    assert "QLinearConv" in ops and ops & {"DynamicQuantizeMatMul", "MatMulInteger"}, ops
    fp32_convs = [n.name for n in nodes if n.op_type == "Conv"]
    assert fp32_convs == ["/front/preprocessor/Conv"], fp32_convs  # the log-mel STFT only
    conv = m["quantization"]["conv"]
    assert sorted(conv["nodes"]) == ["/front/conv1/Conv", "/front/conv2/Conv"] and conv["calibration"] == {"clips": 8}
    assert m["config"] == {"per_channel": True, "conv": "static", "version": 2}
    # close to the FP32 graph on fresh clips (the gate itself needs top-1 agreement on speech-like clips)
    x = _speech(4, seed=5)
    ref, got = (ort_session(p).run(None, {"audio": x})[0] for p in (whisper_export, out))
    assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max() + 0.05


def test_dynamic_variant_keeps_every_convolution_fp32(tmp_path, whisper_export):
    import onnx

    from spc.precision.int8_cpu import quantize_for_cpu

    m = quantize_for_cpu(whisper_export, tmp_path / "d.onnx")
    convs = [n.op_type for n in onnx.load(str(tmp_path / "d.onnx")).graph.node if "Conv" in n.op_type]
    assert convs == ["Conv"] * 3 and "conv" not in m["quantization"]


def test_static_convolutions_without_clips_are_one_error_and_nothing_is_written(tmp_path, whisper_export):
    from spc.cli import cli
    from spc.errors import SpcError
    from spc.precision.int8_cpu import QuantizeConfig, quantize_for_cpu

    with pytest.raises(SpcError, match="need calibration clips"):
        quantize_for_cpu(whisper_export, tmp_path / "x.onnx", QuantizeConfig(conv="static"))
    r = CliRunner().invoke(cli, ["quantize", str(whisper_export), "--conv", "static"])
    assert r.exit_code == 1 and "--conv static needs calibration clips" in r.output, r.output
    r = CliRunner().invoke(cli, ["quantize", str(whisper_export), "--calibration", "x.json"])
    assert r.exit_code == 1 and "go together" in r.output, r.output
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "m.int8-cpu.onnx").exists()
    with pytest.raises(SpcError, match="unknown convolution mode"):
        QuantizeConfig(conv="dynamic")


def test_cli_static_convolutions_from_a_calibration_manifest(tmp_path, tone_dataset, whisper_export):
    """spc quantize --conv static on a manifest drawn by spc calib make: the manifest's clips calibrate it."""
    import onnx

    from spc.cli import cli
    from spc.engines.artifact_manifest import read_manifest

    man = tmp_path / "cal.json"
    r = CliRunner().invoke(cli, ["calib", "make", "--data", str(tone_dataset), "--n", "6", "--out", str(man)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["quantize", str(whisper_export), "--conv", "static", "--calibration", str(man),
                                 "--data", str(tone_dataset)])
    assert r.exit_code == 0 and "2 convolutions static INT8" in r.output, r.output
    out = tmp_path / "m.int8-cpu.onnx"
    assert sum(n.op_type == "QLinearConv" for n in onnx.load(str(out)).graph.node) == 2
    cal = read_manifest(out)["quantization"]["conv"]["calibration"]
    assert cal["clips"] == 6 and cal["manifest"] == str(man) and len(cal["hash"]) == 16


def test_every_wav2vec2_convolution_is_converted(tmp_path):
    """wav2vec2's seven feature-encoder convolutions and its positional convolution all become QLinearConv."""
    import onnx

    from spc.models.io import build_model
    from spc.precision.int8_cpu import static_convolutions

    src = _export(build_model(tiny_configs()["wav2vec2"], ["a", "b", "c"], seed=0).eval(), tmp_path)
    names = static_convolutions(src, tmp_path / "q.onnx", _speech(4), "audio", per_channel=True)
    got = [n.name for n in onnx.load(str(tmp_path / "q.onnx")).graph.node if n.op_type == "QLinearConv"]
    assert len(names) == 8 and len(got) == 8
    assert not [n for n in onnx.load(str(tmp_path / "q.onnx")).graph.node if n.op_type == "Conv"]


def test_a_tiny_students_stft_window_is_its_own_and_survives_save_and_load(tmp_path):
    import torch

    from spc.models import load_model
    from spc.models.io import build_model, build_student, save_model
    from spc.models.mimic import MimicConfig
    from spc.errors import SpcError

    teacher = build_model(tiny_configs()["whisper"], ["a", "b"], seed=0)
    s = build_student(teacher, MimicConfig(kind="tiny", width=32, heads=2, n_fft=200), seed=0).eval()
    pre = s.front.preprocessor
    assert pre.n_fft == 200 and pre.basis.shape == (2 * 101, 1, 200) and pre.mel.shape == (40, 101)
    save_model(s, tmp_path / "s")
    back = load_model(str(tmp_path / "s")).eval()
    assert back.front.preprocessor.n_fft == 200
    x = torch.from_numpy(_speech(2))
    with torch.inference_mode():
        torch.testing.assert_close(back(x), s(x))
        # the log-mel of a 200-sample window against numpy's own STFT of the same frames
        feats = pre(x[:1]).numpy()[0]  # M x frames
    a = np.pad(x[0].numpy().astype(np.float64), 100, mode="reflect")
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(200) / 200)
    frames = np.stack([a[i * 160:i * 160 + 200] * win for i in range(feats.shape[1])])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # frames x 101
    log = np.log10(np.maximum(power @ pre.mel.numpy().T.astype(np.float64), 1e-10))
    log = (np.maximum(log, log.max() - 8.0) + 4.0) / 4.0
    np.testing.assert_allclose(feats, log.T, atol=2e-3)
    with pytest.raises(SpcError, match="64 to 1024"):
        MimicConfig(kind="tiny", n_fft=32)
