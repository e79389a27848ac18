"""Mimic students: shapes and parameter counts per design, stage 1 learns, resume is exact, reload is exact."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import tiny_configs
from spc.data.clips import ClipSet
from spc.distill import DistillConfig, MimicConfig, build_student, distill
from spc.errors import SpcError
from spc.models import build_model, load_model, save_model
from spc.params import count_parameters

LABELS = ["a", "b", "c"]


def _clips(n, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000
    audio = np.stack([np.sin(2 * np.pi * (300 + 900 * (i % 3)) * t) * 0.3 + 0.05 * rng.standard_normal(16000)
                      for i in range(n)]).astype(np.float32)
    return ClipSet(audio, np.arange(n) % 3, LABELS, [str(i) for i in range(n)])


def _expected_mimic_params(cfg: MimicConfig, d: int) -> int:
    if cfg.kind == "linear":
        per = d * cfg.hidden + cfg.hidden + 2 * cfg.hidden + cfg.hidden * d + d
        return cfg.n_layers * per
    w = cfg.width or d
    per = 4 * w * w + 4 * w + 2 * w * cfg.ffn + cfg.ffn + w + 4 * w  # attention, FFN, two LayerNorms
    proj = 0 if w == d else 2 * d * w + w + d
    return cfg.n_layers * per + proj


DESIGNS = [MimicConfig("linear", 1, hidden=8), MimicConfig("linear", 2, hidden=8),
           MimicConfig("transformer", 1, heads=2, ffn=48), MimicConfig("transformer", 2, heads=2, ffn=48),
           MimicConfig("transformer", 1, heads=2, ffn=24, width=16)]


@pytest.mark.parametrize("cfg", DESIGNS, ids=lambda c: f"{c.kind}{c.n_layers}-w{c.width}")
@pytest.mark.parametrize("family", ["wav2vec2", "wavlm/weighted", "whisper", "wav2vec2/stable"])
def test_student_shapes_and_parameter_counts(cfg, family):
    teacher = build_model(tiny_configs()[family], LABELS, seed=0)
    student = build_student(teacher, cfg)
    audio = torch.randn(2, 16000) * 0.1
    with torch.no_grad():
        hs = student.hidden_states(audio)
        logits = student(audio)
    assert logits.shape == (2, 3)
    assert hs[0].shape == hs[-1].shape == teacher.hidden_states(audio)[0].shape
    tc, sc = count_parameters(teacher), count_parameters(student)
    d = teacher.hf.config.hidden_size
    assert sc.stack_layers == _expected_mimic_params(cfg, d)
    assert sc.feature_encoder == tc.feature_encoder
    assert sc.feature_encoder + sc.stack + sc.head + sc.other == sc.total
    # what is left of the teacher's stack in the student: the final LayerNorm of pre-LN models only
    final_norm = 2 * d if teacher.adapter.stable_layer_norm(teacher.hf) else 0
    assert sc.stack - sc.stack_layers == final_norm
    assert sc.head == tc.head - (tc.head - sum(p.numel() for m in (teacher.hf.projector, teacher.hf.classifier)
                                                for p in m.parameters()))
    # the mimic's input is the teacher's CNN + projection output (before the positional convolution)
    with torch.no_grad():
        base = teacher.adapter
        torch.testing.assert_close(hs[0], base.student_front(teacher.hf, teacher.preprocessor(audio)))


def test_base_size_reduction_of_each_design():
    """Whole-model reduction at base size (94.57 M): linear designs pass 93%; teacher-width transformers cannot."""
    teacher = load_model("preset:wav2vec2-base", labels=[str(i) for i in range(12)])
    total = count_parameters(teacher).total
    reductions = {}
    for cfg in (MimicConfig("linear", 1), MimicConfig("linear", 2), MimicConfig("transformer", 1, heads=12, ffn=3072),
                MimicConfig("transformer", 1, heads=4, ffn=512, width=256),
                MimicConfig("transformer", 2, heads=4, ffn=512, width=256)):
        reductions[(cfg.kind, cfg.n_layers, cfg.width)] = 1 - count_parameters(build_student(teacher, cfg)).total / total
    assert reductions[("linear", 1, None)] >= 0.93 and reductions[("linear", 2, None)] >= 0.93
    assert reductions[("transformer", 1, 256)] >= 0.93 and reductions[("transformer", 2, 256)] >= 0.93
    assert reductions[("transformer", 1, None)] < 0.93  # 768-wide attention alone is 2.36 M


def _teacher():
    return build_model(tiny_configs()["wav2vec2"], LABELS, seed=0)


FAST = DistillConfig(stage1_epochs=6, stage2_epochs=3, lr=3e-3, batch_size=8, device="cpu")


def test_stage_one_drives_the_mse_down(tmp_path):
    teacher = _teacher()
    student = build_student(teacher, MimicConfig("linear", 1, hidden=16))
    res = distill(student, teacher, _clips(32, 0), _clips(12, 1), FAST, tmp_path / "w", lambda m, r: None, False)
    mse = [r["val_mse"] for r in res.history if r["stage"] == "mimic"]
    assert mse[-1] < 0.5 * mse[0]
    assert [r["stage"] for r in res.history] == ["mimic"] * 6 + ["labels"] * 3


def test_resumed_run_equals_uninterrupted(tmp_path, monkeypatch):
    teacher = _teacher()
    cfg = MimicConfig("transformer", 1, heads=2, ffn=32, dropout=0.1)
    full = build_student(teacher, cfg, seed=4)
    distill(full, teacher, _clips(24, 0), _clips(9, 1), FAST, tmp_path / "a", lambda m, r: None, False)

    class Killed(Exception):
        pass

    original = torch.save

    def save_then_kill(obj, path, *a, **k):
        original(obj, path, *a, **k)
        if isinstance(obj, dict) and obj.get("stage") == "labels" and obj.get("epoch") == 0:
            raise Killed

    half = build_student(teacher, cfg, seed=4)
    monkeypatch.setattr(torch, "save", save_then_kill)
    with pytest.raises(Killed):
        distill(half, teacher, _clips(24, 0), _clips(9, 1), FAST, tmp_path / "b", lambda m, r: None, False)
    monkeypatch.setattr(torch, "save", original)
    (tmp_path / "b" / "distill_last.pt.tmp").rename(tmp_path / "b" / "distill_last.pt")
    resumed = build_student(teacher, cfg, seed=99)  # different init: everything must come from the checkpoint
    res = distill(resumed, teacher, _clips(24, 0), _clips(9, 1), FAST, tmp_path / "b", lambda m, r: None, False)
    assert res.resumed_from == {"stage": "labels", "epoch": 0}
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)


def test_saved_student_reloads_to_identical_outputs(tmp_path):
    teacher = build_model(tiny_configs()["wavlm"], LABELS, seed=0)
    for cfg in DESIGNS:
        student = build_student(teacher, cfg, seed=1)
        save_model(student, tmp_path / "s")
        again = load_model(tmp_path / "s")
        assert type(again).__name__ == "MimicStudent" and again.meta.mimic["kind"] == cfg.kind
        audio = torch.randn(2, 16000) * 0.1
        with torch.no_grad():
            torch.testing.assert_close(again(audio), student.eval()(audio))


def test_bad_designs_are_user_errors():
    teacher = _teacher()
    with pytest.raises(SpcError, match="1 or 2 layers"):
        build_student(teacher, MimicConfig("linear", 3))
    with pytest.raises(SpcError, match="unknown mimic kind"):
        build_student(teacher, MimicConfig("conv", 1))
    with pytest.raises(SpcError, match="not divisible by 5 heads"):
        build_student(teacher, MimicConfig("transformer", 1, heads=5))


def test_run_distill_writes_student_and_report(tmp_path, tone_dataset):
    from spc.recipes.distill import run_distill

    teacher = build_model(tiny_configs()["wav2vec2"], ["high", "low", "mid"], seed=0)
    save_model(teacher, tmp_path / "t")
    summary = run_distill(tmp_path / "t", tone_dataset, tmp_path / "s", mimic=MimicConfig("linear", 1, hidden=8),
                          config=DistillConfig(stage1_epochs=2, stage2_epochs=2, batch_size=16, device="cpu"),
                          latency_runs=2, show_progress=False)
    saved = json.loads((tmp_path / "s" / "distill.json").read_text())
    assert saved["student_test_accuracy"] == summary["student_test_accuracy"]
    assert saved["params"]["student"]["total"] < saved["params"]["teacher"]["total"]
    assert saved["latency_ms"]["student"]["runs"] == 2
    student = load_model(tmp_path / "s")
    assert student.meta.provenance["teacher"] == str(tmp_path / "t")
