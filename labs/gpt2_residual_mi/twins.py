"""Spread over random twins as well as over tokens, and the paired twin-versus-baseline test.

Every pass streams the same tokens with the same jackknife groups, so for twin k there is
an estimate ``θ_k`` and its leave-one-group-out values ``θ_{k,(g)}``; their jackknife gives
the token standard error ``s_k`` (Tukey 1958)::

    s_k² = (G - 1)/G Σ_g (θ_{k,(g)} - θ̄_k)²

Over K twins the estimate is the mean ``θ̄ = mean_k θ_k``. Twins share the tokens, so the
token error does not average out over them; the twin-to-twin spread ``sd_twin`` adds the
variance of the random init::

    SE² = (mean_k s_k)² + sd_twin² / K,     interval = centre ± t_ν SE

with ν = min(K, G) - 1 (the fewer of the two replicates sets the degrees of freedom; ν = G - 1
for one twin, where the interval is exactly the token jackknife). ``centre`` is the mean
of the twins' jackknife bias-corrected estimates.

The twin-versus-twin baseline is a second accumulator per pass, of (partner_k, twin_k), with
the same groups: the difference ``d_k = θ^{trained}_k - θ^{partner}_k`` has leave-one-out
values ``θ^{trained}_{k,(g)} - θ^{partner}_{k,(g)}``, so the paired jackknife gives its token
error, and the same combination over twins gives a t test of "the trained model shares more
with a random init than another random init does".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Combined", "combine", "combine_difference", "jackknife_se"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def jackknife_se(leave_out: FloatArray) -> float:
    """``sqrt((G - 1)/G Σ_g (θ_(g) - θ̄)²)`` of the G leave-one-group-out values."""
    v = np.asarray(leave_out, dtype=np.float64)
    g = v.size
    return float(math.sqrt((g - 1) / g * float(np.sum((v - v.mean()) ** 2))))


def _jackknife_centre(estimate: float, leave_out: FloatArray) -> float:
    """``θ - (G - 1)(θ̄ - θ)``: the jackknife bias-corrected estimate."""
    v = np.asarray(leave_out, dtype=np.float64)
    return float(estimate - (v.size - 1) * (v.mean() - estimate))


@dataclass(frozen=True)
class Combined:
    """An estimate over K twins and the tokens, in bits.

    Attributes:
        bits: Mean over twins of the estimates.
        low: Lower end of the interval over twins and tokens (module docstring).
        high: Upper end.
        se: Combined standard error.
        token_se: Mean over twins of the token jackknife standard error.
        twin_sd: Standard deviation over twins (0 for one twin).
        dof: Degrees of freedom of the t quantile.
        per_twin: (K,) the estimates.
    """

    bits: float
    low: float
    high: float
    se: float
    token_se: float
    twin_sd: float
    dof: int
    per_twin: FloatArray

    def t_test(self) -> float:
        """Two-sided p of ``bits = 0`` against the t distribution on ``dof`` (Wald test)."""
        from scipy import stats

        if not math.isfinite(self.se) or self.se <= 0.0:
            return math.nan
        t = self.bits / self.se
        return float(2.0 * stats.t.sf(abs(t), self.dof))


def combine(estimates: Sequence[float], leave_outs: Sequence[FloatArray], level: float) -> Combined:
    """Combine K twins' estimates and leave-one-group-out values (module docstring).

    Args:
        estimates: (K,) ``θ_k``.
        leave_outs: K arrays (G,) of ``θ_{k,(g)}``; same G for every twin.
        level: Coverage of the interval.
    """
    from scipy import stats

    theta = np.asarray(estimates, dtype=np.float64)
    k = theta.size
    g = int(np.asarray(leave_outs[0]).size)
    token_se = float(np.mean([jackknife_se(v) for v in leave_outs]))
    pairs = zip(theta, leave_outs, strict=True)
    centre = float(np.mean([_jackknife_centre(t, v) for t, v in pairs]))
    twin_sd = float(theta.std(ddof=1)) if k > 1 else 0.0
    se = math.sqrt(token_se**2 + twin_sd**2 / k)
    dof = min(k, g) - 1 if k > 1 else g - 1
    half = float(stats.t.ppf((1 + level) / 2, dof)) * se
    return Combined(
        bits=float(theta.mean()),
        low=centre - half,
        high=centre + half,
        se=se,
        token_se=token_se,
        twin_sd=twin_sd,
        dof=dof,
        per_twin=theta,
    )


def combine_difference(
    a: Sequence[float],
    a_leave: Sequence[FloatArray],
    b: Sequence[float],
    b_leave: Sequence[FloatArray],
    level: float,
) -> Combined:
    """:func:`combine` of the paired differences ``a_k - b_k`` (same tokens, same groups)."""
    diffs = [float(x) - float(y) for x, y in zip(a, b, strict=True)]
    leaves = [
        np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
        for x, y in zip(a_leave, b_leave, strict=True)
    ]
    return combine(diffs, leaves, level)
