"""INT8 CPU variants (stage 5a, CPU targets with ``int8_cpu``): the original and every exported candidate
quantised (``spc quantize --conv static``), each a candidate of its own (``NAME-int8``)."""

from __future__ import annotations

from dataclasses import replace

from ....errors import SpcError
from ....precision.int8_cpu import QuantizeConfig, quantize_for_cpu
from ..workdir import finish
from ..candidate import Candidate, Producer, register
from ..inputs import Run

#: compress's INT8 CPU variants: integer projections and static INT8 convolutions (ONNX Runtime's fast kernels)
INT8_CONFIG = QuantizeConfig(conv="static")
INT8_CALIB_CLIPS = 64  # of the calibration clips: enough for min/max ranges, cheap to run


def int8_variants(run: Run, exported: dict[str, Candidate]) -> dict[str, Candidate]:
    """Each exported model's INT8 CPU variant, its convolutions calibrated on the analysis's calibration clips;
    where those fail the agreement gate, integer projections alone (said in the report); one whose INT8 graph
    fails the gate either way is left out with a note."""
    added = {}
    audio = run.inp.calib_clips.audio[:INT8_CALIB_CLIPS]
    info = {**(run.inp.calib_info or {}), "clips": len(audio)}
    for name, source in exported.items():
        path, res = run.stage("int8", source.weights_sha256, name, INT8_CONFIG.as_dict(), info)
        if res is None:
            res = _quantise(run, name, source, path, audio, info)
            if res is None:
                continue
        if res.get("conv_fallback"):
            run.notes.append(f"{name}: its INT8 variant keeps the convolutions FP32 (static INT8 convolutions: "
                             f"{res['conv_fallback']})")
        added[f"{name}-int8"] = replace(
            Candidate(f"{source.method}+int8-cpu", source.model, int8_of=name), weights_sha256=source.weights_sha256,
            onnx=str(path / res["onnx"]), params=source.params,
            parity={"max_abs_diff": res["gate"]["max_abs_diff"], "top1_agreement": res["gate"]["top1_agreement"]})
    run.mark("int8")
    return added


def _quantise(run: Run, name: str, source: Candidate, path, audio, info) -> dict | None:
    """Quantise one export into ``path`` (static convolutions, else integer projections alone); the stage's
    record, or None (with a note) where neither passes the gate."""
    out = path / f"{name}-int8.onnx"
    try:
        m, fallback = quantize_for_cpu(source.onnx, out, INT8_CONFIG, audio, info), None
    except SpcError as exc:  # static convolutions can fail the gate where integer projections alone pass
        try:  # gated on the same calibration clips
            m, fallback = quantize_for_cpu(source.onnx, out, QuantizeConfig(), audio, info), str(exc)
        except SpcError as exc2:
            run.notes.append(f"{name}: no INT8 variant ({exc2})")
            return None
    return finish(path, {"onnx": out.name, "gate": m["int8_gate"], "conv_fallback": fallback})


PRODUCER = register(Producer("int8-cpu", lambda config, target: config.int8_cpu and not target.is_gpu, int8_variants,
                             variant=True))
