"""Mimic stacks and the student model (the teacher's front and head around a mimic stack).

Designs (docs/method.md):
  transformer  1 or 2 standard encoder layers (post-LN, GELU); at the teacher's width by default,
               or at a narrower ``width`` between a linear down- and up-projection
  linear       1 or 2 blocks of Linear(D -> h) -> LayerNorm -> ReLU -> Linear(h -> D), per frame
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..errors import SpcError
from ..families.base import Parts
from ..models import ModelMeta, SpeechClassifier

KINDS = ("transformer", "linear")


@dataclass
class MimicConfig:
    """The design of a mimic stack."""

    kind: str = "linear"
    n_layers: int = 1
    hidden: int = 64  # linear: the bottleneck h
    heads: int = 4  # transformer: attention heads
    ffn: int = 1024  # transformer: feed-forward size
    width: int | None = None  # transformer: model width (None: the teacher's)
    dropout: float = 0.1

    def validate(self, teacher_width: int) -> None:
        if self.kind not in KINDS:
            raise SpcError(f"unknown mimic kind '{self.kind}'; choose {' or '.join(KINDS)}")
        if self.n_layers not in (1, 2):
            raise SpcError(f"a mimic stack has 1 or 2 layers, got {self.n_layers}")
        width = self.width or teacher_width
        if self.kind == "transformer" and width % self.heads:
            raise SpcError(f"mimic width {width} is not divisible by {self.heads} heads")
        if min(self.hidden, self.ffn, self.heads, width) < 1:
            raise SpcError("mimic sizes must be positive")


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


def make_blocks(cfg: MimicConfig, d: int) -> nn.ModuleList:
    """The mimic blocks; a narrower transformer gets a projection in and out of its width."""
    if cfg.kind == "linear":
        return nn.ModuleList([LinearBlock(d, cfg.hidden) for _ in range(cfg.n_layers)])
    width = cfg.width or d
    blocks: list[nn.Module] = [EncoderBlock(width, cfg.heads, cfg.ffn, cfg.dropout) for _ in range(cfg.n_layers)]
    if width != d:
        blocks = [nn.Linear(d, width)] + blocks + [nn.Linear(width, d)]
    return nn.ModuleList(blocks)


class MimicStudent(SpeechClassifier):
    """A ``SpeechClassifier`` whose stack is a mimic: raw audio in, logits out, like the teacher.

    ``hf`` is the teacher with no transformer layers left (its CNN, projection and head);
    ``mimic`` holds the blocks. Hidden states are [mimic input, output of each block]; the mimic
    input is the projection's output (the positional convolution went with the stack).
    """

    def __init__(self, shell: nn.Module, adapter, meta: ModelMeta, mimic_cfg: MimicConfig):
        super().__init__(shell, adapter, meta)
        self.mimic_cfg = mimic_cfg
        self.mimic = make_blocks(mimic_cfg, shell.config.hidden_size)

    @property
    def layers(self) -> nn.ModuleList:
        return self.mimic

    def stack_input(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio (B x S) -> the mimic's input (B x T x D): the teacher's CNN and projection."""
        return self.adapter.student_front(self.hf, self.preprocessor(audio))

    def run_stack(self, h0, layers=None):
        hiddens = [h0]
        for block in self.mimic if layers is None else layers:
            hiddens.append(block(hiddens[-1]))
        return hiddens

    def logits_from_hidden(self, hiddens, keep=None):
        # the head reads the mimic's output as it read the teacher's last layer
        return self.adapter.head(self.hf, self.adapter.finish(self.hf, [hiddens[0], hiddens[-1]]))

    def parts(self) -> Parts:
        p = self.adapter.parts(self.hf)
        return Parts(p.feature_encoder, p.stack + [self.mimic], p.head)


def make_shell(hf: nn.Module, adapter) -> nn.Module:
    """The teacher without its stack: no layers, no positional conv, no weighted layer sum."""
    adapter.keep_layers(hf, [])
    if getattr(hf.config, "use_weighted_layer_sum", False):
        hf.config.use_weighted_layer_sum = False
        del hf.layer_weights
    adapter.strip_for_student(hf)
    return hf


def build_student(teacher: SpeechClassifier, cfg: MimicConfig, seed: int = 0) -> MimicStudent:
    """The teacher's front and head (copied) around a fresh mimic stack (seeded)."""
    cfg.validate(teacher.hf.config.hidden_size)
    shell = make_shell(copy.deepcopy(teacher.hf), teacher.adapter)
    meta = copy.deepcopy(teacher.meta)
    meta.provenance = {"recipe": "distill", "teacher": teacher.meta.source, "mimic": asdict(cfg)}
    torch.manual_seed(seed)
    return MimicStudent(shell, teacher.adapter, meta, cfg)
