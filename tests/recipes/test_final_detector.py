"""compress's test verdict in both terms (``recipes.compress.detect.final_detector``), each branch from planted rows:
the detector judged, not judged (an unresolved budget), never read on validation, and a clip FAIL with a held
detector."""

from __future__ import annotations

import pytest

from spc.recipes.compress import CompressConfig
from spc.recipes.compress.detect import final_detector

CONFIG = CompressConfig(retention=0.95)


def _stream(compressed: dict, original: dict | None = None) -> dict:
    return {"results": {"compressed": compressed, "original": original or {"judged": True, "hit_rate": 0.9}}}


def _final(clip: str = "PASS", passed: bool = True) -> dict:
    return {"clip_verdict": clip, "passed": passed}


def test_a_judged_detector_that_holds_passes_and_one_that_misses_fails():
    held = {"judged": True, "retention": 0.99, "retention_ci": [0.96, 1.0], "keywords": 60, "operating_point": {}}
    out = final_detector(_stream(held), _final(), CONFIG)
    assert out["verdict"] == "PASS" and out["passed"] and out["detector"]["original_hit_rate"] == 0.9
    deaf = {**held, "retention": 0.5, "retention_ci": [0.4, 0.6]}
    out = final_detector(_stream(deaf), _final(), CONFIG)
    assert out["verdict"] == "FAIL (detector)" and not out["passed"]


def test_a_clip_fail_fails_the_run_though_the_detector_holds():
    held = {"judged": True, "retention": 0.99, "retention_ci": [0.96, 1.0], "keywords": 60, "operating_point": {}}
    out = final_detector(_stream(held), _final("FAIL", passed=False), CONFIG)
    assert out["verdict"] == "FAIL (clip accuracy)" and not out["passed"] and out["detector"]["judged"]


def test_an_unresolved_budget_leaves_the_clip_verdict_and_says_why():
    unresolved = {"judged": False, "retention": None, "why": "2 h of negatives cannot resolve 0.1 FA/h",
                  "operating_point": {}}
    out = final_detector(_stream(unresolved), _final(), CONFIG)
    assert out["verdict"] == "PASS" and out["passed"]
    assert not out["detector"]["judged"] and out["detector"]["why"].startswith("2 h of negatives")


def test_a_chosen_candidate_never_read_on_validation_carries_no_point_to_judge():
    row = {"judged": True, "retention": 0.2, "retention_ci": [0.1, 0.3], "operating_point": None}
    chosen_val = {"judged": False, "why": "fails the clip gate on validation: not read as a detector"}
    out = final_detector(_stream(row), _final("FAIL", passed=False), CONFIG, chosen_val)
    assert not out["detector"]["judged"] and out["detector"]["retention"] is None
    assert out["detector"]["why"] == ("fails the clip gate on validation: not read as a detector: no operating point "
                                      "to judge it at")
    assert out["verdict"] == "FAIL" and not out["passed"]


def test_without_streams_the_clip_verdict_is_the_verdict():
    out = final_detector(None, _final("PASS, not significant at 90 clips"), CONFIG)
    assert out == {"detector": {"judged": False}, "verdict": "PASS, not significant at 90 clips"}


@pytest.mark.parametrize("retention, verdict", [(0.95, "PASS, not significant at 60 keywords"), (0.94, "FAIL")])
def test_the_detector_verdict_at_the_target_edge(retention, verdict):
    row = {"judged": True, "retention": retention, "retention_ci": [0.9, 1.0], "keywords": 60, "operating_point": {}}
    assert final_detector(_stream(row), _final(), CONFIG)["detector"]["verdict"] == verdict
