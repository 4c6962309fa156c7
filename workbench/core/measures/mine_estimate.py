"""MINE's answer for one problem: the estimate over estimators, its interval and the bias at zero.

See :mod:`workbench.core.measures.mine` for the estimator; this module holds its result type
and the summary of the estimators' held-out bounds into one estimate with an interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["MineEstimate", "summarise"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MineEstimate:
    """MINE's answer for one problem, in bits.

    Attributes:
        estimate: Mean over estimators of the held-out DV bound.
        low: ``estimate - z·standard_error``, z the normal quantile of ``level``.
        high: ``estimate + z·standard_error``.
        level: The interval's nominal coverage, e.g. 0.95 (of the held-out bound's value, not
            of the true MI when the bound falls short of it; see the module).
        estimates: ``(estimator,)`` each estimator's held-out DV bound.
        null_estimates: ``(estimator,)`` the same for the null estimators (true MI 0).
        bias_at_zero: Mean of ``null_estimates``: the estimator's bias when X and Z are
            independent (about 0; negative values are the DV bound's downward pull).
        standard_error: ``√(s²/k + σ_eval²)``: s the standard deviation across the k
            estimators (optimisation noise, averaged), σ_eval the root-mean-square delta-method
            standard error of one held-out bound (the data's sampling noise, shared).
        sampling_error: σ_eval.
        n_train: Samples each estimator trained on.
        n_eval: Held-out samples each estimator was evaluated on.
        steps: Optimiser steps.
        diverged: Estimators whose bound became NaN/inf (excluded from the numbers).
    """

    estimate: float
    low: float
    high: float
    level: float
    estimates: FloatArray
    null_estimates: FloatArray
    bias_at_zero: float
    standard_error: float
    sampling_error: float
    n_train: int
    n_eval: int
    steps: int
    diverged: int

    def covers(self, value: float) -> bool:
        """True when ``value`` lies in ``[low, high]``."""
        return self.low <= value <= self.high


def summarise(
    real: FloatArray,
    null: FloatArray,
    sampling: FloatArray,
    level: float,
    n_train: int,
    n_eval: int,
    steps: int,
) -> MineEstimate:
    """One problem's :class:`MineEstimate` from its estimators' held-out bounds (bits).

    Args:
        real: ``(estimator,)`` held-out DV bounds, NaN where an estimator diverged.
        null: ``(estimator,)`` the null estimators' bounds (empty without them).
        sampling: ``(estimator,)`` each bound's delta-method standard error.
        level: Coverage of the interval, e.g. 0.95.
        n_train: Samples each estimator trained on.
        n_eval: Held-out samples each was evaluated on.
        steps: Optimiser steps.
    """
    from scipy.special import ndtri  # lazy: keeps importing the measures cheap

    finite = np.isfinite(real)
    ok = real[finite]
    ok_null = null[np.isfinite(null)]
    diverged = int(real.size - ok.size)
    if ok.size == 0:
        nan = math.nan
        return MineEstimate(
            nan, nan, nan, level, real, null, nan, nan, nan, n_train, n_eval, steps, diverged
        )
    # Optimisation noise averages over estimators; the data's sampling noise does not (they
    # share the samples), so it enters whole: SE² = s²/k + σ_eval².
    spread = float(ok.std(ddof=1)) if ok.size > 1 else 0.0
    eval_error = float(np.sqrt(np.mean(sampling[finite] ** 2)))
    se = math.sqrt(spread**2 / ok.size + eval_error**2)
    half = float(ndtri((1.0 + level) / 2.0)) * se
    return MineEstimate(
        estimate=float(ok.mean()),
        low=float(ok.mean()) - half,
        high=float(ok.mean()) + half,
        level=level,
        estimates=real,
        null_estimates=null,
        bias_at_zero=float(ok_null.mean()) if ok_null.size else math.nan,
        standard_error=se,
        sampling_error=eval_error,
        n_train=n_train,
        n_eval=n_eval,
        steps=steps,
        diverged=diverged,
    )
