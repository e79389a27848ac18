"""TensorRT build and run: only where TensorRT and a CUDA GPU are present."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tiny_configs

trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (GPU machines only)")
pytestmark = pytest.mark.gpu
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU visible", allow_module_level=True)


def test_engine_builds_runs_and_matches_pytorch(tmp_path):
    from spc.engines import build_artifact
    from spc.engines.tensorrt_run import TensorRTRunner
    from spc.export import export_onnx
    from spc.models import build_model
    from spc.targets import get_target

    model = build_model(tiny_configs()["wav2vec2"], ["a", "b", "c"], seed=0)
    export_onnx(model, tmp_path / "m.onnx")
    report = build_artifact(tmp_path / "m.onnx", get_target("h100"))
    x = (0.1 * np.random.default_rng(0).standard_normal((4, 16000))).astype(np.float32)
    with torch.inference_mode():
        ref = model(torch.from_numpy(x)).numpy()
    with TensorRTRunner(report.artifact) as runner:
        out = runner(x)
    assert np.abs(out - ref).max() < 5e-2
    assert (out.argmax(1) == ref.argmax(1)).all()
