"""The operating point an app runs a detector at, and where it came from: one object from evaluation to the app.

compress chooses it on validation streams at the user's false-accept budget and writes it into the artifact's
manifest (``operating_point``); ``KeywordSpotter``, ``StreamingSpotter``, ``spc run --stream``, ``spc stream-eval``
and ``examples/kws_app`` run at it unless told otherwise (microWakeWord's manifest carries its
``probability_cutoff`` and ``sliding_window_size`` the same way). No torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from ..errors import SpcError

MANIFEST_KEY = "operating_point"
VERSION = 1
MAX_SMOOTH = 1000  # windows: a bound a live history can hold (a billion-row history is a user error)
MAX_REFRACTORY = 3600.0


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class OperatingPoint:
    """How a live spotter decides (hop, smoothing, threshold, refractory period, logit temperature), and the
    evidence it was chosen on: the false-accept budget, the validation FA/h and miss rate at it, and the hours of
    negative audio behind them (None where it was set by hand, not chosen)."""

    threshold: float = 0.8  # a keyword is detected where its smoothed posterior reaches this
    smooth: int = 3  # posteriors averaged over this many windows
    refractory_seconds: float = 1.0  # at most one detection per this many seconds
    hop_seconds: float = 0.1  # windows start this often
    temperature: float = 1.0  # logits are divided by this before the softmax
    max_fa_per_hour: float | None = None  # the budget it was chosen at
    fa_per_hour: float | None = None  # validation false accepts per hour at it
    miss_rate: float | None = None  # validation miss rate at it
    negative_hours: float | None = None  # hours of validation negative audio behind those figures
    keywords: int | None = None  # validation keyword occurrences behind the miss rate
    chosen_on: str | None = None  # what it was chosen on ("validation streams of DATA"), None: set by hand
    version: int = VERSION

    def __post_init__(self) -> None:
        problems = []
        if not (_finite(self.threshold) and 0 < self.threshold <= 1):
            problems.append(f"threshold must be in (0, 1], got {self.threshold!r}")
        if not (isinstance(self.smooth, int) and not isinstance(self.smooth, bool) and 1 <= self.smooth <= MAX_SMOOTH):
            problems.append(f"smoothing must be a whole number of windows in [1, {MAX_SMOOTH}], got {self.smooth!r}")
        if not (_finite(self.refractory_seconds) and 0 <= self.refractory_seconds <= MAX_REFRACTORY):
            problems.append(f"refractory must be in [0, {MAX_REFRACTORY:g}] seconds, got {self.refractory_seconds!r}")
        if not (_finite(self.hop_seconds) and 0.001 <= self.hop_seconds <= 10):
            problems.append(f"hop must be in [0.001, 10] seconds, got {self.hop_seconds!r}")
        if not (_finite(self.temperature) and 1e-3 <= self.temperature <= 1e3):
            problems.append(f"temperature must be in [0.001, 1000], got {self.temperature!r}")
        for name in ("max_fa_per_hour", "fa_per_hour", "negative_hours"):
            v = getattr(self, name)
            if v is not None and not (_finite(v) and v >= 0):
                problems.append(f"{name} must be a finite number >= 0, got {v!r}")
        if self.miss_rate is not None and not (_finite(self.miss_rate) and 0 <= self.miss_rate <= 1):
            problems.append(f"miss_rate must be in [0, 1], got {self.miss_rate!r}")
        if self.version != VERSION:
            problems.append(f"version {self.version!r} is not {VERSION} (written by another spc)")
        if problems:
            raise SpcError("operating point: " + "; ".join(problems))

    @property
    def chosen(self) -> bool:
        """True where it was chosen on evidence (a budget and negative audio), not set by hand."""
        return self.max_fa_per_hour is not None and self.negative_hours is not None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object, where: str = "operating point") -> "OperatingPoint":
        """Read one back (a manifest's ``operating_point``); one user error for a damaged one."""
        if not isinstance(data, dict):
            raise SpcError(f"{where} is not a JSON object")
        known = {f.name for f in fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise SpcError(f"{where} has unknown fields {extra}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise SpcError(f"{where}: {exc}") from None

    def with_overrides(self, **changes) -> "OperatingPoint":
        """This point with the given settings changed by hand (None values ignored); changing a decision setting
        drops the evidence, which no longer describes it."""
        changes = {k: v for k, v in changes.items() if v is not None}
        decided = {"threshold", "smooth", "refractory_seconds", "hop_seconds", "temperature"}
        if not changes or all(getattr(self, k) == v for k, v in changes.items()):
            return self
        keep_evidence = not (decided & {k for k, v in changes.items() if getattr(self, k) != v})
        base = self if keep_evidence else replace(self, max_fa_per_hour=None, fa_per_hour=None, miss_rate=None,
                                                  negative_hours=None, keywords=None, chosen_on=None)
        return replace(base, **changes)

    def describe(self) -> str:
        """One line: the settings, and the evidence where there is some."""
        s = (f"threshold {self.threshold:.6g}, smoothing {self.smooth}, refractory {self.refractory_seconds:g} s, "
             f"hop {self.hop_seconds:g} s" + (f", temperature {self.temperature:.4g}" if self.temperature != 1 else ""))
        if self.chosen:
            s += (f" (chosen at {self.max_fa_per_hour:g} FA/h on {self.negative_hours:.2f} h of validation negatives: "
                  f"{self.fa_per_hour:.2f} FA/h, miss rate {self.miss_rate:.3f})")
        return s


#: what a live spotter runs at where the artifact carries no operating point
DEFAULT = OperatingPoint()


def from_manifest(manifest: dict, where: str = "the artifact") -> OperatingPoint | None:
    """The operating point an artifact's manifest carries, or None where it has none."""
    data = manifest.get(MANIFEST_KEY)
    return None if data is None else OperatingPoint.from_dict(data, f"the operating point of {where}")
