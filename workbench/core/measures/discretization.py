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

from workbench.core.measures._arrays import Array, as_codes, as_float, to_numpy
from workbench.core.measures._grouping import (
    component_labels,
    connected_roots,
    first_occurrence_roots,
    leader_roots,
    leader_roots_sparse,
    rank_roots,
)
from workbench.core.measures._neighbours import (
    Sweep,
    chain_labels_1d,
    neighbour_pairs_1d,
    sweep,
    sweep_edges,
)

__all__ = ["GROUPING_RULES", "GroupingRule", "canonical_codes", "discretize", "discretize_batch"]

#: How samples within ``tol`` are grouped: see :func:`discretize`.
GroupingRule = Literal["chained", "leader"]
GROUPING_RULES: tuple[str, ...] = ("chained", "leader")

logger = logging.getLogger(__name__)

#: Upper bound on the entries of one (chunk, n_samples, n_samples) distance block; above it
#: the dense path is never used.
_MAX_BLOCK = 1 << 22
#: The dense path (all n² distances) is used when the sweep's candidate pairs are at least this
#: fraction of all pairs (many samples within n_units * tol of each other in projection).
#: Measured on 1 thread with 16 units: at n = 32, 256, 1024 the sweep is 1.6-2.6x faster at a
#: fraction of 0.06 and the dense path 2.2-3.1x faster at 0.25; at n = 256 the sweep is 1.8x
#: faster at 0.087 and 0.93x at 0.158, so the crossover is near 0.14.
#: benchmarks/bench_measures.py ("dense switch") re-measures it.
_DENSE_CANDIDATE_FRACTION = 0.14
#: Activation values (entries x samples x units) swept at once, bounding the sweep's memory.
_SWEEP_VALUES = 1 << 23


def _check_tol(tol: float) -> float:
    tol = float(tol)
    if not tol >= 0.0 or tol == float("inf"):
        raise ValueError(f"tol must be a finite number >= 0 (mean |a - b| per unit); got {tol}")
    return tol


def _check_rule(rule: str) -> None:
    if rule not in GROUPING_RULES:
        allowed = ", ".join(repr(r) for r in GROUPING_RULES)
        raise ValueError(f"rule must be one of {allowed}; got {rule!r}")


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
    out = rank_roots(first_occurrence_roots(rows))
    return to_numpy(out[0] if t.ndim == 1 else out)


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


def _discretize_dense(acts: torch.Tensor, tol: float, rule: str) -> torch.Tensor:
    """(batch, n_samples) codes from the full distance matrices, batched over the entries."""
    n, n_units = acts.shape[-2:]
    # Mean absolute difference per unit: the sprint's L1 distance divided by the number of units.
    distance = torch.cdist(acts, acts, p=1.0) / n_units  # (batch, n_samples, n_samples)
    adjacency = distance <= tol
    if rule == "leader":
        return rank_roots(leader_roots(adjacency))
    roots = connected_roots(adjacency)
    if logger.isEnabledFor(logging.DEBUG):
        _log_chains(roots, (int(adjacency.sum()) - adjacency.shape[0] * n) // 2, tol)
    return rank_roots(roots)


def _swept_pair_count(s: Sweep, src: torch.Tensor, dst: torch.Tensor) -> int:
    """Neighbour pairs including duplicates: sum over edges of m_i m_j plus m (m - 1) / 2 per run.

    m is the number of identical rows a swept row stands for (its run's length).
    """
    runs = torch.zeros_like(s.run_start).scatter_add_(0, s.run_start, torch.ones_like(s.run_start))
    multiplicity = torch.zeros_like(runs).scatter_(0, s.node, runs)  # by node
    within_runs = int((runs * (runs - 1) // 2).sum())
    return within_runs + int((multiplicity[src] * multiplicity[dst]).sum())


def _discretize_swept(s: Sweep, shape: tuple[int, int], tol: float, rule: str) -> torch.Tensor:
    """(batch, n_samples) codes from the sweep's neighbour pairs, all entries in one graph.

    The graph's nodes are the samples of every entry (node ``b * n + i``); no edge joins two
    entries, so one scipy call groups every entry at once (on the CPU: edges are few).
    """
    batch, n = shape
    device = s.rows.device
    src, dst = sweep_edges(s, tol)
    dup_node = s.node[s.duplicate]
    dup_rep = s.node[s.run_start[s.duplicate]]  # the first identical row, a smaller input index
    src_np, dst_np = to_numpy(src), to_numpy(dst)
    if rule == "leader":
        # Swept rows first; a duplicate then joins its first identical row's group (it has the
        # same distances to everything, and that row comes first in the scan).
        root = torch.from_numpy(leader_roots_sparse(src_np, dst_np, batch * n)).to(device)
        root[dup_node] = root[dup_rep]
        offsets = (torch.arange(batch, device=device) * n)[:, None]
        return rank_roots(root.reshape(batch, n) - offsets)
    all_src = torch.cat([src, dup_node])
    all_dst = torch.cat([dst, dup_rep])
    labels = component_labels(to_numpy(all_src), to_numpy(all_dst), batch * n)
    roots = first_occurrence_roots(torch.from_numpy(labels).to(device).reshape(batch, n))
    if logger.isEnabledFor(logging.DEBUG):
        _log_chains(roots, _swept_pair_count(s, src, dst), tol)
    return rank_roots(roots)


def _discretize_1d_chained(values: torch.Tensor, tol: float) -> torch.Tensor:
    """(batch, n_samples) chained codes of one-unit activations by sorting; exact."""
    roots = first_occurrence_roots(chain_labels_1d(values, tol))
    if logger.isEnabledFor(logging.DEBUG):
        _log_chains(roots, neighbour_pairs_1d(values, tol), tol)
    return rank_roots(roots)


def _discretize_chunk(acts: torch.Tensor, tol: float, rule: str) -> torch.Tensor:
    """(batch, n_samples) codes: the sweep, or the dense path where candidates are most pairs."""
    batch, n, _ = acts.shape
    s = sweep(acts, tol)
    all_pairs = batch * n * (n - 1) // 2
    if n * n <= _MAX_BLOCK and s.n_candidates >= _DENSE_CANDIDATE_FRACTION * all_pairs:
        chunk = max(1, _MAX_BLOCK // (n * n))  # (chunk, n, n) blocks of about _MAX_BLOCK
        blocks = [_discretize_dense(acts[i : i + chunk], tol, rule) for i in range(0, batch, chunk)]
        return torch.cat(blocks)
    return _discretize_swept(s, (batch, n), tol, rule)


def _discretize(acts: torch.Tensor, tol: float, rule: str) -> torch.Tensor:
    """Pick the fastest exact path for (batch, n_samples, n_units) activations."""
    batch, n, n_units = acts.shape
    # 1. One unit, chained: the groups are runs between gaps > tol of the sorted values.
    if n_units == 1 and rule == "chained":
        return _discretize_1d_chained(acts[..., 0], tol)
    # 2. Otherwise sort and sweep, in chunks of entries of bounded memory (a loop over a few
    #    chunks, each batched, not over entries).
    chunk = max(1, _SWEEP_VALUES // (n * n_units))
    return torch.cat(
        [_discretize_chunk(acts[i : i + chunk], tol, rule) for i in range(0, batch, chunk)]
    )


def discretize_batch(
    acts: Array, tol: float = 1e-5, *, rule: GroupingRule = "chained"
) -> npt.NDArray[Any]:
    """Discretize a batch of activation sets at once (e.g. one layer of every seed).

    Each batch entry is discretized exactly as :func:`discretize` would; every path is batched
    over the entries, never a Python loop over them:

    * one unit, ``"chained"``: sort each entry; groups are the runs between gaps > ``tol``
      (O(batch n log n));
    * otherwise a sort-and-sweep (:mod:`~workbench.core.measures._neighbours`) finds the
      candidate pairs, and the exact distances of those decide; one sparse graph holds every
      entry, grouped by ``scipy.sparse.csgraph`` (chained) or in leader rounds run in every
      component at once. O(batch n log n + candidates), memory O(batch n + edges);
    * when the candidates are at least ``_DENSE_CANDIDATE_FRACTION`` of all pairs (most samples
      nearly equal) and n² <= 4M: all distances by ``torch.cdist`` in (chunk, n, n) blocks of
      about 4M entries, with vectorised components or leader rounds.

    All paths give the same codes (tests compare them with each other and with brute force),
    up to pairs whose distance is within rounding of ``tol``. On CUDA the sweep and the dense
    path run on the device; the sparse grouping runs on the CPU and the codes come back.

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
    return to_numpy(_discretize(t, tol, rule))


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
