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
