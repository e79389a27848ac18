"""Removing whole transformer layers without retraining (orders, fast candidate evaluation, surgery)."""

from .orders import ORDERS
from .search import PruneConfig, PruneResult, prune_search
from .surgery import prune_model

__all__ = ["ORDERS", "PruneConfig", "PruneResult", "prune_search", "prune_model"]
