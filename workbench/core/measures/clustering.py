"""Agreement between two partitions of the same items, and clusters from a distance matrix.

* :func:`adjusted_rand_index`: the Rand index corrected for chance (Hubert & Arabie 1985);
* :func:`ari_permutation_test`: its one-sided permutation p-value (are the partitions more alike
  than chance?), every relabelling evaluated at once;
* :func:`average_linkage`: UPGMA clusters of a distance matrix cut at a height or into k
  clusters, with the dendrogram's leaf order (for cluster-ordered heatmaps).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["Clusters", "adjusted_rand_index", "ari_permutation_test", "average_linkage"]

IntArray = npt.NDArray[np.int64]

#: Permuted labellings held at once in the batched test (bounds memory).
_CHUNK_VALUES = 1 << 22


def _codes(labels: npt.ArrayLike) -> tuple[IntArray, int]:
    """Labels as codes 0..k-1, and k."""
    arr = np.asarray(labels).reshape(-1)
    _, codes = np.unique(arr, return_inverse=True)
    return codes.astype(np.int64).reshape(-1), int(codes.max()) + 1 if arr.size else 0


def _pairs(counts: npt.NDArray[np.float64] | IntArray) -> npt.NDArray[np.float64]:
    """C(n, 2) = n (n − 1) / 2, elementwise, summed over the last axis."""
    c = np.asarray(counts, dtype=np.float64)
    return np.asarray((c * (c - 1.0) / 2.0).sum(axis=-1), dtype=np.float64)


def _ari_from_index(
    index: npt.NDArray[np.float64], sum_a: float, sum_b: float, total: float
) -> npt.NDArray[np.float64]:
    expected = sum_a * sum_b / total
    maximum = 0.5 * (sum_a + sum_b)
    return (index - expected) / (maximum - expected)


def adjusted_rand_index(labels_a: npt.ArrayLike, labels_b: npt.ArrayLike) -> float:
    """ARI between two labellings of the same n items (Hubert & Arabie 1985).

    With ``n_ij`` the contingency table, ``a_i`` and ``b_j`` its margins and ``C(m, 2)`` the
    number of pairs among m items::

        index    = Σ_ij C(n_ij, 2)
        expected = Σ_i C(a_i, 2) · Σ_j C(b_j, 2) / C(n, 2)
        ARI      = (index − expected) / (½ [Σ_i C(a_i, 2) + Σ_j C(b_j, 2)] − expected)

    1 for identical partitions (up to renaming), about 0 in expectation for independent ones, and
    negative below chance. When both partitions are trivial in the same way (one cluster each,
    or all singletons) the ratio is 0/0 and the ARI is 1, as in scikit-learn.

    Args:
        labels_a: ``(n,)`` cluster labels of any hashable numeric/string dtype.
        labels_b: ``(n,)`` labels of the same items.
    """
    a, ka = _codes(labels_a)
    b, kb = _codes(labels_b)
    if a.shape != b.shape:
        raise ValueError(
            f"labels_a and labels_b must label the same items; got {a.size} and {b.size}"
        )
    n = a.size
    if n < 2:
        return 1.0
    table = np.bincount(a * kb + b, minlength=ka * kb)
    sum_a, sum_b = float(_pairs(np.bincount(a))), float(_pairs(np.bincount(b)))
    total = n * (n - 1) / 2.0
    if sum_a == sum_b and sum_a in (0.0, total):
        return 1.0
    return float(_ari_from_index(np.asarray(_pairs(table)), sum_a, sum_b, total))


def ari_permutation_test(
    labels_a: npt.ArrayLike,
    labels_b: npt.ArrayLike,
    *,
    n_permutations: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """ARI and its one-sided permutation p-value: do the partitions agree more than by chance?

    Under the null that the two labellings are unrelated, every assignment of b's labels to the
    items is equally likely; the margins stay fixed, so the ARI is an increasing function of
    ``Σ C(n_ij, 2)`` alone. ``p = (1 + #{ARI_k >= ARI}) / (1 + K)`` over K random relabellings
    (Phipson & Smyth 2010), drawn at once from one ``numpy.random.Generator`` and counted as one
    batched ``bincount``.

    Args:
        labels_a, labels_b: ``(n,)`` labels of the same items.
        n_permutations: K >= 1.
        seed: Seed of this test's generator.

    Returns:
        ``(ari, p)``; p is NaN when either partition has a single cluster or all singletons (no
        relabelling can change the ARI, so nothing can be tested).
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1; got {n_permutations}")
    ari = adjusted_rand_index(labels_a, labels_b)
    a, ka = _codes(labels_a)
    b, kb = _codes(labels_b)
    n = a.size
    if ka in (1, n) or kb in (1, n):
        return ari, math.nan
    observed = float(_pairs(np.bincount(a * kb + b, minlength=ka * kb)))
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_VALUES // n)
    extreme = 0
    for start in range(0, n_permutations, chunk):
        rows = min(chunk, n_permutations - start)
        perm_b = rng.permuted(np.broadcast_to(b, (rows, n)), axis=1)  # (rows, n)
        cells = a[None, :] * kb + perm_b + (np.arange(rows) * ka * kb)[:, None]
        tables = np.bincount(cells.reshape(-1), minlength=rows * ka * kb).reshape(rows, -1)
        null = _pairs(tables)
        # The index is a sum of integers: ties with the observed value are exact.
        extreme += int(np.count_nonzero(null >= observed - 1e-9))
    return ari, (1 + extreme) / (1 + n_permutations)


class Clusters:
    """Average-linkage (UPGMA) clusters of items from their distance matrix.

    Attributes:
        labels: ``(n,)`` int64 cluster labels 1..k.
        order: ``(n,)`` the dendrogram's leaf order (items of a cluster are contiguous).
        linkage: The scipy linkage matrix ``(n − 1, 4)``.
    """

    def __init__(self, labels: IntArray, order: IntArray, linkage: npt.NDArray[np.float64]) -> None:
        self.labels = labels
        self.order = order
        self.linkage = linkage

    @property
    def n_clusters(self) -> int:
        """Number of distinct clusters."""
        return int(np.unique(self.labels).size)

    def cut(self, height: float) -> IntArray:
        """Labels when the dendrogram is cut at another height."""
        from scipy.cluster.hierarchy import fcluster

        return np.asarray(fcluster(self.linkage, t=height, criterion="distance"), dtype=np.int64)

    def into(self, k: int) -> IntArray:
        """Labels of the cut that gives at most k clusters."""
        from scipy.cluster.hierarchy import fcluster

        return np.asarray(fcluster(self.linkage, t=k, criterion="maxclust"), dtype=np.int64)


def average_linkage(
    distance: npt.ArrayLike, *, height: float | None = None, k: int | None = None
) -> Clusters:
    """UPGMA clustering of a symmetric distance matrix, cut at ``height`` or into ``k`` clusters.

    Two clusters merge at the mean distance between their members; cutting at ``height`` keeps
    the clusters whose merge distance is at most ``height`` (so every item's mean distance to its
    cluster is at most ``height`` at every merge).

    Args:
        distance: ``(n, n)`` symmetric, finite, non-negative (a zero diagonal is enforced).
        height: Cut height (distance units); exactly one of ``height`` and ``k``.
        k: Number of clusters.

    Returns:
        The clusters and the leaf order.
    """
    from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
    from scipy.spatial.distance import squareform

    d = np.asarray(distance, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1] or not np.all(np.isfinite(d)):
        raise ValueError(f"distance must be a finite square matrix; got shape {d.shape}")
    if (height is None) == (k is None):
        raise ValueError("give exactly one of height and k")
    n = d.shape[0]
    if n < 2:
        return Clusters(np.ones(n, dtype=np.int64), np.arange(n), np.zeros((0, 4)))
    d = 0.5 * (d + d.T)
    np.fill_diagonal(d, 0.0)
    z = linkage(squareform(np.maximum(d, 0.0), checks=False), method="average")
    if height is not None:
        labels = fcluster(z, t=height, criterion="distance")
    else:
        labels = fcluster(z, t=k, criterion="maxclust")
    return Clusters(
        np.asarray(labels, dtype=np.int64), np.asarray(leaves_list(z), dtype=np.int64), z
    )
