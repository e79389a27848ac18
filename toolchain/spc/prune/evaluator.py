"""Scoring any subset of a model's layers fast: the stack input h_0 computed once per clip and kept, and where the
memory budget allows the full model's hidden states h_1..h_L too, so that a candidate that keeps layers 0..r-1
starts from h_r instead of recomputing the layers it shares with the full model."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..accuracy import score
from ..analysis.metrics import cosine_flat, cosine_frames
from ..data.clips import ClipSet
from ..progress import track


class StackEvaluator:
    """Logits and hidden states of any subset of a model's layers on a fixed set of clips."""

    def __init__(self, model, clips: ClipSet, batch_size: int = 64, device: str | torch.device = "cpu",
                 cache_mb: int = 2048, show_progress: bool = False, what: str = "caching"):
        self.model = model.to(device).eval()
        self.clips = clips
        self.device = device
        self.n_layers = model.num_layers
        starts = list(range(0, len(clips), batch_size))
        self.batches: list[list[torch.Tensor]] = []
        per_state = None
        keep_all = True
        with torch.inference_mode():
            for s in track(starts, what, show=show_progress):
                audio = torch.from_numpy(clips.audio[s : s + batch_size]).to(device)
                h0 = model.stack_input(audio)
                if per_state is None:
                    per_state = h0.numel() * h0.element_size() * len(clips) / len(audio) / 2**20
                    keep_all = per_state * (self.n_layers + 1) <= cache_mb
                hs = model.run_stack(h0) if keep_all else [h0]
                self.batches.append([h.cpu() for h in hs])
        self.prefix_cached = keep_all

    def _start(self, keep: Sequence[int]) -> int:
        r = 0
        while self.prefix_cached and r < len(keep) and keep[r] == r:
            r += 1
        return r

    def hidden_states(self, keep: Sequence[int]):
        """Per batch, [h_0, outputs of each kept layer]; shared prefixes come from the cache."""
        keep = sorted(keep)
        r = self._start(keep)
        with torch.inference_mode():
            for cached in self.batches:
                prefix = [cached[i].to(self.device) for i in range(r)]
                yield prefix + self.model.run_stack(cached[r].to(self.device), keep[r:])

    def logits(self, keep: Sequence[int]) -> np.ndarray:
        """Logits of the model that keeps layers ``keep`` (without any surgery)."""
        keep = sorted(keep)
        outs = []
        with torch.inference_mode():
            for hs in self.hidden_states(keep):
                outs.append(self.model.logits_from_hidden(hs, keep).float().cpu().numpy())
        return np.concatenate(outs)

    def accuracy(self, keep: Sequence[int]) -> float:
        return score(self.logits(keep), self.clips.targets, self.clips.labels).accuracy

    def block_influence(self, keep: Sequence[int], variant: str = "frames") -> list[float]:
        """BI of each kept layer (in ``sorted(keep)`` order) on these clips."""
        cos = cosine_frames if variant == "frames" else cosine_flat
        sums = np.zeros(len(keep))
        for hs in self.hidden_states(keep):
            for j in range(len(keep)):
                sums[j] += float(cos(hs[j], hs[j + 1]).double().sum())
        return (1.0 - sums / len(self.clips)).tolist()
