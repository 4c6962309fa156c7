"""Pure analysis of the accumulated residual streams: MI with its null and interval, the
MI-versus-tokens curve, layer x layer matrices, spectra and Jacobian summaries.

Information is in bits. "Bias-corrected" means the digamma correction of every Gaussian
log-determinant (:func:`workbench.measures.log_det_bias`), which is exact for Gaussian
data; "plug-in" is the value from the sample covariance as it is, biased up by about
``d_x d_y / (2 n ln 2)`` bits for independent streams. The null is the plug-in
estimator on shuffled pairs (trained token ``i`` with the twin's token ``π(i)``), whose
true MI is 0: its mean *is* the plug-in bias at this number of tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from workbench.measures import (
    StreamingJointCovariance,
    effective_rank,
    gaussian_mutual_information_from_covariance,
    participation_ratio,
    power_law_exponent,
)

__all__ = [
    "CURVE_ROWS",
    "MIPoint",
    "Verdict",
    "curve_array",
    "extrapolate_to_infinite_tokens",
    "jacobian_measures",
    "layer_mi_matrices",
    "mi_point",
    "spectrum_measures",
    "verdict",
]

#: Rows of a saved MI-versus-tokens curve, in order.
CURVE_ROWS = (
    "plug-in",
    "bias-corrected",
    "interval low",
    "interval high",
    "null mean (plug-in)",
    "null 95% (plug-in)",
)


@dataclass(frozen=True)
class MIPoint:
    """Gaussian MI between the trained and twin streams at one hook and token count (bits).

    Attributes:
        n_tokens: Token pairs behind the estimate.
        bits: Bias-corrected MI.
        plugin_bits: Plug-in MI.
        low: Lower end of the delete-a-group jackknife interval (groups of whole sequences).
        high: Upper end of that interval.
        null_mean: Mean plug-in MI over shuffled pairs: the plug-in's bias at ``n_tokens``.
        null_q95: 95% quantile of the plug-in MI over shuffled pairs.
        null_corrected_mean: Mean bias-corrected MI over shuffled pairs (≈ 0 when the
            Gaussian correction fits the data).
        p_value: Permutation p-value of the plug-in MI against the shuffles,
            ``(1 + #{null >= observed}) / (1 + K)``.
        ridge: Relative ridge the estimator had to add because the joint covariance was
            singular (0 when none); with a ridge the MI is bounded only by the ridge.
    """

    n_tokens: int
    bits: float
    plugin_bits: float
    low: float
    high: float
    null_mean: float
    null_q95: float
    null_corrected_mean: float
    p_value: float
    ridge: float


def mi_point(acc: StreamingJointCovariance, level: float) -> MIPoint:
    """Estimate, interval and null of the Gaussian MI held by a joint accumulator now."""
    details = acc.gaussian_mutual_information_details()
    interval = acc.gaussian_mutual_information_interval(level)
    nan = math.nan
    null_mean = null_q95 = p_value = nan
    if acc.n_permutations:  # an accumulator without shuffles has no null: NaN
        null = acc.permutation_test(bias_correction=False)
        null_mean, null_q95, p_value = null.null_mean, null.null_quantiles[2], null.p_value
    # The correction is the same constant for every shuffle (it depends on n and the
    # dimensions only), so the corrected null is the plug-in null shifted by it.
    shift = details.plugin_bits - details.bits
    return MIPoint(
        n_tokens=acc.n,
        bits=details.bits,
        plugin_bits=details.plugin_bits,
        low=interval.low,
        high=interval.high,
        null_mean=null_mean,
        null_q95=null_q95,
        null_corrected_mean=null_mean - shift,
        p_value=p_value,
        ridge=details.ridge,
    )


def curve_array(points: Sequence[MIPoint]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """``(len(CURVE_ROWS), n_points)``: one row per :data:`CURVE_ROWS` entry, in bits."""
    return np.array(
        [
            [p.plugin_bits for p in points],
            [p.bits for p in points],
            [p.low for p in points],
            [p.high for p in points],
            [p.null_mean for p in points],
            [p.null_q95 for p in points],
        ],
        dtype=np.float64,
    )


def extrapolate_to_infinite_tokens(n_tokens: Sequence[int], bits: Sequence[float]) -> float:
    """Intercept ``I_∞`` of the least-squares fit ``I(n) = I_∞ + b / n``.

    The plug-in bias of a Gaussian MI falls like ``1/n`` once ``n`` is well above the
    dimension (``≈ d_x d_y / (2 n ln 2)`` bits for independent streams), so the intercept
    is where the curve the seed discussion saw levels off. NaN with fewer than 2 points.
    """
    n = np.asarray(n_tokens, dtype=np.float64)
    y = np.asarray(bits, dtype=np.float64)
    if n.size < 2 or np.unique(n).size < 2:
        return math.nan
    slope_and_intercept = np.polyfit(1.0 / n, y, 1)
    return float(slope_and_intercept[1])


@dataclass(frozen=True)
class Verdict:
    """What an :class:`MIPoint` allows one to say.

    Attributes:
        above_zero: The interval of the bias-corrected MI lies above 0.
        above_bias: The plug-in MI beats the shuffled nulls at the test level, i.e. it
            is more than the estimator's bias on independent pairs.
        singular: The joint covariance was singular, so the value depends on the ridge
            (the Gaussian MI itself is unbounded: one stream is a linear function of the
            other on the tokens seen).
    """

    above_zero: bool
    above_bias: bool
    singular: bool


def verdict(point: MIPoint, level: float) -> Verdict:
    """:class:`Verdict` of a point at test level ``1 - level``."""
    return Verdict(
        above_zero=point.low > 0.0,
        above_bias=point.p_value <= 1.0 - level + 1e-12,
        singular=point.ridge > 0.0,
    )


def _pair_mi(cov: torch.Tensor, a: slice, b: slice, n: int) -> float:
    """Bias-corrected MI of blocks a and b of ``cov``; NaN when it needed a ridge (unbounded)."""
    index = torch.cat([torch.arange(a.start, a.stop), torch.arange(b.start, b.stop)]).to(cov.device)
    sub = cov[index][:, index]
    est = gaussian_mutual_information_from_covariance(sub, a.stop - a.start, n)
    return math.nan if est.ridge > 0 else est.bits


def layer_mi_matrices(
    cov: torch.Tensor, n_samples: int, n_hooks: int, d_model: int
) -> tuple[dict[str, np.ndarray[Any, np.dtype[np.float64]]], dict[str, int]]:
    """Bias-corrected Gaussian MI between every two hook points, within and across models.

    A cell whose covariance is singular (the estimator would need a ridge, so the value
    would be set by the ridge) is NaN, and counted in the second return value.

    Args:
        cov: ``(2 H d, 2 H d)`` joint covariance: H trained hook points, then H twin ones.
        n_samples: Token positions behind ``cov``.
        n_hooks: H.
        d_model: Residual width d.

    Returns:
        ``{"trained", "twin", "cross"}`` -> ``(H, H)`` matrices in bits. Within a model the
        diagonal is NaN (a stream with itself has unbounded MI); ``cross[a, b]`` is MI of
        trained hook ``a`` with twin hook ``b``. Then, per matrix, the number of cells left
        NaN because they were singular (off the within-model diagonal).
    """

    def block(model: int, hook: int) -> slice:
        start = (model * n_hooks + hook) * d_model
        return slice(start, start + d_model)

    out: dict[str, np.ndarray[Any, np.dtype[np.float64]]] = {}
    for key, model in (("trained", 0), ("twin", 1)):
        matrix = np.full((n_hooks, n_hooks), np.nan)
        for a in range(n_hooks):
            for b in range(a + 1, n_hooks):
                value = _pair_mi(cov, block(model, a), block(model, b), n_samples)
                matrix[a, b] = matrix[b, a] = value
        out[key] = matrix
    cross = np.empty((n_hooks, n_hooks))
    for a in range(n_hooks):
        for b in range(n_hooks):
            cross[a, b] = _pair_mi(cov, block(0, a), block(1, b), n_samples)
    out["cross"] = cross
    ridged = {
        key: int(np.isnan(m).sum()) - (0 if key == "cross" else n_hooks) for key, m in out.items()
    }
    return out, ridged


def spectrum_measures(eigs: np.ndarray[Any, np.dtype[np.float64]]) -> dict[str, float]:
    """Shape of a covariance spectrum ``λ_1 >= λ_2 >= ...`` (variance units).

    Returns:
        ``participation_ratio`` ``(Σλ)² / Σλ²``; ``effective_rank`` ``exp H(λ/Σλ)``;
        ``top3_share``, the fraction of variance in the 3 largest eigenvalues ("a few
        channels" when large); ``alpha`` and ``alpha_r2``, the exponent
        and fit quality of ``λ_k ∝ k^-α`` over ranks 2 to d/2 (leaving out the head, which
        a few channels would dominate, and the noisy tail); NaN when it cannot be fitted.
    """
    lam = np.sort(np.asarray(eigs, dtype=np.float64))[::-1]
    total = float(lam.sum())
    positive = int(np.count_nonzero(lam > 1e-12 * lam[0]))
    last = min(max(4, lam.size // 2), positive)
    try:
        fit = power_law_exponent(lam, ranks=(2, last))
        alpha, r2 = fit.exponent, fit.r_squared
    except ValueError:
        alpha, r2 = math.nan, math.nan
    return {
        "participation_ratio": participation_ratio(lam),
        "effective_rank": effective_rank(lam),
        "top3_share": float(lam[:3].sum() / total),
        "alpha": alpha,
        "alpha_r2": r2,
    }


def jacobian_measures(
    singular_values: np.ndarray[Any, np.dtype[np.float64]], gain_floor: float = 0.0
) -> dict[str, float]:
    """Summaries of Jacobian singular values ``(n_samples, r)`` (sequences x positions).

    A gain floor ``φ`` keeps only ``σ_i >= φ σ_max`` (per sample): directions far below the
    largest gain carry nothing measurable and would otherwise inflate the rank of a map
    that is almost zero everywhere.

    Returns:
        ``sigma_max`` (mean of the largest gain) and ``sigma_max_sd`` (its SD over samples);
        the ``participation_ratio`` and ``effective_rank`` of the kept ``σ²`` (eigenvalues
        of ``J Jᵀ``), means over samples, with ``effective_rank_sd``; ``rank_above_floor``,
        the mean count of kept σ. With ``jacobian_top_k`` these describe the top k only.
    """
    sv = np.asarray(singular_values, dtype=np.float64)
    prs, ranks, counts = [], [], []
    for row in sv:
        kept = row[row >= gain_floor * row[0]] if row[0] > 0 else row[:0]
        power = kept**2
        if power.size and power.max() > 0:
            prs.append(participation_ratio(power))
            ranks.append(effective_rank(power))
        counts.append(kept.size)
    spread = float(sv[:, 0].std(ddof=1)) if sv.shape[0] > 1 else 0.0
    return {
        "sigma_max": float(sv[:, 0].mean()),
        "sigma_max_sd": spread,
        "participation_ratio": float(np.mean(prs)) if prs else math.nan,
        "effective_rank": float(np.mean(ranks)) if ranks else math.nan,
        "effective_rank_sd": float(np.std(ranks, ddof=1)) if len(ranks) > 1 else 0.0,
        "rank_above_floor": float(np.mean(counts)),
    }
