"""Integration on real recordings (FSDD): a small model trained from scratch is well above chance."""

from __future__ import annotations

import pytest

from conftest import require_fsdd
from spc.recipes.evaluate import run_eval
from spc.recipes.finetune import run_finetune
from spc.train import TrainConfig


@pytest.mark.slow
def test_fsdd_from_scratch_well_above_chance(tmp_path):
    fsdd = require_fsdd()
    cfg = TrainConfig(epochs=4, batch_size=32, lr=1e-3, freeze_feature_encoder=False, augment=True, seed=0)
    summary = run_finetune("preset:wav2vec2-small", fsdd, tmp_path / "teacher", config=cfg, show_progress=False)
    assert summary["data"]["clips"] == {"train": 2400, "validation": 300, "test": 300}
    assert summary["test_accuracy"] > 0.5  # chance is 0.1
    again = run_eval(tmp_path / "teacher", fsdd, split="test", show_progress=False)
    assert again.accuracy == pytest.approx(summary["test_accuracy"])
