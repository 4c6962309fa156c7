"""MINE's hand-written training step against autograd (issue 16: the fast path keeps the numbers).

``autograd_train`` is MINE's training loop as it was before issue 16, frozen here: pairs built
by ``cat``, the statistics networks' forward by ``baddbmm``, the surrogate loss differentiated
by autograd, ``torch.optim.Adam``. Swapped in for the module's ``_train``, it must give the same
estimates as the module's own loop, within float32 tolerance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor

import workbench.core.measures.mine as mine
from workbench.core.measures.mine_networks import StatisticsNetworks
from workbench.core.optim import BatchedAdam
from workbench.measures import mine_mutual_information_batch


def reference_pairs(xs: Tensor, zs: Tensor, i: Tensor, iz: Tensor, joint: int) -> Tensor:
    """``(rows, m, d_x + d_z)`` rows ``[x_i; z_j]``: x at ``i`` (tiled), z at ``iz``."""
    d_x, d_z = xs.shape[2], zs.shape[2]
    ix = i.repeat(1, iz.shape[1] // joint)
    gx = xs.gather(1, ix[:, :, None].expand(-1, -1, d_x))
    gz = zs.gather(1, iz[:, :, None].expand(-1, -1, d_z))
    return torch.cat([gx, gz], dim=2)


def reference_forward(params: list[Tensor], pairs: Tensor) -> Tensor:
    """T = w₃ᵀ relu(W₂ᵀ relu(W₁ᵀ [x; z] + b₁) + b₂) + b₃: ``(rows, m, d_in)`` → ``(rows, m)``."""
    w1, b1, w2, b2, w3, b3 = params
    h = torch.relu(torch.baddbmm(b1, pairs, w1))
    h = torch.relu(torch.baddbmm(b2, h, w2))
    return (h * w3).sum(dim=2) + b3[:, :, 0]


def reference_surrogate(t: Tensor, log_ma: Tensor, active: Tensor, b: int) -> Tensor:
    """Σ_rows [-mean T_joint + mean(stop_grad(e^{T_m} / m) · T_m)] over active rows."""
    t_joint, t_marg = t[:, :b], t[:, b:]
    weight = torch.exp(t_marg - log_ma[:, None]).detach()
    per_row = -t_joint.mean(dim=1) + (weight * t_marg).mean(dim=1)
    return torch.where(active, per_row, torch.zeros_like(per_row)).sum()


def autograd_train(
    net: object,
    xs: Tensor,
    zs: Tensor,
    train_idx: Tensor,
    steps: int,
    b: int,
    lr: float,
    ema_rate: float,
    gen: torch.Generator,
) -> Tensor:
    """MINE's training loop before issue 16 (same draws from ``gen``, in the same order)."""
    params: list[Tensor] = net.parameters  # type: ignore[attr-defined]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=lr)
    rows, n_train = train_idx.shape
    active = torch.ones(rows, dtype=torch.bool)
    log_ma = torch.zeros(rows)
    for step in range(steps):
        pick = torch.randint(0, n_train, (rows, 2, b), generator=gen)
        i = train_idx.gather(1, pick[:, 0])
        j = train_idx.gather(1, pick[:, 1])
        t = reference_forward(params, reference_pairs(xs, zs, i, torch.cat([i, j], dim=1), b))
        with torch.no_grad():
            lme = torch.logsumexp(t[:, b:], dim=1) - math.log(b)
            if step == 0 or ema_rate == 1.0:
                log_ma = lme
            else:
                log_ma = torch.logaddexp(log_ma + math.log1p(-ema_rate), lme + math.log(ema_rate))
            active &= torch.isfinite(lme) & torch.isfinite(t[:, :b]).all(dim=1)
        loss = reference_surrogate(t, log_ma, active, b)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    for p in params:
        p.requires_grad_(False)
    return active


def _problems(seed: int) -> tuple[Tensor, Tensor]:
    """Two problems of 300 samples, d_x = 2, d_z = 3: one dependent (ρ = 0.6), one independent."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 300, 2, generator=gen, dtype=torch.float64)
    z = torch.randn(2, 300, 3, generator=gen, dtype=torch.float64)
    z[0, :, :2] = 0.6 * x[0] + 0.8 * z[0, :, :2]
    return x, z


@pytest.mark.parametrize("ema_rate", [0.01, 1.0])
def test_a_short_run_gives_the_estimates_of_the_autograd_reference(
    monkeypatch: pytest.MonkeyPatch, ema_rate: float
) -> None:
    x, z = _problems(0)
    settings = {"n_estimators": 3, "hidden": 16, "steps": 40, "batch_size": 64, "seed": 5}
    fast = mine_mutual_information_batch(x, z, ema_rate=ema_rate, **settings)  # type: ignore[arg-type]
    monkeypatch.setattr(mine, "_train", autograd_train)
    slow = mine_mutual_information_batch(x, z, ema_rate=ema_rate, **settings)  # type: ignore[arg-type]
    for a, b in zip(fast, slow, strict=True):
        # 40 Adam steps of float32 networks; the reference differs only in rounding.
        np.testing.assert_allclose(a.estimates, b.estimates, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(a.null_estimates, b.null_estimates, rtol=1e-4, atol=1e-4)
        assert a.estimate == pytest.approx(b.estimate, rel=1e-4, abs=1e-4)
        assert a.standard_error == pytest.approx(b.standard_error, rel=1e-3, abs=1e-5)
    # The run trained: the dependent problem's estimate is not its untrained bound's noise.
    assert fast[0].estimate > fast[1].estimate


def _networks(rows: int, d_x: int, d_z: int, hidden: int) -> StatisticsNetworks:
    net = StatisticsNetworks(
        rows, d_x, d_z, hidden, torch.Generator().manual_seed(1), torch.device("cpu"), torch.float64
    )
    # Non-zero biases, so a wrong bias gradient or mask shows.
    gen = torch.Generator().manual_seed(2)
    for p in net.parameters[1::2]:
        p.copy_(0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return net


@pytest.mark.parametrize("groups", [1, 2, 3])
def test_one_step_s_gradients_equal_autograd_on_the_surrogate_loss(groups: int) -> None:
    # float64, random δ = ∂L/∂T: the hand-written backward against autograd of Σ δ·T on the
    # pairs built by concatenation (x tiled over the z groups).
    rows, b, d_x, d_z, hidden = 4, 10, 2, 3, 7
    net = _networks(rows, d_x, d_z, hidden)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(rows, b, d_x, generator=gen, dtype=torch.float64)
    z = torch.randn(rows, groups * b, d_z, generator=gen, dtype=torch.float64)
    delta = torch.randn(rows, groups * b, generator=gen, dtype=torch.float64)
    params = [p.clone().requires_grad_(True) for p in net.parameters]
    pairs = torch.cat([x.repeat(1, groups, 1), z], dim=2)
    t_ref = reference_forward(params, pairs)
    (delta * t_ref).sum().backward()  # type: ignore[no-untyped-call]
    t = net.forward(x, z)
    torch.testing.assert_close(t, t_ref.detach(), rtol=1e-12, atol=1e-12)
    net.backward(delta)
    for got, p in zip(net.grads, params, strict=True):
        assert p.grad is not None
        torch.testing.assert_close(got, p.grad, rtol=1e-12, atol=1e-12)
    # The masks matter: some units are off (a test with every ReLU on would miss a mask bug).
    h1 = net._buffer("h1", (rows, groups * b, hidden))
    assert 0.1 < float((h1 > 0).double().mean()) < 0.9


def test_the_mine_loss_gradient_and_adam_are_each_estimator_s_own() -> None:
    # Three MINE steps of the batched model (hand-written δ, backward, one fused Adam) against
    # each row trained alone: its own nn-free autograd of the surrogate loss, its own
    # torch.optim.Adam. float64, so the two agree to rounding.
    rows, b, d_x, d_z, hidden = 3, 12, 1, 2, 5
    net = _networks(rows, d_x, d_z, hidden)
    alone = [
        [p[r : r + 1].clone().requires_grad_(True) for p in net.parameters] for r in range(rows)
    ]
    optimizer = BatchedAdam(net.parameters, 0.01)
    adams = [torch.optim.Adam(ps, lr=0.01) for ps in alone]
    gen = torch.Generator().manual_seed(4)
    log_ma = torch.zeros(rows, dtype=torch.float64)
    for _ in range(3):
        x = torch.randn(rows, b, d_x, generator=gen, dtype=torch.float64)
        z = torch.randn(rows, 2 * b, d_z, generator=gen, dtype=torch.float64)
        t = net.forward(x, z)
        # ln m a little off the batch's own ln mean e^T, as a moving average is: at m = the
        # batch mean, Σ δ = 0 (DV ignores a shift of T), so ∂b₃ would be rounding noise that
        # Adam's g/(|g| + ε) blows up, in both implementations alike.
        log_ma = torch.logsumexp(t[:, b:], dim=1) - math.log(b) - 0.5
        delta = torch.cat(
            [
                torch.full((rows, b), -1.0 / b, dtype=torch.float64),
                torch.exp(t[:, b:] - log_ma[:, None]) / b,
            ],
            1,
        )
        net.backward(delta)
        optimizer.step(net.grads)
        for r, (ps, adam) in enumerate(zip(alone, adams, strict=True)):
            pairs = torch.cat([x[r : r + 1].repeat(1, 2, 1), z[r : r + 1]], dim=2)
            loss = reference_surrogate(
                reference_forward(ps, pairs), log_ma[r : r + 1], torch.ones(1, dtype=torch.bool), b
            )
            adam.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            adam.step()
    for r, ps in enumerate(alone):
        for got, p in zip(net.parameters, ps, strict=True):
            torch.testing.assert_close(got[r : r + 1], p.detach(), rtol=1e-10, atol=1e-12)
