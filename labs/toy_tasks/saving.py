"""What the training step writes: checkpoints, the arrays other labs read, loss histories.

Every ensemble ``<name>`` gets ``checkpoints/<name>.safetensors`` (``EnsembleMLP.state_dict()``)
and the arrays ``<name>/train/trained`` ``(seed,)`` 0/1, ``<name>/train/targets`` ``(2^n,)``
int64 and ``<name>/train/final_loss``; the main architecture's ensembles also keep their loss
history, the steps at which each net crossed each "trained" threshold, and the compression
curve's raw snapshots.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from workbench.core.lab import RunContext

from .config import arch_label

if TYPE_CHECKING:
    from .config import ToyTasksConfig
    from .training import EnsembleRun

__all__ = ["save_training", "threshold_label"]

FloatArray = npt.NDArray[np.float64]


def threshold_label(value: float) -> str:
    """``1e-05`` style label of a threshold or tolerance."""
    return f"{value:.0e}" if value > 0 else "0"


def _save_history(
    ctx: RunContext,
    run: EnsembleRun,
    steps: list[int],
    losses: list[FloatArray],
    thresholds: list[float],
) -> None:
    name, result = run.name, run.result
    ctx.save_array(
        f"{name}/train/loss_history",
        np.stack(losses, axis=1),
        axes=("seed", "report"),
        description="every network's training loss at each logged step",
    )
    ctx.save_array(f"{name}/train/report_steps", np.asarray(steps), axes=("report",))
    ctx.save_array(
        f"{name}/train/loss_median",
        np.nanmedian(np.stack(losses), axis=1),
        axes=("report",),
        description="median training loss over the networks at each logged step",
    )
    ctx.save_array(f"{name}/train/steps_trained", result.steps_trained, axes=("seed",))
    ctx.save_array(
        f"{name}/train/snapshot_step",
        np.stack([run.snapshots[t].step for t in thresholds]),
        axes=("threshold", "seed"),
        labels={"threshold": [threshold_label(t) for t in thresholds]},
        description="step at which each network's loss first fell below each threshold (-1: never)",
    )
    if run.curves is not None:
        labels = {"step": [str(s) for s in run.curves.steps]}
        for key, values in (("entropy", run.curves.entropy), ("mi_target", run.curves.mi_target)):
            ctx.save_array(
                f"{name}/snapshots/{key}",
                values,
                axes=("step", "seed", "layer"),
                labels=labels,
                description=f"{key} of every layer of every net against training step, bits",
            )


def save_training(
    ctx: RunContext, run: EnsembleRun, steps: list[int], losses: list[FloatArray]
) -> None:
    """Checkpoint, arrays and results of one trained ensemble (sweep members: the essentials)."""
    cfg: ToyTasksConfig = ctx.config
    name, result = run.name, run.result
    ctx.save_checkpoint(name, run.model.state_dict())
    ctx.save_array(f"{name}/train/trained", run.trained.astype(np.int8), axes=("seed",))
    ctx.save_array(
        f"{name}/train/seeds",
        np.asarray(run.model.seeds, dtype=np.int64),
        axes=("seed",),
        description="the seed of every network of this ensemble (for readers of the checkpoint)",
    )
    ctx.save_array(
        f"{name}/train/targets",
        run.task.targets.numpy().astype(np.int64),
        axes=("input",),
        description="the training target of every input (input i = the bits of i, MSB first)",
    )
    ctx.save_array(f"{name}/train/final_loss", result.final_loss, axes=("seed",))
    thresholds = list(run.snapshots)
    if run.widths == tuple(cfg.widths):  # sweep members keep only what other labs need
        _save_history(ctx, run, steps, losses, thresholds)
    trained_steps = result.steps_trained[run.trained]
    results: dict[str, float | int | str | bool] = {
        f"{name}/architecture": arch_label(run.widths),
        f"{name}/trained/count": int(run.trained.sum()),
        f"{name}/trained/fraction": float(run.trained.mean()),
        f"{name}/diverged/count": int(result.diverged.sum()),
        f"{name}/final_loss/median": float(np.nanmedian(result.final_loss)),
        f"{name}/steps_to_trained/median": (
            float(np.median(trained_steps)) if trained_steps.size else float("nan")
        ),
        f"{name}/train/seconds": float(result.seconds),
    }
    if run.widths == tuple(cfg.widths) and cfg.n_bits <= 6:
        results[f"{name}/truth_table"] = run.task.truth_table
    if run.curves is not None:
        results[f"{name}/snapshots/seconds"] = run.curves.seconds
    for t in thresholds:
        results[f"{name}/trained/below_{threshold_label(t)}/count"] = int(
            run.snapshots[t].captured.sum()
        )
    ctx.set_results(results)
    if cfg.loss_threshold > 0 and not run.trained.all():
        ctx.logger.info(
            "%s: %d of %d networks did not reach loss %g in %d steps; they are left out",
            name,
            int((~run.trained).sum()),
            cfg.seeds,
            cfg.loss_threshold,
            cfg.steps,
        )
