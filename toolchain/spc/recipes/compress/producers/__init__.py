"""The built-in kinds of compress candidate, one module each (each calls ``candidate.register`` when imported, in
this order: pruned depths, students, then the INT8 variants derived from the exports), and the lookup compress uses."""

from __future__ import annotations

from ..candidate import Producer, registered
from . import pruned, students, int8_variants  # noqa: F401,E402 (each registers itself)


def wanted(config, target, *, variant: bool) -> list[Producer]:
    """The producers ``config`` asks for on ``target``, in registration order (before export, or the variants)."""
    return [p for p in registered().values() if p.variant == variant and p.wanted(config, target)]


def producer_names() -> tuple[str, ...]:
    return tuple(registered())
