"""Cutting layers out of a model so that the result is a normal transformers checkpoint."""

from __future__ import annotations

import copy
from typing import Sequence

from ..errors import SpcError


def prune_model(model, keep: Sequence[int]):
    """A copy of ``model`` (a ``SpeechClassifier``) with only the layers ``keep`` (0-based, any order given).

    The config's layer count, WavLM's position-bias table and the weighted-layer-sum weights follow.
    """
    n = model.num_layers
    keep = sorted(set(int(i) for i in keep))
    if not keep:
        raise SpcError("cannot remove every layer: keep at least one")
    if keep[0] < 0 or keep[-1] >= n:
        raise SpcError(f"layer indices must be in 0..{n - 1}, got {keep}")
    pruned = copy.deepcopy(model)
    pruned.adapter.keep_layers(pruned.hf, keep)
    prov = dict(pruned.meta.provenance)
    prov["kept_layers"] = [prov["kept_layers"][i] for i in keep] if "kept_layers" in prov else keep
    prov["original_layers"] = prov.get("original_layers", n)
    pruned.meta.provenance = prov
    return pruned


def stackless(model):
    """A copy of ``model`` with no transformer layer: its front end and head alone (untrained as such, never a
    candidate). Its latency is the floor that replacing the stack cannot go below."""
    floor = copy.deepcopy(model)
    floor.adapter.keep_layers(floor.hf, [])
    floor.meta.provenance = {**floor.meta.provenance, "kept_layers": [], "original_layers": model.num_layers,
                             "recipe": "latency floor (no stack)"}
    return floor
