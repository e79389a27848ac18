"""WavLM: the relative position bias is computed by layer 0 only and handed down the stack."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import FamilyAdapter
from .registry import register


@register
class WavLMAdapter(FamilyAdapter):
    model_types = ("wavlm",)
    base_attr = "wavlm"
    hf_class = "WavLMForSequenceClassification"

    def initial_state(self, model: nn.Module, h0: torch.Tensor) -> dict:
        # Compute the bias up front from the layer that owns the table, so that any subset of the
        # layers (a pruning candidate) runs exactly as the first of them would have computed it.
        owner = next((layer.attention for layer in self.layers(model) if hasattr(layer.attention, "rel_attn_embed")),
                     None)
        if owner is None:  # no layer left (a stackless latency floor): nothing needs the bias
            return {}
        bsz, t, _ = h0.shape
        bias = owner.compute_bias(t, t)
        return {"position_bias": bias.unsqueeze(0).repeat(bsz, 1, 1, 1).view(bsz * owner.num_heads, t, t)}

    def run_layer(self, layer: nn.Module, hidden: torch.Tensor, state: dict) -> torch.Tensor:
        hidden, state["position_bias"] = layer(hidden, position_bias=state.get("position_bias"))
        return hidden

    def _fix_kept_layers(self, old: nn.ModuleList, kept: list[nn.Module], keep: Sequence[int]) -> None:
        # Only the original layer 0 owns the bias table; when it goes, the new first layer takes it,
        # so the checkpoint key becomes layers.0.attention.rel_attn_embed as transformers expects.
        if kept and keep[0] != 0:
            kept[0].attention.rel_attn_embed = old[0].attention.rel_attn_embed
