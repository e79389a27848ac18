"""ONNX Runtime's profiler summed per op type (issue 25, point 4): the trace arithmetic and a real profile."""

from __future__ import annotations

import pytest

import trt_fakes

pytestmark = pytest.mark.device


def _run(ts, dur):
    return {"cat": "Session", "name": "model_run", "ts": ts, "dur": dur}


def _node(name, op, ts, dur):
    return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur, "args": {"op_name": op}}


def test_the_trace_is_summed_per_op_type_without_the_warmup_runs():
    from spc.engines.ort_profile import summarize_trace

    events = [_run(0, 100), _node("a", "Conv", 10, 50), _node("b", "Gemm", 70, 20),  # warm-up: dropped
              _run(200, 100), _node("a", "Conv", 210, 30), _node("b", "Gemm", 250, 10), _node("c", "Gemm", 270, 5),
              {"cat": "Node", "name": "a_fence_before", "ts": 205, "dur": 3, "args": {"op_name": "Conv"}},
              _run(400, 80), _node("a", "Conv", 410, 40), _node("b", "Gemm", 460, 10), _node("c", "Gemm", 472, 5)]
    walls, per_op, per_node = summarize_trace(events, warmup=1)
    assert walls == [0.1, 0.08]
    assert per_op == {"Conv": (70.0, 1), "Gemm": (30.0, 2)}
    assert per_node == {"a": ("Conv", 70.0), "b": ("Gemm", 20.0), "c": ("Gemm", 10.0)}


def test_a_real_profile_names_the_graphs_op_types(tmp_path):
    from spc.engines.ort_profile import profile_ops

    src = trt_fakes.tiny_onnx(tmp_path / "m.onnx")
    p = profile_ops(src, (2, 16000), runs=4, warmup=2, threads=1)
    assert p.runs == 4 and p.shape == (2, 16000) and p.threads == 1 and p.run_ms_p50 > 0
    assert {o.op_type for o in p.ops} <= {"ReduceMean", "Shape", "MatMul", "Identity"}
    assert "MatMul" in {o.op_type for o in p.ops} and abs(sum(o.share for o in p.ops) - 1) < 1e-9
    assert p.as_dict()["ops"][0]["op_type"] == p.ops[0].op_type and len(p.top_nodes) <= 10
    assert not list(tmp_path.glob("*.json"))[1:]  # the trace went to a temporary folder (only the manifest here)
