"""The discrete-measure sections of bench_measures.py: IR matrices, grouping, permutation tests.

Every figure is a ratio against a plain alternative timed in the same run, best of k repeats.
"""

from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from scipy.spatial import cKDTree

import workbench.core.measures.discrete as discrete
import workbench.core.measures.discretization as discretization
from workbench.core.measures._grouping import first_occurrence_roots, rank_roots
from workbench.core.measures._neighbours import sweep
from workbench.measures import (
    discretize_batch,
    information_ratio_matrix,
    two_sample_permutation_tests,
)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Shortest wall time of ``repeats`` calls (the least disturbed by other processes)."""
    best = math.inf
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def random_codes(n_codes: int, n_samples: int, seed: int = 0) -> torch.Tensor:
    """Partitions with 1..n_samples blocks, like discretized layers on 2^b inputs."""
    gen = torch.Generator().manual_seed(seed)
    blocks = torch.randint(1, n_samples + 1, (n_codes, 1), generator=gen)
    return torch.randint(0, 1 << 30, (n_codes, n_samples), generator=gen) % blocks


def bincount_ir_loop(codes: np.ndarray) -> np.ndarray:
    """The plain way: a Python loop over pairs, each IR from a bincount contingency count."""
    p, n = codes.shape
    h = np.empty(p)
    for i in range(p):
        c = np.bincount(codes[i])
        c = c[c > 0]
        h[i] = math.log2(n) - (c * np.log2(c)).sum() / n
    out = np.empty((p, p))
    for i in range(p):
        for j in range(p):
            c = np.bincount(codes[i] * n + codes[j])
            c = c[c > 0]
            joint = math.log2(n) - (c * np.log2(c)).sum() / n
            out[i, j] = 1.0 if joint == 0 else max(0.0, h[i] + h[j] - joint) / joint
    return out


def bench_information_ratio(device: torch.device, quick: bool) -> None:
    n_samples = 32
    sizes = [250, 500, 1000] if quick else [250, 500, 1000, 2000, 4000, 8000]
    print(f"\nInformation-ratio matrix: P codes x {n_samples} samples (best of k)")
    print(f"  {'P':>6}{'pairs/s':>14}{'k':>3}{'peak RSS MB':>13}{'vs loop':>10}")
    subset = 40 if quick else 80  # the loop is slow: timed on a subset of pairs
    sub = random_codes(subset, n_samples).numpy()
    loop_s = best_time(lambda: bincount_ir_loop(sub), torch.device("cpu"), repeats=3)
    loop_rate = subset**2 / loop_s
    information_ratio_matrix(random_codes(8, n_samples).to(device))  # warm-up
    for p in sizes:
        codes = random_codes(p, n_samples).to(device)
        repeats = 3 if p <= 2000 else 2
        seconds = best_time(lambda c=codes: information_ratio_matrix(c), device, repeats)
        rate = p * p / seconds
        print(
            f"  {p:>6}{rate:>14,.0f}{repeats:>3}{peak_rss_mb():>13,.0f}{rate / loop_rate:>9,.0f}x"
        )
    print(
        f"  plain loop over pairs (np.bincount, {subset}x{subset}, best of 3): "
        f"{loop_rate:,.0f} pairs/s; target >= 1,000,000 pairs/s at P = 1000"
    )


def bench_joint_crossover(device: torch.device, quick: bool) -> None:
    grid = [(128, 50), (512, 50), (512, 200)] if quick else [
        (64, 200), (256, 50), (256, 200), (512, 50), (512, 200), (1024, 50), (1024, 200)
    ]  # fmt: skip
    print("\nJoint entropies: matmul path vs sort path (best of 2; chosen = the rule's pick)")
    print(
        f"  {'n':>6}{'P':>6}{'matmul pairs/s':>16}{'sort pairs/s':>14}{'sort/matmul':>13}  chosen"
    )
    for n, p in grid:
        codes = rank_roots(first_occurrence_roots(random_codes(p, n).to(device)))
        tm = best_time(lambda c=codes: discrete._joint_entropies_matmul(c, c), device, 2)
        ts = best_time(lambda c=codes: discrete._joint_entropies_sort(c, c), device, 2)
        chosen = "matmul" if discrete._use_matmul(n, p, p) else "sort"
        print(f"  {n:>6}{p:>6}{p * p / tm:>16,.0f}{p * p / ts:>14,.0f}{tm / ts:>13.2f}  {chosen}")


def relu_layers(seeds: int, bits: int, units: int, seed: int = 0) -> torch.Tensor:
    """(seed, 2^bits, units) activations of random ReLU layers on every bits-bit input."""
    gen = torch.Generator().manual_seed(seed)
    n = 1 << bits
    inputs = ((torch.arange(n)[:, None] >> torch.arange(bits)) & 1).to(torch.float64)
    weights = torch.randn(seeds, bits, units, generator=gen, dtype=torch.float64)
    bias = 0.3 * torch.randn(seeds, 1, units, generator=gen, dtype=torch.float64)
    return torch.relu(inputs @ weights + bias)


def dense_path(acts: torch.Tensor, tol: float) -> torch.Tensor:
    """The previous implementation: batched cdist + vectorised components, (chunk, n, n)."""
    n = acts.shape[1]
    chunk = max(1, discretization._MAX_BLOCK // (n * n))
    parts = [
        discretization._discretize_dense(acts[i : i + chunk], tol, "chained")
        for i in range(0, acts.shape[0], chunk)
    ]
    return torch.cat(parts)


def swept_path(acts: torch.Tensor, tol: float) -> torch.Tensor:
    """The sort-and-sweep path alone (no dense switch)."""
    s = sweep(acts, tol)
    return discretization._discretize_swept(s, tuple(acts.shape[:2]), tol, "chained")


def kdtree_pairs(acts: torch.Tensor, tol: float) -> int:
    """A spatial index for all seeds at once: cKDTree (L1), seeds set apart on an extra axis."""
    seeds, n, units = acts.shape
    points = acts.reshape(seeds * n, units).cpu().numpy()
    gap = float(np.abs(points).sum(axis=1).max()) + 2 * tol * units + 1.0
    offset = np.repeat(np.arange(seeds, dtype=np.float64) * gap, n)[:, None]
    tree = cKDTree(np.hstack([points, offset]))
    return len(tree.query_pairs(r=tol * units, p=1, output_type="ndarray"))


def bench_grouping(device: torch.device, quick: bool) -> None:
    tol = 1e-5
    cases = [(200, 5, 16), (200, 8, 16), (20, 10, 16), (200, 8, 1)]
    if not quick:
        cases += [(2000, 5, 16), (2000, 8, 16), (200, 10, 16)]
    print("\nTolerance grouping (chained, tol 1e-5): random ReLU layers on all 2^b inputs")
    head = f"{'seeds':>7}{'b':>4}{'units':>6}{'ours s':>9}{'dense s':>9}{'kd-tree s':>10}"
    print(f"  {head}{'dense/ours':>12}{'tree/ours':>11}")
    for seeds, bits, units in cases:
        acts = relu_layers(seeds, bits, units).to(device)
        ours = best_time(lambda a=acts: discretize_batch(a, tol), device, 3)
        dense = best_time(lambda a=acts: dense_path(a, tol), device, 2 if bits < 10 else 1)
        tree = best_time(lambda a=acts: kdtree_pairs(a, tol), device, 2)
        row = f"{seeds:>7}{bits:>4}{units:>6}{ours:>9.3f}{dense:>9.3f}{tree:>10.3f}"
        print(f"  {row}{dense / ours:>12.1f}{tree / ours:>11.1f}")
    # The dense switch: a fraction f of each seed's samples jittered within 1e-7 of one point.
    print("  dense switch at n=256, 16 units, 200 seeds (candidate fraction -> seconds):")
    print(f"  {'f':>6}{'cand. frac':>12}{'dense s':>9}{'swept s':>9}{'dense/swept':>13}  chosen")
    gen = torch.Generator().manual_seed(1)
    for f in [0.0, 0.2, 0.3, 0.4, 0.5] if not quick else [0.0, 0.3, 0.5]:
        acts = torch.rand(200, 256, 16, generator=gen, dtype=torch.float64)
        m = int(f * 256)
        acts[:, :m] = 0.5 + 1e-7 * torch.rand(200, m, 16, generator=gen, dtype=torch.float64)
        acts = acts.to(device)
        frac = sweep(acts, tol).n_candidates / (200 * 256 * 255 / 2)
        dense = best_time(lambda a=acts: dense_path(a, tol), device, 2)
        swept = best_time(
            lambda a=acts: discretization._discretize_swept(
                sweep(a, tol), (200, 256), tol, "chained"
            ),
            device,
            2,
        )
        chosen = "dense" if frac >= discretization._DENSE_CANDIDATE_FRACTION else "swept"
        print(f"  {f:>6.2f}{frac:>12.3f}{dense:>9.3f}{swept:>9.3f}{dense / swept:>13.2f}  {chosen}")
    if not quick:
        ten_thousand_seeds(device)


#: Run in a fresh process, so that its peak memory is the 10k-seed grouping's alone.
_TEN_K = """
import sys, time, torch
sys.path.insert(0, {here!r})
from _discrete_benchmarks import peak_rss_mb, relu_layers
from workbench.measures import discretize_batch
torch.set_num_threads(torch.get_num_threads() if {threads} <= 0 else {threads})
base = peak_rss_mb()
acts = relu_layers(10_000, 8, 16).to({device!r})
made = peak_rss_mb()
start = time.perf_counter()
discretize_batch(acts, 1e-5)
print(f"{{time.perf_counter() - start:.2f}} {{base:.0f}} {{made:.0f}} {{peak_rss_mb():.0f}}")
"""


def ten_thousand_seeds(device: torch.device) -> None:
    """Time and peak memory of grouping 10k seeds x 256 inputs x 16 units, in a child process."""
    code = _TEN_K.format(
        here=os.path.dirname(os.path.abspath(__file__)),
        threads=torch.get_num_threads(),
        device=str(device),
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, base, made, peak = out.stdout.split()
    print(
        f"  10,000 seeds x 256 inputs x 16 units (312 MB of float64): {seconds} s; peak RSS "
        f"{peak} MB = {base} MB (python + torch) + {int(made) - int(base)} MB (making the "
        f"activations) + {int(peak) - int(made)} MB (grouping)"
    )


def argsort_test_loop(a: np.ndarray, b: np.ndarray, n_permutations: int) -> list[float]:
    """The plain way: one test per statistic, each redrawing splits by a full argsort."""
    p_values = []
    for j in range(a.shape[0]):
        pooled = torch.from_numpy(np.concatenate([a[j], b[j]]))
        gen = torch.Generator().manual_seed(0)
        order = torch.rand(n_permutations, pooled.shape[0], generator=gen).argsort(dim=1)
        shuffled = pooled[order]
        null = shuffled[:, : a.shape[1]].mean(dim=1) - shuffled[:, a.shape[1] :].mean(dim=1)
        estimate = a[j].mean() - b[j].mean()
        p_values.append((1 + int((null.abs() >= abs(estimate)).sum())) / (1 + n_permutations))
    return p_values


def bench_permutation_tests(device: torch.device, quick: bool) -> None:
    print("\nTwo-sample permutation tests: k statistics on shared splits vs one argsort test each")
    print(f"  {'k':>5}{'n_a+n_b':>9}{'perms':>7}{'ours s':>9}{'loop s':>9}{'loop/ours':>11}")
    cases = [(36, 20, 1000)] if quick else [(36, 20, 2000), (36, 2000, 2000), (200, 200, 2000)]
    rng = np.random.default_rng(0)
    for k, per_group, perms in cases:
        a, b = rng.normal(size=(k, per_group)), rng.normal(size=(k, per_group))
        ta, tb = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)
        ours = best_time(
            lambda ta=ta, tb=tb, n=perms: two_sample_permutation_tests(ta, tb, n_permutations=n),
            device,
            3,
        )
        loop = best_time(
            lambda a=a, b=b, n=perms: argsort_test_loop(a, b, n), torch.device("cpu"), 2
        )
        print(f"  {k:>5}{2 * per_group:>9}{perms:>7}{ours:>9.3f}{loop:>9.3f}{loop / ours:>11.1f}")
