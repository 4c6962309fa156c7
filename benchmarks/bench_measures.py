"""Speed of the measurement core against the plain way, measured in the same run.

Usage::

    python benchmarks/bench_measures.py [--device auto|cpu|cuda] [--quick] [--threads N]
        [--section all|discrete|gaussian]

Prints these tables:

1. The information-ratio matrix of 250 to 8,000 partitions of 32 samples (target: >= 1M
   pairs/s), best of k, with the process's peak memory, against a plain Python loop over pairs
   (np.bincount contingency counts) on a subset; then the joint-entropy crossover (matmul vs
   sort path), the tolerance grouping (sort-and-sweep vs the dense cdist path and a cKDTree),
   its dense switch, 10k seeds at 8 bits, and two-sample permutation tests on shared splits
   vs one argsort test per statistic (sections in _discrete_benchmarks.py).
2. Gaussian MI between two 768-dimensional streams of 100k samples, accumulated batch by batch
   with ``StreamingJointCovariance`` (target: within 2x of the floor), against its fair floor:
   the fastest of the plain in-memory ways to compute exactly what it returns (``np.cov``,
   centred numpy SYRK, centred torch matmul, each followed by the three Cholesky log-dets and
   the digamma correction), all timed interleaved in one loop and checked to return the same
   numbers (fairness argued in ``bench_gaussian_mi``'s docstring).

Timings are wall-clock on a possibly shared machine; the load average is printed with them, and
``--threads 1`` gives stable ratios when other processes compete for the cores.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
import torch
from _discrete_benchmarks import (  # the IR, grouping and permutation-test sections
    bench_grouping,
    bench_information_ratio,
    bench_joint_crossover,
    bench_permutation_tests,
    sync,
)
from scipy.special import digamma

from workbench.measures import StreamingJointCovariance


def _mi_from_covariance(cov: torch.Tensor, dim: int, n: int) -> tuple[float, float]:
    """(bias-corrected, plug-in) Gaussian MI in bits of a joint covariance, written out plainly:
    ``I = ½ [ln|S_x| + ln|S_y| - ln|S|]`` by Cholesky, minus the digamma bias of each log-det
    (the same formula as ``gaussian_mutual_information_from_covariance``, without its ridge
    search: the benchmark's covariance is well conditioned)."""

    def log_det(s: torch.Tensor) -> float:
        return 2.0 * float(torch.log(torch.linalg.cholesky(s).diagonal()).sum())

    def bias(d: int) -> float:  # b(d, n) = Σ_i ψ((n - i)/2) + d ln(2/(n - 1))
        return float(digamma((n - np.arange(1, d + 1)) / 2.0).sum() + d * math.log(2 / (n - 1)))

    plugin = 0.5 * (log_det(cov[:dim, :dim]) + log_det(cov[dim:, dim:]) - log_det(cov))
    corrected = plugin - 0.5 * (2 * bias(dim) - bias(2 * dim))
    return corrected / math.log(2), plugin / math.log(2)


def _floor_numpy_cov(z: np.ndarray, dim: int) -> tuple[float, float]:
    """The plain way: ``np.cov`` (a copy, centring, then numpy's SYRK) and the log-dets."""
    return _mi_from_covariance(torch.from_numpy(np.cov(z, rowvar=False)), dim, z.shape[0])


def _floor_numpy_syrk(z: np.ndarray, dim: int) -> tuple[float, float]:
    """The lean numpy way: centre once; ``zc.T @ zc`` is dispatched to BLAS SYRK (one triangle)."""
    zc = z - z.mean(axis=0)
    cov = torch.from_numpy(zc.T @ zc / (z.shape[0] - 1))
    return _mi_from_covariance(cov, dim, z.shape[0])


def _floor_torch_matmul(z: torch.Tensor, dim: int) -> tuple[float, float]:
    """The plain torch way: centre once, one full ``zc.T @ zc`` (torch has no SYRK)."""
    zc = z - z.mean(dim=0)
    return _mi_from_covariance(zc.T @ zc / (z.shape[0] - 1), dim, z.shape[0])


def bench_gaussian_mi(device: torch.device, quick: bool) -> None:
    """Streamed Gaussian MI against its fair floor, every timing interleaved in one loop.

    The floor is the fastest plain in-memory computation of exactly what the streamed path
    returns, checked equal in the run: the bias-corrected and plug-in MI of the float64 joint
    covariance of the same samples. No less: every floor centres the data, forms the full
    covariance in float64, takes all three log-dets and the digamma correction. No more: no
    input checks, no batching, jackknife groups or null shuffles (the streamed path is run with
    none), and numpy's SYRK forms one triangle, as the streamed strips do (9/16 of a full
    product). The lean numpy row exists because ``np.cov`` also copies its input.
    """
    dim, n_samples, batch = (256, 20_000, 4096) if quick else (768, 100_000, 8192)
    repeats = 3 if quick else 2
    rho = 0.3  # y = ρ x + sqrt(1 - ρ²) noise: I = -(d/2) log2(1 - ρ²) exactly
    truth = -dim / 2 * math.log2(1 - rho**2)
    gen = torch.Generator(device=device).manual_seed(0)
    pairs = []  # the paired stream, made once so that making batches is never timed
    for start in range(0, n_samples, batch):
        size = min(batch, n_samples - start)
        x = torch.randn(size, dim, generator=gen, device=device, dtype=torch.float64)
        noise = torch.randn(size, dim, generator=gen, device=device, dtype=torch.float64)
        pairs.append((x, rho * x + math.sqrt(1 - rho**2) * noise))
    z_t = torch.cat([torch.cat([x for x, _ in pairs]), torch.cat([y for _, y in pairs])], dim=1)
    z = z_t.cpu().numpy()  # (n_samples, 2 dim), the same samples in memory

    def streamed() -> tuple[float, float]:
        acc = StreamingJointCovariance(dim, dim, device=device)
        for x, y in pairs:
            acc.update(x, y)
        estimate = acc.gaussian_mutual_information_details()
        return estimate.bits, estimate.plugin_bits

    methods = {
        "StreamingJointCovariance (streamed)": streamed,
        "torch centred zc.T @ zc (in memory)": lambda: _floor_torch_matmul(z_t, dim),
    }
    if device.type == "cpu":  # numpy would time a device-to-host copy on CUDA
        methods["numpy np.cov (in memory)"] = lambda: _floor_numpy_cov(z, dim)
        methods["numpy centred SYRK (in memory)"] = lambda: _floor_numpy_syrk(z, dim)
    seconds = dict.fromkeys(methods, math.inf)
    results: dict[str, tuple[float, float]] = {}
    for _ in range(repeats):  # interleaved, so a burst of load hits every method alike
        for name, method in methods.items():
            sync(device)
            start = time.perf_counter()
            results[name] = method()
            sync(device)
            seconds[name] = min(seconds[name], time.perf_counter() - start)
    plain = [name for name in methods if "streamed" not in name]
    floor_name = min(plain, key=seconds.__getitem__)
    floor_s = seconds[floor_name]
    streamed_s = seconds["StreamingJointCovariance (streamed)"]
    same = all(
        np.allclose(results[name], results[floor_name], rtol=1e-9, atol=1e-9) for name in methods
    )

    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\nGaussian MI: two {dim}-d streams x {n_samples:,} samples (float64, batch {batch})")
    print(f"  best of {repeats}, interleaved; load avg {load}")
    print(f"  {'method':<40}{'seconds':>10}{'samples/s':>14}{'/ floor':>10}")
    for name in methods:
        mark = "  <- floor" if name == floor_name else ""
        row = f"{seconds[name]:>10.2f}{n_samples / seconds[name]:>14,.0f}"
        print(f"  {name:<40}{row}{seconds[name] / floor_s:>10.2f}{mark}")
    verdict = "PASS" if streamed_s <= 2 * floor_s else "FAIL"
    print(
        f"  target streamed <= 2x the fastest plain in-memory way: {verdict} "
        f"({streamed_s / floor_s:.2f}x {floor_name})"
    )
    bits, plugin = results["StreamingJointCovariance (streamed)"]
    print(
        f"  MI bits: true {truth:.4f}; streamed bias-corrected {bits:.4f}, plug-in {plugin:.4f}; "
        f"every method returns the same two numbers (rtol 1e-9): {'yes' if same else 'NO'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    parser.add_argument(
        "--section",
        choices=["all", "discrete", "gaussian"],
        default="all",
        help="run only the discrete tables (1) or the Gaussian-MI table (2)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch and numpy's BLAS (default: library defaults); on a shared "
        "machine, 1 thread keeps ratios stable when other processes compete for the cores",
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        try:  # numpy's BLAS pool (threadpoolctl ships with scikit-learn, a test dependency)
            from threadpoolctl import threadpool_limits

            threadpool_limits(args.threads)
        except ImportError:
            print("threadpoolctl not installed: numpy's BLAS keeps its default threads")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda was asked for but CUDA is not available")
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    name = (
        torch.cuda.get_device_name(device)
        if use_cuda
        else f"CPU, {torch.get_num_threads()} threads"
    )
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"workbench measures benchmark on {name}; torch {torch.__version__}; load avg {load}")
    if args.section in ("all", "discrete"):
        bench_information_ratio(device, args.quick)
        bench_joint_crossover(device, args.quick)
        bench_grouping(device, args.quick)
        bench_permutation_tests(device, args.quick)
    if args.section in ("all", "gaussian"):
        bench_gaussian_mi(device, args.quick)


if __name__ == "__main__":
    main()
