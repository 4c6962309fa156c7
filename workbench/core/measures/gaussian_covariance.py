"""Gaussian entropy and mutual information of a given covariance, and how fragile they are.

What the streaming accumulators call once their covariance is complete; the functions of
samples in :mod:`~workbench.core.measures.gaussian` call it too. Formulas, symbols and the bias
correction are in that module's docstring; log-determinants, their bias and the ridge in
:mod:`~workbench.core.measures.gaussian_log_det`.

Near-singular covariances pass the pivot test but are fragile: a Gaussian MI carried by a
direction of tiny variance is unbounded in the limit. :func:`correlation_condition_number`
measures how close the correlation matrix is to singular, and
:func:`noise_floor_mutual_information` adds independent noise at a fraction f of each
feature's standard deviation, which in the covariance is exactly the relative ridge
``λ = f²`` (``Σ + f² diag Σ``), so a noise sweep needs no second pass over the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from workbench.core.measures._arrays import Array
from workbench.core.measures.gaussian_log_det import (
    LN2,
    as_covariance,
    check_samples,
    log_det_bias,
    log_dets,
)

__all__ = [
    "GaussianEstimate",
    "correlation_condition_number",
    "gaussian_entropy_from_covariance",
    "gaussian_mutual_information_from_covariance",
    "noise_floor_mutual_information",
]


@dataclass(frozen=True)
class GaussianEstimate:
    """A Gaussian entropy or mutual information estimate, with how it was made.

    Attributes:
        bits: The estimate in bits (bias-corrected when ``bias_corrected``).
        plugin_bits: The plug-in estimate from the sample covariance, in bits.
        bias_corrected: Whether ``bits`` has the digamma log-determinant correction.
        ridge: Relative ridge λ added as ``Σ + λ diag(Σ)``; 0.0 when none was needed.
        n_samples: Number of samples behind the covariance.
        dims: ``(d,)`` for an entropy, ``(d_x, d_y)`` for a mutual information.
    """

    bits: float
    plugin_bits: float
    bias_corrected: bool
    ridge: float
    n_samples: int
    dims: tuple[int, ...]

    @property
    def nats(self) -> float:
        """The estimate in nats."""
        return self.bits * LN2

    @property
    def plugin_nats(self) -> float:
        """The plug-in estimate in nats."""
        return self.plugin_bits * LN2


def gaussian_entropy_from_covariance(
    cov: Array, n_samples: int, *, bias_correction: bool = True, ridge: float | None = None
) -> GaussianEstimate:
    """Gaussian entropy from a sample covariance (e.g. from a streaming accumulator).

    ``H = 1/2 [d ln(2πe) + ln|S| - b(d, n)] / ln 2`` bits (drop ``b`` without bias correction).
    Differential entropy: it can be negative and changes with the units of the features.

    Args:
        cov: (d, d) sample covariance S with n - 1 degrees of freedom (``M2 / (n - 1)``).
        n_samples: n, the number of samples behind ``cov``.
        bias_correction: Subtract the digamma bias ``b(d, n)`` of ``ln|S|``.
        ridge: Relative ridge ``λ`` (``S + λ diag(S)``); ``None`` adds one only if S is singular.

    Returns:
        A :class:`GaussianEstimate` with ``dims == (d,)``.

    Raises:
        ValueError: If n <= d, ``cov`` is not square/finite, or every feature is constant.
    """
    s = as_covariance(cov)
    d = s.shape[0]
    check_samples(n_samples, d, "gaussian_entropy")
    (log_det,), used = log_dets(s, [slice(None)], ridge, "the covariance of x")
    plugin = 0.5 * (d * math.log(2.0 * math.pi * math.e) + log_det)
    corrected = plugin - 0.5 * log_det_bias(d, n_samples) if bias_correction else plugin
    return GaussianEstimate(
        bits=corrected / LN2,
        plugin_bits=plugin / LN2,
        bias_corrected=bias_correction,
        ridge=used,
        n_samples=n_samples,
        dims=(d,),
    )


def gaussian_mutual_information_from_covariance(
    cov: Array,
    dim_x: int,
    n_samples: int,
    *,
    bias_correction: bool = True,
    ridge: float | None = None,
) -> GaussianEstimate:
    """Gaussian mutual information from a joint sample covariance of (x, y).

    ``I = 1/2 [(ln|S_x| - b(d_x)) + (ln|S_y| - b(d_y)) - (ln|S_xy| - b(d_x + d_y))] / ln 2``
    bits, with ``S_x = cov[:d_x, :d_x]`` and ``S_y = cov[d_x:, d_x:]`` (drop the b terms
    without bias correction). Invariant to invertible linear maps of x and of y.

    Args:
        cov: (d_x + d_y, d_x + d_y) joint sample covariance with n - 1 degrees of freedom.
        dim_x: d_x, the number of leading features that belong to x.
        n_samples: n, the number of samples behind ``cov``.
        bias_correction: Subtract the digamma bias of each log-determinant.
        ridge: Relative ridge on the joint covariance; ``None`` adds one only if it is singular.

    Returns:
        A :class:`GaussianEstimate` with ``dims == (d_x, d_y)``.

    Raises:
        ValueError: If n <= d_x + d_y, ``dim_x`` does not split ``cov``, or ``cov`` is invalid.
    """
    s = as_covariance(cov)
    total = s.shape[0]
    if not 0 < dim_x < total:
        raise ValueError(f"dim_x must be between 1 and {total - 1} for a {total}-dim covariance")
    dim_y = total - dim_x
    check_samples(n_samples, total, "gaussian_mutual_information")
    (ld_xy, ld_x, ld_y), used = log_dets(
        s, [slice(None), slice(0, dim_x), slice(dim_x, total)], ridge, "the covariance of (x, y)"
    )
    plugin = 0.5 * (ld_x + ld_y - ld_xy)
    corrected = plugin
    if bias_correction:
        bias = log_det_bias(dim_x, n_samples) + log_det_bias(dim_y, n_samples)
        corrected = plugin - 0.5 * (bias - log_det_bias(total, n_samples))
    return GaussianEstimate(
        bits=corrected / LN2,
        plugin_bits=plugin / LN2,
        bias_corrected=bias_correction,
        ridge=used,
        n_samples=n_samples,
        dims=(dim_x, dim_y),
    )


def correlation_condition_number(cov: Array) -> float:
    """Condition number ``κ = μ_max / μ_min`` of the correlation matrix of a covariance.

    ``R = D^{-1/2} Σ D^{-1/2}`` (D the diagonal of Σ) has eigenvalues ``μ_i``; ``1 / κ`` is how
    far R is from singular relative to its scale, unchanged by rescaling any feature. A
    constant feature (zero variance) makes it inf. For a joint covariance of (x, y) a large
    κ means some direction of x is almost a linear function of y (or of x itself), and the
    Gaussian MI is then set by that direction's tiny residual variance.

    Args:
        cov: (d, d) covariance, numpy or torch on any device.

    Returns:
        κ (>= 1), inf when R is singular to working precision.
    """
    s = as_covariance(cov)
    var = s.diagonal()
    if not bool((var > 0).all()):
        return math.inf
    inv_sd = var.rsqrt()
    corr = s * inv_sd[:, None] * inv_sd[None, :]
    mu = torch.linalg.eigvalsh(corr)
    low, high = float(mu[0]), float(mu[-1])
    return math.inf if low <= 0.0 else high / low


def noise_floor_mutual_information(
    cov: Array,
    dim_x: int,
    n_samples: int,
    fractions: list[float] | tuple[float, ...],
    *,
    bias_correction: bool = True,
) -> list[GaussianEstimate]:
    """Gaussian MI after adding independent noise at fractions of each feature's SD.

    Adding ``ε_j ~ N(0, f² σ_j²)`` independently to every feature j of x and y changes the joint
    covariance to ``Σ + f² diag(Σ)`` and nothing else, so the MI of the noisy streams is the
    MI with the relative ridge ``λ = f²``; the sample version differs only by the
    O(1/√n) sample cross-covariance of data and noise. A Gaussian MI carried by directions
    of small variance falls fast as f grows; one spread over well-conditioned directions
    barely moves.

    Args:
        cov: (d_x + d_y, d_x + d_y) joint sample covariance.
        dim_x: d_x.
        n_samples: n behind ``cov``.
        fractions: Noise SDs f as fractions of each feature's SD (each > 0).
        bias_correction: As for :func:`gaussian_mutual_information_from_covariance`.

    Returns:
        One :class:`GaussianEstimate` per fraction, ``ridge == f²``.
    """
    out = []
    for f in fractions:
        if not f > 0 or math.isinf(f):
            raise ValueError(f"noise fractions must be finite numbers > 0; got {f}")
        out.append(
            gaussian_mutual_information_from_covariance(
                cov, dim_x, n_samples, bias_correction=bias_correction, ridge=float(f) ** 2
            )
        )
    return out
