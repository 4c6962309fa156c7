"""Fuzzy-XOR lab analysis speed: batched over seeds, neurons and candidates vs the plain way.

Three kernels of the lab, each against the loop a researcher would write first:

* **matching**: affine-fit R² of every neuron of every seed on every candidate, one
  matrix product (:func:`workbench_labs.fuzzy_xor.matching.affine_r2`) against a
  triple loop of least-squares fits (``numpy.polyfit`` per seed, neuron, candidate).
* **maximisation**: gradient ascent on every distinct reference neuron from every
  start in one batch (:func:`~workbench_labs.fuzzy_xor.maximisation.maximise_activations`)
  against one start of one neuron at a time.
* **responses**: the maximisers fed to all seeds in one batched forward pass against
  one forward pass per seed (``model.select([s])``).

Both ways are timed in the same process, best of a few repeats, and the results are
checked to agree, so the ratio compares equal work. The plain loops are timed on a
subset and extrapolated linearly (their cost per item does not depend on the count);
the output says so.

Usage::

    python benchmarks/bench_fuzzy_xor.py              # full, 2 threads
    python benchmarks/bench_fuzzy_xor.py --quick      # a fast smoke run
    python benchmarks/bench_fuzzy_xor.py --threads 1  # on a busy shared machine
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from workbench.core.ensemble import TrainConfig, init_ensemble
from workbench_labs.fuzzy_xor.candidates import build_candidate_library, candidate_functions
from workbench_labs.fuzzy_xor.fuzzy import unit_square_grid
from workbench_labs.fuzzy_xor.matching import affine_r2
from workbench_labs.fuzzy_xor.maximisation import (
    distinct_reference_units,
    maximise_activations,
    reference_unit_activations,
)
from workbench_labs.fuzzy_xor.neurons import hidden_activations
from workbench_labs.fuzzy_xor.references import reference_networks


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call, in seconds."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def plain_r2(acts: np.ndarray, candidates: np.ndarray, seeds: int) -> np.ndarray:
    """R² by one least-squares line fit per (seed, neuron, candidate), constants skipped."""
    n_units, n_cand = acts.shape[2], candidates.shape[0]
    out = np.zeros((seeds, n_units, n_cand))
    for s in range(seeds):
        for u in range(n_units):
            y = acts[s, :, u]
            total = ((y - y.mean()) ** 2).sum()
            for c in range(1, n_cand):  # class 0 holds the constants
                slope, intercept = np.polyfit(candidates[c], y, 1)
                residual = y - (slope * candidates[c] + intercept)
                out[s, u, c] = 1 - (residual**2).sum() / total if total > 0 else 0.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds and repeats")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch CPU threads (use 1 on a machine shared with other jobs: "
        "oversubscribed OpenMP threads make small batched ops wait on each other)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = 20 if args.quick else 200
    repeats = 3 if args.quick else 5
    grid = unit_square_grid(41)
    refs = reference_networks()
    library = build_candidate_library(candidate_functions(refs), grid)
    # float32, as the lab trains; matching works in float64 internally.
    model = init_ensemble(TrainConfig(widths=(16,)), range(seeds), 2, 1)
    acts = hidden_activations(model, grid.float())  # (seed, grid², 16)

    # 1. Matching.
    batched = best_time(lambda: affine_r2(acts, library.values), repeats)
    subset = max(1, seeds // 20)
    start = time.perf_counter()
    plain = plain_r2(acts.double().numpy(), library.values.numpy(), subset)
    plain_time = (time.perf_counter() - start) * seeds / subset
    r2 = affine_r2(acts, library.values).numpy()[:subset]
    live = acts[:subset].std(dim=1).numpy() > 0
    assert np.allclose(r2[:, :, 1:][live], plain[:, :, 1:][live], atol=1e-6)
    print(
        f"matching     {seeds} seeds x 16 neurons x {len(library)} candidates: "
        f"batched {batched * 1e3:8.2f} ms, plain loop {plain_time * 1e3:9.1f} ms "
        f"(timed on {subset} seeds, extrapolated)  ratio {plain_time / batched:7.1f}x"
    )

    # 2. Maximisation.
    units = distinct_reference_units(refs)
    activations = reference_unit_activations(refs, units)
    n_ref, restarts, steps = len(units.labels), (8 if args.quick else 32), 100

    def batched_ascent() -> object:
        return maximise_activations(
            activations,
            n_ref,
            restarts=restarts,
            steps=steps,
            step_size=0.05,
            keep_tol=0.01,
            generator=torch.Generator().manual_seed(0),
        )

    def one_start(neuron: int) -> float:
        # One neuron, one start: the same projected ascent, unbatched.
        x = torch.rand(1, 2, generator=torch.Generator().manual_seed(neuron), dtype=torch.float64)
        for t in range(steps):
            x.requires_grad_(True)
            (grad,) = torch.autograd.grad(activations(x)[0, neuron], x)
            with torch.no_grad():
                x = (x + 0.05 * (1 - t / steps) * grad).clamp(0, 1)
        return float(activations(x.detach())[0, neuron])

    batched = best_time(batched_ascent, repeats)
    start = time.perf_counter()
    reached = [one_start(i) for i in range(n_ref)]  # one start per neuron, extrapolated
    plain_time = (time.perf_counter() - start) * restarts
    assert all(0.0 <= v <= 1.0 + 1e-9 for v in reached)
    print(
        f"maximisation {n_ref} neurons x {restarts} starts x {steps} steps:      "
        f"batched {batched * 1e3:8.1f} ms, plain loop {plain_time * 1e3:9.1f} ms "
        f"(timed on 1 start each, extrapolated)  ratio {plain_time / batched:7.1f}x"
    )

    # 3. Responses of every seed to the maximisers.
    points = torch.rand(n_ref * restarts, 2, generator=torch.Generator().manual_seed(1))
    batched = best_time(lambda: hidden_activations(model, points), repeats)
    per_seed = [model.select([s]) for s in range(seeds)]
    plain_time = best_time(lambda: [hidden_activations(m, points) for m in per_seed], repeats)
    together = hidden_activations(model, points)
    apart = torch.cat([hidden_activations(m, points) for m in per_seed])
    assert torch.allclose(together, apart, atol=1e-6)
    print(
        f"responses    {seeds} seeds x {points.shape[0]} maximisers:            "
        f"batched {batched * 1e3:8.2f} ms, plain loop {plain_time * 1e3:9.1f} ms"
        f"                                    ratio {plain_time / batched:7.1f}x"
    )


if __name__ == "__main__":
    main()
