"""Single-case (Crawford & Howell) and fixed-case (Welch-type) tests of core inference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from workbench.core.inference import fixed_case_test, single_case_power, single_case_test


def test_single_case_test_at_a_hand_computed_point() -> None:
    # Controls 1..4: mean 2.5, s = 1.29099; t = 2.5 / (s sqrt(5/4)) = sqrt(3), df 3.
    t, p, d = single_case_test(5.0, [1, 2, 3, 4])
    assert t == pytest.approx(math.sqrt(3))
    assert p == pytest.approx(2 * stats.t.sf(math.sqrt(3), 3))
    assert d == pytest.approx(2.5 / np.std([1, 2, 3, 4], ddof=1))
    assert all(math.isnan(v) for v in single_case_test(1.0, [2.0]))
    assert single_case_test(1.0, [2.0, 2.0])[1] == 0.0
    assert single_case_test(2.0, [2.0, 2.0])[1] == 1.0


def test_single_case_test_rejects_at_the_nominal_rate_under_its_null() -> None:
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(4000, 7))  # case + 6 controls from one normal
    p = np.array([single_case_test(r[0], r[1:])[1] for r in draws])
    rate = float((p <= 0.05).mean())
    assert rate == pytest.approx(0.05, abs=3 * math.sqrt(0.05 * 0.95 / 4000))


def test_single_case_power_matches_simulation() -> None:
    rng = np.random.default_rng(1)
    d, k = 2.0, 6
    draws = rng.normal(size=(4000, k + 1))
    draws[:, 0] += d
    p = np.array([single_case_test(r[0], r[1:])[1] for r in draws])
    assert single_case_power(d, k, 0.05) == pytest.approx(float((p <= 0.05).mean()), abs=0.03)
    assert single_case_power(0.0, k, 0.05) == pytest.approx(0.05, abs=1e-9)


def test_fixed_case_test_is_welch_on_the_case_units_and_the_cluster_means() -> None:
    case = np.array([1.0, 2.0, 3.0, 2.5, 1.5])
    means = np.array([3.0, 4.0, 3.5])
    t, p, df = fixed_case_test(case, means)
    peer = stats.ttest_ind(case, means, equal_var=False)
    assert t == pytest.approx(peer.statistic)
    assert p == pytest.approx(peer.pvalue)
    a, b = case.var(ddof=1) / 5, means.var(ddof=1) / 3
    assert df == pytest.approx((a + b) ** 2 / (a * a / 4 + b * b / 2))


def test_fixed_case_test_rejects_at_about_the_nominal_rate_under_its_null() -> None:
    """A fixed condition with the population mean: nets N(0, 1), tables N(τ, 1) nets with
    τ ~ N(0, 0.5²), 8 tables of 8 nets; Welch's approximation keeps the rate near α."""
    rng = np.random.default_rng(2)
    hits, runs = 0, 3000
    for _ in range(runs):
        case = rng.normal(size=12)
        tables = rng.normal(scale=0.5, size=(8, 1)) + rng.normal(size=(8, 8))
        hits += fixed_case_test(case, tables.mean(axis=1))[1] <= 0.05
    assert hits / runs == pytest.approx(0.05, abs=3 * math.sqrt(0.05 * 0.95 / runs) + 0.005)
