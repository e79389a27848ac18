"""The main job end to end on a tiny model and data made in the test: report, artifact accuracy, reuse, resume."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import tiny_configs, tone, write_wav
from spc.cli import cli
from spc.data import DataConfig
from spc.distill import DistillConfig, MimicConfig
from spc.prune import HealConfig
from spc.training.loop import TrainConfig
from spc.errors import SpcError
from spc.prune import PruneConfig
from spc.recipes.compress import CompressConfig, run_compress
from spc.streaming.evaluation import StreamEvalConfig


@pytest.fixture(scope="module")
def teacher_and_data(tmp_path_factory):
    """A tiny teacher trained on a 3-tone data set large enough for a 95% retention target."""
    from spc.training.finetuning import FinetuneConfig
    from spc.recipes.finetune import run_finetune

    root = tmp_path_factory.mktemp("compress")
    rng = np.random.default_rng(0)
    data = root / "data"
    for split, n in (("train", 40), ("validation", 70), ("test", 30)):
        for label, freq in (("high", 2500), ("low", 300), ("mid", 900)):
            for k in range(n):
                write_wav(data / split / label / f"{k}.wav", tone(freq * rng.uniform(0.9, 1.1), 0.6, rng=rng))
    cfg = root / "tiny.json"
    tiny_configs()["wav2vec2"].to_json_file(cfg)
    run_finetune(str(cfg), DataConfig(data), root / "teacher", show_progress=False,
                 config=FinetuneConfig(train=TrainConfig(epochs=15, batch_size=16, lr=3e-3), freeze_feature_encoder=False,
                                       augment=False))
    return root / "teacher", DataConfig(data)


_QUICK = dict(batch_size=32, lr=3e-3, weight_decay=0.0)
FAST = CompressConfig(analysis_clips=32,
                      prune=PruneConfig(orders=("bi", "backward"), batch_size=32,
                                        heal=HealConfig("head", head=TrainConfig(epochs=2, **_QUICK),
                                                        stream_windows=0.0)),  # windows: tests/prune
                      mimic=MimicConfig("linear", 1, hidden=16),
                      distill=DistillConfig(stage1=TrainConfig(epochs=8, **_QUICK), stage2=TrainConfig(epochs=4, **_QUICK)),
                      latency_runs=3, stream=False, train_negatives_hours=0.0,
                      # no espeak-ng hours (minutes to score), a budget the clip streams' minutes resolve
                      detector=StreamEvalConfig(keywords=("high",), synthetic_hours=0.0, validation_synthetic_hours=0.0,
                                                snr_db=(20.0, 30.0), colours=("white",),  # what the teacher heard
                                                max_fa_per_hour=300.0, bootstrap=100, live_seconds=0.0,
                                                smooth_choices=(1, 3), refractory_choices=(1.0,)))


def test_compress_report_matches_a_separate_eval(teacher_and_data, tmp_path):
    teacher, data = teacher_and_data
    out = tmp_path / "report"
    report = run_compress(teacher, data, out, "cpu", config=replace(FAST, stream=True), show_progress=False)
    saved = json.loads((out / "report.json").read_text())
    md = (out / "report.md").read_text()
    assert saved["chosen"] == "original" or saved["chosen"] == "mimic" or saved["chosen"].startswith("pruned-")
    verdict = md.splitlines()[2]  # the line under the title
    assert verdict.startswith("**PASS**" if saved["final"]["passed"] else "**FAIL")
    for fig in ("accuracy_latency.png", "heatmap_cka.png", "pruning_curves.png"):
        assert (out / "figures" / fig).is_file() and f"figures/{fig}" in md
    artifact = saved["final"]["artifact"]
    assert artifact.endswith(".ort.onnx") and (out / "artifacts").is_dir()
    # the latency floor (the original with no stack) is timed beside the candidates and never one of them
    floor = saved["latency_floor"]
    assert floor["p50_ms"] > 0 and "floor (no stack)" not in saved["candidates"]
    for e in saved["candidates"].values():
        assert e["latency_x_floor"] == pytest.approx(e["latency_onnx_ms"]["p50_ms"] / floor["p50_ms"])
    assert floor["vs_original"] == pytest.approx(floor["p50_ms"] / saved["candidates"]["original"]["latency_onnx_ms"]["p50_ms"])
    assert "Latency floor:" in md
    # the report's accuracy is the artifact's own: a separate evaluation of the same file agrees
    from spc.data import load_clips, open_dataset
    from spc.accuracy import evaluate
    from spc.engines import open_runner

    with open_runner(artifact) as fn:
        clips = load_clips(open_dataset(data.root), "test", labels=fn.manifest["labels"], show_progress=False)
        assert evaluate(fn, clips).accuracy == pytest.approx(saved["final"]["test_accuracy"])
    assert report["final"]["retention"] == pytest.approx(saved["final"]["test_accuracy"] / saved["final"]["original_test_accuracy"])
    assert saved["warnings"] == []  # the teacher is far above chance
    # the app's terms: both models as streaming detectors on the same recordings, in the JSON and the markdown
    stream = saved["stream"]
    assert stream["keywords"] == ["high"] and stream["negative_hours"] > 0
    assert set(stream) >= {"original", "compressed"} and (out / "stream" / "det.png").is_file()
    assert "As a streaming detector" in md
    # every candidate passing the clip gate was read as a detector on validation streams at its own operating point,
    # which its ONNX manifest carries (and so does its build)
    orig_val = saved["candidates"]["original"]["detector_val"]
    for name, e in saved["candidates"].items():
        d = e["detector_val"]
        manifest = json.loads(open(e["onnx"] + ".json").read())
        if d.get("operating_point") is None:
            assert "operating_point" not in manifest
            continue
        assert d["keywords"] == 70 and 0 <= d["hit_rate"] <= 1 and manifest["operating_point"] == d["operating_point"]
        if name != "original" and d.get("mode") == "ratio":
            assert d["retention"] == pytest.approx(d["hit_rate"] / orig_val["hit_rate"])
    det = saved["final"]["detector"]
    assert det["keywords"] == 30 and det["judged"] and orig_val["hit_rate"] > 0.9  # the teacher detects its tones
    built = json.loads(open(saved["final"]["artifact"] + ".json").read())
    assert built["operating_point"] == saved["candidates"][saved["chosen"]]["detector_val"]["operating_point"]
    assert saved["final"]["verdict"].startswith(("PASS", "FAIL"))
    assert det["retention"] == pytest.approx(det["hit_rate"] / det["original_hit_rate"])
    assert saved["final"]["passed"] == (saved["final"]["retention"] >= 0.95 - 1e-12 and det["retention"] >= 0.95 - 1e-12)

    # a second run reuses every stage (nothing retrains or rebuilds: every candidate that passed on validation was
    # built in the choose stage, so a candidate as fast as the chosen one, chosen this time, is built already)
    stages = sorted(p.name for p in (out / "work").iterdir() if (p / "stage.json").is_file())  # not the score cache
    stamps = {p: (out / "work" / p / "stage.json").stat().st_mtime for p in stages}
    again = run_compress(teacher, data, out, "cpu", config=replace(FAST, stream=True), show_progress=False)
    added = set(p.name for p in (out / "work").iterdir() if (p / "stage.json").is_file()) - set(stages)
    assert {p: (out / "work" / p / "stage.json").stat().st_mtime for p in stages} == stamps
    assert not added, added
    if again["chosen"] == report["chosen"]:
        assert again["final"]["test_accuracy"] == report["final"]["test_accuracy"]


def test_interrupted_compress_resumes(teacher_and_data, tmp_path, monkeypatch):
    teacher, data = teacher_and_data
    import spc.recipes.compress.exporting as compress

    def boom(*a, **k):
        raise KeyboardInterrupt

    real_export = compress.export_onnx
    monkeypatch.setattr(compress, "export_onnx", boom)
    with pytest.raises(KeyboardInterrupt):
        run_compress(teacher, data, tmp_path / "r", "cpu", config=FAST, show_progress=False)
    done_before = sorted(p.name for p in (tmp_path / "r" / "work").iterdir() if (p / "stage.json").is_file())
    assert any(n.startswith("analyze-") for n in done_before) and any(n.startswith("mimic-") for n in done_before)
    monkeypatch.setattr(compress, "export_onnx", real_export)
    report = run_compress(teacher, data, tmp_path / "r", "cpu", config=FAST, show_progress=False)
    assert report["final"]["test_accuracy"] > 0
    for name in done_before:  # finished stages were not redone
        assert (tmp_path / "r" / "work" / name / "stage.json").is_file()


def test_gpu_target_here_stops_at_onnx_with_device_commands(teacher_and_data, tmp_path):
    teacher, data = teacher_and_data
    cfg = replace(FAST, method="prune")
    report = run_compress(teacher, data, tmp_path / "g", "jetson-orin", config=cfg, show_progress=False)
    assert report["target"]["name"] == "jetson-orin-nano" and not report["build"]["built_here"]
    assert report["final"]["artifact"].endswith(".onnx") and report["final"]["kind"] == "onnx"
    steps = report["next_steps"]
    assert steps[0].startswith("spc build ") and "--target jetson-orin-nano" in steps[0]
    assert steps[-1].startswith("spc bench ") and f"--report {tmp_path / 'g'}" in steps[-1]
    assert "spc build" in (tmp_path / "g" / "report.md").read_text()
    # what `spc bench --report` adds on the device (here with the ONNX artifact standing in for the engine)
    r = CliRunner().invoke(cli, ["bench", report["final"]["artifact"], "--target", "cpu", "--data", data.root,
                                 "--report", str(tmp_path / "g"), "--runs", "2", "--warmup", "1"])
    assert r.exit_code == 0, r.output
    updated = json.loads((tmp_path / "g" / "report.json").read_text())
    assert updated["device_results"][0]["accuracy"] == pytest.approx(report["final"]["test_accuracy"])
    assert "Measured on the device" in (tmp_path / "g" / "report.md").read_text()


def test_bad_input_fails_before_any_work(teacher_and_data, tmp_path):
    teacher, data = teacher_and_data
    with pytest.raises(SpcError, match="unknown target 'tpu'"):
        run_compress(teacher, data, tmp_path / "a", "tpu", config=FAST)
    with pytest.raises(SpcError, match="does not exist"):
        run_compress(teacher, DataConfig(tmp_path / "nodata"), tmp_path / "b", "cpu", config=FAST)
    (tmp_path / "empty" / "x").mkdir(parents=True)
    with pytest.raises(SpcError, match="no audio clips"):
        run_compress(teacher, DataConfig(tmp_path / "empty"), tmp_path / "c", "cpu", config=FAST)
    (tmp_path / "cfg.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(SpcError, match="unsupported model type 'bert'"):
        run_compress(tmp_path / "cfg.json", data, tmp_path / "d", "cpu", config=FAST)
    other = tmp_path / "other"
    other.mkdir()
    (other / "report.json").write_text(json.dumps({"job": "someone-else"}))
    with pytest.raises(SpcError, match="holds the report of another run"):
        run_compress(teacher, data, other, "cpu", config=FAST)
    for name in ("a", "b", "c", "d"):
        assert not (tmp_path / name).exists()


def test_calibration_manifest_reaches_every_stage(teacher_and_data, tmp_path):
    from spc.calib import CalibConfig, make_manifest, manifest_hash, save_manifest
    from spc.data import open_dataset

    teacher, data = teacher_and_data
    manifest = make_manifest(open_dataset(data.root), CalibConfig(24, seed=1))
    path = save_manifest(manifest, tmp_path / "cal.json")
    cfg = replace(FAST, method="prune", calib=str(path))
    report = run_compress(teacher, data, tmp_path / "c", "cpu", config=cfg, show_progress=False)
    h = manifest_hash(manifest)
    assert report["calibration"]["hash"] == h and h in (tmp_path / "c" / "report.md").read_text()
    analysis = json.loads(open(report["analysis"]).read())
    assert analysis["data"]["calibration"]["hash"] == h and analysis["n_clips"] == 24
    assert report["keys"]["calibration_sha256"] == h
    with pytest.raises(SpcError, match="no calibration manifest"):
        run_compress(teacher, data, tmp_path / "d", "cpu", config=replace(FAST, calib="nope"))


def test_near_chance_original_is_flagged(teacher_and_data, tmp_path):
    from spc.models import build_model, save_model

    _, data = teacher_and_data
    untrained = build_model(tiny_configs()["wav2vec2"], ["high", "low", "mid"], seed=0)
    with torch_no_grad():
        untrained.hf.classifier.weight.zero_()  # constant logits: exactly chance (one class predicted)
    save_model(untrained, tmp_path / "u")
    cfg = replace(FAST, method="prune", retention=0.5)
    report = run_compress(tmp_path / "u", data, tmp_path / "r", "cpu", config=cfg, show_progress=False)
    assert report["warnings"] and "near chance" in report["warnings"][0]
    assert "Warning" in (tmp_path / "r" / "report.md").read_text()


def torch_no_grad():
    import torch

    return torch.no_grad()


def test_a_teacher_retrained_in_place_is_compressed_anew(teacher_and_data, tmp_path):
    """Stages are keyed by the model's weights, not its path: changed weights in the same folder rerun them."""
    import shutil

    import torch

    from spc.models import load_model, save_model

    teacher, data = teacher_and_data
    mine = tmp_path / "teacher"
    shutil.copytree(teacher, mine)
    cfg = replace(FAST, method="prune")
    first = run_compress(mine, data, tmp_path / "r", "cpu", config=cfg, show_progress=False)
    stages = {p.name for p in (tmp_path / "r" / "work").iterdir()}
    model = load_model(mine)
    with torch.no_grad():
        model.hf.classifier.bias.add_(0.01)  # "retrained": other weights, same folder
    save_model(model, mine)
    again = run_compress(mine, data, tmp_path / "r", "cpu", config=cfg, show_progress=False)
    rerun = {p.name for p in (tmp_path / "r" / "work").iterdir()} - stages
    assert {n.split("-")[0] for n in rerun} >= {"analyze", "prune", "export"}
    assert again["keys"]["weights_sha256"] != first["keys"]["weights_sha256"]


def test_every_artifact_matches_its_manifest(teacher_and_data, tmp_path):
    from spc.engines.artifact_manifest import manifest_path
    from spc.fileio import sha256_file

    teacher, data = teacher_and_data
    report = run_compress(teacher, data, tmp_path / "r", "cpu", config=FAST, show_progress=False)
    found = [p for p in (tmp_path / "r").rglob("*.onnx")]
    assert len(found) >= 4  # exports and the build, in the work folder and the copies in artifacts/
    for path in found:
        manifest = json.loads(manifest_path(path).read_text())
        assert manifest["sha256"] == sha256_file(path), path
        assert manifest.get("schema_version") and manifest.get("provenance"), path
    assert report["final"]["artifact"].endswith(".ort.onnx")


def test_compress_passes_on_a_separable_task_with_every_passing_depth_a_candidate(teacher_and_data, tmp_path):
    """The main job must PASS where it should: a teacher that is right on every clip of an easy task."""
    teacher, data = teacher_and_data
    report = run_compress(teacher, data, tmp_path / "r", "cpu", config=replace(FAST, method="prune"),
                          show_progress=False)
    f = report["final"]
    assert f["verdict"] == "PASS" and f["passed"]
    assert f["retention"] >= 0.95 and f["retention_ci"][0] >= 0.95  # safe, not only on the point estimate
    assert report["chosen"].startswith("pruned-") and report["choice"]["standing"] == "safe"
    prune_summary = json.loads(open(report["candidates"][report["chosen"]]["summary"]).read())
    passing = [c["removed"] for c in prune_summary["depths"]]
    assert passing and sorted(f"pruned-{k}" for k in passing) == sorted(n for n in report["candidates"] if n != "original")
    # on the CPU the passing candidates are ranked as built: each ONNX Runtime build on the threads it timed, the
    # chosen one the fastest safe one as built, and what ships is the very file that was timed
    from spc.engines.artifact_manifest import read_manifest

    cands = report["candidates"]
    built = {n: e for n, e in cands.items() if e["val_retention"] >= 0.95 - 1e-12}
    assert report["chosen"] in built and "original" in built
    for name, e in built.items():
        t = e["latency_target_ms"]
        assert t["p50_ms"] > 0 and t["batch"] == 1 and t["artifact"].endswith(".ort.onnx")
        assert read_manifest(t["artifact"])["thread_choice"]["chosen_by"] == "timing"
        assert e["latency_target_ratio"] == pytest.approx(t["p50_ms"] / cands["original"]["latency_target_ms"]["p50_ms"])
    safe = [n for n in built if n != "original" and cands[n]["val_retention_ci"][0] >= 0.95 - 1e-12]
    assert min(safe, key=lambda n: cands[n]["latency_target_ms"]["p50_ms"]) == report["chosen"]
    assert report["build"]["artifact"] == cands[report["chosen"]]["latency_target_ms"]["artifact"]  # not rebuilt
    assert read_manifest(f["artifact"])["sha256"] == read_manifest(report["build"]["artifact"])["sha256"]
    assert "| as built p50 (ms) |" in (tmp_path / "r" / "report.md").read_text()
    for name, e in report["candidates"].items():  # the margin in clips is the retention's, read back in clips
        if name != "original":
            n_orig = round(report["candidates"]["original"]["val_accuracy"] * report["data"]["val_clips"])
            n_cand = round(e["val_accuracy"] * report["data"]["val_clips"])
            assert e["val_margin_clips"] == n_cand - int(np.ceil(0.95 * n_orig - 1e-12))


def test_without_a_non_keyword_class_the_detector_is_not_judged_and_the_report_says_why(teacher_and_data, tmp_path):
    teacher, data = teacher_and_data
    report = run_compress(teacher, data, tmp_path / "r", "cpu",
                          config=replace(FAST, method="prune", stream=True,
                                         detector=replace(FAST.detector, keywords=None)), show_progress=False)
    assert report["final"]["detector"] == {"judged": False} and report["stream"] is None
    assert report["final"]["verdict"] == report["final"]["clip_verdict"]
    assert any(w.startswith("the detector was not judged: no false accepts can be measured") for w in report["warnings"])


def test_int8_cpu_variants_compete_as_candidates_of_their_own(teacher_and_data, tmp_path):
    """--int8-cpu: the INT8 CPU variant (integer projections, static INT8 convolutions) of the original and of each candidate is exported, gated and chosen
    by the same rule; its artifact is an INT8 graph and its entry names what it was made from."""
    from spc.engines.artifact_manifest import read_manifest

    teacher, data = teacher_and_data
    report = run_compress(teacher, data, tmp_path / "r", "cpu", config=replace(FAST, method="mimic", int8_cpu=True),
                          show_progress=False)
    cands = report["candidates"]
    int8 = {n: e for n, e in cands.items() if n.endswith("-int8")}
    # each variant is a candidate, or the report says why its INT8 graph was left out
    for source in ("original", "mimic"):
        assert f"{source}-int8" in int8 or any(w.startswith(f"{source}: no INT8 variant") for w in report["warnings"])
    assert int8 and set(int8) <= {"original-int8", "mimic-int8"}
    for name, e in int8.items():
        assert e["method"].endswith("+int8-cpu") and e["int8_of"] == name[: -len("-int8")]
        assert read_manifest(e["onnx"])["precision"] == "int8-cpu"
        conv = read_manifest(e["onnx"])["quantization"].get("conv")  # static INT8 convolutions, calibrated ...
        if conv:
            assert conv["nodes"] and 0 < conv["calibration"]["clips"] <= 64
        else:  # ... or, where those failed the gate, FP32 convolutions, said in the warnings
            assert any(w.startswith(f"{e['int8_of']}: its INT8 variant keeps the convolutions FP32")
                       for w in report["warnings"]), report["warnings"]
        assert e["weights_sha256"] == cands[e["int8_of"]]["weights_sha256"]
        assert e["latency_onnx_ms"]["p50_ms"] > 0 and "val_retention" in e
    assert report["config"]["int8_cpu"] is True
    # built and timed as built exactly where it passed on validation; the rest show "-" in the as-built column
    md = (tmp_path / "r" / "report.md").read_text()
    for name, e in cands.items():
        passed = name == "original" or e["val_retention"] >= 0.95 - 1e-12
        assert ("latency_target_ms" in e) == passed, name
        row = next(line for line in md.splitlines() if line.startswith(f"| {name} |") or line.startswith(f"| {name} * |"))
        assert (row.split(" | ")[-2] == "-") == (not passed), row


def test_a_tiny_student_is_a_candidate_with_its_own_front_end(teacher_and_data, tmp_path):
    """CompressConfig.tiny: one more candidate, a whole small model (its own log-mel front end), exported with
    parity and judged by the same rule; a design of another kind is refused."""
    from spc.models import MimicConfig, load_model

    teacher, data = teacher_and_data
    tiny = MimicConfig("tiny", 1, width=16, heads=2, mel_bins=16, n_fft=256)
    report = run_compress(teacher, data, tmp_path / "r", "cpu", config=replace(FAST, method="mimic", tiny=tiny),
                          show_progress=False)
    entry = report["candidates"]["tiny"]
    assert entry["method"] == "tiny" and entry["parity"]["max_abs_diff"] <= 1e-3
    student = load_model(entry["model"])
    assert student.meta.family == "whisper" and student.width == 16 and student.labels == load_model(teacher).labels
    assert entry["params"]["total"] < report["candidates"]["original"]["params"]["total"]
    assert "val_retention" in entry and entry["latency_onnx_ms"]["p50_ms"] > 0
    assert student.front.preprocessor.n_fft == 256
    md = (tmp_path / "r" / "report.md").read_text()  # the report says what its front end computes
    assert "`tiny` has a front end of its own" in md and "16 bands, 16 ms windows" in md and "16 channels" in md
    with pytest.raises(SpcError, match="kind 'tiny'"):
        replace(FAST, tiny=MimicConfig("linear"))


def test_an_int8_variant_whose_static_convolutions_fail_the_gate_keeps_them_fp32(teacher_and_data, tmp_path, monkeypatch):
    """Static INT8 convolutions can fail the agreement gate where integer projections alone pass (the Whisper
    tiny.en teacher: 38% disagreement): the variant then keeps its convolutions FP32, and the report says so."""
    import spc.recipes.compress.producers.int8_variants as compress_mod
    from spc.engines.artifact_manifest import read_manifest

    real = compress_mod.quantize_for_cpu

    def static_fails(src, out, config=compress_mod.QuantizeConfig(), *args):
        if config.conv == "static":
            raise SpcError("the INT8 graph disagrees with FP32 on 38% of speech-like clips (max |diff| 1.15); nothing was written")
        return real(src, out, config, *args)

    monkeypatch.setattr(compress_mod, "quantize_for_cpu", static_fails)
    teacher, data = teacher_and_data
    report = run_compress(teacher, data, tmp_path / "r", "cpu", config=replace(FAST, method="mimic", int8_cpu=True),
                          show_progress=False)
    int8 = {n: e for n, e in report["candidates"].items() if n.endswith("-int8")}
    assert set(int8) == {"original-int8", "mimic-int8"}
    for name, e in int8.items():
        q = read_manifest(e["onnx"])["quantization"]
        assert q["format"] == "dynamic" and "conv" not in q
        source = name[: -len("-int8")]
        assert any(w.startswith(f"{source}: its INT8 variant keeps the convolutions FP32 (static INT8 convolutions: "
                                "the INT8 graph disagrees") for w in report["warnings"]), report["warnings"]


# ---------------------------------------------------------------- the detector gate, both branches, for real


@pytest.fixture(scope="module")
def deaf_student(teacher_and_data, tmp_path_factory):
    """A student as accurate on the clips as the teacher and deaf in streams: trained on the same tones plus noise
    clips labelled 'high', it says 'high' to the background between keywords, so a threshold within the budget lies
    above its keywords' scores too."""
    import shutil

    from spc.training.finetuning import FinetuneConfig
    from spc.recipes.finetune import run_finetune

    teacher, data = teacher_and_data
    root = tmp_path_factory.mktemp("deaf")
    shutil.copytree(data.root, root / "data")
    rng = np.random.default_rng(1)
    for k in range(60):
        write_wav(root / "data" / "train" / "high" / f"noise_{k}.wav",
                  (10 ** (rng.uniform(-50, -30) / 20) * rng.standard_normal(16000)).astype(np.float32))
    cfg = root / "tiny.json"
    tiny_configs()["wav2vec2"].to_json_file(cfg)
    run_finetune(str(cfg), DataConfig(root / "data"), root / "deaf", show_progress=False,
                 config=FinetuneConfig(train=TrainConfig(epochs=15, batch_size=16, lr=3e-3), freeze_feature_encoder=False,
                                       augment=False))
    holds = root / "holds"
    shutil.copytree(teacher, holds)  # the teacher's own weights: a candidate that holds by construction
    return {"holds": holds, "deaf": root / "deaf"}


def _with_candidates(monkeypatch, models: dict):
    """compress with these models as its only candidates: one producer registered in place of the built-ins."""
    from spc.recipes.compress import candidate, producers  # noqa: F401 (the built-ins registered first)

    given = candidate.Producer("given", lambda config, target: True,
                               lambda run: {n: candidate.Candidate("given", str(p)) for n, p in models.items()})
    monkeypatch.setattr(candidate, "_REGISTRY", {})
    candidate.register(given)


def test_the_detector_gate_passes_a_candidate_that_holds_and_fails_one_deaf_in_streams(teacher_and_data, deaf_student,
                                                                                      tmp_path, monkeypatch):
    teacher, data = teacher_and_data
    config = replace(FAST, stream=True)
    _with_candidates(monkeypatch, deaf_student)
    both = run_compress(teacher, data, tmp_path / "both", "cpu", config=config, show_progress=False)
    deaf_val, holds_val = (both["candidates"][n]["detector_val"] for n in ("deaf", "holds"))
    orig_val = both["candidates"]["original"]["detector_val"]
    assert orig_val["hit_rate"] > 0.9  # the original detects
    assert both["candidates"]["deaf"]["val_retention"] >= 0.95  # the deaf one keeps the clip accuracy ...
    assert deaf_val["judged"] and deaf_val["retention"] < 0.5  # ... and misses most keywords at the budget
    assert holds_val["retention"] == pytest.approx(1.0)
    assert both["chosen"] == "holds" and both["final"]["verdict"] == "PASS" and both["final"]["detector"]["judged"]

    _with_candidates(monkeypatch, {"deaf": deaf_student["deaf"]})
    deaf = run_compress(teacher, data, tmp_path / "deaf", "cpu", config=config, show_progress=False)
    f = deaf["final"]
    assert deaf["chosen"] == "deaf" and f["clip_verdict"].startswith("PASS")
    assert f["detector"]["verdict"] == "FAIL" and f["verdict"] == "FAIL (detector)" and not f["passed"]
    assert f["detector"]["retention"] < 0.5
    md = (tmp_path / "deaf" / "report.md").read_text()
    assert "FAIL (detector)" in md and "at the operating point it carries" in md


def test_a_new_candidate_kind_is_one_registered_producer(teacher_and_data, tmp_path, monkeypatch):
    """A toy producer (the teacher's weights, copied) registered beside the built-ins goes through every stage and
    into the report; a producer reusing a taken name is refused before anything is exported."""
    import shutil

    from spc.recipes.compress import candidate, producers

    teacher, data = teacher_and_data
    copy = tmp_path / "copy"
    shutil.copytree(teacher, copy)
    assert producers.producer_names() == ("prune", "mimic", "tiny", "int8-cpu")
    monkeypatch.setattr(candidate, "_REGISTRY", dict(candidate._REGISTRY))
    candidate.register(candidate.Producer("toy", lambda config, target: True,
                                          lambda run: {"toy-copy": candidate.Candidate("toy", str(copy))}))
    report = run_compress(teacher, data, tmp_path / "r", "cpu", config=replace(FAST, method="mimic"),
                          show_progress=False)
    assert list(report["candidates"]) == ["original", "mimic", "toy-copy"]
    row, orig = report["candidates"]["toy-copy"], report["candidates"]["original"]
    assert row["method"] == "toy" and row["val_retention"] == 1.0 and row["weights_sha256"] == orig["weights_sha256"]
    assert candidate.Candidate.from_dict(row).as_dict() == row and "int8_of" not in row
    assert "toy-copy" in (tmp_path / "r" / "report.md").read_text()

    candidate.register(candidate.Producer("toy", lambda config, target: True,
                                          lambda run: {"mimic": candidate.Candidate("toy", str(copy))}))
    with pytest.raises(SpcError, match="two candidates are named mimic"):
        run_compress(teacher, data, tmp_path / "clash", "cpu", config=replace(FAST, method="mimic"), show_progress=False)
    assert not list((tmp_path / "clash" / "work").glob("export-*"))


class _TimedStderr:
    """stderr as a log file (not a terminal) that remembers when each line was written."""

    def __init__(self):
        import time

        self.clock, self.lines, self._part = time.perf_counter, [], ""

    def write(self, text: str) -> int:
        self._part += text
        *done, self._part = self._part.split("\n")
        self.lines += [(self.clock(), line) for line in done if line.strip()]
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def test_no_stage_is_silent_and_each_ends_with_its_time(teacher_and_data, tmp_path, monkeypatch):
    """Issue 40: every heal has its own progress naming the cut, every stage ends with one line giving its time, and
    no stretch of the run is silent (progress lines printed from a loop's start here, so that a tiny model's short
    stages speak as a base-size model's long ones do after 5 s)."""
    import sys
    import time

    from spc.progress import LineProgress

    teacher, data = teacher_and_data
    monkeypatch.setattr(LineProgress.__init__, "__defaults__", (None, None, 0.1, 0.5, 0.0))
    err = _TimedStderr()
    monkeypatch.setattr(sys, "stderr", err)
    t0 = time.perf_counter()
    report = run_compress(teacher, data, tmp_path / "r", "cpu", config=replace(FAST, stream=True), show_progress=True)
    t1 = time.perf_counter()
    monkeypatch.undo()
    text = [line for _, line in err.lines]
    stages = [entry.rsplit(" ", 2)[0] for entry in report["stages"]]
    said = [line.split("compress: ", 1)[1].split(" done in ")[0] for line in text if line.startswith("compress: ")]
    assert said == stages and len(stages) >= 8, (said, stages)
    (summary,) = (tmp_path / "r" / "work").rglob("prune.json")
    healed = {tuple(cut["keep"]) for o in json.loads(summary.read_text())["orders"] for cut in o["cuts"] if cut["healed"]}
    assert healed, "the fixture heals no cut: the heal's progress is not exercised"
    for keep in healed:
        assert any(f"healing the head of the cut keeping layers {','.join(map(str, keep))}" in line for line in text), keep
    times = [t0] + [t for t, _ in err.lines] + [t1]
    gaps = sorted(((b - a), text[i - 1] if i else "(start)") for i, (a, b) in enumerate(zip(times, times[1:])))
    assert gaps[-1][0] < 5.0, f"silent for {gaps[-1][0]:.1f} s after: {gaps[-1][1]}"
