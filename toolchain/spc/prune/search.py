"""The search over removal orders: each order's cuts judged on validation (healed where asked), the choice, and
the chosen cuts' test accuracy. Cuts are scored on ``evaluator.StackEvaluator``'s cached hidden states."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.clips import ClipSet
from ..errors import SpcError
from ..accuracy import predict_logits, score, torch_predictor
from ..progress import track
from ..stats import lower_bound
from .evaluator import StackEvaluator
from .heal import HealConfig, Healed, heal, teacher_windows
from .results import Cut, OrderResult, PruneResult, judge_cut, keep_after
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
    if config.heal.method != "none" and (train is None or work is None):
        raise SpcError("healing needs the training clips and a work folder")
    device = train_device(replace(config.heal.head, device=config.device))
    steps = config.max_remove or n - 1
    v = StackEvaluator(model, val, config.batch_size, device, config.cache_mb, show_progress, "caching validation")
    c = StackEvaluator(model, calib, config.batch_size, device, config.cache_mb, False)
    full = list(range(n))
    base_correct = _correct(v.logits(full), val)
    baseline = float(base_correct.mean())
    bi = c.block_influence(full, config.bi_variant)
    removals = _orders(config, n, steps, v, c, bi, show_progress)
    cuts = _CutModels(model, config, v, train, work, negatives, device, show_progress, {tuple(full): base_correct})
    results = [_score_order(name, removal, known, is_baseline, cuts)
               for name, (removal, known, is_baseline) in track(list(removals.items()), "scoring orders",
                                                                 show=show_progress)]
    best, safe, point, depths = choose_cuts(results)
    baseline_test = None
    if test is not None:
        baseline_test = _test_accuracies(cuts, test, results, [*depths, *(x for x in (safe, point) if x is not None)])
    models = {tuple(cut.keep): cuts.model_of(cut.keep) for cut in depths}
    result = PruneResult(baseline, config.retention * baseline, n, bi, results, best.name, config.as_dict(),
                         baseline_test, config.heal.method, safe, point, depths, models)
    pruned = cuts.model_of(best.keep)
    return (prune_model(model, best.keep) if pruned is model else pruned), result


@dataclass
class _CutModels:
    """Each cut (a tuple of kept layers) scored on validation once: unhealed from the evaluator's cache, or cut,
    healed (``config.heal``) and run; the teacher's outputs and stream windows the heals share, made on first use."""

    model: object
    config: PruneConfig
    v: StackEvaluator
    train: ClipSet | None
    work: Path | None
    negatives: list[np.ndarray] | None
    device: object
    show_progress: bool
    unhealed: dict = field(default_factory=dict)  # keep -> (N,) correct on validation
    healed: dict = field(default_factory=dict)  # keep -> (Healed, (N,) correct on validation)
    teacher_cache: object = None
    windows: object = None  # the head heal's teacher-labelled stream windows (False: none asked for)

    @property
    def healing(self) -> bool:
        return self.config.heal.method != "none"

    @property
    def n(self) -> int:
        return self.model.num_layers

    def plain(self, keep: list[int]) -> np.ndarray:
        """(N,) per validation clip, whether the unhealed cut keeping ``keep`` gets it right."""
        if tuple(keep) not in self.unhealed:
            self.unhealed[tuple(keep)] = _correct(self.v.logits(keep), self.v.clips)
        return self.unhealed[tuple(keep)]

    def healed_of(self, keep: list[int]) -> tuple[Healed, np.ndarray]:
        """The healed cut keeping ``keep`` and its (N,) validation correctness; healed once."""
        from .surgery import prune_model

        key, config = tuple(keep), self.config
        if key not in self.healed:
            if config.heal.method == "distill" and self.teacher_cache is None:
                from ..distill.trainer import teacher_outputs

                self.teacher_cache = teacher_outputs(self.model, {"train": self.train, "validation": self.v.clips},
                                                     [self.n], device=self.device, show_progress=self.show_progress)
            if config.heal.method == "head" and self.windows is None:
                self.windows = teacher_windows(self.model, self.train, config.heal, negatives=self.negatives,
                                               device=self.device, seed=config.seed,
                                               show_progress=self.show_progress) or False
            h = heal(prune_model(self.model, keep), self.model, self.train, self.v.clips,
                     _heal_on(config.heal, config.device), self.work / ("keep-" + "-".join(map(str, keep))),
                     teacher_cache=self.teacher_cache, windows=self.windows or None, negatives=self.negatives,
                     show_progress=self.show_progress,
                     what=f"healing the head of the cut keeping layers {','.join(map(str, keep))}")
            pred = torch_predictor(h.model, self.device)
            self.healed[key] = (h, _correct(predict_logits(pred, self.v.clips.audio, config.batch_size), self.v.clips))
        return self.healed[key]

    def model_of(self, keep: list[int]):
        """The model of a cut: the original where nothing is cut, the healed one where it was healed."""
        from .surgery import prune_model

        if len(keep) == self.n:
            return self.model
        if self.healing and tuple(keep) in self.healed:
            return self.healed[tuple(keep)][0].model
        return prune_model(self.model, keep)


def _score_order(name: str, removal: list[int], known: list[float] | None, is_baseline: bool,
                 cuts: _CutModels) -> OrderResult:
    """One order's cuts, one layer deeper at a time, each judged against the target (``judge_cut``); healed where
    healing is on and the order is not a baseline, stopping at the first healed cut that fails."""
    n, config, full = cuts.n, cuts.config, tuple(range(cuts.n))
    base_correct = cuts.unhealed[full]
    baseline = float(base_correct.mean())
    heals = cuts.healing and not is_baseline
    keeps = [keep_after(n, removal[: m + 1]) for m in range(len(removal))]
    curve = [baseline] + (known if known is not None else [float(cuts.plain(k).mean()) for k in keeps])
    hcurve: list[float | None] = [baseline] + [None] * len(removal)
    hsec: list[float | None] = [None] * (len(removal) + 1)
    judged: list[Cut] = []
    for m, keep in enumerate(keeps, start=1):
        if heals:
            h, correct = cuts.healed_of(keep)
            hcurve[m], hsec[m] = float(correct.mean()), h.seconds
        else:
            correct = cuts.plain(keep)
        judged.append(judge_cut(name, keep, n, base_correct, correct, config.retention, config.seed, healed=heals))
        if heals and judged[-1].standing == "fails":
            break  # deeper cuts of this order are not healed
    safe_m = max([cut.removed for cut in judged if cut.standing == "safe"], default=0)
    point_m = max([cut.removed for cut in judged if cut.standing != "fails"], default=0)
    scores = hcurve if heals else curve
    return OrderResult(name, removal, curve, safe_m, keep_after(n, removal[:safe_m]), scores[safe_m],
                       hcurve if cuts.healing else [], hsec if cuts.healing else [], baseline=is_baseline,
                       removed_point=point_m, cuts=judged)


def _test_accuracies(cuts: _CutModels, test: ClipSet, results: list[OrderResult], chosen: list[Cut]) -> float:
    """Sets the test accuracy of each order's pick and of the chosen cuts (each cut run once); returns the
    original's."""
    config = cuts.config
    t = StackEvaluator(cuts.model, test, config.batch_size, cuts.device, config.cache_mb, cuts.show_progress,
                       "caching test")
    tested: dict[tuple[int, ...], float] = {}

    def test_acc(keep: list[int]) -> float:
        if tuple(keep) not in tested:
            if cuts.healing and tuple(keep) in cuts.healed:
                logits = predict_logits(torch_predictor(cuts.model_of(keep), cuts.device), test.audio,
                                        config.batch_size)
                tested[tuple(keep)] = score(logits, test.targets, test.labels).accuracy
            else:
                tested[tuple(keep)] = t.accuracy(keep)
        return tested[tuple(keep)]

    baseline_test = t.accuracy(list(range(cuts.n)))
    for r in results:
        r.test_accuracy = test_acc(r.keep)
    for cut in chosen:
        cut.test_accuracy = test_acc(cut.keep)
    return baseline_test


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
