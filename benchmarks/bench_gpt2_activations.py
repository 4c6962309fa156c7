"""GPT-2 residual-stream activation collection plus covariance: streaming against the plain way.

Workload: a trained model and its random-init twin run on the same token batches; at every
residual hook point (``2 L + 1`` of them) the joint covariance of (trained, twin) is
accumulated, which is what the ``gpt2-residual-mi`` lab does per hook point.

* **streaming**: :func:`workbench.core.models.gpt2.collect_residual_stream` into one
  :class:`workbench.measures.StreamingJointCovariance` per hook point, batch by batch; memory
  is ``O(H (2d)²)`` whatever the number of tokens.
* **streaming (lab)**: the same with the lab's jackknife groups (16) and shuffles (19, the
  cheap part-derangement null) and the joint covariance of all hook points of both models
  (``layer_matrix``).

Then, at GPT-2 small's width (d = 768, one 512-row batch of one hook pair), the cost of
groups and shuffles against the strongest plain alternative measured in the same run (one
``zᵀz`` of the centred batch, ``z = [x, y]``): the old way (a Python loop of G small products
for the groups, one product per uniform shuffle) and the new one (all groups in one batched
product, all shuffles from one product of P parts). Last, a projection for GPT-2 small
(25 hooks, d = 768, 100k tokens, K twins): the accumulators' memory bound from their real
``nbytes()``, host memory, and time on CPU (measured rates) and on one GPU (measured when
CUDA is present; otherwise flop counts at an assumed fraction of a stated peak).
* **plain**: what the seed discussion did: keep every activation in memory, concatenate,
  then ``numpy.cov`` per hook point; memory ``O(n_tokens H d)``.

Both are timed in the same process, best of a few repeats, and the covariances are checked
to agree. Models: a tiny config (2 blocks, width 64), the lab's offline-default size (4 blocks,
width 128), and GPT-2 small (124 M) when a ``gpt2`` checkpoint is in the Hugging Face cache or
given with ``--gpt2 FOLDER`` (skipped with a message otherwise; nothing is downloaded). On CPU,
and on CUDA when present.

Usage::

    python benchmarks/bench_gpt2_activations.py
    python benchmarks/bench_gpt2_activations.py --quick
    python benchmarks/bench_gpt2_activations.py --gpt2 ~/models/gpt2 --device cuda
    python benchmarks/bench_gpt2_activations.py --projection-only
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from workbench.core.errors import WorkbenchError
from workbench.core.models.gpt2 import (
    TokenBatch,
    collect_residual_stream,
    gpt2_config,
    load_pretrained,
    random_twin,
    residual_hook_names,
)
from workbench.measures import StreamingCovariance, StreamingJointCovariance

#: GPT-2 small's shape, and the lab settings projected for it.
GPT2_SMALL = {"hooks": 25, "d": 768, "tokens": 100_000, "params": 124_439_808}
PROJECTED = {
    "n_groups": 8,
    "n_permutations": 19,
    "null_parts": 4,
    "copula_calibration": 2048,
    "twins": 4,
    "batch": 512,
}


def make_batches(
    n_batches: int, batch: int, seq_len: int, n_pos: int, vocab: int, seed: int = 0
) -> list[TokenBatch]:
    """Random tokens and sampled positions, made before timing starts."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        ids = torch.randint(0, vocab, (batch, seq_len), generator=g)
        pos = torch.rand(batch, seq_len, generator=g).argsort(dim=1)[:, :n_pos].sort(dim=1).values
        out.append(TokenBatch(ids, pos))
    return out


def streaming(
    models: list[Any],
    batches: list[TokenBatch],
    names: tuple[str, ...],
    device: torch.device,
    *,
    lab: bool = False,
) -> dict[str, np.ndarray]:
    d = int(models[0].config.n_embd)
    pairs = {
        name: StreamingJointCovariance(
            d,
            d,
            device=device,
            n_groups=16 if lab else 1,
            n_permutations=19 if lab else 0,
            null="parts",
        )
        for name in names
    }
    joint = StreamingCovariance(2 * len(names) * d, device=device) if lab else None
    for _, (a, b) in collect_residual_stream(models, batches, names, device):
        for name in names:
            pairs[name].update(a[name], b[name])
        if joint is not None:
            joint.update(torch.cat([a[n] for n in names] + [b[n] for n in names], dim=1))
    return {name: acc.covariance() for name, acc in pairs.items()}


def plain(
    models: list[Any], batches: list[TokenBatch], names: tuple[str, ...], device: torch.device
) -> dict[str, np.ndarray]:
    kept: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for _, (a, b) in collect_residual_stream(models, batches, names, device):
        for name in names:
            kept[name].append(torch.cat([a[name], b[name]], dim=1).cpu().numpy())
    return {
        name: np.cov(np.concatenate(rows).astype(np.float64), rowvar=False)
        for name, rows in kept.items()
    }


def best_of(fn: Callable[[], Any], repeats: int, device: torch.device) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_model(
    label: str,
    trained: Any,
    device: torch.device,
    *,
    n_batches: int,
    batch: int,
    seq_len: int,
    n_pos: int,
    repeats: int,
    lab_row: bool = True,
) -> None:
    trained = trained.to(device).eval()
    twin = random_twin(trained.config, seed=1, device=device)
    names = residual_hook_names(int(trained.config.n_layer))
    d = int(trained.config.n_embd)
    batches = make_batches(n_batches, batch, seq_len, n_pos, int(trained.config.vocab_size))
    n_tokens = n_batches * batch * n_pos
    models = [trained, twin]
    with torch.inference_mode():
        streaming(models, batches[:1], names, device)  # warm up kernels and allocator
        t_stream, cov_stream = best_of(
            lambda: streaming(models, batches, names, device), repeats, device
        )
        t_lab = math.nan
        if lab_row:
            t_lab, _ = best_of(
                lambda: streaming(models, batches, names, device, lab=True), repeats, device
            )
        t_plain, cov_plain = best_of(lambda: plain(models, batches, names, device), repeats, device)
    err = max(
        float(np.abs(cov_stream[n] - cov_plain[n]).max() / np.abs(cov_plain[n]).max())
        for n in names
    )
    held_plain = n_tokens * len(names) * 2 * d * 4 / 1e6
    held_stream = len(names) * (2 * d) ** 2 * 8 / 1e6
    print(
        f"{label:<28} {device.type:<5} d={d:<4} hooks={len(names):<3} tokens={n_tokens:<7} "
        f"seq_len={seq_len}"
    )
    print(
        f"  plain (all in memory + np.cov) {n_tokens / t_plain:>12,.0f} tokens/s  "
        f"holds {held_plain:,.1f} MB of activations"
    )
    print(
        f"  streaming accumulators         {n_tokens / t_stream:>12,.0f} tokens/s  "
        f"holds {held_stream:,.1f} MB  ({t_plain / t_stream:.2f}x plain)"
    )
    if lab_row:
        print(
            f"  streaming, lab settings        {n_tokens / t_lab:>12,.0f} tokens/s  "
            f"(16 jackknife groups, 19 shuffles, all-hook joint; {t_plain / t_lab:.2f}x plain)"
        )
    else:
        print("  streaming, lab settings        skipped (its accumulators need ~20 GB here)")
    print(f"  max relative covariance difference, streaming vs plain: {err:.1e}")


def _old_grouped_update(
    m2s: list[torch.Tensor], z: torch.Tensor, groups: torch.Tensor, n_groups: int
) -> None:
    """The way before: one small product per group (a Python loop over groups)."""
    for g in range(n_groups):
        part = z[groups == g]
        centred = part - part.mean(dim=0)
        m2s[g].addmm_(centred.T, centred)


def bench_accumulation(device: torch.device, repeats: int) -> dict[str, float]:
    """Seconds per 512-row batch of one 768-wide hook pair, several ways, same run."""
    d, n = GPT2_SMALL["d"], PROJECTED["batch"]
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(n, d, generator=g, dtype=torch.float64).to(device)
    y = (0.5 * x.cpu() + torch.randn(n, d, generator=g, dtype=torch.float64)).to(device)
    groups = (torch.arange(n) // 32 % 16).to(device)  # 16 groups of whole 'sequences'
    m2 = torch.zeros(2 * d, 2 * d, dtype=torch.float64, device=device)
    old_m2s = [torch.zeros_like(m2) for _ in range(16)]

    def floor() -> None:
        z = torch.cat([x, y], dim=1)
        zc = z - z.mean(dim=0)
        m2.addmm_(zc.T, zc)

    def old_groups() -> None:
        _old_grouped_update(old_m2s, torch.cat([x, y], dim=1), groups, 16)

    def accumulator(**kw: Any) -> Callable[[], None]:
        acc = StreamingJointCovariance(d, d, device=device, **kw)
        acc.update(x, y, groups=groups if kw.get("n_groups", 1) > 1 else None)  # allocate

        def run() -> None:
            acc.update(x, y, groups=groups if kw.get("n_groups", 1) > 1 else None)

        return run

    ways = {
        "plain zᵀz (floor)": floor,
        "streaming, no groups, no shuffles": accumulator(),
        "16 groups, old loop": old_groups,
        "16 groups, batched": accumulator(n_groups=16),
        "19 uniform shuffles (old null)": accumulator(n_permutations=19),
        "19 shuffles from 4 parts (new null)": accumulator(n_permutations=19, null="parts"),
        "lab before: 16 groups loop + 19 uniform shuffles": lambda: (
            old_groups(),
            ways_uniform(),
        ),
        "lab now: 16 groups + 19 shuffles from 4 parts": accumulator(
            n_groups=16, n_permutations=19, null="parts"
        ),
    }
    ways_uniform = accumulator(n_permutations=19)
    times = {}
    for label, fn in ways.items():
        times[label] = best_of(fn, repeats, device)[0]
    base = times["plain zᵀz (floor)"]
    print(f"one 512-row batch of one d={d} hook pair on {device.type} (best of {repeats}):")
    for label, t in times.items():
        print(f"  {label:<50} {1e3 * t:>8.1f} ms  {t / base:>5.2f}x the floor")
    return times


def _nbytes_per_hook(device: torch.device, settings: dict[str, int]) -> int:
    """Real bytes of one hook's accumulators (pair + baseline + copula + kurtosis), read
    from ``nbytes()`` after one batch, plus the copula's normal-score maps."""
    from workbench_labs.gpt2_residual_mi.stream import ResidualAccumulators

    d = GPT2_SMALL["d"]
    calibration = settings["copula_calibration"]
    acc = ResidualAccumulators.create(
        ("h",), d, n_groups=settings["n_groups"], n_permutations=settings["n_permutations"],
        seed=0, layer_matrix=False, device=device, null_parts=settings["null_parts"],
        baseline=True, copula_calibration=calibration, kurtosis=True,
    )  # fmt: skip
    rows = torch.randn(max(512, calibration), d, dtype=torch.float64, device=device)
    acc.update({"h": rows}, {"h": rows + 1}, rows.shape[0] // 4, partner={"h": rows - 1})
    maps = 2 * calibration * d * 8  # the two normal-score maps
    return acc.nbytes() + maps + 2 * 4 * d * 8


#: A CPU-only setting under 8 GB: fewer groups and shuffles, no copula column.
CPU_SETTINGS = {"n_groups": 4, "n_permutations": 9, "null_parts": 4, "copula_calibration": 0}


def _forward_seconds_per_token(device: torch.device) -> float:
    """A GPT-2-small-shaped random model (12 x 768, 50257 tokens), body only, 4 x 256 tokens."""
    config = gpt2_config(n_layer=12, n_embd=768, n_head=12, n_ctx=256, vocab_size=50257)
    model = random_twin(config, seed=0, device=device)
    names = residual_hook_names(12)
    batch = make_batches(1, 4, 256, 16, 50257)
    with torch.inference_mode():
        list(collect_residual_stream([model], batch, names, device))  # warm up
        seconds, _ = best_of(
            lambda: list(collect_residual_stream([model], batch, names, device)), 2, device
        )
    return seconds / (4 * 256)


def project_gpt2_small(
    device: torch.device, acc_times: dict[str, float], gpu_tflops: float, efficiency: float
) -> None:
    h, d, tokens = GPT2_SMALL["hooks"], GPT2_SMALL["d"], GPT2_SMALL["tokens"]
    k, batch = PROJECTED["twins"], PROJECTED["batch"]
    model_bytes = 3 * GPT2_SMALL["params"] * 4  # trained, twin, partner in float32
    print(
        f"GPT-2 small projection: {h} hooks, d={d}, {tokens:,} tokens, {k} twins (one pass "
        f"each, so memory does not grow with twins or tokens), layer_matrix off"
    )
    for label, settings in (("lab settings", PROJECTED), ("CPU-only settings", CPU_SETTINGS)):
        per_hook = _nbytes_per_hook(torch.device("cpu"), settings)
        acc_gb = h * per_hook / 1e9
        total = acc_gb + model_bytes / 1e9 + 3 * h * batch * d * 4 / 1e9
        print(
            f"  {label} (n_groups={settings['n_groups']}, {settings['n_permutations']} "
            f"shuffles from {settings['null_parts']} parts, copula "
            f"{'on' if settings['copula_calibration'] else 'off'}): accumulators "
            f"{per_hook / 1e6:,.0f} MB/hook x {h} = {acc_gb:.2f} GB; with the 3 models "
            f"({model_bytes / 1e9:.2f} GB) and one batch of activations: {total:.2f} GB"
        )
    print(
        "  on CUDA the accumulators and models live in device memory (an H100/H200 holds the "
        "lab settings); host memory is then the token batches and the process, well under "
        "8 GB. On CPU only the CPU-only settings fit under 8 GB."
    )
    # Time: every pass runs 3 forwards and, per hook, the pair and the baseline accumulators.
    # The pair has groups and shuffles, the baseline groups only (measured at 16 groups).
    lab_batch = acc_times["lab now: 16 groups + 19 shuffles from 4 parts"]
    base_batch = acc_times["16 groups, batched"]
    forward = _forward_seconds_per_token(device)
    batches = tokens / batch
    per_pass = batches * h * (lab_batch + base_batch) + tokens * 3 * forward
    print(
        f"  measured on {device.type}: forward {1e3 * forward:.3f} ms/token/model, "
        f"accumulation {1e3 * (lab_batch + base_batch):.1f} ms per batch per hook; "
        f"{per_pass / 60:.1f} min per twin pass, {k * per_pass / 60:.1f} min for {k} twins"
    )
    if device.type != "cuda":
        # Flops per hook and batch: the grouped scatter 2 n D² (D = 2d) of the pair and of the
        # baseline, the pair's part products 2 P n d²; forwards ~2 x params per token per
        # model (fp32).
        parts = PROJECTED["null_parts"]
        acc_flops = h * (2 * 2 * batch * (2 * d) ** 2 + 2 * parts * batch * d * d)
        total = k * (batches * acc_flops + tokens * 3 * 2 * GPT2_SMALL["params"])
        seconds = total / (gpu_tflops * 1e12 * efficiency)
        print(
            f"  projected on one GPU at {gpu_tflops:g} TFLOP/s x {efficiency:.0%} efficiency "
            f"(fp64 accumulation, fp32 forward; not measured here): {total / 1e12:,.0f} TFLOP, "
            f"{seconds / 60:.1f} min for {k} twins"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tokens, one repeat")
    parser.add_argument("--device", default="all", help="cpu, cuda or all (default)")
    parser.add_argument("--gpt2", default="gpt2", help="GPT-2 folder or cached hub name")
    parser.add_argument(
        "--projection-only", action="store_true", help="only the d=768 rows and the projection"
    )
    parser.add_argument(
        "--gpu-tflops",
        type=float,
        default=19.5,
        help="peak used for the GPU projection without CUDA (A100 fp64 tensor: 19.5)",
    )
    parser.add_argument("--gpu-efficiency", type=float, default=0.5, help="fraction of peak")
    args = parser.parse_args()
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    if args.device != "all":
        devices = [torch.device(args.device)]
    repeats = 1 if args.quick else 3
    import os

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"load average {os.getloadavg()[0]:.1f} (numbers under load are noisy; ratios are same-run)"
    )
    for device in devices:
        times = bench_accumulation(device, repeats)
        project_gpt2_small(device, times, args.gpu_tflops, args.gpu_efficiency)
        if args.projection_only:
            continue
        scale = 4 if device.type == "cuda" else 1
        n_batches = (2 if args.quick else 6) * scale
        for label, n_layer, width in (
            ("tiny (2 x 64)", 2, 64),
            ("offline-default (4 x 128)", 4, 128),
        ):
            config = gpt2_config(n_layer=n_layer, n_embd=width, n_head=4, n_ctx=128)
            bench_model(
                label,
                random_twin(config, seed=0),
                device,
                n_batches=n_batches,
                batch=64,
                seq_len=64,
                n_pos=8,
                repeats=repeats,
            )
        try:
            full = load_pretrained(args.gpt2, "cpu", allow_download=False)
        except WorkbenchError as err:
            print(f"GPT-2 small skipped: {err}")
            continue
        n_full = 1 if args.quick else 2 * scale
        bench_model(
            "GPT-2 small (12 x 768)",
            full,
            device,
            n_batches=n_full,
            batch=16,
            seq_len=256,
            n_pos=16,
            repeats=1 if device.type == "cpu" else repeats,
            lab_row=device.type == "cuda",
        )


if __name__ == "__main__":
    main()
