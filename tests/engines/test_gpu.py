"""TensorRT build and run on a real GPU: only where TensorRT and a CUDA GPU are present (marked gpu)."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from conftest import tiny_configs

trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (GPU machines only)")
pytestmark = pytest.mark.gpu
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU visible", allow_module_level=True)


def _this_gpu_target():
    """The h100 profile re-aimed at whatever GPU this is, so spc's GPU check lets the build run."""
    from spc.engines.cuda_env import gpu_info
    from spc.targets import ShapeProfile, target_for

    return target_for(gpu_info(), profile=ShapeProfile(1, 1, 4, 0.5, 1.0, 2.0))


def test_engine_builds_runs_splits_and_matches_pytorch(tmp_path):
    from spc.engines import build_artifact, open_runner
    from spc.export import export_onnx
    from spc.models import build_model

    model = build_model(tiny_configs()["wav2vec2"], ["a", "b", "c"], seed=0)
    export_onnx(model, tmp_path / "m.onnx")
    report = build_artifact(tmp_path / "m.onnx", _this_gpu_target())
    assert report.manifest["timing_cache"] and report.manifest["fp32_layers"] is None
    x = (0.1 * np.random.default_rng(0).standard_normal((10, 16000))).astype(np.float32)
    with torch.inference_mode():
        ref = model(torch.from_numpy(x)).numpy()
    with open_runner(report.artifact) as runner:
        assert runner.max_batch == 4
        out = runner.infer(x)  # 10 clips in batches of 4, 4, 2
        assert len(runner.device_times_ms(x[:1], warmup=2, runs=5)) == 5
    assert np.abs(out - ref).max() < 5e-2
    assert (out.argmax(1) == ref.argmax(1)).all()
    again = build_artifact(tmp_path / "m.onnx", _this_gpu_target())  # the keyed timing cache is accepted
    assert again.manifest["notes"] == []
