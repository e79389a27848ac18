"""Reduced precision made safe: an FP16 check layer by layer, mixed-precision ONNX, INT8 quantisation."""
