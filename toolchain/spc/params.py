"""Parameter accounting per part of a model: feature encoder, transformer stack, head."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn


@dataclass(frozen=True)
class ParamCount:
    """Parameter counts; ``other`` holds what belongs to no part (e.g. the SpecAugment mask vector)."""

    feature_encoder: int
    stack: int
    stack_layers: int
    head: int
    other: int
    total: int

    def as_dict(self) -> dict:
        return asdict(self)


def _count(modules: list[nn.Module], seen: set[int]) -> int:
    n = 0
    for m in modules:
        for p in m.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
    return n


def count_parameters(model) -> ParamCount:
    """Count a ``SpeechClassifier``'s (or a mimic student's) parameters per part, each counted once."""
    parts = model.parts()
    seen: set[int] = set()
    layers = _count(list(model.layers), set())
    fe = _count(parts.feature_encoder, seen)
    stack = _count(parts.stack, seen)
    head = _count(parts.head, seen)
    for p in model.adapter.extra_head_parameters(model.hf):
        if id(p) not in seen:
            seen.add(id(p))
            head += p.numel()
    total = sum(p.numel() for p in model.parameters())
    return ParamCount(fe, stack, layers, head, total - fe - stack - head, total)
