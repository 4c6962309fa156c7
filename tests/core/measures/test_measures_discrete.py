"""Discrete entropy, MI and the information ratio: closed forms, peers and invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import mutual_info_score

import workbench.core.measures.discrete as discrete_module
from workbench.measures import (
    canonical_codes,
    discretize,
    entropy,
    information_ratio,
    information_ratio_matrix,
    joint_entropy,
    mutual_information,
    mutual_information_matrix,
)

FIVE_BITS = np.array([[(i >> k) & 1 for k in range(5)] for i in range(32)], dtype=np.float64)
IDENTITY = discretize(FIVE_BITS)
FIRST_BIT = discretize(FIVE_BITS[:, :1])

codes_strategy = st.integers(2, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 5), min_size=n, max_size=n),
        st.lists(st.integers(0, 5), min_size=n, max_size=n),
    )
)


def test_five_bit_closed_forms() -> None:
    assert entropy(IDENTITY) == pytest.approx(5.0, abs=1e-12)
    assert entropy(FIRST_BIT) == pytest.approx(1.0, abs=1e-12)
    assert mutual_information(IDENTITY, FIRST_BIT) == pytest.approx(1.0, abs=1e-12)
    assert joint_entropy(IDENTITY, FIRST_BIT) == pytest.approx(5.0, abs=1e-12)
    assert information_ratio(IDENTITY, FIRST_BIT) == pytest.approx(0.2, abs=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3, 7, 16])
def test_uniform_over_k_labels_has_log2_k_bits(k: int) -> None:
    codes = np.repeat(np.arange(k), 5)
    assert entropy(codes) == pytest.approx(math.log2(k), abs=1e-12)


def test_independent_bits_have_zero_mi_and_ratio() -> None:
    a, b = np.arange(32) % 2, (np.arange(32) // 2) % 2
    assert mutual_information(a, b) == pytest.approx(0.0, abs=1e-12)
    assert information_ratio(a, b) == pytest.approx(0.0, abs=1e-12)
    assert joint_entropy(a, b) == pytest.approx(2.0, abs=1e-12)


@settings(max_examples=60, deadline=None, database=None)
@given(codes_strategy)
def test_agrees_with_scipy_and_sklearn(pair: tuple[list[int], list[int]]) -> None:
    a, b = np.array(pair[0]), np.array(pair[1])
    h_a = scipy_entropy(np.unique(a, return_counts=True)[1], base=2)
    h_b = scipy_entropy(np.unique(b, return_counts=True)[1], base=2)
    mi = mutual_info_score(a, b) / math.log(2)  # sklearn works in nats
    assert entropy(a) == pytest.approx(h_a, abs=1e-12)
    assert mutual_information(a, b) == pytest.approx(mi, abs=1e-12)
    h_joint = h_a + h_b - mi
    assert joint_entropy(a, b) == pytest.approx(h_joint, abs=1e-12)
    expected = 1.0 if h_joint < 1e-12 else mi / h_joint
    assert information_ratio(a, b) == pytest.approx(expected, abs=1e-12)


@settings(max_examples=60, deadline=None, database=None)
@given(codes_strategy, st.randoms(use_true_random=False))
def test_ratio_is_invariant_to_relabelling(pair: tuple[list[int], list[int]], rnd) -> None:  # type: ignore[no-untyped-def]
    a, b = np.array(pair[0]), np.array(pair[1])
    labels = list(range(6))
    rnd.shuffle(labels)
    relabelled = np.array(labels)[a] * 10 - 3  # any injective map of the labels
    assert information_ratio(relabelled, b) == pytest.approx(information_ratio(a, b), abs=1e-12)


@settings(max_examples=60, deadline=None, database=None)
@given(codes_strategy)
def test_ratio_is_one_exactly_for_bijections(pair: tuple[list[int], list[int]]) -> None:
    a, b = np.array(pair[0]), np.array(pair[1])
    assert information_ratio(a, 7 * a + 1) == pytest.approx(1.0, abs=1e-12)
    same_partition = np.array_equal(canonical_codes(a), canonical_codes(b))
    assert (information_ratio(a, b) > 1 - 1e-9) == same_partition


@settings(max_examples=40, deadline=None, database=None)
@given(
    st.integers(2, 30).flatmap(
        lambda n: st.lists(
            st.lists(st.integers(0, 3), min_size=n, max_size=n), min_size=3, max_size=3
        )
    )
)
def test_one_minus_ratio_is_a_metric(rows: list[list[int]]) -> None:
    # 1 - IR is a metric on partitions (Kraskov et al. 2005): check the triangle inequality.
    d = 1.0 - information_ratio_matrix(np.array(rows))
    assert d[0, 2] <= d[0, 1] + d[1, 2] + 1e-12
    assert np.all(d >= -1e-12)


def test_zero_over_zero_is_one_and_constant_vs_varying_is_zero() -> None:
    const = np.zeros(10, dtype=np.int64)
    assert information_ratio(const, const + 4) == 1.0
    assert information_ratio(const, np.arange(10)) == 0.0
    ratios = information_ratio_matrix([const, np.arange(10)])
    assert ratios.tolist() == [[1.0, 0.0], [0.0, 1.0]]


@pytest.mark.parametrize("n", [8, 32, 200])
def test_matrix_equals_pairwise_scalars(n: int) -> None:
    rng = np.random.default_rng(n)
    ks = rng.integers(1, n + 1, size=(12, 1))
    codes = rng.integers(0, 1 << 20, size=(12, n)) % ks
    ratios = information_ratio_matrix(codes)
    mi = mutual_information_matrix(codes)
    for p in range(12):
        for q in range(12):
            assert ratios[p, q] == pytest.approx(information_ratio(codes[p], codes[q]), abs=1e-12)
            assert mi[p, q] == pytest.approx(mutual_information(codes[p], codes[q]), abs=1e-12)
    assert np.allclose(np.diag(ratios), 1.0, atol=1e-12)
    assert np.allclose(ratios, ratios.T, atol=1e-12)
    assert np.allclose(np.diag(mi), [entropy(c) for c in codes], atol=1e-12)


def test_cross_matrix_matches_blocks_of_the_full_matrix() -> None:
    rng = np.random.default_rng(3)
    cx, cy = rng.integers(0, 4, size=(5, 40)), rng.integers(0, 6, size=(3, 40))
    full = information_ratio_matrix(np.vstack([cx, cy]))
    assert np.allclose(information_ratio_matrix(cx, cy), full[:5, 5:], atol=1e-12)


@pytest.mark.parametrize("chunk_entries", [1 << 22, 1000])
@pytest.mark.parametrize("tile", [1024, 4])
def test_sorting_path_equals_matmul_path(
    monkeypatch: pytest.MonkeyPatch, chunk_entries: int, tile: int
) -> None:
    # Large sample counts switch to sorting joint labels; both paths must agree, in whole
    # blocks and in small tiles/chunks (the memory bounds).
    monkeypatch.setattr(discrete_module, "_MATMUL_TILE", tile)
    monkeypatch.setattr(discrete_module, "_MATMUL_CHUNK_ENTRIES", chunk_entries)
    monkeypatch.setattr(discrete_module, "_SORT_CHUNK_ENTRIES", chunk_entries)
    rng = np.random.default_rng(4)
    codes = torch.as_tensor(canonical_codes(rng.integers(0, 50, size=(6, 300))))
    other = torch.as_tensor(canonical_codes(rng.integers(0, 7, size=(9, 300))))
    by_matmul = discrete_module._joint_entropies_matmul(codes, other)
    by_sorting = discrete_module._joint_entropies_sort(codes, other)
    assert torch.allclose(by_matmul, by_sorting, atol=1e-12)
    # The symmetric case computes the tiles on and above the diagonal and mirrors them.
    for path in (discrete_module._joint_entropies_matmul, discrete_module._joint_entropies_sort):
        full = path(other, other)
        mirrored = path(other, other, symmetric=True)
        assert torch.allclose(mirrored, full, atol=1e-12)
        assert torch.equal(mirrored, mirrored.T)
    # Peer: numpy's unique over the stacked label pairs, pair by pair.
    for p in range(6):
        for q in range(9):
            _, counts = np.unique(np.stack([codes[p], other[q]]), axis=1, return_counts=True)
            h = -(counts / 300 * np.log2(counts / 300)).sum()
            assert float(by_sorting[p, q]) == pytest.approx(h, abs=1e-12)


def test_matmul_path_crossover_grows_with_the_number_of_codes() -> None:
    assert discrete_module._use_matmul(32, 8000, 8000)
    assert discrete_module._use_matmul(700, 200, 200)
    assert not discrete_module._use_matmul(700, 50, 50)
    assert not discrete_module._use_matmul(4096, 1000, 1000)


def test_sorting_path_is_used_for_many_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discrete_module, "_MATMUL_SAMPLES_PER_ROOT_CODE", 1.0)
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 5, size=(4, 50))
    ratios = information_ratio_matrix(codes)
    assert ratios[0, 1] == pytest.approx(information_ratio(codes[0], codes[1]), abs=1e-12)


def test_list_and_torch_inputs_give_the_same_matrix() -> None:
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 4, size=(4, 16))
    expected = information_ratio_matrix(codes)
    assert np.array_equal(information_ratio_matrix(list(codes)), expected)
    assert np.array_equal(information_ratio_matrix(torch.from_numpy(codes)), expected)
    assert entropy(torch.from_numpy(codes[0])) == entropy(codes[0])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: entropy(np.array([], dtype=np.int64)), "empty"),
        (lambda: entropy(np.array([0.5, 1.5])), "integer codes"),
        (lambda: mutual_information(np.zeros(4, int), np.zeros(5, int)), "4 samples but b has 5"),
        (lambda: information_ratio_matrix([np.zeros(4, int), np.zeros(3, int)]), "samples"),
        (lambda: information_ratio_matrix(np.zeros((2, 4, 1), int)), "n_partitions, n_samples"),
        (lambda: information_ratio_matrix([]), "codes_x is empty"),
    ],
)
def test_bad_input_raises(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()
