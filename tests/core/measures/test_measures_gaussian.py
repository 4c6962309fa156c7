"""Gaussian entropy and MI: closed forms, the digamma bias correction, ridge and bad input."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from workbench.measures import (
    gaussian_entropy,
    gaussian_entropy_details,
    gaussian_entropy_from_covariance,
    gaussian_mutual_information,
    gaussian_mutual_information_details,
    gaussian_mutual_information_from_covariance,
    log_det_bias,
)


def correlated_pair_covariance(d: int, rho: float) -> np.ndarray:
    """Joint covariance of (x, y) with unit variances and corr(x_k, y_k) = ρ per dimension."""
    eye = np.eye(d)
    return np.block([[eye, rho * eye], [rho * eye, eye]])


@pytest.mark.parametrize(("d", "rho"), [(1, 0.5), (3, 0.6), (10, 0.9), (4, -0.3)])
def test_mi_closed_form_from_the_true_covariance(d: int, rho: float) -> None:
    # I = -(d/2) log2(1 - ρ²) exactly, for the population covariance.
    est = gaussian_mutual_information_from_covariance(
        correlated_pair_covariance(d, rho), d, n_samples=10**9, bias_correction=False
    )
    assert est.bits == pytest.approx(-d / 2 * math.log2(1 - rho**2), rel=1e-12)
    assert est.nats == pytest.approx(est.bits * math.log(2), rel=1e-12)


def test_mi_closed_form_from_samples() -> None:
    d, rho, n = 3, 0.6, 20_000
    rng = np.random.default_rng(0)
    z = rng.multivariate_normal(np.zeros(2 * d), correlated_pair_covariance(d, rho), size=n)
    truth = -d / 2 * math.log2(1 - rho**2)
    # Asymptotic s.d. of the MI estimate is sqrt(d) ρ / sqrt(n) nats; allow 5 s.d.
    tolerance = 5 * math.sqrt(d) * abs(rho) / math.sqrt(n) / math.log(2)
    assert gaussian_mutual_information(z[:, :d], z[:, d:]) == pytest.approx(truth, abs=tolerance)


def test_entropy_closed_form_agrees_with_scipy() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 4))
    cov = a @ a.T + 0.5 * np.eye(4)
    expected = multivariate_normal(mean=np.zeros(4), cov=cov).entropy() / math.log(2)
    est = gaussian_entropy_from_covariance(cov, n_samples=10**9, bias_correction=False)
    assert est.bits == pytest.approx(expected, rel=1e-12)
    closed = 0.5 * math.log2(np.linalg.det(2 * math.pi * math.e * cov))
    assert est.bits == pytest.approx(closed, rel=1e-12)


def test_log_det_bias_matches_monte_carlo_wishart() -> None:
    # E[ln|S|] - ln|Σ| over many sample covariances of n standard normal samples (Σ = I).
    d, n, reps = 3, 12, 20_000
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(reps, n, d, generator=gen, dtype=torch.float64)
    zc = z - z.mean(dim=1, keepdim=True)
    s = zc.transpose(1, 2) @ zc / (n - 1)
    log_dets = torch.logdet(s)
    standard_error = float(log_dets.std()) / math.sqrt(reps)
    assert float(log_dets.mean()) == pytest.approx(log_det_bias(d, n), abs=4 * standard_error)


def test_bias_correction_removes_the_independence_bias() -> None:
    # Independent x, y: the plug-in MI averages ½(b(dx) + b(dy) - b(dx+dy)) ≈ dx·dy/(2n) nats;
    # the corrected MI averages 0.
    dx, dy, n, reps = 4, 4, 60, 400
    gen = torch.Generator().manual_seed(1)
    corrected, plugin = [], []
    for _ in range(reps):
        x = torch.randn(n, dx, generator=gen, dtype=torch.float64)
        y = torch.randn(n, dy, generator=gen, dtype=torch.float64)
        est = gaussian_mutual_information_details(x, y)
        corrected.append(est.nats)
        plugin.append(est.plugin_nats)
    expected_bias = 0.5 * (log_det_bias(dx, n) + log_det_bias(dy, n) - log_det_bias(dx + dy, n))
    se = np.std(corrected) / math.sqrt(reps)
    assert np.mean(corrected) == pytest.approx(0.0, abs=4 * se)
    assert np.mean(plugin) == pytest.approx(expected_bias, abs=4 * se)
    # The first-order approximation the issue quotes.
    assert expected_bias == pytest.approx(dx * dy / (2 * n), rel=0.25)


def test_bias_correction_is_unbiased_for_dependent_data_too() -> None:
    # Each corrected log-determinant is unbiased, so the corrected MI matches the closed form
    # -(d/2) log2(1 - ρ²) on average for any covariance, while the plug-in overshoots.
    d, n, rho, reps = 8, 60, 0.5, 400
    truth = -d / 2 * math.log2(1 - rho**2)
    gen = torch.Generator().manual_seed(9)
    corrected, plugin = [], []
    for _ in range(reps):
        x = torch.randn(n, d, generator=gen, dtype=torch.float64)
        noise = torch.randn(n, d, generator=gen, dtype=torch.float64)
        est = gaussian_mutual_information_details(x, rho * x + math.sqrt(1 - rho**2) * noise)
        corrected.append(est.bits)
        plugin.append(est.plugin_bits)
    se = np.std(corrected) / math.sqrt(reps)
    assert np.mean(corrected) == pytest.approx(truth, abs=4 * se)
    assert np.mean(plugin) > truth + 10 * se


def test_entropy_bias_correction_is_unbiased() -> None:
    d, n, reps = 3, 15, 400
    cov = np.diag([1.0, 2.0, 0.5])
    truth = 0.5 * math.log2(np.linalg.det(2 * math.pi * math.e * cov))
    gen = torch.Generator().manual_seed(2)
    scale = torch.from_numpy(np.sqrt(np.diag(cov)))
    values = [
        gaussian_entropy(torch.randn(n, d, generator=gen, dtype=torch.float64) * scale)
        for _ in range(reps)
    ]
    se = np.std(values) / math.sqrt(reps)
    assert np.mean(values) == pytest.approx(truth, abs=4 * se)


def test_mi_is_invariant_to_invertible_linear_maps() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 3))
    y = x @ rng.normal(size=(3, 2)) + rng.normal(size=(500, 2))
    a, b = rng.normal(size=(3, 3)), rng.normal(size=(2, 2))
    base = gaussian_mutual_information(x, y)
    assert gaussian_mutual_information(x @ a + 5.0, y @ b - 2.0) == pytest.approx(base, rel=1e-9)


def test_torch_and_numpy_inputs_agree() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(100, 3)), rng.normal(size=(100, 2))
    assert gaussian_mutual_information(torch.from_numpy(x), y) == pytest.approx(
        gaussian_mutual_information(x, y), rel=1e-12
    )
    assert gaussian_entropy(torch.from_numpy(x).float()) == pytest.approx(
        gaussian_entropy(x.astype(np.float32)), rel=1e-12
    )


def test_one_dimensional_inputs_are_single_features() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=300)
    assert gaussian_entropy(x) == gaussian_entropy(x[:, None])


def test_singular_covariance_gets_a_reported_ridge(caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(200, 3))
    y = rng.normal(size=(200, 2))
    redundant = np.column_stack([x, x[:, 0] - 2 * x[:, 1], np.full(200, 3.0)])
    with caplog.at_level(logging.WARNING, logger="workbench.core.measures.gaussian"):
        est = gaussian_mutual_information_details(redundant, y)
    assert est.ridge > 0
    assert "singular" in caplog.text and "ridge" in caplog.text
    # A redundant copy and a constant carry no extra information about y.
    assert est.plugin_bits == pytest.approx(
        gaussian_mutual_information(x, y, bias_correction=False), abs=1e-6
    )
    assert gaussian_entropy_details(x).ridge == 0.0


def test_explicit_ridge_is_applied_and_reported() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    plain = gaussian_mutual_information_details(x, y, bias_correction=False)
    ridged = gaussian_mutual_information_details(x, y, bias_correction=False, ridge=0.5)
    assert ridged.ridge == 0.5 and plain.ridge == 0.0
    cov = np.cov(np.column_stack([x, y]).T)
    cov_ridged = cov + 0.5 * np.diag(np.diag(cov))
    _, ld = np.linalg.slogdet(cov_ridged)
    _, ldx = np.linalg.slogdet(cov_ridged[:2, :2])
    _, ldy = np.linalg.slogdet(cov_ridged[2:, 2:])
    assert ridged.bits == pytest.approx(0.5 * (ldx + ldy - ld) / math.log(2), rel=1e-10)


def test_too_few_samples_says_how_many_are_needed() -> None:
    rng = np.random.default_rng(8)
    with pytest.raises(ValueError, match="at least 7 samples are needed; got 6"):
        gaussian_mutual_information(rng.normal(size=(6, 4)), rng.normal(size=(6, 2)))
    with pytest.raises(ValueError, match="at least 5 samples are needed; got 4"):
        gaussian_entropy(rng.normal(size=(4, 4)))


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros((10, 1)), np.zeros((9, 1)), "10 samples but y has 9"),
        (np.full((10, 1), np.nan), np.zeros((10, 1)), "NaN"),
        (np.array([[np.inf]] * 10), np.zeros((10, 1)), "infinite"),
        (np.zeros((0, 1)), np.zeros((0, 1)), "empty"),
        (np.zeros((10, 1, 1)), np.zeros((10, 1)), "n_samples, n_features"),
    ],
)
def test_bad_input_raises(x: np.ndarray, y: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gaussian_mutual_information(x, y)


def test_constant_data_raises() -> None:
    with pytest.raises(ValueError, match="zero variance in every feature"):
        gaussian_entropy(np.ones((10, 2)))


def test_correlation_condition_number_equals_numpy() -> None:
    from workbench.core.measures.gaussian import correlation_condition_number

    rng = np.random.default_rng(11)
    z = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4)) * np.array([1.0, 10.0, 1e3, 0.1])
    mu = np.linalg.eigvalsh(np.corrcoef(z, rowvar=False))
    cov = np.cov(z, rowvar=False)
    assert correlation_condition_number(cov) == pytest.approx(mu[-1] / mu[0], rel=1e-8)
    # Rescaling a feature leaves it unchanged; a constant feature makes it infinite.
    assert correlation_condition_number(cov * 7) == pytest.approx(mu[-1] / mu[0], rel=1e-8)
    cov[0, :] = cov[:, 0] = 0.0
    assert correlation_condition_number(cov) == float("inf")


def test_noise_floor_mi_is_the_mi_of_data_with_noise_added() -> None:
    """Noise at f of each feature's SD, added to real samples, gives the MI of the ridge
    λ = f² up to the O(1/√n) sample cross-covariance of data and noise."""
    from workbench.core.measures.gaussian import noise_floor_mutual_information

    rng = np.random.default_rng(12)
    n, f = 200_000, 0.3
    x = rng.normal(size=(n, 2))
    y = 0.8 * x + 0.6 * rng.normal(size=(n, 2))
    cov = np.cov(np.hstack([x, y]), rowvar=False)
    (swept,) = noise_floor_mutual_information(cov, 2, n, [f])
    noisy_x = x + f * x.std(axis=0) * rng.normal(size=x.shape)
    noisy_y = y + f * y.std(axis=0) * rng.normal(size=y.shape)
    assert swept.ridge == pytest.approx(f * f)
    assert swept.bits == pytest.approx(gaussian_mutual_information(noisy_x, noisy_y), abs=0.01)
    # Closed form: corr 0.8 becomes 0.8 / (1 + f²) per dimension.
    rho = 0.8 / (1 + f * f)
    assert swept.bits == pytest.approx(-np.log2(1 - rho**2), abs=0.01)
    with pytest.raises(ValueError, match="noise fractions"):
        noise_floor_mutual_information(cov, 2, n, [0.0])
