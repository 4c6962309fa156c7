"""The delete-a-group jackknife of a streamed covariance, from its group moments alone.

Leaving group g out is the pairwise update run backwards (``_moments.remove``), so the
jackknife needs no second pass over the data: a statistic of the covariance is evaluated on
all samples and once per left-out group, and the G values are summarised by
:func:`~workbench.core.measures.resampling.jackknife_summary`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.measures._grouped import GroupedMoments
from workbench.core.measures._moments import Moments, remove
from workbench.core.measures.resampling import Interval, jackknife_summary

__all__ = [
    "CovarianceStatistic",
    "covariance_of",
    "jackknife",
    "jackknife_values",
    "require_groups",
]

#: ``statistic(covariance, n_samples) -> float``, covariance a (D, D) float64 tensor.
CovarianceStatistic = Callable[[torch.Tensor, int], float]


def covariance_of(moments: Moments, what: str) -> torch.Tensor:
    """(D, D) sample covariance ``M2 / (n - 1)``; ``what`` names it in the error."""
    if moments.n < 2:
        raise ValueError(f"{what} needs at least 2 samples; the accumulator has {moments.n}")
    return moments.m2 / (moments.n - 1)


def require_groups(moments: GroupedMoments) -> None:
    """Raise unless the accumulator keeps at least two jackknife groups."""
    if moments.n_groups < 2:
        raise ValueError(
            "the jackknife needs the accumulator built with n_groups >= 2 (e.g. n_groups=10)"
        )


def jackknife_values(
    moments: GroupedMoments, statistic: CovarianceStatistic
) -> tuple[float, npt.NDArray[np.float64]]:
    """``(θ, θ_(g))``: the statistic on all samples, and (G,) with each group left out."""
    require_groups(moments)
    total = moments.total()
    estimate = statistic(covariance_of(total, "the jackknife"), total.n)
    leave_out = np.empty(moments.n_groups)
    for g in range(moments.n_groups):
        rest = remove(total, moments.group(g))
        leave_out[g] = statistic(covariance_of(rest, "the jackknife"), rest.n)
    return estimate, leave_out


def jackknife(moments: GroupedMoments, statistic: CovarianceStatistic, level: float) -> Interval:
    """Delete-a-group jackknife interval of the statistic at nominal coverage ``level``."""
    estimate, leave_out = jackknife_values(moments, statistic)
    return jackknife_summary(estimate, leave_out, level)
