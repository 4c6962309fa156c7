"""Broadness as the local learning coefficient: SGLD over every task's nets in one computation.

All tasks' trained nets (one architecture) are stacked as one ensemble whose rows carry their
own task's targets, so the main estimate is one batched SGLD run over task × seed × chain, and
the sweeps (ε, nβ, γ) are a second run over setting × task × seed × chain on the first
``sweep_seeds`` nets per task. See :mod:`workbench.core.sgld` for the estimator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.mlp_objective import mlp_loss_grad
from workbench.core.sgld import SGLDProgress, SGLDResult, SGLDSetting, sgld_llc

from .config import BasinConfig
from .nets import TaskNets

__all__ = ["SWEEP_KINDS", "LLCRun", "run_llc", "sweep_settings"]

#: The swept SGLD choices, in the order their settings are listed.
SWEEP_KINDS = ("step", "nbeta", "localization")


@dataclass(frozen=True)
class LLCRun:
    """Main and sweep results, with the row bookkeeping to split them by task.

    Attributes:
        main: The main setting over all nets (``(1, net, chain)`` arrays).
        sweep: The sweep settings over the first nets of each task.
        task_of_net: ``(net,)`` task name of each row of ``main``.
        task_of_sweep_net: ``(net_sweep,)`` task name of each row of ``sweep``.
        sweep_labels: ``(kind, value)`` of each sweep setting.
    """

    main: SGLDResult
    sweep: SGLDResult | None
    task_of_net: npt.NDArray[np.str_]
    task_of_sweep_net: npt.NDArray[np.str_]
    sweep_labels: tuple[tuple[str, float], ...]


def sweep_settings(cfg: BasinConfig) -> tuple[list[SGLDSetting], list[tuple[str, float]]]:
    """The main setting, then one setting per swept value (each changes one choice)."""
    settings = [cfg.settings()]
    labels = [("main", 0.0)]
    for eps in cfg.step_sweep:
        settings.append(SGLDSetting(eps, cfg.nbeta, cfg.localization))
        labels.append(("step", eps))
    for nb in cfg.nbeta_sweep:
        settings.append(SGLDSetting(cfg.sgld_step, nb, cfg.localization))
        labels.append(("nbeta", nb))
    for gamma in cfg.localization_sweep:
        settings.append(SGLDSetting(cfg.sgld_step, cfg.nbeta, gamma))
        labels.append(("localization", gamma))
    return settings, labels


def _stack(
    nets: dict[str, TaskNets], limit: int | None
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    params, targets, names = [], [], []
    for name, tn in nets.items():
        k = tn.model.n_seeds if limit is None else min(limit, tn.model.n_seeds)
        params.append(tn.model.params[:k])
        targets.append(tn.targets.unsqueeze(0).expand(k, -1, -1))
        names += [name] * k
    return torch.cat(params), torch.cat(targets), names


def run_llc(
    cfg: BasinConfig,
    nets: dict[str, TaskNets],
    x: torch.Tensor,
    callback: Callable[[str, SGLDProgress, list[str]], None] | None = None,
) -> LLCRun:
    """λ̂ of every net at the main setting, and the sweeps on the first nets of each task."""
    usable = {n: t for n, t in nets.items() if t.model.n_seeds > 0}
    first = next(iter(usable.values())).model
    w, y, names = _stack(usable, None)
    loss_grad = mlp_loss_grad(first.sizes, first.activation, x, y, cfg.loss)
    trace_every = max(1, (cfg.burn_in + cfg.draws) // 200)

    def report(kind: str, labels: list[str]) -> Callable[[SGLDProgress], None] | None:
        if callback is None:
            return None
        return lambda progress: callback(kind, progress, labels)

    main = sgld_llc(
        loss_grad,
        w,
        [cfg.settings()],
        chains=cfg.chains,
        draws=cfg.draws,
        burn_in=cfg.burn_in,
        seed=cfg.sgld_seed,
        trace_every=trace_every,
        callback=report("main", names),
    )
    settings, labels = sweep_settings(cfg)
    sweep = None
    sweep_names: list[str] = []
    if len(settings) > 1:
        ws, ys, sweep_names = _stack(usable, cfg.sweep_seeds)
        sweep = sgld_llc(
            mlp_loss_grad(first.sizes, first.activation, x, ys, cfg.loss),
            ws,
            settings[1:],
            chains=cfg.sweep_chains,
            draws=cfg.draws,
            burn_in=cfg.burn_in,
            seed=cfg.sgld_seed + 1,
            trace_every=trace_every,
            callback=report("sweep", sweep_names),
        )
    return LLCRun(
        main=main,
        sweep=sweep,
        task_of_net=np.asarray(names),
        task_of_sweep_net=np.asarray(sweep_names),
        sweep_labels=tuple(labels[1:]),
    )
