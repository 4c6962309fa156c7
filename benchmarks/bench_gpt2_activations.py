"""GPT-2 residual-stream activation collection plus covariance: streaming against the plain way.

Workload: a trained model and its random-init twin run on the same token batches; at every
residual hook point (``2 L + 1`` of them) the joint covariance of (trained, twin) is
accumulated, which is what the ``gpt2-residual-mi`` lab does per hook point.

* **streaming**: :func:`workbench.core.models.gpt2.collect_residual_stream` into one
  :class:`workbench.measures.StreamingJointCovariance` per hook point, batch by batch; memory
  is ``O(H (2d)²)`` whatever the number of tokens.
* **streaming (lab)**: the same with the lab's jackknife groups (16) and shuffles (19) and the
  joint covariance of all hook points of both models (``layer_matrix``).
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
            d, d, device=device, n_groups=16 if lab else 1, n_permutations=19 if lab else 0
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tokens, one repeat")
    parser.add_argument("--device", default="all", help="cpu, cuda or all (default)")
    parser.add_argument("--gpt2", default="gpt2", help="GPT-2 folder or cached hub name")
    args = parser.parse_args()
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    if args.device != "all":
        devices = [torch.device(args.device)]
    repeats = 1 if args.quick else 3
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    for device in devices:
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
