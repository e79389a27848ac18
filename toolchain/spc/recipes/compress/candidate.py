"""What compress weighs against the original: a ``Candidate`` per model, made by registered ``Producer``s.

A producer is one kind of candidate (pruned depths, the mimic student, the tiny student, INT8 variants): whether a
run's settings ask for it and how it is made. compress loops over the producers the settings want, so adding a kind
is one module under ``producers/`` calling ``register`` (as torchao registers a transform per config). Torch-free:
the report renders its rows from ``Candidate.from_dict`` on a board too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Callable

from ...errors import SpcError


@dataclass
class Candidate:
    """One model and its figures, filled in stage by stage; ``as_dict`` is its row in report.json."""

    method: str  # how it was made: none (the original), prune, mimic, tiny, METHOD+int8-cpu
    model: str = ""  # the model folder it was made as (an INT8 variant: its FP32 source's; "" in older reports)
    summary: str | None = None  # the making stage's record (prune.json, distill.json)
    heal_seconds: float | None = None  # prune: time spent healing every depth
    distill_seconds: float | None = None  # students: training time
    int8_of: str | None = None  # INT8 variants: the candidate quantised
    # stage 5, export
    weights_sha256: str = ""
    onnx: str = ""
    parity: dict | None = None  # max |diff| and top-1 agreement against PyTorch (INT8: against FP32)
    params: dict | None = None
    # stage 6, validation: as a classifier, as a detector, and timed
    val_accuracy: float | None = None
    val_retention: float | None = None
    val_retention_ci: list | None = None
    val_margin_clips: int | None = None
    detector_val: dict | None = None  # judge_validation's row: the operating point, hit rate, retention
    latency_onnx_ms: dict | None = None  # its ONNX export on ONNX Runtime, batch 1
    latency_ratio: float | None = None  # to the original's
    latency_x_floor: float | None = None  # to the stackless floor's
    latency_target_ms: dict | None = None  # as built for the target (where built here)
    latency_target_ratio: float | None = None

    def as_dict(self) -> dict:
        """The report row: every field that was filled in."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, row: dict) -> "Candidate":
        """A report row back into a candidate (keys this spc does not know are left out)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in known})

    def passes_clips(self, retention: float, eps: float) -> bool:
        """Whether its validation clip retention meets the target (what earns a detector reading and a build)."""
        return self.val_retention is not None and self.val_retention >= retention - eps


@dataclass(frozen=True)
class Producer:
    """A kind of candidate. ``make(run)`` returns {name: Candidate} made from the original (stages 3-4); a
    ``variant`` producer's ``make(run, exported)`` derives candidates from the exported ones (stage 5a) and
    exports them itself. ``wanted(config, target)`` says whether a run's ``CompressConfig`` asks for it on that target."""

    name: str
    wanted: Callable  # (CompressConfig, Target) -> bool
    make: Callable  # (Run) -> dict[str, Candidate]; variant: (Run, dict[str, Candidate]) -> dict[str, Candidate]
    variant: bool = False


_REGISTRY: dict[str, Producer] = {}


def register(producer: Producer) -> Producer:
    """Add a kind of candidate (a later one of the same name replaces it)."""
    _REGISTRY[producer.name] = producer
    return producer


def registered() -> dict[str, Producer]:
    """The registered producers by name, in registration order (``producers`` registers the built-ins)."""
    return _REGISTRY


def check_names(made: dict[str, Candidate], taken) -> None:
    """Refuse a producer's candidate whose name another already took (or "original")."""
    clash = sorted(set(made) & ({"original"} | set(taken)))
    if clash:
        raise SpcError(f"two candidates are named {', '.join(clash)}: a producer must give its candidates unique names")
