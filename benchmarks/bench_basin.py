"""Basin lab speed: batched Hessian spectra and batched SGLD against the plain per-seed ways.

Prints, with ratios measured in the same run:

1. Hessian spectra of S trained-size nets: the closed-form batched Hessian
   (:func:`workbench.core.mlp_hessian.mlp_hessians`) plus one batched ``eigvalsh``, against a
   loop over seeds of ``torch.autograd.functional.hessian`` plus ``eigvalsh`` (timed on
   ``--loop-seeds`` seeds and scaled to S, since each seed costs the same), and against the
   generic batched ``vmap(hessian)`` of :func:`workbench.core.hessian.dense_hessians`;
2. SGLD λ̂ for S seeds × C chains as one batched run, against the same chains run one after
   another (each a one-row run of the same sampler, timed on ``--loop-chains`` chains);
3. optionally (``--default-run``) the lab's default config end to end.

Usage: ``python benchmarks/bench_basin.py [--seeds 200] [--chains 8] [--default-run]``.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from workbench.core.ensemble import TrainConfig, init_ensemble
from workbench.core.hessian import dense_hessians, mlp_loss_fn
from workbench.core.mlp_hessian import mlp_hessians
from workbench.core.mlp_objective import mlp_loss_grad
from workbench.core.sgld import SGLDSetting, sgld_llc
from workbench.core.tasks import all_inputs, make_task


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def bench_hessian(widths: tuple[int, ...], seeds: int, loop_seeds: int) -> None:
    x = all_inputs(5)
    y = make_task("random-lookup", 5).targets.float().unsqueeze(1)
    model = init_ensemble(TrainConfig(widths=widths), range(seeds), 5, 1, dtype=torch.float64)
    p = model.params.shape[1]
    fn = mlp_loss_fn(x.double(), y.double(), sizes=model.sizes, activation="relu")

    def batched() -> None:
        torch.linalg.eigvalsh(mlp_hessians(model, x, y))

    def loop() -> None:
        for s in range(loop_seeds):
            torch.linalg.eigvalsh(torch.autograd.functional.hessian(fn, model.params[s]))

    def vmapped() -> None:
        torch.linalg.eigvalsh(dense_hessians(fn, model.params[:loop_seeds]))

    t_batch = _timed(batched)
    t_loop = _timed(loop) * seeds / loop_seeds
    t_vmap = _timed(vmapped) * seeds / loop_seeds
    print(f"Hessian spectra, widths {widths} (P = {p}), {seeds} seeds, float64:")
    print(f"  batched closed form + eigvalsh   {t_batch:8.2f} s")
    print(f"  per-seed autograd hessian loop   {t_loop:8.2f} s  (timed on {loop_seeds} seeds)")
    print(f"  batched vmap(hessian)            {t_vmap:8.2f} s  (timed on {loop_seeds} seeds)")
    print(f"  ratio vs per-seed loop           {t_loop / t_batch:8.1f}x   (target >= 20x)")
    print(f"  ratio vs vmap(hessian)           {t_vmap / t_batch:8.1f}x")


def bench_sgld(
    widths: tuple[int, ...], seeds: int, chains: int, steps: int, loop_chains: int
) -> None:
    x = all_inputs(5)
    y = make_task("first-bit", 5).targets.float().unsqueeze(1)
    model = init_ensemble(TrainConfig(widths=widths), range(seeds), 5, 1)
    loss_grad = mlp_loss_grad(model.sizes, "relu", x, y, "mse")
    s = SGLDSetting(3e-5, 1000.0, 100.0)

    def batched() -> None:
        sgld_llc(loss_grad, model.params, [s], chains=chains, draws=steps)

    def one_after_another() -> None:
        for c in range(loop_chains):
            sgld_llc(
                loss_grad,
                model.params[c % seeds : c % seeds + 1],
                [s],
                chains=1,
                draws=steps,
                seed=c,
            )

    t_batch = _timed(batched)
    t_loop = _timed(one_after_another) * seeds * chains / loop_chains
    print(f"SGLD, widths {widths}, {seeds} seeds x {chains} chains x {steps} steps:")
    print(f"  one batched run                  {t_batch:8.2f} s")
    print(f"  chains one after another         {t_loop:8.2f} s  (timed on {loop_chains} chains)")
    print(f"  ratio                            {t_loop / t_batch:8.1f}x   (target >= 30x)")


def bench_default_run() -> None:
    import tempfile
    from pathlib import Path

    from workbench.core.runner import run_lab
    from workbench.core.runs import init_project
    from workbench_labs.basin import LAB

    with tempfile.TemporaryDirectory() as tmp:
        project = init_project(Path(tmp) / "p", name="bench")
        start = time.perf_counter()
        run = run_lab(LAB, LAB.make_config({}), project, device="cpu")
        seconds = time.perf_counter() - start
        print(f"default basin run: {seconds:.1f} s ({run.results['summary/finding']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--loop-seeds", type=int, default=10)
    parser.add_argument("--loop-chains", type=int, default=16)
    parser.add_argument("--default-run", action="store_true")
    args = parser.parse_args()
    print(
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; torch threads "
        f"{torch.get_num_threads()}"
    )
    bench_hessian((8, 8, 8), args.seeds, args.loop_seeds)
    bench_hessian((16, 16, 16), args.seeds, args.loop_seeds)
    bench_sgld((8, 8, 8), args.seeds, args.chains, args.steps, args.loop_chains)
    if args.default_run:
        bench_default_run()


if __name__ == "__main__":
    main()
