"""The channels lab's measures against exact answers: invertible nets, constant nets, dropout
codes, Jacobians, Gaussian MI of linear nets and the power-law entropy bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import ndtr

from workbench.core.ensemble import ensemble_from_state_dict, layer_activations
from workbench.core.models.mlp import backward, forward_with_cache
from workbench.core.tasks import all_inputs
from workbench.measures import covariance_spectrum, gaussian_mutual_information
from workbench_labs.channels import dropout as dr
from workbench_labs.channels.gaussian import linear_information
from workbench_labs.channels.nets import (
    build_ensemble,
    hidden_layers,
    jacobian_gram,
    layer_information,
)
from workbench_labs.channels.spectra import layer_spectra


@pytest.mark.parametrize("depth", [1, 3, 6])
def test_square_invertible_net_at_init_keeps_every_bit_exactly(depth: int) -> None:
    # The commenter's case: width = n_bits, leaky-relu (bijective), random square matrices.
    x = all_inputs(6)
    model = build_ensemble(6, depth, "leaky-relu", 1.0, range(8), 6, 1)
    for h in hidden_layers(model, x):
        np.testing.assert_array_equal(layer_information(h, 0.0), np.full(8, 6.0))


def test_a_net_that_maps_every_input_to_a_constant_has_zero_information() -> None:
    model = build_ensemble(5, 2, "relu", 1.0, range(4), 6, 1)
    zeroed = {
        k: torch.zeros_like(v) if k.endswith("weight") else v for k, v in model.state_dict().items()
    }
    constant = ensemble_from_state_dict(zeroed, "relu", model.seeds)
    for h in hidden_layers(constant, all_inputs(6)):
        np.testing.assert_array_equal(layer_information(h, 0.0), np.zeros(4))
        np.testing.assert_array_equal(layer_information(h, 0.1), np.zeros(4))


def test_layer_information_is_the_entropy_of_the_distinct_rows_and_scale_free() -> None:
    x = all_inputs(6)
    h = hidden_layers(build_ensemble(3, 2, "relu", 1.0, range(5), 6, 1), x)[-1]
    for s, row in enumerate(h.numpy()):
        counts = np.unique(row, axis=0, return_counts=True)[1]
        p = counts / counts.sum()
        assert layer_information(h, 0.0)[s] == pytest.approx(-(p * np.log2(p)).sum())
    np.testing.assert_allclose(layer_information(7.0 * h + 3.0, 1e-2), layer_information(h, 1e-2))


def test_scaling_only_the_weights() -> None:
    a = build_ensemble(4, 2, "tanh", 1.0, [3], 5, 1).state_dict()
    b = build_ensemble(4, 2, "tanh", 2.5, [3], 5, 1).state_dict()
    for key in a:
        factor = 2.5 if key.endswith("weight") else 1.0
        torch.testing.assert_close(b[key], factor * a[key])


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.5, 0.9])
def test_hand_built_code_through_dropout_keeps_one_minus_d_of_its_entropy(rate: float) -> None:
    # m units each copying one input bit (levels 0/1 of L = 2): an independent code of m bits.
    x = all_inputs(4).numpy().astype(np.int64)
    code = x[None, :, :3]  # (1 net, 16 inputs, 3 units), H(code) = 3 bits
    assert dr.code_information(code, rate, 2)[0] == pytest.approx((1 - rate) * 3)
    # One unit with L = 4 levels carrying two bits: (1 - D) log2 4 — the theorem's single unit.
    single = (2 * x[:, 0] + x[:, 1])[None, :, None]
    assert dr.code_information(single, rate, 4)[0] == pytest.approx((1 - rate) * 2)


def test_exact_dropout_information_agrees_with_sampled_masks() -> None:
    # The expectation over masks, checked by sampling them: the plug-in MI of (x, y) pairs.
    rng = np.random.default_rng(0)
    x = all_inputs(4).numpy().astype(np.int64)
    code = np.stack([x[:, 0], x[:, 1], x[:, 0] ^ x[:, 1]], axis=1)  # dependent units
    exact = dr.code_information(code[None], 0.3, 2)[0]
    sampled = dr.sampled_information(code, 0.3, 4000, rng)
    assert sampled == pytest.approx(exact, abs=0.02)
    # A redundant code (two copies of one bit) keeps 1 - D², not (1 - D) H(code).
    twice = np.stack([x[:, 0], x[:, 0]], axis=1)[None]
    assert dr.code_information(twice, 0.3, 2)[0] == pytest.approx(1 - 0.3**2)


def test_bounds_are_ordered_and_trained_codes_never_exceed_capacity() -> None:
    for levels in (2, 4, 8):
        for rate in (0.0, 0.3, 0.8):
            lo, mid = dr.theorem_lower_bound(rate, 3, levels), dr.proof_lower_bound(rate, 3, levels)
            assert lo <= mid + 1e-12 <= dr.capacity(rate, 3, levels) + 1e-12
    x = all_inputs(6)
    rates = [0.0, 0.4]
    model = dr.DropoutCodes([r for r in rates for _ in range(4)], list(range(4)) * 2, 6, 2, 4, 8)
    dr.train_codes(model, x, 60, 1e-2, 0)
    levels = model.levels_of(x)
    for i, r in enumerate(rates):
        info = dr.code_information(levels[4 * i : 4 * i + 4], r, 4)
        assert np.all(info <= dr.capacity(r, 2, 4) + 1e-9)


@pytest.mark.parametrize("activation", ["relu", "tanh", "leaky-relu", "linear"])
def test_jacobian_gram_matches_autograd(activation: str) -> None:
    x = all_inputs(4)
    model = build_ensemble(5, 2, activation, 1.0, [0, 1], 4, 1).to("cpu")
    grams = jacobian_gram(model, x)
    acts = layer_activations(model, x)
    state = model.state_dict()
    phi = {
        "relu": torch.relu,
        "tanh": torch.tanh,
        "linear": lambda t: t,
        "leaky-relu": lambda t: torch.nn.functional.leaky_relu(t, 0.01),
    }[activation]
    for layer in (1,):  # second hidden layer: ∂h_2/∂h_1
        w, b = state[f"layers.{layer}.weight"][0], state[f"layers.{layer}.bias"][0]
        rows = []
        for h_prev in acts[layer - 1].post[0]:
            j = torch.autograd.functional.jacobian(lambda h, w=w, b=b: phi(w @ h + b), h_prev)
            rows.append(j @ j.T)
        torch.testing.assert_close(grams[layer][0], torch.stack(rows).mean(0).double())


def test_leaky_relu_and_linear_backward_match_autograd() -> None:
    # The activations added to the ensemble engine for this lab.
    for activation in ("leaky-relu", "linear"):
        model = build_ensemble(4, 2, activation, 1.0, [0, 1], 3, 2)
        x = torch.randn(7, 3, generator=torch.Generator().manual_seed(0))
        cache = forward_with_cache(model, x)
        grad = backward(model, cache, torch.ones_like(cache.output))
        params = model.params.clone().requires_grad_()
        clone = type(model)(params, model.sizes, model.activation, model.seeds)
        forward_with_cache(clone, x).output.sum().backward()
        torch.testing.assert_close(grad, params.grad)


def test_linear_layer_covariance_equals_its_jacobian_picture() -> None:
    # Uniform bits have covariance I/4, so the first linear layer has cov = W Wᵀ / 4 = E[JJᵀ]/4:
    # the planted case in which Jacobian and covariance spectra must agree exactly.
    x = all_inputs(6)
    model = build_ensemble(4, 1, "linear", 1.0, [0], 6, 1)
    h = hidden_layers(model, x)[0][0]
    gram = jacobian_gram(model, x)[0][0]
    expected = np.sort(np.linalg.eigvalsh(gram.numpy() / 4))[::-1]
    np.testing.assert_allclose(covariance_spectrum(h.double()) * (63 / 64), expected, atol=1e-6)


def test_linear_information_is_the_gaussian_mi_of_the_noisy_layer() -> None:
    gen = torch.Generator().manual_seed(1)
    model = build_ensemble(3, 2, "linear", 1.0, [0], 4, 1)
    x = torch.randn(40_000, 4, generator=gen, dtype=torch.float64)
    h = hidden_layers(model, x.float())[-1][0].double()
    sigma = 0.3
    t = h + sigma * torch.randn(h.shape, generator=gen, dtype=torch.float64)
    exact = linear_information(model, np.array([sigma]))[0]
    assert gaussian_mutual_information(x, t) == pytest.approx(exact, abs=0.02)


def quantised_gaussian_entropy(sd: np.ndarray, delta: float) -> float:
    """Exact entropy (bits) of independent N(0, sd_i²) coordinates quantised to bins of δ."""
    total = 0.0
    for s in sd:
        edges = np.arange(-12 * s - delta, 12 * s + 2 * delta, delta)
        p = np.diff(ndtr(edges / s))
        p = p[p > 0]
        total += float(-(p * np.log2(p)).sum())
    return total


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_entropy_bound_holds_on_a_planted_power_law(alpha: float) -> None:
    # Eigenvalues λ_i = i^-α (scales i^-α/2), quantised at δ = 2^-8 × the top scale, m = 16.
    m, rng = 16, np.random.default_rng(0)
    sd = np.arange(1, m + 1) ** (-alpha / 2)
    acts = torch.as_tensor(rng.standard_normal((1, 200_000, m)) * sd)
    pooled = math.sqrt(float((sd**2).mean()))
    delta = 2.0**-8
    spec = layer_spectra(acts, torch.eye(m, dtype=torch.float64)[None], delta / pooled)
    assert spec.alpha[0] == pytest.approx(alpha, abs=0.05)
    assert spec.precision[0] == pytest.approx(8.0, abs=0.01)
    measured = quantised_gaussian_entropy(sd, delta)
    assert measured <= spec.bound_scale[0]
    # Tight up to the Gaussian term and Stirling's ½ log2(2πm) per unit of α/2.
    slack = spec.bound_scale[0] - measured
    gaussian_term = m / 2 * math.log2(2 * math.pi * math.e)
    assert slack < gaussian_term + alpha / 2 * math.log2(2 * math.pi * m) + 1
