"""A paired permutation (sign-flip) test of a mean difference.

For paired measurements (the barrier of one pair of nets before and after alignment), the
differences ``d_i`` are the data. Under the null that the two conditions are exchangeable within
each pair, each ``d_i`` is as likely to be ``−d_i``, so flipping signs at random samples the null
distribution of ``D = mean(d)`` (Fisher 1935, §21; Good 2005, "Permutation, Parametric and
Bootstrap Tests of Hypotheses", §3.6). The pairs must be independent of each other.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["paired_permutation_test"]

#: Sign patterns held at once (bounds memory).
_CHUNK_VALUES = 1 << 22


def paired_permutation_test(
    differences: npt.ArrayLike,
    *,
    n_permutations: int = 2000,
    seed: int = 0,
    alternative: str = "greater",
) -> tuple[float, float]:
    """Mean of paired differences and its sign-flip permutation p-value.

    ``p = (1 + #{extreme D_k}) / (1 + K)`` over K random sign patterns ``s ∈ {±1}^n``,
    ``D_k = mean(s ⊙ d)``, with extreme meaning ``D_k >= D`` (``greater``), ``D_k <= D``
    (``less``) or ``|D_k| >= |D|`` (``two-sided``); ties within a few rounding errors count.
    All patterns come from one ``numpy.random.Generator`` and are evaluated as one matrix
    product per chunk.

    Args:
        differences: ``(n,)`` finite paired differences (condition 1 − condition 2), n >= 1.
        n_permutations: K >= 1.
        seed: Seed of this test's generator.
        alternative: ``greater``, ``less`` or ``two-sided``.

    Returns:
        ``(mean difference, p)``; p is NaN when every difference is 0.
    """
    d = np.asarray(differences, dtype=np.float64).reshape(-1)
    if d.size < 1 or not np.all(np.isfinite(d)):
        raise ValueError("differences must be a non-empty array of finite numbers")
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"alternative must be greater, less or two-sided; got {alternative!r}")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1; got {n_permutations}")
    observed = float(d.mean())
    if not np.any(d):
        return observed, math.nan
    tol = 1e-12 * float(np.abs(d).sum()) / d.size
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_VALUES // d.size)
    extreme = 0
    for start in range(0, n_permutations, chunk):
        rows = min(chunk, n_permutations - start)
        signs = rng.integers(0, 2, size=(rows, d.size)) * 2.0 - 1.0  # (rows, n) of ±1
        null = signs @ d / d.size
        if alternative == "greater":
            extreme += int(np.count_nonzero(null >= observed - tol))
        elif alternative == "less":
            extreme += int(np.count_nonzero(null <= observed + tol))
        else:
            extreme += int(np.count_nonzero(np.abs(null) >= abs(observed) - tol))
    return observed, (1 + extreme) / (1 + n_permutations)
