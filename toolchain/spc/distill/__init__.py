"""Mimic distillation: replace the whole transformer stack by one or two small blocks."""

from ..models import MimicConfig, build_student
from .trainer import DistillConfig, DistillResult, distill

__all__ = ["MimicConfig", "build_student", "DistillConfig", "DistillResult", "distill"]
