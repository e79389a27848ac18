"""Fine-tuning reaches high accuracy on separable data, resumes exactly, and eval counts by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import tiny_configs
from spc.data import load_clips, open_dataset
from spc.data.clips import ClipSet
from spc.errors import SpcError
from spc.evaluate import evaluate, score
from spc.models import build_model, load_model
from spc.recipes.evaluate import run_eval
from spc.recipes.finetune import run_finetune
from spc.train import TrainConfig, train_classifier

FAST = TrainConfig(epochs=10, batch_size=12, lr=3e-3, warmup_ratio=0.1, freeze_feature_encoder=False, augment=False)


def _config_file(tmp_path):
    path = tmp_path / "tiny.json"
    tiny_configs()["wav2vec2"].to_json_file(path)
    return path


def test_finetune_tiny_model_on_separable_data(tmp_path, tone_dataset):
    summary = run_finetune(str(_config_file(tmp_path)), tone_dataset, tmp_path / "out", config=FAST, show_progress=False)
    assert summary["val_accuracy"] >= 0.9
    assert summary["test_accuracy"] >= 0.9
    saved = json.loads((tmp_path / "out" / "finetune.json").read_text())
    assert saved["test_accuracy"] == summary["test_accuracy"] and len(saved["history"]) == 10
    # the best checkpoint is what eval sees, and its accuracy matches the summary
    result = run_eval(tmp_path / "out", tone_dataset, split="test", show_progress=False)
    assert result.accuracy == pytest.approx(summary["test_accuracy"])


def test_interrupted_run_resumes_to_the_same_result(tmp_path, tone_dataset):
    cfg = TrainConfig(epochs=4, batch_size=12, lr=3e-3, freeze_feature_encoder=False, augment=True, seed=3)
    ds = open_dataset(tone_dataset)
    train = load_clips(ds, "train", show_progress=False)
    val = load_clips(ds, "validation", show_progress=False)

    def fresh():
        return build_model(tiny_configs()["wav2vec2"], ds.labels, seed=5)

    full = fresh()
    train_classifier(full, train, val, cfg, tmp_path / "a" / "last.pt", lambda m, r: None, show_progress=False)

    class Stop(Exception):
        pass

    calls = {"n": 0}

    def stop_after_two(m, row):
        calls["n"] += 1

    half = fresh()
    # run 2 epochs of a 4-epoch schedule by killing the run after epoch 2's checkpoint
    original = torch.save

    def save_then_stop(obj, path, *a, **k):
        original(obj, path, *a, **k)
        if isinstance(obj, dict) and obj.get("epoch") == 1:
            raise Stop

    torch.save = save_then_stop
    try:
        with pytest.raises(Stop):
            train_classifier(half, train, val, cfg, tmp_path / "b" / "last.pt", stop_after_two, show_progress=False)
    finally:
        torch.save = original
    (tmp_path / "b" / "last.pt.tmp").rename(tmp_path / "b" / "last.pt")
    resumed = fresh()
    result = train_classifier(resumed, train, val, cfg, tmp_path / "b" / "last.pt", lambda m, r: None, show_progress=False)
    assert result.resumed_from == 2
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)


def test_resume_refuses_another_runs_checkpoint(tmp_path, tone_dataset):
    run_finetune(str(_config_file(tmp_path)), tone_dataset, tmp_path / "out",
                 config=TrainConfig(epochs=1, batch_size=12, freeze_feature_encoder=False), show_progress=False)
    with pytest.raises(SpcError, match="holds another run"):
        run_finetune(str(_config_file(tmp_path)), tone_dataset, tmp_path / "out",
                     config=TrainConfig(epochs=2, batch_size=12, lr=5e-4, freeze_feature_encoder=False), show_progress=False)


def test_output_folder_with_other_content_is_refused(tmp_path, tone_dataset):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(SpcError, match="not empty and holds no spc run"):
        run_finetune(str(_config_file(tmp_path)), tone_dataset, tmp_path / "busy", config=FAST, show_progress=False)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_score_against_a_hand_count():
    logits = np.array([[2, 0, 0], [0, 3, 0], [0, 0, 1], [5, 0, 0], [0, 1, 0], [0, 2, 0]], dtype=np.float32)
    targets = np.array([0, 1, 2, 1, 1, 2])
    r = score(logits, targets, ["a", "b", "c"])
    # predictions: a b c a b b -> correct: 1,1,1,0,1,0 -> 4/6
    assert r.accuracy == pytest.approx(4 / 6)
    assert r.confusion == [[1, 0, 0], [1, 2, 0], [0, 1, 1]]
    assert r.per_class["b"] == {"n": 3, "correct": 2, "accuracy": pytest.approx(2 / 3)}
    assert r.per_class["c"]["accuracy"] == pytest.approx(0.5)


def test_evaluate_batches_give_the_same_result():
    model = build_model(tiny_configs()["hubert"], ["a", "b"], seed=0)
    rng = np.random.default_rng(0)
    clips = ClipSet((0.1 * rng.standard_normal((7, 16000))).astype(np.float32), np.array([0, 1, 0, 1, 1, 0, 1]),
                    ["a", "b"], [f"{i}" for i in range(7)])
    from spc.evaluate import torch_predictor

    a = evaluate(torch_predictor(model), clips, batch_size=2)
    b = evaluate(torch_predictor(model), clips, batch_size=7)
    assert a.confusion == b.confusion and a.n_clips == 7


def test_eval_refuses_mismatched_labels(tmp_path, tone_dataset):
    from spc.models import save_model

    save_model(build_model(tiny_configs()["wav2vec2"], ["x", "y", "z"]), tmp_path / "m")
    with pytest.raises(SpcError, match="classes the model does not know"):
        run_eval(tmp_path / "m", tone_dataset, show_progress=False)
    assert load_model(tmp_path / "m").labels == ["x", "y", "z"]
