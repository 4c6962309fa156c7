"""Speed of the measurement core against the plain way, measured in the same run.

Usage::

    python benchmarks/bench_measures.py [--device auto|cpu|cuda] [--quick] [--threads N]

Prints these tables:

1. The information-ratio matrix of 250 to 8,000 partitions of 32 samples (target: >= 1M
   pairs/s), best of k, with the process's peak memory, against a plain Python loop over pairs
   (np.bincount contingency counts) on a subset; then the joint-entropy crossover (matmul vs
   sort path), the tolerance grouping (sort-and-sweep vs the dense cdist path and a cKDTree),
   its dense switch, 10k seeds at 8 bits, and two-sample permutation tests on shared splits
   vs one argsort test per statistic (sections in _discrete_benchmarks.py).
2. Gaussian MI between two 768-dimensional streams of 100k samples, accumulated batch by batch
   with ``StreamingJointCovariance`` (target: within 2x of the floor), against plain numpy
   (``np.cov`` + ``slogdet`` on everything in memory) and against the compute floor: the
   streamed path's own arithmetic alone, the upper tiles of ``Z^T Z`` over all samples in
   memory (z = [x, y], 100k x 1536), with a full ``z^T z`` (more flops) for reference.

Timings are wall-clock on a possibly shared machine; the load average is printed with them, and
``--threads 1`` gives stable ratios when other processes compete for the cores.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Iterator

import numpy as np
import torch
from _discrete_benchmarks import (  # the IR, grouping and permutation-test sections
    bench_grouping,
    bench_information_ratio,
    bench_joint_crossover,
    bench_permutation_tests,
    best_time,
    sync,
)

from workbench.core.measures._moments import add_scatter_, tile_edges
from workbench.measures import StreamingJointCovariance


def bench_gaussian_mi(device: torch.device, quick: bool) -> None:
    dim, n_samples, batch = (256, 20_000, 4096) if quick else (768, 100_000, 8192)
    rho = 0.3  # y = ρ x + sqrt(1 - ρ²) noise: I = -(d/2) log2(1 - ρ²) exactly
    truth = -dim / 2 * math.log2(1 - rho**2)

    def stream(seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The paired stream, made batch by batch on the device (never all in memory)."""
        gen = torch.Generator(device=device).manual_seed(seed)
        done = 0
        while done < n_samples:
            size = min(batch, n_samples - done)
            x = torch.randn(size, dim, generator=gen, device=device, dtype=torch.float64)
            noise = torch.randn(size, dim, generator=gen, device=device, dtype=torch.float64)
            yield x, rho * x + math.sqrt(1 - rho**2) * noise
            done += size

    # 1. Streamed: only update() and the final estimate are timed, not making the batches.
    streamed_s = math.inf
    for _ in range(2):
        acc = StreamingJointCovariance(dim, dim, device=device)
        seconds = 0.0
        for x, y in stream(seed=0):
            sync(device)
            start = time.perf_counter()
            acc.update(x, y)
            sync(device)
            seconds += time.perf_counter() - start
        start = time.perf_counter()
        estimate = acc.gaussian_mutual_information_details()
        streamed_s = min(streamed_s, seconds + time.perf_counter() - start)

    # 2. Plain numpy on everything in memory (the same samples): np.cov + slogdet.
    pairs = list(stream(seed=0))
    z = np.hstack(
        [
            np.vstack([x.cpu().numpy() for x, _ in pairs]),
            np.vstack([y.cpu().numpy() for _, y in pairs]),
        ]
    )
    del pairs
    numpy_s = math.inf
    for _ in range(2):  # best of 2, as the streamed path
        start = time.perf_counter()
        cov = np.cov(z, rowvar=False)
        _, ld_x = np.linalg.slogdet(cov[:dim, :dim])
        _, ld_y = np.linalg.slogdet(cov[dim:, dim:])
        _, ld_xy = np.linalg.slogdet(cov)
        mi_numpy = 0.5 * (ld_x + ld_y - ld_xy) / math.log(2)
        numpy_s = min(numpy_s, time.perf_counter() - start)

    # 3. The compute floor: the streamed path's own arithmetic and nothing else, i.e. the
    #    upper tiles of Z^T Z (add_scatter_, (T + 1)/(2T) of a full matmul) over all samples
    #    at once, in memory: no batching, centring, jackknife groups or merging. A full
    #    z^T z does more arithmetic than the streamed path, so it is shown for reference only.
    x_all = torch.from_numpy(np.ascontiguousarray(z[:, :dim])).to(device)
    y_all = torch.from_numpy(np.ascontiguousarray(z[:, dim:])).to(device)
    edges = tile_edges([dim, dim])
    m2 = torch.zeros(2 * dim, 2 * dim, dtype=torch.float64, device=device)
    floor_s = best_time(lambda: add_scatter_(m2.zero_(), [x_all, y_all], edges), device, repeats=2)
    z_t = torch.from_numpy(z).to(device)
    full_s = best_time(lambda: z_t.T @ z_t, device, repeats=2)

    print(f"\nGaussian MI: two {dim}-d streams x {n_samples:,} samples (float64, batch {batch})")
    print(f"  {'method':<44}{'seconds':>10}{'samples/s':>14}{'/ floor':>10}")
    for name, seconds in (
        ("StreamingJointCovariance (streamed)", streamed_s),
        ("numpy np.cov + slogdet (in memory)", numpy_s),
        ("upper tiles of Z^T Z, in memory (floor)", floor_s),
        ("full matmul z^T z (reference, more flops)", full_s),
    ):
        row = f"{seconds:>10.2f}{n_samples / seconds:>14,.0f}{seconds / floor_s:>10.2f}"
        print(f"  {name:<44}{row}")
    verdict = "PASS" if streamed_s <= 2 * floor_s else "FAIL"
    if numpy_s >= streamed_s:
        versus = f"{numpy_s / streamed_s:.2f}x faster than numpy"
    else:  # say it the right way round: numpy holds everything in memory to win
        versus = f"numpy in memory is {streamed_s / numpy_s:.2f}x faster than streaming"
    print(f"  target streamed <= 2x floor: {verdict} ({streamed_s / floor_s:.2f}x); {versus}")
    print(
        f"  MI bits: true {truth:.4f}; streamed bias-corrected {estimate.bits:.4f}, "
        f"plug-in {estimate.plugin_bits:.4f}; numpy plug-in {mi_numpy:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
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
    bench_information_ratio(device, args.quick)
    bench_joint_crossover(device, args.quick)
    bench_grouping(device, args.quick)
    bench_permutation_tests(device, args.quick)
    bench_gaussian_mi(device, args.quick)


if __name__ == "__main__":
    main()
