"""Loss along the straight line between two nets, and its barrier, for many pairs at once.

For nets θ_A, θ_B and ``θ_α = (1 − α) θ_A + α θ_B`` on a grid ``0 = α_0 < ... < α_K = 1``:

* **interpolated barrier** (the one reported; Entezari et al. 2022, "The Role of Permutation
  Invariance in Linear Mode Connectivity of Neural Networks", Def. 1)::

      B = max_α  L(θ_α) − [(1 − α) L(θ_A) + α L(θ_B)]

  the largest excess of the loss over the straight line joining the endpoint losses; 0 when the
  path is no worse than the chord anywhere (max over a grid that includes both endpoints, where
  the excess is 0, so B ≥ 0);
* **max-endpoint barrier** (the other common one; Frankle et al. 2020, "Linear Mode
  Connectivity and the Lottery Ticket Hypothesis", use it for the error)::

      B' = max_α L(θ_α) − max(L(θ_A), L(θ_B))

  which can be negative and is never larger than B.

The pairs × α interpolated nets are one batched ensemble (:class:`EnsembleMLP` over the flat
parameter buffers, so interpolation is one fused multiply-add), evaluated by one batched
forward pass per chunk of pairs; there is no Python loop over pairs or over α.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from workbench.core.choices import BARRIER_DEFINITIONS
from workbench.core.ensemble import per_seed_loss
from workbench.core.models.mlp import EnsembleMLP

__all__ = ["DEFINITIONS", "alpha_grid", "barrier", "pair_indices", "path_losses"]

DEFINITIONS = BARRIER_DEFINITIONS
"""Barrier definitions of :func:`barrier` (module docstring)."""

#: Interpolated nets evaluated at once (pairs × α per chunk). Small chunks keep each chunk's
#: activations in cache: for the default nets (widths 16, 16 on 32 inputs) 512 nets per chunk
#: ran about twice as fast per net as 32,768 on one CPU thread.
_NETS_PER_CHUNK = 512


def alpha_grid(n: int) -> npt.NDArray[np.float64]:
    """``n`` evenly spaced α in [0, 1], both endpoints included (n >= 2)."""
    if n < 2:
        raise ValueError(f"an α grid needs at least the two endpoints; got n = {n}")
    return np.linspace(0.0, 1.0, n)


def pair_indices(n: int, max_pairs: int = 0, seed: int = 0) -> npt.NDArray[np.int64]:
    """All pairs ``(i, j)``, i < j, of n nets, or a uniform sample of ``max_pairs`` of them.

    Args:
        n: Number of nets.
        max_pairs: 0 for all n(n−1)/2 pairs; otherwise at most this many, drawn without
            replacement by a generator seeded with ``seed`` and returned in (i, j) order.

    Returns:
        ``(pair, 2)`` int64.
    """
    i, j = np.triu_indices(n, k=1)
    pairs = np.stack([i, j], axis=1).astype(np.int64)
    if 0 < max_pairs < len(pairs):
        keep = np.sort(np.random.default_rng(seed).choice(len(pairs), max_pairs, replace=False))
        pairs = pairs[keep]
    return pairs


def path_losses(
    model_a: EnsembleMLP,
    model_b: EnsembleMLP,
    x: Tensor,
    y: Tensor,
    alphas: Sequence[float] | npt.NDArray[np.float64],
    loss: str,
    *,
    chunk: int = _NETS_PER_CHUNK,
) -> npt.NDArray[np.float64]:
    """L(θ_α) for every pair (row p of A with row p of B) and every α, batched.

    Args:
        model_a, model_b: ``pair`` nets each, one architecture.
        x: ``(n, d_in)`` inputs shared by all nets.
        y: ``(n, d_out)`` targets.
        alphas: ``(K+1,)`` interpolation weights (usually :func:`alpha_grid`).
        loss: A per-seed loss of :func:`workbench.core.ensemble.per_seed_loss` (``mse`` ...).
        chunk: Interpolated nets per batched forward pass.

    Returns:
        ``(pair, K+1)`` float64 losses.
    """
    if model_a.sizes != model_b.sizes or model_a.n_seeds != model_b.n_seeds:
        raise ValueError(
            f"nets A and B must share layer sizes and count; got {model_a.sizes} × "
            f"{model_a.n_seeds} and {model_b.sizes} × {model_b.n_seeds}"
        )
    device, dtype = model_a.device, model_a.dtype
    a_grid = torch.as_tensor(np.asarray(alphas, dtype=np.float64), device=device, dtype=dtype)
    n_alpha = a_grid.numel()
    pa, pb = model_a.params, model_b.params.to(device, dtype)
    x, y = x.to(device, dtype), y.to(device, dtype)
    per = max(1, chunk // n_alpha)  # pairs per chunk
    out = []
    with torch.no_grad():
        for start in range(0, model_a.n_seeds, per):
            a, b = pa[start : start + per], pb[start : start + per]
            # θ_α = θ_A + α (θ_B − θ_A): (pair, α, n_params), flattened into one ensemble.
            theta = a.unsqueeze(1) + a_grid.view(1, -1, 1) * (b - a).unsqueeze(1)
            nets = EnsembleMLP(theta.reshape(-1, theta.shape[2]), model_a.sizes, model_a.activation)
            value, _ = per_seed_loss(nets(x), y, loss)  # (pair·α,)
            out.append(value.view(-1, n_alpha).double().cpu())
    return torch.cat(out).numpy()


def barrier(
    losses: npt.NDArray[np.float64],
    alphas: Sequence[float] | npt.NDArray[np.float64],
    definition: str = "interpolated",
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The barrier of each path and where it peaks (module docstring for the definitions).

    Args:
        losses: ``(pair, K+1)`` from :func:`path_losses`.
        alphas: The ``(K+1,)`` grid, with ``α_0 = 0`` and ``α_K = 1``.
        definition: One of :data:`DEFINITIONS`.

    Returns:
        ``(pair,)`` barriers and ``(pair,)`` the index of the α where the maximum is.
    """
    grid = np.asarray(alphas, dtype=np.float64)
    if grid.ndim != 1 or grid[0] != 0.0 or grid[-1] != 1.0:
        raise ValueError("the α grid must start at 0 and end at 1 (the endpoints θ_A and θ_B)")
    losses = np.asarray(losses, dtype=np.float64)
    start, end = losses[:, :1], losses[:, -1:]
    if definition == "interpolated":
        excess = losses - ((1.0 - grid) * start + grid * end)
    elif definition == "max-endpoint":
        excess = losses - np.maximum(start, end)
    else:
        raise ValueError(f"barrier definition {definition!r} is unknown; use one of {DEFINITIONS}")
    where = np.argmax(excess, axis=1)
    return np.take_along_axis(excess, where[:, None], 1)[:, 0], where.astype(np.int64)
