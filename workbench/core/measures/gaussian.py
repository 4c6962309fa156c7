"""Entropy and mutual information of Gaussian variables from log-determinants, in bits.

Symbols: n samples of a d-dimensional variable; ``S`` the sample covariance with the mean
estimated (n - 1 degrees of freedom, ``S = M2 / (n - 1)``); ``Σ`` the true covariance;
``ψ`` the digamma function; ``ln`` natural log. Results are converted from nats to bits by
dividing by ln 2.

Formulas (nats)::

    H(X)    = 1/2 [ d ln(2πe) + ln|Σ_x| ]
    I(X; Y) = 1/2 [ ln|Σ_x| + ln|Σ_y| - ln|Σ_xy| ]            (Σ_xy: joint covariance)

Parts: this module measures samples in memory; :mod:`~workbench.core.measures.gaussian_covariance`
measures a given covariance (what the streaming accumulators call) and says how fragile the
value is; :mod:`~workbench.core.measures.gaussian_log_det` holds the log-determinants with their
bias (below) and the ridge for singular covariances. Every public name of those modules is
importable from here too.

Bias of the plug-in log-determinant (details in ``gaussian_log_det``): ``E[ln|S|] = ln|Σ| +
b(d, n)`` with ``b`` negative, so subtracting b from every log-determinant gives unbiased
estimates of ``H`` (the UMVU estimator of Ahmed & Gokhale, 1989) and of ``I``. For independent
X and Y the plug-in I is biased up by about ``d_x d_y / (2n)`` nats; the corrected one is
unbiased, so it can come out slightly negative, and is not clipped. A singular covariance gets
a relative ridge ``Σ + λ diag(Σ)``, logged and reported in :class:`GaussianEstimate`.
"""

from __future__ import annotations

import torch

from workbench.core.measures._arrays import Array, as_float, check_paired, resolve_device
from workbench.core.measures._moments import scatter
from workbench.core.measures.gaussian_covariance import (
    GaussianEstimate,
    correlation_condition_number,
    gaussian_entropy_from_covariance,
    gaussian_mutual_information_from_covariance,
    noise_floor_mutual_information,
)
from workbench.core.measures.gaussian_log_det import (
    AUTO_RIDGE,
    SINGULAR_RCOND,
    check_samples,
    log_det_bias,
)

__all__ = [
    "AUTO_RIDGE",
    "SINGULAR_RCOND",
    "GaussianEstimate",
    "correlation_condition_number",
    "gaussian_entropy",
    "gaussian_entropy_details",
    "gaussian_entropy_from_covariance",
    "gaussian_mutual_information",
    "gaussian_mutual_information_details",
    "gaussian_mutual_information_from_covariance",
    "log_det_bias",
    "noise_floor_mutual_information",
]


def _sample_covariance(*blocks: torch.Tensor) -> torch.Tensor:
    """(D, D) covariance (n - 1 normalisation) of the concatenated feature blocks."""
    centred = [b - b.mean(dim=0) for b in blocks]
    return scatter(centred) / (blocks[0].shape[0] - 1)


def gaussian_entropy_details(
    x: Array, *, bias_correction: bool = True, ridge: float | None = None
) -> GaussianEstimate:
    """Gaussian entropy of samples, with plug-in value, ridge and sizes; see
    :func:`gaussian_entropy`."""
    t = as_float(x, "x", promote_1d=True)
    check_samples(t.shape[0], t.shape[1], "gaussian_entropy")
    return gaussian_entropy_from_covariance(
        _sample_covariance(t), t.shape[0], bias_correction=bias_correction, ridge=ridge
    )


def gaussian_entropy(
    x: Array, bias_correction: bool = True, *, ridge: float | None = None
) -> float:
    """Differential entropy of x under a Gaussian model, in bits.

    ``H(X) = 1/2 [d ln(2πe) + ln|Σ_x|] / ln 2`` with Σ_x estimated by the sample covariance
    (float64). With ``bias_correction`` the digamma correction makes the estimate unbiased for
    Gaussian data (Ahmed & Gokhale, 1989); the plug-in value is biased low by ``-b(d, n)/2``.

    Args:
        x: (n_samples, d) samples (or (n_samples,) for d = 1), numpy or torch on any device.
        bias_correction: Remove the finite-sample bias of ``ln|S|`` (see module docstring).
        ridge: Relative ridge ``λ`` (``S + λ diag(S)``); ``None`` adds one only when S is
            singular, with a logged warning.

    Returns:
        H(X) in bits (can be negative: it is a differential entropy).

    Raises:
        ValueError: On NaN/inf or empty input, or fewer than d + 1 samples (the message says how
            many are needed).
    """
    return gaussian_entropy_details(x, bias_correction=bias_correction, ridge=ridge).bits


def gaussian_mutual_information_details(
    x: Array, y: Array, *, bias_correction: bool = True, ridge: float | None = None
) -> GaussianEstimate:
    """Gaussian mutual information of paired samples, with plug-in value, ridge and sizes; see
    :func:`gaussian_mutual_information`."""
    device = resolve_device(x, y)
    tx = as_float(x, "x", promote_1d=True, device=device)
    ty = as_float(y, "y", promote_1d=True, device=device)
    n = check_paired(("x", tx), ("y", ty))
    dx, dy = tx.shape[1], ty.shape[1]
    check_samples(n, dx + dy, "gaussian_mutual_information")
    return gaussian_mutual_information_from_covariance(
        _sample_covariance(tx, ty), dx, n, bias_correction=bias_correction, ridge=ridge
    )


def gaussian_mutual_information(
    x: Array, y: Array, bias_correction: bool = True, *, ridge: float | None = None
) -> float:
    """Mutual information of x and y under a joint Gaussian model, in bits.

    ``I(X; Y) = 1/2 [ln|Σ_x| + ln|Σ_y| - ln|Σ_xy|] / ln 2``, covariances estimated in float64.
    For a pair with correlation ρ in each of d dimensions, ``I = -(d/2) log2(1 - ρ²)``. The
    plug-in estimate is biased up by about ``d_x d_y / (2n)`` nats for independent data; with
    ``bias_correction`` the digamma correction of each log-determinant removes that bias, so
    independent data gives ≈ 0 (possibly slightly negative).

    Args:
        x: (n_samples, d_x) samples (or (n_samples,)), numpy or torch on any device.
        y: (n_samples, d_y) samples paired with x (same sample order).
        bias_correction: Remove the finite-sample bias of each ``ln|S|``.
        ridge: Relative ridge on the joint covariance; ``None`` adds one only when it is
            singular, with a logged warning (see :func:`gaussian_mutual_information_details`
            for the value used).

    Returns:
        I(X; Y) in bits.

    Raises:
        ValueError: On NaN/inf or empty input, different sample counts, or fewer than
            d_x + d_y + 1 samples (the message says how many are needed).
    """
    return gaussian_mutual_information_details(
        x, y, bias_correction=bias_correction, ridge=ridge
    ).bits
