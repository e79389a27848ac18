"""The one training loop: fine-tuning reaches high accuracy, resumes exactly, trains only what it is told,
stops early, runs data-parallel under torchrun; and eval counts by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny_configs
from spc.data import DataConfig, load_clips, open_dataset
from spc.data.clips import ClipSet
from spc.errors import SpcError
from spc.accuracy import evaluate, score, torch_predictor
from spc.training.finetuning import FinetuneConfig, finetune
from spc.models import build_model, load_model
from spc.recipes.evaluate import run_eval
from spc.recipes.finetune import run_finetune
from spc.training.loop import TrainConfig

FAST = FinetuneConfig(train=TrainConfig(epochs=10, batch_size=12, lr=3e-3, warmup_ratio=0.1),
                      freeze_feature_encoder=False, augment=False)


def _config_file(tmp_path):
    path = tmp_path / "tiny.json"
    tiny_configs()["wav2vec2"].to_json_file(path)
    return path


def _clips(root):
    ds = open_dataset(root)
    return ds, load_clips(ds, "train", show_progress=False), load_clips(ds, "validation", show_progress=False)


def test_finetune_tiny_model_on_separable_data(tmp_path, tone_dataset):
    summary = run_finetune(str(_config_file(tmp_path)), DataConfig(tone_dataset), tmp_path / "out", config=FAST,
                           show_progress=False)
    assert summary["val_accuracy"] >= 0.9
    assert summary["test_accuracy"] >= 0.9
    saved = json.loads((tmp_path / "out" / "finetune.json").read_text())
    assert saved["test_accuracy"] == summary["test_accuracy"] and len(saved["history"]) == 10
    assert saved["finished"] and not (tmp_path / "out" / ".spc-train").exists()  # no leftovers once finished
    # the saved model is the best epoch's, and what eval sees
    result = run_eval(tmp_path / "out", tone_dataset, show_progress=False)
    assert result.accuracy == pytest.approx(summary["test_accuracy"])


def test_interrupted_run_resumes_to_the_same_result(tmp_path, tone_dataset):
    cfg = FinetuneConfig(train=TrainConfig(epochs=4, batch_size=12, lr=3e-3, seed=3), freeze_feature_encoder=False)
    ds, train, val = _clips(tone_dataset)

    def fresh():
        return build_model(tiny_configs()["wav2vec2"], ds.labels, seed=5)

    full = fresh()
    finetune(full, train, val, cfg, tmp_path / "a" / "last.pt", show_progress=False)

    class Stop(Exception):
        pass

    half = fresh()
    original = torch.save

    def save_then_stop(obj, path, *a, **k):  # kill the run right after epoch 2's checkpoint is in place
        original(obj, path, *a, **k)
        if isinstance(obj, dict) and obj.get("epoch") == 1:
            import shutil

            shutil.copy(path, str(path)[: -len(".tmp")])
            raise Stop

    torch.save = save_then_stop
    try:
        with pytest.raises(Stop):
            finetune(half, train, val, cfg, tmp_path / "b" / "last.pt", show_progress=False)
    finally:
        torch.save = original
    assert not (tmp_path / "b" / "last.pt.tmp").exists()  # the interrupted write left no temporary file
    resumed = fresh()
    result = finetune(resumed, train, val, cfg, tmp_path / "b" / "last.pt", show_progress=False)
    assert result.resumed_from == 2
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)


def test_an_unfinished_output_is_not_a_model_and_a_finished_one_is_kept(tmp_path, tone_dataset, monkeypatch):
    import spc.recipes.finetune as recipe

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(recipe, "save_model", boom)
    with pytest.raises(KeyboardInterrupt):
        run_finetune(str(_config_file(tmp_path)), DataConfig(tone_dataset), tmp_path / "out",
                     config=FinetuneConfig(train=TrainConfig(epochs=1, batch_size=12)), show_progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".spc-train"]  # nothing loadable
    with pytest.raises(SpcError, match="holds an unfinished fine-tuning run"):
        load_model(tmp_path / "out")
    monkeypatch.undo()
    run_finetune(str(_config_file(tmp_path)), DataConfig(tone_dataset), tmp_path / "out",
                 config=FinetuneConfig(train=TrainConfig(epochs=1, batch_size=12)), show_progress=False)
    with pytest.raises(SpcError, match="holds a finished run with other settings"):
        run_finetune(str(_config_file(tmp_path)), DataConfig(tone_dataset), tmp_path / "out",
                     config=FinetuneConfig(train=TrainConfig(epochs=2, batch_size=12, lr=5e-4)), show_progress=False)


def test_output_folder_with_other_content_is_refused(tmp_path, tone_dataset):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(SpcError, match="not empty and holds no spc run"):
        run_finetune(str(_config_file(tmp_path)), DataConfig(tone_dataset), tmp_path / "busy", config=FAST,
                     show_progress=False)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("variant", ["wav2vec2", "wav2vec2/weighted"])
def test_training_the_top_layers_changes_nothing_else_and_matches_its_cached_features(tmp_path, tone_dataset, variant):
    ds, train, val = _clips(tone_dataset)
    model = build_model(tiny_configs()[variant], ds.labels, seed=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = FinetuneConfig(train=TrainConfig(epochs=3, batch_size=12, lr=3e-3), train_layers=1)
    result = finetune(model, train, val, cfg, tmp_path / "c.pt", show_progress=False)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith(("hf.classifier", "hf.projector", "hf.layer_weights")) or ".layers.3." in k
                           for k in changed), changed
    assert any(".layers.3." in k for k in changed)
    # the validation accuracy the loop measured on cached features is the model's own on the audio
    assert evaluate(torch_predictor(model), val).accuracy == pytest.approx(result.best["val_accuracy"])


def test_head_only_training_leaves_the_encoder_bit_identical(tmp_path, tone_dataset):
    ds, train, val = _clips(tone_dataset)
    model = build_model(tiny_configs()["whisper"], ds.labels, seed=1)
    encoder = {k: v.clone() for k, v in model.hf.encoder.state_dict().items()}
    finetune(model, train, val, FinetuneConfig(train=TrainConfig(epochs=2, batch_size=12, lr=1e-2), train_layers=0),
             tmp_path / "h.pt", show_progress=False)
    assert all(torch.equal(v, encoder[k]) for k, v in model.hf.encoder.state_dict().items())


def test_early_stopping_stops_after_patience_epochs_without_progress(tmp_path, tone_dataset):
    ds, train, val = _clips(tone_dataset)
    model = build_model(tiny_configs()["wav2vec2"], ds.labels, seed=1)
    # a learning rate too small to move anything: the validation score never improves after epoch 1
    cfg = FinetuneConfig(train=TrainConfig(epochs=20, batch_size=12, lr=1e-12, patience=2, schedule="constant"),
                         train_layers=0)
    result = finetune(model, train, val, cfg, tmp_path / "e.pt", show_progress=False)
    assert result.stopped_early and len(result.history) == 3


def test_configs_refuse_bad_values_without_naming_flags():
    for bad in (dict(epochs=0), dict(batch_size=0), dict(lr=0.0), dict(schedule="cosine"), dict(patience=-1)):
        with pytest.raises(SpcError) as err:
            TrainConfig(**bad)
        assert "--" not in str(err.value)
    with pytest.raises(SpcError, match=">= 0"):
        FinetuneConfig(train_layers=-1)


DDP_JOB = """
import sys, torch
sys.path.insert(0, {tests!r})
from conftest import tiny_configs
from spc.data import open_dataset, load_clips
from spc.training.finetuning import FinetuneConfig, finetune
from spc.models import build_model
from spc.training.loop import TrainConfig, is_main_process
torch.set_num_threads(1)
ds = open_dataset({data!r})
train, val = (load_clips(ds, s, show_progress=False) for s in ("train", "validation"))
config = tiny_configs()["wav2vec2"]
config.hidden_dropout = config.attention_dropout = config.activation_dropout = config.feat_proj_dropout = 0.0
config.final_dropout = config.layerdrop = config.mask_time_prob = 0.0
model = build_model(config, ds.labels, seed=2)
cfg = FinetuneConfig(train=TrainConfig(epochs=2, batch_size=12, lr=3e-3, device="cpu"), freeze_feature_encoder=False)
finetune(model, train, val, cfg, __import__("pathlib").Path({out!r}) / "ckpt.pt", show_progress=False)
if is_main_process():
    torch.save(model.state_dict(), {out!r} + "/final.pt")
"""


def test_two_process_torchrun_matches_one_process_on_the_same_global_batch(tmp_path, tone_dataset):
    tests = str(Path(__file__).resolve().parents[1])
    results = {}
    for procs in (1, 2):
        out = tmp_path / f"p{procs}"
        out.mkdir()
        script = tmp_path / f"job{procs}.py"
        script.write_text(DDP_JOB.format(tests=tests, data=str(tone_dataset), out=str(out)))
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                              f"--nproc_per_node={procs}", str(script)], capture_output=True, text=True, env=env,
                             timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        results[procs] = torch.load(out / "final.pt")
    for k, a in results[1].items():
        torch.testing.assert_close(results[2][k], a, rtol=1e-4, atol=1e-5, msg=k)


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
    from spc.accuracy import torch_predictor

    a = evaluate(torch_predictor(model), clips, batch_size=2)
    b = evaluate(torch_predictor(model), clips, batch_size=7)
    assert a.confusion == b.confusion and a.n_clips == 7


def test_eval_refuses_mismatched_labels(tmp_path, tone_dataset):
    from spc.models import save_model

    save_model(build_model(tiny_configs()["wav2vec2"], ["x", "y", "z"]), tmp_path / "m")
    with pytest.raises(SpcError, match="classes the model does not know"):
        run_eval(tmp_path / "m", tone_dataset, show_progress=False)
    assert load_model(tmp_path / "m").labels == ["x", "y", "z"]
