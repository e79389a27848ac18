"""What a pruning search finds: each cut judged against the retention target, each order's curves, the result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Sequence

import numpy as np

from ..stats import EPS, margin_clips, retention_interval, retention_point


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
                spent[tuple(keep_after(n_layers, removal[:m]))] = sec
    return round(sum(spent.values()), 2)


def keep_after(n_layers: int, removed: Sequence[int]) -> list[int]:
    gone = set(removed)
    return [i for i in range(n_layers) if i not in gone]
