"""Streaming reduction of hidden states into fixed-size similarity accumulators.

Memory is bounded by one batch of hidden states plus (L+1) x (L+1) sums and one n x n Gram matrix
per hidden state: it does not grow with the number of clips.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..stats import EPS
from .metrics import gram, hsic_biased, hsic_unbiased, knn_sets, mutual_knn_from_sets


@dataclass
class SimilarityAccumulator:
    """Sums over batches for every pair of hidden states (index 0 = stack input)."""

    n_states: int
    k: int = 10
    clips: int = 0
    batches: int = 0
    knn_batches: int = 0
    cka_batches: int = 0
    cos_flat: torch.Tensor = field(init=False)
    cos_frames: torch.Tensor = field(init=False)
    hsic_u: torch.Tensor = field(init=False)
    cka_b: torch.Tensor = field(init=False)
    knn: torch.Tensor = field(init=False)

    def __post_init__(self):
        shape = (self.n_states, self.n_states)
        self.cos_flat = torch.zeros(shape, dtype=torch.float64)
        self.cos_frames = torch.zeros(shape, dtype=torch.float64)
        self.hsic_u = torch.zeros(shape, dtype=torch.float64)
        self.cka_b = torch.zeros(shape, dtype=torch.float64)
        self.knn = torch.zeros(shape, dtype=torch.float64)

    def update(self, hiddens: list[torch.Tensor]) -> None:
        """Add one batch: ``hiddens`` is [h_0 .. h_L], each B x T x D (any device)."""
        n = hiddens[0].shape[0]
        s = self.n_states
        # float64 throughout: a float32 sum of T x D products drifts (the self-cosine of Whisper tiny.en read
        # 0.9987), and Block Influence is 1 - cosine, so a small drift in the cosine is a large one in BI
        stacked = torch.stack([h.double() for h in hiddens])  # S x B x T x D
        flat = torch.nn.functional.normalize(stacked.flatten(2), dim=2, eps=EPS)  # S x B x (T D)
        self.cos_flat += torch.einsum("ibp,jbp->ij", flat, flat).cpu()
        frames = torch.nn.functional.normalize(stacked, dim=3, eps=EPS)  # S x B x T x D
        t = stacked.shape[2]
        self.cos_frames += (torch.einsum("ibtd,jbtd->ij", frames, frames) / t).cpu()
        del flat, frames
        feats = [h.flatten(1) for h in hiddens]
        grams = [gram(f).cpu() for f in feats]
        if n >= 4:
            hb = torch.tensor([[float(hsic_biased(grams[i], grams[j])) if j >= i else 0.0 for j in range(s)] for i in range(s)],
                              dtype=torch.float64)
            hb = hb + hb.triu(1).T
            diag = hb.diagonal().clamp_min(1e-300)
            self.cka_b += hb / torch.sqrt(diag[:, None] * diag[None, :])
            for i in range(s):
                for j in range(i, s):
                    self.hsic_u[i, j] += float(hsic_unbiased(grams[i], grams[j]))
            self.cka_batches += 1
        if n > self.k:
            sets = [knn_sets(f, self.k).cpu() for f in feats]
            for i in range(s):
                for j in range(i, s):
                    self.knn[i, j] += mutual_knn_from_sets(sets[i], sets[j], n)
            self.knn_batches += 1
        self.clips += n
        self.batches += 1

    def result(self) -> dict[str, torch.Tensor]:
        """The (L+1) x (L+1) matrices: cosine (flat, per frame), CKA (minibatch unbiased, batch biased), mutual kNN."""
        def sym(m):
            return m.triu() + m.triu(1).T

        out = {
            "cosine": sym(self.cos_flat) / max(1, self.clips),
            "cosine_frames": sym(self.cos_frames) / max(1, self.clips),
        }
        if self.cka_batches:
            h = sym(self.hsic_u)
            d = h.diagonal().clamp_min(1e-300)
            out["cka"] = h / torch.sqrt(d[:, None] * d[None, :])
            out["cka_batch_biased"] = self.cka_b / self.cka_batches
        if self.knn_batches:
            out["mutual_knn"] = sym(self.knn) / self.knn_batches
        return out
