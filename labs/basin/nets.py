"""The nets the basin lab measures: trained here on the shared tasks, or read from a source run.

Either way every task ends as a :class:`TaskNets`: the trained nets as one ensemble, their
targets over all 2^n inputs, and which seeds they are. Only nets that reached the trained
threshold are measured (a broadness at a point that is not a minimum means nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.ensemble import EnsembleMLP, TrainConfig, init_ensemble, train_ensemble
from workbench.core.errors import ConfigError
from workbench.core.from_run import check_from_run, load_from_run
from workbench.core.lab import RunContext
from workbench.core.runs import Project
from workbench.core.tasks import all_inputs, make_task

from .config import BasinConfig

__all__ = ["SOURCE_LABS", "TaskNets", "check_source", "load_nets", "train_nets"]

#: Labs whose runs can serve as ``from_run`` (their checkpoints are ensembles of MLPs).
SOURCE_LABS = ("toy-tasks", "basin")


@dataclass(frozen=True)
class TaskNets:
    """One task's trained nets.

    Attributes:
        name: The task (the source's checkpoint name with from_run).
        model: The trained nets only, as one ensemble.
        targets: ``(2^n, 1)`` float targets on the device.
        all_trained: ``(seed,)`` bool over all the task's nets (for the record).
        final_loss: ``(seed_trained,)`` loss of the measured nets.
    """

    name: str
    model: EnsembleMLP
    targets: torch.Tensor
    all_trained: npt.NDArray[np.bool_]
    final_loss: npt.NDArray[np.float64]

    @property
    def seeds(self) -> list[int]:
        """Seeds of the measured nets."""
        return list(self.model.seeds)


def check_source(cfg: BasinConfig, project: Project) -> None:
    """Pre-run check of ``from_run`` (missing, other lab, no checkpoints → ConfigError)."""
    if cfg.from_run:
        check_from_run(project, cfg.from_run, labs=SOURCE_LABS)


def train_nets(ctx: RunContext, cfg: BasinConfig) -> dict[str, TaskNets]:
    """Train ``seeds`` nets per task on all 2^n inputs; log every net's loss."""
    train_cfg = TrainConfig(
        widths=cfg.widths,
        activation=cfg.activation,
        optimizer=cfg.optimizer,
        lr=cfg.lr,
        steps=cfg.steps,
        loss=cfg.loss,
        loss_threshold=cfg.loss_threshold,
        log_every=50,
        data_seed=cfg.data_seed,
    )
    x = all_inputs(cfg.n_bits).to(ctx.device)
    out: dict[str, TaskNets] = {}
    for index, name in enumerate(cfg.tasks):
        task = make_task(name, cfg.n_bits, task_seed=cfg.task_seed, truth_tables=cfg.truth_tables)
        y = task.targets.to(ctx.device, torch.float32).unsqueeze(1)
        first = cfg.seed + index * cfg.seeds
        model = init_ensemble(train_cfg, range(first, first + cfg.seeds), cfg.n_bits, 1, ctx.device)

        def report(
            progress: Any, name: str = name, model: EnsembleMLP = model, index: int = index
        ) -> None:
            ctx.log_metrics(
                {"step": progress.step, "task": name, "seed": s, "loss": float(v)}
                for s, v in zip(model.seeds, progress.loss, strict=True)
            )
            ctx.progress(
                index * cfg.steps + progress.step,
                cfg.steps * len(cfg.tasks),
                task=name,
                converged=int(progress.converged.sum()),
                diverged=int(progress.diverged.sum()),
            )

        result = train_ensemble(model, x, y, train_cfg, callback=report)
        trained = np.asarray(result.converged, dtype=bool)
        ctx.save_checkpoint(name, model.state_dict())
        ctx.save_array(f"{name}/train/trained", trained.astype(np.int8), axes=("seed",))
        ctx.save_array(f"{name}/train/targets", task.targets.numpy(), axes=("input",))
        ctx.save_array(f"{name}/train/final_loss", result.final_loss, axes=("seed",))
        out[name] = _task_nets(name, model, y, trained, result.final_loss)
    return out


def load_nets(ctx: RunContext, cfg: BasinConfig) -> dict[str, TaskNets]:
    """Every ensemble of the source run, each restricted to the nets it counted as trained."""
    source = load_from_run(ctx.project, cfg.from_run, labs=SOURCE_LABS, device=ctx.device)
    n_bits = int(source.config.get("n_bits", cfg.n_bits))
    x = all_inputs(n_bits).to(ctx.device)
    out: dict[str, TaskNets] = {}
    for name, ens in source.ensembles.items():
        if ens.targets is None:
            raise ConfigError(
                "from_run", cfg.from_run, f"a boolean-task run; ensemble {name!r} has no targets"
            )
        y = torch.as_tensor(ens.targets, dtype=torch.float32, device=ctx.device).unsqueeze(1)
        with torch.no_grad():
            out_y = ens.model.forward(x)
            loss = (out_y - y).square().mean(dim=(1, 2)).double().cpu().numpy()
        out[name] = _task_nets(name, ens.model, y, ens.trained.astype(bool), loss)
    ctx.set_result("nets/source", f"{source.lab} run {source.run.id}")
    return out


def _task_nets(
    name: str,
    model: EnsembleMLP,
    y: torch.Tensor,
    trained: npt.NDArray[np.bool_],
    loss: npt.NDArray[np.float64],
) -> TaskNets:
    index = np.flatnonzero(trained).tolist()
    chosen = model.select(index) if index else model.select([])
    return TaskNets(name, chosen, y, trained, np.asarray(loss, dtype=np.float64)[index])
