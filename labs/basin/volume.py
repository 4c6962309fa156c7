"""Broadness as Monte-Carlo basin volume: radii along random directions, for every T.

See :mod:`workbench.core.basin_volume` for the estimator, its formula and its interval. The
volume is measured in per-layer RMS-scaled coordinates when ``normalize`` is set (so a ReLU
net's layer rescalings do not change it), else in raw parameter coordinates.
"""

from __future__ import annotations

import torch

from workbench.core.basin_volume import BasinVolume, mc_basin_volumes
from workbench.core.mlp_objective import layer_blocks, mlp_batch_loss

from .config import BasinConfig
from .curvature import thresholds
from .nets import TaskNets

__all__ = ["measure_volumes"]


def measure_volumes(cfg: BasinConfig, nets: TaskNets, x: torch.Tensor) -> dict[float, BasinVolume]:
    """T → the MC basin volumes of one task's nets (the main T first, then the sweep)."""
    model = nets.model
    loss = mlp_batch_loss(model.sizes, model.activation, x, nets.targets, cfg.loss)
    ts = thresholds(cfg)
    vols = mc_basin_volumes(
        loss,
        model.params.detach(),
        ts,
        directions=cfg.directions,
        blocks=layer_blocks(model.sizes),
        normalize=cfg.normalize,
        seed=cfg.sgld_seed,
    )
    return dict(zip(ts, vols, strict=True))
