"""The interface every model family implements, and the shared wav2vec2-style behaviour.

A family adapter is the one place that knows a family's attribute names and quirks. Everything
else in spc sees a model as three parts: the *front* (everything before the first transformer
layer: preprocessing, CNN feature encoder, projection, positional embedding), the *stack* (the
transformer layers), and the *head* (what turns the last layer's output into logits).

Hidden-state convention used throughout spc (index -> tensor):
  0      the stack input, exactly what layer 0 receives (shape B x T x D)
  i > 0  the raw output of transformer layer i-1, read where the layer ends (no final LayerNorm)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn


@dataclass(frozen=True)
class Parts:
    """The modules of each part of a model, for parameter accounting."""

    feature_encoder: list[nn.Module]
    stack: list[nn.Module]
    head: list[nn.Module]


class FamilyAdapter:
    """Behaviour shared by the wav2vec2-style families; subclasses override only their quirks."""

    model_types: tuple[str, ...] = ()
    #: attribute of the ForSequenceClassification model holding the base model
    base_attr: str = ""
    #: name of the transformers class to build for a config of this family
    hf_class: str = ""
    input_name: str = "input_values"
    #: whether the weighted layer sum sees the last hidden state after the final LayerNorm
    #: (transformers does this for Whisper, not for the stable-layer-norm wav2vec2 variants)
    final_norm_in_weighted_sum: bool = False

    # ---- structure -------------------------------------------------------------------
    def base(self, model: nn.Module) -> nn.Module:
        """The base (headless) model inside the classifier."""
        return getattr(model, self.base_attr)

    def encoder(self, model: nn.Module) -> nn.Module:
        return self.base(model).encoder

    def layers(self, model: nn.Module) -> nn.ModuleList:
        """The transformer layers, in order."""
        return self.encoder(model).layers

    def num_layers(self, model: nn.Module) -> int:
        return len(self.layers(model))

    def hidden_size(self, model: nn.Module) -> int:
        """The width D of the stack's input and output."""
        return int(model.config.hidden_size)

    def stable_layer_norm(self, model: nn.Module) -> bool:
        """True where the encoder LayerNorm comes after the stack (large wav2vec2 variants)."""
        return bool(getattr(model.config, "do_stable_layer_norm", False))

    def parts(self, model: nn.Module) -> Parts:
        base = self.base(model)
        enc = self.encoder(model)
        head = [m for m in (getattr(model, "projector", None), getattr(model, "classifier", None)) if m is not None]
        return Parts(
            feature_encoder=[base.feature_extractor, base.feature_projection],
            stack=[enc],
            head=head,
        )

    def freeze_feature_encoder(self, model: nn.Module) -> None:
        """Stop training the CNN feature encoder (the usual choice when fine-tuning)."""
        model.freeze_feature_encoder()

    def head_reads_all_states(self, model: nn.Module) -> bool:
        """Whether the head mixes every hidden state (weighted layer sum) rather than reading the last."""
        return bool(getattr(model.config, "use_weighted_layer_sum", False))

    def extra_head_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        """Parameters of the head that are not inside a module (the weighted-layer-sum weights)."""
        w = getattr(model, "layer_weights", None)
        return [w] if isinstance(w, nn.Parameter) else []

    # ---- forward, piece by piece ---------------------------------------------------------
    def make_preprocessor(self, model: nn.Module, normalize: bool) -> nn.Module:
        """Raw audio (B x S, float, model sampling rate) -> the model's input, as a module."""
        from .preprocess import ZeroMeanUnitVar

        return ZeroMeanUnitVar() if normalize else nn.Identity()

    def front(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """Model input -> the stack input h_0 (B x T x D): CNN, projection, positional conv (+ LayerNorm)."""
        base = self.base(model)
        feats = base.feature_extractor(inputs).transpose(1, 2)
        proj = base.feature_projection(feats)
        hidden = proj[0] if isinstance(proj, tuple) else proj
        enc = self.encoder(model)
        hidden = hidden + enc.pos_conv_embed(hidden)
        if not self.stable_layer_norm(model):
            hidden = enc.layer_norm(hidden)
        return hidden

    def initial_state(self, model: nn.Module, h0: torch.Tensor) -> dict:
        """What the stack hands down besides the hidden state, before the first layer runs."""
        return {}

    def student_front(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """Model input -> the input of a mimic stack: CNN and projection, without the positional
        convolution, which belongs to the stack in the parameter accounting of docs/method.md."""
        base = self.base(model)
        proj = base.feature_projection(base.feature_extractor(inputs).transpose(1, 2))
        return proj[0] if isinstance(proj, tuple) else proj

    def make_shell(self, model: nn.Module) -> None:
        """Turn ``model`` in place into a student's shell: no layers, no weighted layer sum, nothing
        the removed stack owned (see ``strip_for_student``)."""
        self.keep_layers(model, [])
        if self.head_reads_all_states(model):
            model.config.use_weighted_layer_sum = False
            del model.layer_weights
        self.strip_for_student(model)

    def strip_for_student(self, shell: nn.Module) -> None:
        """Remove what a mimic student no longer uses (positional conv; the pre-stack LayerNorm)."""
        enc = self.encoder(shell)
        del enc.pos_conv_embed
        if not self.stable_layer_norm(shell):
            del enc.layer_norm

    def run_layer(self, layer: nn.Module, hidden: torch.Tensor, state: dict) -> torch.Tensor:
        """One transformer layer; ``state`` carries what a family hands down the stack."""
        out = layer(hidden)
        return out[0] if isinstance(out, tuple) else out

    def finish(self, model: nn.Module, hiddens: Sequence[torch.Tensor],
               keep: Sequence[int] | None = None) -> torch.Tensor:
        """Hidden states (index convention above) -> the representation the head pools.

        ``keep`` (0-based layers) says which layers produced ``hiddens`` when they are a subset of
        the model's: the weighted layer sum then uses their weights, as the pruned model would.
        """
        enc = self.encoder(model)
        last = hiddens[-1]
        normed = enc.layer_norm(last) if self.stable_layer_norm(model) else last
        if self.head_reads_all_states(model):
            tail = normed if self.final_norm_in_weighted_sum else last
            stacked = torch.stack(list(hiddens[:-1]) + [tail], dim=1)
            w = model.layer_weights if keep is None else model.layer_weights[[0] + [i + 1 for i in keep]]
            weights = torch.softmax(w, dim=-1)
            return (stacked * weights.view(-1, 1, 1)).sum(dim=1)
        return normed

    def head(self, model: nn.Module, rep: torch.Tensor) -> torch.Tensor:
        """Representation (B x T x D) -> logits (B x C): projector, mean over frames, classifier."""
        return model.classifier(model.projector(rep).mean(dim=1))

    # ---- surgery ---------------------------------------------------------------------
    def keep_layers(self, model: nn.Module, keep: Sequence[int]) -> None:
        """Keep only the layers ``keep`` (original indices, ascending), in place; config updated."""
        layers = self.layers(model)
        kept = [layers[i] for i in keep]
        self._fix_kept_layers(layers, kept, keep)
        self.encoder(model).layers = nn.ModuleList(kept)
        self._set_num_layers(model, len(kept))
        w = getattr(model, "layer_weights", None)
        if isinstance(w, nn.Parameter):
            idx = torch.tensor([0] + [i + 1 for i in keep])
            model.layer_weights = nn.Parameter(w.detach()[idx].clone())

    def _fix_kept_layers(self, old: nn.ModuleList, kept: list[nn.Module], keep: Sequence[int]) -> None:
        """Hook for family quirks when layers go (WavLM's position bias)."""

    def _set_num_layers(self, model: nn.Module, n: int) -> None:
        model.config.num_hidden_layers = n

    # ---- checkpoints -----------------------------------------------------------------
    def default_feature_extractor(self, sampling_rate: int, normalize: bool, clip_seconds: float):
        from transformers import Wav2Vec2FeatureExtractor

        return Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=sampling_rate, padding_value=0.0,
            do_normalize=normalize, return_attention_mask=False,
        )

    def max_samples(self, model: nn.Module, meta) -> int:
        """The longest input the model takes (convolutional position encodings: no real limit)."""
        return 30 * meta.sampling_rate

    def prepare_loaded(self, model: nn.Module, clip_seconds: float) -> None:
        """Adjust a freshly loaded model for short clips (Whisper trims its positions)."""
