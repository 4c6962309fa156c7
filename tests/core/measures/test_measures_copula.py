"""Gaussian-copula MI and per-feature moments: invariances, closed forms, scipy peers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from workbench.core.measures.copula import (
    NormalScores,
    gaussian_copula_mutual_information,
    normal_scores,
)
from workbench.core.measures.marginal import StreamingMarginalMoments
from workbench.measures import StreamingJointCovariance, gaussian_mutual_information


def _correlated(n: int, d: int, rho: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y standard normal with corr(x_j, y_j) = rho: I = -(d/2) log2(1 - rho²) bits."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rho * x + math.sqrt(1 - rho**2) * rng.normal(size=(n, d))
    return x, y


def test_normal_scores_equal_scipy_ranks_through_the_normal_quantile() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(200, 3)).astype(float)  # many ties
    expected = stats.norm.ppf((stats.rankdata(x, axis=0) - 0.5) / 200)
    np.testing.assert_allclose(normal_scores(x).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_copula_mi_is_invariant_to_monotone_transforms_of_each_feature() -> None:
    x, y = _correlated(800, 3, 0.6, 1)
    base = gaussian_copula_mutual_information(x, y)
    warped_x = np.column_stack([np.exp(x[:, 0]), x[:, 1] ** 3, -np.tanh(x[:, 2])])
    warped_y = np.column_stack([np.arctan(y[:, 0]), 5 * y[:, 1] - 2, np.exp(-y[:, 2])])
    assert gaussian_copula_mutual_information(warped_x, warped_y) == pytest.approx(base, rel=1e-9)
    # The Gaussian MI of the raw values is not invariant: the transforms change it.
    assert abs(gaussian_mutual_information(warped_x, warped_y) - base) > 0.05


def test_streamed_normal_scores_are_invariant_too() -> None:
    x, _ = _correlated(600, 2, 0.5, 2)
    f = np.column_stack([np.exp(x[:, 0]), x[:, 1] ** 3])
    a, b = NormalScores(x[:300]), NormalScores(f[:300])
    np.testing.assert_allclose(a.transform(x[300:]).numpy(), b.transform(f[300:]).numpy())
    scores = a.transform(x).numpy()
    assert np.all(np.isfinite(scores))  # values beyond the calibration range stay finite


def test_copula_mi_equals_gaussian_mi_on_gaussian_data_within_the_interval() -> None:
    """Gaussian data: the copula changes nothing but the ranks' noise, so the copula MI lies
    inside the Gaussian MI's jackknife interval, and both cover the closed form."""
    d, rho, n = 3, 0.5, 6000
    x, y = _correlated(n, d, rho, 3)
    truth = -d / 2 * math.log2(1 - rho**2)
    gauss = StreamingJointCovariance(d, d, n_groups=10)
    copula = StreamingJointCovariance(d, d, n_groups=10)
    scores_x, scores_y = NormalScores(x[:2000]), NormalScores(y[:2000])
    for rows in np.array_split(np.arange(n), 6):
        gauss.update(x[rows], y[rows])
        copula.update(scores_x.transform(x[rows]), scores_y.transform(y[rows]))
    interval = gauss.gaussian_mutual_information_interval(0.95)
    assert interval.low <= truth <= interval.high
    assert interval.low <= copula.gaussian_mutual_information() <= interval.high
    assert interval.low <= gaussian_copula_mutual_information(x, y) <= interval.high


def test_copula_mi_of_independent_features_is_about_zero() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.exponential(size=(3000, 2)), rng.standard_t(3, size=(3000, 2))
    assert abs(gaussian_copula_mutual_information(x, y)) < 0.01


def test_normal_scores_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2 calibration rows"):
        NormalScores(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="3 features"):
        NormalScores(np.zeros((5, 3))).transform(np.zeros((5, 2)))


def test_marginal_moments_equal_scipy_over_unequal_batches() -> None:
    """Pébay's merge of batches (sizes 1 to 400, far from 0 mean) equals scipy on all rows."""
    rng = np.random.default_rng(5)
    x = np.column_stack(
        [rng.normal(size=1000), rng.laplace(size=1000), rng.uniform(size=1000) + 1e4]
    )
    acc = StreamingMarginalMoments(3)
    for rows in np.split(np.arange(1000), [1, 3, 400, 401, 750]):
        acc.update(torch.from_numpy(x[rows]))
    np.testing.assert_allclose(acc.excess_kurtosis(), stats.kurtosis(x, axis=0), rtol=1e-8)
    np.testing.assert_allclose(acc.skewness(), stats.skew(x, axis=0), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(acc.variance(), x.var(axis=0, ddof=1), rtol=1e-10)
    # Closed forms: Laplace 3, uniform -1.2 (excess kurtosis), to sampling error.
    assert acc.excess_kurtosis()[1] == pytest.approx(3.0, abs=1.0)
    assert acc.excess_kurtosis()[2] == pytest.approx(-1.2, abs=0.1)


def test_marginal_moments_of_a_constant_feature_are_nan() -> None:
    acc = StreamingMarginalMoments(2)
    acc.update(np.column_stack([np.ones(10), np.arange(10.0)]))
    assert math.isnan(acc.excess_kurtosis()[0]) and math.isfinite(acc.excess_kurtosis()[1])
    with pytest.raises(ValueError, match="at least 2 samples"):
        StreamingMarginalMoments(2).excess_kurtosis()
