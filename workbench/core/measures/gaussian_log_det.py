"""Log-determinants of sample covariances: their Wishart bias, the singularity test, the ridge.

The machinery under every Gaussian measure (:mod:`~workbench.core.measures.gaussian`). Symbols
as there: n samples, d dimensions, ``S = M2 / (n - 1)``, ``Σ`` the true covariance, ``ψ``
the digamma function.

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
reported in :class:`~workbench.core.measures.gaussian_covariance.GaussianEstimate` — never
silent. One ridge is applied to the joint covariance and its blocks, so the regularised I is
the exact I of a valid Gaussian.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from scipy.special import digamma

from workbench.core.measures._arrays import as_float

__all__ = [
    "AUTO_RIDGE",
    "LN2",
    "SINGULAR_RCOND",
    "as_covariance",
    "check_samples",
    "log_det_bias",
    "log_dets",
]

# The ridge warning keeps the logger users and tests already configure, from before the split.
logger = logging.getLogger("workbench.core.measures.gaussian")

#: ln 2: nats per bit.
LN2 = math.log(2.0)
#: A Cholesky pivot (1 - R² of a feature on the features before it) below this is singular.
SINGULAR_RCOND = 1e-10
#: First relative ridge tried on a singular covariance (multiplied by 10 until it passes).
AUTO_RIDGE = 1e-8
_MAX_AUTO_RIDGE = 1e-1


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


def check_samples(n: int, dim: int, what: str) -> None:
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


def log_dets(
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


def as_covariance(cov: object) -> torch.Tensor:
    t = as_float(cov, "cov", ndim=2, shape_doc="(dim, dim)")
    if t.shape[0] != t.shape[1]:
        raise ValueError(f"cov must be square (dim, dim); got shape {tuple(t.shape)}")
    return 0.5 * (t + t.T)  # symmetrise away round-off asymmetry
