"""compress's settings: one frozen, versioned config (written into the report; ``--config`` replays it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ...distill import DistillConfig, MimicConfig
from ...errors import SpcError
from ...prune import PruneConfig
from ...streaming.evaluation import StreamEvalConfig

METHODS = ("auto", "prune", "mimic")
REPORT = "report.json"
PRUNE_ORDERS = ("bi", "bi-iterative", "backward", "greedy")


@dataclass(frozen=True)
class CompressConfig:
    """Settings of a compress run (written into the report); ``retention`` also sets the pruning target."""

    method: str = "auto"
    retention: float = PruneConfig.retention
    analysis_clips: int = 256
    prune: PruneConfig = field(default_factory=lambda: PruneConfig(orders=PRUNE_ORDERS))
    mimic: MimicConfig = field(default_factory=MimicConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    latency_runs: int = 20
    seed: int = 0
    calib: str | None = None  # calibration manifest for analysis and BI scoring (else a seeded sample)
    stream: bool = True  # judge every candidate (validation) and the chosen artifact (test) as streaming detectors
    #: how detectors are judged: keywords, the false-accept budget, the streams (SNR, noise, hours of negatives) and
    #: the choices an operating point may make; the chosen artifact carries its point in its manifest
    detector: StreamEvalConfig = field(default_factory=StreamEvalConfig)
    negatives: str | None = None  # a folder of the user's own long non-keyword recordings (the test streams)
    #: keyword-free espeak-ng speech the heals' and students' stream-like training windows are also cut from
    train_negatives_hours: float = 1.0
    #: CPU targets: the INT8 CPU variant (integer projections, static INT8 convolutions) of the original and of each
    #: candidate competes too (off by default: it doubles the candidates, so the time spent judging them as detectors)
    int8_cpu: bool = False
    #: a tiny student with its own front end (``MimicConfig`` kind ``tiny``) as one more candidate (None: none)
    tiny: MimicConfig | None = None
    version: int = 5

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SpcError(f"unknown method '{self.method}'; choose {', '.join(METHODS)}")
        if not 0 < self.retention <= 1:
            raise SpcError(f"the retention target must be in (0, 1], got {self.retention}")
        if self.analysis_clips < 4 or self.latency_runs < 1:
            raise SpcError("compress needs at least 4 analysis clips and 1 timed run")
        if not (0 <= self.train_negatives_hours <= 100):
            raise SpcError("the training negative audio must be 0-100 hours")
        if self.tiny is not None and self.tiny.kind != "tiny":
            raise SpcError(f"the tiny candidate must be of kind 'tiny', got '{self.tiny.kind}'")
        object.__setattr__(self, "prune", replace(self.prune, retention=self.retention, seed=self.seed))

    def as_dict(self) -> dict:
        return asdict(self)

    def wants(self, method: str) -> bool:
        """Whether this run makes candidates by ``method`` ("prune" or "mimic"; "auto" makes both)."""
        return self.method in ("auto", method)
