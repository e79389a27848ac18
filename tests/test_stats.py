"""Retention statistics against independent computations: hand binomial sums, a naive bootstrap, planted cases."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from spc.errors import SpcError
from spc.stats import (CandidateScore, choose_candidate, combined_verdict, mcnemar_exact, pair_counts,
                       retention_interval, retention_point, verdict)


def planted(both: int, original_only: int, compressed_only: int, neither: int, seed: int = 0):
    """Per-clip correctness with exactly these cell counts, clips shuffled."""
    a = np.array([1] * both + [1] * original_only + [0] * compressed_only + [0] * neither, dtype=bool)
    b = np.array([1] * both + [0] * original_only + [1] * compressed_only + [0] * neither, dtype=bool)
    order = np.random.default_rng(seed).permutation(len(a))
    return a[order], b[order]


def hand_mcnemar(b: int, c: int) -> float:
    """Two-sided exact McNemar by hand: twice the binomial(b + c, 1/2) tail at min(b, c), capped at 1."""
    n = b + c
    tail = sum(Fraction(math.comb(n, k), 2**n) for k in range(min(b, c) + 1))
    return float(min(Fraction(1), 2 * tail))


@pytest.mark.parametrize("b,c", [(7, 2), (2, 7), (10, 0), (5, 5), (1, 0), (30, 18), (0, 3)])
def test_mcnemar_matches_the_hand_binomial_sum(b, c):
    a, k = planted(40, b, c, 11)
    assert pair_counts(a, k) == {"both": 40, "original_only": b, "compressed_only": c, "neither": 11}
    assert mcnemar_exact(a, k) == pytest.approx(hand_mcnemar(b, c), rel=1e-9)


def test_mcnemar_known_value_and_no_discordant_clips():
    assert mcnemar_exact(*planted(40, 7, 2, 11)) == pytest.approx(92 / 512)  # 2 * (1 + 9 + 36) / 2**9
    same = np.array([True, False, True])
    assert mcnemar_exact(same, same) == 1.0


def test_interval_contains_the_point_and_is_seeded():
    a, b = planted(200, 12, 5, 33)
    point = retention_point(a, b)
    assert point == pytest.approx(205 / 212)
    lo, hi = retention_interval(a, b, seed=3)
    assert lo < point < hi and hi - lo < 0.1
    assert retention_interval(a, b, seed=3) == (lo, hi)
    assert retention_interval(a, b, seed=4) != (lo, hi)


def test_interval_matches_a_naive_clip_bootstrap():
    a, b = planted(180, 14, 4, 52)
    rng = np.random.default_rng(123)
    idx = rng.integers(0, len(a), size=(20000, len(a)))
    naive = b[idx].sum(axis=1) / a[idx].sum(axis=1)
    expect = np.quantile(naive, [0.025, 0.975])
    got = retention_interval(a, b, n_resamples=20000, seed=7)
    assert got == pytest.approx(tuple(expect), abs=0.006)


def test_interval_shrinks_with_more_clips():
    small = retention_interval(*planted(100, 8, 2, 15))
    large = retention_interval(*planted(1600, 128, 32, 240))  # the same proportions, 16 times the clips
    assert (large[1] - large[0]) < 0.35 * (small[1] - small[0])  # about 1/4 (1/sqrt(16))


def test_identical_models_have_a_point_interval_and_edge_cases():
    a = np.array([True] * 30 + [False] * 10)
    assert retention_interval(a, a) == (1.0, 1.0)
    nothing = np.zeros(5, bool)
    assert all(math.isnan(x) for x in retention_interval(nothing, nothing))
    assert math.isnan(retention_point(nothing, nothing))
    with pytest.raises(SpcError, match="same clips: 3 original and 2 compressed"):
        retention_interval([True, True, False], [True, False])


def test_verdict_planted_cases():
    # 5000 clips, original 90%, compressed wrong on 1% more: retention 0.989, tight interval
    a, b = planted(4450, 50, 0, 500)
    r, ci = retention_point(a, b), retention_interval(a, b)
    assert ci[0] > 0.95 and verdict(r, ci, 0.95, len(a)) == "PASS"
    # 250 clips passing by one clip: retention 0.95 exactly at the target, the interval well below it
    a, b = planted(190, 10, 0, 50)
    r, ci = retention_point(a, b), retention_interval(a, b)
    assert r == pytest.approx(0.95) and ci[0] < 0.95
    assert verdict(r, ci, 0.95, len(a)) == "PASS, not significant at 250 clips"
    # below the target is FAIL, whatever the interval says
    assert verdict(0.949, (0.90, 0.99), 0.95, 250) == "FAIL"
    assert verdict(0.96, (float("nan"), float("nan")), 0.95, 10) == "PASS, not significant at 10 clips"


def test_choice_prefers_a_safe_candidate_over_a_faster_one_passing_by_a_clip():
    n = 250
    barely = planted(190, 10, 0, 50)  # retention 0.95 on 250 clips
    sure = planted(200, 0, 0, 50)  # retention 1.0, keeps every clip
    cands = {
        "mimic": CandidateScore(retention_point(*barely), retention_interval(*barely), 2.0),
        "pruned": CandidateScore(retention_point(*sure), retention_interval(*sure), 5.0),
    }
    choice = choose_candidate(cands, 0.95, n)
    assert choice.name == "pruned" and choice.standing == "safe"
    assert "mimic (retention 0.950, lower bound" in choice.reason and "point estimate only" in choice.reason
    assert choice.as_dict()["name"] == "pruned"


def test_choice_without_a_safe_candidate_and_without_a_passing_one():
    point_only = {"a": CandidateScore(0.96, (0.93, 0.99), 3.0), "b": CandidateScore(0.97, (0.94, 1.0), 1.0),
                  "c": CandidateScore(0.90, (0.85, 0.95), 0.5)}
    choice = choose_candidate(point_only, 0.95, 250)
    assert (choice.name, choice.standing) == ("b", "point estimate only") and "250 validation clips" in choice.reason
    failing = {"a": CandidateScore(0.90, (0.85, 0.95), 3.0), "b": CandidateScore(0.93, (0.90, 0.96), 1.0)}
    assert (choose_candidate(failing, 0.95, 250).name, choose_candidate(failing, 0.95, 250).standing) == ("b", "fails")
    assert choose_candidate({}, 0.95, 250).name is None


def test_choice_among_safe_candidates_takes_the_fastest():
    cands = {"slow": CandidateScore(1.0, (0.99, 1.0), 9.0), "fast": CandidateScore(0.98, (0.96, 0.99), 1.0)}
    choice = choose_candidate(cands, 0.95, 4000)
    assert choice.name == "fast" and "point estimate only" not in choice.reason


def test_eval_results_carry_per_clip_correctness_for_paired_statistics():
    from spc.accuracy import score

    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 2.0]])
    result = score(logits, np.array([0, 0, 0, 1]), ["a", "b"])
    assert result.correct.tolist() == [True, False, True, True] and result.accuracy == 0.75
    assert "correct" not in result.as_dict()


@pytest.mark.parametrize("clip, detector, want", [
    ("PASS", None, "PASS"),  # the detector not judged: the clip verdict stands alone
    ("FAIL", None, "FAIL"),
    ("FAIL", "PASS", "FAIL (clip accuracy)"),
    ("PASS", "FAIL", "FAIL (detector)"),
    ("FAIL", "FAIL", "FAIL (clip accuracy and detector)"),
    ("PASS", "PASS", "PASS"),
    ("PASS, not significant at 90 clips", "PASS", "PASS, not significant at 90 clips"),
    ("PASS, not significant at 90 clips", "PASS, not significant at 12 keywords",
     "PASS, not significant at 90 clips; not significant at 12 keywords"),
])
def test_the_combined_verdict_names_what_failed_or_what_is_unsure(clip, detector, want):
    assert combined_verdict(clip, detector) == want


def test_a_failing_choice_says_which_retention_missed():
    both = {"a": CandidateScore(0.90, (0.85, 0.95), 1.0, 0.80, (0.7, 0.9))}
    assert "clip accuracy and detector below the target" in choose_candidate(both, 0.95, 250).reason
    detector = {"a": CandidateScore(0.99, (0.97, 1.0), 1.0, 0.80, (0.7, 0.9))}
    pick = choose_candidate(detector, 0.95, 250)
    assert pick.standing == "fails" and "; detector below the target" in pick.reason
