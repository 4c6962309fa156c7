"""Monte-Carlo basin volume against quadratic basins with known determinants, and invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench.core.basin_volume import block_scales, mc_basin_volume, radii_along
from workbench.core.ensemble import TrainConfig, init_ensemble
from workbench.core.hessian import log_unit_ball_volume
from workbench.core.mlp_objective import layer_blocks, mlp_batch_loss, mlp_loss_grad
from workbench.core.models.mlp import EnsembleMLP, n_params_of
from workbench.core.tasks import all_inputs, make_task

H = torch.tensor([0.5, 0.8, 1.0, 1.3, 1.7, 2.0], dtype=torch.float64)


def _quadratic(w: torch.Tensor, _rows: torch.Tensor) -> torch.Tensor:
    return 0.5 * (H * w * w).sum(1)


def test_radii_are_the_exact_ellipsoid_radii() -> None:
    # Along unit u, ½ r² uᵀHu = T at r = √(2T / uᵀHu).
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(2, 50, 6, generator=gen, dtype=torch.float64)
    u /= torch.linalg.vector_norm(u, dim=-1, keepdim=True)
    r = radii_along(_quadratic, torch.zeros(2, 6, dtype=torch.float64), u, [0.01, 0.3])
    for i, t in enumerate((0.01, 0.3)):
        exact = torch.sqrt(2 * t / (u * u * H).sum(-1))
        torch.testing.assert_close(r[i], exact, rtol=1e-6, atol=0)


@pytest.mark.parametrize("threshold", [1e-3, 1.0])
def test_volume_estimate_is_close_and_its_interval_covers_at_about_the_nominal_rate(
    threshold: float,
) -> None:
    truth = log_unit_ball_volume(6) + 3 * math.log(2 * threshold) - 0.5 * float(torch.log(H).sum())
    # 60 independent replicates (rows) of a 400-direction estimate with a 90% interval.
    bv = mc_basin_volume(
        _quadratic, torch.zeros(60, 6, dtype=torch.float64), threshold, directions=400, seed=1
    )
    covered = float(np.mean((bv.lo <= truth) & (truth <= bv.hi)))
    assert 0.75 <= covered <= 1.0, covered
    assert abs(float(np.mean(bv.log_volume)) - truth) < 0.02
    assert bv.censored.sum() == 0
    one = mc_basin_volume(
        _quadratic,
        torch.zeros(1, 6, dtype=torch.float64),
        threshold,
        directions=4000,
        level=0.99,
        seed=7,
    )
    assert one.lo[0] <= truth <= one.hi[0]


def test_flat_directions_are_censored_at_r_max() -> None:
    def flat_in_last(w: torch.Tensor, _rows: torch.Tensor) -> torch.Tensor:
        return (w[:, :-1] ** 2).sum(1)

    u = torch.zeros(1, 2, 3, dtype=torch.float64)
    u[0, 0, -1] = 1.0  # the flat direction
    u[0, 1, 0] = 1.0
    (r,) = radii_along(flat_in_last, torch.zeros(1, 3, dtype=torch.float64), u, [0.04], r_max=50.0)
    assert float(r[0, 0]) == 50.0 and float(r[0, 1]) == pytest.approx(0.2, rel=1e-6)


def test_normalised_volume_is_invariant_to_relu_layer_rescaling() -> None:
    """Scaling layer 1 (weight and bias) by α and layer 2's weight by 1/α keeps the function.

    The raw basin changes; the per-layer-normalised one (same directions in z) does not.
    """
    x = all_inputs(4)
    y = make_task("first-bit", 4).targets.float().unsqueeze(1)
    model = init_ensemble(TrainConfig(widths=(6,)), range(3), 4, 1, dtype=torch.float64)
    sizes = model.sizes
    alpha = 3.0
    scaled = model.params.clone()
    w1, b1, w2 = layer_blocks(sizes)[:3]
    scaled[:, w1[0] : b1[1]] *= alpha  # layer 1's weight and bias
    scaled[:, w2[0] : w2[1]] /= alpha  # layer 2's weight
    loss = mlp_batch_loss(sizes, "relu", x.double(), y.double(), "mse")
    rows = torch.arange(3)
    torch.testing.assert_close(loss(scaled, rows), loss(model.params, rows))
    kw = {"directions": 64, "blocks": layer_blocks(sizes), "seed": 2}
    a = mc_basin_volume(loss, model.params, 2.0, normalize=True, **kw)  # type: ignore[arg-type]
    b = mc_basin_volume(loss, scaled, 2.0, normalize=True, **kw)  # type: ignore[arg-type]
    np.testing.assert_allclose(a.radii, b.radii, rtol=1e-6)
    raw_a = mc_basin_volume(loss, model.params, 2.0, **kw)  # type: ignore[arg-type]
    raw_b = mc_basin_volume(loss, scaled, 2.0, **kw)  # type: ignore[arg-type]
    assert np.abs(raw_a.log_volume - raw_b.log_volume).max() > 1.0


def test_block_scales_and_layer_blocks_cover_the_layout() -> None:
    sizes = (3, 4, 2)
    blocks = layer_blocks(sizes)
    assert blocks == [(0, 12), (12, 16), (16, 24), (24, 26)]
    assert blocks[-1][1] == n_params_of(sizes)
    w = torch.zeros(1, 26, dtype=torch.float64)
    w[0, :12] = 2.0
    s = block_scales(w, blocks, floor=1e-3)
    assert float(s[0, 0]) == 2.0 and float(s[0, 13]) == 1e-3


def test_mlp_loss_grad_uses_each_rows_own_targets() -> None:
    x = all_inputs(3)
    model = init_ensemble(TrainConfig(widths=(4,)), range(2), 3, 1)
    y = torch.stack([torch.zeros(8, 1), torch.ones(8, 1)])  # seed 0: zeros, seed 1: ones
    fn = mlp_loss_grad(model.sizes, "relu", x, y, "mse")
    w = torch.cat([model.params, model.params])  # rows: net 0, net 1, net 0, net 1
    loss, grad = fn(w, torch.tensor([0, 1, 1, 0]))  # ... scored against these seeds' targets
    out = EnsembleMLP(model.params, model.sizes, "relu").forward(x)
    torch.testing.assert_close(loss[0], out[0].square().mean())
    torch.testing.assert_close(loss[1], (out[1] - 1).square().mean())
    torch.testing.assert_close(loss[2], (out[0] - 1).square().mean())
    torch.testing.assert_close(loss[3], out[1].square().mean())
    assert not torch.allclose(grad[0], grad[2])
