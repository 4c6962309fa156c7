"""KSG k-nearest-neighbour mutual information: peer, closed form, invariances, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.feature_selection import mutual_info_regression

from workbench.measures import ksg_mutual_information


def gaussian_pair(n: int, rho: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=n)
    return z[:, 0], z[:, 1]


@pytest.mark.parametrize(("rho", "k"), [(0.8, 3), (0.3, 5), (0.95, 1)])
def test_agrees_with_scikit_learn(rho: float, k: int) -> None:
    # sklearn's mutual_info_regression implements the same estimator (in nats, standardised,
    # with 1e-10 jitter that only matters for ties).
    x, y = gaussian_pair(1500, rho, seed=1)
    peer = mutual_info_regression(x[:, None], y, n_neighbors=k, random_state=0)[0]
    assert ksg_mutual_information(x, y, k=k) == pytest.approx(peer / math.log(2), abs=1e-9)


def test_close_to_the_gaussian_closed_form() -> None:
    rho = 0.8
    x, y = gaussian_pair(4000, rho, seed=2)
    truth = -0.5 * math.log2(1 - rho**2)
    assert ksg_mutual_information(x, y) == pytest.approx(truth, abs=0.05)


def test_multivariate_gaussian_closed_form() -> None:
    rng = np.random.default_rng(3)
    rho, d, n = 0.6, 2, 4000
    x = rng.normal(size=(n, d))
    y = rho * x + math.sqrt(1 - rho**2) * rng.normal(size=(n, d))
    truth = -d / 2 * math.log2(1 - rho**2)
    assert ksg_mutual_information(x, y) == pytest.approx(truth, abs=0.08)


def test_independent_data_gives_about_zero() -> None:
    rng = np.random.default_rng(4)
    assert abs(ksg_mutual_information(rng.normal(size=3000), rng.normal(size=3000))) < 0.03


def test_symmetric_order_free_and_scale_invariant() -> None:
    x, y = gaussian_pair(800, 0.7, seed=5)
    base = ksg_mutual_information(x, y)
    order = np.random.default_rng(6).permutation(800)
    assert ksg_mutual_information(y, x) == pytest.approx(base, abs=1e-12)
    assert ksg_mutual_information(x[order], y[order]) == pytest.approx(base, abs=1e-12)
    assert ksg_mutual_information(3.0 * x + 1.0, 0.01 * y) == pytest.approx(base, abs=1e-9)
    assert ksg_mutual_information(torch.from_numpy(x), y) == pytest.approx(base, abs=1e-12)


@pytest.mark.parametrize(
    ("x", "y", "k", "match"),
    [
        (np.arange(10.0), np.arange(9.0), 3, "10 samples but y has 9"),
        (np.arange(10.0), np.arange(10.0), 0, "k must be"),
        (np.arange(10.0), np.arange(10.0), 10, "k must be"),
        (np.ones(10), np.arange(10.0), 3, "constant feature"),
        (np.repeat(np.arange(5.0), 4), np.repeat(np.arange(5.0), 4), 3, "duplicates"),
        (np.array([np.nan] * 10), np.arange(10.0), 3, "NaN"),
    ],
)
def test_bad_input_raises(x: np.ndarray, y: np.ndarray, k: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ksg_mutual_information(x, y, k=k)
