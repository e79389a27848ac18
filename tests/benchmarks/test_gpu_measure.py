"""benchmarks/gpu_measure.py before any GPU time: its --dry-run (the GPU run's code path on the CPU), the pack, the time guard."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_measure.py"


def load_script():
    """The script as a module (it is not a package), for its functions."""
    spec = importlib.util.spec_from_file_location("gpu_measure", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    """One --dry-run in a subprocess, onnxsim and onnxslim made absent (as they may be on the GPU box)."""
    root = tmp_path_factory.mktemp("gpu-dry")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(root / "out"), "--work", str(root / "work"),
                           "--simulate-absent", "onnxsim,onnxslim"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    print(f"gpu_measure.py --dry-run: {wall:.1f} s wall")
    return json.loads((root / "out" / "gpu_measure.json").read_text()), (root / "out" / "gpu_measure.md").read_text()


def test_dry_run_training_part_matches_the_recipe_and_the_cpu_reference(dry_run):
    result, _ = dry_run
    assert result["dry_run"] and result["environment"]["device"] == "cpu" and result["imports"]["ok"]
    assert "absent" in result["imports"]["optional"]["onnxsim"] and "absent" in result["imports"]["optional"]["onnxslim"]
    simp = next(w for w in result["workarounds"] if w["what"].startswith("export without graph simplification"))
    assert simp["needed"] > 0  # compress's exports went through without either simplifier
    tr = result["parts"]["training"]
    assert "error" not in tr and "stopped" not in tr and tr["wall_s"] > 0
    assert tr["teacher"]["device"] == "cpu" and tr["teacher"]["train_seconds"] > 0 and tr["teacher"]["epochs_run"] >= 1
    assert tr["teacher_config"]["train_layers"] == 0 and tr["teacher_config"]["train"]["device"] == "cpu"
    # every training stage of compress was sent to the run's device
    cfg = tr["compress_config"]
    assert cfg["prune"]["device"] == cfg["distill"]["stage1"]["device"] == cfg["distill"]["stage2"]["device"] == "cpu"
    c = tr["compress"]
    names = [s["stage"] for s in c["stages"]]
    assert {"check and load", "analyse", "prune", "mimic", "export", "choose", "build", "final"} <= set(names)
    assert all(s["seconds"] is not None and s["seconds"] >= 0 for s in c["stages"]) and c["seconds"] > 0
    assert sum(s["seconds"] for s in c["stages"]) > 0
    assert isinstance(c["verdict"], str) and c["verdict"] and c["chosen"] in c["candidates"]
    assert 0 <= c["retention"] <= 10 and len(c["retention_ci"]) == 2
    assert any(n.startswith("pruned") for n in c["candidates"]) and "mimic" in c["candidates"]
    # the CPU reference is read from the recorded files, nothing typed in
    ref = result["cpu_reference"]
    recorded = json.loads((ROOT / "benchmarks" / "results" / "whisper_fsdd" / "compress.json").read_text())
    assert ref["compress"]["retention"] == recorded["retention"] and ref["compress"]["verdict"] == recorded["verdict"]
    assert ref["compress"]["chosen"] == recorded["chosen"] and "whisper_fsdd/compress.json" in ref["source"]["compress"]
    ag = result["agreement"]
    assert ag["comparable"] is False and "dry run" in ag["note"]
    assert {"cuda", "cpu", "diff", "cuda_within_cpu_ci"} <= set(ag["retention"]) and "same" in ag["verdict"]


def test_dry_run_inference_part_and_what_is_not_measured(dry_run):
    result, md = dry_run
    inf = result["parts"]["inference"]
    assert "error" not in inf and inf["wall_s"] > 0
    assert {"teacher", "mimic"} <= set(inf["models"]) and any(n.startswith("pruned") for n in inf["models"])
    assert any(n.startswith("wav2vec2") for n in inf["models"])
    cells = {(r["model"], r["precision"], r["batch"]) for r in inf["rows"]}
    assert {("teacher", p, b) for p in ("fp32", "fp16") for b in (1, 2)} <= cells
    for r in inf["rows"]:
        assert r["eager"]["device"]["p50_ms"] > 0 and r["eager"]["end_to_end"]["p50_ms"] > 0
        assert r["eager"]["timer"] == "perf_counter (CPU)"
        assert r["graph"] == {"skipped": "dry run on CPU: CUDA events/graphs not measured"}
    assert inf["fp16_vs_fp32"].keys() == inf["models"].keys()
    for a in inf["fp16_vs_fp32"].values():
        assert 0 <= a["top1_agreement"] <= 1 and np.isfinite(a["max_abs_logit_diff"]) and a["max_abs_logit_diff"] >= 0
        assert a["clips"] == result["inputs"]["clips"]["test"]
    items = {x["what"]: x["reason"] for x in result["not_measured"]}
    for word in ("TensorRT", "Jetson", "power"):
        hits = [w for w in items if word in w]
        assert hits and all(items[w] for w in hits), word
    assert "dry run on CPU: CUDA events/graphs not measured" in items.values()
    assert not result["budget"]["stopped"] and result["budget"]["spent_s"] < result["budget"]["budget_s"]
    assert set(result["wall_s"]) == {"training", "inference"}
    for text in ("Dry run on the CPU", "## 1. Training", "## 2. Inference", "FP16 against FP32", "## 3. Not measured",
                 "TensorRT"):
        assert text in md


def test_time_guard_stops_a_part_cleanly_and_marks_the_rest():
    gm = load_script()
    budget, result, saves = gm.Budget(0.5), {"dry_run": False, "parts": {}, "imports": {}}, []
    t0 = time.monotonic()
    gm.run_part("slow", result, budget, 0.0, lambda part: (part.update(started=True), time.sleep(10)),
                lambda: saves.append(1))
    part = result["parts"]["slow"]
    assert part["started"] and part["stopped"].startswith("time budget") and time.monotonic() - t0 < 5
    assert budget.stopped and saves
    gm.run_part("next", result, budget, 0.0, lambda part: part.update(started=True), lambda: None)
    assert "started" not in result["parts"]["next"] and "time budget" in result["parts"]["next"]["stopped"]
    reasons = {x["what"]: x["reason"] for x in gm.not_measured(result)}
    assert reasons["the rest of part 'slow'"] == reasons["the rest of part 'next'"] == "time budget"


def test_pack_copies_the_model_and_chosen_takes_losslessly(tmp_path):
    import soundfile as sf

    gm = load_script()
    data = gm.synth_fsdd(tmp_path / "fsdd", speakers=("ada",), takes=6)
    model = tmp_path / "encoder"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"\0" * 1000)
    info = gm.pack(tmp_path / "pack", model, data, gm.parse_takes("0-2,5"), "flac")
    files = sorted((tmp_path / "pack" / "fsdd" / "recordings").iterdir())
    assert info["data"]["clips"] == len(files) == 40 and {f.suffix for f in files} == {".flac"}
    assert {int(f.stem.split("_")[2]) for f in files} == {0, 1, 2, 5} and info["data"]["lossless_checked"]
    assert info["model"]["bytes"] == 1002 and info["total_bytes"] == gm.folder_bytes(tmp_path / "pack" / "fsdd") + 1002
    wav = sf.read(str(data / "recordings" / "3_ada_5.wav"), dtype="int16")[0]
    assert np.array_equal(sf.read(str(tmp_path / "pack" / "fsdd" / "recordings" / "3_ada_5.flac"), dtype="int16")[0], wav)
    assert json.loads((tmp_path / "pack" / "pack.json").read_text())["total_mb"] == info["total_mb"]
    gm.pack(tmp_path / "pack", model, data, None, "wav")  # its own pack is replaced
    assert len(list((tmp_path / "pack" / "fsdd" / "recordings").glob("*.wav"))) == 60
    with pytest.raises(SystemExit, match="not a pack"):
        gm.pack(model, model, data, None, "flac")  # a folder it did not make is never removed
    with pytest.raises(SystemExit, match="over the"):
        gm.pack(tmp_path / "big", model, data, None, "wav", max_mb=0.001)
    assert not (tmp_path / "big").exists()
