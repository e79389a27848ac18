"""Removing whole transformer layers (orders, fast candidate evaluation, healing, surgery)."""

from .heal import HEALS, HealConfig
from .orders import ORDERS
from .search import PruneConfig, PruneResult, prune
from .surgery import prune_model

__all__ = ["ORDERS", "HEALS", "HealConfig", "PruneConfig", "PruneResult", "prune", "prune_model"]
