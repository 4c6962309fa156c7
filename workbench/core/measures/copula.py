"""Gaussian-copula mutual information: ranks to normal scores, then the Gaussian estimator.

The Gaussian MI of raw activations depends on their marginal shapes: heavy tails or a few
discrete values change it although the dependence between the features does not. The
Gaussian-copula MI (GCMI; Ince et al. 2017, "A statistical framework for neuroimaging data
analysis based on mutual information estimated via a Gaussian copula", Hum. Brain Mapp.
38:1541) removes the marginals first:

1. each feature ``x_j`` is replaced by its normal score ``z_j = Φ⁻¹(F̂_j(x_j))``, with ``F̂_j``
   the empirical CDF (mid-ranks, ``u = (rank - ½) / n`` in memory) and ``Φ⁻¹`` the standard
   normal quantile;
2. the Gaussian MI of ``(z_x, z_y)`` is estimated with the digamma log-determinant
   correction of :mod:`workbench.core.measures.gaussian`.

Because ranks are unchanged by any strictly increasing map of a feature (and a decreasing
map flips the score's sign, a linear map), GCMI is invariant to monotone transforms of each
feature. It is a lower bound on the MI of the copula's dependence when that dependence is
Gaussian, and equals the Gaussian MI on Gaussian data (up to the ranks' sampling noise).

Streaming: ranks need every sample. :class:`NormalScores` fixes each feature's empirical
CDF from a calibration sample (the first rows seen), then maps every later row through it
with a binary search, so a stream of normal scores can feed a
:class:`~workbench.core.measures.streaming.StreamingJointCovariance`. A strictly increasing
map of a feature moves the calibration values and the streamed values together, so the
invariance is exact for the streamed version too.
"""

from __future__ import annotations

import torch

from workbench.core.measures._arrays import Array, as_float, check_paired, resolve_device
from workbench.core.measures.gaussian import (
    GaussianEstimate,
    gaussian_mutual_information_details,
)

__all__ = [
    "NormalScores",
    "gaussian_copula_mutual_information",
    "gaussian_copula_mutual_information_details",
    "normal_scores",
]


def _mid_ranks(t: torch.Tensor) -> torch.Tensor:
    """(n, d) average ranks 1..n per column (ties share their mean rank), float64."""
    sorted_vals, _ = torch.sort(t, dim=0)
    # rank of v = (#{< v} + #{<= v} + 1) / 2, ties averaged, via two binary searches.
    cols = sorted_vals.T.contiguous()  # (d, n)
    values = t.T.contiguous()
    below = torch.searchsorted(cols, values, right=False).to(torch.float64)
    upto = torch.searchsorted(cols, values, right=True).to(torch.float64)
    return ((below + upto + 1.0) / 2.0).T


def normal_scores(x: Array) -> torch.Tensor:
    """Normal scores of each feature: ``Φ⁻¹((rank - ½) / n)`` with mid-ranks for ties.

    Args:
        x: (n_samples, d) samples (or (n_samples,)), numpy or torch on any device.

    Returns:
        (n_samples, d) float64 tensor on x's device; each column has the same values (a fixed
        set of normal quantiles) in the order of x's column, so any strictly increasing
        transform of a column leaves its scores unchanged.
    """
    t = as_float(x, "x", promote_1d=True)
    n = t.shape[0]
    u = (_mid_ranks(t) - 0.5) / n  # in (0, 1)
    scores: torch.Tensor = torch.special.ndtri(u)
    return scores


def gaussian_copula_mutual_information_details(
    x: Array, y: Array, *, bias_correction: bool = True, ridge: float | None = None
) -> GaussianEstimate:
    """Gaussian-copula MI with its plug-in value and ridge; see
    :func:`gaussian_copula_mutual_information`."""
    device = resolve_device(x, y)
    tx = as_float(x, "x", promote_1d=True, device=device)
    ty = as_float(y, "y", promote_1d=True, device=device)
    check_paired(("x", tx), ("y", ty))
    return gaussian_mutual_information_details(
        normal_scores(tx), normal_scores(ty), bias_correction=bias_correction, ridge=ridge
    )


def gaussian_copula_mutual_information(
    x: Array, y: Array, bias_correction: bool = True, *, ridge: float | None = None
) -> float:
    """Gaussian-copula mutual information of x and y, in bits (Ince et al. 2017).

    ``I_GC(X; Y) = I_G(z_x; z_y)`` with ``z = Φ⁻¹(F̂(·))`` per feature (module docstring) and
    ``I_G`` the Gaussian MI ``½ [ln|Σ_zx| + ln|Σ_zy| - ln|Σ_z|] / ln 2``. The digamma
    correction is the Gaussian one; the ranks add a small extra variance, not a bias worth
    correcting at n in the hundreds or more.

    Args:
        x: (n_samples, d_x) samples, numpy or torch on any device.
        y: (n_samples, d_y) samples paired with x.
        bias_correction: Remove the finite-sample bias of each ``ln|S|``.
        ridge: As for :func:`~workbench.core.measures.gaussian.gaussian_mutual_information`.

    Returns:
        I_GC(X; Y) in bits.
    """
    return gaussian_copula_mutual_information_details(
        x, y, bias_correction=bias_correction, ridge=ridge
    ).bits


class NormalScores:
    """A per-feature normal-score map fixed from a calibration sample, for streams.

    ``transform(x)[i, j] = Φ⁻¹(u_ij)`` with
    ``u_ij = (#{c_j < x_ij} + #{c_j <= x_ij} + 1) / (2 (m + 1))``, ``c_j`` the m calibration
    values of feature j: the mid-rank of x_ij among the calibration values, kept in (0, 1)
    for values below or above all of them.

    Args:
        calibration: (m, d) rows that fix the map (e.g. the first batch of the stream).

    Memory is ``m d`` float64 values.
    """

    def __init__(self, calibration: Array) -> None:
        t = as_float(calibration, "calibration", promote_1d=True)
        if t.shape[0] < 2:
            raise ValueError("NormalScores needs at least 2 calibration rows")
        self.sorted = torch.sort(t, dim=0).values.T.contiguous()  # (d, m)

    @property
    def dim(self) -> int:
        """Features d."""
        return int(self.sorted.shape[0])

    @property
    def n_calibration(self) -> int:
        """Calibration rows m."""
        return int(self.sorted.shape[1])

    def transform(self, x: Array) -> torch.Tensor:
        """(n, d) float64 normal scores of ``x: (n, d)`` on the calibration's device."""
        t = as_float(x, "x", promote_1d=True, device=self.sorted.device)
        if t.shape[1] != self.dim:
            raise ValueError(f"x must have {self.dim} features per sample; got {t.shape[1]}")
        values = t.T.to(self.sorted.dtype).contiguous()
        below = torch.searchsorted(self.sorted, values, right=False).to(torch.float64)
        upto = torch.searchsorted(self.sorted, values, right=True).to(torch.float64)
        u = (below + upto + 1.0) / (2.0 * (self.n_calibration + 1))
        scores: torch.Tensor = torch.special.ndtri(u).T
        return scores
