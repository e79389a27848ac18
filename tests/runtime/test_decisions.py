"""The evaluation's decisions are the runtime's: the vectorised scan against the Decider window by window; counts
against a hand count; the chosen threshold against a brute force over every threshold; windows scored in batches
against the live path; the intervals against their definitions."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "kws_app"))
from beeper import RATE, beeps, make_beeper  # noqa: E402

from spc.runtime import Decider, KeywordSpotter, StreamingSpotter  # noqa: E402
from spc.streaming import intervals as iv  # noqa: E402
from spc.streaming.decisions import (Keyword, detections, read_recording,  # noqa: E402
                                     smoothed_series)
from spc.streaming.operating_point import OperatingPoint  # noqa: E402
from spc.streaming.reading import negative_seconds  # noqa: E402

LABELS = ["_silence_", "yes", "no", "_unknown_"]
KEEP = np.array([False, True, True, False])


def _posteriors(k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.5, (k, len(LABELS)))
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("smooth, threshold, refractory", [(1, 0.5, 0.0), (3, 0.6, 1.0), (5, 0.4, 2.5), (2, 0.9, 0.3)])
def test_the_vectorised_scan_fires_exactly_where_the_decider_does(smooth, threshold, refractory):
    post = _posteriors(600, seed=smooth)
    point = OperatingPoint(threshold=threshold, smooth=smooth, refractory_seconds=refractory, hop_seconds=0.1)
    decider = Decider(LABELS, RATE, RATE, point, ignore=("_silence_", "_unknown_"))
    live = [d for k, p in enumerate(post) if (d := decider.update(k, p)) is not None]
    series = smoothed_series(post, KEEP, smooth, RATE, RATE, int(0.1 * RATE))
    assert detections(series, threshold, refractory, LABELS) == live and len(live) > 3


def test_counts_and_negative_time_match_a_hand_count():
    # one recording of 100 s, window ends every 0.1 s from 1.0 s; keywords yes (1) and no (2)
    kws = [Keyword(10.0, 10.5, 1), Keyword(20.0, 20.6, 2), Keyword(20.8, 21.2, 1), Keyword(60.0, 60.5, 2)]
    k = 991
    post = np.zeros((k, 4))
    post[:, 0] = 1.0
    fire = {96: 1, 100: 1, 107: 2, 109: 2, 113: 1, 290: 1, 490: 2}  # window index -> class (end = 1.0 + 0.1 k)
    for w, c in fire.items():
        post[w] = 0.0
        post[w, c] = 1.0
    series = smoothed_series(post, KEEP, 1, RATE, RATE, RATE // 10)
    out = read_recording(series, kws, 0.5, 0.0, 1.0)
    # ends: 10.6 hit yes; 11.0 duplicate yes; 11.7 ... see below
    assert series.end_s[96] == pytest.approx(10.6) and series.end_s[490] == pytest.approx(50.0)
    # 10.6 yes: hit kw0 (latency 0.1); 11.0 yes: duplicate; 11.7 no: overlaps none of (10,11.5)... (20,21.6): FA
    # 11.9 no: FA; 12.3 yes: FA; 30.0 yes: FA; 50.0 no: FA; keywords 2, 3, 4 missed
    assert out.hits.tolist() == [True, False, False, False]
    assert out.duplicates == 1 and out.substitutions == 0 and len(out.false_accepts) == 5
    assert out.hit_latency_s == pytest.approx([0.1])
    # window ends run from 1 s to 100 s (99 s); keyword zones (a, b + 1): (10, 11.5), (20, 22.2) merged, (60, 61.5)
    assert negative_seconds(kws, 100.0, 1.0) == pytest.approx(99.0 - 1.5 - 2.2 - 1.5)


def test_the_lowest_threshold_is_the_brute_force_one_and_exact():
    from spc.streaming.reading import _fa_counter, lowest_threshold
    from spc.streaming.streams import Recording, Streams

    post = _posteriors(3000, seed=7)
    streams = Streams("validation", RATE, RATE, ["yes", "no"], ["_silence_", "_unknown_"],
                      [Recording(0, "negatives", 301.0, "n.wav", "user")], [], {})
    from spc.streaming.reading import make_view
    from spc.streaming.scoring import StreamScores

    view = make_view(streams, StreamScores([post], LABELS, 0.1, 0.0, 301.0, True))
    for budget in (20.0, 60.0, 200.0):
        thr = lowest_threshold(view, 3, 1.0, budget)
        count = _fa_counter(view, 3, 1.0)
        allowed = int(budget * view.negative_hours)
        scores = np.unique(view.series(3)[0].score)
        meets = [t for t in scores if t > 0 and count(float(t)) <= allowed]
        assert thr == min(meets)  # no grid: one of the scores, and none lower meets the budget
        below = scores[scores < thr]
        assert len(below) == 0 or count(float(below[-1])) > allowed


def test_window_posteriors_in_batches_are_the_live_paths(tmp_path):
    with KeywordSpotter(make_beeper(tmp_path / "b.onnx")) as sp:
        rec = beeps(5.0, [1.0, 3.2], noise=0.002)
        batched = sp.window_posteriors(rec, 0.05, batch=7)
        live = StreamingSpotter(sp, hop_seconds=0.05, smooth=1, threshold=0.9)
        one_by_one = np.array([p for _, p in live.posteriors(rec)])
        np.testing.assert_allclose(batched, one_by_one, atol=1e-12)
        assert len(batched) == int((5.0 - 1.0) / 0.05) + 1


def test_the_threshold_an_interval_rechooses_keeps_the_budgeted_events():
    events = np.array([0.99, 0.95, 0.9, 0.8, 0.5])
    assert iv.threshold_for(events, 2.0, 1.0) == np.nextafter(0.9, np.inf)  # 2 allowed: the third is excluded
    assert iv.threshold_for(events, 10.0, 1.0) == iv.FLOOR  # more allowed than there are
    assert (events >= iv.threshold_for(events, 3.0, 1.0)).sum() == 3


def test_intervals_cover_the_point_and_narrow_with_more_evidence():
    rng = np.random.default_rng(0)

    def ev(n_occ, n_blocks, miss=0.2):
        peaks = np.where(rng.random(n_occ) < miss, 0.1, 0.95)
        return iv.Evidence(peaks, np.full(n_blocks, 0.1), [rng.uniform(0, 0.5, 3) for _ in range(n_blocks)])

    small = iv.bootstrap({"m": ev(50, 10)}, {"m": ev(50, 10)}, 1.0, n_resamples=400)["m"]["miss_rate_ci"]
    large = iv.bootstrap({"m": ev(2000, 100)}, {"m": ev(2000, 100)}, 1.0, n_resamples=400)["m"]["miss_rate_ci"]
    assert small[0] < 0.2 < small[1] and large[0] < 0.2 < large[1]
    assert large[1] - large[0] < (small[1] - small[0]) / 3
    paired = iv.bootstrap({"a": ev(300, 20), "b": ev(300, 20)}, {"a": ev(300, 20, 0.1), "b": ev(300, 20, 0.3)}, 1.0,
                          reference="a", n_resamples=300)
    lo, hi = paired["b"]["retention_ci"]
    assert lo < 0.7 / 0.9 < hi and hi < 1.0  # the worse detector's retention is below one with confidence
