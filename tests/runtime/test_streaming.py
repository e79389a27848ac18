"""The live detector: planted tones found within one hop, nothing on silence or noise, any chunking gives the
offline detections, bounded memory, batches up to the backend's max_batch."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "kws_app"))
from beeper import RATE, TONE_SECONDS, beeps, make_beeper  # noqa: E402

from spc.errors import SpcError  # noqa: E402
from spc.runtime import KeywordSpotter, StreamingSpotter  # noqa: E402

HOP = 0.05


@pytest.fixture(scope="module")
def spotter(tmp_path_factory):
    """A KeywordSpotter on the tiny ONNX beeper (detects a 0.3 s 1 kHz tone)."""
    with KeywordSpotter(make_beeper(tmp_path_factory.mktemp("beeper") / "beeper.onnx")) as sp:
        yield sp


def push_all(live: StreamingSpotter, x: np.ndarray, chunk: int) -> list:
    """Every detection of ``x`` pushed in chunks of ``chunk`` samples."""
    found = []
    for i in range(0, len(x), chunk):
        found += live.push(x[i : i + chunk])
    return found


def test_planted_tones_are_found_within_one_hop(spotter):
    starts = [1.3, 4.05, 7.71, 11.2, 15.0]
    rec = beeps(18.0, starts)
    live = StreamingSpotter(spotter, hop_seconds=HOP, smooth=1, threshold=0.9)
    found = push_all(live, rec, 1600)
    assert [d.label for d in found] == ["beep"] * len(starts)
    for d, s in zip(found, starts):
        latency = d.end_s - (s + TONE_SECONDS)  # emitted at the window's end, measured from the tone's end
        assert -0.02 <= latency <= HOP, (d, s)
        assert d.time_s == pytest.approx(d.end_s - 0.5)  # the window's centre
        assert d.compute_s >= 0.0


def test_silence_and_noise_give_no_detection(spotter):
    rng = np.random.default_rng(3)
    for rec in (np.zeros(6 * RATE, np.float32), (0.05 * rng.standard_normal(6 * RATE)).astype(np.float32),
                (0.1 * np.sin(2 * np.pi * 300 * np.arange(6 * RATE) / RATE)).astype(np.float32)):
        assert push_all(StreamingSpotter(spotter, hop_seconds=HOP, smooth=3, threshold=0.9), rec, 1600) == []
        assert spotter.stream(rec, hop_seconds=HOP, smooth=3, threshold=0.9) == []


@pytest.mark.parametrize("chunk", [1, 160, RATE])
def test_any_chunk_size_gives_the_offline_detections(spotter, chunk):
    rec = beeps(6.0, [0.6, 2.35, 4.4], noise=0.002, seed=1)
    offline = spotter.stream(rec, hop_seconds=HOP, smooth=3, threshold=0.8, refractory_seconds=1.0)
    assert len(offline) == 3
    live = StreamingSpotter(spotter, hop_seconds=HOP, smooth=3, threshold=0.8, refractory_seconds=1.0)
    assert push_all(live, rec, chunk) == offline  # time, label, score and end (compute_s is wall-clock)


def test_a_stream_shorter_than_a_clip_is_padded_like_offline(spotter):
    rec = beeps(0.5, [0.1])
    live = StreamingSpotter(spotter, hop_seconds=HOP, smooth=1, threshold=0.5)
    assert live.push(rec) == []
    assert live.flush() == spotter.stream(rec, hop_seconds=HOP, smooth=1, threshold=0.5)


def test_memory_is_one_clip_and_reset_restarts_time(spotter):
    live = StreamingSpotter(spotter, hop_seconds=HOP, smooth=1, threshold=0.9)
    first = push_all(live, beeps(10.0, [3.0]), 4000)
    assert live.ring.buf.shape == (RATE,) and live.ring.total == 10 * RATE
    live.reset()
    assert push_all(live, beeps(10.0, [3.0]), 4000) == first


class CountingRunner:
    """Wraps a runner, records the batch sizes it is called with; an engine-like ``max_batch``."""

    def __init__(self, runner, max_batch):
        self.runner, self.max_batch, self.batches = runner, max_batch, []
        self.manifest = runner.manifest

    def infer(self, audio):
        self.batches.append(len(audio))
        assert len(audio) <= self.max_batch
        return self.runner.infer(audio)


def test_windows_completed_by_one_push_are_one_batch_up_to_max_batch(spotter, tmp_path):
    sp = KeywordSpotter(make_beeper(tmp_path / "b.onnx"))
    sp.runner = CountingRunner(sp.runner, max_batch=4)
    live = StreamingSpotter(sp, hop_seconds=0.01, smooth=1, threshold=0.9)
    assert live.max_batch == 4
    live.push(np.zeros(RATE, np.float32))  # completes window 0 only
    live.push(np.zeros(RATE // 10, np.float32))  # 10 more windows: 4 + 4 + 2
    assert sp.runner.batches == [1, 4, 4, 2]


def test_bad_settings_are_one_user_error(spotter):
    for kw, what in (({"hop_seconds": 0}, "hop"), ({"smooth": 0}, "smoothing"), ({"threshold": 1.5}, "threshold"),
                     ({"refractory_seconds": -1}, "refractory"), ({"smooth": 10**9}, "smoothing"),
                     ({"threshold": 0.0}, "threshold")):
        with pytest.raises(SpcError, match=f"stream settings: operating point: {what}"):
            StreamingSpotter(spotter, **kw)
