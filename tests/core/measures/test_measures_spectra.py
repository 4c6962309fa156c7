"""Covariance spectra, power-law fits, participation ratio and effective rank."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy as scipy_entropy
from scipy.stats import ortho_group

from workbench.measures import (
    covariance_spectrum,
    effective_rank,
    participation_ratio,
    power_law_exponent,
)


def test_spectrum_of_a_known_covariance() -> None:
    # Whitened data times a known spectrum, rotated: the sample covariance has exactly it.
    rng = np.random.default_rng(0)
    n, d = 200, 5
    z = rng.normal(size=(n, d))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z.T)).T)  # sample covariance = I
    eigs = np.array([9.0, 4.0, 1.0, 0.25, 0.01])
    x = z @ np.diag(np.sqrt(eigs)) @ ortho_group.rvs(d, random_state=1)
    assert np.allclose(covariance_spectrum(x), eigs, rtol=1e-10)


def test_spectrum_matches_numpy_and_gram_path() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 8))
    expected = np.sort(np.linalg.eigvalsh(np.cov(x.T)))[::-1]
    assert np.allclose(covariance_spectrum(x), expected, rtol=1e-10, atol=1e-12)
    wide = rng.normal(size=(6, 40))  # d > n: Gram path, at most n - 1 non-zero
    spectrum = covariance_spectrum(torch.from_numpy(wide))
    expected = np.sort(np.linalg.eigvalsh(np.cov(wide.T)))[::-1]
    assert spectrum.shape == (40,)
    assert np.allclose(spectrum, np.clip(expected, 0, None), atol=1e-10)
    assert np.all(spectrum[5:] == 0)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.3])
def test_exact_power_law_is_recovered(alpha: float) -> None:
    eigs = 3.0 * np.arange(1, 201, dtype=np.float64) ** -alpha
    fit = power_law_exponent(np.random.default_rng(0).permutation(eigs))
    assert fit.exponent == pytest.approx(alpha, rel=1e-10)
    assert fit.log_prefactor == pytest.approx(math.log(3.0), abs=1e-10)
    assert fit.r_squared == pytest.approx(1.0, abs=1e-12)
    assert (fit.first_rank, fit.last_rank, fit.n_points) == (1, 200, 200)


def test_fit_range_is_honoured_and_reported() -> None:
    k = np.arange(1, 101, dtype=np.float64)
    eigs = np.where(k <= 10, 50.0, k**-1.0)  # a flat head, then a power law
    fit = power_law_exponent(eigs, ranks=(11, 100))
    assert fit.exponent == pytest.approx(1.0, rel=1e-10)
    assert (fit.first_rank, fit.last_rank) == (11, 100)
    assert power_law_exponent(eigs).r_squared < 0.9  # the head spoils a full-range fit


def test_default_range_stops_before_zeros() -> None:
    eigs = np.concatenate([np.arange(1, 51, dtype=np.float64) ** -1.5, np.zeros(10)])
    fit = power_law_exponent(eigs)
    assert fit.last_rank == 50
    assert fit.exponent == pytest.approx(1.5, rel=1e-10)


@pytest.mark.parametrize("d", [1, 4, 37])
def test_equal_eigenvalues_give_d(d: int) -> None:
    eigs = np.full(d, 2.5)
    assert participation_ratio(eigs) == pytest.approx(d, rel=1e-12)
    assert effective_rank(eigs) == pytest.approx(d, rel=1e-12)


def test_single_direction_gives_one() -> None:
    eigs = np.array([4.0, 0.0, 0.0, 0.0])
    assert participation_ratio(eigs) == pytest.approx(1.0)
    assert effective_rank(eigs) == pytest.approx(1.0)


def test_against_closed_forms_and_scipy() -> None:
    eigs = np.array([5.0, 3.0, 1.0, 0.5, 0.5])
    assert participation_ratio(eigs) == pytest.approx(eigs.sum() ** 2 / (eigs**2).sum())
    assert effective_rank(torch.from_numpy(eigs)) == pytest.approx(
        math.exp(scipy_entropy(eigs / eigs.sum()))
    )
    # Scale-free: multiplying the covariance by a constant changes neither.
    assert participation_ratio(7 * eigs) == pytest.approx(participation_ratio(eigs))
    assert effective_rank(7 * eigs) == pytest.approx(effective_rank(eigs))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: participation_ratio(np.array([1.0, -0.5])), ">= 0"),
        (lambda: effective_rank(np.zeros(3)), "all zero"),
        (lambda: participation_ratio(np.array([])), "empty"),
        (lambda: power_law_exponent(np.array([1.0, 0.5])), "at least 3"),
        (lambda: power_law_exponent(np.ones(10), ranks=(0, 5)), "ranks must"),
        (lambda: covariance_spectrum(np.ones((1, 3))), "at least 2 samples"),
        (lambda: covariance_spectrum(np.array([[np.inf, 1.0], [0.0, 1.0]])), "infinite"),
    ],
)
def test_bad_input_raises(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()
