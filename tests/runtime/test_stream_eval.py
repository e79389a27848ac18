"""spc stream-eval: planted tones at a stated SNR scored end to end; the operating point carried by the artifact or
chosen on validation and said; every occurrence and false accept kept with its source; the CLI's lines and its
user errors; clips at the SNR they record, measured independently."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "kws_app"))
from beeper import RATE, TONE_AMPLITUDE, TONE_SECONDS, make_beeper  # noqa: E402

from spc.cli import cli  # noqa: E402
from spc.errors import SpcError  # noqa: E402
from spc.streaming.evaluation import StreamEvalConfig, evaluate_streams, split_classes  # noqa: E402
from spc.streaming.mixing import active_rms  # noqa: E402
from spc.streaming.operating_point import OperatingPoint  # noqa: E402
from spc.streaming.streams import build_streams  # noqa: E402

#: loud tones (the beeper is an energy detector), no espeak-ng hours (it fires on loud speech), a budget the few
#: minutes of clip streams resolve
CONFIG = StreamEvalConfig(hop_seconds=0.05, snr_db=(40.0, 40.0), recording_seconds=20.0, gap_seconds=(0.5, 2.0),
                          synthetic_hours=0.0, validation_synthetic_hours=0.0, max_fa_per_hour=1000.0, bootstrap=50,
                          live_seconds=5.0)


def test_class_split():
    assert split_classes(["_silence_", "_unknown_", "yes", "no"], None) == (["yes", "no"], ["_silence_", "_unknown_"])
    assert split_classes(list("0123"), ("0", "1")) == (["0", "1"], ["2", "3"])
    with pytest.raises(SpcError, match="no keyword among the classes"):
        split_classes(["_silence_", "_unknown_"], None)
    with pytest.raises(SpcError, match="every class .* is a keyword"):
        split_classes(list("0123"), None)
    with pytest.raises(SpcError, match=r"keywords \['7'\] are not classes"):
        split_classes(list("0123"), ("7",))


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    """(beeper artifact, data folder): validation and test clips of 'beep' (the 0.3 s tone) and '_silence_'."""
    root = tmp_path_factory.mktemp("stream")
    rng = np.random.default_rng(0)
    t = np.arange(int(TONE_SECONDS * RATE)) / RATE
    for split, n in (("train", 2), ("validation", 12), ("test", 12)):
        for k in range(n):
            folder = root / "data" / split
            (folder / "beep").mkdir(parents=True, exist_ok=True)
            (folder / "_silence_").mkdir(parents=True, exist_ok=True)
            tone = TONE_AMPLITUDE * np.sin(2 * np.pi * 1000 * t + rng.uniform(0.1, 3.0))
            sf.write(str(folder / "beep" / f"b{k}.wav"), tone, RATE, subtype="FLOAT")
            sf.write(str(folder / "_silence_" / f"s{k}.wav"), 0.01 * rng.standard_normal(RATE), RATE, subtype="FLOAT")
    return make_beeper(root / "beeper.onnx"), root / "data"


def test_planted_tones_are_all_found_at_a_point_chosen_on_validation(tones, tmp_path):
    artifact, data = tones
    s = evaluate_streams(artifact, data, tmp_path / "out", config=CONFIG, show_progress=False)
    assert s["keywords"] == ["beep"] and s["non_keywords"] == ["_silence_"]
    assert s["audio"]["keyword_clips"] == 12 and s["audio"]["non_keyword_clips"] == 12
    r = s["results"]["beeper.onnx"]
    assert r["operating_point_source"].startswith("chosen here on the validation streams")
    point = OperatingPoint.from_dict(r["operating_point"])
    assert point.chosen and point.max_fa_per_hour == 1000.0 and point.miss_rate == 0.0
    at = r["test"]["at_point"]
    assert (at["misses"], at["false_accepts"], at["substitutions"]) == (0, 0, 0) and at["resolved"]
    assert -0.02 <= at["latency_median_s"] <= 0.05  # within one hop of the tone's end
    assert at["one_false_accept_per_hour"] == pytest.approx(1 / at["negative_hours"])
    assert len(r["test"]["occurrences"]) == 12 and all(o["hit"] and o["snr_db"] == 40.0 for o in r["test"]["occurrences"])
    assert r["test"]["snr_bands"][-1]["keywords"] == 12 and r["oracle"]["miss_rate"] == 0.0
    assert r["scoring"]["windows"] > 0 and r["scoring"]["live_real_time_factor"] > 0
    manifest = json.loads((tmp_path / "out" / "recordings.json").read_text())
    beep = next(c for c in manifest["clips"] if c["keyword"])
    assert beep["end_s"] - beep["start_s"] == pytest.approx(TONE_SECONDS, abs=2e-4)
    assert (tmp_path / "out" / "det.png").stat().st_size > 0
    again = evaluate_streams(artifact, data, tmp_path / "out", config=CONFIG, show_progress=False)
    assert again["results"]["beeper.onnx"]["scoring"]["cached"]  # scored once, read back
    assert again["results"]["beeper.onnx"]["test"]["at_point"] == {**at, **{k: again["results"]["beeper.onnx"]["test"]
                                                                          ["at_point"][k] for k in ("miss_rate_ci",
                                                                                                    "fa_per_hour_ci")}}


def test_a_carried_operating_point_is_used_and_said(tones, tmp_path):
    from spc.engines.artifact_manifest import read_manifest, write_manifest

    artifact, data = tones
    carried = tmp_path / "carried.onnx"
    carried.write_bytes(Path(artifact).read_bytes())
    m = read_manifest(artifact)
    point = OperatingPoint(threshold=0.5, smooth=1, refractory_seconds=0.5, hop_seconds=0.05, max_fa_per_hour=9.0,
                           fa_per_hour=1.0, miss_rate=0.0, negative_hours=1.0, keywords=10, chosen_on="elsewhere")
    write_manifest(carried, {**m, "operating_point": point.as_dict()})
    s = evaluate_streams(carried, data, tmp_path / "out", config=CONFIG, show_progress=False)
    r = s["results"]["carried.onnx"]
    assert r["operating_point_source"] == "carried by the artifact" and r["operating_point"] == point.as_dict()
    assert r["test"]["at_point"]["threshold"] == 0.5 and r["test"]["at_point"]["smooth"] == 1
    assert not (tmp_path / "out" / "negatives-validation").exists()  # no validation streams were needed


def test_user_negatives_add_hours_and_a_false_accept_names_its_file_and_offset(tones, tmp_path):
    artifact, data = tones
    rng = np.random.default_rng(5)
    neg = tmp_path / "kitchen"
    neg.mkdir()
    t = np.arange(int(TONE_SECONDS * RATE)) / RATE
    x = (0.01 * rng.standard_normal(40 * RATE)).astype(np.float32)
    x[10 * RATE : 10 * RATE + len(t)] += (TONE_AMPLITUDE * 3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    sf.write(str(neg / "k.wav"), x, RATE, subtype="FLOAT")
    a = evaluate_streams(artifact, data, tmp_path / "a", config=CONFIG, show_progress=False)["results"]["beeper.onnx"]
    b = evaluate_streams(artifact, data, tmp_path / "b", config=CONFIG, negatives_dir=neg,
                         show_progress=False)["results"]["beeper.onnx"]
    ha, hb = a["test"]["at_point"]["negative_hours"], b["test"]["at_point"]["negative_hours"]
    assert hb == pytest.approx(ha + (40 - 2) / 3600, abs=1e-6)  # two 20 s pieces, windows end from 1 s into each
    assert b["test"]["at_point"]["false_accepts"] == a["test"]["at_point"]["false_accepts"] + 1
    fa = b["test"]["false_accepts"][-1]
    assert fa["source_kind"] == "user" and fa["source"].startswith(str(neg / "k.wav") + "@")
    offset = float(fa["source"].rsplit("@", 1)[1].rstrip("s"))
    assert 9.0 <= offset <= 10.0  # the window [offset, offset + 1 s] that fired holds the tone planted at 10 s
    assert b["test"]["top_sources"][0]["source"] == str(neg / "k.wav")
    assert b["test"]["per_source"]["user"]["false_accepts"] == 1


def test_artifacts_with_other_classes_are_refused_not_scored_as_deaf(tones, tmp_path):
    from spc.engines.artifact_manifest import read_manifest, write_manifest

    artifact, data = tones
    other = tmp_path / "other.onnx"
    other.write_bytes(Path(artifact).read_bytes())
    write_manifest(other, {**read_manifest(artifact), "labels": ["_silence_", "bleep"]})
    with pytest.raises(SpcError, match="need the same classes"):
        evaluate_streams({"a": artifact, "b": other}, data, tmp_path / "o", config=CONFIG, show_progress=False)


def test_cli_prints_the_point_and_the_figures_and_refuses_bad_input(tones, tmp_path):
    artifact, data = tones
    args = ["stream-eval", str(artifact), "--data", str(data), "--hop", "0.05", "--snr-db", "40,40",
            "--synthetic-negatives", "0", "--validation-synthetic-negatives", "0", "--max-fa-per-hour", "1000",
            "--bootstrap", "20"]
    r = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "operating point chosen here on the validation streams (the artifact carries none)" in r.output
    assert "at the carried point: miss rate 0.000" in r.output and "one false accept = " in r.output
    unresolved = CliRunner().invoke(cli, args[:-4] + ["--max-fa-per-hour", "1", "--out", str(tmp_path / "u")])
    assert unresolved.exit_code == 0 and "cannot resolve 1 FA/h" in unresolved.output
    assert "miss rate not shown (unresolved)" in unresolved.output
    (tmp_path / "f").write_text("x")
    r = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "f")])
    assert r.exit_code == 1 and "is a file, not a folder" in r.output
    r = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "o2"), "--keywords", "yes"])
    assert r.exit_code == 1 and "keywords ['yes'] are not classes" in r.output
    r = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "o3"), "--gap", "2"])
    assert r.exit_code == 1 and "gaps must be 0 <= min <= max" in r.output
    r = CliRunner().invoke(cli, args + ["--out", str(data / "test" / "stream")])
    assert r.exit_code == 1 and "sits inside the data folder" in r.output and not (data / "test" / "stream").exists()
    r = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "o4"), "--smooth-choices", "1000000000"])
    assert r.exit_code == 1 and "smoothing choices must be whole numbers of windows in [1, 1000]" in r.output


def test_clips_are_placed_at_the_snr_they_record():
    """The active-speech level of each placed clip, measured on the mixed stream minus its noise, over the noise RMS."""
    rng = np.random.default_rng(3)
    levels = [0.003, 0.03, 0.3]  # three 'speakers' 20 dB apart
    audio = np.zeros((6, RATE), np.float32)
    for k in range(6):
        audio[k, 2000:10000] = levels[k % 3] * rng.standard_normal(8000)
    labels = ["beep", "beep", "beep", "_unknown_", "_unknown_", "_unknown_"]
    cfg = replace(CONFIG, snr_db=(5.0, 25.0), colours=("white",), recording_seconds=600.0)
    s = build_streams("test", audio, labels, [f"c{i}.wav" for i in range(6)], ["beep"], RATE, RATE, cfg)
    noise_rms = 10 ** (cfg.noise_db / 20)
    x = s.recordings[0].audio
    for c in s.clips:
        a, b = int(round(c.start_s * RATE)), int(round(c.end_s * RATE))
        clean = audio[int(c.path[1:].removesuffix(".wav"))][2000:10000]
        gain = np.dot(x[a:b], clean) / np.dot(clean, clean)  # the clip's share of the mixture (noise is independent)
        snr = 20 * np.log10(gain * active_rms(clean, RATE) / noise_rms)
        assert snr == pytest.approx(c.snr_db, abs=0.3), c
        assert 5.0 <= c.snr_db <= 25.0
    with pytest.raises(SpcError, match="SNR range"):
        replace(CONFIG, snr_db=(30.0, 5.0))


def test_a_clip_limit_builds_the_streams_from_a_class_balanced_seeded_sample():
    from spc.data.clips import balanced_indices

    labels = ["beep"] * 30 + ["_silence_"] * 6 + ["_unknown_"] * 4
    audio = np.full((len(labels), RATE // 4), 0.1, np.float32)
    paths = [f"c{i}" for i in range(len(labels))]
    every = build_streams("test", audio, labels, paths, ["beep"], RATE, RATE, CONFIG)
    some = build_streams("test", audio, labels, paths, ["beep"], RATE, RATE, replace(CONFIG, max_clips=12))
    assert len(every.clips) == 40 and len(some.clips) == 12
    used = {c.path: c.label for c in some.clips}
    assert sorted(used.values()).count("beep") == 4 and list(used.values()).count("_unknown_") == 4  # 4 per class
    again = build_streams("test", audio, labels, paths, ["beep"], RATE, RATE, replace(CONFIG, max_clips=12))
    assert [c.path for c in again.clips] == [c.path for c in some.clips] and again.fingerprint == some.fingerprint
    assert sorted(balanced_indices(labels, 12, seed=CONFIG.seed)) == sorted(int(s[1:]) for s in used)
    with pytest.raises(SpcError, match="at least 1"):
        replace(CONFIG, max_clips=0)


@pytest.mark.parametrize("colour, slope", [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_noise_colours_have_their_spectral_slope(colour, slope):
    """Power against frequency on log-log axes, fitted between 100 Hz and 4 kHz: 0, -1 and -2 (independently of how
    the noise is made)."""
    from spc.streaming.mixing import coloured_noise

    x = coloured_noise(4096 * 80, colour, np.random.default_rng(0)).astype(np.float64)
    assert np.sqrt(np.mean(x**2)) == pytest.approx(1.0, rel=1e-6)
    seg = x.reshape(-1, 4096)
    power = (np.abs(np.fft.rfft(seg * np.hanning(4096), axis=1)) ** 2).mean(0)
    freq = np.fft.rfftfreq(4096, 1 / RATE)
    band = (freq > 100) & (freq < 4000)
    fitted = np.polyfit(np.log10(freq[band]), np.log10(power[band]), 1)[0]
    assert fitted == pytest.approx(slope, abs=0.1)


# ---------------------------------------------------------------- negative audio: real first, sources said (issue 42)


@pytest.fixture(scope="module")
def speech_commands_form(tmp_path_factory):
    """A Speech Commands preprocessed-form folder (keyword folder, _unknown_, _silence_, the two lists) and a
    3-class artifact for it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engines"))
    import trt_fakes

    root = tmp_path_factory.mktemp("sc")
    rng = np.random.default_rng(4)
    lists = {"validation": [], "test": []}
    for label in ("beep", "_unknown_", "_silence_"):
        for k in range(9):
            rel = f"{label}/{label.strip('_')}_{k}.wav"
            x = (0.05 * rng.standard_normal(RATE)).astype(np.float32)
            sf.write(_mk(root / "data" / rel), x, RATE)
            if k >= 6:
                lists["test" if k >= 8 else "validation"].append(rel)
    (root / "data" / "validation_list.txt").write_text("\n".join(lists["validation"]) + "\n")
    (root / "data" / "testing_list.txt").write_text("\n".join(lists["test"]) + "\n")
    return trt_fakes.tiny_onnx(root / "m.onnx", labels=("beep", "_unknown_", "_silence_")), root / "data"


def _mk(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def test_the_default_negatives_are_the_datas_own_recordings_and_synthetic_ones_are_said(speech_commands_form, tmp_path):
    artifact, data = speech_commands_form
    cfg = replace(CONFIG, snr_db=(10.0, 20.0), max_fa_per_hour=1000.0)
    default = evaluate_streams(artifact, data, tmp_path / "a", config=cfg, show_progress=False)
    recs = json.loads((tmp_path / "a" / "recordings.json").read_text())["recordings"]
    assert {r["source_kind"] for r in recs} == {"clips"}  # no synthetic audio where the data has non-keyword clips
    assert StreamEvalConfig().synthetic_hours == 0 and StreamEvalConfig().validation_synthetic_hours == 0
    r = default["results"]["m.onnx"]["test"]
    assert set(r["per_source"]) == {"clip streams"} and "fa_per_hour" in r["per_source"]["clip streams"]
    more = evaluate_streams(artifact, data, tmp_path / "b", config=replace(cfg, synthetic_hours=0.01),
                            show_progress=False)["results"]["m.onnx"]["test"]
    assert set(more["per_source"]) == {"clip streams", "espeak-ng"}
    assert more["without_synthetic"]["negative_hours"] == pytest.approx(r["at_point"]["negative_hours"], rel=1e-6)
    assert more["at_point"]["negative_hours"] > more["without_synthetic"]["negative_hours"]
