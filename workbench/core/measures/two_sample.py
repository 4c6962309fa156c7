"""Two-sample permutation tests of a difference in means, one or many sharing their splits.

Under the null hypothesis that both groups come from one distribution the group labels are
exchangeable (Fisher, 1935; Pitman, 1937), so random splits of the pooled values sample the
statistic's null distribution. :func:`two_sample_permutation_tests` runs k tests (e.g. one per
tolerance, layer or grouping rule) on the *same* random splits: the splits are drawn once, and
every statistic's null comes from one matrix product.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.measures._arrays import as_float, resolve_device, to_numpy
from workbench.core.measures.resampling import PermutationTest, permutation_summary

__all__ = ["two_sample_permutation_test", "two_sample_permutation_tests"]

Alternative = Literal["two-sided", "greater", "less"]
ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")

#: Random numbers (splits x pooled values) drawn at once; bounds the memory of the splits.
_PERMUTATION_CHUNK_VALUES = 1 << 22


def _check_arguments(n_permutations: int, alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(
            f"alternative must be 'two-sided', 'greater' or 'less'; got {alternative!r}"
        )
    if int(n_permutations) != n_permutations or n_permutations < 1:
        raise ValueError(f"n_permutations must be an integer >= 1; got {n_permutations}")


def _groups(x: object, name: str, ndim: int, device: torch.device) -> torch.Tensor:
    """One side of the tests as a finite float64 (k, n) tensor, with clear errors."""
    if isinstance(x, np.ndarray | torch.Tensor) and x.ndim == ndim and x.shape[-1] == 0:
        raise ValueError(f"group {name} is empty; pass at least one value in each group")
    shape_doc = f"(n_{name},), one value per sample" if ndim == 1 else f"(n_tests, n_{name})"
    t = as_float(x, name, ndim=ndim, shape_doc=shape_doc, device=device)
    return t[None] if ndim == 1 else t


def _first_group(uniform: torch.Tensor, n_a: int) -> torch.Tensor:
    """(rows, n) bool: the n_a positions of the smallest uniforms in each row.

    That is the set of the first n_a entries of ``uniform.argsort()``, a uniformly random
    subset of size n_a; ``kthvalue`` finds it in O(n) per row instead of a full O(n log n)
    sort. Rows with a tie at the n_a-th value (float32 uniforms; rare) use argsort.
    """
    kth = uniform.kthvalue(n_a, dim=1).values  # (rows,)
    in_a = uniform <= kth[:, None]
    tied = in_a.sum(dim=1) != n_a
    if bool(tied.any()):
        order = uniform[tied].argsort(dim=1)[:, :n_a]
        fixed = torch.zeros_like(in_a[tied])
        in_a[tied] = fixed.scatter_(1, order, True)
    return in_a


def two_sample_permutation_tests(
    a: object,
    b: object,
    *,
    n_permutations: int = 1000,
    seed: int = 0,
    alternative: Alternative = "two-sided",
) -> list[PermutationTest]:
    """k two-sample permutation tests of a difference in means, on one shared set of splits.

    Test j compares row j of ``a`` with row j of ``b``: ``D_j = mean(a[j]) - mean(b[j])``. One
    random split assigns the same positions to group a in every test: with ``S_kj`` the sum of
    the pooled row ``(a[j], b[j])`` over the positions of split k, the null statistic is
    ``D_kj = S_kj / n_a - (T_j - S_kj) / n_b`` (T_j the row total), and ``S = M @ pooled^T``
    for the (splits, n) 0/1 matrix M of the splits: one matrix product for all k tests. A split
    counts as extreme when

    * ``"two-sided"``: ``|D_kj| >= |D_j|``;
    * ``"greater"``: ``D_kj >= D_j``;
    * ``"less"``: ``D_kj <= D_j``;

    and ``p_j = (1 + #extreme) / (1 + n_permutations)`` (Phipson & Smyth, 2010). Ties are
    compared with a tolerance of a few rounding errors (``8 n eps max|x|``).

    Sharing the splits: each test alone is exactly the test :func:`two_sample_permutation_test`
    would run with the same seed (the same splits). The k tests are dependent, through their
    data and now through the splits too; Holm's correction (``workbench.core.inference``)
    needs no independence, so it remains valid over them.

    Args:
        a: (k, n_a) values of group a for each of k tests, numpy or torch on any device.
        b: (k, n_b) values of group b, the same k.
        n_permutations: Number of random splits (>= 1).
        seed: Seed of the generator that draws the splits (global state is never touched).
        alternative: ``"two-sided"``, ``"greater"`` or ``"less"``, as above.

    Returns:
        k :class:`PermutationTest` results, in row order; each ``null`` holds the signed
        ``D_kj``.

    Raises:
        ValueError: On empty groups, shapes other than (k, n), different k, non-finite values,
            an unknown alternative or n_permutations < 1.
    """
    _check_arguments(n_permutations, alternative)
    device = resolve_device(a, b)
    ta, tb = _groups(a, "a", 2, device), _groups(b, "b", 2, device)
    return _tests(ta, tb, n_permutations, seed, alternative)


def two_sample_permutation_test(
    a: object,
    b: object,
    *,
    n_permutations: int = 1000,
    seed: int = 0,
    alternative: Alternative = "two-sided",
) -> PermutationTest:
    """Two-sample permutation test of a difference in means (Fisher, 1935; Pitman, 1937).

    The statistic is ``D = mean(a) - mean(b)``. Under the null hypothesis that both groups come
    from one distribution, the group labels are exchangeable, so splitting the pooled values
    ``(a, b)`` at random into groups of sizes ``n_a`` and ``n_b`` samples D's null distribution.
    With ``D_k`` the statistic of the k-th random split, a split counts as extreme when

    * ``"two-sided"``: ``|D_k| >= |D|`` (the groups differ);
    * ``"greater"``: ``D_k >= D`` (a's mean is larger);
    * ``"less"``: ``D_k <= D`` (a's mean is smaller);

    and ``p = (1 + #extreme) / (1 + n_permutations)`` (Phipson & Smyth, 2010), so p is never 0
    and at least ``1 / (1 + n_permutations)``. Ties are compared with a tolerance of a few
    rounding errors, so splits equal to the observed one up to summation order count as extreme.
    The splits are drawn from a ``torch.Generator`` seeded with ``seed`` and evaluated in batches
    (no Python loop over permutations); global random state is never touched. For many tests
    on the same groups, :func:`two_sample_permutation_tests` draws the splits once.

    Args:
        a: (n_a,) values of group a, numpy or torch on any device, n_a >= 1.
        b: (n_b,) values of group b, n_b >= 1.
        n_permutations: Number of random splits (>= 1).
        seed: Seed for this test's generator.
        alternative: ``"two-sided"``, ``"greater"`` or ``"less"``, as above.

    Returns:
        A :class:`PermutationTest` whose ``estimate`` is D and whose ``null`` holds the signed
        ``D_k`` (so ``null_mean`` is about 0 and ``null_quantiles`` are those of ``D_k``).

    Raises:
        ValueError: On an empty group, a group that is not 1-D, non-finite values, an unknown
            alternative or n_permutations < 1.
    """
    _check_arguments(n_permutations, alternative)
    device = resolve_device(a, b)
    ta, tb = _groups(a, "a", 1, device), _groups(b, "b", 1, device)
    return _tests(ta, tb, n_permutations, seed, alternative)[0]


def _tests(
    ta: torch.Tensor, tb: torch.Tensor, n_permutations: int, seed: int, alternative: str
) -> list[PermutationTest]:
    """The shared computation of both entry points; ta: (k, n_a), tb: (k, n_b)."""
    if ta.shape[0] != tb.shape[0]:
        raise ValueError(
            f"a holds {ta.shape[0]} tests but b holds {tb.shape[0]}; pass one row per test in both"
        )
    n_a, n_b = int(ta.shape[1]), int(tb.shape[1])
    pooled = torch.cat([ta, tb], dim=1)  # (k, n)
    n = n_a + n_b
    estimate = to_numpy(ta.mean(dim=1) - tb.mean(dim=1))  # (k,)
    total = pooled.sum(dim=1)  # (k,)
    # 1. Null statistics, a chunk of random splits at a time: the n_a smallest of n uniforms
    #    mark group a (the same positions in every test), and one product sums them per test.
    generator = torch.Generator().manual_seed(seed)
    chunk = max(1, _PERMUTATION_CHUNK_VALUES // n)
    parts = []
    for start in range(0, n_permutations, chunk):
        rows = min(chunk, n_permutations - start)
        in_a = _first_group(torch.rand(rows, n, generator=generator), n_a)
        sums = in_a.to(device=pooled.device, dtype=torch.float64) @ pooled.T  # (rows, k)
        parts.append(sums / n_a - (total - sums) / n_b)
    null = to_numpy(torch.cat(parts)).astype(np.float64)  # (n_permutations, k)
    # 2. Count extreme splits; a split equal to the observed one may differ from it by rounding
    #    in the sums (about n * eps * max|x| each), so allow a few of those.
    scale = to_numpy(pooled.abs().amax(dim=1))
    tol = 8.0 * n * float(np.finfo(np.float64).eps) * scale  # (k,)
    return [
        _result(float(estimate[j]), null[:, j], float(tol[j]), alternative)
        for j in range(null.shape[1])
    ]


def _result(
    estimate: float, null: npt.NDArray[np.float64], tol: float, alternative: str
) -> PermutationTest:
    """One test's p-value and summary from its null statistics."""
    if alternative == "two-sided":
        extreme = np.abs(null) >= abs(estimate) - tol
    elif alternative == "greater":
        extreme = null >= estimate - tol
    else:
        extreme = null <= estimate + tol
    p_value = (1 + int(np.count_nonzero(extreme))) / (1 + null.size)
    return replace(permutation_summary(estimate, np.ascontiguousarray(null)), p_value=p_value)
