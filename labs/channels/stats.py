"""One-sample sign-flip tests and intervals across seeds, batched over many cells at once.

The map of the scarce-channels regime asks one question per cell ("is the mean of d below 0?")
for a hundred cells, each answered by 16 networks. A one-sample permutation test fits: under the
null that each network's d is symmetric about 0, flipping the sign of any subset of the d's
leaves their distribution unchanged (Fisher, 1935; Good, 2005, §3.4), so

    p = #{ε ∈ {±1}^n : |mean(ε·d)| >= |mean(d)|} / 2^n             (two-sided)

exactly, by enumerating every sign pattern when 2^n is small (n <= 16: 65,536 patterns, so the
smallest p, 2/65,536, survives Holm over a few hundred cells), else by random patterns with
``p = (1 + #extreme) / (1 + K)`` (Phipson & Smyth, 2010). All cells share one sign matrix, so a
whole map is one matrix product.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["sign_flip_test", "t_interval"]

FloatArray = npt.NDArray[np.float64]

#: Largest n for which every sign pattern is enumerated.
EXACT_MAX = 16


def _signs(n: int, n_random: int, seed: int) -> tuple[FloatArray, bool]:
    """``(patterns, n)`` ±1 sign matrix: all 2^n patterns when n <= EXACT_MAX, else random."""
    if n <= EXACT_MAX:
        codes = np.arange(2**n, dtype=np.int64)[:, None]
        bits = (codes >> np.arange(n, dtype=np.int64)) & 1  # (2^n, n)
        return (1.0 - 2.0 * bits).astype(np.float64), True
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([-1.0, 1.0]), size=(n_random, n)), False


def sign_flip_test(
    values: npt.ArrayLike, *, n_permutations: int = 4000, seed: int = 0
) -> tuple[FloatArray, FloatArray]:
    """Two-sided sign-flip test of ``mean = 0`` for every row of ``values``.

    Args:
        values: ``(cell, seed)`` differences d (one row per test), finite.
        n_permutations: Random sign patterns when the row is longer than ``EXACT_MAX``.
        seed: Seed of the random patterns.

    Returns:
        ``(means, p)``, each ``(cell,)``. A row of zeros has mean 0 and p = 1.
    """
    d = np.atleast_2d(np.asarray(values, dtype=np.float64))
    if d.ndim != 2 or d.shape[1] < 1:
        raise ValueError(f"values must be (cell, seed) with at least one seed; got {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("values must be finite; drop NaN networks before testing")
    n = d.shape[1]
    signs, exact = _signs(n, n_permutations, seed)
    means = d.mean(axis=1)
    null = np.abs(d @ signs.T) / n  # (cell, patterns)
    # Ties up to rounding count as extreme (the identity pattern always does).
    tol = 1e-12 * np.maximum(1.0, np.abs(d).max(axis=1, keepdims=True))
    extreme = np.count_nonzero(null >= np.abs(means)[:, None] - tol, axis=1)
    p = extreme / signs.shape[0] if exact else (1 + extreme) / (1 + signs.shape[0])
    return means, np.minimum(1.0, p.astype(np.float64))


def t_interval(values: npt.ArrayLike, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """Student-t interval of the mean of every row of ``(cell, seed)`` values.

    ``mean ± t_{n-1, (1+level)/2} · s / √n``; rows of one value get a zero-width interval.

    Returns:
        ``(low, high)``, each ``(cell,)``.
    """
    from scipy.stats import t as student_t

    d = np.atleast_2d(np.asarray(values, dtype=np.float64))
    n = d.shape[1]
    mean = d.mean(axis=1)
    if n < 2:
        return mean, mean
    half = float(student_t.ppf((1 + level) / 2, n - 1)) * d.std(axis=1, ddof=1) / math.sqrt(n)
    return mean - half, mean + half
