"""Group the samples of neighbour graphs: canonical labels, chained components, leader groups.

Used by :mod:`~workbench.core.measures.discretization` (dense graphs batched over seeds, sparse
graphs of all seeds at once) and by :mod:`~workbench.core.measures.discrete` (canonical labels).
A *root* array gives each sample the index of its group's first sample, so that
``root[b, i] <= i`` and ``root[b, root[b, i]] == root[b, i]``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = [
    "component_labels",
    "connected_roots",
    "first_occurrence_roots",
    "leader_roots",
    "leader_roots_sparse",
    "rank_roots",
]


def rank_roots(root: torch.Tensor) -> torch.Tensor:
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


def first_occurrence_roots(codes: torch.Tensor) -> torch.Tensor:
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


def connected_roots(adjacency: torch.Tensor) -> torch.Tensor:
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


def leader_roots(adjacency: torch.Tensor) -> torch.Tensor:
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


def component_labels(
    src: npt.NDArray[np.int64], dst: npt.NDArray[np.int64], n_nodes: int
) -> npt.NDArray[np.int64]:
    """Connected-component label of each of n_nodes nodes of an undirected edge list (scipy)."""
    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n_nodes, n_nodes))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int64)


def leader_roots_sparse(
    src: npt.NDArray[np.int64], dst: npt.NDArray[np.int64], n_nodes: int
) -> npt.NDArray[np.int64]:
    """:func:`leader_roots` on a sparse neighbour graph; node order is the scan order.

    Runs the same rounds in every connected component at once: a sample's leader is its
    neighbour, hence in its component, so components do not interact (a graph holding the
    samples of many seeds, with no edges between seeds, is grouped seed by seed in one call).
    Rounds = the largest number of leader groups in one component (1 for an isolated sample or
    a cluster of diameter <= tol); each round is O(live edges + unassigned nodes).

    Args:
        src: (n_edges,) int64 node indices; an edge may be given in one direction or both.
        dst: (n_edges,) int64 node indices.
        n_nodes: Number of nodes.

    Returns:
        (n_nodes,) int64: each node's leader, ``root[i] <= i``.
    """
    component = component_labels(src, dst, n_nodes)
    root = np.full(n_nodes, -1, dtype=np.int64)
    keep = src != dst
    # Both directions, so that a new leader finds its neighbours whichever way an edge points.
    src, dst = np.concatenate([src[keep], dst[keep]]), np.concatenate([dst[keep], src[keep]])
    unassigned = np.arange(n_nodes, dtype=np.int64)
    is_leader = np.zeros(n_nodes, dtype=bool)
    while unassigned.size:
        # 1. In each component the smallest unassigned node is the next leader (ascending
        #    order, so np.unique's first index is the smallest).
        _, first = np.unique(component[unassigned], return_index=True)
        leaders = unassigned[first]
        root[leaders] = leaders
        # 2. Unassigned neighbours of a new leader join it (one new leader per component).
        is_leader[leaders] = True
        joins = is_leader[src] & (root[dst] < 0)
        root[dst[joins]] = src[joins]
        is_leader[leaders] = False
        # 3. Drop what can no longer matter: assigned nodes, and every edge touching one (only
        #    an unassigned node can become a leader, and only unassigned nodes can join).
        unassigned = unassigned[root[unassigned] < 0]
        live = (root[src] < 0) & (root[dst] < 0)
        src, dst = src[live], dst[live]
    return root
