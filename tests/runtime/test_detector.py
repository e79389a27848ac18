"""Candidates as detectors: each gets its own operating point on validation; a deafer student is found; a budget the
audio cannot resolve and an original that cannot detect are said, not turned into a ratio; the operating point
travels in the manifest to the runtime."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "kws_app"))
from beeper import RATE, TONE_SECONDS, beeper_graph, beeps, make_beeper  # noqa: E402

from spc.errors import SpcError  # noqa: E402
from spc.runtime import KeywordSpotter, StreamingSpotter  # noqa: E402
from spc.streaming.detector import _judgement, detector_verdict, judge_validation  # noqa: E402
from spc.streaming.evaluation import StreamEvalConfig  # noqa: E402
from spc.streaming.operating_point import OperatingPoint, from_manifest  # noqa: E402
from spc.streaming.streams import build_streams  # noqa: E402


def _beeper(path: Path, gain: float = 2000.0, level: float = 0.025, point: OperatingPoint | None = None) -> str:
    """The beeper with another gain or level (a softer or deafer 'student'), optionally carrying an operating point."""
    import onnx

    from spc.fileio import sha256_file

    make_beeper(path)
    onnx.save(beeper_graph(gain=gain, level=level), str(path))
    manifest = json.loads(Path(str(path) + ".json").read_text())
    manifest["sha256"] = sha256_file(path)
    if point is not None:
        manifest["operating_point"] = point.as_dict()
    Path(str(path) + ".json").write_text(json.dumps(manifest))
    return str(path)


CONFIG = StreamEvalConfig(hop_seconds=0.05, snr_db=(34.0, 43.0), colours=("white",), recording_seconds=30.0,
                          gap_seconds=(0.5, 1.5), synthetic_hours=0.0, validation_synthetic_hours=0.0,
                          max_fa_per_hour=400.0, bootstrap=200, smooth_choices=(1, 3), refractory_choices=(1.0,))


def _streams(n_tones: int = 40, seed: int = 0):
    """Validation streams: tones at 34-43 dB SNR (the original hears them all; a deafer model misses quiet ones)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(TONE_SECONDS * RATE)) / RATE
    audio = np.zeros((2 * n_tones, RATE), np.float32)
    for k in range(n_tones):
        audio[k, : len(t)] = 0.3 * np.sin(2 * np.pi * 1000 * t + rng.uniform(0.1, 3.0))
    audio[n_tones:] = 0.01 * rng.standard_normal((n_tones, RATE))
    labels = ["beep"] * n_tones + ["_silence_"] * n_tones
    return build_streams("validation", audio, labels, [f"{i}.wav" for i in range(len(labels))], ["beep"], RATE, RATE,
                         CONFIG)


def test_each_candidate_gets_its_own_point_and_the_deafer_student_is_found(tmp_path):
    streams = _streams()
    artifacts = {"original": _beeper(tmp_path / "t.onnx"), "soft": _beeper(tmp_path / "s.onnx", gain=500.0),
                 "shifted": _beeper(tmp_path / "h.onnx", level=0.06), "deaf": _beeper(tmp_path / "d.onnx", gain=-2000.0,
                                                                                     level=0.0)}
    judged = judge_validation(artifacts, streams, CONFIG, cache_dir=tmp_path / "scores", show_progress=False)
    orig, soft, deaf, shifted = judged["original"], judged["soft"], judged["deaf"], judged["shifted"]
    assert orig["validation"]["keywords"] == 40 and orig["hit_rate"] == 1.0 and orig["retention"] == 1.0
    # the softer student ranks windows as the original does: with its own threshold it loses nothing
    assert soft["retention"] == pytest.approx(1.0) and soft["mode"] == "ratio"
    assert OperatingPoint.from_dict(soft["operating_point"]).threshold != OperatingPoint.from_dict(
        orig["operating_point"]).threshold
    # a calibrated threshold would call the shifted one deaf; its own operating point finds it is not
    assert shifted["retention"] == pytest.approx(1.0)
    # the deaf one scores noise above tones (a negative gain): at its own budgeted point it misses them all
    assert deaf["hit_rate"] < 0.9 and deaf["retention"] == pytest.approx(deaf["hit_rate"])
    lo, hi = deaf["retention_ci"]
    assert lo <= deaf["retention"] <= hi < 1.0
    assert detector_verdict(deaf, 0.95) == "FAIL" and detector_verdict(soft, 0.95).startswith("PASS")
    assert len(list((tmp_path / "scores").glob("*.npz"))) == 4  # each model scored once, cached
    again = judge_validation(artifacts, streams, CONFIG, cache_dir=tmp_path / "scores", show_progress=False)
    assert again["deaf"]["validation"] == deaf["validation"]


def test_judgement_says_unresolved_budgets_and_unusable_originals_instead_of_a_ratio():
    ref = {"miss_rate": 0.1, "negative_hours": 10.0, "keywords": 300}
    good = {"miss_rate": 0.12, "negative_hours": 10.0, "keywords": 300}
    j = _judgement(ref, good, {"retention_ci": [0.95, 1.0]}, 1.0)
    assert j["mode"] == "ratio" and j["retention"] == pytest.approx(0.88 / 0.9)
    assert detector_verdict({**j, "keywords": 300}, 0.95) == "PASS"
    short = _judgement({**ref, "negative_hours": 2.18}, good, {}, 1.0)
    assert not short["judged"] and "cannot resolve 1 FA/h" in short["why"] and detector_verdict(short, 0.95) is None
    deaf_original = _judgement({**ref, "miss_rate": 0.71}, {**good, "miss_rate": 0.45},
                               {"absolute_ci": [1.2, 1.3]}, 1.0)
    assert deaf_original["mode"] == "absolute" and deaf_original["retention"] == pytest.approx(1.26)
    assert "not a usable detector" in deaf_original["why"]
    worse = _judgement({**ref, "miss_rate": 0.71}, {**good, "miss_rate": 0.90}, {"absolute_ci": [0.7, 0.9]}, 1.0)
    assert detector_verdict(worse, 0.95) == "FAIL"
    nothing = _judgement(ref, None, {}, 1.0)
    assert nothing["retention"] == 0.0 and detector_verdict(nothing, 0.95) == "FAIL"
    assert detector_verdict({"judged": True, "retention": 0.97, "retention_ci": [0.9, 1.0], "keywords": 30},
                            0.95) == "PASS, not significant at 30 keywords"


def test_the_runtime_runs_at_the_point_the_artifact_carries(tmp_path):
    point = OperatingPoint(threshold=0.5, smooth=1, refractory_seconds=0.5, hop_seconds=0.05, max_fa_per_hour=1.0,
                           fa_per_hour=0.5, miss_rate=0.1, negative_hours=5.0, keywords=300, chosen_on="validation")
    carried, plain = _beeper(tmp_path / "c.onnx", point=point), _beeper(tmp_path / "p.onnx")
    rec = beeps(6.0, [0.6, 2.35, 4.4], noise=0.002, seed=1)
    with KeywordSpotter(carried) as sp, KeywordSpotter(plain) as pl:
        assert sp.operating_point == point and pl.operating_point is None
        live = StreamingSpotter(sp)
        assert live.point == point and live.point_source == "the artifact's"
        assert StreamingSpotter(pl).point_source.startswith("spc's defaults")
        assert sp.stream(rec) == sp.stream(rec, point)
        by_hand = StreamingSpotter(sp, threshold=0.9)
        assert by_hand.point.threshold == 0.9 and by_hand.point.smooth == 1 and not by_hand.point.chosen
        assert by_hand.point_source == "the artifact's, changed by hand"
        assert StreamingSpotter(sp, threshold=0.5).point == point  # the same value: the evidence still holds
        assert len(sp.stream(rec)) == 3


@pytest.mark.parametrize("damage, message", [
    ({"threshold": 0}, "threshold must be in"), ({"smooth": 10**9}, "smoothing must be"),
    ({"version": 99}, "version 99"), ({"temperature": 1e-320}, "temperature"), ({"extra": 1}, "unknown fields"),
    ("abc", "not a JSON object")])
def test_a_damaged_operating_point_is_one_line(tmp_path, damage, message):
    path = _beeper(tmp_path / "x.onnx")
    m = json.loads(Path(path + ".json").read_text())
    m["operating_point"] = {**OperatingPoint().as_dict(), **damage} if isinstance(damage, dict) else damage
    Path(path + ".json").write_text(json.dumps(m))
    with pytest.raises(SpcError, match=message):
        KeywordSpotter(path)
    with pytest.raises(SpcError):
        from_manifest(m)


@pytest.mark.parametrize("field, value, message", [
    ("labels", ["a", "b", "c", "d", "e"], None), ("labels", "abc", "labels"), ("labels", ["a"], "labels"),
    ("sampling_rate", 0, "sampling_rate"), ("sampling_rate", "16k", "sampling_rate"), ("clip_seconds", 0, "clip"),
    ("clip_seconds", float("inf"), "clip"), ("temperature", 1e-320, "temperature")])
def test_damaged_manifest_fields_are_one_line(tmp_path, field, value, message):
    path = _beeper(tmp_path / "x.onnx")
    m = json.loads(Path(path + ".json").read_text())
    m[field] = value
    Path(path + ".json").write_text(json.dumps(m))
    if message is None:  # five labels for a graph with two outputs: refused when the outputs are counted
        with KeywordSpotter(path) as sp, pytest.raises(SpcError, match="2 outputs"):
            sp.probabilities(np.zeros((1, RATE), np.float32))
        return
    with pytest.raises(SpcError, match=f"manifest of .* is damaged .*{message}"):
        KeywordSpotter(path)


def test_settings_stated_once_the_defaults_come_from_the_operating_point():
    from spc.streaming.operating_point import DEFAULT

    assert StreamEvalConfig().hop_seconds == DEFAULT.hop_seconds
    assert replace(DEFAULT, threshold=0.5).with_overrides(threshold=None) == replace(DEFAULT, threshold=0.5)
