"""Similarity metrics between layer representations (definitions: docs/method.md).

Inputs are torch tensors; ``X`` and ``Y`` are n x p (one row per clip). Kernels are linear.
"""

from __future__ import annotations

import torch

from ..stats import EPS


def cosine_flat(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per clip, the cosine of the whole flattened T x D outputs: B x T x D, B x T x D -> B."""
    return torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1, eps=EPS)


def cosine_frames(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per clip, the mean over frames of the per-frame cosine: B x T x D, B x T x D -> B."""
    return torch.nn.functional.cosine_similarity(a, b, dim=2, eps=EPS).mean(dim=1)


def gram(x: torch.Tensor) -> torch.Tensor:
    """Linear kernel K = X X^T of n x p features, in float64."""
    x = x.double()
    return x @ x.T


def hsic_biased(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """HSIC(K, L) = tr(K H L H) / (n - 1)^2 with H = I - 11^T / n (Kornblith et al. 2019)."""
    n = k.shape[0]
    h = torch.eye(n, dtype=k.dtype, device=k.device) - 1.0 / n
    return torch.trace(k @ h @ l @ h) / (n - 1) ** 2


def hsic_unbiased(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC estimator (Song et al. 2012), as used by minibatch CKA (Nguyen et al. 2021); n >= 4."""
    n = k.shape[0]
    if n < 4:
        raise ValueError("the unbiased HSIC estimator needs at least 4 samples")
    k = k.clone()
    l = l.clone()
    k.fill_diagonal_(0)
    l.fill_diagonal_(0)
    kl = k @ l
    ones_k, ones_l = k.sum(), l.sum()
    value = torch.trace(kl) + ones_k * ones_l / ((n - 1) * (n - 2)) - 2.0 * kl.sum() / (n - 2)
    return value / (n * (n - 3))


def cka(x: torch.Tensor, y: torch.Tensor, unbiased: bool = False) -> float:
    """Linear CKA of n x p and n x q features on one batch."""
    hsic = hsic_unbiased if unbiased else hsic_biased
    k, l = gram(x), gram(y)
    return float(hsic(k, l) / torch.sqrt(hsic(k, k) * hsic(l, l)))


def knn_sets(x: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k nearest neighbours of each row (self excluded) of L2-normalised features: n x k."""
    if x.shape[0] <= k:
        raise ValueError(f"mutual kNN with k={k} needs more than {k} clips in a batch, got {x.shape[0]}")
    z = torch.nn.functional.normalize(x.double(), dim=1)
    sim = z @ z.T
    sim.fill_diagonal_(float("-inf"))
    return sim.topk(k, dim=1).indices


def mutual_knn_from_sets(na: torch.Tensor, nb: torch.Tensor, n: int) -> float:
    """mean_i |N_A(i) & N_B(i)| / k from two n x k neighbour index sets."""
    k = na.shape[1]
    a = torch.zeros(n, n, dtype=torch.bool, device=na.device).scatter_(1, na, True)
    b = torch.zeros(n, n, dtype=torch.bool, device=nb.device).scatter_(1, nb, True)
    return float((a & b).sum(dim=1).double().mean() / k)


def mutual_knn(x: torch.Tensor, y: torch.Tensor, k: int = 10) -> float:
    """Mutual k-nearest-neighbour alignment of two n x p feature sets (Huh et al. 2024)."""
    return mutual_knn_from_sets(knn_sets(x, k), knn_sets(y, k), x.shape[0])


def block_influence(similarity_to_next: torch.Tensor) -> torch.Tensor:
    """BI_i = 1 - E[cos(h_{i-1}, h_i)] from the mean cosines between consecutive hidden states."""
    return 1.0 - similarity_to_next
