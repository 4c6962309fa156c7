"""Sample moments of (blocks of) features: the algebra shared by in-memory and streaming code.

``Moments`` holds the count n, the mean and the scatter matrix ``M2 = sum_i (z_i - mean)(z_i -
mean)^T`` of a sample set. Merging two sets uses the pairwise update of Chan, Golub & LeVeque
(1979, "Updating formulae and a pairwise algorithm for computing sample variances")::

    n = n_a + n_b,   delta = mean_b - mean_a,   mean = mean_a + delta * n_b / n
    M2 = M2_a + M2_b + delta delta^T * n_a n_b / n

which never forms raw second moments ``sum z z^T`` and so avoids their cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "Moments",
    "add_scatter_",
    "batch_moments",
    "block_edges",
    "merge",
    "mirror_blocks_",
    "remove",
    "scatter",
]


@dataclass(frozen=True)
class Moments:
    """Count, mean and scatter matrix of a set of samples (float64 tensors).

    Attributes:
        n: Number of samples.
        mean: (dim,) sample mean.
        m2: (dim, dim) scatter matrix ``sum_i (z_i - mean)(z_i - mean)^T``.
    """

    n: int
    mean: torch.Tensor
    m2: torch.Tensor


def block_edges(dims: list[int]) -> list[int]:
    """Offsets of consecutive feature blocks: dims (3, 2) give edges [0, 3, 5]."""
    edges = [0]
    for d in dims:
        edges.append(edges[-1] + d)
    return edges


def add_scatter_(m2: torch.Tensor, blocks: list[torch.Tensor], edges: list[int]) -> None:
    """Add ``b_i^T b_j`` into the upper block (i <= j) of ``m2``, in place.

    Only block pairs i <= j are computed: for two blocks (x, y) that is three matmuls (x^T x,
    y^T y, x^T y) instead of the four of a single ``z^T z`` on ``z = [x, y]``. The lower blocks are
    left stale; :func:`mirror_blocks_` fills them when the matrix is read.

    Args:
        m2: (D, D) float64 accumulator, D = sum of block widths.
        blocks: Centred float64 tensors (n_samples, dim_k).
        edges: Block offsets from :func:`block_edges`.
    """
    for i, bi in enumerate(blocks):
        rows = slice(edges[i], edges[i + 1])
        for j in range(i, len(blocks)):
            cols = slice(edges[j], edges[j + 1])
            m2[rows, cols].addmm_(bi.T, blocks[j])  # (dim_i, n) @ (n, dim_j)


def mirror_blocks_(m2: torch.Tensor, edges: list[int]) -> torch.Tensor:
    """Copy each upper off-diagonal block onto its lower mirror, in place; returns ``m2``."""
    for i in range(len(edges) - 1):
        rows = slice(edges[i], edges[i + 1])
        for j in range(i + 1, len(edges) - 1):
            cols = slice(edges[j], edges[j + 1])
            m2[cols, rows] = m2[rows, cols].T
    return m2


def scatter(blocks: list[torch.Tensor]) -> torch.Tensor:
    """Scatter matrix of centred feature blocks, each block pair computed once.

    Args:
        blocks: Centred float64 tensors (n_samples, dim_k), all with the same n_samples.

    Returns:
        (D, D) float64 symmetric scatter matrix, D = sum of the block widths.
    """
    edges = block_edges([b.shape[1] for b in blocks])
    m2 = torch.zeros(edges[-1], edges[-1], dtype=torch.float64, device=blocks[0].device)
    add_scatter_(m2, blocks, edges)
    return mirror_blocks_(m2, edges)


def batch_moments(blocks: list[torch.Tensor]) -> Moments:
    """Moments of one batch given as feature blocks (n_samples, dim_k)."""
    means = [b.mean(dim=0) for b in blocks]
    centred = [b - m for b, m in zip(blocks, means, strict=True)]
    return Moments(n=blocks[0].shape[0], mean=torch.cat(means), m2=scatter(centred))


def merge(a: Moments, b: Moments) -> Moments:
    """Moments of the union of two disjoint sample sets (Chan et al. pairwise update)."""
    if a.n == 0:
        return b
    if b.n == 0:
        return a
    n = a.n + b.n
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.n / n)
    m2 = a.m2 + b.m2 + torch.outer(delta, delta) * (a.n * b.n / n)
    return Moments(n=n, mean=mean, m2=m2)


def remove(total: Moments, part: Moments) -> Moments:
    """Moments of ``total`` without the samples of ``part`` (the pairwise update run backwards).

    Used for delete-a-group jackknife: if ``total = merge(rest, part)`` then
    ``rest.mean = (n mean - n_p mean_p) / n_r`` and
    ``rest.M2 = M2 - M2_p - delta delta^T n_r n_p / n`` with ``delta = mean_p - rest.mean``.
    """
    n_rest = total.n - part.n
    if n_rest <= 0:
        raise ValueError("cannot remove a group holding every sample; use at least two groups")
    mean = (total.mean * total.n - part.mean * part.n) / n_rest
    delta = part.mean - mean
    m2 = total.m2 - part.m2 - torch.outer(delta, delta) * (n_rest * part.n / total.n)
    return Moments(n=n_rest, mean=mean, m2=m2)
