"""Calibration manifests, the FP16 check on a planted overflow, mixed-precision ONNX, INT8 on the CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import tiny_configs
from spc.calib import CalibConfig, check_manifest, load_manifest, make_manifest, manifest_hash, save_manifest
from spc.cli import cli
from spc.data import open_dataset
from spc.errors import SpcError
from spc.export import ExportConfig, export_onnx
from spc.models import build_model
from spc.precision.fp16 import FP16_MAX, fp16_check, mixed_precision_onnx


def test_manifest_is_deterministic_balanced_and_refuses_test(tone_dataset, tmp_path):
    ds = open_dataset(tone_dataset)
    a = make_manifest(ds, CalibConfig(9, seed=3))
    b = make_manifest(ds, CalibConfig(9, seed=3))
    c = make_manifest(ds, CalibConfig(9, seed=4))
    assert a == b and manifest_hash(a) == manifest_hash(b)
    assert manifest_hash(a) != manifest_hash(c)
    labels = [x["label"] for x in a["clips"]]
    assert sorted(labels.count(k) for k in set(labels)) == [3, 3, 3]
    assert all(not x["path"].startswith("/") and x["path"].startswith("validation/") for x in a["clips"])
    with pytest.raises(SpcError, match="never come from the test split"):
        make_manifest(ds, CalibConfig(9, split="test"))
    path = save_manifest(a, tmp_path / "cal")
    assert load_manifest(path) == a
    bad = dict(a, split="test")
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(SpcError, match="draws from the test split"):
        load_manifest(tmp_path / "bad.json")


def test_calib_check_finds_a_changed_and_a_missing_file(tone_dataset, tmp_path):
    import shutil

    data = tmp_path / "copy"
    shutil.copytree(tone_dataset, data)
    manifest = make_manifest(open_dataset(data), CalibConfig(6, seed=0))
    save_manifest(manifest, tmp_path / "m.json")
    assert check_manifest(manifest, data)["ok"]
    changed = data / manifest["clips"][0]["path"]
    changed.write_bytes(changed.read_bytes()[:-2] + b"\x01\x02")
    (data / manifest["clips"][1]["path"]).unlink()
    status = check_manifest(manifest, data)
    assert status["changed"] == [manifest["clips"][0]["path"]] and status["missing"] == [manifest["clips"][1]["path"]]
    r = CliRunner().invoke(cli, ["calib", "check", str(tmp_path / "m.json"), "--data", str(data)])
    assert r.exit_code == 1 and "1 missing, 1 changed" in r.output


def _planted():
    model = build_model(tiny_configs()["wav2vec2"], ["a", "b", "c"], seed=0)
    ff = model.hf.wav2vec2.encoder.layers[2].feed_forward
    with torch.no_grad():  # weights stay inside the FP16 range; the feed-forward output does not
        ff.intermediate_dense.weight.mul_(2000.0)
        ff.output_dense.weight.mul_(2000.0)
    assert max(float(p.abs().max()) for p in ff.parameters()) < 1000
    return model


def test_fp16_check_flags_a_planted_overflow():
    model = _planted()
    audio = (0.3 * np.random.default_rng(0).standard_normal((6, 16000))).astype(np.float32)
    report = fp16_check(model, audio, np.zeros(6, dtype=np.int64))
    layer2 = report.layers[2]
    assert layer2.overflow and max(layer2.sublayer_max_abs.values()) > FP16_MAX
    assert report.flagged == [2]
    assert all(not c.overflow and c.rel_error_fp16 < 1e-2 for c in report.layers if c.layer != 2)


def test_mixed_precision_onnx_matches_fp32_where_plain_fp16_fails(tmp_path):

    model = _planted()
    audio = (0.3 * np.random.default_rng(1).standard_normal((4, 16000))).astype(np.float32)
    export_onnx(model, tmp_path / "fp32.onnx", ExportConfig(simplify=False), audio=audio)
    mixed_info = mixed_precision_onnx(tmp_path / "fp32.onnx", tmp_path / "mixed.onnx", [2])
    plain_info = mixed_precision_onnx(tmp_path / "fp32.onnx", tmp_path / "fp16.onnx", [])
    # the converter's clipping warnings (a tiny constant truncated to FP16's range) are counted, not hidden
    for info in (mixed_info, plain_info):
        assert any("will be truncated" in w and n >= 1 for w, n in info["converter_warnings"].items())
    import onnxruntime as ort

    def run(p):
        s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        return s.run(None, {"audio": audio})[0]

    ref = run(tmp_path / "fp32.onnx")
    mixed = run(tmp_path / "mixed.onnx")
    plain = run(tmp_path / "fp16.onnx")
    assert np.abs(mixed - ref).max() < 0.05 and (mixed.argmax(1) == ref.argmax(1)).all()
    assert not np.isfinite(plain).all() or np.abs(plain - ref).max() > 0.05


def test_int8_onnx_runs_and_reports_accuracy(tmp_path, tone_dataset):
    from spc.models import save_model
    from spc.recipes.precision_check import PrecisionConfig, run_precision

    save_model(build_model(tiny_configs()["wav2vec2"], ["high", "low", "mid"], seed=0), tmp_path / "m")
    save_manifest(make_manifest(open_dataset(tone_dataset), CalibConfig(12, seed=0)), tmp_path / "cal.json")
    s = run_precision(tmp_path / "m", tone_dataset, tmp_path / "cal.json", tmp_path / "p", PrecisionConfig(latency_runs=2))
    assert set(s["test_accuracy"]) == {"fp32", "fp16", "mixed", "int8"}
    assert all(0.0 <= a <= 1.0 for a in s["test_accuracy"].values())
    import onnx

    graph = onnx.load(str(tmp_path / "p" / "int8.onnx")).graph
    ops = {n.op_type for n in graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    # TensorRT's parser dequantises INT8 only (onnx-tensorrt operator table; onnx-tensorrt#850): no INT32 bias
    # DequantizeLinear, and the wav2vec2 positional conv and the classifier keep float biases
    types = {i.name: i.data_type for i in graph.initializer}
    dq_inputs = {types.get(n.input[0]) for n in graph.node if n.op_type == "DequantizeLinear"}
    assert onnx.TensorProto.INT32 not in dq_inputs and onnx.TensorProto.INT8 in dq_inputs
    biased = [n for n in graph.node if n.op_type in ("Conv", "Gemm") and len(n.input) > 2]
    assert biased and all(types.get(n.input[2]) == onnx.TensorProto.FLOAT for n in biased)
    saved = json.loads((tmp_path / "p" / "precision.json").read_text())
    assert saved["calibration"]["hash"] == manifest_hash(load_manifest(tmp_path / "cal.json"))
