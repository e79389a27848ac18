"""FP16 check: run the model in FP32 and FP16 on calibration clips and compare, layer by layer.

For every transformer layer (and its sub-layers: LayerNorms, the feed-forward output), the largest
activation magnitude is compared with the FP16 range (65504), and each layer is run in FP16 on its
FP32 input to measure the relative error of its output. Layers that overflow or diverge are named,
so that they can be pinned to FP32 (TensorRT precision constraints, mixed-precision ONNX).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

FP16_MAX = 65504.0


@dataclass
class LayerCheck:
    layer: int
    max_abs_fp32: float
    sublayer_max_abs: dict[str, float]
    rel_error_fp16: float
    nonfinite_fp16: bool
    overflow: bool
    diverges: bool


@dataclass
class FP16Report:
    layers: list[LayerCheck]
    flagged: list[int]
    top1_agreement: float
    accuracy_fp32: float
    accuracy_fp16: float
    rel_tolerance: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _sublayer_names(layer: nn.Module) -> dict[str, nn.Module]:
    """LayerNorms and the feed-forward block of a layer, by their attribute path."""
    found = {}
    for name, module in layer.named_modules():
        if isinstance(module, nn.LayerNorm) or name.endswith(("feed_forward", "fc2", "output_dense", "ff2", "mlp")):
            found[name] = module
    return found


def fp16_check(model, audio: np.ndarray, targets: np.ndarray | None = None, batch_size: int = 16,
               rel_tolerance: float = 1e-2) -> FP16Report:
    """Compare FP32 and FP16 on ``audio`` (N x S): per layer, and the final logits."""
    model = model.float().eval()
    half = copy.deepcopy(model).half().eval()
    n_layers = model.num_layers
    max_abs = np.zeros(n_layers)
    sub_max: list[dict[str, float]] = [{} for _ in range(n_layers)]
    err_num, err_den = np.zeros(n_layers), np.zeros(n_layers)
    nonfinite = np.zeros(n_layers, dtype=bool)
    logits32, logits16 = [], []
    hooks = []
    for i, layer in enumerate(model.layers):
        for name, module in _sublayer_names(layer).items():
            def hook(_m, _inp, out, i=i, name=name):
                t = out[0] if isinstance(out, tuple) else out
                sub_max[i][name] = max(sub_max[i].get(name, 0.0), float(t.detach().abs().max()))
            hooks.append(module.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            for s in range(0, len(audio), batch_size):
                x = torch.from_numpy(audio[s : s + batch_size])
                hs = model.hidden_states(x)
                logits32.append(model.logits_from_hidden(hs).numpy())
                for i in range(n_layers):
                    max_abs[i] = max(max_abs[i], float(hs[i + 1].abs().max()))
                    out16 = half.stack.run_layer(i, hs[i].half()).float()
                    if not torch.isfinite(out16).all():
                        nonfinite[i] = True
                        continue
                    err_num[i] += float(((out16 - hs[i + 1]) ** 2).sum())
                    err_den[i] += float((hs[i + 1] ** 2).sum())
                logits16.append(half(x.half()).float().numpy())
    finally:
        for h in hooks:
            h.remove()
    l32, l16 = np.concatenate(logits32), np.concatenate(logits16)
    rel = np.sqrt(err_num / np.maximum(err_den, 1e-30))
    layers = []
    for i in range(n_layers):
        overflow = bool(max_abs[i] > FP16_MAX or max(sub_max[i].values(), default=0.0) > FP16_MAX)
        diverges = bool(nonfinite[i] or rel[i] > rel_tolerance)
        layers.append(LayerCheck(i, float(max_abs[i]), sub_max[i], float("inf") if nonfinite[i] else float(rel[i]),
                                 bool(nonfinite[i]), overflow, diverges))
    flagged = [c.layer for c in layers if c.overflow or c.diverges]
    finite16 = np.isfinite(l16).all(axis=1)
    agree = float(((l16.argmax(1) == l32.argmax(1)) & finite16).mean())
    acc32 = float((l32.argmax(1) == targets).mean()) if targets is not None else float("nan")
    acc16 = float(((l16.argmax(1) == targets) & finite16).mean()) if targets is not None else float("nan")
    return FP16Report(layers, flagged, agree, acc32, acc16, rel_tolerance)


def layer_node_names(model, layer: int) -> list[str]:
    """ONNX nodes of transformer layer ``layer``: the exporter scopes them ``/layers.N/...``."""
    return [n.name for n in model.graph.node if f"/layers.{layer}/" in n.name]


def mixed_precision_onnx(onnx_path, out_path, fp32_layers: list[int]) -> dict:
    """FP16 everywhere except the nodes of ``fp32_layers``; FP32 inputs and outputs (casts inserted).

    Give it an unsimplified export (``ExportConfig(simplify=False)``): the converter mistypes
    convolutions whose weights onnxsim has folded.
    """
    import onnx
    from onnxconverter_common import float16

    import warnings

    model = onnx.load(str(onnx_path))
    blocked = [name for i in fp32_layers for name in layer_node_names(model, i)]
    with warnings.catch_warnings(record=True) as caught:  # one warning per tiny constant clipped to the FP16 range
        warnings.simplefilter("always", UserWarning)
        converted = float16.convert_float_to_float16(model, keep_io_types=True, node_block_list=blocked)
    onnx.save(converted, str(out_path))
    counts: dict[str, int] = {}
    for w in caught:  # counted in the manifest, not printed one by one
        text = f"{w.category.__name__}: {str(w.message).splitlines()[0][:160]}" if str(w.message) else w.category.__name__
        counts[text] = counts.get(text, 0) + 1
    return {"fp32_layers": fp32_layers, "blocked_nodes": len(blocked), "converter_warnings": counts}
