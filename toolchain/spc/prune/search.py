"""Scoring pruning candidates fast, the search over removal orders, and healing the candidates.

The feature encoder's output (the stack input h_0) is computed once per clip and kept; where the
memory budget allows, the full model's hidden states h_1..h_L are kept too, so that a candidate
that keeps layers 0..r-1 starts from h_r instead of recomputing the layers it shares with the
full model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..analysis.metrics import cosine_flat, cosine_frames
from ..data.clips import ClipSet
from ..errors import SpcError
from ..accuracy import predict_logits, score, torch_predictor
from ..progress import track
from ..stats import EPS, lower_bound, margin_clips, retention_interval, retention_point
from .heal import HealConfig, Healed, heal, teacher_windows
from .orders import ORDERS, order_backward, order_bi, order_forward, order_random


@dataclass(frozen=True)
class PruneConfig:
    """Settings of a pruning search (validated on construction; recorded with its result)."""

    orders: tuple[str, ...] = ORDERS
    retention: float = 0.95
    heal: HealConfig = field(default_factory=HealConfig)
    random_seeds: tuple[int, ...] = (0, 1, 2)
    bi_variant: str = "frames"  # per-frame cosine (ShortGPT) or "flat" (the paper's code)
    calib_clips: int = 256
    batch_size: int = 64
    max_remove: int | None = None
    min_steps: int = 10  # validation clips that must fit in the tolerance band (1 - retention)
    cache_mb: int = 2048
    seed: int = 0
    device: str = "auto"
    version: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "orders", tuple(self.orders))
        object.__setattr__(self, "random_seeds", tuple(self.random_seeds))
        if not 0 < self.retention <= 1:
            raise SpcError(f"the retention target must be in (0, 1], got {self.retention}")
        if self.max_remove is not None and self.max_remove < 1:
            raise SpcError(f"the most layers to remove must be at least 1, got {self.max_remove}")
        unknown = sorted(set(self.orders) - set(ORDERS))
        if unknown or not self.orders:
            raise SpcError(f"unknown pruning orders {unknown or '(none given)'}; choose from {', '.join(ORDERS)}")
        if self.bi_variant not in ("frames", "flat"):
            raise SpcError(f"unknown BI variant '{self.bi_variant}'; choose 'frames' or 'flat'")
        if min(self.batch_size, self.calib_clips, self.min_steps) < 1:
            raise SpcError("batch size, calibration clips and minimum steps must be at least 1")

    def check_model(self, n_layers: int) -> None:
        """What depends on the model: it needs 2 layers, and one must stay."""
        if n_layers < 2:
            raise SpcError(f"the model has {n_layers} transformer layer; pruning needs at least 2")
        if self.max_remove is not None and self.max_remove >= n_layers:
            raise SpcError(f"cannot remove {self.max_remove} of {n_layers} layers: at least one must stay")

    def clips_needed(self) -> int:
        """Validation clips needed so that the tolerance band holds ``min_steps`` clips."""
        return self.min_steps if self.retention >= 1 else math.ceil(self.min_steps / (1 - self.retention))

    def check_clips(self, n_val: int, where: str = "the validation split") -> None:
        """Refuse a validation set too small to measure the retention target."""
        if n_val < self.clips_needed():
            raise SpcError(f"{where} has {n_val} clips; measuring a {self.retention:.0%} retention target needs "
                           f"at least {self.clips_needed()} (so that {self.min_steps} clips fit in the tolerance)")

    def as_dict(self) -> dict:
        return asdict(self)


class StackEvaluator:
    """Logits and hidden states of any subset of a model's layers on a fixed set of clips."""

    def __init__(self, model, clips: ClipSet, batch_size: int = 64, device: str | torch.device = "cpu",
                 cache_mb: int = 2048, show_progress: bool = False, what: str = "caching"):
        self.model = model.to(device).eval()
        self.clips = clips
        self.device = device
        self.n_layers = model.num_layers
        starts = list(range(0, len(clips), batch_size))
        self.batches: list[list[torch.Tensor]] = []
        per_state = None
        keep_all = True
        with torch.inference_mode():
            for s in track(starts, what, show=show_progress):
                audio = torch.from_numpy(clips.audio[s : s + batch_size]).to(device)
                h0 = model.stack_input(audio)
                if per_state is None:
                    per_state = h0.numel() * h0.element_size() * len(clips) / len(audio) / 2**20
                    keep_all = per_state * (self.n_layers + 1) <= cache_mb
                hs = model.run_stack(h0) if keep_all else [h0]
                self.batches.append([h.cpu() for h in hs])
        self.prefix_cached = keep_all

    def _start(self, keep: Sequence[int]) -> int:
        r = 0
        while self.prefix_cached and r < len(keep) and keep[r] == r:
            r += 1
        return r

    def hidden_states(self, keep: Sequence[int]):
        """Per batch, [h_0, outputs of each kept layer]; shared prefixes come from the cache."""
        keep = sorted(keep)
        r = self._start(keep)
        with torch.inference_mode():
            for cached in self.batches:
                prefix = [cached[i].to(self.device) for i in range(r)]
                yield prefix + self.model.run_stack(cached[r].to(self.device), keep[r:])

    def logits(self, keep: Sequence[int]) -> np.ndarray:
        """Logits of the model that keeps layers ``keep`` (without any surgery)."""
        keep = sorted(keep)
        outs = []
        with torch.inference_mode():
            for hs in self.hidden_states(keep):
                outs.append(self.model.logits_from_hidden(hs, keep).float().cpu().numpy())
        return np.concatenate(outs)

    def accuracy(self, keep: Sequence[int]) -> float:
        return score(self.logits(keep), self.clips.targets, self.clips.labels).accuracy

    def block_influence(self, keep: Sequence[int], variant: str = "frames") -> list[float]:
        """BI of each kept layer (in ``sorted(keep)`` order) on these clips."""
        cos = cosine_frames if variant == "frames" else cosine_flat
        sums = np.zeros(len(keep))
        for hs in self.hidden_states(keep):
            for j in range(len(keep)):
                sums[j] += float(cos(hs[j], hs[j + 1]).double().sum())
        return (1.0 - sums / len(self.clips)).tolist()


@dataclass
class Cut:
    """One cut of a removal order judged on validation against the target: retention with its 95%
    paired bootstrap interval, how many clips it cleared (or missed) the target by, and its standing
    ("safe": the interval's lower bound clears the target; "point estimate only"; "fails")."""

    order: str
    removed: int
    keep: list[int]
    val_accuracy: float
    retention: float
    interval: tuple[float, float]
    margin_clips: int  # correct validation clips above (>= 0) or below (< 0) the fewest the target allows
    standing: str
    healed: bool = False
    test_accuracy: float | None = None


def judge_cut(order: str, keep: list[int], n_layers: int, original_correct: np.ndarray, correct: np.ndarray,
              retention: float, seed: int, healed: bool = False) -> Cut:
    """A ``Cut`` from per-clip correctness of the original and the cut model on the same validation clips."""
    point = retention_point(original_correct, correct)
    lo, hi = retention_interval(original_correct, correct, seed=seed)
    standing = "fails" if not point >= retention - EPS else "safe" if lo >= retention - EPS else "point estimate only"
    return Cut(order, n_layers - len(keep), list(keep), float(np.mean(correct)), point, (lo, hi),
               margin_clips(original_correct, correct, retention), standing, healed)


@dataclass
class OrderResult:
    """One removal order: its validation curves (unhealed, healed) and the model it gives at the target."""

    name: str
    removal: list[int]
    val_curve: list[float]  # accuracy after removing 0, 1, 2, ... layers in this order, no retraining
    removed_at_target: int  # the deepest *safe* cut (interval rule), by the healed curve where healing is on
    keep: list[int]
    val_accuracy: float  # of the chosen candidate (healed where healing is on)
    healed_curve: list[float | None] = field(default_factory=list)  # None: not healed (past the first miss)
    heal_seconds: list[float | None] = field(default_factory=list)
    test_accuracy: float | None = None
    baseline: bool = False  # random orders: shown for comparison, not chosen
    removed_point: int = 0  # the deepest cut that clears the target on the point estimate
    cuts: list[Cut] = field(default_factory=list)  # every cut scored, 1, 2, ... layers removed


@dataclass
class PruneResult:
    baseline_val_accuracy: float
    target_val_accuracy: float
    n_layers: int
    bi: list[float]
    orders: list[OrderResult]
    best: str
    config: dict = field(default_factory=dict)
    baseline_test_accuracy: float | None = None
    heal: str = "none"
    safe: Cut | None = None  # the deepest cut whose validation interval clears the target (the choice)
    point: Cut | None = None  # the deepest cut that clears it on the point estimate only, where deeper than ``safe``
    depths: list[Cut] = field(default_factory=list)  # per depth, the best cut that passes (compress's candidates)
    models: dict = field(default_factory=dict, repr=False, compare=False)  # keep tuple -> model (not serialised)

    def order(self, name: str) -> OrderResult:
        return next(o for o in self.orders if o.name == name)

    def model_of(self, cut: Cut):
        """The (healed) model of a cut in ``depths``, ``safe`` or ``point``."""
        return self.models[tuple(cut.keep)]

    def heal_seconds(self) -> float:
        """Time spent healing, each healed candidate (a set of kept layers) counted once across the orders."""
        return heal_seconds_of([(o.removal, o.heal_seconds) for o in self.orders], self.n_layers)

    def as_dict(self) -> dict:
        return asdict(replace(self, models={}))  # the models stay out of the JSON


def heal_seconds_of(orders: Sequence[tuple[Sequence[int], Sequence[float | None]]], n_layers: int) -> float:
    """Sum of heal times over distinct candidates: (removal order, heal seconds after m removals) per order."""
    spent: dict[tuple[int, ...], float] = {}
    for removal, seconds in orders:
        for m, sec in enumerate(seconds):
            if sec:
                spent[tuple(_keep_after(n_layers, removal[:m]))] = sec
    return round(sum(spent.values()), 2)


def _keep_after(n_layers: int, removed: Sequence[int]) -> list[int]:
    gone = set(removed)
    return [i for i in range(n_layers) if i not in gone]


def _iterative_bi(calib: StackEvaluator, n: int, steps: int, variant: str) -> list[int]:
    keep, removal = list(range(n)), []
    for _ in range(steps):
        bi = calib.block_influence(keep, variant)
        victim = keep[int(np.argmin(bi))]
        removal.append(victim)
        keep.remove(victim)
    return removal


def _greedy(val: StackEvaluator, n: int, steps: int, show_progress: bool) -> tuple[list[int], list[float]]:
    keep, removal, curve = list(range(n)), [], []
    for _ in track(range(steps), "greedy search", show=show_progress):
        scored = [(val.accuracy([k for k in keep if k != c]), c) for c in keep]
        acc, victim = max(scored)  # best accuracy; ties remove the later layer
        removal.append(victim)
        keep.remove(victim)
        curve.append(acc)
    return removal, curve


def _orders(config: PruneConfig, n: int, steps: int, v: "StackEvaluator", c: "StackEvaluator", bi: list[float],
            show_progress: bool) -> dict[str, tuple[list[int], list[float] | None, bool]]:
    """Each order's removal sequence (with its curve where the order computed it) and whether it is a baseline."""
    removals: dict[str, tuple[list[int], list[float] | None, bool]] = {}
    for name in config.orders:
        if name == "bi":
            removals[name] = (order_bi(bi)[:steps], None, False)
        elif name == "bi-iterative":
            removals[name] = (_iterative_bi(c, n, steps, config.bi_variant), None, False)
        elif name == "backward":
            removals[name] = (order_backward(n)[:steps], None, False)
        elif name == "forward":
            removals[name] = (order_forward(n)[:steps], None, False)
        elif name == "random":
            for seed in config.random_seeds:
                removals[f"random-s{seed}"] = (order_random(n, seed)[:steps], None, True)
        elif name == "greedy":
            removal, curve = _greedy(v, n, steps, show_progress)
            removals[name] = (removal, curve, False)
    return removals


def prune(model, config: PruneConfig, val: ClipSet, calib: ClipSet, *, test: ClipSet | None = None,
          train: ClipSet | None = None, work: Path | None = None, negatives: list[np.ndarray] | None = None,
          show_progress: bool = True):
    """Search every order and return ``(pruned model, PruneResult)``; ``model`` is left as it is.

    Without healing, candidates are scored on cached stack inputs with no surgery. With healing
    (``config.heal``, which needs ``train``), each order's candidates are cut, healed and scored on
    validation one layer more at a time, until the healed accuracy misses the target. Every cut is
    judged by the interval rule (``judge_cut``): the pruned model is the deepest *safe* cut (its 95%
    validation interval clears the target; ties: higher validation accuracy); the deepest cut that
    clears it only on the point estimate is reported beside it (``result.point``), and every depth
    that passes is kept as a candidate (``result.depths``, models in ``result.models``). Random
    orders are baselines, never healed nor chosen. Heals learn from stream-like windows as well
    (``HealConfig.stream_windows``, cut from ``train`` and ``negatives``, long non-keyword audio).
    """
    from ..training.loop import train_device
    from .surgery import prune_model

    n = model.num_layers
    config.check_model(n)
    config.check_clips(len(val))
    healing = config.heal.method != "none"
    if healing and (train is None or work is None):
        raise SpcError("healing needs the training clips and a work folder")
    device = train_device(replace(config.heal.head, device=config.device))
    steps = config.max_remove or n - 1
    v = StackEvaluator(model, val, config.batch_size, device, config.cache_mb, show_progress, "caching validation")
    c = StackEvaluator(model, calib, config.batch_size, device, config.cache_mb, False)
    full = list(range(n))
    base_correct = _correct(v.logits(full), val)
    baseline = float(base_correct.mean())
    target = config.retention * baseline
    bi = c.block_influence(full, config.bi_variant)
    removals = _orders(config, n, steps, v, c, bi, show_progress)

    unhealed: dict[tuple[int, ...], np.ndarray] = {tuple(full): base_correct}
    healed: dict[tuple[int, ...], tuple[Healed, np.ndarray]] = {}
    teacher_cache = None
    windows = None  # the head heal's teacher-labelled stream windows, made on first use

    def plain(keep: list[int]) -> np.ndarray:
        if tuple(keep) not in unhealed:
            unhealed[tuple(keep)] = _correct(v.logits(keep), val)
        return unhealed[tuple(keep)]

    def healed_of(keep: list[int]) -> tuple[Healed, np.ndarray]:
        nonlocal teacher_cache, windows
        key = tuple(keep)
        if key not in healed:
            if config.heal.method == "distill" and teacher_cache is None:
                from ..distill.trainer import teacher_outputs

                teacher_cache = teacher_outputs(model, {"train": train, "validation": val}, [n], device=device,
                                                show_progress=show_progress)
            if config.heal.method == "head" and windows is None:
                windows = teacher_windows(model, train, config.heal, negatives=negatives, device=device,
                                          seed=config.seed, show_progress=show_progress) or False
            heal_cfg = _heal_on(config.heal, config.device)
            h = heal(prune_model(model, keep), model, train, val, heal_cfg,
                     work / ("keep-" + "-".join(map(str, keep))), teacher_cache=teacher_cache,
                     windows=windows or None, negatives=negatives, show_progress=False)
            pred = torch_predictor(h.model, device)
            healed[key] = (h, _correct(predict_logits(pred, val.audio, config.batch_size), val))
        return healed[key]

    results = []
    for name, (removal, known, is_baseline) in track(list(removals.items()), "scoring orders", show=show_progress):
        keeps = [_keep_after(n, removal[: m + 1]) for m in range(len(removal))]
        curve = [baseline] + (known if known is not None else [float(plain(k).mean()) for k in keeps])
        hcurve: list[float | None] = [baseline] + [None] * len(removal)
        hsec: list[float | None] = [None] * (len(removal) + 1)
        cuts: list[Cut] = []
        for m, keep in enumerate(keeps, start=1):
            if healing and not is_baseline:
                h, correct = healed_of(keep)
                hcurve[m], hsec[m] = float(correct.mean()), h.seconds
            else:
                correct = plain(keep)
            cuts.append(judge_cut(name, keep, n, base_correct, correct, config.retention, config.seed,
                                  healed=healing and not is_baseline))
            if healing and not is_baseline and cuts[-1].standing == "fails":
                break  # deeper cuts of this order are not healed
        safe_m = max([cut.removed for cut in cuts if cut.standing == "safe"], default=0)
        point_m = max([cut.removed for cut in cuts if cut.standing != "fails"], default=0)
        scores = hcurve if healing and not is_baseline else curve
        results.append(OrderResult(name, removal, curve, safe_m, _keep_after(n, removal[:safe_m]), scores[safe_m],
                                   hcurve if healing else [], hsec if healing else [], baseline=is_baseline,
                                   removed_point=point_m, cuts=cuts))

    def candidate(keep: list[int]):
        if len(keep) == n:
            return model
        if healing and tuple(keep) in healed:
            return healed[tuple(keep)][0].model
        return prune_model(model, keep)

    best, safe, point, depths = choose_cuts(results)

    baseline_test = None
    if test is not None:
        t = StackEvaluator(model, test, config.batch_size, device, config.cache_mb, show_progress, "caching test")
        baseline_test = t.accuracy(full)
        tested: dict[tuple[int, ...], float] = {}

        def test_acc(keep: list[int]) -> float:
            if tuple(keep) not in tested:
                if healing and tuple(keep) in healed:
                    logits = predict_logits(torch_predictor(candidate(keep), device), test.audio, config.batch_size)
                    tested[tuple(keep)] = score(logits, test.targets, test.labels).accuracy
                else:
                    tested[tuple(keep)] = t.accuracy(keep)
            return tested[tuple(keep)]

        for r in results:
            r.test_accuracy = test_acc(r.keep)
        for cut in [*depths, *(x for x in (safe, point) if x is not None)]:
            cut.test_accuracy = test_acc(cut.keep)
    models = {tuple(cut.keep): candidate(cut.keep) for cut in depths}
    result = PruneResult(baseline, target, n, bi, results, best.name, config.as_dict(), baseline_test,
                         config.heal.method, safe, point, depths, models)
    pruned = candidate(best.keep)
    return (prune_model(model, best.keep) if pruned is model else pruned), result


def choose_cuts(results: Sequence[OrderResult]) -> tuple[OrderResult, Cut | None, Cut | None, list[Cut]]:
    """(best order, its safe cut, the deeper point-estimate-only cut, the best passing cut per depth).

    The best order removes the most layers *safely* (ties: the higher interval lower bound, then the higher
    validation accuracy, of its cut there); random baselines are never chosen. A cut that clears the target
    only on the point estimate is never the choice: it is returned as ``point`` (flagged) when it goes deeper
    than the safe one. Per depth, the passing cut with the highest interval lower bound (same ties) is a
    candidate of its own (compress's ``pruned-k``), so the safe cut is also the deepest safe depth's candidate.
    """
    chosen = [r for r in results if not r.baseline] or list(results)

    def rank(cut: Cut | None) -> tuple[float, float]:
        return (-math.inf, -math.inf) if cut is None else (lower_bound(cut.interval), cut.val_accuracy)

    def at_target(r: OrderResult) -> Cut | None:
        return next((cut for cut in r.cuts if cut.removed == r.removed_at_target), None)

    best = max(chosen, key=lambda r: (r.removed_at_target, *rank(at_target(r))))
    passing = [cut for r in chosen for cut in r.cuts if cut.standing != "fails"]
    safe = at_target(best)
    deepest = max(passing, key=lambda cut: (cut.removed, cut.retention), default=None)
    point = deepest if deepest is not None and deepest.removed > best.removed_at_target else None
    depths = [max((cut for cut in passing if cut.removed == k), key=rank) for k in sorted({cut.removed for cut in passing})]
    return best, safe, point, depths


def _correct(logits: np.ndarray, clips: ClipSet) -> np.ndarray:
    """Per clip, whether the top class is the label (N booleans)."""
    return score(logits, clips.targets, clips.labels).correct


def _heal_on(heal_cfg: HealConfig, device: str) -> HealConfig:
    """The heal settings with the search's device."""
    return replace(heal_cfg, head=replace(heal_cfg.head, device=device), stage1=replace(heal_cfg.stage1, device=device),
                   stage2=replace(heal_cfg.stage2, device=device))
