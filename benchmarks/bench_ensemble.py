"""Seed-ensemble training speed: one batched model against one nn.Module per seed.

Task: the 5-bit first-bit task (all 32 inputs, full batch, MSE, Adam, lr 1e-2,
the default widths of ``TrainConfig``). Every seed trains every step
(``loss_threshold = 0``), so no seed is skipped by freezing.

* **batched**: :func:`workbench.core.ensemble.train_ensemble` on 20, 200 and 2,000
  seeds at once.
* **plain loop**: what the sprint did: one ``nn.Sequential`` and one
  ``torch.optim.Adam`` per seed, trained one after the other. Its cost per
  seed-step does not depend on the number of seeds, so it is timed on a few seeds
  and extrapolated; the output says so.

Both are timed in the same process, interleaved, and each figure is the best of
several repeats, so a busy machine slows both rather than skewing the ratio. The
plain loop starts from the same weights as the batched seeds, and the script checks
that both end at the same weights (a correctness check, not only a timing).

Usage::

    python benchmarks/bench_ensemble.py                # CPU, 2 threads, full
    python benchmarks/bench_ensemble.py --quick        # a fast smoke run
    python benchmarks/bench_ensemble.py --device cuda

Target: at least 100x the plain loop at 200 seeds on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch import nn

from workbench.core.device import resolve_device
from workbench.core.ensemble import EnsembleMLP, TrainConfig, init_ensemble, train_ensemble

N_BITS = 5
TARGET_RATIO = 100.0


def first_bit_task(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """All 2^5 inputs (x: (32, 5), bit j of row i is bit j of i, MSB first) and y = x[:, :1]."""
    codes = torch.arange(2**N_BITS)
    x = ((codes.unsqueeze(1) >> torch.arange(N_BITS - 1, -1, -1)) & 1).float()
    return x.to(device), x[:, :1].clone().to(device)


def plain_modules(model: EnsembleMLP) -> list[nn.Sequential]:
    """One nn.Sequential per seed, holding a copy of that seed's weights."""
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
    return nets


def time_plain(
    model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int
) -> tuple[float, list[nn.Sequential]]:
    """Seconds per seed-step of the sprint's loop, and the trained modules."""
    nets = plain_modules(model)
    start = time.perf_counter()
    for net in nets:
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            loss = ((net(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
    _sync(x.device)
    return (time.perf_counter() - start) / (len(nets) * steps), nets


def time_batched(
    model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor, config: TrainConfig
) -> float:
    """Seconds per batched step (every seed advances one step)."""
    _sync(x.device)
    start = time.perf_counter()
    result = train_ensemble(model, x, y, config)
    _sync(x.device)
    assert result.steps_run == config.steps and not result.diverged.any()
    return (time.perf_counter() - start) / config.steps


def max_weight_gap(model: EnsembleMLP, nets: list[nn.Sequential]) -> float:
    """Largest |batched - plain| over the weights of the seeds trained both ways."""
    gap = 0.0
    for s, net in enumerate(nets):
        linears = [m for m in net if isinstance(m, nn.Linear)]
        for layer, linear in zip(model.layers, linears, strict=True):
            gap = max(gap, float((layer.weight[s] - linear.weight.detach()).abs().max()))
            gap = max(gap, float((layer.bias[s] - linear.bias.detach()).abs().max()))
    return gap


def _load() -> str:
    """The 1-minute load average against the core count, or 'unknown'."""
    try:
        return f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    except (AttributeError, OSError):  # not on every platform
        return "unknown"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (0: default)")
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    args = parser.parse_args()

    device = resolve_device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    steps = 60 if args.quick else 300
    plain_seeds, plain_steps = (2, 60) if args.quick else (4, 150)
    repeats = 2 if args.quick else 3
    config = TrainConfig(steps=steps, loss_threshold=0.0, log_every=10**9, lr=1e-2)
    x, y = first_bit_task(device)

    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"machine load before: {_load()}")
    print(f"task first-bit, {N_BITS} bits ({len(x)} inputs, full batch), widths {config.widths}")
    print(f"adam lr {config.lr}, mse, every seed trains all {steps} steps (loss_threshold 0)\n")

    plain_times: list[float] = []
    batched_times: dict[int, list[float]] = {20: [], 200: [], 2000: []}
    init_seconds = 0.0
    weight_gap = 0.0
    for _ in range(repeats):
        probe = init_ensemble(config, range(plain_seeds), N_BITS, 1, device=device)
        seconds, nets = time_plain(probe, x, y, config.lr, plain_steps)
        plain_times.append(seconds)
        for n_seeds in batched_times:
            start = time.perf_counter()
            model = init_ensemble(config, range(n_seeds), N_BITS, 1, device=device)
            if n_seeds == 2000:
                init_seconds = time.perf_counter() - start
            batched_times[n_seeds].append(time_batched(model, x, y, config))
        # Same seeds, same steps, both ways: the weights must agree.
        check = init_ensemble(config, range(plain_seeds), N_BITS, 1, device=device)
        train_ensemble(check, x, y, TrainConfig(steps=plain_steps, lr=config.lr))
        weight_gap = max(weight_gap, max_weight_gap(check, nets))

    plain = min(plain_times)
    plain_rate = 1.0 / plain
    print(
        f"plain loop: {plain * 1e6:8.1f} us per seed-step = {plain_rate:10,.0f} seed-steps/s "
        f"(timed on {plain_seeds} seeds x {plain_steps} steps, extrapolated per seed-step)"
    )
    print(f"init of 2,000 seeds (one generator each): {init_seconds * 1e3:.1f} ms\n")
    print(f"{'seeds':>6} {'us/step':>10} {'seed-steps/s':>14} {'vs plain loop':>14}")
    ratios = {}
    for n_seeds, times in batched_times.items():
        per_step = min(times)
        rate = n_seeds / per_step
        ratios[n_seeds] = rate / plain_rate
        print(f"{n_seeds:>6} {per_step * 1e6:>10.1f} {rate:>14,.0f} {ratios[n_seeds]:>13.1f}x")
    verdict = "met" if ratios[200] >= TARGET_RATIO else "MISSED"
    print(f"\nratio at 200 seeds: {ratios[200]:.1f}x (target >= {TARGET_RATIO:.0f}x: {verdict})")
    print(f"max |batched - plain| weight after {plain_steps} steps: {weight_gap:.2e}")
    print(
        f"machine load after: {_load()}. Other processes on the cores slow the batched "
        "model most (OpenMP threads wait on each other); rerun on a quiet machine if the "
        "load exceeded the core count."
    )


if __name__ == "__main__":
    main()
