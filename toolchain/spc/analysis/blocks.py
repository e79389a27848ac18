"""Segmenting a layer-similarity matrix into contiguous blocks.

Method (deterministic): choose the split of 0..n-1 into contiguous segments that maximises

    sum over segments B of  sum_{i, j in B, i != j} (S_ij - tau)

by dynamic programming over all segmentations (exact; O(n^3), n is at most a few dozen).
Pairs inside a block more similar than ``tau`` add to the score and less similar pairs subtract,
so a block is a run of layers that are mutually more similar than ``tau``. The default ``tau`` is
the midpoint between the mean off-diagonal similarity and its maximum, which separates planted
blocks whose inside is markedly more similar than their outside; it is recorded with the blocks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..stats import EPS


@dataclass(frozen=True)
class Block:
    """Hidden-state indices ``start``..``end`` (inclusive) and their mean pairwise similarity."""

    start: int
    end: int
    mean_similarity: float | None  # None for a block of one

    def as_dict(self) -> dict:
        return asdict(self)


def default_threshold(sim: np.ndarray) -> float:
    off = sim[~np.eye(len(sim), dtype=bool)]
    return float((off.mean() + off.max()) / 2) if off.size else 0.0


def find_blocks(sim: np.ndarray, tau: float | None = None) -> tuple[list[Block], float]:
    """Contiguous blocks of a symmetric similarity matrix; returns (blocks, tau used)."""
    s = np.asarray(sim, dtype=np.float64)
    n = len(s)
    if n == 0:
        return [], 0.0
    tau = default_threshold(s) if tau is None else float(tau)
    gain = s - tau
    np.fill_diagonal(gain, 0.0)
    # seg[a, b]: score of one block a..b (inclusive), from 2D prefix sums
    pre = np.zeros((n + 1, n + 1))
    pre[1:, 1:] = gain.cumsum(0).cumsum(1)

    def seg(a: int, b: int) -> float:
        return pre[b + 1, b + 1] - pre[a, b + 1] - pre[b + 1, a] + pre[a, a]

    best = np.full(n + 1, -np.inf)
    best[0] = 0.0
    cut = np.zeros(n + 1, dtype=int)
    for b in range(1, n + 1):
        for a in range(b):  # last block is a..b-1; ties keep the longest last block (smallest a)
            v = best[a] + seg(a, b - 1)
            if v > best[b] + EPS:
                best[b], cut[b] = v, a
    bounds, b = [], n
    while b > 0:
        bounds.append((cut[b], b - 1))
        b = cut[b]
    blocks = []
    for a, b in reversed(bounds):
        if b > a:
            idx = np.arange(a, b + 1)
            inner = s[np.ix_(idx, idx)][~np.eye(len(idx), dtype=bool)]
            blocks.append(Block(int(a), int(b), float(inner.mean())))
        else:
            blocks.append(Block(int(a), int(b), None))
    return blocks, tau
