"""Redundancy: how many first-layer units of a network sit on the same crease.

A first-layer ReLU unit relu(w·x + c) is creased along the line w·x + c = 0. Normalising by ‖w‖
gives the line's unit normal n = w/‖w‖ and offset d = c/‖w‖; the pair (n, d) and (−n, −d) is
the same line, so the sign is fixed by making the normal's first nonzero component positive.
Two units share a crease when their canonical lines differ by at most ``crease_tol`` in every
component, max(|n − n'|, |d − d'|) ≤ crease_tol (joined transitively, as connected components).
Only informative units count (see :func:`~.strategies.informative_neurons`): a unit whose crease
misses the square is affine there and has no crease to share.

Redundancy of a network = informative first-layer units / distinct creases (1 when every crease
has one unit). A unit's weight vector is rescaled freely by the ReLU symmetry; (n, d) is
invariant to it, so the count is too.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from workbench.core.ensemble import EnsembleMLP

__all__ = ["CreaseCensus", "crease_census"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class CreaseCensus:
    """Per network: distinct creases, units on them, and the most crowded crease.

    Attributes:
        creases: (seed,) distinct creases among informative first-layer units.
        units: (seed,) informative first-layer units.
        max_per_crease: (seed,) units on the most crowded crease (0 with no units).
        redundancy: (seed,) units / creases (NaN with no creases).
    """

    def __init__(self, creases: IntArray, units: IntArray, max_per_crease: IntArray) -> None:
        self.creases = creases
        self.units = units
        self.max_per_crease = max_per_crease
        with np.errstate(invalid="ignore", divide="ignore"):
            self.redundancy: FloatArray = np.where(creases > 0, units / creases, np.nan)


def canonical_lines(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Canonical crease lines (n_a, n_b, d) of first-layer units.

    Args:
        weight: (seed, d_hidden, 2) first-layer weights.
        bias: (seed, d_hidden).

    Returns:
        (seed, d_hidden, 3) float64; rows of units with w = 0 are NaN.
    """
    w = weight.to(torch.float64)
    norm = w.norm(dim=2, keepdim=True)  # (seed, d_hidden, 1)
    line = torch.cat([w, bias.to(torch.float64).unsqueeze(2)], dim=2) / norm
    first = torch.where(line[..., 0].abs() > 1e-12, line[..., 0], line[..., 1])
    sign = torch.where(first < 0, -1.0, 1.0).to(line).unsqueeze(2)
    return torch.where(norm > 0, line * sign, torch.full_like(line, float("nan")))


def crease_census(
    model: EnsembleMLP, informative_first: torch.Tensor, *, crease_tol: float
) -> CreaseCensus:
    """Count creases and units per crease among each network's informative first-layer units.

    Args:
        model: The ensemble (inputs (a, b)).
        informative_first: (seed, d_hidden1) bool, informative first-layer units.
        crease_tol: Largest difference of canonical (n_a, n_b, d) on one crease.

    Returns:
        :class:`CreaseCensus`.
    """
    layer = model.layers[0]
    lines = canonical_lines(layer.weight, layer.bias).cpu().numpy()  # (seed, d, 3)
    mask = informative_first.cpu().numpy().astype(bool)
    n_seeds, d, _ = lines.shape
    if mask.shape != (n_seeds, d):
        raise ValueError(f"informative_first must be (seed={n_seeds}, d_hidden1={d}); got "
                         f"{mask.shape}")  # fmt: skip
    # Pairwise max-norm distances for all seeds at once: (seed, d, d).
    dist = np.abs(lines[:, :, None, :] - lines[:, None, :, :]).max(axis=3)
    close = (dist <= crease_tol) & mask[:, :, None] & mask[:, None, :]
    # One graph over every (seed, unit): block-diagonal, so components never cross seeds and
    # component ids are unique across the ensemble.
    s, i, j = np.nonzero(close)
    graph = coo_matrix((np.ones(s.size), (s * d + i, s * d + j)), shape=(n_seeds * d,) * 2)
    _, comp = connected_components(graph, directed=False)
    flat = np.flatnonzero(mask.reshape(-1))  # informative (seed, unit) positions
    _, first, sizes = np.unique(comp[flat], return_index=True, return_counts=True)
    seed_of = flat[first] // d  # the seed of each crease
    creases = np.bincount(seed_of, minlength=n_seeds).astype(np.int64)
    crowd = np.zeros(n_seeds, dtype=np.int64)
    np.maximum.at(crowd, seed_of, sizes)
    return CreaseCensus(creases, mask.sum(axis=1).astype(np.int64), crowd)
