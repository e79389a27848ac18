"""The three parts every spc model is made of: the front, the stack and the head.

A ``SpeechClassifier`` is ``front -> stack -> head``. The front and the head are views on the
transformers model that stores the weights (so a checkpoint stays a plain transformers folder);
the stack is either the family's own transformer layers (``TransformerStack``: the original or a
pruned model) or a small stack that replaced them (``MimicStack``, see ``models.mimic``).
All family knowledge comes from the family adapter.

Hidden-state convention (index -> tensor, each B x T x D):
  0      the stack input, exactly what the first layer receives
  i > 0  the raw output of layer i-1, read where the layer ends (no final LayerNorm)
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class _View(nn.Module):
    """A part that reads the transformers model without owning it (its weights are saved once, by the model)."""

    def __init__(self, hf: nn.Module, adapter):
        super().__init__()
        object.__setattr__(self, "hf", hf)  # not a submodule: the classifier registers ``hf`` once
        self.adapter = adapter


class Front(_View):
    """Raw audio (B x S) -> the stack input (B x T x D): preprocessing, CNN, projection [, positions]."""

    def __init__(self, hf: nn.Module, adapter, normalize: bool, with_positions: bool = True):
        super().__init__(hf, adapter)
        self.preprocessor = adapter.make_preprocessor(hf, normalize)
        self.with_positions = with_positions

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        inputs = self.preprocessor(audio)
        if self.with_positions:
            return self.adapter.front(self.hf, inputs)
        return self.adapter.student_front(self.hf, inputs)


class TransformerStack(_View):
    """The family's transformer layers (all of them, or those a pruning kept), run one at a time."""

    kind = "transformer"
    version = 1

    @property
    def layers(self) -> nn.ModuleList:
        return self.adapter.layers(self.hf)

    def spec(self) -> dict:
        """What ``spc.json`` records about the stack."""
        return {"kind": self.kind, "version": self.version, "config": {"layers": len(self.layers)}}

    def run(self, h0: torch.Tensor, layers: Sequence[int] | None = None) -> list[torch.Tensor]:
        """h_0 -> [h_0, output of each layer run]; ``layers``: the indices to run (default: all)."""
        hiddens = [h0]
        state = self.adapter.initial_state(self.hf, h0)
        mods = self.layers
        for i in range(len(mods)) if layers is None else layers:
            hiddens.append(self.adapter.run_layer(mods[i], hiddens[-1], state))
        return hiddens

    def run_layer(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """Layer ``i`` alone on its input ``h`` (B x T x D)."""
        return self.adapter.run_layer(self.layers[i], h, self.adapter.initial_state(self.hf, h))


class Head(_View):
    """Hidden states -> logits (B x C): final LayerNorm or weighted layer sum, projector, mean over frames, classifier."""

    def forward(self, hiddens: Sequence[torch.Tensor], keep: Sequence[int] | None = None) -> torch.Tensor:
        """``keep``: the layers that produced ``hiddens`` when only some ran (pruning candidates)."""
        return self.adapter.head(self.hf, self.adapter.finish(self.hf, hiddens, keep))

    def modules_to_train(self) -> list[nn.Module]:
        """The head's own modules (projector, classifier)."""
        return self.adapter.parts(self.hf).head

    def parameters_to_train(self) -> list[nn.Parameter]:
        """Every head parameter, the weighted-layer-sum weights included."""
        params = [p for m in self.modules_to_train() for p in m.parameters()]
        return params + self.adapter.extra_head_parameters(self.hf)

    def reset(self, seed: int) -> None:
        """Re-initialise the head (a labels-only baseline, or a head re-fitted from scratch)."""
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters_to_train():
                if p.dim() > 1:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
                else:
                    p.zero_()
