"""Gate branches in toolchain/spc that no other test reaches (notes/gates.md): each driven with hand-built inputs,
its outcome checked against what the rule says for them, worked out here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from rich.text import Text

from spc.console import compress_verdict_line
from spc.export.parity import ParityReport, check_parity
from spc.prune.results import OrderResult, judge_cut
from spc.prune.search import choose_cuts
from spc.compress_report import _stream_lines
from spc.stats import CandidateScore, choose_candidate, combined_verdict, retention_interval
from spc.streaming.detector import detector_verdict


# ---------------------------------------------------------------- export/parity.py: top-1 agreement alone (row 82)
def test_parity_report_fails_on_top1_agreement_alone():
    cases = [{"batch": 1, "samples": 100, "max_abs_diff": 1e-5, "tolerance": 1e-3, "top1_same": 1, "passed": True},
             {"batch": 3, "samples": 100, "max_abs_diff": 2e-5, "tolerance": 1e-3, "top1_same": 2, "passed": True}]
    report = ParityReport(2e-5, 3 / 4, cases)  # every case within tolerance; 3 of 4 clips agree on top-1
    assert all(c["max_abs_diff"] <= c["tolerance"] for c in cases)
    assert not report.passed and not report and report.as_dict()["passed"] is False
    assert ParityReport(2e-5, 3 / 4, cases, min_agreement=0.75).passed  # the same figures pass at a lower minimum


class _TwoLogits(torch.nn.Module):
    """logits [mean, mean + 1e-4]: class 1 always wins by 1e-4."""

    def forward(self, x):
        m = x.mean(dim=1, keepdim=True)
        return torch.cat([m, m + 1e-4], dim=1)


def _swapped_onnx(path, batch: int | str = "B"):
    """The same logits in the other order, [mean + 1e-4, mean]: within 1e-3 of PyTorch, class 0 always wins."""
    import onnx
    from onnx import TensorProto, helper

    eps = helper.make_tensor("eps", TensorProto.FLOAT, [], [1e-4])
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
             helper.make_node("Add", ["m", "eps"], ["m2"]),
             helper.make_node("Concat", ["m2", "m"], ["logits"], axis=1)]
    graph = helper.make_graph(nodes, "swapped", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, "N"])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 2])], [eps])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_check_parity_fails_on_top1_when_every_case_is_within_tolerance(tmp_path):
    audio = (0.1 * np.random.default_rng(0).standard_normal((3, 800))).astype(np.float32)
    path = _swapped_onnx(tmp_path / "swapped.onnx")
    report = check_parity(_TwoLogits(), path, audio, batch_sizes=(1, 3), lengths=(800, 400))
    assert len(report.cases) == 4 and all(c["passed"] for c in report.cases)
    assert report.max_abs_diff == pytest.approx(1e-4, rel=1e-2) and report.max_abs_diff <= 1e-3
    assert report.top1_agreement == 0.0 and not report.passed  # every top-1 differs: failed on agreement alone
    assert check_parity(_TwoLogits(), path, audio, batch_sizes=(1,), min_agreement=0.0).passed


def test_check_parity_counts_a_case_onnx_runtime_cannot_run_as_failed(tmp_path):
    """Row 81: a graph fixed at batch 1 cannot run batch 3; that case fails with an infinite difference."""
    audio = (0.1 * np.random.default_rng(1).standard_normal((3, 800))).astype(np.float32)
    path = _swapped_onnx(tmp_path / "b1.onnx", batch=1)
    report = check_parity(_TwoLogits(), path, audio, batch_sizes=(1, 3), min_agreement=0.0)
    by_batch = {c["batch"]: c for c in report.cases}
    assert by_batch[1]["passed"] and "error" not in by_batch[1]
    assert not by_batch[3]["passed"] and by_batch[3]["max_abs_diff"] == math.inf and by_batch[3]["error"]
    assert report.max_abs_diff == math.inf and not report.passed


# ---------------------------------------------------------------- streaming/detector.py: detector_verdict (rows 52, 55)
@pytest.mark.parametrize("ci", ["absent", None, [None, None], [None, 1.0]])
def test_detector_verdict_without_a_lower_bound_is_not_significant(ci):
    row = {"judged": True, "retention": 0.97, "keywords": 40}
    if ci != "absent":
        row["retention_ci"] = ci
    assert detector_verdict(row, 0.95) == "PASS, not significant at 40 keywords"
    assert detector_verdict({**row, "retention_ci": [0.951, 0.99]}, 0.95) == "PASS"  # with a bound above: PASS
    assert detector_verdict({**row, "retention": 0.94}, 0.95) == "FAIL"  # below the target: FAIL, bound or not


def test_detector_verdict_names_no_count_when_the_row_has_none():
    assert detector_verdict({"judged": True, "retention": 1.0}, 0.95) == "PASS, not significant at these keywords"


def test_detector_verdict_of_a_nan_retention_is_none():
    row = {"judged": True, "retention": float("nan"), "retention_ci": [0.96, 0.99], "keywords": 40}
    assert detector_verdict(row, 0.95) is None
    assert detector_verdict({**row, "retention": 0.97}, 0.95) == "PASS"  # the same row with a number is judged


# ---------------------------------------------------------------- console.py: verdict line colours (rows 106-108)
def _report(final: dict) -> dict:
    return {"chosen": "pruned-2", "retention_target": 0.95,
            "final": {"retention": 0.93, "retention_ci": [0.9, 0.96], "speedup_p50": 2.0, **final}}


def _style(line: str) -> str:
    text = Text.from_markup(line)
    verdict_end = text.plain.index(":")
    (span,) = [s for s in text.spans if s.start == 0]
    assert span.end == verdict_end  # the colour covers the verdict, nothing else
    return str(span.style)


@pytest.mark.parametrize("final, plain, style", [
    ({"verdict": "FAIL (clip accuracy)"}, "FAIL (clip accuracy)", "bold red"),
    ({"verdict": "FAIL"}, "FAIL", "bold red"),
    ({"passed": False}, "FAIL", "bold red"),  # no verdict recorded, not passed
    ({"verdict": "PASS, not significant at 250 clips"}, "PASS, not significant at 250 clips", "bold yellow"),
    ({"passed": True}, "PASS", "bold green"),
])
def test_compress_verdict_line_colour(final, plain, style):
    line = compress_verdict_line(_report(final), "out/report.md")
    assert Text.from_markup(line).plain.startswith(f"{plain}: pruned-2 keeps 0.930 [0.900, 0.960]")
    assert _style(line) == style


# ---------------------------------------------------------------- prune/search.py: choose_cuts (rows 73, 78)
def _correct(n: int, wrong: int) -> np.ndarray:
    out = np.ones(n, dtype=bool)
    out[:wrong] = False
    return out


def test_choose_cuts_without_a_safe_cut_gives_no_safe_cut():
    original = _correct(700, 27)  # 673 right: the 95% target needs ceil(0.95 * 673) = 640
    point_only = original.copy()
    point_only[np.flatnonzero(original)[:26]] = False  # 647 right: above the target by 7 clips, interval below it
    failing = original.copy()
    failing[np.flatnonzero(original)[:40]] = False  # 633 right < 640
    one = judge_cut("backward", [0, 1, 2, 3, 4], 6, original, point_only, 0.95, seed=0)
    two = judge_cut("backward", [0, 1, 2, 3], 6, original, failing, 0.95, seed=0)
    lo, _ = retention_interval(original, point_only, seed=0)
    assert lo < 0.95 <= 647 / 673 and one.standing == "point estimate only" and two.standing == "fails"
    backward = OrderResult("backward", [5, 4], [1.0, 0.92, 0.9], 0, [0, 1, 2, 3, 4, 5], 0.96, cuts=[one, two],
                           removed_point=1)
    best, safe, point, depths = choose_cuts([backward])
    assert best is backward and safe is None  # nothing removed safely: no safe cut
    assert point is one and depths == [one]  # the 1-layer cut is flagged and is a candidate of its own
    nothing = OrderResult("bi", [1, 2], [1.0, 0.8], 0, [0, 1, 2, 3, 4, 5], 0.96, cuts=[two], removed_point=0)
    best, safe, point, depths = choose_cuts([nothing])
    assert best is nothing and safe is None and point is None and depths == []


def test_choose_cuts_with_only_random_baselines_chooses_among_them():
    original = _correct(700, 27)
    clearly = original.copy()
    clearly[np.flatnonzero(original)[:3]] = False  # 670 right: safe
    cut = judge_cut("random-s1", [0, 1, 2, 3], 6, original, clearly, 0.95, seed=0)
    assert cut.standing == "safe"
    r0 = OrderResult("random-s0", [3, 1], [1.0, 0.7], 0, list(range(6)), 0.96, baseline=True, cuts=[])
    r1 = OrderResult("random-s1", [2, 4], [1.0, 0.95, 0.95], 2, [0, 1, 2, 3], 0.95, baseline=True, cuts=[cut])
    best, safe, point, depths = choose_cuts([r0, r1])
    assert best is r1 and safe is cut and point is None and depths == [cut]


# ---------------------------------------------------------------- compress_report.py: _stream_lines "not resolved" (row 66)
def test_stream_lines_say_not_resolved_instead_of_a_miss_rate():
    def model(resolved: bool, miss: float) -> dict:
        return {"resolved": resolved, "miss_rate": miss, "miss_rate_ci": [miss - 0.05, miss + 0.1],
                "operating_point": {"threshold": 0.5, "smooth": 3, "refractory_seconds": 1.0}, "fa_per_hour": 0.8,
                "oracle": {"miss_rate": miss - 0.02}, "latency_median_s": 0.3}

    stream = {"keywords": ["yes"], "snr_db": [5, 20], "negative_hours": 0.5, "max_fa_per_hour": 1.0,
              "det_png": "stream/det.png", "json": "stream/stream.json",
              "original": model(True, 0.1), "compressed": model(False, 0.3)}
    rows = {line.split(" | ")[0].strip("| "): line for line in _stream_lines(stream) if line.startswith("| original")
            or line.startswith("| compressed")}
    assert " | 0.100 (0.050-0.200) | 0.80 | 0.080 | 0.30 s |" in rows["original"]
    assert " | not resolved | 0.80 | 0.280 | 0.30 s |" in rows["compressed"]
    assert "0.300" not in rows["compressed"]  # the unresolved miss rate is not shown
    assert "one false accept = 2 per hour" in "\n".join(_stream_lines(stream))


# ---------------------------------------------------------------- stats.py: combined_verdict, choose_candidate (5-10, 18)
def test_combined_verdict_branches():
    ns = "not significant at 250 clips"
    assert combined_verdict(f"PASS, {ns}", None) == f"PASS, {ns}" and combined_verdict("FAIL", None) == "FAIL"
    assert combined_verdict("FAIL", "PASS") == "FAIL (clip accuracy)"
    assert combined_verdict("FAIL", "FAIL") == "FAIL (clip accuracy and detector)"
    assert combined_verdict("PASS", "FAIL") == "FAIL (detector)"
    assert combined_verdict(f"PASS, {ns}", "PASS") == f"PASS, {ns}"
    assert (combined_verdict(f"PASS, {ns}", "PASS, not significant at 40 keywords")
            == f"PASS, {ns}; not significant at 40 keywords")
    assert combined_verdict("PASS", "PASS") == "PASS"


def test_choice_names_both_halves_when_clip_and_detector_miss():
    both = CandidateScore(0.93, (0.9, 0.96), 1.0, detector_retention=0.90, detector_interval=(0.85, 0.95))
    det = CandidateScore(0.99, (0.97, 1.0), 2.0, detector_retention=0.92, detector_interval=(0.88, 0.96))
    pick = choose_candidate({"both": both, "det": det}, 0.95, 250)
    # min(clip, detector): both 0.90, det 0.92 -> det has the highest retention; its clip retention is at the target
    assert pick.name == "det" and pick.standing == "fails" and pick.reason.endswith("detector below the target)")
    pick = choose_candidate({"both": both}, 0.95, 250)
    assert pick.name == "both" and pick.standing == "fails"
    assert pick.reason.endswith("(0.900 < 0.950; clip accuracy and detector below the target)")
