"""Covariance spectra and the dimensionality measures built on them.

Symbols: ``λ_1 >= λ_2 >= ... >= λ_d >= 0`` the eigenvalues of a covariance matrix (variance
units of the features); ``k`` a 1-based rank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.measures._arrays import Array, as_float, to_numpy
from workbench.core.measures._moments import scatter

__all__ = [
    "PowerLawFit",
    "covariance_spectrum",
    "effective_rank",
    "eigenvalues_descending",
    "participation_ratio",
    "power_law_exponent",
]

#: Eigenvalues down to -_ROUNDOFF * max|λ| are round-off of a PSD matrix and become 0.
_ROUNDOFF = 1e-10
#: Default power-law fits stop at the last eigenvalue above this fraction of λ_1.
_FIT_FLOOR = 1e-12


def eigenvalues_descending(cov: torch.Tensor) -> npt.NDArray[np.float64]:
    """Eigenvalues of a symmetric PSD matrix, descending, with round-off negatives set to 0.

    Args:
        cov: (d, d) float64 symmetric matrix on any device.

    Returns:
        (d,) float64 numpy array.
    """
    eigs = torch.linalg.eigvalsh(0.5 * (cov + cov.T)).flip(0)
    return to_numpy(eigs.clamp(min=0.0))


def covariance_spectrum(x: Array) -> npt.NDArray[np.float64]:
    """Eigenvalues of the sample covariance of x, in descending order.

    ``S = (1/(n - 1)) sum_i (x_i - x̄)(x_i - x̄)^T`` and ``S v_k = λ_k v_k``. The eigenvalues are
    variances along the principal axes (units: feature units squared) and sum to ``trace(S)``.
    When d > n only n - 1 can be non-zero; they are found from the smaller (n, n) Gram matrix
    (same non-zero eigenvalues) and the rest are 0. Round-off negatives are set to 0.

    Args:
        x: (n_samples, d) samples, numpy or torch on any device; n_samples >= 2.

    Returns:
        (d,) float64 numpy array, descending.

    Raises:
        ValueError: On NaN/inf, empty input, or fewer than 2 samples.
    """
    t = as_float(x, "x", promote_1d=True)
    n, d = t.shape
    if n < 2:
        raise ValueError(f"covariance_spectrum needs at least 2 samples; got {n}")
    centred = t - t.mean(dim=0)
    if d <= n:
        return eigenvalues_descending(scatter([centred]) / (n - 1))
    gram = centred @ centred.T / (n - 1)  # (n, n): same non-zero eigenvalues as (d, d) S
    out = np.zeros(d)
    out[:n] = eigenvalues_descending(gram)
    return out


def _as_eigenvalues(eigs: object) -> npt.NDArray[np.float64]:
    """Validated eigenvalues as a descending float64 numpy array with round-off clipped."""
    values = to_numpy(as_float(eigs, "eigs", ndim=1, shape_doc="(d,)"))
    scale = float(np.abs(values).max())
    if values.min() < -_ROUNDOFF * scale:
        raise ValueError(
            f"eigs must be >= 0 (covariance eigenvalues); got a minimum of {values.min():.3g}"
        )
    values = np.sort(np.clip(values, 0.0, None))[::-1]
    if values[0] <= 0.0:
        raise ValueError("eigs are all zero; the spectrum of a constant variable is degenerate")
    return values


def participation_ratio(eigs: Array) -> float:
    """Participation ratio ``PR = (sum_k λ_k)² / sum_k λ_k²`` (dimensionless).

    It is d for d equal eigenvalues and 1 when a single one is non-zero; a smooth count of
    the dimensions holding the variance (Gao et al., 2017, "A theory of multineuronal
    dimensionality"). Equivalent to ``trace(S)² / trace(S²)``.

    Args:
        eigs: (d,) non-negative eigenvalues in any order, numpy or torch.

    Returns:
        PR in [1, d].

    Raises:
        ValueError: If eigs are empty, non-finite, negative beyond round-off, or all zero.
    """
    values = _as_eigenvalues(eigs)
    return float(values.sum() ** 2 / np.sum(values**2))


def effective_rank(eigs: Array) -> float:
    """Effective rank ``exp(H(p))`` with ``p_k = λ_k / sum λ`` (Roy & Vetterli, 2007).

    ``H(p) = -sum_k p_k ln p_k`` in nats (zero eigenvalues contribute 0), so the effective
    rank is d for d equal eigenvalues and 1 for a single non-zero one; equivalently
    ``2 ** H_bits(p)``.

    Args:
        eigs: (d,) non-negative eigenvalues in any order, numpy or torch.

    Returns:
        Effective rank in [1, d].

    Raises:
        ValueError: If eigs are empty, non-finite, negative beyond round-off, or all zero.
    """
    values = _as_eigenvalues(eigs)
    p = values[values > 0] / values.sum()
    return float(math.exp(-np.sum(p * np.log(p))))


@dataclass(frozen=True)
class PowerLawFit:
    """A least-squares fit of ``λ_k ≈ c k^(-α)`` on log-log axes.

    Attributes:
        exponent: α, the decay exponent (positive for a decaying spectrum).
        log_prefactor: ``ln c``, the fitted natural log of λ at rank 1.
        r_squared: Coefficient of determination of the log-log fit (1 = exact power law; 1 is
            also reported for a flat spectrum, which α = 0 fits exactly).
        first_rank: First rank fitted (1-based, inclusive).
        last_rank: Last rank fitted (1-based, inclusive).
        n_points: Number of eigenvalues fitted.
    """

    exponent: float
    log_prefactor: float
    r_squared: float
    first_rank: int
    last_rank: int
    n_points: int


def power_law_exponent(eigs: Array, ranks: tuple[int, int] | None = None) -> PowerLawFit:
    """Fit a power law ``λ_k ∝ k^(-α)`` to a spectrum and report the range and fit quality.

    Ordinary least squares of ``ln λ_k = ln c - α ln k`` over the chosen ranks. Stringer et al.
    (2019, "High-dimensional geometry of population responses in visual cortex") fit ranks
    11-500 to exclude the head and the noisy tail; pass such a range when the spectrum is not a
    power law at both ends, and check ``r_squared``.

    Args:
        eigs: (d,) non-negative eigenvalues in any order (sorted descending here).
        ranks: ``(first, last)`` 1-based inclusive ranks to fit; ``None`` fits rank 1 up to the
            last eigenvalue above ``1e-12 * λ_1`` (zeros and round-off cannot be logged).

    Returns:
        A :class:`PowerLawFit`.

    Raises:
        ValueError: If fewer than 3 positive eigenvalues fall in the range, or ``ranks`` is
            outside 1..d.
    """
    values = _as_eigenvalues(eigs)
    d = values.size
    if ranks is None:
        first, last = 1, int(np.count_nonzero(values > _FIT_FLOOR * values[0]))
    else:
        first, last = int(ranks[0]), int(ranks[1])
        if not 1 <= first < last <= d:
            raise ValueError(f"ranks must satisfy 1 <= first < last <= {d}; got {ranks}")
    fitted = values[first - 1 : last]
    if fitted.size < 3 or np.any(fitted <= 0):
        raise ValueError(
            f"power_law_exponent needs at least 3 positive eigenvalues in ranks "
            f"{first}..{last}; got {int(np.count_nonzero(fitted > 0))}"
        )
    log_k = np.log(np.arange(first, last + 1, dtype=np.float64))
    log_l = np.log(fitted)
    slope, intercept = np.polyfit(log_k, log_l, 1)
    residual = log_l - (intercept + slope * log_k)
    total = np.sum((log_l - log_l.mean()) ** 2)
    r_squared = 1.0 if total == 0.0 else float(1.0 - np.sum(residual**2) / total)
    return PowerLawFit(
        exponent=float(-slope),
        log_prefactor=float(intercept),
        r_squared=r_squared,
        first_rank=first,
        last_rank=last,
        n_points=int(fitted.size),
    )
