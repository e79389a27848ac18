"""Layer surgery on every family, removal orders on a model with known BI, the fast evaluator, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import transformers

from conftest import tiny_configs, tone
from spc.data.clips import ClipSet
from spc.errors import SpcError
from spc.models import build_model, load_model, save_model
from spc.accuracy import evaluate, predict_logits, torch_predictor
from spc.prune import HealConfig, PruneConfig, prune, prune_model
from spc.prune.orders import order_backward, order_bi, order_forward, order_random
from spc.prune.evaluator import StackEvaluator

LABELS = ["a", "b", "c"]


def _clips(n=24, seed=0, labels=LABELS):
    rng = np.random.default_rng(seed)
    return ClipSet((0.1 * rng.standard_normal((n, 16000))).astype(np.float32), np.arange(n) % len(labels),
                   list(labels), [str(i) for i in range(n)])


def test_first_k_layers_equal_hidden_state_k(family_config):
    _, config = family_config
    model = build_model(config, LABELS, seed=0)
    audio = torch.randn(2, 16000) * 0.1
    with torch.no_grad():
        full = model.hidden_states(audio)
        for k in (1, 2, 3):
            pruned = prune_model(model, list(range(k)))
            assert pruned.num_layers == k and pruned.hf.config.num_hidden_layers == k
            torch.testing.assert_close(pruned.hidden_states(audio)[-1], full[k])


def test_the_stackless_floor_runs_and_exports_on_every_family(family_config, tmp_path):
    """The latency floor: front end and head with no layer at all; it runs and its ONNX export passes parity."""
    from spc.export import ExportConfig, export_onnx
    from spc.prune.surgery import stackless

    _, config = family_config
    model = build_model(config, LABELS, seed=0)
    floor = stackless(model)
    assert floor.num_layers == 0 and model.num_layers > 0  # the original is left as it is
    with torch.no_grad():
        assert floor(torch.randn(2, 16000) * 0.1).shape == (2, len(LABELS))
    report = export_onnx(floor, tmp_path / "floor.onnx", ExportConfig(simplify=False))
    assert report.parity["max_abs_diff"] <= 1e-3


def test_surgery_saves_a_checkpoint_transformers_loads(family_config, tmp_path):
    name, config = family_config
    model = build_model(config, LABELS, seed=1)
    keep = [1, 3]  # layer 0 goes: WavLM's position bias must survive
    pruned = prune_model(model, keep)
    save_model(pruned, tmp_path / "p")
    audio = torch.randn(2, 16000) * 0.1
    again = load_model(tmp_path / "p")
    hf = getattr(transformers, model.adapter.hf_class).from_pretrained(tmp_path / "p").eval()
    with torch.no_grad():
        ours = pruned(audio)
        torch.testing.assert_close(again(audio), ours)
        ref = hf(**{model.adapter.input_name: pruned.front.preprocessor(audio)}).logits
        torch.testing.assert_close(ref, ours, rtol=1e-5, atol=1e-5)
        # the fast evaluator scores the same candidate without surgery, to the same logits
        ev = StackEvaluator(model, _clips(4), batch_size=4)
        np.testing.assert_allclose(ev.logits(keep), pruned(torch.from_numpy(_clips(4).audio)).numpy(), atol=1e-5)
    assert again.meta.provenance["kept_layers"] == keep
    if config.use_weighted_layer_sum:
        w = model.hf.layer_weights.detach()
        torch.testing.assert_close(again.hf.layer_weights.detach(), w[[0, 2, 4]])


def test_surgery_refuses_removing_everything():
    model = build_model(tiny_configs()["wav2vec2"], LABELS)
    with pytest.raises(SpcError, match="cannot remove every layer"):
        prune_model(model, [])


def test_evaluator_prefix_cache_matches_recomputation():
    model = build_model(tiny_configs()["wavlm"], LABELS, seed=3)
    clips = _clips(10)
    cached = StackEvaluator(model, clips, batch_size=4, cache_mb=1024)
    plain = StackEvaluator(model, clips, batch_size=4, cache_mb=0)
    assert cached.prefix_cached and not plain.prefix_cached
    for keep in ([0, 1, 2, 3], [0, 1, 3], [0, 2], [2, 3], [1]):
        np.testing.assert_allclose(cached.logits(keep), plain.logits(keep), atol=1e-5)


def test_simple_orders():
    assert order_bi([0.5, 0.1, 0.3, 0.1]) == [1, 3, 2]
    assert order_backward(5) == [4, 3, 2, 1]
    assert order_forward(5) == [1, 2, 3, 4]
    r = order_random(6, seed=4)
    assert len(r) == 5 and len(set(r)) == 5 and r == order_random(6, seed=4)


def _known_bi_model():
    """A pre-LN model whose layers 1 and 3 are exact identities (BI = 0) and whose others are strong."""
    model = build_model(tiny_configs()["wav2vec2/stable"], LABELS, seed=0)
    with torch.no_grad():
        for i, layer in enumerate(model.layers):
            if i in (1, 3):
                for lin in (layer.attention.out_proj, layer.feed_forward.output_dense):
                    lin.weight.zero_()
                    lin.bias.zero_()
            else:
                layer.feed_forward.output_dense.weight.mul_(20.0 * (1 + i))
        model.hf.classifier.bias.zero_()
        model.hf.projector.weight.mul_(30.0)  # spread the logits so that predictions depend on the layers
    return model


def test_orders_on_a_model_with_known_block_influence():
    model = _known_bi_model()
    rng = np.random.default_rng(1)
    val = ClipSet(np.stack([tone(f, rng=rng) for f in np.linspace(200, 4000, 30)]), np.zeros(30, dtype=np.int64),
                  LABELS, [str(i) for i in range(30)])
    with torch.no_grad():  # the model's own predictions as labels: accuracy 1.0 until a real layer goes
        val.targets = model(torch.from_numpy(val.audio)).argmax(1).numpy()
    cfg = PruneConfig(retention=0.5, min_steps=1, calib_clips=30, batch_size=16, random_seeds=(0,), device="cpu",
                      heal=HealConfig("none"))
    _, result = prune(model, cfg, val, val, show_progress=False)
    assert result.bi[1] == pytest.approx(0.0, abs=1e-6) and result.bi[3] == pytest.approx(0.0, abs=1e-6)
    assert min(result.bi[0], result.bi[2]) > 0.01
    assert set(result.order("bi").removal[:2]) == {1, 3}
    assert result.order("bi").removal == order_bi(result.bi)
    assert set(result.order("bi-iterative").removal[:2]) == {1, 3}
    assert result.order("greedy").removal[:2] == [3, 1]  # no accuracy lost; ties take the later layer
    assert result.order("backward").removal == [3, 2, 1]
    assert result.order("forward").removal == [1, 2, 3]
    # removing identity layers does not change the validation accuracy at all
    for name in ("bi", "bi-iterative", "greedy"):
        curve = result.order(name).val_curve
        assert curve[0] == curve[1] == curve[2] == result.baseline_val_accuracy == 1.0
    assert result.order("random-s0").baseline and result.best != "random-s0"


def test_bad_settings_are_user_errors():
    model = build_model(tiny_configs()["wav2vec2"], LABELS)
    val = _clips(24)
    for retention in (0.0, 1.5, -0.1):
        with pytest.raises(SpcError, match=r"retention target must be in \(0, 1\]"):
            PruneConfig(retention=retention)
    with pytest.raises(SpcError, match="unknown pruning orders"):
        PruneConfig(orders=("bi", "sideways"))
    with pytest.raises(SpcError, match="unknown heal 'scrub'"):
        HealConfig("scrub")
    no_heal = HealConfig("none")
    with pytest.raises(SpcError, match="cannot remove 4 of 4 layers"):
        prune(model, PruneConfig(max_remove=4, min_steps=1, heal=no_heal), val, val, show_progress=False)
    one = build_model(transformers.Wav2Vec2Config(**{**tiny_configs()["wav2vec2"].to_dict(), "num_hidden_layers": 1}),
                      LABELS)
    with pytest.raises(SpcError, match="has 1 transformer layer; pruning needs at least 2"):
        prune(one, PruneConfig(heal=no_heal), val, val, show_progress=False)
    with pytest.raises(SpcError, match="has 24 clips; measuring a 95% retention target needs at least 200"):
        prune(model, PruneConfig(heal=no_heal), val, val, show_progress=False)
    with pytest.raises(SpcError, match="healing needs the training clips"):
        prune(model, PruneConfig(min_steps=1), val, val, show_progress=False)


def test_run_prune_end_to_end(tmp_path, tone_dataset):
    from spc.data import DataConfig
    from spc.training.finetuning import FinetuneConfig
    from spc.recipes.finetune import run_finetune
    from spc.recipes.prune_layers import run_prune
    from spc.training.loop import TrainConfig

    cfg = tmp_path / "tiny.json"
    tiny_configs()["wav2vec2"].to_json_file(cfg)
    data = DataConfig(tone_dataset)
    run_finetune(str(cfg), data, tmp_path / "teacher", show_progress=False,
                 config=FinetuneConfig(train=TrainConfig(epochs=8, batch_size=12, lr=3e-3), freeze_feature_encoder=False,
                                       augment=False))
    with pytest.raises(SpcError, match="validation split .* has 18 clips"):
        run_prune(tmp_path / "teacher", data, tmp_path / "p0", show_progress=False)
    assert not (tmp_path / "p0").exists()
    config = PruneConfig(retention=0.9, min_steps=1, random_seeds=(0, 1), batch_size=8, device="cpu",
                         heal=HealConfig("none"))
    summary = run_prune(tmp_path / "teacher", data, tmp_path / "p", config=config, latency_runs=2,
                        show_progress=False)
    saved = json.loads((tmp_path / "p" / "prune.json").read_text())
    assert saved["best"] == summary["best"] and (tmp_path / "p" / "curves.png").stat().st_size > 0
    best = next(r for r in saved["orders"] if r["name"] == saved["best"])
    assert saved["kept_layers"] == best["keep"]
    assert best["val_accuracy"] >= saved["target_val_accuracy"]
    # the saved checkpoint's test accuracy equals the fast evaluator's
    assert saved["pruned_test_accuracy"] == pytest.approx(best["test_accuracy"])
    pruned = load_model(tmp_path / "p" / "model")
    assert pruned.num_layers == len(saved["kept_layers"])
    assert {r["name"] for r in saved["orders"]} == {"bi", "bi-iterative", "backward", "forward", "greedy",
                                                     "random-s0", "random-s1"}
    assert all(r["latency_ratio"] > 0 for r in saved["orders"])


@pytest.mark.parametrize("method", ["head", "distill"])
def test_healing_recovers_what_cutting_a_layer_broke(tmp_path, tone_dataset, method):
    """A layer whose removal wrecks the head's input: healed, the pruned model is back above the target."""
    from spc.data import load_clips, open_dataset
    from spc.training.finetuning import FinetuneConfig, finetune
    from spc.prune.heal import HealConfig, heal
    from spc.training.loop import TrainConfig

    ds = open_dataset(tone_dataset)
    train, val = (load_clips(ds, s, show_progress=False) for s in ("train", "validation"))
    model = build_model(tiny_configs()["wav2vec2"], ds.labels, seed=0)
    finetune(model, train, val, FinetuneConfig(train=TrainConfig(epochs=6, batch_size=12, lr=3e-3), augment=False,
                                               freeze_feature_encoder=False), tmp_path / "t.pt", show_progress=False)
    with torch.no_grad():  # layer 3 now flips every feature's sign: a head trained on that reads garbage without it
        model.layers[3].final_layer_norm.weight.mul_(-1.0)
        model.layers[3].final_layer_norm.bias.mul_(-1.0)
    finetune(model, train, val, FinetuneConfig(train=TrainConfig(epochs=6, batch_size=12, lr=3e-3), train_layers=0),
             tmp_path / "t2.pt", show_progress=False)
    teacher_acc = evaluate(torch_predictor(model), val).accuracy
    pruned = prune_model(model, [0, 1, 2])
    unhealed = evaluate(torch_predictor(pruned), val).accuracy
    before = {k: v.clone() for k, v in pruned.state_dict().items()}
    fast = dict(batch_size=12, weight_decay=0.0, warmup_ratio=0.0)  # 72 clips: more steps than the defaults take
    cfg = HealConfig(method, head=TrainConfig(epochs=10, lr=1e-2, **fast), stage1=TrainConfig(epochs=15, lr=1e-2, **fast),
                     stage2=TrainConfig(epochs=10, lr=3e-3, **fast), stream_windows=0.0)  # the repair on clips alone
    healed = heal(pruned, model, train, val, cfg, tmp_path / method)
    assert healed.model is pruned and healed.seconds > 0
    assert evaluate(torch_predictor(pruned), val).accuracy == pytest.approx(healed.val_accuracy)
    assert healed.val_accuracy >= 0.95 * teacher_acc > unhealed
    changed = {k for k, v in pruned.state_dict().items() if not torch.equal(v, before[k])}
    if method == "head":  # only the head moves
        assert changed and all(k.startswith(("hf.projector", "hf.classifier")) for k in changed), changed
    else:  # the kept layers learn too
        assert any(".layers." in k for k in changed)


def test_mixed_loss_is_cross_entropy_on_labels_and_scaled_kl_on_teacher_labelled_rows():
    from spc.training.finetuning import mixed_loss

    rng = np.random.default_rng(0)
    logits, teacher = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    y = np.array([2, -1, 0, -1, -1, 3])
    t = 2.0

    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    want = []
    for row, label in enumerate(y):
        if label >= 0:
            want.append(-log_softmax(logits[row])[label])
        else:
            p = np.exp(log_softmax(teacher[row] / t))
            want.append(t * t * float((p * (np.log(p) - log_softmax(logits[row] / t))).sum()))
    got = mixed_loss(torch.tensor(logits), torch.tensor(y), torch.tensor(teacher), t)
    assert float(got) == pytest.approx(float(np.mean(want)), rel=1e-9)


def test_head_heal_on_stream_windows_answers_windows_as_the_unpruned_model_does(tmp_path, tone_dataset):
    """Healed on teacher-labelled windows, the pruned model's posteriors on fresh windows are closer (KL) to
    the unpruned model's than when it is healed on the aligned clips alone."""
    from spc.data import load_clips, open_dataset
    from spc.distill.windows import stream_windows
    from spc.prune.heal import HealConfig, heal, teacher_windows
    from spc.training.finetuning import FinetuneConfig, finetune
    from spc.training.loop import TrainConfig

    ds = open_dataset(tone_dataset)
    train, val = (load_clips(ds, s, show_progress=False) for s in ("train", "validation"))
    model = build_model(tiny_configs()["wav2vec2"], ds.labels, seed=0)
    finetune(model, train, val, FinetuneConfig(train=TrainConfig(epochs=6, batch_size=12, lr=3e-3), augment=False,
                                               freeze_feature_encoder=False), tmp_path / "t.pt", show_progress=False)
    fresh, _ = stream_windows(train.audio, train.targets, train.labels, 200, seed=99)

    def log_posteriors(m):
        z = torch.from_numpy(predict_logits(torch_predictor(m), fresh)).double()
        return torch.log_softmax(z, -1)

    want = log_posteriors(model)
    fast = dict(batch_size=12, weight_decay=0.0, warmup_ratio=0.0)
    kl = {}
    for n_windows in (0.0, 3.0):
        cfg = HealConfig("head", head=TrainConfig(epochs=10, lr=1e-2, **fast), stream_windows=n_windows)
        windows = teacher_windows(model, train, cfg, seed=1)
        assert (windows is None) == (n_windows == 0) and (windows is None or len(windows.audio) == 3 * len(train))
        pruned = prune_model(model, [0, 1])
        heal(pruned, model, train, val, cfg, tmp_path / f"w{n_windows}", windows=windows)
        kl[n_windows] = float((want.exp() * (want - log_posteriors(pruned))).sum(-1).mean())
    assert kl[3.0] < 0.7 * kl[0.0], kl


def test_search_with_healing_uses_the_healed_curve_and_saves_the_healed_model(tmp_path, tone_dataset):
    from spc.data import load_clips, open_dataset
    from spc.training.finetuning import FinetuneConfig, finetune
    from spc.training.loop import TrainConfig

    ds = open_dataset(tone_dataset)
    train, val, test = (load_clips(ds, s, show_progress=False) for s in ("train", "validation", "test"))
    model = build_model(tiny_configs()["wav2vec2"], ds.labels, seed=0)
    finetune(model, train, val, FinetuneConfig(train=TrainConfig(epochs=6, batch_size=12, lr=3e-3), augment=False,
                                               freeze_feature_encoder=False), tmp_path / "t.pt", show_progress=False)
    cfg = PruneConfig(orders=("backward", "random"), random_seeds=(0,), retention=0.9, min_steps=1, device="cpu",
                      heal=HealConfig("head", head=TrainConfig(epochs=3, batch_size=12, lr=3e-3)))
    pruned, result = prune(model, cfg, val, val, test=test, train=train, work=tmp_path / "w", show_progress=False)
    back = result.order("backward")
    assert back.healed_curve[0] == back.val_curve[0] == result.baseline_val_accuracy
    healed_points = [a for a in back.healed_curve[1:] if a is not None]
    assert healed_points and back.heal_seconds[1] > 0
    assert back.removed_at_target == max(m for m, a in enumerate(back.healed_curve)
                                         if a is not None and a >= result.target_val_accuracy - 1e-12)
    assert result.order("random-s0").healed_curve[1:] == [None] * 3  # baselines are not healed
    assert pruned.num_layers == len(back.keep) and result.best == "backward"
    assert evaluate(torch_predictor(pruned), test).accuracy == pytest.approx(back.test_accuracy)


# ---------------------------------------------------------------- the depth is chosen by the interval rule
def _correctness(n: int, wrong: int, seed: int = 0) -> np.ndarray:
    """n clips, ``wrong`` of them (seeded positions) wrong."""
    out = np.ones(n, dtype=bool)
    out[np.random.default_rng(seed).choice(n, wrong, replace=False)] = False
    return out


def test_a_cut_passing_by_the_point_estimate_only_is_not_safe():
    from spc.prune.results import judge_cut
    from spc.stats import retention_interval

    original = _correctness(700, 27)  # 673 right (96.1%): the 95% target needs ceil(0.95 * 673) = 640
    passes_by_7 = original.copy()
    passes_by_7[np.flatnonzero(original)[:673 - 647]] = False  # 647 right: the "7 clips of 709" case
    cut = judge_cut("backward", [0, 1], 6, original, passes_by_7, 0.95, seed=0)
    lo, hi = retention_interval(original, passes_by_7, seed=0)
    assert cut.retention == pytest.approx(647 / 673) and cut.margin_clips == 7
    assert lo < 0.95 <= cut.retention and cut.interval == (lo, hi)
    assert cut.standing == "point estimate only" and cut.removed == 4
    clearly = original.copy()
    clearly[np.flatnonzero(original)[:3]] = False  # 670 right: retention 0.996, interval well above 0.95
    assert judge_cut("bi", [0, 1, 2], 6, original, clearly, 0.95, seed=0).standing == "safe"
    short = original.copy()
    short[np.flatnonzero(original)[:40]] = False  # 633 right < 640
    miss = judge_cut("bi", [0], 6, original, short, 0.95, seed=0)
    assert miss.standing == "fails" and miss.margin_clips == 633 - 640


def test_choice_takes_the_deepest_safe_cut_and_flags_the_deeper_point_only_one():
    from spc.prune.results import Cut, OrderResult
    from spc.prune.search import choose_cuts

    def cut(order, removed, lo, standing, acc=0.9):
        return Cut(order, removed, list(range(6 - removed)), acc, 0.96, (lo, 1.0), 5, standing)

    backward = OrderResult("backward", [5, 4, 3, 2, 1], [1.0] * 6, 3, [0, 1, 2], 0.95,
                           cuts=[cut("backward", 1, 0.99, "safe"), cut("backward", 2, 0.98, "safe"),
                                 cut("backward", 3, 0.96, "safe"), cut("backward", 4, 0.93, "point estimate only"),
                                 cut("backward", 5, 0.5, "fails")], removed_point=4)
    bi = OrderResult("bi", [1, 2, 3, 4, 5], [1.0] * 6, 2, [0, 3, 4, 5], 0.97,
                     cuts=[cut("bi", 1, 0.995, "safe"), cut("bi", 2, 0.97, "safe"), cut("bi", 3, 0.9, "fails")],
                     removed_point=2)
    rand = OrderResult("random-s0", [3, 1, 2, 4, 5], [1.0] * 6, 5, [0], 1.0, baseline=True,
                       cuts=[cut("random-s0", 5, 0.99, "safe")], removed_point=5)
    best, safe, point, depths = choose_cuts([backward, bi, rand])
    assert best is backward and safe.removed == 3 and safe.standing == "safe"  # not the 4-layer point-only cut
    assert point.removed == 4 and point.standing == "point estimate only"
    assert [c.removed for c in depths] == [1, 2, 3, 4]  # every passing depth, never the random baseline's
    assert [c.order for c in depths[:2]] == ["bi", "backward"]  # per depth, the higher lower bound


def test_orders_tied_at_the_safe_depth_are_split_by_the_interval_so_the_choice_is_that_depths_candidate():
    """Two orders safe at 4 layers with the same validation accuracy (the FSDD run of 2026-12-02: bi and
    backward): the one with the higher lower bound is the pruned model, and it is the depth's pruned-4."""
    from spc.prune.results import Cut, OrderResult
    from spc.prune.search import choose_cuts

    def order(name, lo, acc=0.91):
        cuts = [Cut(name, 4, [0, 1], acc, 0.993, (lo, 1.01), 11, "safe")]
        return OrderResult(name, [5, 4, 3, 2], [1.0] * 5, 4, [0, 1], acc, cuts=cuts, removed_point=4)

    for results in ([order("bi", 0.9673), order("backward", 0.9684)], [order("backward", 0.9684), order("bi", 0.9673)]):
        best, safe, point, depths = choose_cuts(results)
        assert best.name == "backward" and safe is depths[-1] and point is None
    best, safe, _, depths = choose_cuts([order("bi", 0.9684, acc=0.92), order("backward", 0.9684)])
    assert best.name == "bi" and safe is depths[-1]  # equal bounds: the higher validation accuracy
