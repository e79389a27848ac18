"""The CPU build picks its ONNX Runtime thread count by timing, and its runners use it (issue 25)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

import trt_fakes
from spc.engines.ort_threads import pick_threads, thread_candidates


def test_thread_candidates_double_up_to_the_cores():
    assert thread_candidates(1) == [1]
    assert thread_candidates(2) == [1, 2]
    assert thread_candidates(6) == [1, 2, 4, 6]
    assert thread_candidates(8) == [1, 2, 4, 8]


def test_pick_threads_keeps_the_fewest_within_the_tolerance():
    assert pick_threads({1: 1.00, 2: 0.97}) == 1  # 3% faster on two: not worth a core
    assert pick_threads({1: 1.00, 2: 0.90}) == 2
    assert pick_threads({1: 1.30, 2: 1.00, 4: 0.99}) == 2
    assert pick_threads({1: 0.80, 2: 1.00}) == 1
    assert pick_threads({1: 1.00, 2: 0.97}, tolerance=0.0) == 2


@pytest.mark.device
def test_a_cpu_build_times_its_threads_and_its_runner_uses_them(tmp_path):
    import os

    from spc.engines import build_artifact, open_runner
    from spc.targets import get_target

    report = build_artifact(trt_fakes.tiny_onnx(tmp_path / "m.onnx"), get_target("cpu"), tmp_path)
    choice = report.manifest["thread_choice"]
    cores = os.cpu_count()
    assert choice["chosen_by"] == "timing" and choice["cores"] == cores
    assert sorted(int(n) for n in choice["p50_ms"]) == thread_candidates(cores)
    assert all(v > 0 for v in choice["p50_ms"].values())
    assert choice["threads"] == pick_threads({int(n): v for n, v in choice["p50_ms"].items()}, choice["tolerance"])
    assert report.manifest["threads"] == choice["threads"] and choice["shape"] == [1, 16000]
    saved = json.loads(open(report.artifact + ".json").read())
    assert saved["thread_choice"] == choice
    with open_runner(report.artifact) as r:
        assert r.threads == choice["threads"]
        assert r.session.get_session_options().intra_op_num_threads == choice["threads"]
    with open_runner(report.artifact, threads=1) as r:  # an explicit count wins
        assert r.session.get_session_options().intra_op_num_threads == 1


@pytest.mark.device
def test_a_fixed_thread_count_is_not_timed(tmp_path):
    from spc.engines import build_artifact, open_runner
    from spc.engines.build import BuildConfig
    from spc.targets import get_target

    src = trt_fakes.tiny_onnx(tmp_path / "m.onnx")
    a = build_artifact(src, get_target("cpu"), tmp_path / "a.onnx", BuildConfig(threads=1))
    assert a.manifest["thread_choice"] == {"threads": 1, "chosen_by": "build config"}
    assert a.manifest["build_config"]["threads"] == 1
    b = build_artifact(src, dataclasses.replace(get_target("cpu"), threads=1), tmp_path / "b.onnx")
    assert b.manifest["thread_choice"] == {"threads": 1, "chosen_by": "target cpu"}
    with open_runner(a.artifact) as r:
        assert r.session.get_session_options().intra_op_num_threads == 1


@pytest.mark.device
def test_a_recorded_count_beyond_this_machines_cores_falls_back_to_the_default(monkeypatch):
    from spc.engines.ort_run import built_threads

    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert built_threads({"thread_choice": {"threads": 2}}) == 2
    assert built_threads({"thread_choice": {"threads": 16}}) == 0  # built on a bigger machine
    assert built_threads({"threads": 4}) == 0  # a build from before the choice: ONNX Runtime's default


def test_build_threads_on_the_command_line(tmp_path):
    from spc.cli import cli
    from spc.engines.build import BuildConfig
    from spc.errors import SpcError

    src = trt_fakes.tiny_onnx(tmp_path / "m.onnx")
    r = CliRunner().invoke(cli, ["build", str(src), "--target", "cpu", "--threads", "1"])
    assert r.exit_code == 0, r.output
    assert "1 thread (build config)" in r.output
    r = CliRunner().invoke(cli, ["build", str(src), "--target", "cpu", "--threads", "-1", "--out", str(tmp_path / "x.onnx")])
    assert r.exit_code == 1 and "Invalid value for '--threads'" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(SpcError, match="threads must be 0"):
        BuildConfig(threads=-2)
    r = CliRunner().invoke(cli, ["build", str(src), "--target", "rtx-4090", "--threads", "1", "--out", str(tmp_path / "g")])
    assert r.exit_code == 1 and "--threads applies to CPU builds" in r.output and not (tmp_path / "g").exists()
    r = CliRunner().invoke(cli, ["build", "--help"])
    assert "fastest count timed here" in r.output
