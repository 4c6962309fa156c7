"""Sample moments of (blocks of) features: the algebra shared by in-memory and streaming code.

``Moments`` holds the count n, the mean and the scatter matrix ``M2 = sum_i (z_i - mean)(z_i -
mean)^T`` of a sample set. Merging two sets uses the pairwise update of Chan, Golub & LeVeque
(1979, "Updating formulae and a pairwise algorithm for computing sample variances")::

    n = n_a + n_b,   delta = mean_b - mean_a,   mean = mean_a + delta * n_b / n
    M2 = M2_a + M2_b + delta delta^T * n_a n_b / n

which never forms raw second moments ``sum z z^T`` and so avoids their cancellation.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

__all__ = [
    "Moments",
    "add_scatter_",
    "batch_moments",
    "merge",
    "mirror_blocks_",
    "remove",
    "scatter",
    "tile_edges",
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


#: Widest row strip of the scatter products; see :func:`add_scatter_`. 192 measured fastest of
#: 128/192/256/384 for two 768-wide blocks of 8,192 rows (MKL, 1 and 2 threads): narrower
#: strips waste fewer flops on the diagonal tiles, wider ones run the BLAS nearer its peak.
TILE = 192


def tile_edges(dims: list[int], tile: int = TILE) -> list[int]:
    """Column edges of the tiles: each feature block split into near-equal tiles <= ``tile``.

    Example: dims (768, 768) with tile 384 give edges [0, 384, 768, 1152, 1536]; dims (3, 2)
    give [0, 3, 5]. Tiles never straddle two blocks.
    """
    edges = [0]
    for d in dims:
        pieces = max(1, math.ceil(d / tile))
        start = edges[-1]
        edges.extend(start + round(d * (k + 1) / pieces) for k in range(pieces))
    return edges


def add_scatter_(m2: torch.Tensor, blocks: list[torch.Tensor], edges: list[int]) -> None:
    """Add the scatter of centred feature blocks into ``m2``, upper tiles only, in place.

    ``M2 += Z^T Z`` for ``Z = [block_1, block_2, ...]`` (never concatenated), for tile pairs
    i <= j only: a poor man's SYRK, which torch does not expose. Tile i's whole row strip
    within one block is one product, ``M2[t_i, c:e_k] += Z[:, t_i]^T Z[:, c:e_k]`` with
    ``c = max(start of t_i, start of block k)``, so there are (tiles x blocks) BLAS calls
    rather than one per tile pair. ``Z^T Z`` is symmetric, so with T tiles this does
    (T + 1) / (2T) of the flops of one full matmul (9/16 for two 768-wide blocks in tiles of
    192). Lower tiles are left stale; :func:`mirror_blocks_` fills them when the matrix is read.

    Batched: with ``m2`` (..., D, D) and blocks (..., n_samples, dim_k) every leading index
    gets its own scatter (one ``baddbmm_`` per strip), e.g. one per jackknife group.

    Args:
        m2: (D, D) or (G, D, D) float64 accumulator, D = sum of block widths.
        blocks: Centred float64 tensors (n_samples, dim_k), or (G, n_samples, dim_k).
        edges: Tile edges from :func:`tile_edges` for the blocks' widths.
    """
    starts = [0]
    for block in blocks:
        starts.append(starts[-1] + block.shape[-1])
    for r0, r1 in itertools.pairwise(edges):
        k = next(i for i in range(len(blocks)) if r1 <= starts[i + 1])  # tile r0:r1 in block k
        rows = blocks[k][..., r0 - starts[k] : r1 - starts[k]]  # (..., n, tile)
        for j in range(k, len(blocks)):
            c0 = max(r0, starts[j])
            cols = blocks[j][..., c0 - starts[j] :]  # (..., n, e_j - c0)
            out = m2[..., r0:r1, c0 : starts[j + 1]]
            if m2.ndim == 2:
                out.addmm_(rows.T, cols)  # (tile, n) @ (n, width)
            else:
                out.baddbmm_(rows.mT, cols)  # (G, tile, n) @ (G, n, width)


def mirror_blocks_(m2: torch.Tensor, edges: list[int]) -> torch.Tensor:
    """Copy each upper off-diagonal tile onto its lower mirror, in place; returns ``m2``.

    ``m2`` is (D, D) or batched (..., D, D).
    """
    for i in range(len(edges) - 1):
        rows = slice(edges[i], edges[i + 1])
        for j in range(i + 1, len(edges) - 1):
            cols = slice(edges[j], edges[j + 1])
            m2[..., cols, rows] = m2[..., rows, cols].mT
    return m2


def scatter(blocks: list[torch.Tensor]) -> torch.Tensor:
    """Scatter matrix ``Z^T Z`` of centred feature blocks (upper tiles computed once).

    Args:
        blocks: Centred float64 tensors (n_samples, dim_k), all with the same n_samples.

    Returns:
        (D, D) float64 symmetric scatter matrix, D = sum of the block widths.
    """
    edges = tile_edges([b.shape[1] for b in blocks])
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
