"""Linear CKA: self-similarity, invariances, explicit Gram-matrix formulas and debiasing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ortho_group

from workbench.measures import linear_cka


def gram_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Reference from the definition: HSIC(K, L) = tr(K H L H) with H the centring matrix."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.trace(a @ h @ b @ h))

    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


def unbiased_hsic(k: np.ndarray, l_: np.ndarray) -> float:
    """Song et al. (2012) eq. 5 on uncentred Gram matrices with zeroed diagonals."""
    n = k.shape[0]
    kt, lt = k - np.diag(np.diag(k)), l_ - np.diag(np.diag(l_))
    one = np.ones(n)
    value = (
        np.trace(kt @ lt)
        + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (one @ kt @ lt @ one)
    )
    return float(value / (n * (n - 3)))


def debiased_gram_cka(x: np.ndarray, y: np.ndarray) -> float:
    k, l_ = x @ x.T, y @ y.T
    return unbiased_hsic(k, l_) / np.sqrt(unbiased_hsic(k, k) * unbiased_hsic(l_, l_))


@pytest.fixture
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)) + 2.0
    y = np.tanh(x @ rng.normal(size=(6, 9))) + 0.3 * rng.normal(size=(40, 9))
    return x, y


@pytest.mark.parametrize("debiased", [False, True])
def test_self_similarity_is_one(xy: tuple[np.ndarray, np.ndarray], debiased: bool) -> None:
    x, _ = xy
    assert linear_cka(x, x, debiased=debiased) == pytest.approx(1.0, abs=1e-12)


def test_matches_the_gram_matrix_definition(xy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = xy
    assert linear_cka(x, y) == pytest.approx(gram_cka(x, y), rel=1e-10)


def test_debiased_matches_the_unbiased_hsic_definition(xy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = xy
    assert linear_cka(x, y, debiased=True) == pytest.approx(debiased_gram_cka(x, y), rel=1e-9)


def test_feature_and_gram_forms_agree_when_features_outnumber_samples() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 50)), rng.normal(size=(10, 60))
    assert linear_cka(x, y) == pytest.approx(gram_cka(x, y), rel=1e-10)
    assert linear_cka(x, y, debiased=True) == pytest.approx(debiased_gram_cka(x, y), rel=1e-9)


@pytest.mark.parametrize("debiased", [False, True])
def test_invariant_to_orthogonal_maps_and_isotropic_scaling(
    xy: tuple[np.ndarray, np.ndarray], debiased: bool
) -> None:
    x, y = xy
    q = ortho_group.rvs(6, random_state=2)
    base = linear_cka(x, y, debiased=debiased)
    assert linear_cka(x @ q, y, debiased=debiased) == pytest.approx(base, rel=1e-10)
    assert linear_cka(x, 7.5 * y, debiased=debiased) == pytest.approx(base, rel=1e-10)
    assert linear_cka(x + 3.0, y, debiased=debiased) == pytest.approx(base, rel=1e-10)


def test_not_invariant_to_general_linear_maps(xy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = xy
    stretch = np.diag([1.0, 1.0, 1.0, 1.0, 1.0, 50.0])
    assert abs(linear_cka(x @ stretch, y) - linear_cka(x, y)) > 1e-3


def test_debiasing_removes_the_independence_bias() -> None:
    # Independent representations with more features than samples: plain CKA is far above 0,
    # debiased CKA averages about 0.
    gen = torch.Generator().manual_seed(3)
    plain, debiased = [], []
    for _ in range(50):
        x = torch.randn(20, 100, generator=gen, dtype=torch.float64)
        y = torch.randn(20, 100, generator=gen, dtype=torch.float64)
        plain.append(linear_cka(x, y))
        debiased.append(linear_cka(x, y, debiased=True))
    assert np.mean(plain) > 0.4
    assert abs(np.mean(debiased)) < 4 * np.std(debiased) / np.sqrt(50)


def test_numpy_and_torch_agree(xy: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = xy
    assert linear_cka(torch.from_numpy(x), torch.from_numpy(y)) == linear_cka(x, y)


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "match"),
    [
        (np.ones((5, 2)), np.arange(10.0).reshape(5, 2), {}, "constant"),
        (np.zeros((5, 2)), np.zeros((4, 2)), {}, "5 samples but y has 4"),
        (np.arange(6.0).reshape(3, 2), np.arange(3.0), {"debiased": True}, "at least 4"),
        (np.zeros((0, 2)), np.zeros((0, 2)), {}, "empty"),
    ],
)
def test_bad_input_raises(
    x: np.ndarray, y: np.ndarray, kwargs: dict[str, bool], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        linear_cka(x, y, **kwargs)
