"""INT8 post-training quantisation on the CPU: ONNX Runtime static quantisation (QDQ), calibrated on a manifest."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..engines.artifact_manifest import derive_manifest, read_manifest, write_manifest


def quantize_int8(onnx_path: str | Path, out_path: str | Path, calib_audio: np.ndarray, calib_info: dict,
                  method: str = "minmax", per_channel: bool = True) -> dict:
    """Write a QDQ INT8 model of ``onnx_path`` calibrated on ``calib_audio`` (N x S); returns its manifest.

    MatMul, Gemm and Conv are quantised (weights per channel, activations per tensor); LayerNorm,
    softmax and the rest stay in FP32, where speech encoders are fragile. Biases stay float
    (``QuantizeBias`` off): ONNX Runtime would otherwise quantise Conv/Gemm biases to INT32 behind a
    ``DequantizeLinear``, which TensorRT's ONNX parser refuses (it dequantises INT8 only: onnx-tensorrt's
    operator table; onnx-tensorrt#850, onnxruntime#14229, TensorRT#3360).
    """
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src = read_manifest(onnx_path)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.i = 0

        def get_next(self):
            if self.i >= len(calib_audio):
                return None
            self.i += 1
            return {src["input"]: calib_audio[self.i - 1 : self.i]}

    out = Path(out_path)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)
        tmp_out = out.with_name(out.name + ".tmp")
        quantize_static(str(pre), str(tmp_out), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
                        op_types_to_quantize=["MatMul", "Gemm", "Conv"],
                        calibrate_method={"minmax": CalibrationMethod.MinMax,
                                          "entropy": CalibrationMethod.Entropy}[method],
                        extra_options={"ActivationSymmetric": True, "QuantizeBias": False})
        tmp_out.replace(out)
    manifest = derive_manifest(out, src, parent_path=onnx_path, made_by={"recipe": "precision", "calibration": calib_info},
                               kind="onnx", precision="int8", calibration=calib_info,
                               quantization={"format": "QDQ", "method": method, "per_channel": per_channel,
                                             "bias": "float"})
    write_manifest(out, manifest)
    return manifest
