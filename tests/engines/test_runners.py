"""One runner interface for ONNX Runtime, TensorRT and PyTorch (issue 14.4); damaged artifacts are one line (16.5)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import trt_fakes
from spc.engines import open_runner
from spc.engines.ort_run import OrtRunner
from spc.engines.runner import Runner
from spc.errors import SpcError


def test_ort_and_torch_runners_share_the_interface(tmp_path):
    from conftest import tiny_configs
    from spc.engines.torch_run import TorchRunner
    from spc.models import build_model, save_model

    onnx_path = trt_fakes.tiny_onnx(tmp_path / "m.onnx")
    save_model(build_model(tiny_configs()["wav2vec2"], ["a", "b", "c"], seed=0), tmp_path / "folder")
    x = (0.1 * np.random.default_rng(0).standard_normal((5, 16000))).astype(np.float32)
    for path, kind in ((onnx_path, OrtRunner), (tmp_path / "folder", TorchRunner)):
        with open_runner(path) as runner:
            assert isinstance(runner, kind) and isinstance(runner, Runner)
            assert runner.max_batch is None and runner.manifest["labels"] == ["a", "b", "c"]
            out = runner.infer(x)
            assert out.shape == (5, 3) and out.dtype == np.float32
            np.testing.assert_allclose(runner(x[:2]), out[:2], rtol=1e-5, atol=1e-6)  # a predictor too
            assert runner.infer(x[:0]).shape == (0, 3)
    np.testing.assert_allclose(OrtRunner(onnx_path).infer(x), trt_fakes.expected_logits(x), rtol=1e-5, atol=1e-6)


@pytest.mark.device
def test_the_runner_is_callable_and_carries_its_manifest(tmp_path):
    with open_runner(trt_fakes.tiny_onnx(tmp_path / "m.onnx")) as fn:
        assert callable(fn) and fn.manifest["input"] == "audio" and fn(np.zeros((2, 16000), np.float32)).shape == (2, 3)
    import spc.runtime

    assert not hasattr(spc.runtime, "load_backend")  # one runner layer: no shim


@pytest.mark.device
def test_runtime_needs_no_torch_and_ort_sessions_come_from_one_function():
    import pathlib
    import subprocess
    import sys

    code = ("import sys, spc.runtime, spc.engines, spc.timing, spc.targets; "
            "assert 'torch' not in sys.modules and 'tensorrt' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    root = pathlib.Path(__file__).resolve().parents[2] / "toolchain" / "spc"
    callers = [str(p.relative_to(root)) for p in root.rglob("*.py") if "InferenceSession(" in p.read_text()]
    assert callers == ["engines/ort_run.py"]


@pytest.mark.device
def test_ort_sessions_do_not_spin_idle_threads(tmp_path):
    """A spinning pool keeps the cores busy after a run and slows what runs next (side-by-side timing)."""
    from spc.engines.ort_run import ort_session

    sess = ort_session(trt_fakes.tiny_onnx(tmp_path / "m.onnx"), threads=2)
    assert sess.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert sess.get_session_options().intra_op_num_threads == 2


@pytest.mark.device
def test_truncated_onnx_is_one_line(tmp_path):
    from spc.cli import cli
    from spc.engines.artifact_manifest import read_manifest, write_manifest

    from conftest import tone, write_wav

    path = trt_fakes.tiny_onnx(tmp_path / "m.onnx")
    wav = write_wav(tmp_path / "x.wav", tone(440, 1.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SpcError, match=r"m.onnx does not match its manifest \(sha256"):
        open_runner(path)
    r = CliRunner().invoke(cli, ["run", str(path), str(wav)])
    assert r.exit_code == 1 and "does not match its manifest" in r.output and "Traceback" not in r.output
    # without a recorded sha256, ONNX Runtime's own refusal becomes one line too
    write_manifest(path, {k: v for k, v in read_manifest(path).items() if k != "sha256"})
    for args in (["run", str(path), str(wav)], ["bench", str(path), "--runs", "1", "--warmup", "0"]):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 1 and "ONNX Runtime cannot load" in r.output, r.output
        assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1


@pytest.mark.device
def test_cpu_build_records_the_artifact_sha256(tmp_path):
    from spc.engines import build_artifact
    from spc.fileio import sha256_file
    from spc.targets import get_target

    report = build_artifact(trt_fakes.tiny_onnx(tmp_path / "m.onnx"), get_target("cpu"), tmp_path)
    assert report.artifact == str(tmp_path / "m.cpu.ort.onnx")
    assert report.manifest["sha256"] == sha256_file(report.artifact)
