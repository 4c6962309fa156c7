"""Permutation tests, bootstrap and jackknife intervals: closed forms for simple statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench.measures import (
    bootstrap_interval,
    information_ratio,
    jackknife_interval,
    mutual_information,
    permutation_test,
)


def mean(a: np.ndarray) -> float:
    return float(np.mean(a))


def test_leave_one_out_jackknife_se_of_the_mean_is_the_standard_error() -> None:
    # Closed form: jackknife SE of the sample mean equals s / sqrt(n) exactly.
    x = np.random.default_rng(0).normal(size=50)
    interval = jackknife_interval(mean, x)
    assert interval.standard_error == pytest.approx(x.std(ddof=1) / math.sqrt(50), rel=1e-10)
    assert interval.bias == pytest.approx(0.0, abs=1e-12)


def test_jackknife_bias_correction_turns_the_plugin_variance_into_the_unbiased_one() -> None:
    x = np.random.default_rng(1).normal(size=30)
    interval = jackknife_interval(lambda a: float(np.var(a)), x)
    assert interval.estimate - interval.bias == pytest.approx(np.var(x, ddof=1), rel=1e-10)


def test_bootstrap_se_of_the_mean_is_close_to_the_standard_error() -> None:
    x = np.random.default_rng(2).normal(size=400)
    interval = bootstrap_interval(mean, x, n_resamples=2000, seed=1)
    assert interval.standard_error == pytest.approx(x.std() / math.sqrt(400), rel=0.1)
    assert interval.low < x.mean() < interval.high
    assert interval.high - interval.low == pytest.approx(2 * 1.96 / 20, rel=0.1)


def test_permutation_p_value_formula_and_null_values() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 4, size=64)
    b = (a + (rng.random(64) < 0.2)) % 4  # strongly dependent
    test = permutation_test(mutual_information, a, b, n_permutations=99, seed=5)
    null = np.array(test.null)
    assert test.p_value == pytest.approx((1 + np.sum(null >= test.estimate)) / 100)
    assert test.p_value == pytest.approx(0.01)
    assert test.null_mean == pytest.approx(null.mean())
    # Each null value is the statistic of a with a shuffle of b: same multiset of labels.
    assert np.all(null <= mutual_information(a, a) + 1e-12)


def test_permutation_test_on_independent_codes_is_not_significant() -> None:
    a = np.arange(64) % 4
    b = (np.arange(64) // 4) % 4  # exactly independent on these samples
    test = permutation_test(information_ratio, a, b, n_permutations=50, seed=0)
    assert test.estimate == pytest.approx(0.0, abs=1e-12)
    assert test.p_value == 1.0


def test_same_seed_same_result_and_torch_inputs_stay_torch() -> None:
    x = torch.arange(20, dtype=torch.float64)
    seen: list[type] = []

    def statistic(a: torch.Tensor) -> float:
        seen.append(type(a))
        return float(a.mean())

    first = bootstrap_interval(statistic, x, n_resamples=10, seed=3)
    second = bootstrap_interval(statistic, x, n_resamples=10, seed=3)
    assert first == second
    assert set(seen) == {torch.Tensor}


def test_grouped_jackknife_groups_are_round_robin() -> None:
    x = np.arange(10.0)
    interval = jackknife_interval(mean, x, n_groups=2)
    # Leaving out evens gives mean 5, leaving out odds gives mean 4.
    assert interval.standard_error == pytest.approx(math.sqrt(0.5 * (0.25 + 0.25)))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: jackknife_interval(mean, np.zeros(5), n_groups=6), "exceeds the number"),
        (lambda: jackknife_interval(mean, np.zeros(5), level=1.5), "level must be"),
        (lambda: bootstrap_interval(mean, np.zeros(5), n_resamples=1), "n_resamples"),
        (lambda: permutation_test(mutual_information, np.zeros(5), np.zeros(4)), "same number"),
        (lambda: permutation_test(mutual_information, [1, 2], [1, 2]), "numpy array"),
    ],
)
def test_bad_input_raises(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()
