"""Layers kept in FP32 inside an FP16 engine: named by ONNX node, from ``--fp32-layers`` or ``spc precision``'s report.

TensorRT already normalises and soft-maxes in FP32, so nothing is pinned unless asked: the FP16
check flags the transformer layers that overflow or diverge, and only their nodes are pinned.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import SpcError
from ..fileio import read_json


def onnx_node_names(onnx_path: str | Path) -> list[str]:
    """Every node name of an ONNX graph (weights are not loaded)."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except (OSError, ValueError, DecodeError) as exc:  # a missing or damaged file
        raise SpcError(f"cannot read {onnx_path} as ONNX ({type(exc).__name__}); export it again") from None
    return [n.name for n in model.graph.node]


def flagged_nodes(precision_report: str | Path, onnx_path: str | Path) -> list[str]:
    """Nodes of the transformer layers that ``spc precision``'s FP16 check flagged (``precision.json``)."""
    path = Path(precision_report)
    if not path.is_file():
        raise SpcError(f"{path} does not exist (give the precision.json that spc precision wrote)")
    report = read_json(path, "precision report")
    try:
        flagged = [int(i) for i in report["fp16_check"]["flagged"]]
    except (ValueError, KeyError, TypeError):
        raise SpcError(f"{path} is not a precision report (no fp16_check.flagged)") from None
    names = onnx_node_names(onnx_path)
    return [n for i in flagged for n in names if f"/layers.{i}/" in n]


def check_node_names(requested: list[str], onnx_path: str | Path) -> list[str]:
    """``requested`` deduplicated in order; a user error naming any that the ONNX graph lacks."""
    wanted = list(dict.fromkeys(n.strip() for n in requested if n and n.strip()))
    if not wanted:
        return []
    known = set(onnx_node_names(onnx_path))
    missing = [n for n in wanted if n not in known]
    if missing:
        raise SpcError(f"{Path(onnx_path).name} has no node named {', '.join(missing[:5])}"
                       + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""))
    return wanted


def _node_of(layer_name: str, nodes: set[str]) -> str | None:
    """The ONNX node a TensorRT layer came from: the parser names layers after nodes, suffixing ``_N`` for extras."""
    if layer_name in nodes:
        return layer_name
    base, _, suffix = layer_name.rpartition("_")
    return base if suffix.isdigit() and base in nodes else None


def pin_fp32(trt, network, node_names: list[str]) -> dict:
    """Set precision and output types to FP32 on the layers of ``node_names`` whose outputs are all float tensors."""
    nodes = set(node_names)
    floats = {trt.float32, trt.float16}
    pinned, skipped, seen = [], [], set()
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        node = _node_of(layer.name, nodes)
        if node is None:
            continue
        seen.add(node)
        outputs = [layer.get_output(j) for j in range(layer.num_outputs)]
        if not outputs or any(o.dtype not in floats for o in outputs):
            skipped.append(layer.name)  # shape and index arithmetic: not a precision choice
            continue
        layer.precision = trt.float32
        for j in range(layer.num_outputs):
            layer.set_output_type(j, trt.float32)
        pinned.append(layer.name)
    return {"nodes": list(node_names), "pinned_layers": pinned, "skipped_non_float": skipped,
            "nodes_without_layers": sorted(nodes - seen)}
