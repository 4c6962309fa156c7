"""Basin volume by Monte Carlo: radii along random directions, combined into a log-volume.

The basin of w* below a loss threshold T is taken to be the star-shaped set
``B = {w* + r u: ‖u‖ = 1, 0 <= r < R(u)}`` where ``R(u) = inf{r > 0: L(w* + r u) > T}`` is the
radius at which the loss along direction u first exceeds T. In polar coordinates its volume is

    V = ∫_{S^{P-1}} R(u)^P / P dσ(u) = V_P · E_u[R(u)^P],     V_P = π^{P/2} / Γ(P/2 + 1)

with u uniform on the unit sphere (dσ the surface measure, whose total is P·V_P). With K
directions the estimate is ``ln V̂ = ln V_P + ln mean_k R_k^P`` (a log-mean-exp, computed
stably). Its interval is a percentile bootstrap over directions. Because R^P is heavy-tailed
when P is large, the estimate is dominated by the longest radii, and the bootstrap interval
is optimistic there: it is exact in distribution only as K grows. The geometric mean radius
``exp(mean ln R)`` is reported beside it as a robust summary.

**Per-layer normalisation.** ReLU nets are unchanged when a layer is scaled by α and the next
by 1/α, but raw directions are not, so raw volumes compare nets unfairly. With
``normalize=True`` directions are drawn uniform on the sphere in scaled coordinates
``w = w* + S z``, where S scales every parameter block (each layer's weight, and each bias)
by that block's RMS at w* (Li et al., 2018, "filter normalisation", made per block). The
volume is then that of the basin in z: ``ln V_z = ln V_w - Σ_blocks n_b ln s_b``, exactly
invariant under per-layer rescalings of a ReLU net (a test checks it).

Radii are found for every (seed, direction) at once: the loss on a geometric grid of radii,
then bisection between the last grid point below T and the first above. A direction whose
loss never exceeds T within ``r_max`` is censored at r_max (counted and reported).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from workbench.core.hessian import log_unit_ball_volume

__all__ = ["BasinVolume", "block_scales", "mc_basin_volume", "mc_basin_volumes", "radii_along"]

FloatArray = npt.NDArray[np.float64]
BatchLoss = Callable[[Tensor, Tensor], Tensor]
"""Batched loss: ``(w (rows, P), seed_of_row (rows,) int64)`` → ``(rows,)``."""


@dataclass(frozen=True)
class BasinVolume:
    """Monte-Carlo basin volumes of every seed.

    Attributes:
        log_volume: ``(seed,)`` ln V̂ (natural log; in the normalised coordinates if asked).
        lo: ``(seed,)`` lower end of the bootstrap interval.
        hi: ``(seed,)`` upper end.
        log_mean_radius: ``(seed,)`` mean ln R over directions.
        radii: ``(seed, direction)`` R(u_k).
        censored: ``(seed,)`` directions whose radius reached ``r_max``.
        level: Interval coverage.
    """

    log_volume: FloatArray
    lo: FloatArray
    hi: FloatArray
    log_mean_radius: FloatArray
    radii: FloatArray
    censored: npt.NDArray[np.int64]
    level: float


def block_scales(
    w_star: Tensor, blocks: Sequence[tuple[int, int]], *, floor: float = 1e-3
) -> Tensor:
    """Per-parameter scale s: each block ``[start, stop)`` gets its RMS at w* (at least ``floor``).

    Returns:
        ``(seed, P)`` scales.
    """
    s = torch.empty_like(w_star)
    for start, stop in blocks:
        rms = w_star[:, start:stop].square().mean(dim=1, keepdim=True).sqrt()
        s[:, start:stop] = rms.clamp_min(floor)
    return s


def radii_along(
    loss: BatchLoss,
    w_star: Tensor,
    directions: Tensor,
    thresholds: Sequence[float],
    *,
    r_max: float = 100.0,
    r_min: float = 1e-4,
    grid: int = 32,
    bisections: int = 24,
) -> Tensor:
    """R(u) = first radius where the loss exceeds T, for every (T, seed, direction).

    The loss on the radius grid is computed once and shared by every T; the bisections of all
    T run together (one batched loss call per bisection step).

    Args:
        loss: Batched loss over rows of parameters.
        w_star: ``(seed, P)``.
        directions: ``(seed, K, P)`` step vectors (w = w* + r·direction).
        thresholds: The T's.
        r_max: Largest radius tried (a direction still below T there is censored at r_max).
        r_min: Smallest grid radius (a direction above T already there is bisected in
            ``[0, r_min]``).
        grid: Geometric grid points between r_min and r_max (ratio (r_max/r_min)^(1/(grid-1))).
        bisections: Bisection steps (each halves the bracket: 24 leave 6e-8 of it).

    Returns:
        ``(T, seed, K)`` radii.
    """
    s, k, p = directions.shape
    n_t = len(thresholds)
    base = w_star.unsqueeze(1)  # (s, 1, P)
    seed_of_row = torch.arange(s, device=w_star.device).repeat_interleave(k)  # (s·K,)
    t = torch.as_tensor(list(thresholds), dtype=w_star.dtype, device=w_star.device)

    def loss_at(r: Tensor) -> Tensor:  # r: (m, s, K) → loss (m, s, K)
        m = r.shape[0]
        w = base.unsqueeze(0) + r.unsqueeze(-1) * directions.unsqueeze(0)  # (m, s, K, P)
        return loss(w.reshape(m * s * k, p), seed_of_row.repeat(m)).view(m, s, k)

    radii = torch.logspace(
        math.log10(r_min), math.log10(r_max), grid, dtype=w_star.dtype, device=w_star.device
    )
    # 1. The loss on the grid, once; for each T the first grid radius above T brackets R(u).
    on_grid = torch.cat([loss_at(r.expand(1, s, k)) for r in radii])  # (grid, s, K)
    above = on_grid.unsqueeze(0) > t.view(n_t, 1, 1, 1)  # (T, grid, s, K)
    first = torch.where(above.any(dim=1), above.to(torch.int64).argmax(dim=1), grid)  # (T, s, K)
    hi = torch.where(
        first < grid,
        radii[first.clamp(max=grid - 1)],
        torch.full_like(t.view(n_t, 1, 1).expand(n_t, s, k), r_max),
    )
    lo = torch.where(first > 0, radii[(first - 1).clamp(min=0)], torch.zeros_like(hi))
    censored = first >= grid
    # 2. Bisect inside every bracket at once (censored directions stay at r_max).
    for _ in range(bisections):
        mid = (lo + hi) / 2
        up = loss_at(mid) > t.view(n_t, 1, 1)
        hi = torch.where(up, mid, hi)
        lo = torch.where(up, lo, mid)
    return torch.where(censored, hi, (lo + hi) / 2)


def mc_basin_volume(
    loss: BatchLoss,
    w_star: Tensor,
    threshold: float,
    **kwargs: Any,
) -> BasinVolume:
    """ln V of every seed's basin below one T (see :func:`mc_basin_volumes`)."""
    return mc_basin_volumes(loss, w_star, [threshold], **kwargs)[0]


def mc_basin_volumes(
    loss: BatchLoss,
    w_star: Tensor,
    thresholds: Sequence[float],
    *,
    directions: int = 256,
    blocks: Sequence[tuple[int, int]] | None = None,
    normalize: bool = False,
    seed: int = 0,
    level: float = 0.9,
    n_boot: int = 1000,
    r_max: float = 100.0,
) -> list[BasinVolume]:
    """ln V of every seed's basin below each T, by radii along K random directions.

    The same K directions serve every T (so a T sweep compares like with like).

    Args:
        loss: Batched loss over rows of parameters.
        w_star: ``(seed, P)`` the minima.
        thresholds: The T's (loss levels that bound the basin), each > 0.
        directions: K per seed.
        blocks: Parameter blocks ``[start, stop)`` for normalisation (required with it).
        normalize: Measure in per-block RMS-scaled coordinates.
        seed: Seed of the direction generator (and of the bootstrap).
        level: Bootstrap interval coverage.
        n_boot: Bootstrap resamples of the directions.
        r_max: Largest radius (in the measured coordinates).

    Returns:
        One :class:`BasinVolume` per T, in order.
    """
    if not thresholds or min(thresholds) <= 0:
        raise ValueError(f"thresholds T must be > 0; got {list(thresholds)}")
    s, p = w_star.shape
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(s, directions, p, generator=gen, dtype=torch.float64).to(w_star)
    u = u / torch.linalg.vector_norm(u, dim=-1, keepdim=True)  # uniform on the sphere
    if normalize:
        if blocks is None:
            raise ValueError("normalize=True needs the parameter blocks")
        step = u * block_scales(w_star, blocks).unsqueeze(1)  # w = w* + S z, ‖z‖ = r
    else:
        step = u
    with torch.no_grad():
        all_r = radii_along(loss, w_star, step, thresholds, r_max=r_max)
    log_vp = log_unit_ball_volume(p)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, directions, size=(n_boot, directions))
    alpha = (1 - level) / 2
    out = []
    for r in all_r:
        radii = r.to(torch.float64).cpu().numpy()
        log_r = np.log(radii)
        boot = log_vp + _log_mean_exp(p * log_r[:, idx], axis=-1)  # (seed, n_boot)
        out.append(
            BasinVolume(
                log_volume=log_vp + _log_mean_exp(p * log_r),
                lo=np.quantile(boot, alpha, axis=1),
                hi=np.quantile(boot, 1 - alpha, axis=1),
                log_mean_radius=log_r.mean(axis=1),
                radii=radii,
                censored=(radii >= r_max * (1 - 1e-9)).sum(axis=1).astype(np.int64),
                level=level,
            )
        )
    return out


def _log_mean_exp(a: FloatArray, axis: int = -1) -> FloatArray:
    m = a.max(axis=axis, keepdims=True)
    return np.asarray((m + np.log(np.exp(a - m).mean(axis=axis, keepdims=True))).squeeze(axis))
