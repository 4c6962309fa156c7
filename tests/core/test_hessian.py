"""Batched Hessians, Lanczos and the quadratic basin volume against closed forms and autodiff."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench.core.ensemble import TrainConfig, init_ensemble, per_seed_loss
from workbench.core.hessian import (
    dense_hessians,
    hvp_batched,
    lanczos,
    log_unit_ball_volume,
    mlp_loss_fn,
    quadratic_log_volume,
    spectrum_summary,
)
from workbench.core.mlp_hessian import mlp_hessians
from workbench.core.models.mlp import EnsembleMLP, backward, forward_with_cache
from workbench.core.tasks import all_inputs


def _quadratics(
    n: int, p: int, seed: int = 0, gap: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """n random symmetric matrices with known eigenvalues: (n, p, p) and (n, p) ascending.

    With ``gap`` the extreme eigenvalues (-5 and 10) stand apart from the bulk in [-1, 3], as
    Lanczos needs to converge in few steps.
    """
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, p, p, generator=gen, dtype=torch.float64))
    lam = torch.sort(torch.rand(n, p, generator=gen, dtype=torch.float64) * 4 - 1, dim=1).values
    if gap:
        lam[:, 0], lam[:, -1] = -5.0, 10.0
    return q @ torch.diag_embed(lam) @ q.transpose(1, 2), lam


def _ensemble(widths: tuple[int, ...], activation: str, seeds: int = 3) -> EnsembleMLP:
    cfg = TrainConfig(widths=widths, activation=activation)
    return init_ensemble(cfg, range(seeds), 3, 2, dtype=torch.float64)


def test_dense_hessian_of_a_quadratic_has_its_eigenvalues() -> None:
    a, lam = _quadratics(1, 7)
    h = dense_hessians(lambda w: 0.5 * w @ a[0] @ w + w.sum(), torch.randn(4, 7))
    assert h.shape == (4, 7, 7)
    # The Hessian of ½ wᵀAw + 1ᵀw is A wherever it is taken.
    np.testing.assert_allclose(
        torch.linalg.eigvalsh(h).numpy(), lam.expand(4, -1).numpy(), atol=1e-6
    )


def test_mlp_loss_flat_matches_the_ensemble_training_loss() -> None:
    model = _ensemble((5, 4), "gelu")
    x = all_inputs(3, torch.float64)
    y = torch.rand(8, 2, dtype=torch.float64)
    for loss in ("mse", "bce-with-logits"):
        fn = mlp_loss_fn(x, y, sizes=model.sizes, activation="gelu", loss=loss)
        ours = torch.stack([fn(model.params[i]) for i in range(model.n_seeds)])
        ref = per_seed_loss(forward_with_cache(model, x).output, y, loss)[0]
        torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
@pytest.mark.parametrize("loss", ["mse", "bce-with-logits"])
def test_closed_form_mlp_hessian_equals_autodiff(activation: str, loss: str) -> None:
    model = _ensemble((6, 5, 4), activation)
    x = all_inputs(3, torch.float64)
    y = torch.rand(3, 8, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ours = mlp_hessians(model, x, y, loss, chunk=2)  # chunks of 2 seeds: 2 + 1
    for s in range(model.n_seeds):
        fn = mlp_loss_fn(x, y[s], sizes=model.sizes, activation=activation, loss=loss)
        ref = torch.autograd.functional.hessian(fn, model.params[s])
        torch.testing.assert_close(ours[s], ref, atol=1e-12, rtol=1e-10)


def test_closed_form_hessian_equals_finite_differences_of_the_exact_gradient() -> None:
    model = _ensemble((4, 4), "tanh", seeds=1)
    x = all_inputs(3, torch.float64)
    y = torch.rand(8, 2, dtype=torch.float64)
    h = 1e-5
    p = model.params.shape[1]
    eye = torch.eye(p, dtype=torch.float64)

    def grad(w: torch.Tensor) -> torch.Tensor:
        m = EnsembleMLP(w, model.sizes, "tanh")
        cache = forward_with_cache(m, x)
        return backward(m, cache, per_seed_loss(cache.output, y, "mse")[1])

    fd = (grad(model.params + h * eye) - grad(model.params - h * eye)) / (2 * h)
    torch.testing.assert_close(mlp_hessians(model, x, y)[0], fd, atol=1e-7, rtol=1e-6)


def test_lanczos_recovers_the_extreme_eigenvalues_of_every_seed() -> None:
    a, lam = _quadratics(5, 40, seed=3, gap=True)
    ritz = lanczos(lambda v: torch.einsum("spq,sq->sp", a, v), 5, 40, 25)
    np.testing.assert_allclose(ritz[:, 0].numpy(), lam[:, -1].numpy(), rtol=1e-8)
    np.testing.assert_allclose(ritz[:, -1].numpy(), lam[:, 0].numpy(), rtol=1e-6, atol=1e-8)
    full = lanczos(lambda v: torch.einsum("spq,sq->sp", a, v), 5, 40, 40)
    np.testing.assert_allclose(full.flip(-1).numpy(), lam.numpy(), atol=1e-8)


def test_hvp_lanczos_path_agrees_with_the_dense_spectrum_of_a_net() -> None:
    model = _ensemble((6, 6), "tanh", seeds=2)
    x = all_inputs(3, torch.float64)
    y = torch.rand(8, 2, dtype=torch.float64)
    fn = mlp_loss_fn(x, y, sizes=model.sizes, activation="tanh")
    dense = torch.linalg.eigvalsh(mlp_hessians(model, x, y))
    p = model.params.shape[1]
    ritz = lanczos(hvp_batched(fn, model.params), 2, p, p)
    np.testing.assert_allclose(ritz.flip(-1).numpy(), dense.numpy(), atol=1e-8)


def test_spectrum_summary_counts_and_sums() -> None:
    lam = np.array([[3.0, 1.0, 1e-3, 0.0, -0.5], [2.0, 2.0, 2.0, 2.0, 2.0]])
    s = spectrum_summary(lam, [1e-4, 1.5])
    np.testing.assert_allclose(s.trace, [3.0 + 1.0 + 1e-3 - 0.5, 10.0])
    np.testing.assert_allclose(s.top, [3.0, 2.0])
    assert s.count_above.tolist() == [[3, 1], [5, 5]]
    assert s.n_negative.tolist() == [1, 0] and s.n_zero.tolist() == [1, 0]


def test_quadratic_log_volume_is_the_ellipse_area_and_counts_floored_eigenvalues() -> None:
    # ½(a x² + b y²) <= c is an ellipse with semi-axes √(2c/a), √(2c/b): area π·2c/√(ab).
    a, b, c = 2.0, 0.5, 0.3
    logv, floored = quadratic_log_volume(np.array([[a, b]]), c, 1e-9)
    assert logv[0] == pytest.approx(math.log(math.pi * 2 * c / math.sqrt(a * b)), rel=1e-12)
    assert floored[0] == 0
    logv, floored = quadratic_log_volume(np.array([[a, 0.0], [a, -1.0]]), np.array([c, -1.0]), 0.01)
    assert floored.tolist() == [1, 1]  # zero and negative eigenvalues are counted, not dropped
    assert logv[0] == pytest.approx(math.log(math.pi * 2 * c / math.sqrt(a * 0.01)), rel=1e-12)
    assert math.isnan(logv[1])  # no budget: the net is already above T
    assert log_unit_ball_volume(3) == pytest.approx(math.log(4 / 3 * math.pi))


def test_hessian_at_a_zero_residual_minimum_is_the_gauss_newton_part() -> None:
    """All weights 0 and the output bias at the constant target: L = mean (b - y)² near there.

    The hidden ReLUs are dead (pre-activation 0, φ' = 0) and the residual is 0, so the only
    curvature is d²L/db² = 2 on the output bias.
    """
    cfg = TrainConfig(widths=(4,), activation="relu")
    model = init_ensemble(cfg, range(2), 3, 1, dtype=torch.float64)
    model.params.zero_()
    model.layers[-1].bias.fill_(0.5)
    h = mlp_hessians(
        model, all_inputs(3, torch.float64), torch.full((8, 1), 0.5, dtype=torch.float64)
    )
    expected = torch.zeros_like(h)
    expected[:, -1, -1] = 2.0
    torch.testing.assert_close(h, expected)


@pytest.mark.gpu
def test_cuda_hessians_match_cpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    model = _ensemble((5, 5), "relu")
    x = all_inputs(3, torch.float64)
    y = torch.rand(8, 2, dtype=torch.float64)
    cpu = mlp_hessians(model, x, y)
    gpu = mlp_hessians(model.to("cuda"), x.cuda(), y.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-10, rtol=1e-8)
