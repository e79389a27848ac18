"""The TensorRT path against fakes of tensorrt 10.3 and cuda-python 12 (issue 13, points 2, 4, 5, 6, 7, 9, 10)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import trt_fakes
from spc.engines.build import BuildConfig
from spc.engines import BuildDeferred, build_artifact, build_check, open_runner, time_built
from spc.engines.artifact_manifest import read_manifest
from spc.errors import SpcError
from spc.targets import get_target

pytestmark = pytest.mark.device


@pytest.fixture
def onnx_model(tmp_path):
    return trt_fakes.tiny_onnx(tmp_path / "m.onnx")


def audio(n, samples=16000, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal((n, samples)) + 0.05).astype(np.float32)


# ---- point 2: cuda-python 12 and a driver that is too old


def test_driver_too_old_is_one_user_error(monkeypatch, onnx_model):
    from spc.engines.cuda_env import gpu_info

    # a desktop: update the driver or take the driver's cuda-python
    trt_fakes.install(monkeypatch, gpu="rtx-4090", count_error=trt_fakes.cudaError_t.cudaErrorInsufficientDriver)
    with pytest.raises(SpcError, match=r"driver is too old .*cudaErrorInsufficientDriver.*update the driver"):
        gpu_info()
    # a Jetson: cuda-python 12.9 links a 12.9 runtime, newer than JetPack 6's 12.6 driver: error 35 on the first call,
    # as on the board; the message names the pin to install, not the same range again
    trt_fakes.install(monkeypatch, runtime=12090, driver=12060)
    with pytest.raises(SpcError, match=r"newer than JetPack's driver .*spc\[jetson\].*cuda-python>=12.6,<12.7"):
        gpu_info()
    from spc.cli import cli

    r = CliRunner().invoke(cli, ["build", str(onnx_model), "--target", "jetson-orin-nano"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "cannot build jetson-orin-nano here: this cuda-python's CUDA runtime is newer than JetPack's driver" in r.output
    assert "no CUDA GPU" not in r.output
    trt_fakes.install(monkeypatch, runtime=12060, driver=12060)  # the pinned cuda-python: it runs
    assert gpu_info()["cuda_driver"] == "12.6"


def test_cuda_errors_are_checked_by_name(monkeypatch):
    from spc.engines.cuda_env import check

    assert check((trt_fakes.cudaError_t.cudaSuccess, 7)) == 7
    with pytest.raises(RuntimeError, match="cudaErrorMemoryAllocation"):
        check((trt_fakes.cudaError_t.cudaErrorMemoryAllocation, 0))
    with pytest.raises(SpcError, match="driver is too old"):
        check((trt_fakes.cudaError_t.cudaErrorInsufficientDriver,))


# ---- point 5: build only on the target's GPU; say which board a family resolved to


def test_wrong_gpu_defers_like_missing_tensorrt(monkeypatch, onnx_model, capsys):
    trt, _ = trt_fakes.install(monkeypatch, gpu="rtx-4090")
    target = get_target("jetson-orin")
    assert "resolved to jetson-orin-nano" in capsys.readouterr().err
    check = build_check(target)
    assert not check and "NVIDIA GeForce RTX 4090 (sm 8.9, 128 SMs, 23.6 GB, no Jetson board)" in check.why
    assert "sm 8.7, 8 SMs, 6-8 GB, board Orin Nano" in check.why
    with pytest.raises(BuildDeferred, match="cannot build jetson-orin-nano here: this GPU is NVIDIA GeForce RTX 4090"):
        build_artifact(onnx_model, target)
    assert not list(onnx_model.parent.glob("*.engine")) and trt.calls == []  # nothing built, nothing written
    assert build_check(get_target("rtx-4090"))

    trt_fakes.install(monkeypatch, with_tensorrt=False)
    with pytest.raises(BuildDeferred, match="cannot build jetson-orin-nano here: TensorRT is not installed"):
        build_artifact(onnx_model, target)


def test_cli_build_names_the_resolved_board(monkeypatch, onnx_model):
    trt_fakes.install(monkeypatch, gpu="rtx-4090")
    from spc.cli import cli

    r = CliRunner().invoke(cli, ["build", str(onnx_model), "--target", "jetson-orin"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "--target jetson-orin resolved to jetson-orin-nano" in r.output
    assert "cannot build jetson-orin-nano here: this GPU is NVIDIA GeForce RTX 4090" in r.output


# ---- a build on the right GPU; points 9 and 10


def test_fp16_build_on_the_target_gpu_pins_nothing_by_default(monkeypatch, onnx_model):
    trt, _ = trt_fakes.install(monkeypatch)
    report = build_artifact(onnx_model, get_target("jetson-orin-nano"))
    assert report.artifact.endswith("m.jetson-orin-nano.engine")
    m = read_manifest(report.artifact)
    assert m["kind"] == "tensorrt" and m["gpu"] == "Orin" and m["sm_count"] == 8 and m["tensorrt"] == "10.3.0"
    assert m["profiles"] == {"min": [1, 8000], "opt": [1, 16000], "max": [8, 32000]}
    assert m["fp32_layers"] is None and m["sha256"]
    assert trt.last_config.flags == {trt.BuilderFlag.FP16}  # no blanket norm/softmax pinning
    assert ("create_network", 0) in trt.calls


def test_flagged_layers_reach_the_engine_by_node_name(monkeypatch, onnx_model, tmp_path):
    trt, _ = trt_fakes.install(monkeypatch)
    report = tmp_path / "precision.json"
    report.write_text(json.dumps({"fp16_check": {"flagged": [1]}}))
    config = BuildConfig(fp32_layers=("/layers.0/Shape", "/layers.0/ReduceMean"), fp32_from=str(report))
    m = build_artifact(onnx_model, get_target("jetson-orin-nano"), f"{tmp_path}/out/", config).manifest
    assert m["build_config"] == config.as_dict()  # what spc build --config ARTIFACT.json reads back
    # the MatMul of layer 1 and the parser's extra layer for it; the integer Shape layer is left alone
    assert sorted(m["fp32_layers"]["pinned_layers"]) == ["/layers.0/ReduceMean", "/layers.1/MatMul", "/layers.1/MatMul_1"]
    assert m["fp32_layers"]["skipped_non_float"] == ["/layers.0/Shape"]
    assert trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS in trt.last_config.flags
    assert (tmp_path / "out" / "m.jetson-orin-nano.engine").is_file()
    with pytest.raises(SpcError, match="has no node named /layers.9/Nope"):
        build_artifact(onnx_model, get_target("jetson-orin-nano"), config=BuildConfig(fp32_layers=("/layers.9/Nope",)))


def test_int8_engine_runs_int8_and_fp16_not_fp32(monkeypatch, tmp_path):
    """Issue 21, point 4: a QDQ model is FP32 outside its Q/DQ pairs; built weakly typed with INT8 and FP16 (what
    trtexec --int8 --fp16 does) the rest runs FP16 like the FP16 engine it is compared with."""
    import importlib.util

    assert importlib.util.find_spec("spc.engines.int8_calibrator") is None  # the implicit calibrator is gone
    trt, _ = trt_fakes.install(monkeypatch)
    qdq = trt_fakes.tiny_onnx(tmp_path / "int8.onnx", qdq=True, manifest_extra={
        "precision": "int8", "quantization": {"format": "QDQ", "method": "minmax", "per_channel": False}})
    m = build_artifact(qdq, get_target("jetson-orin-nano")).manifest
    assert ("create_network", 0) in trt.calls
    assert trt.last_config.flags == {trt.BuilderFlag.INT8, trt.BuilderFlag.FP16}
    assert m["precision"] == "int8-qdq+fp16" and m["strongly_typed"] is False


def test_fake_refuses_q_dq_builds_the_real_library_refuses(monkeypatch, tmp_path):
    """The fake fails where TensorRT fails (developer guide, "Explicit quantization"): a weakly typed Q/DQ network
    without the INT8 flag, and precision flags on a strongly typed network."""
    trt, _ = trt_fakes.install(monkeypatch)
    qdq = trt_fakes.tiny_onnx(tmp_path / "int8.onnx", qdq=True)
    for flags, typed in (({trt.BuilderFlag.FP16}, 0), ({trt.BuilderFlag.FP16}, 1 << 1)):
        builder = trt.Builder(trt.Logger())
        net = builder.create_network(typed)
        parser = trt.OnnxParser(net, None)  # held until the build: it owns the network's weights
        assert parser.parse_from_file(str(qdq))
        config = builder.create_builder_config()
        for f in flags:
            config.set_flag(f)
        config.add_optimization_profile(_profile(trt))
        assert builder.build_serialized_network(net, config) is None


def _profile(trt):
    p = trt.Builder(trt.Logger()).create_optimization_profile()
    p.set_shape("audio", (1, 8000), (1, 16000), (8, 32000))
    return p


# ---- point 6: the timing cache


def test_timing_cache_is_keyed_and_a_foreign_one_is_ignored(monkeypatch, onnx_model, capsys):
    trt, _ = trt_fakes.install(monkeypatch)
    target = get_target("jetson-orin-nano")
    m = build_artifact(onnx_model, target).manifest
    cache = onnx_model.parent / "timing-orin-sm87-8sm-7gb-orin-nano-developer-kit-trt10.3.0.cache"
    assert m["timing_cache"] == cache.name and cache.read_bytes() == b"cache-for-orin-10.3.0"
    assert build_artifact(onnx_model, target).manifest["notes"] == []  # reused: accepted

    cache.write_bytes(b"cache-for-rtx-4090-10.3.0")  # travelled with the artifacts from another GPU
    capsys.readouterr()
    m = build_artifact(onnx_model, target).manifest
    assert [c[3] for c in trt.calls if c[0] == "set_timing_cache"][-2:] == [False, True]
    notes = [line for line in capsys.readouterr().err.splitlines() if "timing cache" in line]
    assert len(notes) == 1 and "another GPU or TensorRT version" in notes[0] and m["notes"]
    assert (onnx_model.parent / "m.jetson-orin-nano.engine").is_file()

    cache.write_bytes(b"garbage")  # create_timing_cache returns None
    assert build_artifact(onnx_model, target).manifest["timing_cache"] == cache.name

    trt.no_timing_cache = True  # get_timing_cache() returns None
    m = build_artifact(onnx_model, target).manifest
    assert m["timing_cache"] is None and any("no timing cache" in n for n in m["notes"])


def test_two_boards_of_one_gpu_keep_their_own_timing_caches(tmp_path):
    """Orin Nano 8 GB and Orin NX 16 GB both report an 8-SM "Orin" at sm 8.7: board and memory keep them apart."""
    from spc.engines.timing_cache import timing_cache_path

    nano = {"gpu": "Orin", "compute_capability": "8.7", "sm_count": 8, "gpu_memory_mb": 7578,
            "board": "NVIDIA Jetson Orin Nano Developer Kit"}
    nx = {**nano, "gpu_memory_mb": 15667, "board": "NVIDIA Jetson Orin NX Engineering Reference Developer Kit"}
    assert timing_cache_path(tmp_path, nano, "10.3.0") != timing_cache_path(tmp_path, nx, "10.3.0")
    assert timing_cache_path(tmp_path, {**nano, "board": ""}, "10.3.0") != timing_cache_path(tmp_path, nx, "10.3.0")


# ---- point 4: batches split by the engine's profile, every return value checked


def test_engine_runner_splits_by_profile_and_frees_everything(monkeypatch, onnx_model):
    trt, cudart = trt_fakes.install(monkeypatch)
    engine = build_artifact(onnx_model, get_target("jetson-orin-nano")).artifact
    x = audio(20)
    with open_runner(engine) as runner:
        assert runner.max_batch == 8
        out = runner.infer(x)
        np.testing.assert_allclose(out, trt_fakes.expected_logits(x), rtol=1e-5, atol=1e-6)
        assert trt.contexts[-1].shape_calls == [(8, 16000), (8, 16000), (4, 16000)]
        assert cudart.host and cudart.device  # pinned staging and device buffers in use
        times = runner.device_times_ms(x[:1], warmup=1, runs=3)
        assert times == [0.25] * 3
    assert cudart.device == {} and cudart.host == {} and cudart.streams == set() and cudart.events == set()
    runner.close()  # twice is fine

    from spc.data.clips import ClipSet
    from spc.accuracy import evaluate

    with open_runner(engine) as fn:  # what compress's final evaluation runs, with batch 32
        clips = ClipSet(audio=audio(40), targets=np.zeros(40, np.int64), labels=fn.manifest["labels"], paths=[""] * 40)
        evaluate(fn, clips, 32)
    assert max(b for b, _ in trt.executions) <= 8


def test_refused_shape_is_an_error_naming_shape_and_profile(monkeypatch, onnx_model):
    trt, _ = trt_fakes.install(monkeypatch)
    engine = build_artifact(onnx_model, get_target("jetson-orin-nano")).artifact
    with open_runner(engine) as runner:
        with pytest.raises(SpcError, match=r"input shape \(2, 48000\) is outside .*8000-32000 samples"):
            runner.infer(audio(2, 48000))
        trt.refuse_shapes = True
        with pytest.raises(SpcError, match=r"TensorRT refused input shape \(2, 16000\) for 'audio'.*"
                                           r"min \(1, 8000\), opt \(1, 16000\), max \(8, 32000\)"):
            runner.infer(audio(2))


def test_bench_shapes_come_from_the_engine_manifest(monkeypatch, onnx_model):
    trt_fakes.install(monkeypatch)
    from spc.timing import bench_shapes
    from spc.recipes.bench import BenchConfig, run_bench

    engine = build_artifact(onnx_model, get_target("jetson-orin-nano")).artifact
    manifest = read_manifest(engine)
    shapes = bench_shapes(get_target("h100"), [manifest])  # h100's max batch 256 -> the engine's 8
    assert max(b for b, _ in shapes) == 8 and all(8000 <= s <= 32000 for _, s in shapes)
    result = run_bench([engine], None, config=BenchConfig(runs=2, warmup=1))  # no --target: the engine's own
    assert result["target"] == "jetson-orin-nano"
    assert {(r["batch"], r["samples"]) for r in result["latency"]} == {(1, 16000), (8, 16000), (1, 8000), (1, 32000)}


# ---- point 7: choose and compare on the target's backend


def test_built_engines_are_timed_side_by_side_at_the_headline_shape(monkeypatch, tmp_path):
    trt, _ = trt_fakes.install(monkeypatch)
    target = get_target("jetson-orin")
    built = {n: build_artifact(trt_fakes.tiny_onnx(tmp_path / f"{n}.onnx"), target, tmp_path / "engines").artifact
             for n in ("original", "pruned")}
    lat = time_built(built, target, runs=2, warmup=1)
    assert set(lat) == {"original", "pruned"}
    for name, row in lat.items():
        assert row.artifact.endswith(f"{name}.jetson-orin-nano.engine") and (row.batch, row.samples) == (1, 16000)
        assert row.p50_ms > 0 and row.as_dict()["name"] == name
    assert set(trt.executions) == {(1, 16000)}  # batch 1 at the target's opt length, nothing else
    trt_fakes.install(monkeypatch, gpu="rtx-4090")
    with pytest.raises(BuildDeferred, match="cannot build jetson-orin-nano here"):
        build_artifact(tmp_path / "original.onnx", target, tmp_path / "x")


def test_cpu_graphs_are_timed_on_the_threads_their_build_chose(tmp_path):
    cpu = get_target("cpu")
    built = {"original": build_artifact(trt_fakes.tiny_onnx(tmp_path / "original.onnx"), cpu, tmp_path / "cpu").artifact}
    lat = time_built(built, cpu, runs=2, warmup=1)
    assert lat["original"].artifact.endswith("original.cpu.ort.onnx") and lat["original"].batch == 1
    with open_runner(built["original"]) as r:  # what time_built opened: the build's own count
        assert r.threads == read_manifest(built["original"])["thread_choice"]["threads"]


def test_a_parser_freed_before_the_build_fails_as_the_real_library_does(monkeypatch, tmp_path):
    """The ONNX parser owns the weights the network points to (TensorRT developer guide, "Importing a Model Using
    the ONNX Parser"): freed before the build, the fake's build raises where real TensorRT reads freed memory;
    build_tensorrt keeps it alive (the tests above build through it)."""
    trt, _ = trt_fakes.install(monkeypatch)
    onnx_path = trt_fakes.tiny_onnx(tmp_path / "m.onnx")
    builder = trt.Builder(trt.Logger())
    net = builder.create_network(0)
    assert trt.OnnxParser(net, None).parse_from_file(str(onnx_path))  # the parser is dropped at once
    config = builder.create_builder_config()
    config.add_optimization_profile(_profile(trt))
    with pytest.raises(RuntimeError, match="freed before the build"):
        builder.build_serialized_network(net, config)
