"""Scoring pruning candidates fast, and the search over removal orders.

The feature encoder's output (the stack input h_0) is computed once per clip and kept; where the
memory budget allows, the full model's hidden states h_1..h_L are kept too, so that a candidate
that keeps layers 0..r-1 starts from h_r instead of recomputing the layers it shares with the
full model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..analysis.metrics import cosine_flat, cosine_frames
from ..data.clips import ClipSet
from ..errors import SpcError
from ..evaluate import score
from ..progress import track
from .orders import ORDERS, order_backward, order_bi, order_forward, order_random


@dataclass
class PruneConfig:
    """Settings of a pruning search (recorded with its result)."""

    orders: tuple[str, ...] = ORDERS
    retention: float = 0.95
    random_seeds: tuple[int, ...] = (0, 1, 2)
    bi_variant: str = "frames"  # per-frame cosine (ShortGPT) or "flat" (the paper's code)
    calib_clips: int = 256
    batch_size: int = 64
    max_remove: int | None = None
    min_steps: int = 10  # validation clips that must fit in the tolerance band (1 - retention)
    cache_mb: int = 2048
    seed: int = 0
    device: str = "auto"

    def validate(self, n_layers: int) -> None:
        """User errors in the settings, before any long work starts."""
        if not 0 < self.retention <= 1:
            raise SpcError(f"--retention must be in (0, 1], got {self.retention}")
        if n_layers < 2:
            raise SpcError(f"the model has {n_layers} transformer layer; pruning needs at least 2")
        if self.max_remove is not None and self.max_remove >= n_layers:
            raise SpcError(f"cannot remove {self.max_remove} of {n_layers} layers: at least one must stay")
        if self.max_remove is not None and self.max_remove < 1:
            raise SpcError(f"--max-remove must be at least 1, got {self.max_remove}")
        unknown = sorted(set(self.orders) - set(ORDERS))
        if unknown:
            raise SpcError(f"unknown pruning orders {unknown}; choose from {', '.join(ORDERS)}")
        if self.bi_variant not in ("frames", "flat"):
            raise SpcError(f"unknown BI variant '{self.bi_variant}'; choose 'frames' or 'flat'")

    def clips_needed(self) -> int:
        """Validation clips needed so that the tolerance band holds ``min_steps`` clips."""
        return self.min_steps if self.retention >= 1 else math.ceil(self.min_steps / (1 - self.retention))


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
        layers = self.model.layers
        r = self._start(keep)
        with torch.inference_mode():
            for cached in self.batches:
                h = cached[r].to(self.device)
                hs = [cached[i].to(self.device) for i in range(r + 1)] if r else [h]
                state = self.model.adapter.initial_state(self.model.hf, h)
                for i in keep[r:]:
                    h = self.model.adapter.run_layer(layers[i], h, state)
                    hs.append(h)
                yield hs

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
class OrderResult:
    """One removal order: its validation curve and the model it gives at the retention target."""

    name: str
    removal: list[int]
    val_curve: list[float]  # accuracy after removing 0, 1, 2, ... layers in this order
    removed_at_target: int
    keep: list[int]
    val_accuracy: float
    test_accuracy: float | None = None
    baseline: bool = False  # random orders: shown for comparison, not chosen


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

    def order(self, name: str) -> OrderResult:
        return next(o for o in self.orders if o.name == name)

    def as_dict(self) -> dict:
        return asdict(self)


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


def prune_search(
    model,
    val: ClipSet,
    calib: ClipSet,
    config: PruneConfig = PruneConfig(),
    test: ClipSet | None = None,
    show_progress: bool = True,
) -> PruneResult:
    """Validation-accuracy curves for every order, and the most layers each removes at the target.

    The best order removes the most layers while meeting the target (ties: higher validation
    accuracy); random orders are baselines and never chosen.
    """
    from ..train import resolve_device

    n = model.num_layers
    config.validate(n)
    if len(val) < config.clips_needed():
        raise SpcError(
            f"the validation split has {len(val)} clips; measuring a {config.retention:.0%} retention target "
            f"needs at least {config.clips_needed()} (so that {config.min_steps} clips fit in the tolerance)"
        )
    device = resolve_device(config.device)
    steps = config.max_remove or n - 1
    v = StackEvaluator(model, val, config.batch_size, device, config.cache_mb, show_progress, "caching validation")
    c = StackEvaluator(model, calib, config.batch_size, device, config.cache_mb, False)
    full = list(range(n))
    baseline = v.accuracy(full)
    target = config.retention * baseline
    bi = c.block_influence(full, config.bi_variant)

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

    results = []
    cache: dict[tuple[int, ...], float] = {tuple(full): baseline}

    def acc(keep: list[int]) -> float:
        key = tuple(keep)
        if key not in cache:
            cache[key] = v.accuracy(keep)
        return cache[key]

    for name, (removal, known, is_baseline) in track(list(removals.items()), "scoring orders", show=show_progress):
        curve = [baseline] + (known if known is not None else
                              [acc(_keep_after(n, removal[: m + 1])) for m in range(len(removal))])
        ok = [m for m, a in enumerate(curve) if a >= target - 1e-12]
        m = max(ok) if ok else 0
        keep = _keep_after(n, removal[:m])
        results.append(OrderResult(name, removal, curve, m, keep, curve[m], baseline=is_baseline))

    if test is not None:
        t = StackEvaluator(model, test, config.batch_size, device, config.cache_mb, show_progress, "caching test")
        for r in results:
            r.test_accuracy = t.accuracy(r.keep)
        baseline_test = t.accuracy(full)
    chosen = [r for r in results if not r.baseline] or results
    best = max(chosen, key=lambda r: (r.removed_at_target, r.val_accuracy))
    cfg = asdict(config)
    return PruneResult(baseline, target, n, bi, results, best.name, cfg,
                       baseline_test if test is not None else None)
