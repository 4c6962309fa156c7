"""Path-dependence lab speed: barriers and matching for 1,000 pairs, batched vs one pair at a time.

The batched way is the lab's own pipeline
(:func:`workbench_labs.path_dependence.analysis.compare_pairs`): ReLU-scale normalisation,
weight matching (all pairs' cost matrices per layer from one einsum, one scipy LAP per pair and
layer), activation matching (one batched forward and one einsum of correlations per layer) and
the loss on the α grid for every pair and method as one batched forward pass.

The plain way is the loop one writes first, made as fast as plain code gets: per pair, numpy
cost matrices and the same scipy LAPs, numpy correlations, and for each α a functional torch
forward (``addmm`` + ``relu``, no ``nn.Module`` construction). Both implement the same
algorithm; the script checks that their barriers agree before it prints the ratio. The LAPs
are the same calls in both, so the script also prints where the batched time goes.

Usage::

    python benchmarks/bench_path_dependence.py            # 1,000 pairs, 2 threads
    python benchmarks/bench_path_dependence.py --quick    # 150 pairs
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

import workbench.core.alignment as alignment
from workbench.core.barriers import alpha_grid, path_losses
from workbench.core.ensemble import TrainConfig, init_ensemble, train_ensemble
from workbench.core.models.mlp import EnsembleMLP
from workbench.core.symmetry import normalize
from workbench.core.tasks import all_inputs, make_task
from workbench_labs.path_dependence.analysis import compare_pairs
from workbench_labs.path_dependence.config import PathDependenceConfig

Arrays = list[np.ndarray]


def layers_of(model: EnsembleMLP, row: int) -> tuple[Arrays, Arrays]:
    """One net's weights and biases as float64 numpy arrays."""
    return (
        [layer.weight[row].double().numpy() for layer in model.layers],
        [layer.bias[row].double().numpy() for layer in model.layers],
    )


def permute(ws: Arrays, bs: Arrays, perms: Arrays) -> tuple[Arrays, Arrays]:
    ws, bs = list(ws), list(bs)
    for li, p in enumerate(perms):
        ws[li], bs[li] = ws[li][p], bs[li][p]
        ws[li + 1] = ws[li + 1][:, p]
    return ws, bs


def plain_weight_matching(wa: Arrays, ba: Arrays, wb: Arrays, bb: Arrays, seed: int) -> Arrays:
    """The same coordinate descent as :func:`weight_matching`, for one pair, in numpy."""
    n_hidden = len(wa) - 1
    perms = [np.arange(w.shape[0]) for w in wa[:-1]]

    def cost(li: int, outgoing: bool) -> np.ndarray:
        w_in = wb[li][:, perms[li - 1]] if li > 0 else wb[li]
        fa = [wa[li], ba[li][:, None]]
        fb = [w_in, bb[li][:, None]]
        if outgoing:
            w_out = wb[li + 1][perms[li + 1]] if li + 1 < n_hidden else wb[li + 1]
            fa.append(wa[li + 1].T)
            fb.append(w_out.T)
        return np.hstack(fa) @ np.hstack(fb).T

    for li in range(n_hidden):  # forward start
        perms[li] = linear_sum_assignment(cost(li, False), maximize=True)[1]
    rng = np.random.default_rng(seed)
    for _ in range(100):
        changed = False
        for li in rng.permutation(n_hidden):
            c = cost(int(li), True)
            new = linear_sum_assignment(c, maximize=True)[1]
            rows = np.arange(len(new))
            scale = np.abs(c).max() * len(new) + 1e-300
            if c[rows, new].sum() > c[rows, perms[li]].sum() + alignment.IMPROVE_TOL * scale:
                perms[li], changed = new, True
        if not changed:
            break
    return perms


def plain_activation_matching(wa: Arrays, ba: Arrays, wb: Arrays, bb: Arrays,
                              x: np.ndarray) -> Arrays:  # fmt: skip
    """Post-activation correlations (pre-activation tie-break) and one LAP per layer."""

    def acts(ws: Arrays, bs: Arrays) -> list[tuple[np.ndarray, np.ndarray]]:
        out, a = [], x
        for w, b in zip(ws[:-1], bs[:-1], strict=True):
            pre = a @ w.T + b
            a = np.maximum(pre, 0.0)
            out.append((pre, a))
        return out

    def z(t: np.ndarray) -> np.ndarray:
        c = t - t.mean(0)
        s = np.sqrt((c**2).mean(0))
        ok = s > 1e-12 * (1 + np.abs(t).max(0))
        return np.where(ok, c / np.where(ok, s, 1.0), 0.0)

    perms = []
    for (pa, qa), (pb, qb) in zip(acts(wa, ba), acts(wb, bb), strict=True):
        n = x.shape[0]
        c = z(qa).T @ z(qb) / n + alignment.TIE_BREAK * (z(pa).T @ z(pb) / n)
        perms.append(linear_sum_assignment(c, maximize=True)[1])
    return perms


def plain_barrier(wa: Arrays, ba: Arrays, wb: Arrays, bb: Arrays, x: torch.Tensor,
                  y: torch.Tensor, alphas: np.ndarray) -> float:  # fmt: skip
    ta = [torch.as_tensor(t, dtype=torch.float32) for t in (*wa, *ba)]
    tb = [torch.as_tensor(t, dtype=torch.float32) for t in (*wb, *bb)]
    n = len(wa)
    losses = []
    for alpha in alphas:
        a = x
        for li in range(n):
            w = torch.lerp(ta[li], tb[li], float(alpha))
            b = torch.lerp(ta[n + li], tb[n + li], float(alpha))
            a = torch.addmm(b, a, w.T)
            if li < n - 1:
                a = torch.relu(a)
        losses.append(float((a - y).square().mean()))
    ell = np.array(losses)
    return float(np.max(ell - ((1 - alphas) * ell[0] + alphas * ell[-1])))


def plain_all(model: EnsembleMLP, pairs: np.ndarray, x: torch.Tensor, y: torch.Tensor,
              alphas: np.ndarray) -> dict[str, np.ndarray]:  # fmt: skip
    normed = normalize(model, "relu-scale")
    xn = x.double().numpy()
    out: dict[str, list[float]] = {"none": [], "normalized": [], "weight": [], "activation": []}
    for i, j in pairs:
        raw_a, raw_b = layers_of(model, int(i)), layers_of(model, int(j))
        wa, ba = layers_of(normed, int(i))
        wb, bb = layers_of(normed, int(j))
        out["none"].append(plain_barrier(*raw_a, *raw_b, x, y, alphas))
        out["normalized"].append(plain_barrier(wa, ba, wb, bb, x, y, alphas))
        pw = plain_weight_matching(wa, ba, wb, bb, seed=0)
        out["weight"].append(plain_barrier(wa, ba, *permute(wb, bb, pw), x, y, alphas))
        pa = plain_activation_matching(wa, ba, wb, bb, xn)
        out["activation"].append(plain_barrier(wa, ba, *permute(wb, bb, pa), x, y, alphas))
    return {k: np.array(v) for k, v in out.items()}


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="150 pairs")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n_pairs = 150 if args.quick else args.pairs
    cfg = PathDependenceConfig()  # the lab's default nets
    n_nets = int(np.ceil((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    x = all_inputs(cfg.n_bits)
    y = make_task("first-bit", cfg.n_bits).targets.float().unsqueeze(1)
    train = TrainConfig(widths=cfg.widths, lr=cfg.lr, steps=cfg.steps,
                        loss_threshold=cfg.loss_threshold)  # fmt: skip
    model = init_ensemble(train, range(n_nets), cfg.n_bits, 1)
    train_ensemble(model, x, y, train)
    i, j = np.triu_indices(n_nets, 1)
    pairs = np.stack([i, j], axis=1)[:n_pairs]
    alphas = alpha_grid(cfg.n_alphas)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.threads} threads; {n_pairs} pairs of "
          f"{n_nets} nets, widths {cfg.widths}, {cfg.n_alphas} α, methods none, normalized, "
          "weight, activation")  # fmt: skip

    # Where the batched time goes: wrap the LAP solver and the path losses with timers.
    spent = {"lap": 0.0, "paths": 0.0}
    solve, paths = alignment.solve_assignments, path_losses

    def timed_solve(costs: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        out = solve(costs)
        spent["lap"] += time.perf_counter() - t0
        return out

    import workbench_labs.path_dependence.analysis as analysis

    def timed_paths(*a: object, **k: object) -> np.ndarray:
        t0 = time.perf_counter()
        out = paths(*a, **k)  # type: ignore[arg-type]
        spent["paths"] += time.perf_counter() - t0
        return out

    alignment.solve_assignments = timed_solve  # type: ignore[assignment]
    analysis.path_losses = timed_paths  # type: ignore[assignment]
    batched_s, batched = timed(lambda: compare_pairs(
        model, pairs, x, y, "mse", alphas, methods=("weight", "activation"),
        normalization="relu-scale"))  # fmt: skip
    alignment.solve_assignments, analysis.path_losses = solve, paths  # type: ignore[assignment]
    plain_s, plain = timed(lambda: plain_all(model, pairs, x, y, alphas))
    for name, want in plain.items():  # type: ignore[union-attr]
        got = batched[name].barriers  # type: ignore[index]
        agree = np.mean(np.abs(got - want) < 1e-4)
        print(f"  {name:>10}: median barrier {np.median(got):.4g} batched, "
              f"{np.median(want):.4g} plain; {100 * agree:.1f}% agree to 1e-4")  # fmt: skip
    other = batched_s - spent["lap"] - spent["paths"]
    print(f"batched: {batched_s:.3f} s = LAPs (scipy, one per pair and layer) {spent['lap']:.3f} s"
          f" + path losses {spent['paths']:.3f} s + cost matrices, correlations, bookkeeping "
          f"{other:.3f} s")  # fmt: skip
    print(f"plain per-pair loop: {plain_s:.3f} s")
    print(f"speed-up: {plain_s / batched_s:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
