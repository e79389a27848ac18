"""Mimic stacks: the 1-2 small blocks that replace a teacher's whole transformer stack.

Designs:
  layer        one of the teacher's own transformer layers (``init_layer``), kept with its pre-trained
               weights and trained to reproduce the whole stack: the default, the one that reaches
               95% retention on pre-trained teachers (a plain transformer checkpoint with one layer)
  transformer  1 or 2 standard encoder layers (post-LN, GELU); at the teacher's width by default,
               or at a narrower ``width`` between a linear down- and up-projection
  linear       1 or 2 blocks of Linear(D -> h) -> LayerNorm -> ReLU -> Linear(h -> D), per frame
  tiny         not a stack but a whole small model with its own front end: a Whisper-architecture encoder
               (log-mel features in the graph, two small convolutions, fixed positions) ``width`` wide with
               1-2 blocks and its own head, trained from the teacher's last hidden state (through a learned
               projection) and its logits (``distill.tiny``); a few percent of a teacher's parameters
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import torch
from torch import nn

from ..errors import SpcError

KINDS = ("layer", "transformer", "linear", "tiny")
TINY_WIDTH = 96  # a tiny student's width where none is given


@dataclass(frozen=True)
class MimicConfig:
    """The design of a mimic stack (validated on construction; ``width`` None: the teacher's)."""

    kind: str = "layer"
    n_layers: int = 1
    init_layer: int = 0  # layer: which teacher layer the mimic starts from
    hidden: int = 64  # linear: the bottleneck h
    heads: int = 4  # transformer, tiny: attention heads
    ffn: int | None = None  # transformer, tiny: feed-forward size (None: 1024; tiny: 4 x width)
    width: int | None = None  # transformer: model width (None: the teacher's); tiny: its width (None: 96)
    mel_bins: int = 40  # tiny: log-mel bands of its own front end
    n_fft: int = 400  # tiny: its STFT window in samples (Whisper's 400 = 25 ms; fewer: a cheaper front end)
    dropout: float = 0.1
    version: int = 3

    @property
    def ffn_size(self) -> int:
        return self.ffn if self.ffn is not None else 4 * self.width_of(0) if self.kind == "tiny" else 1024

    def width_of(self, teacher_width: int) -> int:
        """The stack's width: ``width``, else the teacher's (a tiny student's own default otherwise)."""
        return self.width or (TINY_WIDTH if self.kind == "tiny" else teacher_width)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SpcError(f"unknown mimic kind '{self.kind}'; choose {' or '.join(KINDS)}")
        if self.n_layers not in (1, 2):
            raise SpcError(f"a mimic stack has 1 or 2 layers, got {self.n_layers}")
        if self.kind == "layer" and self.n_layers != 1:
            raise SpcError("a 'layer' mimic is one teacher layer; use the transformer or linear kind for 2 blocks")
        if self.init_layer < 0:
            raise SpcError(f"the mimic's starting layer must be >= 0, got {self.init_layer}")
        if min(self.hidden, self.ffn or 1, self.heads, self.width or 1, self.mel_bins) < 1:
            raise SpcError("mimic sizes (hidden, heads, ffn, width, mel bins) must be positive")
        if not 64 <= self.n_fft <= 1024:
            raise SpcError(f"a tiny student's STFT window must be 64 to 1024 samples, got {self.n_fft}")
        if not 0 <= self.dropout < 1:
            raise SpcError(f"mimic dropout must be in [0, 1), got {self.dropout}")

    def check_teacher(self, teacher_width: int, teacher_layers: int | None = None) -> None:
        """What depends on the teacher: attention heads must divide the width; the starting layer must exist."""
        if self.kind == "layer" and teacher_layers is not None and self.init_layer >= teacher_layers:
            raise SpcError(f"the teacher has {teacher_layers} layers; it has no layer {self.init_layer} to start from")
        width = self.width_of(teacher_width)
        if self.kind in ("transformer", "tiny") and width % self.heads:
            raise SpcError(f"mimic width {width} is not divisible by {self.heads} heads")


class LinearBlock(nn.Module):
    """Linear(D -> h) -> LayerNorm -> ReLU -> Linear(h -> D), applied to every frame."""

    def __init__(self, d: int, h: int):
        super().__init__()
        self.down = nn.Linear(d, h)
        self.norm = nn.LayerNorm(h)
        self.up = nn.Linear(h, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B x T x D -> B x T x D
        return self.up(torch.relu(self.norm(self.down(x))))


class EncoderBlock(nn.Module):
    """A standard post-LN transformer encoder layer (self-attention + GELU feed-forward).

    Written out rather than ``nn.TransformerEncoderLayer``, whose attention bakes the traced batch
    and length into the exported graph; here every reshape follows the input's shape.
    """

    def __init__(self, d: int, heads: int, ffn: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.norm1 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, ffn)
        self.ff2 = nn.Linear(ffn, d)
        self.norm2 = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # B x T x D -> B x T x D
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=self.drop.p if self.training else 0.0)
        x = self.norm1(x + self.drop(self.out(att.transpose(1, 2).reshape(b, t, d))))
        return self.norm2(x + self.drop(self.ff2(self.drop(nn.functional.gelu(self.ff1(x))))))


class MimicStack(nn.Module):
    """The mimic blocks (B x T x D -> B x T x D each); hidden states are [input, output of each block].

    A transformer mimic narrower than the teacher runs between a projection in and a projection
    out, which belong to its first and last block.
    """

    kind = "mimic"
    version = 1

    def __init__(self, cfg: MimicConfig, d: int):
        super().__init__()
        cfg.check_teacher(d)
        self.cfg = cfg
        if cfg.kind == "linear":
            blocks: list[nn.Module] = [LinearBlock(d, cfg.hidden) for _ in range(cfg.n_layers)]
        else:
            width = cfg.width or d
            blocks = [EncoderBlock(width, cfg.heads, cfg.ffn_size, cfg.dropout) for _ in range(cfg.n_layers)]
            if width != d:
                blocks[0] = nn.Sequential(nn.Linear(d, width), blocks[0])
                blocks[-1] = nn.Sequential(blocks[-1], nn.Linear(width, d))
        self.layers = nn.ModuleList(blocks)  # named ``layers`` so ONNX node scopes read /layers.N/

    def spec(self) -> dict:
        """What ``spc.json`` records about the stack."""
        return {"kind": self.kind, "version": self.version, "config": asdict(self.cfg)}

    def run(self, h0: torch.Tensor, layers: Sequence[int] | None = None) -> list[torch.Tensor]:
        """h_0 -> [h_0, output of each block run]."""
        hiddens = [h0]
        for i in range(len(self.layers)) if layers is None else layers:
            hiddens.append(self.layers[i](hiddens[-1]))
        return hiddens

    def run_layer(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """Block ``i`` alone on its input ``h``."""
        return self.layers[i](h)
