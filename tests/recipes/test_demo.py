"""The built-in demo: its preset, and one run end to end at a reduced size (the full run is measured by
benchmarks/demo_runs.py, not asserted here)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from spc.models import load_model
from spc.params import count_parameters
from spc.recipes.demo import DEMO_PRESET, DEMO_TRAIN, run_demo
from spc.stats import verdict
from spc.synth import SynthConfig


def test_demo_preset_is_a_small_whisper_with_a_log_mel_front():
    model = load_model(DEMO_PRESET, labels=[str(i) for i in range(10)])
    assert model.meta.family == "whisper"
    assert model.hf.config.num_mel_bins == 40 and model.hf.config.encoder_layers == 4
    assert 0.5e6 < count_parameters(model).total < 1.0e6
    import torch

    logits = model(torch.zeros(2, 16000))
    assert logits.shape == (2, 10)


@pytest.mark.slow
def test_demo_runs_end_to_end_and_its_summary_matches_the_report(tmp_path):
    synth = SynthConfig(words=("yes", "no", "up", "down"), clips_per_word=90, splits=(0.3, 0.6, 0.1))  # 216 validation clips
    train = replace(DEMO_TRAIN, train=replace(DEMO_TRAIN.train, epochs=2))
    result = run_demo(tmp_path / "demo", train=train, synth=synth, show_progress=False)
    saved = json.loads((tmp_path / "demo" / "demo.json").read_text())
    report = json.loads((tmp_path / "demo" / "report" / "report.json").read_text())
    assert saved["compress"] == json.loads(json.dumps(result["compress"]))
    assert saved["clips"] == {"train": 108, "validation": 216, "test": 36}
    assert saved["compress"]["verdict"] == report["final"]["verdict"]
    # the reduced run (2 teacher epochs) may FAIL; its verdict must be the one its own figures give (CI asserts the
    # full demo's PASS: .ci/run)
    f = report["final"]
    ci = tuple(float("nan") if x is None else x for x in f["retention_ci"])
    assert f["clip_verdict"] == verdict(f["retention"], ci, report["retention_target"], f["test"]["n_clips"])
    assert saved["compress"]["verdict"].split(",")[0] in ("PASS", "FAIL")
    assert saved["compress"]["test_accuracy"] == report["final"]["test_accuracy"]
    assert report["config"]["stream"] is False  # compress judges no detector in the demo
    # the streaming figures are shown (not judged): yes/no as keywords, up/down the speech between them
    st = saved["stream"]
    assert set(st["keywords"]) == {"yes", "no"} and st["judged"] is False and set(st["figures"]) == {"original", "compressed"}
    written = json.loads((tmp_path / "demo" / "report" / "stream" / "stream_eval.json").read_text())
    assert set(written["non_keywords"]) == {"up", "down"} and written["audio"]["keyword_clips"] == st["keyword_occurrences"] > 0
    for name, f in st["figures"].items():  # each at a point chosen on validation; no miss rate where unresolved
        at = (written["results"][name]["test"] or {}).get("at_point") or {}
        assert written["results"][name]["operating_point_source"].startswith("chosen here on the validation streams")
        assert f["miss_rate"] == (at.get("miss_rate") if at.get("resolved") else None)
    hours = written["results"]["original"]["test"]["at_point"]["negative_hours"]
    assert st["fa_per_hour_resolution"] == pytest.approx(1 / hours) and st["resolved"] == (100 * hours >= 5)
    s = saved["seconds"]
    assert s["total"] >= s["data"] + s["teacher"] + s["compress"] + s["stream"] - 0.01


def test_synthetic_data_can_hold_unknown_words_and_silence(tmp_path):
    """The detector task's classes: other words as _unknown_ and noise as _silence_, beside the keywords."""
    from spc.data import open_dataset
    from spc.synth import make_keyword_dataset

    config = SynthConfig(words=("yes", "no"), clips_per_word=10, unknown_clips=10, silence_clips=10, splits=(0.6, 0.2, 0.2))
    ds = open_dataset(make_keyword_dataset(tmp_path / "d", config, show_progress=False))
    assert ds.labels == ["_silence_", "_unknown_", "no", "yes"]
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 24, "validation": 8, "test": 8}
    import soundfile as sf

    silence = [sf.read(i.path)[0] for i in ds.splits["train"] if i.label == "_silence_"]
    assert all(len(x) == 16000 and 0 < abs(x).max() < 0.2 for x in silence)  # noise only, no speech peak


def test_the_demo_prints_its_streaming_figures_with_their_resolution():
    from spc.cli.job_commands import demo_stream_lines

    stream = {"keywords": ["yes", "no"], "keyword_occurrences": 50, "negative_hours": 0.25, "fa_per_hour_resolution": 4.0,
              "max_fa_per_hour": 100.0, "snr_db": [5.0, 25.0], "resolved": True, "note": None,
              "figures": {"original": {"threshold": 0.9, "miss_rate": 0.1, "fa_per_hour": 0.0},
                          "compressed": {"threshold": None, "miss_rate": None, "fa_per_hour": None}}}
    lines = demo_stream_lines(stream)
    assert lines[0].startswith("streams (not judged): keywords yes, no at 5-25 dB SNR, 50 occurrences, 0.25 h")
    assert "one false accept = 4.0 per hour" in lines[0] and lines[0].endswith("operating points chosen on validation:")
    assert lines[1] == "  original: miss rate 0.100 at threshold 0.9 (0.0 FA/h)"
    assert lines[2] == "  compressed: no threshold meets the budget"
    unresolved = demo_stream_lines({**stream, "max_fa_per_hour": 1.0, "resolved": False,
                                    "note": "0.25 h of negative audio (one false accept = 4 per hour) cannot resolve "
                                            "1 FA/h; it needs 5 h"})
    assert len(unresolved) == 2 and unresolved[1].endswith("cannot resolve 1 FA/h; it needs 5 h: no miss rate is shown")
    assert demo_stream_lines(None) == []
