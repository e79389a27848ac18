"""Registry of family adapters keyed by ``config.model_type`` (one adapter instance per family)."""

from __future__ import annotations

from ..errors import SpcError

_ADAPTERS: dict[str, object] = {}


def register(cls):
    """Class decorator: register an adapter for each of its ``model_types``."""
    inst = cls()
    for mt in cls.model_types:
        _ADAPTERS[mt] = inst
    return cls


def supported_model_types() -> list[str]:
    """The ``model_type`` values spc can handle, sorted."""
    return sorted(_ADAPTERS)


def get_adapter(model_type: str):
    """The adapter for ``model_type``; a user error listing the supported families otherwise."""
    try:
        return _ADAPTERS[model_type]
    except KeyError:
        raise SpcError(
            f"unsupported model type '{model_type}'; spc handles: {', '.join(supported_model_types())}"
        ) from None
