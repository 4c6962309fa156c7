"""Verdicts, Holm's correction, power and the batched permutation tests in workbench.core.inference.

Holm is checked against its definition written out by hand; the power formula against its
closed form and against a simulation; the permutation tests against SciPy's Spearman ρ, against
their nominal false-positive rate on planted nulls, and on planted effects.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from workbench.core.inference import (
    TestFamily,
    Verdict,
    cohens_d,
    decide,
    holm_adjust,
    nested_permutation_test,
    seeds_for_power,
    spearman_permutation_test,
)
from workbench.measures import two_sample_permutation_test


def _holm_by_definition(p: list[float], alpha: float) -> list[bool]:
    """Holm's step-down rejection rule, literally: reject p_(1..k) for the largest such k."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    reject = [False] * m
    for rank, i in enumerate(order):
        if p[i] > alpha / (m - rank):
            break
        reject[i] = True
    return reject


def test_holm_matches_the_step_down_rule_for_every_alpha() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.uniform(0, 0.2, size=int(rng.integers(1, 9))).tolist()
        adjusted = holm_adjust(p)
        for alpha in (0.01, 0.05, 0.1):
            assert [bool(a <= alpha) for a in adjusted] == _holm_by_definition(p, alpha)


def test_holm_known_values_and_nan_members() -> None:
    # m = 4 finite p-values: 0.01*4, max(0.04, 0.03*3), max(0.09, 0.04*2), 0.5*1.
    got = holm_adjust([0.01, 0.04, 0.03, math.nan, 0.5])
    np.testing.assert_allclose(got[[0, 1, 2, 4]], [0.04, 0.09, 0.09, 0.5])
    assert math.isnan(got[3])
    assert np.all(np.isnan(holm_adjust([math.nan, math.nan])))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm_adjust([1.5])


def test_cohens_d_closed_form() -> None:
    a, b = np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])
    assert cohens_d(a, b) == pytest.approx(-1.0)  # pooled SD 1, difference -1
    assert cohens_d([1.0, 1.0], [1.0, 1.0]) == 0.0
    assert cohens_d([2.0, 2.0], [1.0, 1.0]) == math.inf


def test_seeds_for_power_closed_form_and_simulation() -> None:
    # Cohen's table: d = 0.5, α = 0.05 two-sided, power 0.8 → 63 per group (normal approx.).
    assert seeds_for_power(0.5, 0.05, 0.8) == 63
    assert seeds_for_power(0.0, 0.05) == math.inf
    # Simulated power of a t test at the recommended n is close to the asked 80%.
    n = int(seeds_for_power(1.0, 0.05, 0.8))
    rng = np.random.default_rng(1)
    a = rng.normal(1.0, 1.0, size=(2000, n))
    b = rng.normal(0.0, 1.0, size=(2000, n))
    power = float(np.mean(stats.ttest_ind(a, b, axis=1).pvalue < 0.05))
    assert 0.72 < power < 0.9


def test_spearman_matches_scipy_and_detects_a_planted_monotone_effect() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=40)
    y = np.exp(x) + 0.3 * rng.normal(size=40)
    rho, p = spearman_permutation_test(x, y, n_permutations=999, seed=0)
    assert rho == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert p == pytest.approx(1 / 1000)


def test_spearman_planted_null_rejects_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(3)
    rejections = 0
    repeats = 200
    for k in range(repeats):
        x, y = rng.normal(size=20), rng.normal(size=20)
        _, p = spearman_permutation_test(x, y, n_permutations=199, seed=k)
        rejections += p <= 0.05
    # Binomial(200, 0.05): mean 10, sd ≈ 3.1; allow 4 sd.
    assert rejections <= 23


def test_spearman_constant_input_is_nan() -> None:
    rho, p = spearman_permutation_test(np.ones(5), np.arange(5.0))
    assert math.isnan(rho) and math.isnan(p)


def test_nested_test_treats_clusters_as_the_replicates() -> None:
    rng = np.random.default_rng(4)
    # Planted null at the cluster level: each cluster has its own offset (a random table), the
    # conditions do not differ. Pooling nets would call this significant; the nested test must not.
    false_pos = 0
    for k in range(100):
        values, groups = {}, {}
        for c in range(8):
            offset = rng.normal(0.0, 1.0)
            values[f"c{c}"] = offset + 0.05 * rng.normal(size=30)
            groups[f"c{c}"] = "A" if c < 4 else "B"
        _, p, _ = nested_permutation_test(values, groups, n_permutations=199, seed=k)
        false_pos += p <= 0.05
    assert false_pos <= 14  # Binomial(100, 0.05) + 4 sd
    # Planted effect: condition A is 3 cluster-SDs higher.
    values = {f"c{c}": (3.0 if c < 4 else 0.0) + rng.normal(size=10) * 0.1 for c in range(8)}
    groups = {f"c{c}": "A" if c < 4 else "B" for c in range(8)}
    d, p, means = nested_permutation_test(values, groups, n_permutations=999, seed=0)
    assert d == pytest.approx(
        np.mean([means[f"c{c}"] for c in range(4)]) - np.mean([means[f"c{c}"] for c in range(4, 8)])
    )
    # With 8 clusters split 4/4 there are C(8,4) = 70 labellings, 2 as extreme: p ≈ 2/70.
    assert p < 0.06
    # One cluster per condition: nothing to permute.
    _, p1, _ = nested_permutation_test({"a": [1.0], "b": [2.0]}, {"a": "A", "b": "B"})
    assert math.isnan(p1)


def test_decide_gives_each_verdict_word() -> None:
    fam = TestFamily("entropy difference per layer", alpha=0.05)
    fam.add("layer1", 0.001, +0.4)
    fam.add("layer2", 0.6, -0.1)
    v = decide("A stores less", fam)
    assert v.word == "supported" and "layer1" in v.reason and "Holm over 2 tests" in v.reason
    fam2 = TestFamily("x")
    fam2.add("layer1", 0.001, -0.4)
    assert decide("A stores less", fam2).word == "refuted"
    fam3 = TestFamily("x")
    fam3.add("layer1", 0.2, 0.4)
    assert decide("A stores less", fam3).word == "not established"
    fam4 = TestFamily("x")
    fam4.add("layer1", 0.001, 0.4)
    fam4.add("layer2", 0.001, -0.4)
    assert decide("c", fam4).word == "not established"
    v5 = decide("c", fam, testable=False, why_not="0 of 8 nets trained")
    assert v5.word == "not testable" and v5.reason == "0 of 8 nets trained"
    with pytest.raises(ValueError, match="verdict word"):
        Verdict("c", "maybe", "")  # type: ignore[arg-type]


def test_holm_family_keeps_the_family_wise_error_rate_on_planted_nulls() -> None:
    """Five two-sample tests of identical groups: P(any rejection) stays near or below α."""
    rng = np.random.default_rng(5)
    any_rejected = 0
    repeats = 100
    for k in range(repeats):
        fam = TestFamily("five layers")
        for layer, _ in itertools.product(range(5), [0]):
            a, b = rng.normal(size=12), rng.normal(size=12)
            t = two_sample_permutation_test(a, b, n_permutations=199, seed=k * 10 + layer)
            fam.add(f"layer{layer}", t.p_value, t.estimate)
        any_rejected += decide("c", fam).word != "not established"
    assert any_rejected <= 14  # ≤ α = 0.05 in expectation; Binomial(100, .05) + 4 sd
