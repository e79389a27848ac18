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
from spc.training.loop import TrainConfig

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
    per = 4 * w * w + 4 * w + 2 * w * cfg.ffn_size + cfg.ffn_size + w + 4 * w  # attention, FFN, two LayerNorms
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
        torch.testing.assert_close(hs[0], base.student_front(teacher.hf, teacher.front.preprocessor(audio)))


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


FAST = DistillConfig(stage1=TrainConfig(epochs=6, batch_size=8, lr=3e-3, weight_decay=0.0, schedule="constant", device="cpu"),
                     stage2=TrainConfig(epochs=3, batch_size=8, lr=3e-3, weight_decay=0.0, device="cpu"))


def test_stage_one_drives_the_mse_down(tmp_path):
    teacher = _teacher()
    student = build_student(teacher, MimicConfig("linear", 1, hidden=16))
    res = distill(student, teacher, _clips(32, 0), _clips(12, 1), FAST, tmp_path / "w", show_progress=False)
    mse = [r["val_mse"] for r in res.history if r["stage"] == "mimic"]
    assert mse[-1] < 0.5 * mse[0]
    assert [r["stage"] for r in res.history] == ["mimic"] * 6 + ["labels"] * 3


def test_resumed_run_equals_uninterrupted(tmp_path, monkeypatch):
    teacher = _teacher()
    cfg = MimicConfig("transformer", 1, heads=2, ffn=32, dropout=0.1)
    full = build_student(teacher, cfg, seed=4)
    distill(full, teacher, _clips(24, 0), _clips(9, 1), FAST, tmp_path / "a", show_progress=False)

    class Killed(Exception):
        pass

    original = torch.save

    def save_then_kill(obj, path, *a, **k):  # killed right after epoch 0's checkpoint is in place
        original(obj, path, *a, **k)
        if str(path).endswith("stage2.pt.tmp") and obj.get("epoch") == 0:
            import shutil

            shutil.copy(path, str(path)[: -len(".tmp")])
            raise Killed

    half = build_student(teacher, cfg, seed=4)
    monkeypatch.setattr(torch, "save", save_then_kill)
    with pytest.raises(Killed):
        distill(half, teacher, _clips(24, 0), _clips(9, 1), FAST, tmp_path / "b", show_progress=False)
    monkeypatch.setattr(torch, "save", original)
    assert not (tmp_path / "b" / "stage2.pt.tmp").exists()  # the interrupted write left no temporary file
    resumed = build_student(teacher, cfg, seed=99)  # different init: everything must come from the checkpoints
    res = distill(resumed, teacher, _clips(24, 0), _clips(9, 1), FAST, tmp_path / "b", show_progress=False)
    assert res.stage2.resumed_from == 1 and res.stage1.resumed_from is None
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)


def test_saved_student_reloads_to_identical_outputs(tmp_path):
    teacher = build_model(tiny_configs()["wavlm"], LABELS, seed=0)
    for cfg in DESIGNS:
        student = build_student(teacher, cfg, seed=1)
        save_model(student, tmp_path / "s")
        again = load_model(tmp_path / "s")
        assert again.stack.kind == "mimic" and again.meta.stack["config"]["kind"] == cfg.kind
        audio = torch.randn(2, 16000) * 0.1
        with torch.no_grad():
            torch.testing.assert_close(again(audio), student.eval()(audio))


def test_bad_designs_are_user_errors():
    teacher = _teacher()
    with pytest.raises(SpcError, match="1 or 2 layers"):
        MimicConfig("linear", 3)
    with pytest.raises(SpcError, match="unknown mimic kind"):
        MimicConfig("conv", 1)
    with pytest.raises(SpcError, match="one teacher layer"):
        MimicConfig("layer", 2)
    with pytest.raises(SpcError, match="no layer 7"):
        build_student(teacher, MimicConfig("layer", init_layer=7))
    with pytest.raises(SpcError, match="not divisible by 5 heads"):
        build_student(teacher, MimicConfig("transformer", 1, heads=5))


def test_run_distill_writes_student_and_report(tmp_path, tone_dataset):
    from spc.recipes.distill_student import run_distill

    teacher = build_model(tiny_configs()["wav2vec2"], ["high", "low", "mid"], seed=0)
    save_model(teacher, tmp_path / "t")
    from spc.data import DataConfig

    summary = run_distill(tmp_path / "t", DataConfig(tone_dataset), tmp_path / "s", mimic=MimicConfig("linear", 1, hidden=8),
                          config=DistillConfig(stage1=TrainConfig(epochs=2, batch_size=16), stage2=TrainConfig(epochs=2, batch_size=16)),
                          latency_runs=2, show_progress=False)
    saved = json.loads((tmp_path / "s" / "distill.json").read_text())
    assert saved["student_test_accuracy"] == summary["student_test_accuracy"]
    assert saved["params"]["student"]["total"] < saved["params"]["teacher"]["total"]
    assert saved["latency_ms"]["student"]["runs"] == 2
    student = load_model(tmp_path / "s")
    assert student.meta.provenance["teacher"] == str(tmp_path / "t")


@pytest.mark.parametrize("family", ["wav2vec2", "whisper", "wavlm/weighted"])
def test_a_layer_mimic_is_the_teacher_with_one_of_its_layers(tmp_path, family):
    teacher = build_model(tiny_configs()[family], LABELS, seed=0)
    student = build_student(teacher, MimicConfig("layer", init_layer=2))
    assert student.stack.kind == "transformer" and student.num_layers == 1
    mine, theirs = student.layers[0].state_dict(), teacher.layers[2].state_dict()
    assert set(theirs) <= set(mine)  # WavLM's kept layer also receives the position-bias table of layer 0
    for name, b in theirs.items():
        assert torch.equal(mine[name], b), name
    audio = torch.randn(2, 16000) * 0.1
    with torch.no_grad():  # the same front, so the same stack input as the teacher's
        torch.testing.assert_close(student.hidden_states(audio)[0], teacher.hidden_states(audio)[0])
    save_model(student, tmp_path / "s")  # a plain transformers checkpoint with one layer
    again = load_model(tmp_path / "s")
    with torch.no_grad():
        torch.testing.assert_close(again(audio), student.eval()(audio))


def test_normalised_targets_weigh_every_channel_alike(tmp_path):
    """Stage 1's loss is the MSE on per-channel standardised targets: a channel scaled up 100x in the teacher
    does not dominate it (with raw targets it does)."""
    teacher = _teacher()
    with torch.no_grad():  # one channel of the last layer's output carries most of the energy
        teacher.layers[-1].final_layer_norm.weight[0] = 100.0
    one_epoch = dict(stage1=TrainConfig(epochs=1, batch_size=8, lr=1e-9, device="cpu"),
                     stage2=TrainConfig(epochs=1, batch_size=8, lr=1e-9, device="cpu"))
    losses = {}
    for norm in (True, False):
        student = build_student(teacher, MimicConfig("linear", 1, hidden=8), seed=0)
        res = distill(student, teacher, _clips(16, 0), _clips(8, 1), DistillConfig(normalize_targets=norm, **one_epoch),
                      tmp_path / str(norm), show_progress=False)
        losses[norm] = res.stage1.history[0]["val_mse"]
    assert losses[False] > 20 * losses[True]  # raw: dominated by the loud channel


def test_the_papers_recipe_is_available_as_written():
    paper = DistillConfig.paper()
    assert (paper.stage1.epochs, paper.stage2.epochs) == (50, 30)
    assert paper.stage1.lr == paper.stage2.lr == 1e-3 and paper.stage1.batch_size == 128
    assert not paper.normalize_targets and paper.soft_labels == 0 and not paper.unfreeze_mimic
    default = DistillConfig()
    assert default.normalize_targets and default.soft_labels > 0 and default.unfreeze_mimic
    assert MimicConfig().kind == "layer"
