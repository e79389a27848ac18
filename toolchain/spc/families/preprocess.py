"""Audio front ends as torch modules, so that raw audio in -> logits out exports to ONNX as one graph."""

from __future__ import annotations

import math

import torch
from torch import nn


class ZeroMeanUnitVar(nn.Module):
    """Per-clip normalisation used by wav2vec2-style feature extractors (``do_normalize``)."""

    def forward(self, audio: torch.Tensor) -> torch.Tensor:  # B x S -> B x S
        mean = audio.mean(dim=-1, keepdim=True)
        var = ((audio - mean) ** 2).mean(dim=-1, keepdim=True)
        return (audio - mean) / torch.sqrt(var + 1e-7)


class LogMel(nn.Module):
    """Whisper's log-mel spectrogram (n_fft 400, hop 160, Hann window), as the HF feature extractor computes it.

    The STFT is a strided convolution with a windowed DFT basis, which exports to ONNX without
    complex numbers; the mel filters are the feature extractor's own.
    """

    def __init__(self, mel_filters: torch.Tensor, n_fft: int = 400, hop: int = 160):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        n_freq = n_fft // 2 + 1
        t = torch.arange(n_fft, dtype=torch.float64)
        k = torch.arange(n_freq, dtype=torch.float64)[:, None]
        window = 0.5 - 0.5 * torch.cos(2 * math.pi * t / n_fft)  # periodic Hann, like torch.hann_window
        angle = 2 * math.pi * k * t / n_fft
        basis = torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window])  # 2F x n_fft
        self.register_buffer("basis", basis.float().unsqueeze(1), persistent=False)
        self.register_buffer("mel", mel_filters.float().T.contiguous(), persistent=False)  # M x F

    def forward(self, audio: torch.Tensor) -> torch.Tensor:  # B x S -> B x M x frames
        pad = self.n_fft // 2
        x = nn.functional.pad(audio.unsqueeze(1), (pad, pad), mode="reflect")
        spec = nn.functional.conv1d(x, self.basis, stride=self.hop)  # B x 2F x (frames + 1)
        n_freq = spec.shape[1] // 2
        power = spec[:, :n_freq, :-1] ** 2 + spec[:, n_freq:, :-1] ** 2
        log_spec = torch.clamp(self.mel @ power, min=1e-10).log10()
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = torch.maximum(log_spec, peak - 8.0)
        return (log_spec + 4.0) / 4.0
