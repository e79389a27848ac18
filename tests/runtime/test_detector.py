"""Candidates as detectors: temperature calibration recovers a known scale, hit-rate retention and its interval
over keyword occurrences, the runtime applies a manifest's temperature, negatives add negative hours."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "kws_app"))
from beeper import RATE, TONE_AMPLITUDE, TONE_SECONDS, beeper_graph, make_beeper  # noqa: E402

from spc.runtime import KeywordSpotter  # noqa: E402
from spc.stats import retention_interval  # noqa: E402
from spc.streaming.detector import (DetectorScore, detector_retention, fit_temperature, judge_detectors,  # noqa: E402
                                    rescale)
from spc.streaming.evaluation import StreamEvalConfig, build_recordings  # noqa: E402


def _beeper(path: Path, gain: float = 2000.0, level: float = 0.025, temperature: float | None = None) -> str:
    """The beeper with another gain or level (a softer or deafer 'student'), optionally a manifest temperature."""
    import onnx

    make_beeper(path)
    onnx.save(beeper_graph(gain=gain, level=level), str(path))
    manifest = json.loads(Path(str(path) + ".json").read_text())
    from spc.fileio import sha256_file

    manifest["sha256"] = sha256_file(path)
    if temperature is not None:
        manifest["temperature"] = temperature
    Path(str(path) + ".json").write_text(json.dumps(manifest))
    return str(path)


def _recordings(n_tones: int = 16, seed: int = 0, negatives=()):
    rng = np.random.default_rng(seed)
    t = np.arange(int(TONE_SECONDS * RATE)) / RATE
    amps = np.linspace(0.3, 0.6, n_tones)  # the original hears every one; a deafer model misses the quiet ones
    audio = np.zeros((2 * n_tones, RATE), np.float32)
    for k, a in enumerate(amps):
        audio[k, : len(t)] = a * np.sin(2 * np.pi * 1000 * t + rng.uniform(0.1, 3.0))
    audio[n_tones:] = 0.01 * rng.standard_normal((n_tones, RATE))
    labels = ["beep"] * n_tones + ["_silence_"] * n_tones
    config = StreamEvalConfig(hop_seconds=0.05, smooth=1, thresholds=(0.5, 0.9, 0.99), recording_seconds=30.0,
                              gap_seconds=(0.5, 1.5))
    return build_recordings(audio, labels, [str(i) for i in range(len(labels))], ["beep"], RATE, RATE, config,
                            negatives=negatives), config


def test_fit_temperature_recovers_a_known_scale():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (500, 4))
    softmax = lambda z: np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)  # noqa: E731
    teacher, student = softmax(logits), softmax(logits / 2.5)  # the student is 2.5x softer
    assert fit_temperature([teacher[:200], teacher[200:]], [student[:200], student[200:]]) == pytest.approx(0.4, rel=1e-2)
    np.testing.assert_allclose(rescale([student], 0.4)[0], teacher, atol=1e-9)


def test_detector_retention_is_the_hit_rate_ratio_with_an_interval_over_occurrences():
    orig = DetectorScore([], None, np.array([True] * 90 + [False] * 10), 1.0)
    cand = DetectorScore([], None, np.array([True] * 80 + [False] * 20), 1.0)
    r = detector_retention(orig, cand, seed=0)
    assert r["retention"] == pytest.approx(80 / 90) and r["hit_rate"] == 0.8 and r["original_hit_rate"] == 0.9
    assert tuple(r["retention_ci"]) == retention_interval(orig.hits, cand.hits, seed=0)


def test_the_runtime_divides_logits_by_the_manifest_temperature(tmp_path):
    teacher = _beeper(tmp_path / "t.onnx")
    soft = _beeper(tmp_path / "s.onnx", gain=500.0)
    calibrated = _beeper(tmp_path / "c.onnx", gain=500.0, temperature=0.25)
    rng = np.random.default_rng(1)
    clips = np.zeros((3, RATE), np.float32)  # tails near the beeper's level: moderate logits, not saturated
    for k, power in enumerate((0.0245, 0.0252, 0.0256)):
        clips[k, RATE // 2 :] = np.sqrt(power) * rng.standard_normal(RATE // 2)
    with KeywordSpotter(teacher) as a, KeywordSpotter(soft) as b, KeywordSpotter(calibrated) as c:
        assert c.temperature == 0.25 and b.temperature == 1.0
        np.testing.assert_allclose(c.probabilities(clips), a.probabilities(clips), atol=1e-9)
        assert not np.allclose(b.probabilities(clips), a.probabilities(clips), atol=1e-3)


def test_judging_detectors_calibrates_on_validation_and_finds_the_deafer_student(tmp_path):
    rec, config = _recordings()
    artifacts = {"original": _beeper(tmp_path / "t.onnx"), "soft": _beeper(tmp_path / "s.onnx", gain=500.0),
                 "deaf": _beeper(tmp_path / "d.onnx", level=0.06)}
    judged = judge_detectors(artifacts, rec, config, seed=0)
    assert judged["original"]["retention"] == 1.0 and judged["original"]["keywords"] == 16
    assert judged["original"]["hit_rate"] == 1.0
    assert judged["soft"]["temperature"] == pytest.approx(0.25, rel=0.05)  # its logits are the teacher's / 4
    assert judged["soft"]["retention"] == pytest.approx(1.0)
    assert judged["deaf"]["hit_rate"] < judged["original"]["hit_rate"] and judged["deaf"]["retention"] < 1.0
    lo, hi = judged["deaf"]["retention_ci"]
    assert lo <= judged["deaf"]["retention"] <= hi


def test_negative_audio_adds_negative_hours_and_no_keywords():
    plain, _ = _recordings()
    noise = [0.01 * np.random.default_rng(2).standard_normal(65 * RATE).astype(np.float32)]
    more, config = _recordings(negatives=noise)
    assert len(more.audio) == len(plain.audio) + 3  # 65 s cut into recordings of at most 30 s
    assert [c for c in more.clips if c.keyword] == [c for c in plain.clips if c.keyword]
    assert sum(len(x) for x in more.audio[len(plain.audio):]) == 65 * RATE
