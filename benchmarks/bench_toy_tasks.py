"""Toy-tasks lab costs: snapshots, the architecture sweep, and the analysis against its old code.

Prints, each measured in this run:

1. **Snapshots**: the compression curve's measurement (every layer's codes, entropy and MI with
   the target every ``snapshot_every`` steps) as a percentage of the training time of the same
   ensemble at the lab's default (target <= 20%).
2. **Architecture sweep**: the training time of each ``widths_sweep`` architecture relative to
   the main one (what the sweep adds to a run).
3. **Analysis at 2000 seeds** (the sprint's 5-bit set-up), new against a faithful copy of the
   previous per-seed code path kept below (:class:`OldAnalysis`):
   * per-layer entropies: one batched count vs a Python loop of ``entropy`` per seed and layer;
   * the robustness permutation tests: one set of shuffles reused for every layer and
     tolerance vs a fresh ``two_sample_permutation_test`` per layer and tolerance;
   * IR and similarity: IR blocks once, Sim read off them, vs blocks plus
     ``similarity_matrix`` and ``normalized_similarity_matrix`` recomputing the IR.
4. **10k seeds × 8 bits**: the information step's measurement of 10 000 random-init nets on all
   256 inputs, its time and the process's peak RSS.

Usage::

    python benchmarks/bench_toy_tasks.py           # full
    python benchmarks/bench_toy_tasks.py --quick   # smaller, a smoke run
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable

import numpy as np
import torch

from workbench.core.ensemble import TrainConfig, init_ensemble, train_ensemble
from workbench.core.tasks import all_inputs, make_task
from workbench.measures import (
    entropy,
    normalized_similarity_matrix,
    similarity_matrix,
    two_sample_permutation_test,
)
from workbench_labs.toy_tasks import LAB
from workbench_labs.toy_tasks.analysis import (
    ir_blocks,
    normalized_similarity_from_blocks,
    similarity_from_blocks,
)
from workbench_labs.toy_tasks.grouping import (
    layer_entropies,
    scaled_codes,
)
from workbench_labs.toy_tasks.measure import measure_layers
from workbench_labs.toy_tasks.stats import permutation_p_values
from workbench_labs.toy_tasks.training import Snapshot, _TrainingMonitor, layer_posts


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


class OldAnalysis:
    """The previous implementation's analysis kernels, copied faithfully as the baseline."""

    @staticmethod
    def layer_entropies(codes: np.ndarray) -> np.ndarray:
        n_seeds, n_layers, _ = codes.shape
        out = np.empty((n_seeds, n_layers))
        for s in range(n_seeds):
            for layer in range(n_layers):
                out[s, layer] = entropy(codes[s, layer])
        return out

    @staticmethod
    def robustness_tests(h_a: np.ndarray, h_b: np.ndarray, n_permutations: int) -> np.ndarray:
        """(tol, layer) p-values: one permutation test per tol and layer, shuffles redrawn."""
        n_tols, _, n_layers = h_a.shape
        p = np.empty((n_tols, n_layers))
        for k in range(n_tols):
            for i in range(n_layers):
                test = two_sample_permutation_test(
                    h_a[k, :, i], h_b[k, :, i], n_permutations=n_permutations, seed=i
                )
                p[k, i] = test.p_value
        return p

    @staticmethod
    def ir_and_similarity(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        block = ir_blocks(codes)
        return block, similarity_matrix(codes), normalized_similarity_matrix(codes)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


class _Context:
    """The little of a RunContext the training monitor uses (no run folder)."""

    def __init__(self, config: object) -> None:
        self.config = config

    def progress(self, *args: object, **info: object) -> None:
        pass

    def log_metrics(self, records: object) -> None:
        pass


def bench_snapshots(seeds: int, steps: int) -> None:
    cfg = LAB.make_config({"seeds": seeds, "steps": steps})
    x = all_inputs(cfg.n_bits)
    print(
        f"\n1. snapshots: default architecture {list(cfg.widths)}, {cfg.n_bits} bits, {seeds} "
        f"nets, {steps} steps, every {cfg.snapshot_every} steps, the lab's training callback"
    )
    train = TrainConfig(widths=cfg.widths, steps=steps, lr=cfg.lr, loss=cfg.loss,
                        loss_threshold=cfg.loss_threshold, log_every=5)  # fmt: skip
    total_train = total_snap = 0.0
    for name in ("first-bit", "random-lookup.0"):
        task = make_task(name, cfg.n_bits, task_seed=cfg.task_seed)
        y = task.targets.float()[:, None]
        row = []
        for curves in (False, True):  # the same training without and with the curve
            model = init_ensemble(train, range(seeds), cfg.n_bits, 1)
            snaps: dict[float, Snapshot] = {}
            monitor = _TrainingMonitor(
                _Context(cfg),
                name,
                model,
                x,
                task,
                snaps,
                offset=0,
                total=steps,
                curves=curves,  # type: ignore[arg-type]
            )
            monitor.start()
            t, _ = timed(
                lambda m=model, mon=monitor, y=y: train_ensemble(m, x, y, train, callback=mon)
            )
            row.append((t, monitor.curve_seconds))
        (t_plain, _), (t_curve, snap) = row
        total_train += t_curve - snap
        total_snap += snap
        print(f"   {name}: training {t_curve - snap:.2f} s (without the curve {t_plain:.2f} s); "
              f"curve {snap:.2f} s = {100 * snap / (t_curve - snap):.1f}% of training")  # fmt: skip
    print(
        f"   both: curve {total_snap:.2f} s = {100 * total_snap / total_train:.1f}% of "
        "training (target <= 20%)"
    )


def bench_sweep(seeds: int, steps: int) -> None:
    cfg = LAB.make_config({"seeds": seeds, "steps": steps})
    x = all_inputs(cfg.n_bits)
    y = make_task("random-lookup.0", cfg.n_bits).targets.float()[:, None]
    print(f"\n2. architecture sweep: one random-table ensemble of {seeds} nets, {steps} steps each")
    times = {}
    for widths in cfg.architectures():
        train = TrainConfig(
            widths=widths, steps=steps, lr=cfg.lr, loss_threshold=cfg.loss_threshold
        )
        model = init_ensemble(train, range(seeds), cfg.n_bits, 1)
        times[widths], _ = timed(lambda m=model, t=train: train_ensemble(m, x, y, t))
    main = times[tuple(cfg.widths)]
    for widths, t in times.items():
        print(f"   {list(widths)}: {t:.2f} s = {t / main:.2f}x the main architecture")
    total = sum(times.values())
    print(f"   the sweep multiplies training by {total / main:.2f}x ({len(times) - 1} extra)")


def bench_analysis(n_seeds: int, n_permutations: int) -> None:
    sprint = LAB.make_config(LAB.preset("sprint"))
    x = all_inputs(sprint.n_bits)
    train = TrainConfig(widths=sprint.widths)
    tols = list(sprint.tol_sweep)
    print(f"\n3. analysis at {n_seeds} seeds (sprint set-up: {sprint.n_bits} bits, widths "
          f"{list(sprint.widths)}, {len(tols)} tolerances, {n_permutations} permutations), "
          "new vs the previous code")  # fmt: skip
    posts = {}
    for g, first in (("a", 0), ("b", n_seeds)):
        model = init_ensemble(train, range(first, first + n_seeds), sprint.n_bits, 1)
        posts[g] = layer_posts(model, x)
    codes = {
        g: [scaled_codes(p, t, rule="chained", mode="relative").codes for t in tols]
        for g, p in posts.items()
    }
    flat = np.concatenate(codes["a"])  # (tol·seed, layer, n)
    t_old, h_old = timed(lambda: OldAnalysis.layer_entropies(flat))
    t_new, h_new = timed(lambda: layer_entropies(flat))
    assert np.allclose(np.asarray(h_old), np.asarray(h_new), atol=1e-12)
    print(f"   entropies of {flat.shape[0] * flat.shape[1]} layers: old {t_old:.2f} s, new "
          f"{t_new * 1e3:.1f} ms = {t_old / t_new:.0f}x faster")  # fmt: skip
    h_a = np.stack([layer_entropies(c) for c in codes["a"]])  # (tol, seed, layer)
    h_b = np.stack([layer_entropies(c) for c in codes["b"]])
    t_old, _ = timed(lambda: OldAnalysis.robustness_tests(h_a, h_b, n_permutations))
    rows_a = h_a.transpose(0, 2, 1).reshape(-1, n_seeds)
    rows_b = h_b.transpose(0, 2, 1).reshape(-1, n_seeds)
    t_new, _ = timed(lambda: permutation_p_values(rows_a, rows_b, n_permutations=n_permutations))
    print(f"   permutation tests, {rows_a.shape[0]} (tol, layer) statistics: old {t_old:.2f} s, "
          f"new {t_new:.2f} s = {t_old / t_new:.1f}x faster")  # fmt: skip
    pair = codes["a"][tols.index(1e-5) if 1e-5 in tols else 0][: sprint.pair_seeds]
    t_old, old = timed(lambda: OldAnalysis.ir_and_similarity(pair))
    t_new, block = timed(lambda: ir_blocks(pair))
    t_sim, sims = timed(
        lambda: (similarity_from_blocks(block), normalized_similarity_from_blocks(block))
    )  # type: ignore[arg-type]
    assert np.allclose(old[1], sims[0]) and np.allclose(old[2], sims[1])  # type: ignore[index]
    print(f"   IR + Sim + NSim of {pair.shape[0]} nets: old {t_old:.2f} s, new "
          f"{t_new + t_sim:.2f} s = {t_old / (t_new + t_sim):.1f}x faster")  # fmt: skip


def bench_memory(n_seeds: int) -> None:
    x = all_inputs(8)
    train = TrainConfig(widths=(16, 16, 16))
    print(f"\n4. {n_seeds} seeds × 8 bits (256 inputs), widths [16, 16, 16]: measure every layer")
    model = init_ensemble(train, range(n_seeds), 8, 1)
    target = make_task("random-lookup", 8).targets
    t, m = timed(lambda: measure_layers(model, x, target, loss="mse", tol=1e-2, rule="chained",
                                        mode="relative"))  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    h = m.entropy  # type: ignore[attr-defined]
    print(f"   {t:.1f} s ({t / n_seeds * 1e3:.2f} ms per net); mean H per layer "
          f"{np.round(h.mean(axis=0), 2).tolist()}; peak RSS {peak:.0f} MiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"bench_toy_tasks: {load()}; torch threads {args.threads}")
    if args.quick:
        bench_snapshots(8, 300)
        bench_sweep(8, 200)
        bench_analysis(200, 999)
        bench_memory(1000)
    else:
        cfg = LAB.make_config({})
        bench_snapshots(cfg.seeds, cfg.steps)
        bench_sweep(cfg.seeds, cfg.steps)
        bench_analysis(2000, 2000)
        bench_memory(10_000)
    print(f"\ndone; {load()}")


if __name__ == "__main__":
    main()
