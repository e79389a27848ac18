"""Attention fusion for the CPU build: each unmasked self-attention becomes one ``com.microsoft.Attention``.

ONNX Runtime's transformer optimizer (``onnxruntime.transformers.optimizer``) fuses no attention in these
graphs under any of its model types (bert, bart, vit, clip, conformer, swin tried): its patterns expect
BERT's mask, and these encoders export unmasked attention with q and k scaled on their own and heads split
by Reshape + Transpose. spc matches that pattern itself: q, k, v projecting one tensor become one
``Attention`` node with the packed q|k|v weight, other cases one ``MultiHeadAttention``; attention with an
additive position bias (WavLM's) is left as it is. The optimizer's other fusions are not used: its GELU
fusions are the ones ONNX Runtime's session makes itself at "extended", and the extra
SkipLayerNormalization nodes it makes ran slower on the CPU than LayerNormalization + Add (whisper
tiny.en encoder, 1 s: 0.89 against 0.28 ms at batch 1). Everything here rewrites a graph; the parity
gate is the caller's (``ort_build``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

#: ops a fusion (spc's or ONNX Runtime's session-level ones) puts into a graph
FUSED_OPS = ("Attention", "MultiHeadAttention", "SkipLayerNormalization", "LayerNormalization", "Gelu", "FastGelu",
             "BiasGelu", "BiasAdd", "FusedMatMul", "FusedConv", "FusedGemm", "QuickGelu")


def op_counts(model) -> dict[str, int]:
    """Node count per op type of an ``onnx.ModelProto`` (top graph)."""
    return dict(sorted(Counter(n.op_type for n in model.graph.node).items()))


class _Graph:
    """Producer / consumer look-ups and constants of one ONNX graph."""

    def __init__(self, graph):
        self.graph = graph
        self.inits = {t.name: t for t in graph.initializer}
        self.producer = {o: n for n in graph.node for o in n.output}
        self.consumers: dict[str, list] = {}
        for n in graph.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)

    def const(self, name: str) -> np.ndarray | None:
        """The value of an initializer or Constant node output; None for a computed tensor."""
        from onnx import numpy_helper

        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            return numpy_helper.to_array(node.attribute[0].t)
        return None

    def scalar(self, name: str) -> float | None:
        v = self.const(name)
        return float(v.reshape(-1)[0]) if v is not None and v.size == 1 else None

    def op(self, name: str, op_type: str):
        """The node producing ``name`` if it is an ``op_type``, else None."""
        node = self.producer.get(name)
        return node if node is not None and node.op_type == op_type else None

    def perm(self, node) -> list[int] | None:
        return next((list(a.ints) for a in node.attribute if a.name == "perm"), None)

    def shape_values(self, name: str) -> list[int | None] | None:
        """A Reshape's target shape: constant entries as ints, computed ones as None (a Concat of pieces)."""
        v = self.const(name)
        if v is not None:
            return [int(x) for x in v.reshape(-1)]
        node = self.op(name, "Concat")
        if node is None:
            return None
        out: list[int | None] = []
        for i in node.input:
            c = self.const(i)
            out.extend([int(x) for x in c.reshape(-1)] if c is not None else [None])
        return out

    def strip_scale(self, name: str) -> tuple[str, float]:
        """Walk up through Mul / Div by scalar constants; returns the tensor under them and their product."""
        scale = 1.0
        while True:
            node = self.producer.get(name)
            if node is None or node.op_type not in ("Mul", "Div") or len(node.input) != 2:
                return name, scale
            c1 = self.scalar(node.input[1])
            c0 = self.scalar(node.input[0]) if node.op_type == "Mul" else None
            if c1 is not None:
                scale, name = (scale * c1 if node.op_type == "Mul" else scale / c1), node.input[0]
            elif c0 is not None:
                scale, name = scale * c0, node.input[1]
            else:
                return name, scale

    def width(self, name: str, depth: int = 4) -> int | None:
        """The last-axis size of a projection's output, read from its weight or bias (Reshape/Add/Gemm/MatMul)."""
        node = self.producer.get(name)
        if node is None or depth == 0:
            return None
        if node.op_type == "Gemm":
            w = self.const(node.input[1])
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            return None if w is None or w.ndim != 2 else int(w.shape[0] if trans_b else w.shape[1])
        if node.op_type in ("MatMul", "Add"):
            for i in node.input:
                c = self.const(i)
                if c is not None and c.ndim >= 1 and c.size > 1:
                    return int(c.shape[-1])
        return self.width(node.input[0], depth - 1) if node.op_type in ("Reshape", "Add", "Mul", "Div") else None


def _split_heads(g: _Graph, name: str, perm: list[int]) -> tuple[str, float, list | None] | None:
    """``scale * Transpose(Reshape(x, [B, T, H, d]), perm)`` -> (x, scale, reshape target); None if not that."""
    name, scale = g.strip_scale(name)
    t = g.op(name, "Transpose")
    if t is None or g.perm(t) != perm:
        return None
    r = g.op(t.input[0], "Reshape")
    shape = g.shape_values(r.input[1]) if r is not None else None
    if shape is None or len(shape) != 4:
        return None
    x, s2 = g.strip_scale(r.input[0])
    return x, scale * s2, shape


def _merge_heads(g: _Graph, name: str) -> str | None:
    """The output of ``Reshape(Transpose(y, [0, 2, 1, 3]), [B, T, D])`` after ``name`` (no-op 4-D reshapes allowed)."""
    merged = False
    for _ in range(4):
        users = [n for n in g.consumers.get(name, []) if n.op_type != "Shape"]  # shape reads die with the chain
        if len(users) != 1:
            return None
        node = users[0]
        if node.op_type == "Reshape" and node.input[0] == name:
            shape = g.shape_values(node.input[1])
            if shape is None:
                return None
            if len(shape) == 3:
                return node.output[0] if merged else None
            if len(shape) != 4 or merged:
                return None
        elif node.op_type == "Transpose" and g.perm(node) == [0, 2, 1, 3]:
            merged = True
        else:
            return None
        name = node.output[0]
    return None


def _num_heads(g: _Graph, q: str, shape: list) -> int | None:
    """Heads from the split's target shape [B, T, H, d], or the projection width over d."""
    heads, head_dim = shape[2], shape[3]
    if heads is not None and heads > 0:
        return heads
    width = g.width(q)
    if head_dim is not None and head_dim > 0 and width and width % head_dim == 0:
        return width // head_dim
    return None


def _match_attention(g: _Graph, softmax) -> dict | None:
    """Unmasked scaled dot-product attention around ``softmax``: its q, k, v, heads, scale and output."""
    axis = next((a.i for a in softmax.attribute if a.name == "axis"), -1)
    qk = g.op(softmax.input[0], "MatMul")
    users = [n for n in g.consumers.get(softmax.output[0], []) if n.op_type != "Shape"]
    if axis not in (-1, 3) or qk is None or len(users) != 1 or users[0].op_type != "MatMul" \
            or users[0].input[0] != softmax.output[0]:
        return None
    q = _split_heads(g, qk.input[0], [0, 2, 1, 3])
    k = _split_heads(g, qk.input[1], [0, 2, 3, 1])
    v = _split_heads(g, users[0].input[1], [0, 2, 1, 3])
    out = _merge_heads(g, users[0].output[0])
    if q is None or k is None or v is None or out is None or v[1] != 1.0:
        return None
    heads = _num_heads(g, q[0], q[2])
    if heads is None:
        return None
    return {"q": q[0], "k": k[0], "v": v[0], "heads": heads, "scale": q[1] * k[1], "out": out}


def _remove_dead(graph) -> None:
    """Drop nodes whose outputs nobody reads (graph outputs count as read), then unread initializers."""
    while True:
        used = {o.name for o in graph.output} | {i for n in graph.node for i in n.input}
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    for t in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(t)


def _linear(g: _Graph, name: str) -> tuple[str, np.ndarray, np.ndarray | None] | None:
    """``name`` as a projection of a 3-D tensor x: (x, W [in, out], bias or None); Reshape-Gemm-Reshape or
    MatMul [+ Add]."""
    node = g.producer.get(name)
    if node is not None and node.op_type == "Reshape":
        gemm = g.op(node.input[0], "Gemm")
        flat = g.op(gemm.input[0], "Reshape") if gemm is not None else None
        attrs = {a.name: (a.f if a.type == 1 else a.i) for a in gemm.attribute} if gemm is not None else {}
        if flat is None or attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            return None
        w = g.const(gemm.input[1])
        b = g.const(gemm.input[2]) if len(gemm.input) > 2 and gemm.input[2] else None
        if w is None or (len(gemm.input) > 2 and gemm.input[2] and b is None):
            return None
        return flat.input[0], (w.T if attrs.get("transB", 0) else w), b
    bias = None
    if node is not None and node.op_type == "Add":
        consts = [g.const(i) for i in node.input]
        k = next((i for i, c in enumerate(consts) if c is not None and c.ndim == 1), None)
        if k is None:
            return None
        bias, node = consts[k], g.op(node.input[1 - k], "MatMul")
    if node is None or node.op_type != "MatMul":
        return None
    w = g.const(node.input[1])
    return (node.input[0], w, bias) if w is not None and w.ndim == 2 else None


def _packed_attention(g: _Graph, m: dict, i: int):
    """One ``com.microsoft.Attention`` (q, k, v projections packed into one weight) where all three
    project the same tensor; else None."""
    from onnx import helper, numpy_helper

    lins = [_linear(g, m[k]) for k in ("q", "k", "v")]
    if any(lin is None for lin in lins) or len({lin[0] for lin in lins}) != 1 \
            or len({lin[1].shape for lin in lins}) != 1:
        return None
    w = np.concatenate([lin[1] for lin in lins], axis=1).astype(np.float32)
    b = np.concatenate([lin[2] if lin[2] is not None else np.zeros(lin[1].shape[1], np.float32) for lin in lins])
    names = (f"spc_attention_{i}_qkv_weight", f"spc_attention_{i}_qkv_bias")
    g.graph.initializer.extend([numpy_helper.from_array(w, names[0]),
                                numpy_helper.from_array(b.astype(np.float32), names[1])])
    return helper.make_node("Attention", [lins[0][0], *names], [m["out"]], name=f"spc_attention_{i}",
                            domain="com.microsoft", num_heads=int(m["heads"]), scale=float(m["scale"]))


def fuse_attention(model, packed: bool = True) -> dict[str, int]:
    """Replace each unmasked self-attention by one ``com.microsoft.Attention`` (``packed``, where q, k and v
    project one tensor) or ``MultiHeadAttention``; returns how many of each."""
    from onnx import helper

    g = _Graph(model.graph)
    matches = [m for m in (_match_attention(g, n) for n in model.graph.node if n.op_type == "Softmax") if m]
    for i, m in enumerate(matches):
        old = g.producer[m["out"]]
        old.output[0] = f"{m['out']}__pre_fusion"  # the old chain loses its only reader and is removed below
        node = _packed_attention(g, m, i) if packed else None
        node = node or helper.make_node("MultiHeadAttention", [m["q"], m["k"], m["v"]], [m["out"]],
                                        name=f"spc_mha_{i}", domain="com.microsoft", num_heads=int(m["heads"]),
                                        scale=float(m["scale"]))
        model.graph.node.insert(list(model.graph.node).index(old) + 1, node)
    if matches:
        _remove_dead(model.graph)
        if not any(o.domain == "com.microsoft" for o in model.opset_import):
            model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return dict(Counter(n.op_type for n in model.graph.node if n.name.startswith(("spc_attention_", "spc_mha_"))))


def fuse_graph(src: str | Path, dst: str | Path, packed: bool = True) -> dict[str, int]:
    """Write ``src`` with its attention fused to ``dst``; returns the fused nodes per op type."""
    import onnx

    model = onnx.load(str(src))
    fused = fuse_attention(model, packed)
    onnx.save(model, str(dst))
    return fused
