"""two_sample_permutation_tests: many tests on one set of splits, against the one-test path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import workbench.core.measures.two_sample as two_sample
from workbench.measures import two_sample_permutation_test, two_sample_permutation_tests


def argsort_null(a: np.ndarray, b: np.ndarray, n_permutations: int, seed: int) -> np.ndarray:
    """The previous implementation's null: group a = the first n_a of argsort(uniforms)."""
    pooled = torch.from_numpy(np.concatenate([a, b]))
    n = pooled.shape[0]
    generator = torch.Generator().manual_seed(seed)
    chunk = max(1, two_sample._PERMUTATION_CHUNK_VALUES // n)
    parts = []
    for start in range(0, n_permutations, chunk):
        rows = min(chunk, n_permutations - start)
        shuffled = pooled[torch.rand(rows, n, generator=generator).argsort(dim=1)]
        parts.append(shuffled[:, : a.size].mean(dim=1) - shuffled[:, a.size :].mean(dim=1))
    return torch.cat(parts).numpy()


@pytest.mark.parametrize("chunk", [1 << 22, 50])
def test_splits_are_those_of_the_argsort_sampler(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(two_sample, "_PERMUTATION_CHUNK_VALUES", chunk)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=13), rng.normal(0.5, 1.0, size=8)
    test = two_sample_permutation_test(a, b, n_permutations=700, seed=11)
    np.testing.assert_allclose(test.null, argsort_null(a, b, 700, 11), atol=1e-12)


def test_each_batched_test_equals_the_single_test() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 10)) + np.arange(6)[:, None] * 0.3
    b = rng.normal(size=(6, 14))
    tests = two_sample_permutation_tests(a, b, n_permutations=500, seed=3, alternative="greater")
    assert len(tests) == 6
    for j, test in enumerate(tests):
        single = two_sample_permutation_test(
            a[j], b[j], n_permutations=500, seed=3, alternative="greater"
        )
        assert test.p_value == single.p_value
        assert test.estimate == pytest.approx(a[j].mean() - b[j].mean(), abs=1e-15)
        np.testing.assert_allclose(test.null, single.null, atol=1e-12)


def test_torch_input_gives_the_same_tests() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(3, 7)), rng.normal(size=(3, 9))
    ours = two_sample_permutation_tests(a, b, n_permutations=300, seed=1)
    theirs = two_sample_permutation_tests(
        torch.from_numpy(a), torch.from_numpy(b), n_permutations=300, seed=1
    )
    assert [t.p_value for t in ours] == [t.p_value for t in theirs]


def test_planted_null_rejects_at_the_nominal_rate() -> None:
    # 400 tests of two groups from one distribution, on shared splits: each p is valid, so
    # about 5% fall at or below 0.05 (binomial sd 1.1%; 5 sd bound).
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(400, 12)), rng.normal(size=(400, 12))
    p = np.array([t.p_value for t in two_sample_permutation_tests(a, b, n_permutations=999)])
    assert abs(np.mean(p <= 0.05) - 0.05) < 5 * np.sqrt(0.05 * 0.95 / 400)


def test_planted_effect_is_detected() -> None:
    # A shift of 2 sd with 12 per group: power is essentially 1.
    rng = np.random.default_rng(4)
    a, b = rng.normal(2.0, 1.0, size=(20, 12)), rng.normal(size=(20, 12))
    tests = two_sample_permutation_tests(a, b, n_permutations=999)
    assert all(t.p_value <= 0.01 for t in tests)


def test_tied_uniforms_fall_back_to_argsort() -> None:
    uniform = torch.tensor([[0.5, 0.5, 0.1, 0.9], [0.3, 0.2, 0.8, 0.7]])
    in_a = two_sample._first_group(uniform.clone(), 2)
    assert in_a.sum(dim=1).tolist() == [2, 2]
    expected = torch.zeros(2, 4, dtype=torch.bool).scatter_(1, uniform.argsort(dim=1)[:, :2], True)
    assert torch.equal(in_a, expected)


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [
        (np.ones((2, 3)), np.ones((3, 3)), "a holds 2 tests but b holds 3"),
        (np.ones(3), np.ones((1, 3)), r"\(n_tests, n_a\)"),
        (np.ones((2, 0)), np.ones((2, 3)), "group a is empty"),
        (np.ones((2, 3)), np.full((2, 3), np.nan), "NaN"),
    ],
)
def test_bad_input_is_named(a: np.ndarray, b: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        two_sample_permutation_tests(a, b)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tests_equal_cpu_tests() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(4, 9)), rng.normal(size=(4, 12))
    cpu = two_sample_permutation_tests(a, b, n_permutations=400, seed=2)
    gpu = two_sample_permutation_tests(
        torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda(), n_permutations=400, seed=2
    )
    assert [t.p_value for t in gpu] == [t.p_value for t in cpu]
