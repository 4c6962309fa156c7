"""Loss barriers along linear paths: closed forms, definitions, batching against a plain loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.core.barriers import alpha_grid, barrier, pair_indices, path_losses
from workbench.core.models.mlp import EnsembleMLP, init_mlp


def abs_nets() -> tuple[EnsembleMLP, EnsembleMLP]:
    """A computes |x| = relu(x) + relu(−x); B is A with its two hidden units swapped."""
    w1 = torch.tensor([[[1.0], [-1.0]]], dtype=torch.float64)
    b1 = torch.zeros(1, 2, dtype=torch.float64)
    w2 = torch.ones(1, 1, 2, dtype=torch.float64)
    b2 = torch.zeros(1, 1, dtype=torch.float64)
    a = EnsembleMLP.from_layers([w1, w2], [b1, b2], "relu")
    b = EnsembleMLP.from_layers([w1.flip(1), w2], [b1, b2], "relu")
    return a, b


def test_barrier_of_swapped_units_has_its_closed_form() -> None:
    # θ_α has hidden weights ±(1 − 2α), so f_α(x) = |1 − 2α| |x| and with y = |x|
    # L(α) = (1 − |1 − 2α|)² mean(x²): endpoints 0, peak mean(x²) at α = 1/2.
    a, b = abs_nets()
    x = torch.linspace(-2, 2, 41, dtype=torch.float64).unsqueeze(1)
    y = x.abs()
    alphas = alpha_grid(21)
    losses = path_losses(a, b, x, y, alphas, "mse")
    want = (1 - np.abs(1 - 2 * alphas)) ** 2 * float((x**2).mean())
    np.testing.assert_allclose(losses[0], want, atol=1e-12)
    for definition in ("interpolated", "max-endpoint"):  # equal endpoint losses: same value
        value, where = barrier(losses, alphas, definition)
        assert value[0] == pytest.approx(float((x**2).mean()))
        assert alphas[where[0]] == 0.5


def test_a_path_that_is_linear_in_the_output_has_no_barrier() -> None:
    # Same hidden layer, different output layers: the output is affine in α and the MSE convex,
    # so the loss never rises above the chord (barrier 0 at the endpoints).
    a = init_mlp((2, 6, 1), [0], dtype=torch.float64)
    b = EnsembleMLP(a.params.clone(), a.sizes, "relu")
    b.layers[1].weight.add_(torch.randn(1, 1, 6, generator=torch.Generator().manual_seed(0),
                                        dtype=torch.float64))  # fmt: skip
    x = torch.rand(50, 2, dtype=torch.float64)
    y = torch.rand(50, 1, dtype=torch.float64)
    alphas = alpha_grid(11)
    value, _ = barrier(path_losses(a, b, x, y, alphas, "mse"), alphas)
    assert value[0] == pytest.approx(0.0, abs=1e-12)


def test_definitions_are_ordered_and_checked() -> None:
    rng = np.random.default_rng(0)
    losses = rng.random((30, 9))
    alphas = alpha_grid(9)
    inter, _ = barrier(losses, alphas, "interpolated")
    maxend, _ = barrier(losses, alphas, "max-endpoint")
    assert np.all(inter >= 0) and np.all(maxend <= inter + 1e-15)
    chord = (1 - alphas) * losses[:, :1] + alphas * losses[:, -1:]
    np.testing.assert_allclose(inter, (losses - chord).max(axis=1))
    np.testing.assert_allclose(maxend, losses.max(1) - np.maximum(losses[:, 0], losses[:, -1]))
    with pytest.raises(ValueError, match="start at 0"):
        barrier(losses[:, 1:], alphas[1:])
    with pytest.raises(ValueError, match="unknown"):
        barrier(losses, alphas, "bogus")


@pytest.mark.parametrize("loss", ["mse", "bce-with-logits"])
def test_batched_path_losses_equal_a_plain_torch_loop(loss: str) -> None:
    a = init_mlp((4, 8, 8, 1), range(5), "tanh")
    b = init_mlp((4, 8, 8, 1), range(5, 10), "tanh")
    x = torch.rand(16, 4)
    y = (torch.rand(16, 1) > 0.5).float()
    alphas = alpha_grid(7)
    got = path_losses(a, b, x, y, alphas, loss, chunk=8)  # several chunks
    for p in range(5):
        for k, alpha in enumerate(alphas):
            layers = []
            for i, (la, lb) in enumerate(zip(a.layers, b.layers, strict=True)):
                lin = torch.nn.Linear(la.weight.shape[2], la.weight.shape[1])
                with torch.no_grad():
                    lin.weight.copy_((1 - alpha) * la.weight[p] + alpha * lb.weight[p])
                    lin.bias.copy_((1 - alpha) * la.bias[p] + alpha * lb.bias[p])
                layers += [lin] if i == 2 else [lin, torch.nn.Tanh()]
            with torch.no_grad():
                out = torch.nn.Sequential(*layers)(x)
            if loss == "mse":
                want = torch.nn.functional.mse_loss(out, y)
            else:
                want = torch.nn.functional.binary_cross_entropy_with_logits(out, y)
            assert got[p, k] == pytest.approx(float(want), rel=1e-5, abs=1e-7)


def test_pair_indices_all_and_sampled() -> None:
    pairs = pair_indices(6)
    assert pairs.shape == (15, 2) and np.all(pairs[:, 0] < pairs[:, 1])
    assert len({tuple(p) for p in pairs}) == 15
    sample = pair_indices(30, max_pairs=50, seed=1)
    assert sample.shape == (50, 2) and len({tuple(p) for p in sample}) == 50
    assert np.array_equal(sample, pair_indices(30, max_pairs=50, seed=1))
    assert pair_indices(6, max_pairs=100).shape == (15, 2)
    with pytest.raises(ValueError, match="two endpoints"):
        alpha_grid(1)
