"""Power-law spectra, the entropy bound of 003 (§2.4), and Jacobian against covariance spectra.

**The bound.** 003's Theorem 4: m neurons of n bits of precision whose scales fall as a power
law, σ_i = i^{-α} with σ_1 = 1, have entropy

    H ≲ Σ_i log2(2^n σ_i) = m n - α log2(m!) ≈ m n - α m log2(m/e)          (bits; log base 2)

The theorem calls σ_i "variances" but uses them as scales (H(X_i) ≈ log(2^n σ_i) is the entropy
of a spread σ_i at resolution 2^{-n}), so with covariance eigenvalues λ_i ∝ i^{-α_λ} (what
:func:`workbench.measures.power_law_exponent` fits) the consistent exponent is α = α_λ / 2. Both
are reported: ``bound_stated`` uses α_λ, ``bound_scale`` uses α_λ / 2 and is the larger (looser)
one. n is the precision of the widest direction at the map's resolution: n = log2(√λ_1 / δ) with
δ = resolution × the layer's pooled standard deviation. A Gaussian rather than uniform spread
adds at most (m/2) log2(2πe), which ``bound_scale`` includes.

**Jacobian against covariance** (002's comment: in a smooth net the matrix of derivatives and
the covariance should give the same picture). For each hidden layer, the eigenvalues of
``E_x[J Jᵀ]`` with J the layer-to-layer Jacobian, beside the eigenvalues of the layer's
covariance; each spectrum is summarised by its participation ratio (Σλ)²/Σλ².
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from workbench.measures import covariance_spectrum, participation_ratio, power_law_exponent

__all__ = ["LayerSpectra", "entropy_bound", "layer_spectra", "safe_exponent"]

FloatArray = npt.NDArray[np.float64]


def entropy_bound(m: int, n_bits: float, alpha: float) -> float:
    """m n - α m log2(m/e): Theorem 4 of 003, in bits."""
    return m * n_bits - alpha * m * math.log2(m / math.e)


def safe_exponent(eigs: FloatArray) -> tuple[float, float]:
    """Fitted ``(α_λ, r²)`` of a descending spectrum; NaNs when < 3 eigenvalues are positive."""
    try:
        fit = power_law_exponent(eigs)
    except ValueError:
        return math.nan, math.nan
    return fit.exponent, fit.r_squared


@dataclass(frozen=True)
class LayerSpectra:
    """One hidden layer of every seed (``(seed,)`` arrays unless said otherwise).

    Attributes:
        covariance: ``(seed, width)`` covariance eigenvalues, descending.
        jacobian: ``(seed, width)`` eigenvalues of E_x[J Jᵀ], descending.
        alpha: Fitted α_λ of the covariance spectrum.
        r_squared: r² of that log-log fit (how much the spectrum is a power law at all).
        alpha_jacobian: Fitted α of the Jacobian spectrum.
        pr_covariance: Participation ratio of the covariance spectrum.
        pr_jacobian: Participation ratio of the Jacobian spectrum.
        precision: n = log2(√λ_1 / δ) bits.
        bound_stated: m n - α_λ m log2(m/e).
        bound_scale: m n - (α_λ/2) m log2(m/e) + (m/2) log2(2πe).
    """

    covariance: FloatArray
    jacobian: FloatArray
    alpha: FloatArray
    r_squared: FloatArray
    alpha_jacobian: FloatArray
    pr_covariance: FloatArray
    pr_jacobian: FloatArray
    precision: FloatArray
    bound_stated: FloatArray
    bound_scale: FloatArray


def layer_spectra(acts: torch.Tensor, gram: torch.Tensor, resolution: float) -> LayerSpectra:
    """Spectra, exponents and bounds of one hidden layer of every seed.

    Args:
        acts: ``(seed, batch, width)`` activations over all inputs.
        gram: ``(seed, width, width)`` E_x[J Jᵀ] from :func:`.nets.jacobian_gram`.
        resolution: The map's resolution r (> 0 for a finite precision; 0 gives NaN bounds).
    """
    _, _, m = acts.shape
    cov = np.stack([covariance_spectrum(a) for a in acts.to(torch.float64)])  # (seed, m)
    jac = np.stack(
        [np.sort(np.clip(np.linalg.eigvalsh(g), 0, None))[::-1] for g in gram.cpu().numpy()]
    )
    fits = np.array([safe_exponent(c) for c in cov])  # (seed, 2)
    alpha, r2 = fits[:, 0], fits[:, 1]
    alpha_j = np.array([safe_exponent(j)[0] for j in jac])
    pr_c = np.array([participation_ratio(c) if c[0] > 0 else math.nan for c in cov])
    pr_j = np.array([participation_ratio(j) if j[0] > 0 else math.nan for j in jac])
    pooled = np.sqrt(cov.sum(axis=1) / m)  # (seed,) pooled standard deviation
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.log2(np.sqrt(cov[:, 0]) / (resolution * pooled))
    precision = np.where(np.isfinite(precision), precision, math.nan)
    log_term = m * math.log2(m / math.e)
    stated = m * precision - alpha * log_term
    scale = m * precision - alpha / 2 * log_term + m / 2 * math.log2(2 * math.pi * math.e)
    return LayerSpectra(cov, jac, alpha, r2, alpha_j, pr_c, pr_j, precision, stated, scale)
