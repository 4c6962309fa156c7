"""Neighbour pairs of many activation sets without all n² distances: sort and sweep.

Two samples a, b of one set are *neighbours* when ``d(a, b) = sum_u |a_u - b_u| / n_units <=
tol``. For every set of a batch at once (no loop over seeds), this module finds the neighbour
pairs by a 1-D sort-and-sweep (the broad phase of "sweep and prune" collision detection):

1. Project every sample on fixed weights ``w_u`` in [0.5, 1]: ``p = a · w``. Since
   ``|p(a) - p(b)| <= max_u w_u * sum_u |a_u - b_u| <= n_units * d(a, b)``, neighbours lie within
   ``r = n_units * tol`` of each other in p.
2. Sort each set by p; a sample's candidates are the samples after it within ``r`` (found by
   ``searchsorted``), widened by a margin that covers the rounding of p.
3. Identical rows are adjacent in that order (equal p); only the first of each run is swept,
   and the others are attached to it, so a cluster of c identical rows costs O(c), not O(c²).
4. The exact distance of each candidate pair decides; candidates are processed in chunks of
   bounded size.

The cost is O(batch n log n + candidates * n_units). Candidates are the pairs within ``r`` in
projection: for continuous activations few more than the neighbour pairs, but up to n²/2 when
most samples of a set sit within ``r`` of each other without being identical (then the dense
path of :mod:`~workbench.core.measures.discretization` is faster and is used instead).

For one unit the chained grouping needs no pairs at all: see :func:`chain_labels_1d`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["Sweep", "chain_labels_1d", "sweep", "sweep_edges"]

#: Candidate pairs times units whose differences are held at once (about 32 MiB of float64).
_CHUNK_ENTRIES = 1 << 22
#: 1 / golden ratio: its multiples mod 1 spread the projection weights evenly (Weyl sequence).
_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0


def chain_labels_1d(values: torch.Tensor, tol: float) -> torch.Tensor:
    """Chained groups of one-unit activations, by sorting: O(n log n) per set, batched.

    In one dimension a chain of neighbours breaks exactly at a gap larger than ``tol`` between
    consecutive sorted values: every pair across such a gap is farther apart than the gap
    (rounding is monotone, so this holds for the computed differences too), and consecutive
    values within ``tol`` are neighbours. So the groups are the runs between gaps.

    Args:
        values: (batch, n_samples) float64, one unit.
        tol: Neighbour threshold.

    Returns:
        (batch, n_samples) int64 labels (not canonical: the group's rank in sorted order).
    """
    ordered, order = torch.sort(values, dim=-1, stable=True)
    breaks = torch.zeros_like(ordered, dtype=torch.int64)
    breaks[:, 1:] = (ordered[:, 1:] - ordered[:, :-1] > tol).to(torch.int64)
    return torch.empty_like(breaks).scatter_(-1, order, breaks.cumsum(dim=-1))


def neighbour_pairs_1d(values: torch.Tensor, tol: float) -> int:
    """Number of pairs with ``|a - b| <= tol`` (one unit), for the DEBUG chain log only.

    Counted as ``#{j > k : s_j <= s_k + tol}`` on sorted values; this may differ from the exact
    rule by pairs whose distance is within rounding of ``tol``.
    """
    ordered, _ = torch.sort(values, dim=-1)
    end = torch.searchsorted(ordered, ordered + tol, right=True)
    position = torch.arange(values.shape[-1], device=values.device)
    return int((end - position - 1).sum())


@dataclass(frozen=True)
class Sweep:
    """A batch of sample sets sorted by projection, with each swept sample's candidate count.

    Positions are flat indices ``b * n + k`` into the sorted sets; nodes are flat indices
    ``b * n + i`` into the sets as given (i the input index).

    Attributes:
        rows: (batch * n, n_units) the samples in sorted order.
        node: (batch * n,) the node of each sorted position.
        duplicate: (batch * n,) bool, true where a row equals the row before it (not swept).
        run_start: (batch * n,) the position of the first row of each run of identical rows.
        width: (batch * n,) number of candidates after each position (0 for duplicates).
        n_units: Units per sample.
    """

    rows: torch.Tensor
    node: torch.Tensor
    duplicate: torch.Tensor
    run_start: torch.Tensor
    width: torch.Tensor
    n_units: int

    @property
    def n_candidates(self) -> int:
        """Candidate pairs whose distances :func:`sweep_edges` will compute."""
        return int(self.width.sum())


def sweep(acts: torch.Tensor, tol: float) -> Sweep:
    """Sort a batch of sample sets by projection and find each sample's candidate window.

    Args:
        acts: (batch, n_samples, n_units) float64, on any device.
        tol: Neighbour threshold on the mean absolute difference per unit.

    Returns:
        The :class:`Sweep` (tensors on the device of ``acts``).
    """
    batch, n, n_units = acts.shape
    device = acts.device
    # 1. Weights w_u = 1/2 + frac(u / φ)/2 in [0.5, 1]: unequal, so structured rows with equal
    #    sums (e.g. binary inputs) still spread out; <= 1, so |Δp| <= n_units * d.
    u = torch.arange(1, n_units + 1, dtype=torch.float64, device=device)
    weights = 0.5 + 0.5 * torch.remainder(u * _INV_PHI, 1.0)
    projection = acts @ weights  # (batch, n)
    projection, order = torch.sort(projection, dim=-1, stable=True)
    rows = acts.gather(1, order[..., None].expand(batch, n, n_units))  # (batch, n, n_units)
    # 2. Runs of identical rows (stable sort: the run's first row has the smallest input index).
    duplicate = torch.zeros(batch, n, dtype=torch.bool, device=device)
    duplicate[:, 1:] = (rows[:, 1:] == rows[:, :-1]).all(dim=-1)
    position = torch.arange(n, device=device)
    run_start = torch.where(duplicate, 0, position).cummax(dim=-1).values  # (batch, n)
    # 3. Window [p, p + r + margin]. Each computed p is within about n_units * eps * sum|a| of
    #    the exact one, and the bound p + r is rounded too; the margin covers both, generously.
    r = n_units * tol
    scale = float(acts.abs().sum(dim=-1).amax()) + r
    margin = 8.0 * (n_units + 2) * torch.finfo(torch.float64).eps * scale
    end = torch.searchsorted(projection, projection + (r + margin), right=True)
    width = torch.where(duplicate, 0, end - position - 1)
    offsets = (torch.arange(batch, device=device) * n)[:, None]  # (batch, 1)
    return Sweep(
        rows=rows.reshape(batch * n, n_units),
        node=(order + offsets).reshape(-1),
        duplicate=duplicate.reshape(-1),
        run_start=(run_start + offsets).reshape(-1),
        width=width.reshape(-1),
        n_units=n_units,
    )


def sweep_edges(s: Sweep, tol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The neighbour pairs among swept samples (first rows of runs), as nodes.

    Args:
        s: The :class:`Sweep` of a batch.
        tol: The same threshold that made ``s``.

    Returns:
        ``(src, dst)``, two (n_edges,) int64 node tensors, one direction per pair; pairs never
        join two sets of the batch (windows end at each set's end). Duplicates are not in
        them: a duplicate at position k is a neighbour (distance 0) of ``s.run_start[k]``.
    """
    device = s.width.device
    cum = s.width.cumsum(0)  # (batch * n,): candidates up to and including each position
    total = int(cum[-1]) if cum.numel() else 0
    budget = max(1, _CHUNK_ENTRIES // s.n_units)
    src_parts: list[torch.Tensor] = []
    dst_parts: list[torch.Tensor] = []
    start, done = 0, 0
    while done < total:
        # 1. The sources whose candidates fit in the budget (at least one source).
        stop = int(torch.searchsorted(cum, torch.tensor(done + budget, device=device), right=True))
        stop = max(stop, start + 1)
        widths = s.width[start:stop]
        count = int(widths.sum())
        # 2. Candidate k of source q is position q + k, k = 1..width[q].
        source = torch.repeat_interleave(torch.arange(start, stop, device=device), widths)
        first = torch.repeat_interleave(cum[start:stop] - widths, widths)
        target = source + (torch.arange(done, done + count, device=device) - first + 1)
        swept = ~s.duplicate[target]
        source, target = source[swept], target[swept]
        # 3. The exact rule decides: mean absolute difference per unit.
        difference = s.rows.index_select(0, source).sub_(s.rows.index_select(0, target))
        distance = difference.abs_().sum(dim=-1) / s.n_units  # (candidates,)
        near = distance <= tol
        src_parts.append(s.node[source[near]])
        dst_parts.append(s.node[target[near]])
        start, done = stop, done + count
    if not src_parts:
        empty = torch.zeros(0, dtype=torch.int64, device=device)
        return empty, empty
    return torch.cat(src_parts), torch.cat(dst_parts)
