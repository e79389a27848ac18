"""Distillation: replace the whole transformer stack by one or two small blocks (a mimic), or the whole model by a
tiny student with its own front end."""

from ..models import MimicConfig, build_student
from .tiny import distill_tiny, is_tiny
from .trainer import DistillConfig, DistillResult, distill_mimic


def distill(student, teacher, *args, **kwargs) -> DistillResult:
    """Train ``student`` from ``teacher`` (arguments as ``trainer.distill_mimic``): a tiny student by
    ``tiny.distill_tiny``, a mimic or a pruned model by ``trainer.distill_mimic``."""
    return (distill_tiny if is_tiny(student) else distill_mimic)(student, teacher, *args, **kwargs)


__all__ = ["MimicConfig", "build_student", "DistillConfig", "DistillResult", "distill", "distill_mimic", "distill_tiny"]
