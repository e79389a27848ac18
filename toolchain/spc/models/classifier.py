"""``SpeechClassifier``: raw audio (B x S) in, logits (B x C) out, composed of a front, a stack and a head."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from ..families.base import Parts
from .parts import Front, Head, TransformerStack

SCHEMA_VERSION = 2  # of spc.json


@dataclass
class ModelMeta:
    """What spc needs besides the transformers config: how audio is fed, where the model came from, its stack."""

    family: str
    sampling_rate: int = 16000
    clip_seconds: float = 1.0
    normalize: bool = True
    source: str = ""
    provenance: dict = field(default_factory=dict)
    stack: dict = field(default_factory=lambda: {"kind": "transformer", "version": 1, "config": {}})

    @property
    def clip_samples(self) -> int:
        return int(round(self.sampling_rate * self.clip_seconds))


class SpeechClassifier(nn.Module):
    """``front -> stack -> head`` over one transformers model ``hf`` that stores the weights.

    ``stack`` defaults to the model's own transformer layers; a distilled student passes a
    ``MimicStack`` (its front then stops before the positional embedding, which went with the stack).
    """

    def __init__(self, hf: nn.Module, adapter, meta: ModelMeta, stack: nn.Module | None = None):
        super().__init__()
        self.hf = hf
        self.adapter = adapter
        self.meta = meta
        self.stack = stack if stack is not None else TransformerStack(hf, adapter)
        self.front = Front(hf, adapter, meta.normalize, with_positions=self.stack.kind == "transformer")
        self.head = Head(hf, adapter)
        self.meta.stack = self.stack.spec()

    @property
    def labels(self) -> list[str]:
        """Class names in logit order, from the config's ``id2label``."""
        id2label = self.hf.config.id2label
        return [str(id2label[i]) for i in range(len(id2label))]

    @property
    def layers(self) -> nn.ModuleList:
        """The stack's layers (transformer layers or mimic blocks)."""
        return self.stack.layers

    @property
    def num_layers(self) -> int:
        return len(self.stack.layers)

    def stack_parameters(self) -> list[nn.Parameter]:
        """The parameters of the stack's layers (what distillation and healing train besides the head)."""
        return [p for layer in self.layers for p in layer.parameters()]

    @property
    def width(self) -> int:
        """The hidden size D of the stack's input and output."""
        return self.adapter.hidden_size(self.hf)

    def parts(self) -> Parts:
        """The modules of each part (feature encoder, stack, head), for parameter accounting."""
        p = self.adapter.parts(self.hf)
        return Parts(p.feature_encoder, p.stack + [self.stack], p.head)

    def stack_input(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio (B x S) -> h_0 (B x T x D)."""
        return self.front(audio)

    def run_stack(self, h0: torch.Tensor, layers: Sequence[int] | None = None) -> list[torch.Tensor]:
        """h_0 -> [h_0, h_1, ...]: each layer's raw output (``layers``: indices to run, default all)."""
        return self.stack.run(h0, layers)

    def logits_from_hidden(self, hiddens: Sequence[torch.Tensor], keep: Sequence[int] | None = None) -> torch.Tensor:
        """Hidden states -> logits; ``keep``: the layers that produced them, when only some ran."""
        return self.head(hiddens, keep)

    def hidden_states(self, audio: torch.Tensor) -> list[torch.Tensor]:
        """All hidden states h_0..h_L for a batch of audio (B x S)."""
        return self.stack.run(self.front(audio))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:  # B x S -> B x C
        return self.head(self.hidden_states(audio))
