"""ARI against scikit-learn, its permutation null, average-linkage clusters, the sign-flip test."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from workbench.core.measures.clustering import (
    adjusted_rand_index,
    ari_permutation_test,
    average_linkage,
)
from workbench.core.measures.paired import paired_permutation_test


@pytest.mark.parametrize("seed", range(20))
def test_ari_equals_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    a = rng.integers(0, int(rng.integers(1, 6)), size=n)
    b = np.where(rng.random(n) < 0.5, a, rng.integers(0, 4, size=n))
    assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([0, 0, 0, 0], [1, 1, 1, 1]),  # one cluster each
        ([0, 1, 2, 3], [3, 2, 1, 0]),  # all singletons
        ([0, 0, 0, 0], [0, 1, 2, 3]),  # one of each kind
        (["x", "x", "y", "y"], [5, 5, 7, 7]),  # any label type, renamed
    ],
)
def test_ari_edge_cases_equal_scikit_learn(a: list[object], b: list[object]) -> None:
    assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b))


def test_permutation_p_value_equals_exact_enumeration() -> None:
    a = np.array([0, 0, 0, 1, 1, 1, 2])
    b = np.array([0, 0, 1, 1, 1, 2, 2])
    ari, p = ari_permutation_test(a, b, n_permutations=20000, seed=0)
    null = [adjusted_rand_index(a, b[list(q)]) for q in itertools.permutations(range(7))]
    exact = float(np.mean(np.array(null) >= ari - 1e-12))
    assert p == pytest.approx(exact, abs=0.01)  # Monte Carlo error ~ 0.003


def test_planted_null_rejects_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(1)
    ps = [ari_permutation_test(rng.integers(0, 3, 40), rng.integers(0, 3, 40),
                               n_permutations=199, seed=k)[1] for k in range(300)]  # fmt: skip
    rate = float(np.mean(np.array(ps) <= 0.05))
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 300)


def test_planted_agreement_is_detected() -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(0, 3, 40)
    b = np.where(rng.random(40) < 0.8, a, rng.integers(0, 3, 40))
    ari, p = ari_permutation_test(a, b, n_permutations=999)
    assert ari > 0.4 and p <= 0.002


def test_trivial_partitions_are_not_testable() -> None:
    ari, p = ari_permutation_test([1, 1, 1, 1], [0, 1, 0, 1])
    assert ari == pytest.approx(0.0) and math.isnan(p)


def test_average_linkage_recovers_planted_blocks() -> None:
    rng = np.random.default_rng(3)
    truth = np.repeat([0, 1, 2], [5, 7, 4])
    rng.shuffle(truth)
    d = np.where(truth[:, None] == truth[None, :], 0.01, 1.0) + rng.random((16, 16)) * 0.02
    clusters = average_linkage(d, height=0.5)
    assert clusters.n_clusters == 3
    assert adjusted_rand_index(clusters.labels, truth) == 1.0
    ordered = clusters.labels[clusters.order]  # each cluster contiguous in the leaf order
    assert sum(ordered[1:] != ordered[:-1]) == 2
    assert np.array_equal(average_linkage(d, k=3).labels, clusters.labels)
    assert clusters.into(2).max() == 2 and clusters.cut(10.0).max() == 1
    with pytest.raises(ValueError, match="exactly one"):
        average_linkage(d)


def test_sign_flip_p_value_equals_exact_enumeration() -> None:
    d = np.array([0.3, -0.1, 0.5, 0.2, 0.05, -0.2, 0.4, 0.1, 0.25, -0.05])
    mean, p = paired_permutation_test(d, n_permutations=40000, seed=0)
    signs = np.array(list(itertools.product([-1, 1], repeat=10)))
    exact = float(np.mean(signs @ d / 10 >= d.mean() - 1e-12))
    assert mean == pytest.approx(d.mean())
    assert p == pytest.approx(exact, abs=0.006)
    _, two = paired_permutation_test(d, n_permutations=40000, seed=0, alternative="two-sided")
    assert two == pytest.approx(float(np.mean(np.abs(signs @ d / 10) >= d.mean() - 1e-12)),
                                abs=0.006)  # fmt: skip


def test_sign_flip_planted_null_and_effect() -> None:
    rng = np.random.default_rng(4)
    ps = [paired_permutation_test(rng.normal(size=20), n_permutations=199, seed=k)[1]
          for k in range(300)]  # fmt: skip
    assert float(np.mean(np.array(ps) <= 0.05)) <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 300)
    _, p = paired_permutation_test(rng.normal(0.8, 1.0, size=20), n_permutations=999)
    assert p <= 0.01
    assert math.isnan(paired_permutation_test(np.zeros(5))[1])
