"""Removal orders: each returns layer indices (0-based) in the order they are removed, L-1 of them.

Block Influence (BI) orders need scores; greedy and iterative BI are computed in ``search.py``
because they look at the model after every removal.
"""

from __future__ import annotations

import numpy as np

ORDERS = ("bi", "bi-iterative", "backward", "forward", "random", "greedy")


def order_bi(bi: list[float]) -> list[int]:
    """Lowest Block Influence first (ShortGPT); ties keep the earlier layer first."""
    return [int(i) for i in np.argsort(np.asarray(bi), kind="stable")][: len(bi) - 1]


def order_backward(n_layers: int) -> list[int]:
    """Drop the last layers first: L-1, L-2, ..., 1."""
    return list(range(n_layers - 1, 0, -1))


def order_forward(n_layers: int) -> list[int]:
    """Drop from the front but keep the first layer: 1, 2, ..., L-1."""
    return list(range(1, n_layers))


def order_random(n_layers: int, seed: int) -> list[int]:
    """A seeded random order (a baseline)."""
    return [int(i) for i in np.random.default_rng(seed).permutation(n_layers)[: n_layers - 1]]
