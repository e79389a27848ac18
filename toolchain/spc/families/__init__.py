"""Model families spc supports, one adapter each (see ``base.py`` for the interface)."""

from . import wav2vec2, wavlm, whisper  # noqa: F401  (registers the adapters)
from .base import FamilyAdapter, Parts
from .registry import get_adapter, supported_model_types

__all__ = ["FamilyAdapter", "Parts", "get_adapter", "supported_model_types"]
