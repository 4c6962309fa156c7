"""Entropy and mutual information of Gaussian variables from log-determinants, in bits.

Symbols: n samples of a d-dimensional variable; ``S`` the sample covariance with the mean
estimated (n - 1 degrees of freedom, ``S = M2 / (n - 1)``); ``Σ`` the true covariance;
``ψ`` the digamma function; ``ln`` natural log. Results are converted from nats to bits by
dividing by ln 2.

Formulas (nats)::

    H(X)    = 1/2 [ d ln(2πe) + ln|Σ_x| ]
    I(X; Y) = 1/2 [ ln|Σ_x| + ln|Σ_y| - ln|Σ_xy| ]            (Σ_xy: joint covariance)

Bias of the plug-in log-determinant. ``(n - 1) S`` is Wishart with n - 1 degrees of freedom, so
by Bartlett's decomposition ``|(n-1) S| / |Σ|`` is a product of independent chi-square
variables with n - 1, n - 2, ..., n - d degrees of freedom, and ``E[ln χ²_k] = ψ(k/2) + ln 2``::

    E[ln|S|] = ln|Σ| + b(d, n),    b(d, n) = sum_{i=1..d} ψ((n - i)/2) + d ln(2 / (n - 1))

b is negative: ``ln|S|`` underestimates ``ln|Σ|``, more so as d approaches n. Subtracting b from
every log-determinant gives unbiased estimates of ``H`` (the UMVU estimator of Ahmed & Gokhale,
1989) and of ``I`` for any Σ. For independent X and Y the plug-in I is biased up by
``(b(d_x) + b(d_y) - b(d_x + d_y)) / 2 ≈ d_x d_y / (2n)`` nats; the corrected one is unbiased,
so it can come out slightly negative, and is not clipped (clipping would bias it again).

Singular covariances. Log-determinants are taken of the correlation-scaled matrix via Cholesky,
whose pivots are ``1 - R²_i``: the fraction of feature i's variance not explained by the features
before it. A pivot below ``SINGULAR_RCOND`` (or a constant feature, or a failed Cholesky) makes
the covariance singular; then a relative ridge ``λ`` is added, ``Σ + λ diag(Σ)``, starting at
``AUTO_RIDGE`` and growing tenfold until the pivots pass. The ridge is logged as a warning and
reported in :class:`GaussianEstimate` — never silent. One ridge is applied to the joint
covariance and its blocks, so the regularised I is the exact I of a valid Gaussian.

Near-singular covariances pass the pivot test but are fragile: a Gaussian MI carried by a
direction of tiny variance is unbounded in the limit. :func:`correlation_condition_number`
measures how close the correlation matrix is to singular, and
:func:`noise_floor_mutual_information` adds independent noise at a fraction f of each
feature's standard deviation, which in the covariance is exactly the relative ridge
``λ = f²`` (``Σ + f² diag Σ``), so a noise sweep needs no second pass over the data.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import digamma

from workbench.core.measures._arrays import Array, as_float, check_paired, resolve_device
from workbench.core.measures._moments import scatter

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

logger = logging.getLogger(__name__)

LN2 = math.log(2.0)
#: A Cholesky pivot (1 - R² of a feature on the features before it) below this is singular.
SINGULAR_RCOND = 1e-10
#: First relative ridge tried on a singular covariance (multiplied by 10 until it passes).
AUTO_RIDGE = 1e-8
_MAX_AUTO_RIDGE = 1e-1


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


def log_det_bias(dim: int, n_samples: int) -> float:
    """Bias of the log-determinant of a Gaussian sample covariance, in nats.

    ``b(d, n) = E[ln|S|] - ln|Σ| = sum_{i=1..d} ψ((n - i)/2) + d ln(2 / (n - 1))`` for S the
    covariance of n samples with the mean estimated (derivation in the module docstring).

    Args:
        dim: d, the number of dimensions (>= 1).
        n_samples: n, the number of samples (> d).

    Returns:
        b(d, n) in nats (negative).

    Raises:
        ValueError: If n <= d, where S is singular and the expectation is -inf.
    """
    if dim < 1 or n_samples <= dim:
        raise ValueError(
            f"log_det_bias needs 1 <= dim < n_samples; got dim={dim}, n_samples={n_samples}"
        )
    i = np.arange(1, dim + 1, dtype=np.float64)
    return float(digamma((n_samples - i) / 2.0).sum() + dim * math.log(2.0 / (n_samples - 1)))


def _check_samples(n: int, dim: int, what: str) -> None:
    """Fewer samples than dimensions + 1 leave the covariance singular: say how many are needed."""
    if n <= dim:
        raise ValueError(
            f"{what} needs more samples than dimensions: its covariance has {dim} dimensions and "
            f"one degree of freedom goes to the mean, so at least {dim + 1} samples are needed; "
            f"got {n}. Pass more samples or reduce the dimensions (e.g. PCA)."
        )


def _cholesky_pivots_ok(corr: torch.Tensor, ridge: float) -> tuple[torch.Tensor | None, int]:
    """Cholesky of ``corr + ridge I`` and the first failing feature (-1 when all pivots pass)."""
    eye = torch.eye(corr.shape[0], dtype=corr.dtype, device=corr.device)
    chol, info = torch.linalg.cholesky_ex(corr + ridge * eye)
    if int(info) > 0:
        return None, int(info) - 1
    pivots = chol.diagonal() ** 2
    worst = int(torch.argmin(pivots))
    if float(pivots[worst]) < SINGULAR_RCOND:
        return None, worst
    return chol, -1


def _log_dets(
    cov: torch.Tensor, blocks: list[slice], ridge: float | None, what: str
) -> tuple[list[float], float]:
    """ln|Σ_block| in nats for each block of ``cov`` (with one shared ridge), and the ridge.

    Args:
        cov: (D, D) float64 symmetric covariance.
        blocks: Index ranges; ``slice(None)`` is the whole matrix.
        ridge: Relative ridge to add, or ``None`` to add one only when ``cov`` is singular.
        what: Name of the covariance for messages.

    Returns:
        The log-determinants and the ridge used.
    """
    var = cov.diagonal()
    if not bool((var > 0).any()):
        raise ValueError(f"{what} has zero variance in every feature; pass non-constant data")
    # Scale by each feature's variance (or the mean variance for a constant feature), so the
    # singularity test and the ridge are relative and unchanged by rescaling a feature.
    scale = torch.where(var > 0, var, var.mean())
    inv_sd = scale.rsqrt()
    corr = cov * inv_sd[:, None] * inv_sd[None, :]
    log_scale = torch.log(scale)
    if ridge is not None:
        if not ridge >= 0.0 or math.isinf(ridge):
            raise ValueError(f"ridge must be a finite number >= 0 or None; got {ridge}")
        eye = torch.eye(corr.shape[0], dtype=corr.dtype, device=corr.device)
        chol_or_none, info = torch.linalg.cholesky_ex(corr + ridge * eye)
        if int(info) > 0:
            raise ValueError(
                f"{what} is singular even with ridge={ridge}; pass a larger ridge or ridge=None"
            )
        chol, used = chol_or_none, ridge
    else:
        used = 0.0
        found, bad = _cholesky_pivots_ok(corr, 0.0)
        first_bad = bad
        while found is None:
            used = AUTO_RIDGE if used == 0.0 else used * 10.0
            if used > _MAX_AUTO_RIDGE:
                raise ValueError(f"{what} stays singular with a ridge of {_MAX_AUTO_RIDGE}")
            found, bad = _cholesky_pivots_ok(corr, used)
        chol = found
        if used > 0.0:
            logger.warning(
                "%s is singular: feature %d (0-based, of %d) is constant or a linear combination "
                "of earlier features; added a ridge of %g x each feature's variance. The estimate "
                "depends on this ridge: drop redundant features or pass ridge= explicitly.",
                what,
                first_bad,
                cov.shape[0],
                used,
            )
    eye = torch.eye(corr.shape[0], dtype=corr.dtype, device=corr.device)
    out = []
    for block in blocks:
        if block == slice(None):
            block_chol = chol
        elif block.start in (None, 0):
            # A leading block's Cholesky factor is the leading block of the full factor.
            block_chol = chol[block, block]
        else:
            block_chol = torch.linalg.cholesky((corr + used * eye)[block, block])
        log_det = log_scale[block].sum() + 2.0 * torch.log(block_chol.diagonal()).sum()
        out.append(float(log_det))
    return out, used


def _as_covariance(cov: object) -> torch.Tensor:
    t = as_float(cov, "cov", ndim=2, shape_doc="(dim, dim)")
    if t.shape[0] != t.shape[1]:
        raise ValueError(f"cov must be square (dim, dim); got shape {tuple(t.shape)}")
    return 0.5 * (t + t.T)  # symmetrise away round-off asymmetry


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
    s = _as_covariance(cov)
    d = s.shape[0]
    _check_samples(n_samples, d, "gaussian_entropy")
    (log_det,), used = _log_dets(s, [slice(None)], ridge, "the covariance of x")
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
    s = _as_covariance(cov)
    total = s.shape[0]
    if not 0 < dim_x < total:
        raise ValueError(f"dim_x must be between 1 and {total - 1} for a {total}-dim covariance")
    dim_y = total - dim_x
    _check_samples(n_samples, total, "gaussian_mutual_information")
    (ld_xy, ld_x, ld_y), used = _log_dets(
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
    _check_samples(t.shape[0], t.shape[1], "gaussian_entropy")
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
    _check_samples(n, dx + dy, "gaussian_mutual_information")
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
    s = _as_covariance(cov)
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
