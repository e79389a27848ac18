"""INT8 for the CPU: ONNX Runtime's integer kernels on the projections, everything else left in FP32.

``spc precision``'s ``int8.onnx`` is a QDQ graph meant for TensorRT: on a CPU, ONNX Runtime runs it as
quantise/dequantise pairs around FP32 kernels and it is slower than FP32. This variant quantises the weights
of MatMul and Gemm per output channel (dynamic quantisation: activations are quantised per batch at run
time, so no calibration set can be wrong for it), which ONNX Runtime runs with its integer GEMM kernels
(``MatMulInteger`` / ``DynamicQuantizeMatMul``); LayerNorm and softmax stay FP32, where speech encoders are
fragile. The convolutional front end stays FP32 too unless ``conv="static"``: then its convolutions become
``QLinearConv`` (weights per channel, activations per tensor, ranges calibrated on clips), because ONNX Runtime's
dynamic ``ConvInteger`` is slower than FP32 (measured on base-size wav2vec2: 1.3x slower) while ``QLinearConv``
is its fast integer kernel. spc's own log-mel STFT (a convolution on raw audio, ``/front/preprocessor/``) is never
quantised. The result passes a gate against the FP32 graph (top-1 agreement) or nothing is written: on the
calibration clips where given (real audio), else on speech-like noise. On noise a trained classifier's logits
are near ties, so its top-1 flips at any perturbation: the Whisper tiny.en FSDD head-only teacher's INT8 graph
disagreed with FP32 on 2 of 8 noise clips and was refused; gated on 64 FSDD clips it passed and kept its test
accuracy (retention 1.000, 1.67x faster than FP32; benchmarks/README.md, INT8 on the CPU).
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..engines.artifact_manifest import (derive_manifest, load_artifact_manifest, manifest_path, read_manifest,
                                         write_manifest)
from ..engines.ort_build import parity_cases
from ..engines.ort_run import ort_session
from ..errors import SpcError
from ..fileio import check_output_file, refuse_overlap, work_dir

#: the ops whose weights are quantised (the projections and the classifier); convolutions stay FP32
INT8_OPS = ("MatMul", "Gemm")
#: where spc's exported front-end preprocessing lives (``models.parts``): the log-mel STFT, kept FP32
PREPROCESSOR_SCOPE = "/front/preprocessor/"
CONV_MODES = ("fp32", "static")
#: the least share of the gate's clips whose top-1 class must match the FP32 graph's
MIN_AGREEMENT = 0.9
#: the most calibration clips the gate compares on (in batches of GATE_BATCH)
GATE_CLIPS, GATE_BATCH = 64, 8


@dataclass(frozen=True)
class QuantizeConfig:
    """How ``spc quantize`` makes the INT8 CPU graph: weight scales per output channel (default) or one per
    tensor; convolutions FP32 (default) or static INT8 (``static``: needs calibration clips)."""

    per_channel: bool = True
    conv: str = "fp32"
    version: int = 2

    def __post_init__(self) -> None:
        if self.conv not in CONV_MODES:
            raise SpcError(f"unknown convolution mode '{self.conv}'; choose {' or '.join(CONV_MODES)}")

    def as_dict(self) -> dict:
        return asdict(self)


def quantize_for_cpu(onnx_path: str | Path, out_path: str | Path, config: QuantizeConfig = QuantizeConfig(),
                     calib_audio: np.ndarray | None = None, calib_info: dict | None = None) -> dict:
    """Write the INT8 CPU variant of an spc ONNX export; returns its manifest (``precision: int8-cpu``, the
    settings under ``config``). ``calib_audio`` (N x S, the model's rate) calibrates static convolutions and, in
    either mode, is what the agreement gate compares on (``gate_cases``)."""
    per_channel = config.per_channel
    if config.conv == "static" and (calib_audio is None or not len(calib_audio)):
        raise SpcError("static INT8 convolutions need calibration clips: give --calibration MANIFEST --data DIR")

    src_path, out = Path(onnx_path), Path(out_path)
    src = load_artifact_manifest(src_path)  # the source's sha256 against its manifest: a swapped file is refused
    if src.get("kind") != "onnx" or src.get("precision", "fp32") != "fp32":
        raise SpcError(f"{src_path.name} is not an FP32 ONNX export (kind {src.get('kind')}, precision "
                       f"{src.get('precision', 'fp32')}): quantise the export spc export or compress wrote")
    refuse_overlap({"output": out, "output manifest": manifest_path(out)},
                   {"ONNX source": src_path, "source manifest": manifest_path(src_path)})
    check_output_file(out)
    tmp = work_dir(out.parent, "quantize")  # a kill -9 leaves it; the next quantize here removes it
    try:
        q = tmp / "int8.onnx"
        convs = int8_graph(src_path, q, config, calib_audio, src["input"])
        cases, on = gate_cases(src, calib_audio)
        gate = {**agreement(q, src_path, cases), "on": on}
        if gate["top1_agreement"] < MIN_AGREEMENT:
            raise SpcError(f"the INT8 graph disagrees with FP32 on {1 - gate['top1_agreement']:.0%} of {gate['clips']} "
                           f"{on} (max |diff| {gate['max_abs_diff']:.3g}); nothing was written")
        q.replace(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    quantization = {"format": "dynamic", "ops": list(INT8_OPS), "per_channel": per_channel,
                    "weights": "int8", "activations": "int8, per batch at run time"}
    if config.conv == "static":
        quantization["conv"] = {"format": "static QLinearConv", "nodes": convs, "activations": "uint8 per tensor",
                                "calibration": calib_info or {"clips": len(calib_audio)}}
    manifest = derive_manifest(out, src, parent_path=src_path, made_by={"recipe": "quantize", "target": "cpu"},
                               kind="onnx", precision="int8-cpu", quantization=quantization, int8_gate=gate,
                               config=config.as_dict())
    write_manifest(out, manifest)
    return manifest


def int8_graph(src: Path, dst: Path, config: QuantizeConfig, calib_audio: np.ndarray | None, input_name: str
               ) -> list[str]:
    """The INT8 CPU graph of ``src`` written to ``dst``, ungated (``quantize_for_cpu`` gates it; a benchmark of a
    model with random weights, whose logits tie, cannot be): integer projections and, with ``conv="static"``,
    static INT8 convolutions calibrated on ``calib_audio``; returns the convolutions converted."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = dst.with_name(dst.name + ".pre.onnx")
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    quantize_dynamic(str(pre), str(dst), op_types_to_quantize=list(INT8_OPS), per_channel=config.per_channel,
                     weight_type=QuantType.QInt8)
    pre.unlink()
    if config.conv != "static":
        return []
    return static_convolutions(dst, dst, calib_audio, input_name, config.per_channel)


def calibration_audio(onnx_path: str | Path, calib: str | Path, data_dir: str | Path) -> tuple[np.ndarray, dict]:
    """The clips of calibration manifest ``calib`` (``spc calib make``) read from ``data_dir`` at the export's
    rate and clip length (N x S), and what the manifest records about them."""
    from ..calib import load_clips_from_manifest, load_manifest, manifest_hash

    src = read_manifest(onnx_path)
    manifest = load_manifest(calib)
    labels = sorted({c["label"] for c in manifest["clips"]})  # only the audio calibrates: any labels will do
    clips = load_clips_from_manifest(manifest, data_dir, rate=int(src["sampling_rate"]),
                                     clip_seconds=float(src["clip_seconds"]), labels=labels)
    return clips.audio, {"manifest": str(calib), "hash": manifest_hash(manifest), "clips": len(clips.audio)}


def static_convolutions(src: Path, dst: Path, calib_audio: np.ndarray, input_name: str, per_channel: bool) -> list[str]:
    """Rewrite ``src``'s convolutions (all but the preprocessor's STFT) as ``QLinearConv`` into ``dst``, their
    activation ranges (min/max) calibrated one clip at a time on ``calib_audio`` (N x S); the names converted."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    nodes = [n.name for n in onnx.load(str(src), load_external_data=False).graph.node
             if n.op_type == "Conv" and not n.name.startswith(PREPROCESSOR_SCOPE)]
    if not nodes:
        return []

    class Clips(CalibrationDataReader):
        def __init__(self):
            self.rows = iter(np.asarray(calib_audio, dtype=np.float32))

        def get_next(self):
            row = next(self.rows, None)
            return None if row is None else {input_name: row[None]}

    tmp = dst.with_name(dst.name + ".conv.onnx")
    quantize_static(str(src), str(tmp), Clips(), quant_format=QuantFormat.QOperator, op_types_to_quantize=["Conv"],
                    nodes_to_quantize=nodes, per_channel=per_channel, weight_type=QuantType.QInt8,
                    activation_type=QuantType.QUInt8)
    tmp.replace(dst)
    return nodes


def gate_cases(src: dict, calib_audio: np.ndarray | None) -> tuple[list[np.ndarray], str]:
    """The batches (each B x S) the gate compares on, and what they are: up to ``GATE_CLIPS`` of the calibration
    clips where given, else the speech-like clips of the build's parity check (``src``: the export's manifest)."""
    if calib_audio is None or not len(calib_audio):
        return parity_cases(src), "speech-like clips"
    audio = np.ascontiguousarray(calib_audio[:GATE_CLIPS], dtype=np.float32)
    return [audio[i:i + GATE_BATCH] for i in range(0, len(audio), GATE_BATCH)], "calibration clips"


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
