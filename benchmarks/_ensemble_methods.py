"""The methods and timers of bench_ensemble.py: each method is a step function over its
own copy of the same weights; every timer measures warm steps only.

Every method computes the same per-seed trajectory as the engine (mean squared error,
ReLU, Adam), so their rates compare the same work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn

from workbench.core.ensemble import EnsembleMLP, TrainConfig, train_ensemble

N_BITS = 5
Step = Callable[[], None]


def bit_task(n_bits: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """All 2^n inputs (bit j of row i is bit j of i, MSB first) and y = the first bit."""
    codes = torch.arange(2**n_bits)
    x = ((codes.unsqueeze(1) >> torch.arange(n_bits - 1, -1, -1)) & 1).float()
    return x.to(device), x[:, :1].clone().to(device)


def matmul_flops(model: EnsembleMLP, batch: int) -> float:
    """Floating-point operations of the matrix products of one training step."""
    macs = sum(a * b for a, b in zip(model.sizes[:-1], model.sizes[1:], strict=True))
    return 6.0 * model.n_seeds * batch * macs  # forward 2, backward 4 per multiply-add


# --- methods: each returns a step function over its own copy of the same weights ----------------


def _stacked(model: EnsembleMLP) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    weights = [layer.weight.detach().clone().requires_grad_() for layer in model.layers]
    biases = [layer.bias.detach().clone().requires_grad_() for layer in model.layers]
    return weights, biases


def _forward_loss(
    weights: list[torch.Tensor], biases: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Σ_seed mean((f_seed(x) - y)²): its gradient row s is seed s's own gradient."""
    a = x.unsqueeze(0).expand(weights[0].shape[0], -1, -1)  # (seed, batch, d_in)
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        a = torch.baddbmm(b.unsqueeze(1), a, w.transpose(1, 2))  # (seed, batch, d_out)
        if i < len(weights) - 1:
            a = torch.relu(a)
    return (a - y).square().mean(dim=(1, 2)).sum()


def autograd_fused(
    model: EnsembleMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    loss_fn: Callable[..., torch.Tensor] = _forward_loss,
) -> tuple[Step, list[torch.Tensor]]:
    """bmm layers + autograd + fused Adam; ``loss_fn`` may be a compiled ``_forward_loss``."""
    weights, biases = _stacked(model)
    opt = torch.optim.Adam([*weights, *biases], lr=lr, fused=True)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(weights, biases, x, y).backward()
        opt.step()

    return step, weights


def vmap_fused(
    model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor, lr: float
) -> tuple[Step, list[torch.Tensor]]:
    from torch.func import functional_call, grad, vmap

    layers: list[nn.Module] = []
    for i, layer in enumerate(model.layers):
        layers.append(nn.Linear(layer.weight.shape[2], layer.weight.shape[1]))
        if i < model.n_layers - 1:
            layers.append(nn.ReLU())
    net = nn.Sequential(*layers).to(model.device)
    names = [n for n, _ in net.named_parameters()]
    stacked = [t for layer in model.layers for t in (layer.weight, layer.bias)]
    params = {n: t.detach().clone() for n, t in zip(names, stacked, strict=True)}
    opt = torch.optim.Adam(list(params.values()), lr=lr, fused=True)

    def loss(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return (functional_call(net, p, (x,)) - y).square().mean()

    per_seed_grad = vmap(grad(loss))

    def step() -> None:
        grads = per_seed_grad(params)
        for n, t in params.items():
            t.grad = grads[n]
        opt.step()

    return step, [params[n] for n in names[::2]]


def plain_loop_time(
    model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int
) -> float:
    """Seconds per seed-step of one nn.Sequential + Adam per seed."""
    nets = []
    for s in range(model.n_seeds):
        layers: list[nn.Module] = []
        for i, layer in enumerate(model.layers):
            linear = nn.Linear(layer.weight.shape[2], layer.weight.shape[1])
            with torch.no_grad():
                linear.weight.copy_(layer.weight[s])
                linear.bias.copy_(layer.bias[s])
            layers.append(linear)
            if i < model.n_layers - 1:
                layers.append(nn.ReLU())
        nets.append(nn.Sequential(*layers).to(model.device))
    start = time.perf_counter()
    for net in nets:
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            ((net(x) - y) ** 2).mean().backward()
            opt.step()
    _sync(x.device)
    return (time.perf_counter() - start) / (len(nets) * steps)


def time_engine(
    model: EnsembleMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    steps: int,
    repeats: int,
    between: Callable[[int], None] | None = None,
) -> list[float]:
    """Seconds per step of train_ensemble in its steady state: ``repeats`` samples.

    One run of ``(repeats + 1)·steps + 1`` steps on a copy of ``model``, reporting
    every ``steps`` steps. Sample j (j = 1..repeats) is the time from the end of
    report j's callback to the start of report j+1: ``steps`` forward-backward
    passes and updates plus the one write-back to the model that every report
    costs (a real run reports every ``log_every`` = 50 steps, so this overstates
    the engine's time a little). The stretch before report 1 is the warm-up, and
    set-up and the final full-data evaluation are outside every sample, as they
    are outside the other methods' timings. ``between(j)`` runs inside report j's
    callback, just before sample j, so that other methods interleave with the
    engine's samples without being counted in them.
    """
    marks: list[tuple[float, float]] = []  # (callback entered, callback left) per report

    def callback(_: object) -> None:
        _sync(x.device)
        entered = time.perf_counter()
        if between is not None and 1 <= len(marks) + 1 <= repeats:
            between(len(marks) + 1)
        _sync(x.device)
        marks.append((entered, time.perf_counter()))

    copy = EnsembleMLP(model.params.clone(), model.sizes, model.activation, model.seeds)
    run = replace(config, steps=(repeats + 1) * steps + 1, log_every=steps)
    train_ensemble(copy, x, y, run, callback=callback)
    return [(marks[j][0] - marks[j - 1][1]) / steps for j in range(1, repeats + 1)]


def time_step(step: Step, steps: int, device: torch.device) -> float:
    """Seconds per step after one warm-up step (first-call allocations, compile)."""
    step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def steps_for(flops: float, budget: float) -> int:
    """Steps that take about ``budget`` seconds, from a rough 30 GFLOP/s + 1 ms per step.

    At least 3, so a wide shape's sample is never one or two steps; at most 400.
    """
    return int(max(3, min(400, budget / (flops / 30e9 + 1e-3))))


def matmul_peak(device: torch.device) -> float:
    """Best GFLOP/s of a 1024² fp32 matmul at the current thread count."""
    a = torch.randn(1024, 1024, device=device)
    best = float("inf")
    for _ in range(5):
        _sync(device)
        start = time.perf_counter()
        a @ a
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * 1024**3 / best / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
