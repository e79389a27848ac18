"""The Whisper encoder with an audio-classification head (``WhisperForAudioClassification``).

Quirks: log-mel input (made in torch, see ``spc.families.preprocess.LogMel``), sinusoidal positions for
30 s that are trimmed to the clip length, and a final LayerNorm after the stack.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import SpcError
from .base import FamilyAdapter, Parts
from .registry import register

HOP = 160
N_FFT = 400  # Whisper's STFT window (25 ms)
CONV_STRIDE = 2  # conv2 halves the mel frames


@register
class WhisperAdapter(FamilyAdapter):
    model_types = ("whisper",)
    hf_class = "WhisperForAudioClassification"
    input_name = "input_features"
    final_norm_in_weighted_sum = True

    def base(self, model: nn.Module) -> nn.Module:
        return model.encoder

    def encoder(self, model: nn.Module) -> nn.Module:
        return model.encoder

    def stable_layer_norm(self, model: nn.Module) -> bool:
        return True  # the encoder's layer_norm follows the stack

    def parts(self, model: nn.Module) -> Parts:
        enc = model.encoder
        return Parts(
            feature_encoder=[enc.conv1, enc.conv2, enc.embed_positions],
            stack=[enc.layers, enc.layer_norm],
            head=[model.projector, model.classifier],
        )

    def freeze_feature_encoder(self, model: nn.Module) -> None:
        for module in (model.encoder.conv1, model.encoder.conv2):
            module.requires_grad_(False)

    def make_preprocessor(self, model: nn.Module, normalize: bool) -> nn.Module:
        from transformers import WhisperFeatureExtractor

        from .preprocess import LogMel

        n_fft = getattr(model.config, "spc_n_fft", N_FFT)  # a tiny student may choose its own window
        fe = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins, n_fft=n_fft)
        return LogMel(torch.from_numpy(fe.mel_filters), n_fft=n_fft, hop=HOP)

    def front(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        enc = model.encoder
        x = nn.functional.gelu(enc.conv1(inputs))
        x = nn.functional.gelu(enc.conv2(x)).permute(0, 2, 1)
        return x + enc.embed_positions.weight[: x.shape[1]]

    def student_front(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        return self.front(model, inputs)  # convolutions and fixed positions: nothing belongs to the stack

    def strip_for_student(self, shell: nn.Module) -> None:
        """Nothing to remove: the final LayerNorm still feeds the head."""

    def run_layer(self, layer: nn.Module, hidden: torch.Tensor, state: dict) -> torch.Tensor:
        out = layer(hidden, None)
        return out[0] if isinstance(out, tuple) else out

    def _set_num_layers(self, model: nn.Module, n: int) -> None:
        model.config.encoder_layers = n

    def max_samples(self, model: nn.Module, meta) -> int:
        return model.encoder.embed_positions.num_embeddings * CONV_STRIDE * HOP

    def prepare_loaded(self, model: nn.Module, clip_seconds: float) -> None:
        """Trim the 30 s position table to the clip: 1 s -> 100 mel frames -> 50 positions."""
        sr = 16000
        n_pos = int(round(clip_seconds * sr / HOP)) // CONV_STRIDE
        enc = model.encoder
        if enc.embed_positions.num_embeddings != n_pos:
            old = enc.embed_positions.weight.detach()
            if n_pos > old.shape[0]:
                longest = old.shape[0] * CONV_STRIDE * HOP / sr
                raise SpcError(f"clips of {clip_seconds:g} s are longer than this Whisper encoder takes "
                               f"({longest:g} s: {old.shape[0]} positions)")
            enc.embed_positions = nn.Embedding(n_pos, old.shape[1])
            enc.embed_positions.weight.data.copy_(old[:n_pos])
            enc.embed_positions.requires_grad_(False)
            model.config.max_source_positions = n_pos

    def default_feature_extractor(self, sampling_rate: int, normalize: bool, clip_seconds: float):
        from transformers import WhisperFeatureExtractor

        return WhisperFeatureExtractor(sampling_rate=sampling_rate, chunk_length=max(1, round(clip_seconds)))
