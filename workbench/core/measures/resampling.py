"""Permutation nulls and resampling intervals for any measure of paired samples.

A *statistic* is any function of one or more arrays that share a sample axis (axis 0) and
returns a float, e.g. ``mutual_information`` or ``lambda x, y: linear_cka(x, y)``. Arrays are
resampled along axis 0 and handed to the statistic in the type and on the device they came in.
For Gaussian MI over streams, :class:`~workbench.core.measures.streaming.StreamingJointCovariance`
gives the same tests from accumulated moments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

__all__ = [
    "Interval",
    "PermutationTest",
    "bootstrap_interval",
    "jackknife_interval",
    "jackknife_summary",
    "permutation_summary",
    "permutation_test",
]

Statistic = Callable[..., float]


@dataclass(frozen=True)
class Interval:
    """A confidence interval for a statistic.

    Attributes:
        estimate: The statistic on all samples.
        low: Lower end of the interval.
        high: Upper end of the interval.
        level: Nominal coverage, e.g. 0.95.
        standard_error: Resampling estimate of the statistic's standard error.
        bias: Resampling estimate of the statistic's bias (jackknife: ``(G - 1)(mean_g - θ)``;
            bootstrap: ``mean_b - θ``).
        method: ``"jackknife"`` or ``"bootstrap-percentile"``.
        n_resamples: Number of jackknife groups or bootstrap resamples.
    """

    estimate: float
    low: float
    high: float
    level: float
    standard_error: float
    bias: float
    method: str
    n_resamples: int


@dataclass(frozen=True)
class PermutationTest:
    """A permutation test: the observed statistic, its null distribution and a p-value.

    :func:`permutation_test` is a one-sided test of dependence (large statistic = dependent);
    :func:`~workbench.core.measures.two_sample.two_sample_permutation_test` tests a difference
    in means with the alternative it is given.

    Attributes:
        estimate: The statistic on the samples as given.
        p_value: ``(1 + k) / (1 + n_permutations)`` with k the number of null statistics at least
            as extreme as the estimate (``#{null >= estimate}`` for :func:`permutation_test`),
            which is never 0 and is a valid p-value (Phipson & Smyth, 2010).
        null_mean: Mean of the statistic over permutations.
        null_std: Standard deviation of the statistic over permutations.
        null_quantiles: The 5%, 50% and 95% quantiles of the null statistic.
        n_permutations: Number of permutations.
        null: The null statistics themselves, in the order they were drawn.
    """

    estimate: float
    p_value: float
    null_mean: float
    null_std: float
    null_quantiles: tuple[float, float, float]
    n_permutations: int
    null: tuple[float, ...]


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be strictly between 0 and 1 (e.g. 0.95); got {level}")


def _check_count(value: int, name: str, minimum: int) -> None:
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")


def _n_samples(samples: tuple[object, ...]) -> int:
    if not samples:
        raise ValueError("pass at least one array of samples")
    lengths = []
    for i, s in enumerate(samples):
        if not isinstance(s, np.ndarray | torch.Tensor) or s.ndim < 1:
            raise ValueError(
                f"samples[{i}] must be a numpy array or torch tensor with a sample axis 0"
            )
        lengths.append(int(s.shape[0]))
    if len(set(lengths)) > 1:
        raise ValueError(f"all arrays must have the same number of samples; got {lengths}")
    return lengths[0]


def _take(a: object, index: npt.NDArray[np.int64]) -> object:
    """Rows ``index`` of ``a``, keeping numpy as numpy and tensors on their device."""
    if isinstance(a, torch.Tensor):
        return a[torch.from_numpy(index).to(a.device)]
    assert isinstance(a, np.ndarray)
    return a[index]


def permutation_summary(estimate: float, null: npt.NDArray[np.float64]) -> PermutationTest:
    """Summarise null statistics as a :class:`PermutationTest` (one-sided, greater)."""
    null = np.asarray(null, dtype=np.float64)
    exceed = int(np.count_nonzero(null >= estimate))
    q05, q50, q95 = np.quantile(null, [0.05, 0.5, 0.95])
    return PermutationTest(
        estimate=float(estimate),
        p_value=(1 + exceed) / (1 + null.size),
        null_mean=float(null.mean()),
        null_std=float(null.std(ddof=1)) if null.size > 1 else 0.0,
        null_quantiles=(float(q05), float(q50), float(q95)),
        n_permutations=int(null.size),
        null=tuple(float(v) for v in null),
    )


def permutation_test(
    statistic: Statistic,
    x: object,
    y: object,
    *,
    n_permutations: int = 1000,
    seed: int = 0,
) -> PermutationTest:
    """Permutation null for a dependence statistic: shuffle the sample order of y.

    Shuffling y's rows keeps both marginals and destroys the pairing, so the statistic over
    permutations samples its distribution under independence. The p-value is one-sided (large
    values mean dependence). Each permutation is drawn from a ``torch.Generator`` seeded with
    ``seed``; global random state is never touched.

    Args:
        statistic: ``statistic(x, y) -> float``, e.g. ``mutual_information``.
        x: (n_samples, ...) samples, numpy or torch.
        y: (n_samples, ...) samples paired with x.
        n_permutations: Number of shuffles (>= 1).
        seed: Seed for this test's generator.

    Returns:
        A :class:`PermutationTest`.

    Raises:
        ValueError: If x and y have different sample counts or n_permutations < 1.
    """
    _check_count(n_permutations, "n_permutations", 1)
    n = _n_samples((x, y))
    generator = torch.Generator().manual_seed(seed)
    estimate = float(statistic(x, y))
    null = np.empty(n_permutations)
    for k in range(n_permutations):
        order = torch.randperm(n, generator=generator).numpy()
        null[k] = statistic(x, _take(y, order))
    return permutation_summary(estimate, null)


def bootstrap_interval(
    statistic: Statistic,
    *samples: object,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval: resample rows with replacement (Efron, 1979).

    The interval is the ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of the statistic over
    resamples; paired arrays are resampled with the same rows. Beware: information estimates
    are biased, and duplicated rows in a resample add spurious information (a resample's
    plug-in MI is biased up), so prefer :func:`jackknife_interval` for them.

    Args:
        statistic: ``statistic(*samples) -> float``.
        *samples: Arrays sharing the sample axis 0.
        n_resamples: Number of bootstrap resamples (>= 2).
        level: Nominal coverage in (0, 1).
        seed: Seed for this interval's ``torch.Generator``.

    Returns:
        An :class:`Interval` with ``method == "bootstrap-percentile"``.

    Raises:
        ValueError: On mismatched sample counts or invalid counts/level.
    """
    _check_count(n_resamples, "n_resamples", 2)
    _check_level(level)
    n = _n_samples(samples)
    generator = torch.Generator().manual_seed(seed)
    estimate = float(statistic(*samples))
    values = np.empty(n_resamples)
    for k in range(n_resamples):
        rows = torch.randint(0, n, (n,), generator=generator).numpy()
        values[k] = statistic(*(_take(s, rows) for s in samples))
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return Interval(
        estimate=estimate,
        low=float(low),
        high=float(high),
        level=level,
        standard_error=float(values.std(ddof=1)),
        bias=float(values.mean() - estimate),
        method="bootstrap-percentile",
        n_resamples=n_resamples,
    )


def jackknife_summary(
    estimate: float, leave_out: npt.NDArray[np.float64], level: float = 0.95
) -> Interval:
    """Jackknife interval from the statistic with each group left out in turn.

    With G groups, θ the full estimate and θ_(g) the estimate without group g (Quenouille, 1956;
    Tukey, 1958)::

        θ̄ = mean_g θ_(g),   SE = sqrt((G - 1)/G * sum_g (θ_(g) - θ̄)²),   bias = (G - 1)(θ̄ - θ)

    The interval is ``(θ - bias) ± t_{G-1, (1+level)/2} SE``, centred on the bias-corrected
    estimate.

    Args:
        estimate: θ, the statistic on all samples.
        leave_out: (G,) the statistic with each group left out.
        level: Nominal coverage in (0, 1).

    Returns:
        An :class:`Interval` with ``method == "jackknife"``.
    """
    _check_level(level)
    values = np.asarray(leave_out, dtype=np.float64)
    g = values.size
    if g < 2:
        raise ValueError(f"the jackknife needs at least 2 groups; got {g}")
    mean = values.mean()
    se = float(np.sqrt((g - 1) / g * np.sum((values - mean) ** 2)))
    bias = float((g - 1) * (mean - estimate))
    from scipy import stats  # lazily: scipy.stats costs ~1.3 s to import

    half = float(stats.t.ppf((1 + level) / 2, df=g - 1)) * se
    centre = estimate - bias
    return Interval(
        estimate=float(estimate),
        low=centre - half,
        high=centre + half,
        level=level,
        standard_error=se,
        bias=bias,
        method="jackknife",
        n_resamples=g,
    )


def jackknife_interval(
    statistic: Statistic,
    *samples: object,
    n_groups: int | None = None,
    level: float = 0.95,
) -> Interval:
    """Jackknife (leave-one-out or delete-a-group) interval for a statistic.

    Group g holds the samples whose index i satisfies ``i mod G == g`` (round robin, the same
    grouping the streaming accumulators use), so groups differ in size by at most one. See
    :func:`jackknife_summary` for the formulas. Unlike the bootstrap it never duplicates
    samples, which suits information estimates.

    Args:
        statistic: ``statistic(*samples) -> float``.
        *samples: Arrays sharing the sample axis 0.
        n_groups: G; ``None`` leaves out one sample at a time (G = n_samples).
        level: Nominal coverage in (0, 1).

    Returns:
        An :class:`Interval` with ``method == "jackknife"``.

    Raises:
        ValueError: On mismatched sample counts, fewer than 2 groups, or more groups than samples.
    """
    n = _n_samples(samples)
    groups = n if n_groups is None else n_groups
    _check_count(groups, "n_groups", 2)
    if groups > n:
        raise ValueError(f"n_groups={groups} exceeds the number of samples ({n})")
    estimate = float(statistic(*samples))
    index = np.arange(n)
    leave_out = np.empty(groups)
    for g in range(groups):
        keep = index[index % groups != g]
        leave_out[g] = statistic(*(_take(s, keep) for s in samples))
    return jackknife_summary(estimate, leave_out, level)
