"""Integration on real recordings (FSDD) and real pre-trained weights (Whisper tiny.en's encoder).

From scratch, a small model is well above chance. From the pre-trained encoder, a head-only
teacher is fine-tuned in seconds, pruning with healing removes at least half of its layers at 95%
test retention, and the default one-block mimic keeps at least 95% (issue 11's claims, at reduced
epochs). Marked slow: `.ci/run` runs them after the default suite.
"""

from __future__ import annotations


import pytest

from conftest import require_fsdd, require_whisper
from spc.data import DataConfig
from spc.training.finetuning import FinetuneConfig
from spc.recipes.evaluate import run_eval
from spc.recipes.finetune import run_finetune
from spc.training.loop import TrainConfig



@pytest.mark.slow
def test_fsdd_from_scratch_well_above_chance(tmp_path):
    fsdd = require_fsdd()
    cfg = FinetuneConfig(train=TrainConfig(epochs=4, batch_size=32, lr=1e-3, seed=0), freeze_feature_encoder=False)
    summary = run_finetune("preset:wav2vec2-small", DataConfig(fsdd), tmp_path / "teacher", config=cfg,
                           show_progress=False)
    assert summary["data"]["clips"] == {"train": 2400, "validation": 300, "test": 300}
    # chance is 0.1; 4 epochs from scratch on 2 CPU cores is short and fragile for this small model (measured
    # here: 45.7% with this loop's default clipping at 1.0, 36.3% with clipping at 5.0): the claim is "well above"
    assert summary["test_accuracy"] > 0.3
    again = run_eval(tmp_path / "teacher", fsdd, show_progress=False)
    assert again.accuracy == pytest.approx(summary["test_accuracy"])


@pytest.fixture(scope="module")
def whisper_teacher(tmp_path_factory):
    """The head-only teacher on the frozen pre-trained encoder (features cached: seconds per epoch)."""
    fsdd, whisper = require_fsdd(), require_whisper()
    out = tmp_path_factory.mktemp("whisper") / "teacher"
    cfg = FinetuneConfig(train=TrainConfig(epochs=12, batch_size=64, lr=1e-3, patience=4), train_layers=0)
    summary = run_finetune(str(whisper), DataConfig(fsdd), out, config=cfg, show_progress=False)
    return out, summary


@pytest.mark.slow
def test_head_only_teacher_on_the_pretrained_encoder(whisper_teacher):
    _, summary = whisper_teacher
    assert summary["test_accuracy"] >= 0.95  # the untrained head is at chance (10%)


@pytest.mark.slow
def test_healed_pruning_removes_half_of_a_pretrained_stack(whisper_teacher, tmp_path):
    from spc.prune import HealConfig, PruneConfig
    from spc.recipes.prune_layers import run_prune

    teacher, _ = whisper_teacher
    cfg = PruneConfig(orders=("backward",), heal=HealConfig("head"))
    s = run_prune(teacher, DataConfig(require_fsdd()), tmp_path / "p", config=cfg, latency_runs=0, show_progress=False)
    back = next(r for r in s["orders"] if r["name"] == "backward")
    assert back["val_curve"][1] < s["target_val_accuracy"]  # without healing, not even one layer goes
    assert len(s["removed_layers"]) >= 2
    assert s["pruned_test_accuracy"] >= 0.95 * s["original"]["test_accuracy"]


@pytest.mark.slow
def test_the_default_mimic_keeps_95_percent_of_a_pretrained_teacher(whisper_teacher, tmp_path):
    from spc.distill import DistillConfig, MimicConfig
    from spc.recipes.distill_student import run_distill

    teacher, _ = whisper_teacher
    short = DistillConfig(stage1=TrainConfig(epochs=6, batch_size=64, lr=1e-3, weight_decay=0.0, warmup_ratio=0.0,
                                             schedule="constant"),
                          stage2=TrainConfig(epochs=3, batch_size=64, lr=3e-4, weight_decay=0.0, warmup_ratio=0.0))
    s = run_distill(teacher, DataConfig(require_fsdd()), tmp_path / "m", mimic=MimicConfig(), config=short,
                    latency_runs=0, show_progress=False)
    assert s["retention_test"] >= 0.95
    assert s["params"]["student"]["stack_layers"] * 4 == s["params"]["teacher"]["stack_layers"]  # one of four layers
