"""Broadness from the Hessian: spectra, trace, top eigenvalue, counts above ε, quadratic volume.

Dense and exact (:func:`workbench.core.mlp_hessian.mlp_hessians`, all seeds batched) while the
net has at most ``dense_max_params`` parameters; otherwise ``lanczos_steps`` Ritz values per
seed from batched Hessian-vector products (the extremes of the spectrum; the trace is then the
sum of the Ritz values, a lower bound on the sum of the positive part, and says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.hessian import (
    hvp_batched,
    lanczos,
    mlp_loss_fn,
    quadratic_log_volume,
    spectrum_summary,
)
from workbench.core.mlp_hessian import mlp_hessians

from .config import BasinConfig
from .nets import TaskNets

__all__ = ["Curvature", "measure_curvature"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Curvature:
    """One task's Hessian measures.

    Attributes:
        method: ``dense`` or ``lanczos``.
        eigenvalues: ``(seed, k)`` descending (k = P for dense).
        trace: ``(seed,)``.
        top: ``(seed,)``.
        count_above: ``(seed, n_eps)``.
        n_negative: ``(seed,)``.
        n_zero: ``(seed,)``.
        log_volume: ``(floor, threshold, seed)`` quadratic ln V for each floor and T.
        n_floored: ``(floor, seed)`` eigenvalues raised to the floor.
    """

    method: str
    eigenvalues: FloatArray
    trace: FloatArray
    top: FloatArray
    count_above: npt.NDArray[np.int64]
    n_negative: npt.NDArray[np.int64]
    n_zero: npt.NDArray[np.int64]
    log_volume: FloatArray
    n_floored: npt.NDArray[np.int64]


def floors(cfg: BasinConfig) -> list[float]:
    """The eigenvalue floors measured: the main one first, then the sweep."""
    return [cfg.eig_floor, *[f for f in cfg.floor_sweep if f != cfg.eig_floor]]


def thresholds(cfg: BasinConfig) -> list[float]:
    """The thresholds T measured: the main one first, then the sweep."""
    return [cfg.threshold, *[t for t in cfg.threshold_sweep if t != cfg.threshold]]


def measure_curvature(cfg: BasinConfig, nets: TaskNets, x: torch.Tensor) -> Curvature:
    """The Hessian of every net of one task at its trained weights, and what it implies."""
    model = nets.model
    p = model.params.shape[1]
    dense = cfg.hessian == "dense" or (cfg.hessian == "auto" and p <= cfg.dense_max_params)
    if dense:
        hess = mlp_hessians(model, x, nets.targets, cfg.loss)
        lam = torch.linalg.eigvalsh(hess).flip(-1).cpu().numpy()  # (seed, P) descending
    else:
        fn = mlp_loss_fn(
            x, nets.targets, sizes=model.sizes, activation=model.activation, loss=cfg.loss
        )
        gen = torch.Generator().manual_seed(cfg.sgld_seed)
        lam = (
            lanczos(
                hvp_batched(fn, model.params),
                model.n_seeds,
                p,
                cfg.lanczos_steps,
                generator=gen,
                device=model.device,
            )
            .cpu()
            .numpy()
        )
    summary = spectrum_summary(lam, cfg.eps_sweep)
    budgets = np.array([t - nets.final_loss for t in thresholds(cfg)])  # (threshold, seed)
    log_v = []
    floored = []
    for f in floors(cfg):
        # Lanczos keeps k < P Ritz values: the others are unknown, so they count as floored.
        full = (
            lam if dense else np.concatenate([lam, np.zeros((lam.shape[0], p - lam.shape[1]))], 1)
        )
        per_t = [quadratic_log_volume(full, c, f) for c in budgets]
        log_v.append(np.stack([v for v, _ in per_t]))
        floored.append(per_t[0][1])
    return Curvature(
        method="dense" if dense else "lanczos",
        eigenvalues=lam,
        trace=summary.trace,
        top=summary.top,
        count_above=summary.count_above,
        n_negative=summary.n_negative,
        n_zero=summary.n_zero,
        log_volume=np.stack(log_v),
        n_floored=np.stack(floored),
    )
