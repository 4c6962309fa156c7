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
    python benchmarks/bench_ensemble.py --only baselines --compile-all   # 4m43 on a quiet
                                                   # machine with inductor's cache warm
    python benchmarks/bench_ensemble.py --only baselines --shapes 2000x256   # one row
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

import torch
from _ensemble_methods import (
    N_BITS,
    Step,
    _forward_loss,
    autograd_fused,
    bit_task,
    matmul_flops,
    matmul_peak,
    plain_loop_time,
    steps_for,
    time_engine,
    time_step,
    vmap_fused,
)

from workbench.core.device import resolve_device
from workbench.core.ensemble import EnsembleMLP, TrainConfig, init_ensemble, train_ensemble
from workbench.core.threads import busy_cores, set_threads


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
