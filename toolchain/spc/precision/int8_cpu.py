"""INT8 for the CPU: ONNX Runtime's integer kernels on the projections, everything else left in FP32.

``spc precision``'s ``int8.onnx`` is a QDQ graph meant for TensorRT: on a CPU, ONNX Runtime runs it as
quantise/dequantise pairs around FP32 kernels and it is slower than FP32. This variant quantises the weights
of MatMul and Gemm per output channel (dynamic quantisation: activations are quantised per batch at run
time, so no calibration set can be wrong for it), which ONNX Runtime runs with its integer GEMM kernels
(``MatMulInteger`` / ``DynamicQuantizeMatMul``); the convolutional front end, LayerNorm and softmax stay
FP32, where speech encoders are fragile. The result passes a gate against the FP32 graph on speech-like
clips (top-1 agreement) or nothing is written.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..engines.artifact_manifest import derive_manifest, read_manifest, write_manifest
from ..engines.ort_build import parity_cases
from ..engines.ort_run import ort_session
from ..errors import SpcError
from ..fileio import check_output_file

#: the ops whose weights are quantised (the projections and the classifier); convolutions stay FP32
INT8_OPS = ("MatMul", "Gemm")
#: the least share of speech-like clips whose top-1 class must match the FP32 graph's
MIN_AGREEMENT = 0.9


@dataclass(frozen=True)
class QuantizeConfig:
    """How ``spc quantize`` scales the INT8 weights: per output channel (default) or one scale per tensor."""

    per_channel: bool = True
    version: int = 1

    def as_dict(self) -> dict:
        return asdict(self)


def quantize_for_cpu(onnx_path: str | Path, out_path: str | Path, config: QuantizeConfig = QuantizeConfig()) -> dict:
    """Write the dynamic-INT8 CPU variant of an spc ONNX export; returns its manifest (``precision: int8-cpu``,
    the settings under ``config``)."""
    per_channel = config.per_channel
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src_path, out = Path(onnx_path), Path(out_path)
    src = read_manifest(src_path)
    if src.get("kind") != "onnx" or src.get("precision", "fp32") != "fp32":
        raise SpcError(f"{src_path.name} is not an FP32 ONNX export (kind {src.get('kind')}, precision "
                       f"{src.get('precision', 'fp32')}): quantise the export spc export or compress wrote")
    check_output_file(out)
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmp:
        pre, q = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(src_path), str(pre), skip_symbolic_shape=True)
        quantize_dynamic(str(pre), str(q), op_types_to_quantize=list(INT8_OPS), per_channel=per_channel,
                         weight_type=QuantType.QInt8)
        gate = agreement(q, src_path, parity_cases(src))
        if gate["top1_agreement"] < MIN_AGREEMENT:
            raise SpcError(f"the INT8 graph disagrees with FP32 on {1 - gate['top1_agreement']:.0%} of speech-like "
                           f"clips (max |diff| {gate['max_abs_diff']:.3g}); nothing was written")
        out.parent.mkdir(parents=True, exist_ok=True)
        q.replace(out)
    manifest = derive_manifest(out, src, parent_path=src_path, made_by={"recipe": "quantize", "target": "cpu"},
                               kind="onnx", precision="int8-cpu",
                               quantization={"format": "dynamic", "ops": list(INT8_OPS), "per_channel": per_channel,
                                             "weights": "int8", "activations": "int8, per batch at run time"},
                               int8_gate=gate, config=config.as_dict())
    write_manifest(out, manifest)
    return manifest


def agreement(candidate: Path, reference: Path, cases: list[np.ndarray]) -> dict:
    """Top-1 agreement and the largest logit difference of ``candidate`` against ``reference`` over ``cases``."""
    ref, cand = ort_session(reference, level="basic"), ort_session(candidate)
    name = ref.get_inputs()[0].name
    same, total, worst = 0, 0, 0.0
    for x in cases:
        a = ref.run(None, {name: x})[0]
        b = cand.run(None, {name: x})[0]
        same += int((a.argmax(1) == b.argmax(1)).sum())
        total += len(x)
        worst = max(worst, float(np.abs(a - b).max()))
    return {"top1_agreement": same / max(1, total), "max_abs_diff": worst, "clips": total}
