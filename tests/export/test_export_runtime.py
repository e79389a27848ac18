"""ONNX export and parity for every family, a pruned model and mimic students; refusal; targets; runtime."""

from __future__ import annotations

import sys
import subprocess

import numpy as np
import pytest
import torch

from conftest import tiny_configs
from spc.distill import MimicConfig, build_student
from spc.engines import build_artifact
from spc.engines.artifact_manifest import read_manifest, write_manifest
from spc.errors import SpcError
from spc.export import ExportConfig, export_onnx
from spc.export import onnx_export
from spc.export.parity import ParityError, check_parity
from spc.models import build_model
from spc.prune import prune_model
from spc.targets import get_target, load_targets, parse_target

LABELS = ["a", "b", "c"]


def _assert_export_ok(model, path):
    report = export_onnx(model, path, ExportConfig(batch_sizes=(1, 3), seconds=(1.0, 0.75, 1.5)))
    assert report.parity["passed"] and report.parity["top1_agreement"] == 1.0
    assert {c["batch"] for c in report.parity["cases"]} == {1, 3}
    assert len({c["samples"] for c in report.parity["cases"]}) >= 2  # several clip lengths
    manifest = read_manifest(path)
    assert manifest["labels"] == LABELS and manifest["sha256"] == report.sha256
    assert report.after is None or report.after.nodes <= report.before.nodes
    return report


def test_export_every_family(family_config, tmp_path):
    _, config = family_config
    model = build_model(config, LABELS, seed=0)
    report = _assert_export_ok(model, tmp_path / "m.onnx")
    assert "LayerNormalization" in report.before.ops  # opset 17: one node per LayerNorm


def test_export_pruned_and_students(tmp_path):
    teacher = build_model(tiny_configs()["wavlm"], LABELS, seed=0)
    _assert_export_ok(prune_model(teacher, [1, 3]), tmp_path / "pruned.onnx")
    for cfg in (MimicConfig("linear", 2, hidden=8), MimicConfig("transformer", 1, heads=2, ffn=32)):
        _assert_export_ok(build_student(teacher, cfg).eval(), tmp_path / f"{cfg.kind}.onnx")


def test_weight_norm_is_folded(tmp_path):
    model = build_model(tiny_configs()["wav2vec2"], LABELS)
    export_onnx(model, tmp_path / "m.onnx", ExportConfig(simplify=False))
    import onnx

    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    assert not any("weight_g" in i.name or "original0" in i.name for i in graph.initializer)
    # and the PyTorch model itself was left untouched
    from torch.nn.utils import parametrize

    assert parametrize.is_parametrized(model.hf.wav2vec2.encoder.pos_conv_embed.conv)


def test_disagreeing_export_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    model = build_model(tiny_configs()["hubert"], LABELS, seed=0)
    real = onnx_export._torch_export

    def corrupt(wrapper, dummy, path, config, notes):
        with torch.no_grad():
            wrapper.model.hf.classifier.bias.add_(5.0 * torch.arange(3.0))
        return real(wrapper, dummy, path, config, notes)

    monkeypatch.setattr(onnx_export, "_torch_export", corrupt)
    with pytest.raises(ParityError, match="disagrees with PyTorch"):
        export_onnx(model, tmp_path / "bad.onnx")
    assert list(tmp_path.iterdir()) == []


def test_parity_report_is_truthy_only_when_it_passes(tmp_path):
    model = build_model(tiny_configs()["wav2vec2"], LABELS, seed=0)
    export_onnx(model, tmp_path / "m.onnx", ExportConfig(simplify=False))
    audio = (0.1 * np.random.default_rng(0).standard_normal((2, 16000))).astype(np.float32)
    assert check_parity(model, tmp_path / "m.onnx", audio)
    with torch.no_grad():
        model.hf.classifier.bias.add_(1.0)
    assert not check_parity(model, tmp_path / "m.onnx", audio, atol=1e-6, rtol=0.0)


def test_targets_are_valid_and_resolve():
    targets = load_targets()
    for name in ("jetson-orin-nano", "jetson-orin-nx", "jetson-agx-orin", "rtx-3090", "rtx-4090", "h100", "cpu"):
        assert name in targets
    for t in targets.values():
        assert t.is_gpu == (t.precision == "fp16")
    assert get_target("jetson-orin").name == "jetson-orin-nano"
    assert get_target("cpu").backend == "onnxruntime"
    with pytest.raises(SpcError, match="unknown target 'tpu'; known targets: cpu, h100"):
        get_target("tpu")
    families = {}
    for t in targets.values():
        families.setdefault(t.family, []).append(t.family_default)
    assert all(flags.count(True) == 1 for flags in families.values())


def test_bad_target_files_are_refused():
    import tomllib

    from spc.targets import targets_dirs

    good = tomllib.loads((targets_dirs()[0] / "cpu.toml").read_text()) if targets_dirs()[0].is_dir() else None
    good = good or tomllib.loads((targets_dirs()[1] / "cpu.toml").read_text())
    bad = dict(good)
    del bad["power_mode"]
    with pytest.raises(SpcError, match="lacks power_mode"):
        parse_target(bad)
    with pytest.raises(SpcError, match="backend 'tpu'"):
        parse_target({**good, "backend": "tpu"})
    with pytest.raises(SpcError, match="min_batch <= opt_batch"):
        parse_target({**good, "profile": {**good["profile"], "opt_batch": 99, "max_batch": 8}})


def test_cpu_build_and_runtime_match_pytorch(tmp_path):
    model = build_model(tiny_configs()["data2vec-audio"], LABELS, seed=0)
    export_onnx(model, tmp_path / "m.onnx")
    report = build_artifact(tmp_path / "m.onnx", get_target("cpu"))
    assert report.artifact.endswith("m.cpu.ort.onnx")
    assert read_manifest(report.artifact)["source_sha256"] == read_manifest(tmp_path / "m.onnx")["sha256"]
    from spc.runtime import KeywordSpotter

    spotter = KeywordSpotter(report.artifact)
    audio = (0.1 * np.random.default_rng(1).standard_normal((5, 16000))).astype(np.float32)
    with torch.no_grad():
        ref = torch.softmax(model(torch.from_numpy(audio)), -1).numpy()
    np.testing.assert_allclose(spotter.probabilities(audio), ref, atol=1e-4)
    assert spotter.classify_batch(audio) == [LABELS[i] for i in ref.argmax(1)]
    assert spotter.classify(audio[0], top=2)[0][0] == LABELS[ref[0].argmax()]


def test_gpu_target_without_tensorrt_fails_at_once(tmp_path):
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    model = build_model(tiny_configs()["wav2vec2"], LABELS)
    export_onnx(model, tmp_path / "m.onnx")
    with pytest.raises(SpcError, match="TensorRT is not installed"):
        build_artifact(tmp_path / "m.onnx", get_target("jetson-orin"))
    assert not any(p.suffix == ".engine" for p in tmp_path.iterdir())


def test_engine_from_another_gpu_is_refused():
    from spc.engines.tensorrt_run import check_engine_compatible

    manifest = {"file": "m.engine", "gpu": "Orin (nvgpu)", "compute_capability": "8.7", "tensorrt": "10.3.0",
                "source_onnx": "m.onnx", "target": {"name": "jetson-orin-nano"}}
    check_engine_compatible(manifest, {"gpu": "Orin (nvgpu)", "compute_capability": "8.7"}, "10.3.0")
    with pytest.raises(SpcError, match="built on Orin .* this is NVIDIA H200.*rebuild it here with: spc build m.onnx "
                                       "--target jetson-orin-nano"):
        check_engine_compatible(manifest, {"gpu": "NVIDIA H200", "compute_capability": "9.0"}, "10.3.0")
    with pytest.raises(SpcError, match="TensorRT 10.3.0, this has 10.8.0"):
        check_engine_compatible(manifest, {"gpu": "Orin (nvgpu)", "compute_capability": "8.7"}, "10.8.0")


class _Beeper(torch.nn.Module):
    """'beep' when the middle half-second of the window is loud; '_silence_' otherwise."""

    def forward(self, audio):
        n = audio.shape[1]
        mid = audio[:, n // 4 : 3 * n // 4]
        rms = torch.sqrt((mid ** 2).mean(dim=1, keepdim=True))
        return torch.cat([torch.zeros_like(rms), 200.0 * (rms - 0.05)], dim=1)


def test_stream_detections_at_known_positions(tmp_path):
    path = tmp_path / "beeper.onnx"
    torch.onnx.export(_Beeper(), (torch.zeros(1, 16000),), str(path), input_names=["audio"], output_names=["logits"],
                      dynamic_axes={"audio": {0: "batch", 1: "samples"}}, opset_version=17, dynamo=False)
    write_manifest(path, {"kind": "onnx", "file": path.name, "input": "audio", "outputs": ["logits"],
                          "labels": ["_silence_", "beep"], "sampling_rate": 16000, "clip_seconds": 1.0})
    rate = 16000
    rec = 0.001 * np.random.default_rng(0).standard_normal(8 * rate).astype(np.float32)
    t = np.arange(int(0.3 * rate)) / rate
    for start in (2.0, 5.5):
        s = int(start * rate)
        rec[s : s + len(t)] += 0.3 * np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    from spc.runtime import KeywordSpotter

    spotter = KeywordSpotter(path)
    found = spotter.stream(rec, hop_seconds=0.05, smooth=2, threshold=0.9)
    assert [d.label for d in found] == ["beep", "beep"]
    for d, centre in zip(found, (2.15, 5.65)):
        assert abs(d.time_s - centre) <= 0.35
    assert spotter.stream(0.001 * np.ones(3 * rate, np.float32), threshold=0.9) == []


def test_runtime_does_not_import_torch():
    code = "import sys, spc.runtime; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_export_build_run(tmp_path):
    from click.testing import CliRunner

    from conftest import tone, write_wav
    from spc.cli import cli
    from spc.models import save_model

    save_model(build_model(tiny_configs()["wav2vec2"], LABELS, seed=0), tmp_path / "m")
    r = CliRunner().invoke(cli, ["export", str(tmp_path / "m"), "--out", str(tmp_path / "m.onnx")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["build", str(tmp_path / "m.onnx"), "--target", "cpu"])
    assert r.exit_code == 0, r.output
    wav = write_wav(tmp_path / "x.wav", tone(440, 1.0))
    r = CliRunner().invoke(cli, ["run", str(tmp_path / "m.cpu.ort.onnx"), str(wav), "--top", "2"])
    assert r.exit_code == 0 and "probability" in r.output
    r = CliRunner().invoke(cli, ["build", str(tmp_path / "m.onnx"), "--target", "tpu"])
    assert r.exit_code == 1 and "unknown target 'tpu'" in r.output
    r = CliRunner().invoke(cli, ["targets"])
    assert "jetson-orin-nano" in r.output
