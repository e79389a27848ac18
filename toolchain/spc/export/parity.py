"""Parity of an ONNX file with the PyTorch model it came from, on clips of several lengths and batch sizes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..engines.ort_run import ort_errors, ort_session
from ..errors import SpcError


class ParityError(SpcError):
    """The exported graph disagrees with PyTorch beyond the tolerance."""


@dataclass
class ParityReport:
    """Largest absolute logit difference and top-1 agreement over every case checked."""

    max_abs_diff: float
    top1_agreement: float
    cases: list[dict] = field(default_factory=list)
    atol: float = 1e-3
    rtol: float = 1e-3
    min_agreement: float = 1.0

    @property
    def passed(self) -> bool:
        return all(c["passed"] for c in self.cases) and self.top1_agreement >= self.min_agreement

    def __bool__(self) -> bool:
        return self.passed

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def check_parity(model, onnx_path, audio: np.ndarray, batch_sizes=(1, 3), lengths: tuple[int, ...] | None = None,
                 atol: float = 1e-3, rtol: float = 1e-3, min_agreement: float = 1.0) -> ParityReport:
    """Run both on ``audio`` clips cut to each length (samples) in batches of each size; compare logits.

    A case passes when max|onnx - torch| <= atol + rtol * max|torch|.
    """
    sess = ort_session(onnx_path)
    name = sess.get_inputs()[0].name
    lengths = lengths or (audio.shape[1],)
    cases, agree, total, worst = [], 0, 0, 0.0
    model = model.eval()
    for n in lengths:
        for b in batch_sizes:
            x = np.ascontiguousarray(audio[:b, :n]) if len(audio) >= b else np.resize(audio[:, :n], (b, n))
            with torch.inference_mode():
                ref = model(torch.from_numpy(x)).float().numpy()
            try:
                out = sess.run(None, {name: x})[0]
            except ort_errors() as exc:  # a graph that cannot run this shape disagrees by definition
                cases.append({"batch": b, "samples": n, "error": str(exc).splitlines()[0][:300], "passed": False,
                              "max_abs_diff": float("inf"), "top1_same": 0})
                total += b
                worst = float("inf")
                continue
            diff = float(np.abs(out - ref).max())
            tol = atol + rtol * float(np.abs(ref).max())
            same = int((out.argmax(1) == ref.argmax(1)).sum())
            agree += same
            total += b
            worst = max(worst, diff)
            cases.append({"batch": b, "samples": n, "max_abs_diff": diff, "tolerance": tol, "top1_same": same,
                          "passed": diff <= tol})
    return ParityReport(worst, agree / total, cases, atol, rtol, min_agreement)
