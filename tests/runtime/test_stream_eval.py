"""spc stream-eval: hand-counted misses, false accepts per hour and latency; recordings with planted tones
scored end to end; the same detections as the live spotter; the CLI's lines and its user errors."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "kws_app"))
from beeper import RATE, TONE_AMPLITUDE, TONE_SECONDS, make_beeper  # noqa: E402

from spc.errors import SpcError  # noqa: E402
from spc.runtime import Detection, KeywordSpotter, StreamingSpotter  # noqa: E402
from spc.streaming.evaluation import (PlacedClip, StreamEvalConfig, Tally, build_recordings, choose_threshold,  # noqa: E402
                                decide, negative_seconds, split_classes, stream_figures, stream_posteriors,
                                tally_recording, threshold_row)


def kw(label, a, b):
    return PlacedClip(0, label, True, a, b, f"{label}.wav")


def det(end_s, label):
    return Detection(end_s - 0.5, label, 0.99, end_s)


def test_counts_and_fa_per_hour_match_a_hand_count():
    keywords = [kw("yes", 10.0, 10.5), kw("no", 20.0, 20.6), kw("yes", 20.8, 21.2), kw("no", 60.0, 60.5)]
    found = [det(10.6, "yes"),   # hit, latency 0.1
             det(11.0, "yes"),   # the same keyword again: duplicate
             det(20.7, "no"),    # hit (the 'yes' at 20.8 has not started)
             det(20.9, "stop"),  # overlaps both, neither label: substitution
             det(21.3, "yes"),   # hit on the second 'yes', latency 0.1
             det(30.0, "yes"),   # nothing near: false accept
             det(50.0, "no")]    # false accept; the 'no' at 60 is missed
    tally = Tally()
    tally_recording(found, keywords, 1.0, tally)
    assert (tally.keywords, tally.hits, tally.false_accepts, tally.duplicates, tally.substitutions) == (4, 3, 2, 1, 1)
    assert tally.latencies == pytest.approx([0.1, 0.1, 0.1])
    # window ends run from 1 s to 100 s (99 s); keyword zones (a, b + 1): (10, 11.5), (20, 22.2) merged, (60, 61.5)
    negative = negative_seconds(keywords, 100.0, 1.0)
    assert negative == pytest.approx(99.0 - 1.5 - 2.2 - 1.5)
    row = threshold_row(0.9, tally, negative / 3600)
    assert row["misses"] == 1 and row["miss_rate"] == pytest.approx(0.25)
    assert row["fa_per_hour"] == pytest.approx(2 * 3600 / 93.8)
    assert row["latency_median_s"] == pytest.approx(0.1) and row["latency_p90_s"] == pytest.approx(0.1)


def test_threshold_choice_and_class_split():
    rows = [{"threshold": t, "miss_rate": m, "fa_per_hour": f} for t, m, f in
            ((0.5, 0.0, 12.0), (0.7, 0.05, 0.9), (0.8, 0.05, 0.0), (0.9, 0.2, 0.0))]
    assert choose_threshold(rows, 1.0)["threshold"] == 0.8
    assert choose_threshold(rows, 20.0)["threshold"] == 0.5
    assert choose_threshold(rows[:1], 1.0) is None
    assert split_classes(["_silence_", "_unknown_", "yes", "no"], None) == (["yes", "no"], ["_silence_", "_unknown_"])
    assert split_classes(list("0123"), ("0", "1")) == (["0", "1"], ["2", "3"])
    with pytest.raises(SpcError, match="name the keywords with --keywords"):
        split_classes(list("0123"), None)
    with pytest.raises(SpcError, match=r"keywords \['7'\] are not classes"):
        split_classes(list("0123"), ("7",))


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    """(beeper artifact, data folder): test clips of 'beep' (the 0.3 s tone) and '_silence_' (noise)."""
    root = tmp_path_factory.mktemp("stream")
    rng = np.random.default_rng(0)
    t = np.arange(int(TONE_SECONDS * RATE)) / RATE
    for split, n in (("train", 2), ("validation", 2), ("test", 12)):
        for k in range(n):
            folder = root / "data" / split
            (folder / "beep").mkdir(parents=True, exist_ok=True)
            (folder / "_silence_").mkdir(parents=True, exist_ok=True)
            tone = TONE_AMPLITUDE * np.sin(2 * np.pi * 1000 * t + rng.uniform(0.1, 3.0))
            sf.write(str(folder / "beep" / f"b{k}.wav"), tone, RATE, subtype="FLOAT")
            sf.write(str(folder / "_silence_" / f"s{k}.wav"), 0.01 * rng.standard_normal(RATE), RATE, subtype="FLOAT")
    return make_beeper(root / "beeper.onnx"), root / "data"


CONFIG = StreamEvalConfig(hop_seconds=0.05, smooth=1, thresholds=(0.5, 0.9), recording_seconds=20.0, gap_seconds=(0.5, 2.0))


def test_planted_tones_are_all_found_with_no_false_accept(tones, tmp_path):
    artifact, data = tones
    s = stream_figures(artifact, data, tmp_path / "out", config=CONFIG)
    assert s["keywords"] == ["beep"] and s["negatives"] == ["_silence_"]
    assert s["audio"]["keyword_clips"] == 12 and s["audio"]["non_keyword_clips"] == 12 and s["audio"]["recordings"] >= 2
    r = s["results"]["beeper.onnx"]
    for row in r["thresholds"]:
        assert (row["misses"], row["false_accepts"], row["substitutions"]) == (0, 0, 0)
        assert -0.02 <= row["latency_median_s"] <= 0.05 and row["latency_p90_s"] <= 0.05  # within one hop
    assert r["chosen"]["threshold"] == 0.9 and 0 < r["negative_hours"] < s["audio"]["total_hours"]
    assert r["real_time_factor"] > 0 and r["windows"] > 0
    manifest = json.loads((tmp_path / "out" / "recordings.json").read_text())
    assert len(manifest["clips"]) == 24 and {c["label"] for c in manifest["clips"]} == {"beep", "_silence_"}
    beep = next(c for c in manifest["clips"] if c["keyword"])
    assert beep["end_s"] - beep["start_s"] == pytest.approx(TONE_SECONDS, abs=2e-4)
    assert (tmp_path / "out" / "det.png").stat().st_size > 0
    assert json.loads((tmp_path / "out" / "stream_eval.json").read_text())["results"]["beeper.onnx"]["chosen"]


def test_the_evaluation_decides_exactly_as_the_live_spotter(tones):
    artifact, _ = tones
    rng = np.random.default_rng(1)
    audio = np.zeros((4, RATE), np.float32)
    audio[:2, :4800] = TONE_AMPLITUDE * np.sin(2 * np.pi * 1000 * np.arange(4800) / RATE) + 0.01
    audio[2:] = 0.01 * rng.standard_normal((2, RATE))
    rec = build_recordings(audio, ["beep", "beep", "_silence_", "_silence_"], list("abcd"), ["beep"], RATE, RATE, CONFIG)
    with KeywordSpotter(artifact) as sp:
        live = StreamingSpotter(sp, 0.05, 3, 0.8)
        posts, _ = stream_posteriors(live, rec.audio[0], 1600)
        offline = decide(live, posts, 0.8)
        live.reset()
        assert len(offline) == 2 and live.push(rec.audio[0]) == offline


def test_cli_prints_the_table_and_refuses_bad_input(tones, tmp_path):
    from click.testing import CliRunner

    from spc.cli import cli

    artifact, data = tones
    args = ["stream-eval", str(artifact), "--data", str(data), "--hop", "0.05", "--smooth", "1", "--thresholds", "0.5,0.9"]
    r = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "threshold 0.9 meets 1 FA/h: miss rate 0.000" in r.output and "h of negative audio" in r.output
    (tmp_path / "f").write_text("x")
    r = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "f")])
    assert r.exit_code == 1 and "is a file, not a folder" in r.output
    r = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "o2"), "--keywords", "yes"])
    assert r.exit_code == 1 and "keywords ['yes'] are not classes" in r.output
    r = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "o3"), "--gap", "2"])
    assert r.exit_code == 1 and "gaps must be 0 <= min <= max" in r.output


def test_cli_adds_a_folder_of_negative_recordings_and_says_so(tones, tmp_path):
    """--negatives DIR: the user's own long recordings add negative hours (and a false accept shows per hour)."""
    from click.testing import CliRunner

    from spc.cli import cli

    artifact, data = tones
    rng = np.random.default_rng(5)
    neg = tmp_path / "kitchen"
    neg.mkdir()
    t = np.arange(int(TONE_SECONDS * RATE)) / RATE
    x = (0.01 * rng.standard_normal(40 * RATE)).astype(np.float32)
    x[20 * RATE : 20 * RATE + len(t)] += (TONE_AMPLITUDE * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)  # fires once
    sf.write(str(neg / "k.wav"), x, RATE, subtype="FLOAT")
    args = ["stream-eval", str(artifact), "--data", str(data), "--hop", "0.05", "--smooth", "1", "--thresholds", "0.5,0.9"]
    plain = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "a")])
    more = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "b"), "--negatives", str(neg)])
    assert plain.exit_code == 0 and more.exit_code == 0, more.output
    a = json.loads((tmp_path / "a" / "stream_eval.json").read_text())
    b = json.loads((tmp_path / "b" / "stream_eval.json").read_text())
    ra, rb = a["results"]["beeper.onnx"], b["results"]["beeper.onnx"]
    assert rb["negative_hours"] == pytest.approx(ra["negative_hours"] + (40 - 1) / 3600, abs=1e-6)
    assert [r["false_accepts"] for r in rb["thresholds"]] == [r["false_accepts"] + 1 for r in ra["thresholds"]]
    assert b["audio"]["negative_audio_hours"] == pytest.approx(40 / 3600) and b["audio"]["negative_audio"] == str(neg)
    assert "of which 0.01 h negative audio" in more.output and "one false accept = " in more.output
    assert "hits" not in rb  # per-occurrence flags stay out of the JSON
    bad = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "c"), "--negatives", str(tmp_path / "none")])
    assert bad.exit_code == 1 and "does not exist" in bad.output and not (tmp_path / "c" / "stream_eval.json").exists()


def test_a_clip_limit_builds_the_streams_from_a_class_balanced_seeded_sample():
    from spc.data.clips import balanced_indices

    labels = ["beep"] * 30 + ["_silence_"] * 6 + ["_unknown_"] * 4
    audio = np.full((len(labels), RATE // 4), 0.1, np.float32)
    paths = [f"c{i}" for i in range(len(labels))]
    every = build_recordings(audio, labels, paths, ["beep"], RATE, RATE, CONFIG)
    some = build_recordings(audio, labels, paths, ["beep"], RATE, RATE, replace(CONFIG, max_clips=12))
    assert len(every.clips) == 40 and len(some.clips) == 12
    used = {c.path: c.label for c in some.clips}
    assert sorted(used.values()).count("beep") == 4 and list(used.values()).count("_unknown_") == 4  # 4 per class
    again = build_recordings(audio, labels, paths, ["beep"], RATE, RATE, replace(CONFIG, max_clips=12))
    assert [c.path for c in again.clips] == [c.path for c in some.clips]  # seeded
    assert sorted(balanced_indices(labels, 12, seed=CONFIG.seed)) == sorted(int(s[1:]) for s in used)
    with pytest.raises(SpcError, match="at least 1"):
        replace(CONFIG, max_clips=0)
