"""MINE: mutual information by a neural Donsker–Varadhan lower bound, many estimators at once.

Belghazi et al. (2018, "Mutual Information Neural Estimation", ICML) maximise over a statistics
network T_θ the Donsker–Varadhan (DV) representation of the KL divergence::

    I(X; Z) = sup_T  E_{P_XZ}[T] - ln E_{P_X ⊗ P_Z}[e^T]   >=   DV(θ) for every θ      (nats)

with the expectations replaced by minibatch means: joint pairs (x_i, z_i), and marginal pairs
(x_i, z_j) with z_j drawn independently. The minibatch gradient of ``ln mean e^T`` is biased
(the log of a mean); the paper's correction (their §3.2) replaces the denominator of

    ∇ ln E[e^T] = E[∇T e^T] / E[e^T]

by an exponential moving average ``m ← (1 - τ) m + τ mean_batch(e^T)`` over minibatches, which
is what this module does (``ema_rate`` is τ; the paper uses a small τ, 0.01 here).

**Many estimators as one batched model.** ``n_estimators`` statistics networks (and as many
*null* networks, trained on a shuffled pairing whose true MI is 0) are rows of one set of
stacked weight tensors, like the seed ensembles: one step is one batched forward, one
hand-written backward into buffers kept across steps (no autograd;
:mod:`workbench.core.measures.mine_networks` gives the formulas) and one fused Adam kernel
for all of them, never a Python loop over estimators. Several independent problems
(``(problem, n, d)`` inputs) share that model too.

**Estimate, interval, bias.** Each estimator has its own initialisation, its own minibatches
and its own random train/held-out split of the samples; after training, its DV bound is
evaluated on its held-out samples (marginal pairs from ``eval_shuffles`` random re-pairings).
The estimate is the mean over estimators; its standard error combines the spread across
estimators (optimisation noise, which averages out) with the delta-method sampling error of a
held-out bound (which does not: the estimators share the data); the interval is the estimate
± z·SE. The null estimators' mean is the estimator's bias at zero MI, reported beside it. The
interval covers the *bound* MINE converges to; it covers the true MI only where that bound is
tight (low MI, low dimension), see below.

**When it under-estimates, and by how much.** DV is a lower bound, and the trained T falls
short of the optimum ``ln p(x,z)/(p(x)p(z)) + const``; held-out evaluation keeps overfitting
from pushing the estimate above the truth, so the error is mostly downward and grows with the
MI: a high-confidence lower bound from N samples cannot exceed about ``log N``
(McAllester & Stratos, 2020), and the variance of the DV estimate grows like ``e^I``
(Song & Ermon, 2020). Measured on Gaussian pairs (d coordinate pairs of correlation ρ, true
``I = -(d/2) log2(1 - ρ²)``), default settings (8 estimators, 1500 steps), N = 4000 samples, one
data set each, bits (``python benchmarks/bench_channels.py --bias-table`` prints this table):

=======  ======  ======  =======  ===============  ============
d, ρ     true    MINE    error    95% interval     bias at zero
=======  ======  ======  =======  ===============  ============
1, 0.5   0.21    0.14    -0.07    [-0.01, 0.29]    -0.01
2, 0.5   0.42    0.42    +0.00    [0.32, 0.52]     -0.04
5, 0.5   1.04    0.89    -0.14    [0.73, 1.06]     -0.23
5, 0.9   5.99    5.23    -0.76    [3.39, 7.07]     -0.21
10, 0.5  2.08    1.79    -0.29    [1.49, 2.09]     -0.54
20, 0.3  1.36    0.83    -0.53    [0.58, 1.09]     -0.96
20, 0.9  23.96   5.84    -18.12   [1.14, 10.54]    -0.94
=======  ======  ======  =======  ===============  ============

The interval covers the truth up to d = 10 here and misses it at d = 20, where the shortfall
(-0.5 bits at 1.4 bits, -18 bits at 24 bits) exceeds it; the bias at zero also grows with d
(the held-out bound of an overfitted T is negative). So: trust MINE within its interval below
a few bits and about ten dimensions at N of a few thousand; above that read it as a lower
bound that falls further short as I and d grow.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from workbench.core.measures._arrays import Array, as_float, check_paired, resolve_device
from workbench.core.measures.mine_estimate import MineEstimate, summarise
from workbench.core.measures.mine_networks import StatisticsNetworks
from workbench.core.optim import BatchedAdam

__all__ = ["MineEstimate", "mine_mutual_information", "mine_mutual_information_batch"]

LN2 = math.log(2.0)


def mine_mutual_information(
    x: Array,
    z: Array,
    *,
    n_estimators: int = 8,
    hidden: int = 64,
    steps: int = 1500,
    batch_size: int = 256,
    lr: float = 1e-3,
    ema_rate: float = 0.01,
    eval_fraction: float = 0.3,
    eval_shuffles: int = 8,
    level: float = 0.95,
    seed: int = 0,
    null_estimators: bool = True,
) -> MineEstimate:
    """I(X; Z) in bits by MINE, with an interval across estimators and the bias at zero.

    Args:
        x: (n_samples, d_x) samples, numpy or torch on any device (the work runs there).
        z: (n_samples, d_z) samples paired with x.
        n_estimators: Independent statistics networks (and as many null networks), >= 2.
        hidden: Width of the statistics network's two hidden ReLU layers.
        steps: Adam steps.
        batch_size: Joint pairs per step (as many marginal pairs).
        lr: Adam learning rate.
        ema_rate: τ of the moving average in the gradient correction, in (0, 1].
        eval_fraction: Share of the samples each estimator holds out for its final bound.
        eval_shuffles: Re-pairings of the held-out samples that make its marginal pairs.
        level: Coverage of the interval across estimators.
        seed: Seeds the statistics networks (estimator k uses seed ``seed + k``) and the data
            draws; the result depends on nothing else.
        null_estimators: Also train the null networks (on a shuffled pairing, true MI 0) that
            give ``bias_at_zero``. They double the work; a caller that measures the bias
            against a known truth of its own can leave them out (``bias_at_zero`` is then NaN
            and ``null_estimates`` empty).

    Returns:
        A :class:`MineEstimate`.

    Raises:
        ValueError: On unpaired, empty or non-finite input, or a setting out of range.
    """
    device = resolve_device(x, z)
    tx = as_float(x, "x", promote_1d=True, device=device)
    tz = as_float(z, "z", promote_1d=True, device=device)
    check_paired(("x", tx), ("z", tz))
    return mine_mutual_information_batch(
        tx[None],
        tz[None],
        n_estimators=n_estimators,
        hidden=hidden,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        ema_rate=ema_rate,
        eval_fraction=eval_fraction,
        eval_shuffles=eval_shuffles,
        level=level,
        seed=seed,
        null_estimators=null_estimators,
    )[0]


def mine_mutual_information_batch(
    x: Array,
    z: Array,
    *,
    n_estimators: int = 8,
    hidden: int = 64,
    steps: int = 1500,
    batch_size: int = 256,
    lr: float = 1e-3,
    ema_rate: float = 0.01,
    eval_fraction: float = 0.3,
    eval_shuffles: int = 8,
    level: float = 0.95,
    seed: int = 0,
    null_estimators: bool = True,
) -> list[MineEstimate]:
    """MINE for several independent problems of one shape, all estimators in one model.

    Args:
        x: ``(problem, n_samples, d_x)``.
        z: ``(problem, n_samples, d_z)``.
        Others: as :func:`mine_mutual_information`.

    Returns:
        One :class:`MineEstimate` per problem.
    """
    device = resolve_device(x, z)
    tx = as_float(x, "x", ndim=3, shape_doc="(problem, n_samples, d_x)", device=device)
    tz = as_float(z, "z", ndim=3, shape_doc="(problem, n_samples, d_z)", device=device)
    _check_settings(
        tx,
        tz,
        n_estimators,
        hidden,
        steps,
        batch_size,
        lr,
        ema_rate,
        eval_fraction,
        eval_shuffles,
        level,
    )
    n_problems, n, d_x = tx.shape
    d_z = tz.shape[2]
    k = n_estimators
    n_eval = max(2, round(eval_fraction * n))
    n_train = n - n_eval
    gen = torch.Generator(device="cpu").manual_seed(seed)

    # 1. Standardise every feature (MI is invariant to it; the networks train better).
    tx = (tx - tx.mean(dim=1, keepdim=True)) / tx.std(dim=1, keepdim=True).clamp_min(1e-12)
    tz = (tz - tz.mean(dim=1, keepdim=True)) / tz.std(dim=1, keepdim=True).clamp_min(1e-12)
    # 2. Rows of the batched model: (problem, role, estimator) with role 0 = real pairing and
    #    role 1 = null (z re-paired by a fixed random permutation, so the true MI is 0).
    roles = 2 if null_estimators else 1
    rows = n_problems * roles * k
    problem_of = torch.arange(n_problems).repeat_interleave(roles * k)  # (rows,)
    null_perm = torch.rand(n_problems, n, generator=gen).argsort(dim=1)  # (problem, n)
    xs = tx.to(torch.float32)[problem_of.to(device)]  # (rows, n, d_x)
    zs = tz.to(torch.float32)
    z_null = zs.gather(1, null_perm.to(device)[:, :, None].expand(-1, -1, d_z))
    zs = torch.stack([zs, z_null][:roles], dim=1)  # (problem, role, n, d_z)
    zs = zs[:, :, None].expand(-1, -1, k, -1, -1).reshape(rows, n, d_z)
    # 3. Each row's own train/held-out split.
    split = torch.rand(rows, n, generator=gen).argsort(dim=1).to(device)  # (rows, n)
    train_idx, eval_idx = split[:, :n_train], split[:, n_train:]

    net = StatisticsNetworks(rows, d_x, d_z, hidden, gen, device)
    active = _train(net, xs, zs, train_idx, steps, min(batch_size, n_train), lr, ema_rate, gen)
    nats, se = _held_out_bound(net, xs, zs, eval_idx, eval_shuffles, gen)  # (rows,) each
    bits = torch.where(active & torch.isfinite(nats), nats / LN2, torch.nan)
    values = bits.reshape(n_problems, roles, k).to("cpu", torch.float64).numpy()
    errors = (se / LN2).reshape(n_problems, roles, k).to("cpu", torch.float64).numpy()
    no_null = np.zeros(0)
    return [
        summarise(
            values[p, 0],
            values[p, 1] if null_estimators else no_null,
            errors[p, 0],
            level,
            n_train,
            n_eval,
            steps,
        )
        for p in range(n_problems)
    ]


def _train(
    net: StatisticsNetworks,
    xs: Tensor,
    zs: Tensor,
    train_idx: Tensor,
    steps: int,
    b: int,
    lr: float,
    ema_rate: float,
    gen: torch.Generator,
) -> Tensor:
    """Train every row on its own training samples; returns ``active: (rows,)`` (finite so far).

    Shapes: ``xs (rows, n, d_x)``, ``zs (rows, n, d_z)``, ``train_idx (rows, n_train)``.
    """
    rows, n_train = train_idx.shape
    device = xs.device
    # One fused Adam kernel over the stacked tensors; Adam is elementwise, so this is exactly
    # one torch.optim.Adam per estimator (tests/core/test_ensemble.py checks BatchedAdam so).
    optimizer = BatchedAdam(net.parameters, lr)
    active = torch.ones(rows, dtype=torch.bool, device=device)
    log_ma = torch.zeros(rows, device=device)
    delta = torch.empty(rows, 2 * b, dtype=xs.dtype, device=device)  # ∂L/∂T, kept
    for step in range(steps):
        # 4. Joint pairs (x_i, z_i) and marginal pairs (x_i, z_j), i and j drawn independently:
        #    z at [i | j], x at i once (the networks pair it with both halves).
        pick = torch.randint(0, n_train, (rows, 2, b), generator=gen).to(device)
        ij = train_idx.gather(1, pick.view(rows, 2 * b))  # (rows, 2b)
        t = net.forward(_rows_at(xs, ij[:, :b]), _rows_at(zs, ij))  # (rows, 2b)
        t_joint, t_marg = t[:, :b], t[:, b:]
        # 5. Moving average of mean e^T in log space: ln m ← ln((1 - τ) m + τ mean e^T).
        lme = torch.logsumexp(t_marg, dim=1) - math.log(b)  # ln mean e^T   (rows,)
        if step == 0 or ema_rate == 1.0:
            log_ma = lme
        else:
            log_ma = torch.logaddexp(log_ma + math.log1p(-ema_rate), lme + math.log(ema_rate))
        active &= torch.isfinite(lme) & torch.isfinite(t_joint).all(dim=1)
        # 6. The corrected gradient of -DV with respect to T (rows never mix, so each row
        #    trains on its own loss): ∂/∂T_joint = -1/b, ∂/∂T_marg,i = e^{T_i} / (b m), with m
        #    the moving average; 0 for rows that have diverged.
        delta[:, :b].fill_(-1.0 / b)
        torch.sub(t_marg, log_ma[:, None], out=delta[:, b:]).exp_().div_(b)
        delta.masked_fill_(~active[:, None], 0.0)
        net.backward(delta)
        optimizer.step(net.grads)
    return active


def _rows_at(data: Tensor, index: Tensor) -> Tensor:
    """``data[r, index[r, k]]`` for every row r: ``(rows, n, d)``, ``(rows, m)`` → ``(rows, m, d)``.

    One ``index_select`` on the flattened samples (offset row r by r·n): a row copy per pick,
    cheaper than ``gather`` with an index expanded over d.
    """
    rows, n, d = data.shape
    offset = torch.arange(0, rows * n, n, device=index.device)[:, None]  # (rows, 1)
    flat = (index + offset).reshape(-1)
    return data.reshape(rows * n, d).index_select(0, flat).view(rows, index.shape[1], d)


def _held_out_bound(
    model: StatisticsNetworks,
    xs: Tensor,
    zs: Tensor,
    eval_idx: Tensor,
    shuffles: int,
    gen: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """DV bound in nats on each row's held-out samples, and its sampling standard error.

    Bound: ``mean T(joint) - ln mean e^{T(marginal)}``. Standard error by the delta method,
    ``√(var T_joint / m + var e^{T_m} / (m (mean e^{T_m})²))`` with m the held-out count (the
    marginal pairs re-use those m samples, so m, not their number, is the sample size).
    """
    rows, m = eval_idx.shape
    x_eval = _rows_at(xs, eval_idx)  # (rows, m, d_x)
    t_joint = model.forward(x_eval, _rows_at(zs, eval_idx)).clone()  # (rows, m)
    # Marginal pairs: the held-out x's with their z's re-paired by `shuffles` random permutations.
    order = torch.rand(rows, shuffles, m, generator=gen).argsort(dim=2).to(eval_idx.device)
    iz = eval_idx.gather(1, order.reshape(rows, -1)).view(rows, shuffles, m)
    # One re-pairing at a time: the networks' buffers stay (rows, m, H), not shuffles times that.
    t_marg = torch.empty(rows, shuffles, m, dtype=t_joint.dtype, device=t_joint.device)
    for s in range(shuffles):
        t_marg[:, s] = model.forward(x_eval, _rows_at(zs, iz[:, s]))
    t_marg = t_marg.reshape(rows, shuffles * m)
    bound = t_joint.mean(dim=1) - (torch.logsumexp(t_marg, dim=1) - math.log(t_marg.shape[1]))
    w = torch.exp(t_marg - t_marg.max(dim=1, keepdim=True).values)  # e^T up to a constant
    var = t_joint.var(dim=1) / m + w.var(dim=1) / (m * w.mean(dim=1).square())
    return bound, var.sqrt()


def _check_settings(
    tx: Tensor,
    tz: Tensor,
    n_estimators: int,
    hidden: int,
    steps: int,
    batch_size: int,
    lr: float,
    ema_rate: float,
    eval_fraction: float,
    eval_shuffles: int,
    level: float,
) -> None:
    if tx.shape[:2] != tz.shape[:2]:
        raise ValueError(
            f"x and z must hold the same problems and samples: (problem, n_samples, d); "
            f"got {tuple(tx.shape)} and {tuple(tz.shape)}"
        )
    n = tx.shape[1]
    checks = [
        (n_estimators >= 2, f"n_estimators must be >= 2 (for an interval); got {n_estimators}"),
        (hidden >= 1, f"hidden must be >= 1; got {hidden}"),
        (steps >= 1, f"steps must be >= 1; got {steps}"),
        (batch_size >= 2, f"batch_size must be >= 2; got {batch_size}"),
        (lr > 0 and math.isfinite(lr), f"lr must be a finite number > 0; got {lr}"),
        (0 < ema_rate <= 1, f"ema_rate must lie in (0, 1]; got {ema_rate}"),
        (0 < eval_fraction < 1, f"eval_fraction must lie in (0, 1); got {eval_fraction}"),
        (eval_shuffles >= 1, f"eval_shuffles must be >= 1; got {eval_shuffles}"),
        (0 < level < 1, f"level must lie in (0, 1); got {level}"),
        (n >= 8, f"MINE needs at least 8 samples; got {n}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
