"""The CPU build fuses attention (and ONNX Runtime's LayerNorm / GELU fusions), gated on parity (issue 11.5)."""

from __future__ import annotations

import numpy as np
import pytest

from spc.engines import build_artifact
from spc.engines.ort_build import speechlike
from spc.engines.ort_run import ort_session
from spc.targets import get_target

LABELS = ["a", "b", "c"]


def export_tiny(tmp_path, family: str):
    """A tiny random model of ``family`` exported to ONNX."""
    from conftest import tiny_configs
    from spc.export import ExportConfig, export_onnx
    from spc.models import build_model

    model = build_model(tiny_configs()[family], LABELS, seed=0)
    path = tmp_path / f"{family.replace('/', '_')}.onnx"
    export_onnx(model, path, ExportConfig(batch_sizes=(1, 2), seconds=(1.0,)))
    return path


def logits(path, x: np.ndarray, level: str = "all") -> np.ndarray:
    return ort_session(path, level=level).run(None, {"audio": x})[0]


@pytest.mark.parametrize("family,attention", [("wav2vec2", "Attention"), ("whisper", "Attention"),
                                               ("hubert", "Attention"), ("wavlm", None)])
def test_cpu_build_fuses_and_matches_the_unfused_graph(tmp_path, family, attention):
    onnx_path = export_tiny(tmp_path, family)
    report = build_artifact(onnx_path, get_target("cpu"), tmp_path / "m.ort.onnx")
    fusion = report.manifest["fusion"]
    assert fusion["fallback"] is False and fusion["parity"]["passed"] and fusion["save_level"] == "extended"
    ops = fusion["ops_after"]
    if attention:  # q, k, v projections packed into one Attention node per layer; no Softmax left
        assert fusion["spc_attention"] == {attention: 4} and ops[attention] == 4 and "Softmax" not in ops
    else:  # WavLM's position bias is added before the softmax: left unfused
        assert fusion["spc_attention"] == {} and ops["Softmax"] == 4
    assert fusion["fused"].get("Gelu", 0) >= 4 and fusion["fused"].get("SkipLayerNormalization", 0) >= 1
    assert sum(ops.values()) < sum(fusion["ops_before"].values())
    x = speechlike(2, 16000, seed=3)
    np.testing.assert_allclose(logits(report.artifact, x), logits(onnx_path, x, "basic"), atol=1e-5, rtol=1e-4)


def test_a_fused_graph_that_disagrees_falls_back_to_the_unfused_one(tmp_path, monkeypatch):
    import onnx
    from onnx import numpy_helper

    from spc.engines import ort_fuse

    real = ort_fuse.fuse_attention

    def corrupting(model, packed: bool = True):
        fused = real(model, packed)
        for i, t in enumerate(model.graph.initializer):  # the planted disagreement: a scrambled q|k|v weight
            if t.name.endswith("qkv_weight"):
                w = numpy_helper.to_array(t)
                model.graph.initializer[i].CopyFrom(numpy_helper.from_array(w[::-1].copy() * 50.0, t.name))
        return fused

    monkeypatch.setattr(ort_fuse, "fuse_attention", corrupting)
    onnx_path = export_tiny(tmp_path, "wav2vec2")
    report = build_artifact(onnx_path, get_target("cpu"), tmp_path / "m.ort.onnx")
    fusion = report.manifest["fusion"]
    assert fusion["fallback"] is True and not fusion["parity"]["passed"]
    assert fusion["note"].startswith("the fused graph disagreed with the unfused export")
    assert fusion["spc_attention"] == {} and "Attention" not in fusion["ops_after"]
    x = speechlike(2, 16000, seed=3)
    np.testing.assert_allclose(logits(report.artifact, x), logits(onnx_path, x, "basic"), atol=1e-5, rtol=1e-4)
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []
    assert "Attention" not in {n.op_type for n in onnx.load(str(report.artifact)).graph.node}


def test_a_fusion_onnx_refuses_falls_back_with_the_cause_and_a_bug_is_raised(tmp_path, monkeypatch):
    import onnx.checker
    from click.testing import CliRunner

    from spc.cli import cli
    from spc.engines import ort_fuse

    def refused(model, packed: bool = True):
        raise onnx.checker.ValidationError("planted refusal")

    monkeypatch.setattr(ort_fuse, "fuse_attention", refused)
    onnx_path = export_tiny(tmp_path, "whisper")
    report = build_artifact(onnx_path, get_target("cpu"), tmp_path / "m.ort.onnx")
    fusion = report.manifest["fusion"]
    assert fusion["fallback"] is True and "ValidationError: planted refusal" in fusion["note"]
    r = CliRunner().invoke(cli, ["build", str(onnx_path), "--target", "cpu", "--out", str(tmp_path / "cli.ort.onnx")])
    assert r.exit_code == 0 and "note: the fused graph disagreed with the unfused export (ValidationError" in r.output

    def broken(model, packed: bool = True):  # a bug in the fusion itself: not hidden behind the fallback
        raise ValueError("planted bug")

    monkeypatch.setattr(ort_fuse, "fuse_attention", broken)
    with pytest.raises(ValueError, match="planted bug"):
        build_artifact(onnx_path, get_target("cpu"), tmp_path / "again.ort.onnx")
    assert not (tmp_path / "again.ort.onnx").exists()


def test_unpacked_attention_is_multi_head_attention(tmp_path):
    import onnx

    from spc.engines.ort_fuse import fuse_attention

    onnx_path = export_tiny(tmp_path, "wav2vec2")
    model = onnx.load(str(onnx_path))
    assert fuse_attention(model, packed=False) == {"MultiHeadAttention": 4}
    out = tmp_path / "mha.onnx"
    onnx.save(model, str(out))
    x = speechlike(1, 16000)
    np.testing.assert_allclose(logits(out, x), logits(onnx_path, x, "basic"), atol=1e-5, rtol=1e-4)


def test_speechlike_clips_are_bounded_and_deterministic():
    a, b = speechlike(3, 8000, seed=1), speechlike(3, 8000, seed=1)
    assert a.shape == (3, 8000) and a.dtype == np.float32 and np.array_equal(a, b)
    assert 0.2 < np.abs(a).max() <= 0.3 + 1e-6 and not np.array_equal(a[0], a[1])
