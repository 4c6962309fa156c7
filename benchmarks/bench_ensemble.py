"""Seed-ensemble training speed: the engine against the strongest plain PyTorch ways.

Task: the 5-bit first-bit task (all 32 inputs, full batch, MSE, Adam, lr 1e-2),
three hidden layers of width 16, 64 or 256, 200 or 2,000 seeds. Every method
trains every seed every step (``loss_threshold = 0``) unless it says otherwise.

* **engine**: :func:`workbench.core.ensemble.train_ensemble` (hand-written batched
  backward into kept buffers, one fused Adam kernel, frozen seeds compacted away).
* **autograd+fused**: plain ``torch.baddbmm`` layers, autograd, and
  ``torch.optim.Adam(fused=True)`` over the stacked ``(seed, ...)`` weights.
* **vmap**: ``torch.func.vmap(grad(functional_call(nn.Sequential)))`` over stacked
  parameters, then the same fused Adam.
* **compile**: ``torch.compile`` of the autograd+fused forward and loss (inductor
  compiles forward and backward); compile time is printed, and the method is
  skipped with a message where compiling fails.
* **plain loop**: one ``nn.Sequential`` and ``torch.optim.Adam`` per seed, one after
  the other (what the sprint did); timed on a few seeds and extrapolated.

Each cell is the best of several interleaved samples of about ``--budget`` seconds
(at least 3 steps) per method, every method timed warm, in its steady state: the
engine's samples are stretches between progress reports of one long run, and the
other methods run inside its callback between them, one at a time (so a busy
spell slows every method rather than skewing a ratio, and set-up costs, which on
this VM include about 1-2 s per GB of first-touched memory, are outside every
sample). The engine's samples include one write-back to the model each.

GFLOP/s counts the matrix products only
(forward 2·S·B·Σ d_l d_{l-1}, backward twice that) and is printed against the
machine's measured fp32 matmul peak at the same thread count.

Then the lab's real setting (toy-tasks: 7 bits, widths 32-8-32, ``loss_threshold``
1e-4): the engine with freezing against the same run with every seed computed, and
the **thread policy**, quiet and with a CPU-burning competitor process started by
this script: auto against 1 and 2 threads (target: auto under one competitor at
most 1.5x the time of one thread).

Usage::

    python benchmarks/bench_ensemble.py            # full, about 5 minutes on 2 cores
    python benchmarks/bench_ensemble.py --quick    # a smoke run
    python benchmarks/bench_ensemble.py --device cuda
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn

from workbench.core.device import resolve_device
from workbench.core.ensemble import EnsembleMLP, TrainConfig, init_ensemble, train_ensemble
from workbench.core.threads import busy_cores, set_threads

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


# --- the sections ---------------------------------------------------------------------------


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


def strongest_baselines(args: argparse.Namespace, device: torch.device) -> None:
    x, y = bit_task(N_BITS, device)
    peak = matmul_peak(device)
    print(f"fp32 matmul peak (1024x1024, {torch.get_num_threads()} threads): {peak:.1f} GFLOP/s")
    print(
        f"each cell: best of {args.repeats} interleaved samples of about {args.budget:g} s "
        "(at least 3 steps) per method\n"
    )
    methods = ["engine", "autograd+fused", "vmap", "compile"]
    header = "".join(f"{m:>16}" for m in methods)
    print(f"{'seeds':>6} {'width':>5} {'steps':>5}{header}   engine/best   engine GFLOP/s (% peak)")
    seeds_list = (200,) if args.quick else (200, 2000)
    widths = (16, 64) if args.quick else (16, 64, 256)
    shapes = [(s, w) for s in seeds_list for w in widths]
    if args.shapes:
        shapes = [_shape(s) for s in args.shapes.split(",")]
    for n_seeds, width in shapes:
        print(_baseline_cell(args, device, x, y, n_seeds, width, peak), flush=True)
    print("(seed-steps/s; engine/best is the engine against the fastest other method)\n")


def _baseline_cell(
    args: argparse.Namespace,
    device: torch.device,
    x: torch.Tensor,
    y: torch.Tensor,
    n_seeds: int,
    width: int,
    peak: float,
) -> str:
    """One row of the table (and its note line) for ``n_seeds`` seeds of width ``width``."""
    config = TrainConfig(widths=(width,) * 3, loss_threshold=0.0)
    probe = init_ensemble(config, range(n_seeds), N_BITS, 1, device=device)
    flops = matmul_flops(probe, len(x))
    steps = steps_for(flops, args.budget)
    compiled, note = _compile_for(args, probe, x, y, config.lr, n_seeds, width)
    builders: dict[str, Callable[[], Step]] = {
        "autograd+fused": lambda: autograd_fused(probe, x, y, config.lr)[0],
        "vmap": lambda: vmap_fused(probe, x, y, config.lr)[0],
    }
    if compiled is not None:
        builders["compile"] = lambda: autograd_fused(probe, x, y, config.lr, compiled)[0]
    methods = ["engine", "autograd+fused", "vmap", "compile"]
    times: dict[str, list[float]] = {m: [] for m in methods}

    def others(j: int) -> None:
        # Rotate the order each repeat; build, time and drop one method at a time, so
        # at most one baseline's weights, gradients and moments are held at once.
        # (The engine's callback runs under no_grad.)
        names = list(builders)
        with torch.enable_grad():
            for name in names[j % len(names) :] + names[: j % len(names)]:
                times[name].append(time_step(builders[name](), steps, device))

    times["engine"] = time_engine(probe, x, y, config, steps, args.repeats, others)
    best = {m: min(t) if t else float("inf") for m, t in times.items()}
    rates = {m: n_seeds / t for m, t in best.items()}
    best_other = max(r for m, r in rates.items() if m != "engine")
    cells = "".join(
        f"{rates[m]:>16,.0f}" if best[m] < float("inf") else f"{'-':>16}" for m in methods
    )
    gflops = flops / best["engine"] / 1e9
    spread = max(times["engine"]) / best["engine"]
    return (
        f"{n_seeds:>6} {width:>5} {steps:>5}{cells}"
        f"   {rates['engine'] / best_other:>10.2f}x"
        f"   {gflops:6.1f} ({100 * gflops / peak:4.1f}%)\n"
        f"{'':>18}{note}; engine's slowest sample / its best {spread:.2f}"
    )


def _shape(text: str) -> tuple[int, int]:
    seeds, _, width = text.partition("x")
    return int(seeds), int(width)


def _compile_for(
    args: argparse.Namespace,
    probe: EnsembleMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
    n_seeds: int,
    width: int,
) -> tuple[Callable[..., torch.Tensor] | None, str]:
    """The compiled loss for this shape (compiled once, reused by every repeat) and a note."""
    # Inductor takes about a minute per shape on a 2-core CPU: compile the 200-seed
    # shapes (all of them with --compile-all), and say so where it is skipped.
    wanted = n_seeds == 200 or args.compile_all
    if args.quick:
        wanted = (n_seeds, width) == (200, 16)
    if not args.compile:
        return None, "compile skipped: --no-compile"
    if not wanted:
        return None, "compile skipped here (~1 min of compiling per shape); --compile-all"
    try:
        start = time.perf_counter()
        compiled = torch.compile(_forward_loss, dynamic=False)
        autograd_fused(probe, x, y, lr, compiled)[0]()  # compiles; its weights are dropped
        return compiled, f"compiled in {time.perf_counter() - start:.1f} s"
    except Exception as err:  # inductor missing, no compiler, ...
        return None, f"compile failed: {type(err).__name__}: {str(err)[:80]}"


def plain_loop(args: argparse.Namespace, device: torch.device) -> None:
    x, y = bit_task(N_BITS, device)
    config = TrainConfig(steps=100 if args.quick else 300, loss_threshold=0.0, log_every=10**9)
    probe = init_ensemble(config, range(2 if args.quick else 4), N_BITS, 1, device=device)
    plain = min(plain_loop_time(probe, x, y, config.lr, 60) for _ in range(args.repeats))
    model = init_ensemble(config, range(200), N_BITS, 1, device=device)
    engine = min(time_engine(model, x, y, config, config.steps // 3, args.repeats))
    # Same seeds, same steps: the engine and the plain loop must end at the same weights.
    check = init_ensemble(config, range(2), N_BITS, 1, device=device)
    train_ensemble(check, x, y, TrainConfig(steps=60, loss_threshold=0.0))
    step, weights = autograd_fused(
        init_ensemble(config, range(2), N_BITS, 1, device=device), x, y, config.lr
    )
    for _ in range(60):
        step()
    gap = max(
        float((a - w.detach()).abs().max())
        for a, w in zip([layer.weight for layer in check.layers], weights, strict=True)
    )
    print(
        f"plain loop (one nn.Module + Adam per seed), widths {config.widths}: "
        f"{1 / plain:,.0f} seed-steps/s; engine at 200 seeds {200 / engine:,.0f}: "
        f"{200 / engine * plain:.1f}x (target >= 100x)"
    )
    print(f"max |engine - autograd+fused| weight after 60 steps: {gap:.2e}\n")


def real_setting(args: argparse.Namespace, device: torch.device) -> None:
    """toy-tasks' training: does freezing converged seeds save what it should?"""
    x, y = bit_task(7, device)
    steps = 600 if args.quick else 2000
    print(f"lab setting: 7 bits (128 inputs), widths (32, 8, 32), {steps} steps, threshold 1e-4")
    print(
        f"{'seeds':>6} {'live seed-steps':>16} {'time frozen/all':>16} {'useful seed-steps/s':>20}"
    )
    for n_seeds in (200,) if args.quick else (200, 2000):
        real = TrainConfig(widths=(32, 8, 32), steps=steps, loss_threshold=1e-4, log_every=50)
        every = TrainConfig(widths=(32, 8, 32), steps=steps, loss_threshold=0.0, log_every=50)
        t_real = t_all = float("inf")
        live = 0.0
        for _ in range(args.repeats if n_seeds == 200 else 1):
            model = init_ensemble(real, range(n_seeds), 7, 1, device=device)
            start = time.perf_counter()
            result = train_ensemble(model, x, y, real)
            t_real = min(t_real, time.perf_counter() - start)
            live = float(result.steps_trained.sum()) / (n_seeds * steps)
            model = init_ensemble(every, range(n_seeds), 7, 1, device=device)
            start = time.perf_counter()
            train_ensemble(model, x, y, every)
            t_all = min(t_all, time.perf_counter() - start)
        useful = live * n_seeds * steps / t_real
        print(f"{n_seeds:>6} {100 * live:>15.1f}% {t_real / t_all:>16.2f} {useful:>20,.0f}")
    print("(live seed-steps: the share of seed-steps whose seed was still training; with")
    print(" freezing, the time ratio should be close to it, not 1)\n")


def thread_policy(args: argparse.Namespace, device: torch.device) -> None:
    if device.type != "cpu":
        return
    x, y = bit_task(7, device)
    steps = 200 if args.quick else 600
    config = TrainConfig(widths=(32, 8, 32), steps=steps, loss_threshold=0.0, log_every=50)
    cases = {"1 thread": 1, "2 threads": 2, "auto": None}
    print(f"thread policy: lab setting, 16 and 200 seeds, {steps} steps; seconds (best of repeats)")
    for label, competitor in (("quiet", False), ("1 competing process", True)):
        proc = None
        if competitor:
            proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(1.0)
        try:
            for n_seeds in (16, 200):
                seconds = {}
                for case, n in cases.items():
                    set_threads(n)
                    best = float("inf")
                    for _ in range(args.repeats):
                        model = init_ensemble(config, range(n_seeds), 7, 1, device=device)
                        start = time.perf_counter()
                        train_ensemble(model, x, y, config)
                        best = min(best, time.perf_counter() - start)
                    seconds[case] = best
                set_threads(None)
                cells = "  ".join(f"{c} {s:6.2f}" for c, s in seconds.items())
                ratio = seconds["auto"] / seconds["1 thread"]
                verdict = (
                    ""
                    if not competitor
                    else f" (target <= 1.5: {'met' if ratio <= 1.5 else 'MISSED'})"
                )
                print(
                    f"  {label:>20}, {n_seeds:>4} seeds: {cells}"
                    f"   auto/1 thread {ratio:.2f}{verdict}"
                )
        finally:
            set_threads(None)
            if proc is not None:
                proc.kill()
                proc.wait()
    print()


def _load() -> str:
    try:
        return (
            f"{os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores, {busy_cores()} busy now"
        )
    except (AttributeError, OSError):  # not on every platform
        return "unknown"


def _warn_if_loaded() -> None:
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return
    if load > 0.5 * (os.cpu_count() or 1) or busy_cores() > 0:
        print(
            "WARNING: the machine is busy; other processes slow multi-threaded methods "
            "most. Ratios are measured in the same run, but rerun on a quiet machine.\n"
        )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads for every method")
    parser.add_argument("--quick", action="store_true", help="fewer shapes, steps and repeats")
    parser.add_argument(
        "--no-compile", dest="compile", action="store_false", help="skip torch.compile"
    )
    parser.add_argument(
        "--compile-all", action="store_true", help="torch.compile at 2,000 seeds too"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=1.0,
        help="seconds per timing sample in the baselines table (at least 3 steps)",
    )
    parser.add_argument(
        "--shapes", default="", help="baselines table rows only, e.g. 2000x256,200x16"
    )
    parser.add_argument(
        "--only", default="", help="comma list of sections: baselines,plain,real,threads"
    )
    args = parser.parse_args()
    args.repeats = 2 if args.quick else 3
    args.budget = 0.2 if args.quick else args.budget
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    set_threads(args.threads)  # the engine at the same thread count as the baselines
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"machine load before: {_load()}")
    _warn_if_loaded()
    sections = {
        "baselines": strongest_baselines,
        "plain": plain_loop,
        "real": real_setting,
        "threads": thread_policy,
    }
    chosen = [s for s in args.only.split(",") if s] or list(sections)
    for name in chosen:
        sections[name](args, device)
        torch.set_num_threads(args.threads)
        set_threads(args.threads)
    print(f"machine load after: {_load()}")
    _warn_if_loaded()


if __name__ == "__main__":
    main()
