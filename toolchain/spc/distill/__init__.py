"""Mimic distillation: replace the whole transformer stack by one or two small blocks."""

from .mimic import MimicConfig, MimicStudent, build_student
from .trainer import DistillConfig, distill

__all__ = ["MimicConfig", "MimicStudent", "build_student", "DistillConfig", "distill"]
