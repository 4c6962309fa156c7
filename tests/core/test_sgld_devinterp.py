"""Peer check: workbench's batched λ̂ against devinterp's SGLD optimiser, chain by chain.

devinterp (the reference LLC tool) is a test-only dependency. Its ``SGLD`` optimiser takes
``w ← w - (ε/2)(nβ ∇L + γ(w - w₀)) + √ε ξ``, the same update and nβ convention as
:mod:`workbench.core.sgld`; the chains run one after another, as devinterp does, on a small
MLP, and λ̂ = nβ(mean L - L(w*)) is formed from the same draws.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from workbench.core.ensemble import TrainConfig, init_ensemble, train_ensemble
from workbench.core.mlp_objective import mlp_loss_grad
from workbench.core.sgld import SGLDSetting, sgld_llc
from workbench.core.tasks import all_inputs, make_task

devinterp_optim = pytest.importorskip("devinterp.optim")


@pytest.mark.slow
def test_llc_agrees_with_devinterp_within_chain_spreads() -> None:
    x = all_inputs(4)
    y = make_task("first-bit", 4).targets.float().unsqueeze(1)
    cfg = TrainConfig(widths=(6,), steps=3000, lr=1e-2, loss_threshold=1e-5)
    model = init_ensemble(cfg, [3], 4, 1)
    train_ensemble(model, x, y, cfg)
    setting = SGLDSetting(step_size=2e-5, nbeta=1000.0, localization=100.0)
    chains, draws, burn = 8, 800, 200

    ours = sgld_llc(
        mlp_loss_grad(model.sizes, "relu", x, y, "mse"),
        model.params,
        [setting],
        chains=chains,
        draws=draws,
        burn_in=burn,
        seed=0,
    )

    # The same net as an nn.Module, sampled by devinterp's optimiser, one chain at a time.
    w1, b1, w2, b2 = (
        t[0]
        for t in (
            model.layers[0].weight,
            model.layers[0].bias,
            model.layers[1].weight,
            model.layers[1].bias,
        )
    )
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 1))
    init_loss = float(torch.nn.functional.mse_loss(torch.relu(x @ w1.T + b1) @ w2.T + b2, y))
    peer = []
    gen = torch.Generator().manual_seed(1)
    for _ in range(chains):
        with torch.no_grad():
            for p, v in zip(net.parameters(), (w1, b1, w2, b2), strict=True):
                p.copy_(v)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            opt = devinterp_optim.SGLD(
                net.parameters(),
                lr=setting.step_size,
                localization=setting.localization,
                nbeta=setting.nbeta,
            )
        total = 0.0
        for t in range(burn + draws):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(x), y)
            loss.backward()
            if t >= burn:
                total += float(loss)
            opt.step(noise_generator=gen)
        peer.append(setting.nbeta * (total / draws - init_loss))
    peer_a = np.asarray(peer)
    spread = math.hypot(float(ours.llc_std[0, 0]), float(peer_a.std(ddof=1))) / math.sqrt(chains)
    assert abs(float(ours.llc[0, 0]) - float(peer_a.mean())) < 4 * spread, (ours.llc, peer_a)
