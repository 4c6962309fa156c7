"""Batched network similarity over many networks, and the two-sample permutation test."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import workbench.core.measures.network_similarity as network_similarity
from workbench.measures import (
    PermutationTest,
    information_ratio_matrix,
    layer_ratio_blocks,
    normalized_similarity,
    normalized_similarity_from_blocks,
    normalized_similarity_matrix,
    similarity,
    similarity_from_blocks,
    similarity_matrix,
    two_sample_permutation_test,
)

# --- batched similarity --------------------------------------------------------------------------

# Networks of 1..4 layers (ragged) on n shared samples, each layer a random partition.
ragged_networks = st.integers(2, 10).flatmap(
    lambda n: st.lists(
        st.lists(st.lists(st.integers(0, 3), min_size=n, max_size=n), min_size=1, max_size=4),
        min_size=1,
        max_size=5,
    )
)


def _as_arrays(nets: list[list[list[int]]]) -> list[list[np.ndarray]]:
    return [[np.asarray(layer, dtype=np.int64) for layer in net] for net in nets]


@settings(max_examples=60, deadline=None)
@given(ragged_networks)
def test_batched_matrices_equal_the_pairwise_measures(raw: list[list[list[int]]]) -> None:
    nets = _as_arrays(raw)
    sim, nsim = similarity_matrix(nets), normalized_similarity_matrix(nets)
    assert sim.shape == nsim.shape == (len(nets), len(nets))
    for s, t in itertools.product(range(len(nets)), repeat=2):
        assert sim[s, t] == pytest.approx(similarity(nets[s], nets[t]), abs=1e-12)
        assert nsim[s, t] == pytest.approx(normalized_similarity(nets[s], nets[t]), abs=1e-12)
    np.testing.assert_allclose(np.diag(nsim), 1.0, atol=1e-12)
    np.testing.assert_allclose(sim, sim.T, atol=1e-12)
    np.testing.assert_allclose(nsim, nsim.T, atol=1e-12)


def test_array_input_and_cross_matrix_equal_the_pairwise_measures() -> None:
    rng = np.random.default_rng(0)
    codes_a = rng.integers(0, 4, size=(5, 3, 24))
    codes_b = rng.integers(0, 3, size=(4, 2, 24))
    sim, nsim = similarity_matrix(codes_a), normalized_similarity_matrix(codes_a)
    cross = similarity_matrix(codes_a, codes_b)
    ncross = normalized_similarity_matrix(codes_a, codes_b)
    assert sim.shape == (5, 5) and cross.shape == ncross.shape == (5, 4)
    np.testing.assert_allclose(np.diag(nsim), 1.0, atol=1e-12)
    for s, t in itertools.product(range(5), repeat=2):
        assert sim[s, t] == pytest.approx(similarity(codes_a[s], codes_a[t]), abs=1e-12)
        assert nsim[s, t] == pytest.approx(normalized_similarity(codes_a[s], codes_a[t]), abs=1e-12)
    for s, t in itertools.product(range(5), range(4)):
        assert cross[s, t] == pytest.approx(similarity(codes_a[s], codes_b[t]), abs=1e-12)
        assert ncross[s, t] == pytest.approx(
            normalized_similarity(codes_a[s], codes_b[t]), abs=1e-12
        )
    # Torch input gives the same numbers as numpy.
    np.testing.assert_allclose(similarity_matrix(torch.from_numpy(codes_a)), sim, atol=1e-12)


def test_relabelled_network_is_identical_under_normalized_similarity() -> None:
    base = np.random.default_rng(1).integers(0, 5, size=(3, 16))
    relabelled = (base * 7 + 3) % 11  # a bijection of the labels 0..4 in every layer
    nsim = normalized_similarity_matrix(np.stack([base, relabelled]))
    np.testing.assert_allclose(nsim, 1.0, atol=1e-12)


def test_bad_network_codes_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="same inputs"):
        similarity_matrix([[np.zeros(8, np.int64)], [np.zeros(7, np.int64)]])
    with pytest.raises(ValueError, match="same inputs"):
        normalized_similarity_matrix(np.zeros((2, 2, 8), np.int64), np.zeros((2, 2, 9), np.int64))
    with pytest.raises(ValueError, match="no networks"):
        similarity_matrix([])
    with pytest.raises(ValueError, match="no layers"):
        similarity_matrix([[np.zeros(8, np.int64)], []])
    with pytest.raises(ValueError, match=r"\(n_nets, n_layers, n_samples\)"):
        similarity_matrix(np.zeros((2, 8), np.int64))
    with pytest.raises(ValueError, match="integer codes"):
        similarity_matrix(np.zeros((2, 2, 8)))


@pytest.mark.parametrize("cross", [False, True])
def test_ratio_blocks_give_every_measure_from_one_ir_call(
    monkeypatch: pytest.MonkeyPatch, cross: bool
) -> None:
    rng = np.random.default_rng(9)
    codes = rng.integers(0, 5, size=(6, 3, 20))
    other = rng.integers(0, 3, size=(4, 2, 20)) if cross else None
    calls: list[int] = []

    def counted(*args: object) -> np.ndarray:
        calls.append(1)
        return information_ratio_matrix(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(network_similarity, "information_ratio_matrix", counted)
    blocks = layer_ratio_blocks(codes, other)
    assert len(calls) == 1
    monkeypatch.undo()
    b = codes if other is None else other
    assert blocks.shape == (6, 3, b.shape[0], b.shape[1])
    np.testing.assert_allclose(similarity_from_blocks(blocks), similarity_matrix(codes, other))
    np.testing.assert_allclose(
        normalized_similarity_from_blocks(blocks), normalized_similarity_matrix(codes, other)
    )
    # The seed x seed IR of a layer is a slice of the blocks.
    for i in range(min(3, b.shape[1])):
        np.testing.assert_allclose(
            blocks[:, i, :, i], information_ratio_matrix(codes[:, i], b[:, i]), atol=1e-15
        )


def test_ratio_blocks_reject_other_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(n_nets, n_layers, n_samples\)"):
        layer_ratio_blocks(np.zeros((3, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="20 samples but codes_b has 10"):
        layer_ratio_blocks(np.zeros((2, 2, 20), int), np.zeros((2, 2, 10), int))


# --- two-sample permutation test -----------------------------------------------------------------


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _abs_mean_difference(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.abs(_mean_difference(x, y, axis))


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_p_value_agrees_with_scipy_within_monte_carlo_error(alternative: str) -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.4, 1.0, size=12), rng.normal(0.0, 1.0, size=15)
    n = 20_000
    ours = two_sample_permutation_test(a, b, n_permutations=n, seed=3, alternative=alternative)
    # scipy's two-sided p doubles the smaller tail; ours counts |D_k| >= |D|, which is scipy's
    # one-sided test of the statistic |D|.
    statistic, scipy_alt = (
        (_abs_mean_difference, "greater")
        if alternative == "two-sided"
        else (_mean_difference, alternative)
    )
    peer = stats.permutation_test(
        (a, b),
        statistic,
        permutation_type="independent",
        vectorized=True,
        n_resamples=n,
        alternative=scipy_alt,
        rng=np.random.default_rng(4),
    )
    p = float(peer.pvalue)
    # Two independent Monte-Carlo estimates: the difference has sd sqrt(2 p (1-p) / n).
    tolerance = 5 * math.sqrt(2 * p * (1 - p) / n) + 2 / n
    assert ours.p_value == pytest.approx(p, abs=tolerance)
    assert 0.01 < ours.p_value < 0.99  # not a degenerate case where any p would agree
    assert ours.estimate == pytest.approx(a.mean() - b.mean(), abs=1e-12)
    assert isinstance(ours, PermutationTest) and ours.n_permutations == n == len(ours.null)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_p_value_matches_exact_enumeration_of_all_splits(alternative: str) -> None:
    a = np.array([0.0, 1.0, 2.0, 3.0])
    b = np.array([2.0, 3.5, 4.0, 5.0])
    pooled = np.concatenate([a, b])
    observed = a.mean() - b.mean()
    null = np.array(
        [
            pooled[list(s)].mean() - np.delete(pooled, s).mean()
            for s in itertools.combinations(range(8), 4)
        ]
    )  # all 70 splits, equally likely under the null
    extreme = {
        "two-sided": np.abs(null) >= abs(observed) - 1e-12,
        "greater": null >= observed - 1e-12,
        "less": null <= observed + 1e-12,
    }[alternative]
    exact = float(extreme.mean())
    n = 40_000
    test = two_sample_permutation_test(a, b, n_permutations=n, seed=5, alternative=alternative)
    assert test.p_value == pytest.approx(exact, abs=5 * math.sqrt(exact * (1 - exact) / n) + 2 / n)
    # The null of D_k has mean 0 exactly over all splits.
    assert test.null_mean == pytest.approx(0.0, abs=0.03)


def test_extreme_and_equal_groups() -> None:
    low, high = np.zeros(30), np.ones(30)
    # No other split reaches |D| = 1, so only the observed labelling counts: p = 1 / (1 + n).
    assert two_sample_permutation_test(low, high, n_permutations=999).p_value == pytest.approx(
        1 / 1000
    )
    assert (
        two_sample_permutation_test(low, high, n_permutations=999, alternative="greater").p_value
        == 1.0
    )
    same = two_sample_permutation_test(low, low, n_permutations=999)
    assert same.p_value == 1.0 and same.estimate == 0.0
    # Equal means: D = 0 (up to rounding in the sums), so every split is as extreme.
    x = np.random.default_rng(6).normal(size=20)
    assert two_sample_permutation_test(x, x[::-1].copy(), n_permutations=500).p_value == 1.0
    spread = two_sample_permutation_test(
        np.array([-1.0, 1.0, -2.0, 2.0]), np.array([0.5, -0.5, 3.0, -3.0]), n_permutations=500
    )
    assert spread.estimate == pytest.approx(0.0, abs=1e-15) and spread.p_value == 1.0


def test_seeded_and_device_free() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=9), rng.normal(size=11)
    first = two_sample_permutation_test(a, b, n_permutations=300, seed=1)
    assert first == two_sample_permutation_test(a, b, n_permutations=300, seed=1)
    as_torch = two_sample_permutation_test(
        torch.from_numpy(a), torch.from_numpy(b), n_permutations=300, seed=1
    )
    assert as_torch.p_value == first.p_value
    np.testing.assert_allclose(as_torch.null, first.null, atol=1e-12)


def test_bad_groups_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="group b is empty"):
        two_sample_permutation_test(np.ones(3), np.array([]))
    with pytest.raises(ValueError, match="group a is empty"):
        two_sample_permutation_test(np.array([]), np.ones(3))
    with pytest.raises(ValueError, match=r"\(n_a,\)"):
        two_sample_permutation_test(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        two_sample_permutation_test(np.array([1.0, np.nan]), np.ones(3))
    with pytest.raises(ValueError, match="alternative"):
        two_sample_permutation_test(np.ones(3), np.ones(3), alternative="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_permutations"):
        two_sample_permutation_test(np.ones(3), np.ones(3), n_permutations=0)
