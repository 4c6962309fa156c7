"""discretize / discretize_batch / canonical_codes: the sprint's tolerance rule and chains."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import cdist

import workbench.core.measures.discretization as discretization
from workbench.measures import canonical_codes, discretize, discretize_batch, entropy


def five_bit_inputs() -> np.ndarray:
    """The sprint's 32 inputs: every 5-bit string, one row each."""
    return np.array([[(i >> k) & 1 for k in range(5)] for i in range(32)], dtype=np.float64)


def reference_codes(acts: np.ndarray, tol: float) -> np.ndarray:
    """Peer implementation: scipy connected components of the within-tol graph, relabelled."""
    adjacency = cdist(acts, acts, metric="cityblock") / acts.shape[1] <= tol
    _, labels = connected_components(adjacency, directed=False)
    return canonical_codes(labels)


def brute_force_leader(acts: np.ndarray, tol: float) -> np.ndarray:
    """The leader rule as written: scan in order, join the first group whose leader is near."""
    leaders: list[int] = []
    codes = np.empty(len(acts), dtype=np.int64)
    for i, row in enumerate(acts):
        for g, leader in enumerate(leaders):
            if np.abs(row - acts[leader]).sum() / acts.shape[1] <= tol:
                codes[i] = g
                break
        else:
            codes[i] = len(leaders)
            leaders.append(i)
    return codes


def test_distinct_inputs_get_distinct_codes_in_order() -> None:
    assert np.array_equal(discretize(five_bit_inputs()), np.arange(32))


def test_first_bit_gives_two_codes() -> None:
    codes = discretize(five_bit_inputs()[:, :1])
    assert np.array_equal(codes, np.arange(32) % 2)


def test_tolerance_is_mean_absolute_difference_per_unit() -> None:
    # Two units; L1 distance 2e-5 -> mean 1e-5 per unit: equal at tol=1e-5, not at 0.9e-5.
    acts = np.array([[0.0, 0.0], [1e-5, 1e-5]])
    assert discretize(acts, tol=1e-5).tolist() == [0, 0]
    assert discretize(acts, tol=0.9e-5).tolist() == [0, 1]


def test_zero_tolerance_means_exact_equality() -> None:
    acts = np.array([[1.0], [1.0], [1.0 + 1e-12], [1.0]])
    assert discretize(acts, tol=0.0).tolist() == [0, 0, 1, 0]


def test_chains_are_merged_transitively() -> None:
    # a≈b and b≈c (spacing 0.8 tol) but |a - c| = 1.6 tol > tol: one code by transitive closure.
    tol = 1e-5
    acts = np.array([[0.0], [0.8 * tol], [1.6 * tol], [1.0]])
    assert discretize(acts, tol).tolist() == [0, 0, 0, 1]
    # Spacing above tol breaks the chain.
    acts = np.array([[0.0], [1.2 * tol], [2.4 * tol]])
    assert discretize(acts, tol).tolist() == [0, 1, 2]


def test_long_chain_in_any_order_is_one_code() -> None:
    tol = 1e-3
    acts = (np.arange(300) * 0.9 * tol)[:, None]
    order = np.random.default_rng(0).permutation(300)
    assert np.all(discretize(acts[order], tol) == 0)


@settings(max_examples=40, deadline=None, database=None)
@given(
    n=st.integers(1, 40),
    units=st.integers(1, 4),
    spread=st.sampled_from([1e-6, 1e-5, 3e-5, 1e-3]),
    seed=st.integers(0, 2**31 - 1),
)
def test_matches_scipy_connected_components(n: int, units: int, spread: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # A few clusters with jitter around the tolerance, so chains and near misses both occur.
    centres = rng.integers(0, 3, size=(n, units)).astype(np.float64)
    acts = centres + rng.uniform(0, spread, size=(n, units))
    assert np.array_equal(discretize(acts, 1e-5), reference_codes(acts, 1e-5))


@settings(max_examples=30, deadline=None, database=None)
@given(n=st.integers(2, 30), seed=st.integers(0, 2**31 - 1))
def test_partition_is_independent_of_sample_order(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    acts = rng.integers(0, 3, size=(n, 2)) + rng.uniform(0, 2e-5, size=(n, 2))
    order = rng.permutation(n)
    # Codes of the permuted samples describe the permuted partition.
    permuted = discretize(acts[order], 1e-5)
    assert np.array_equal(canonical_codes(permuted), canonical_codes(discretize(acts)[order]))


def test_batch_equals_one_call_per_entry() -> None:
    rng = np.random.default_rng(1)
    acts = rng.integers(0, 2, size=(7, 32, 3)) + rng.uniform(0, 2e-5, size=(7, 32, 3))
    batch = discretize_batch(acts, 1e-5)
    assert batch.shape == (7, 32)
    for b in range(7):
        assert np.array_equal(batch[b], discretize(acts[b], 1e-5))


PATHS = {
    "dense": {"_DENSE_CANDIDATE_FRACTION": 0.0},  # every entry through all n² distances
    "swept": {"_DENSE_CANDIDATE_FRACTION": float("inf")},  # every entry through the sweep
    "no-dense": {"_MAX_BLOCK": 100},  # n² above the dense limit
    "chunked": {"_SWEEP_VALUES": 1},  # one entry per sweep chunk
}


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("rule", ["chained", "leader"])
@settings(max_examples=25, deadline=None, database=None)
@given(
    n=st.integers(1, 40),
    units=st.integers(1, 4),
    spread=st.sampled_from([0.0, 1e-6, 1e-5, 3e-5, 1e-3]),
    seed=st.integers(0, 2**31 - 1),
)
def test_every_path_matches_brute_force(
    path: str, rule: str, n: int, units: int, spread: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    # Few cluster centres (so exact duplicates occur at spread 0) plus jitter around tol.
    centres = rng.integers(0, 3, size=(4, n, units)).astype(np.float64)
    acts = centres + rng.uniform(0, spread, size=(4, n, units))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in PATHS[path].items():
            patch.setattr(discretization, name, value)
        codes = discretize_batch(acts, 1e-5, rule=rule)
    brute = reference_codes if rule == "chained" else brute_force_leader
    for b in range(4):
        assert np.array_equal(codes[b], brute(acts[b], 1e-5))


def test_long_chain_of_near_duplicates_through_the_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    # 400 samples within 0.4 tol of the next in 3 units: one chained code, many leader codes.
    monkeypatch.setattr(discretization, "_DENSE_CANDIDATE_FRACTION", float("inf"))
    tol = 1e-5
    acts = np.repeat((np.arange(400) * 0.4 * tol)[:, None], 3, axis=1)
    acts = acts[np.random.default_rng(4).permutation(400)]
    assert np.all(discretize(acts, tol) == 0)
    assert np.array_equal(discretize(acts, tol, rule="leader"), brute_force_leader(acts, tol))


def test_structured_rows_with_equal_sums_are_not_merged() -> None:
    # Every 8-bit string: many rows share a coordinate sum; none are neighbours at tol 1e-5.
    inputs = np.array([[(i >> k) & 1 for k in range(8)] for i in range(256)], dtype=np.float64)
    assert np.array_equal(discretize(inputs), np.arange(256))
    assert np.array_equal(discretize(inputs, rule="leader"), np.arange(256))


@pytest.mark.parametrize("path", ["1-d", *sorted(PATHS)])
def test_chains_are_logged_at_debug_level(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    for name, value in PATHS.get(path, {}).items():
        monkeypatch.setattr(discretization, name, value)
    acts = np.array([[0.0], [0.8e-5], [1.6e-5], [5.0], [5.0]])  # a chain and a duplicate
    if path != "1-d":
        acts = np.repeat(acts, 2, axis=1)  # two units: not the 1-D sort path
    with caplog.at_level(logging.DEBUG, logger="workbench.core.measures.discretization"):
        discretize(acts, 1e-5)
    assert "1 sample pairs farther apart than tol=1e-05" in caplog.text


def test_torch_and_numpy_agree() -> None:
    acts = np.random.default_rng(2).integers(0, 3, size=(20, 4)).astype(np.float32)
    assert np.array_equal(discretize(acts), discretize(torch.from_numpy(acts)))


def test_canonical_codes_relabels_by_first_occurrence() -> None:
    assert canonical_codes(np.array([7, 7, 3, 9, 3])).tolist() == [0, 0, 1, 2, 1]
    assert canonical_codes(np.array([[5, -1, 5], [2, 2, 0]])).tolist() == [[0, 1, 0], [0, 0, 1]]


@pytest.mark.parametrize(
    ("acts", "tol", "match"),
    [
        (np.zeros((0, 3)), 1e-5, "empty"),
        (np.zeros(5), 1e-5, r"\(n_samples, n_units\)"),
        (np.array([[0.0], [np.nan]]), 1e-5, "NaN"),
        (np.zeros((3, 2)), -1.0, "tol must be"),
        (np.zeros((3, 2)), float("nan"), "tol must be"),
    ],
)
def test_bad_input_raises(acts: np.ndarray, tol: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        discretize(acts, tol)


def test_codes_must_be_integers() -> None:
    with pytest.raises(ValueError, match="integer codes"):
        canonical_codes(np.array([0.5, 1.0]))


# --- grouping rules -------------------------------------------------------------------------


def test_known_chain_gives_one_chained_and_two_leader_codes() -> None:
    # 0 ≈ 0.6e-5 ≈ 1.2e-5 at tol 1e-5, but |0 - 1.2e-5| > tol.
    acts = np.array([[0.0], [0.6e-5], [1.2e-5]])
    chained = discretize(acts, 1e-5, rule="chained")
    leader = discretize(acts, 1e-5, rule="leader")
    assert chained.tolist() == [0, 0, 0]
    assert leader.tolist() == [0, 0, 1]
    # Entropies in closed form: one block -> 0 bits; blocks {2, 1} -> log2 3 - 2/3 bits.
    assert entropy(chained) == 0.0
    assert entropy(leader) == pytest.approx(np.log2(3) - 2 / 3, abs=1e-15)


def test_leader_rule_depends_on_sample_order() -> None:
    # Starting from the middle sample, it leads both ends: one group.
    acts = np.array([[0.6e-5], [0.0], [1.2e-5]])
    assert discretize(acts, 1e-5, rule="leader").tolist() == [0, 0, 0]


def test_unknown_rule_is_named() -> None:
    with pytest.raises(ValueError, match=r"rule must be one of 'chained', 'leader'; got 'nearest'"):
        discretize(np.zeros((3, 1)), 1e-5, rule="nearest")  # type: ignore[arg-type]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("rule", ["chained", "leader"])
def test_cuda_codes_equal_cpu_codes(monkeypatch: pytest.MonkeyPatch, path: str, rule: str) -> None:
    for name, value in PATHS[path].items():
        monkeypatch.setattr(discretization, name, value)
    rng = np.random.default_rng(8)
    for units in (1, 3):
        acts = rng.integers(0, 3, size=(5, 50, units)) + rng.uniform(0, 2e-5, size=(5, 50, units))
        on_gpu = discretize_batch(torch.from_numpy(acts).cuda(), 1e-5, rule=rule)
        assert np.array_equal(on_gpu, discretize_batch(acts, 1e-5, rule=rule))


@pytest.mark.parametrize("rule", ["chained", "leader"])
@pytest.mark.parametrize("units", [1, 8])
def test_relu_layers_match_the_dense_path(
    monkeypatch: pytest.MonkeyPatch, rule: str, units: int
) -> None:
    # Random ReLU layers on every 6-bit input, with weights so small that many inputs fall
    # within tol (and dead units make exact duplicates): the sweep and the 1-D sort against the
    # dense path of the previous implementation.
    gen = torch.Generator().manual_seed(0)
    inputs = ((torch.arange(64)[:, None] >> torch.arange(6)) & 1).to(torch.float64)
    weights = 4e-5 * torch.randn(30, 6, units, generator=gen, dtype=torch.float64)
    bias = 4e-5 * torch.randn(30, 1, units, generator=gen, dtype=torch.float64)
    acts = torch.relu(inputs @ weights + bias)  # (seed, input, unit)
    ours = discretize_batch(acts, 1e-5, rule=rule)
    monkeypatch.setattr(discretization, "_DENSE_CANDIDATE_FRACTION", 0.0)
    dense = discretize_batch(acts, 1e-5, rule=rule) if units > 1 else None
    for s in range(30):
        brute = reference_codes if rule == "chained" else brute_force_leader
        assert np.array_equal(ours[s], brute(acts[s].numpy(), 1e-5))
        if dense is not None:
            assert np.array_equal(ours[s], dense[s])
    # The case is neither trivial nor injective: on average 2-36 codes of 64 per seed.
    assert 2 < np.mean(ours.max(axis=1) + 1) < 40
