"""Turn continuous activations into discrete codes: one integer per sample.

The sprint (seed 000) called two activation vectors "the same" when their L1 distance divided by
the number of units was at most ``tol`` (it used ``tol = 1e-5``). That relation is not transitive,
so this module offers two grouping rules: its *transitive closure* (``"chained"``, the connected
components of the graph whose edges join samples within ``tol``; the default) and a greedy
``"leader"`` rule that depends on sample order. See :func:`discretize` for both.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from workbench.core.measures._arrays import Array, as_codes, as_float, to_numpy

__all__ = ["GROUPING_RULES", "GroupingRule", "canonical_codes", "discretize", "discretize_batch"]

#: How samples within ``tol`` are grouped: see :func:`discretize`.
GroupingRule = Literal["chained", "leader"]
GROUPING_RULES: tuple[str, ...] = ("chained", "leader")

logger = logging.getLogger(__name__)

#: Upper bound on the entries of one (chunk, n_samples, n_samples) distance block.
_MAX_BLOCK = 1 << 22


def _check_tol(tol: float) -> float:
    tol = float(tol)
    if not tol >= 0.0 or tol == float("inf"):
        raise ValueError(f"tol must be a finite number >= 0 (mean |a - b| per unit); got {tol}")
    return tol


def _check_rule(rule: str) -> None:
    if rule not in GROUPING_RULES:
        allowed = ", ".join(repr(r) for r in GROUPING_RULES)
        raise ValueError(f"rule must be one of {allowed}; got {rule!r}")


def _rank_roots(root: torch.Tensor) -> torch.Tensor:
    """Number the groups 0..k-1 by first occurrence.

    Args:
        root: (batch, n_samples) int64, for each sample the index of the first sample of its
            group (so ``root[b, i] <= i`` and ``root[b, root[b, i]] == root[b, i]``).

    Returns:
        (batch, n_samples) int64 codes; equal partitions of the same samples give equal arrays.
    """
    n = root.shape[-1]
    position = torch.arange(n, device=root.device).expand_as(root)
    is_first = root == position  # (batch, n_samples): the sample that opens a group
    rank = is_first.cumsum(dim=-1) - 1  # groups seen so far, minus one
    return rank.gather(-1, root)


def _first_occurrence_roots(codes: torch.Tensor) -> torch.Tensor:
    """For each sample, the index of the first sample carrying the same label.

    Args:
        codes: (batch, n_samples) int64 labels, any values.

    Returns:
        (batch, n_samples) int64 root indices, found in O(n log n) per row by a stable sort.
    """
    batch, n = codes.shape
    # 1. Stable sort, so that within a run of equal labels the original indices increase.
    sorted_codes, order = torch.sort(codes, dim=-1, stable=True)
    # 2. Mark where each run of equal labels starts, and carry that start position along the run.
    starts = torch.ones_like(sorted_codes, dtype=torch.bool)
    starts[:, 1:] = sorted_codes[:, 1:] != sorted_codes[:, :-1]
    position = torch.arange(n, device=codes.device).expand(batch, n)
    run_start = torch.where(starts, position, 0).cummax(dim=-1).values
    # 3. The first element of a run (stable order) is the label's first occurrence.
    root_sorted = order.gather(-1, run_start)
    return torch.empty_like(root_sorted).scatter_(-1, order, root_sorted)


def canonical_codes(codes: Array) -> npt.NDArray[Any]:
    """Relabel integer codes as 0..k-1 in order of first occurrence.

    Two code arrays describe the same partition of the samples exactly when their canonical
    forms are equal, e.g. ``canonical_codes([7, 7, 3, 9, 3]) == [0, 0, 1, 2, 1]``.

    Args:
        codes: (n_samples,) or (batch, n_samples) integer labels, numpy or torch.

    Returns:
        int64 numpy array of the same shape.

    Raises:
        ValueError: If the codes are empty, not integers, or not 1-D/2-D.
    """
    t = as_codes(codes, "codes", ndim=(1, 2), shape_doc="(n_samples,) or (batch, n_samples)")
    rows = t[None] if t.ndim == 1 else t
    out = _rank_roots(_first_occurrence_roots(rows))
    return to_numpy(out[0] if t.ndim == 1 else out)


def _connected_roots(adjacency: torch.Tensor) -> torch.Tensor:
    """Connected components of a batch of graphs, each labelled by its smallest node index.

    Min-label propagation with pointer jumping (in the spirit of Shiloach & Vishkin, 1982):
    every node repeatedly takes the smallest label among its neighbours, then the label of the
    node its label points to. Invariant: ``label[i]`` is a node of i's component and
    ``label[i] <= i``; both steps only lower labels, and at the fixed point the label is constant
    along every edge, hence equal to the component's smallest index.

    Args:
        adjacency: (batch, n_samples, n_samples) bool, symmetric, with a true diagonal.

    Returns:
        (batch, n_samples) int64: the smallest sample index in each sample's component.
    """
    batch, n, _ = adjacency.shape
    labels = torch.arange(n, device=adjacency.device).expand(batch, n).contiguous()
    no_edge = torch.full((), n, dtype=torch.int64, device=adjacency.device)
    while True:
        # 1. Smallest label among neighbours (the diagonal keeps a node's own label in play).
        smallest = torch.where(adjacency, labels[:, None, :], no_edge).amin(dim=-1)
        # 2. Pointer jumping: adopt the label of the node we now point to (halves chain depth).
        smallest = smallest.gather(-1, smallest)
        if torch.equal(smallest, labels):
            return labels
        labels = smallest


def _log_chains(roots: torch.Tensor, n_edges: int, tol: float) -> None:
    """Log (DEBUG) how many sample pairs share a code only through chains.

    Pairs in one component: sum over components of size (size - 1) / 2; pairs joined
    directly: the neighbour edges. The difference was merged by transitivity.
    """
    sizes = torch.zeros_like(roots).scatter_add_(-1, roots, torch.ones_like(roots))
    same_code_pairs = int((sizes * (sizes - 1) // 2).sum())
    chained = same_code_pairs - n_edges
    if chained > 0:
        logger.debug(
            "discretize: %d sample pairs farther apart than tol=%g share a code via chains",
            chained,
            tol,
        )


def _leader_roots(adjacency: torch.Tensor) -> torch.Tensor:
    """Leader (greedy) groups of a batch of neighbour graphs, labelled by their leader's index.

    The greedy rule scans samples in input order: a sample joins the first group whose leader
    (first member) is its neighbour, else it opens a group and leads it. Computed in rounds,
    one group per round and batch entry: the smallest unassigned sample cannot be the
    neighbour of an earlier leader (it would have been assigned), so it is the next leader, and
    every unassigned neighbour of it joins it (earlier leaders are not its neighbours). Rounds =
    the largest number of groups in the batch; each is O(batch n).

    Args:
        adjacency: (batch, n_samples, n_samples) bool, symmetric, with a true diagonal.

    Returns:
        (batch, n_samples) int64: the index of each sample's leader (``root[b, i] <= i``).
    """
    batch, n, _ = adjacency.shape
    position = torch.arange(n, device=adjacency.device)
    rows = torch.arange(batch, device=adjacency.device)
    root = torch.full((batch, n), -1, dtype=torch.int64, device=adjacency.device)
    while True:
        unassigned = root < 0  # (batch, n_samples)
        # 1. The next leader of each entry: its smallest unassigned sample (n when none is left).
        leader = torch.where(unassigned, position, n).amin(dim=-1)  # (batch,)
        active = leader < n
        if not bool(active.any()):
            return root
        # 2. Its unassigned neighbours (itself included, by the diagonal) join it.
        joins = adjacency[rows, leader.clamp(max=n - 1)] & unassigned & active[:, None]
        root = torch.where(joins, leader[:, None], root)


def _leader_roots_sparse(
    src: npt.NDArray[np.int64], dst: npt.NDArray[np.int64], n: int
) -> npt.NDArray[np.int64]:
    """:func:`_leader_roots` on a sparse neighbour graph of n nodes (edges both ways allowed).

    Runs the same rounds in every connected component at once: a sample's leader is its
    neighbour, hence in its component, so components do not interact. Rounds = the largest
    number of leader groups in one component; each round is O(edges + n).
    """
    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    root = np.full(n, -1, dtype=np.int64)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    while True:
        unassigned = np.flatnonzero(root < 0)  # ascending sample indices
        if unassigned.size == 0:
            return root
        # 1. In each component the smallest unassigned sample is the next leader.
        _, first = np.unique(component[unassigned], return_index=True)
        leaders = unassigned[first]
        root[leaders] = leaders
        # 2. Unassigned neighbours of a new leader join it (one new leader per component).
        is_leader = np.zeros(n, dtype=bool)
        is_leader[leaders] = True
        joins = is_leader[src] & (root[dst] < 0)
        root[dst[joins]] = src[joins]
        # 3. Edges between assigned samples can no longer matter.
        live = (root[src] < 0) | (root[dst] < 0)
        src, dst = src[live], dst[live]


def _discretize_dense(acts: torch.Tensor, tol: float, rule: str) -> torch.Tensor:
    """(batch, n_samples) codes from the full distance matrices; see :func:`discretize_batch`."""
    n, n_units = acts.shape[-2:]
    # Mean absolute difference per unit: the sprint's L1 distance divided by the number of units.
    distance = torch.cdist(acts, acts, p=1.0) / n_units  # (batch, n_samples, n_samples)
    adjacency = distance <= tol
    if rule == "leader":
        return _rank_roots(_leader_roots(adjacency))
    roots = _connected_roots(adjacency)
    if logger.isEnabledFor(logging.DEBUG):
        _log_chains(roots, (int(adjacency.sum()) - adjacency.shape[0] * n) // 2, tol)
    return _rank_roots(roots)


def _discretize_sparse(acts: torch.Tensor, tol: float, rule: str) -> torch.Tensor:
    """(1, n_samples) codes for one large sample set, in O(edges) memory.

    Distances are computed in row blocks and only the neighbour pairs are kept; scipy finds
    the connected components of that sparse graph. Same result as the dense path.
    """
    n, n_units = acts.shape
    rows_per_block = max(1, _MAX_BLOCK // n)
    sources, targets = [], []
    for r0 in range(0, n, rows_per_block):
        distance = torch.cdist(acts[r0 : r0 + rows_per_block], acts, p=1.0) / n_units
        i, j = torch.nonzero(distance <= tol, as_tuple=True)
        sources.append(to_numpy(i + r0))
        targets.append(to_numpy(j))
    src, dst = np.concatenate(sources), np.concatenate(targets)
    if rule == "leader":
        leader = torch.from_numpy(_leader_roots_sparse(src, dst, n))[None]
        return _rank_roots(leader).to(acts.device)
    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    roots = _first_occurrence_roots(torch.from_numpy(labels.astype(np.int64))[None])
    if logger.isEnabledFor(logging.DEBUG):
        _log_chains(roots, (src.size - n) // 2, tol)
    return _rank_roots(roots).to(acts.device)


def discretize_batch(
    acts: Array, tol: float = 1e-5, *, rule: GroupingRule = "chained"
) -> npt.NDArray[Any]:
    """Discretize a batch of activation sets at once (e.g. one layer of every seed).

    Each batch entry is discretized exactly as :func:`discretize` would; the work is batched
    (pairwise distances by ``torch.cdist`` and vectorised connected components), not a Python
    loop over the batch. Memory is O(batch n²) in blocks of about 4M entries; above 2048
    samples each entry instead gets a row-blocked sparse neighbour graph (O(edges) memory,
    components by ``scipy.sparse.csgraph``).

    Args:
        acts: (batch, n_samples, n_units) activations, numpy or torch on any device; batch is
            ``seed`` for an ensemble.
        tol: Two samples are neighbours when ``sum(|a - b|) / n_units <= tol``.
        rule: ``"chained"`` (connected components) or ``"leader"`` (greedy, order-dependent);
            see :func:`discretize`.

    Returns:
        (batch, n_samples) int64 numpy codes, 0..k-1 by first occurrence in each row.

    Raises:
        ValueError: If ``acts`` is not 3-D, is empty, holds NaN/inf, ``tol`` is negative, or
            ``rule`` is unknown.
    """
    tol = _check_tol(tol)
    _check_rule(rule)
    t = as_float(acts, "acts", ndim=3, shape_doc="(batch, n_samples, n_units)")
    batch, n, _ = t.shape
    if n * n > _MAX_BLOCK:
        # Too many samples for dense (n, n) matrices: one entry at a time, sparse graph.
        return to_numpy(torch.cat([_discretize_sparse(t[b], tol, rule) for b in range(batch)]))
    # Keep each (chunk, n, n) distance block near _MAX_BLOCK entries to bound memory.
    chunk = max(1, _MAX_BLOCK // (n * n))
    blocks = [_discretize_dense(t[i : i + chunk], tol, rule) for i in range(0, batch, chunk)]
    return to_numpy(torch.cat(blocks))


def discretize(
    acts: Array, tol: float = 1e-5, *, rule: GroupingRule = "chained"
) -> npt.NDArray[Any]:
    """One integer code per sample: samples whose activations agree within ``tol`` share a code.

    Rule: samples i and j are *neighbours* when their mean absolute difference per unit is small,
    ``d(i, j) = (1 / n_units) * sum_u |acts[i, u] - acts[j, u]| <= tol`` (the sprint's rule,
    ``tol = 1e-5``). The neighbour relation is not transitive, so "share a code" needs a rule:

    * ``rule="chained"`` (default): codes are the connected components of the neighbour graph.
      When a≈b and b≈c but not a≈c, all three share one code. The transitive closure is the
      smallest equivalence relation containing the neighbour relation, so this is the only
      grouping that (i) never separates neighbours and (ii) needs no processing order. The
      price: a code's diameter can exceed ``tol`` (at most ``(k - 1) * tol`` for k chained
      samples). Such chains are logged at DEBUG level. The partition depends only on the set of
      activation vectors: permuting the samples permutes the partition.
    * ``rule="leader"``: the sprint's "within tol of each other" read as a greedy leader rule.
      Samples are scanned in input order; a sample joins the first existing group whose leader
      (its first member) is within ``tol``, else it opens a new group. Every member is within
      ``tol`` of its leader (diameter at most ``2 * tol``), but neighbours may be separated and
      the result **depends on the sample order**: the input order is the canonical one (for
      the toy tasks, the inputs' integer order). E.g. 0, 0.6e-5, 1.2e-5 at ``tol = 1e-5`` are
      one chained code but two leader codes, {0, 0.6e-5} and {1.2e-5}.

    Labels are 0..k-1 in order of first occurrence, so for fixed inputs two layers that induce
    the same partition give identical arrays (see :func:`canonical_codes`).

    Args:
        acts: (n_samples, n_units) activations, numpy or torch on any device.
        tol: Neighbour threshold on the mean absolute difference per unit (>= 0; 0 means exact
            equality).
        rule: ``"chained"`` or ``"leader"``, as above.

    Returns:
        (n_samples,) int64 numpy codes.

    Raises:
        ValueError: If ``acts`` is not 2-D, is empty, holds NaN/inf, ``tol`` is negative, or
            ``rule`` is not one of ``"chained"``, ``"leader"``.
    """
    t = as_float(acts, "acts", ndim=2, shape_doc="(n_samples, n_units)")
    return np.asarray(discretize_batch(t[None], tol, rule=rule)[0])
