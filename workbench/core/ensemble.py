"""Seed ensembles: N seeds of an MLP trained as one batched model.

All seeds of an ensemble share an architecture and live in one stacked parameter
buffer (:class:`~workbench.core.models.mlp.EnsembleMLP`). One training step is one
batched forward pass, one exact batched backward pass and one batched optimiser
update, whatever the number of seeds; there is no Python loop over seeds.

Each seed is still its own experiment:

* its initial weights come from its own ``torch.Generator`` seeded with its seed
  alone, so seed k of a 200-seed run equals seed k trained alone;
* it has its own loss, and it is frozen (parameters and optimiser state stop
  changing, and it is no longer computed at all) once that loss is below
  ``loss_threshold``;
* a seed whose loss (or squared gradient norm) becomes NaN or infinite is
  flagged as diverged and frozen, while the others carry on.

Minibatch order comes from one data generator seeded with ``data_seed`` and shared
by all seeds, so batches do not depend on which seeds are trained together.

Progress goes to a plain callback as a :class:`TrainProgress` every ``log_every``
steps and at the end; the callback may raise to cancel training.

Typical use::

    model = init_ensemble(config, seeds=range(200), d_in=5, d_out=1)
    result = train_ensemble(model, x, y, config, callback=print_progress)
    acts = layer_activations(model, x)   # per layer: pre, post (seed, batch, d_out)
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor

from workbench.core.checkpoints import (
    ensemble_from_state_dict,
    load_checkpoint,
    save_checkpoint,
)
from workbench.core.models.mlp import (
    ACTIVATIONS,
    EnsembleMLP,
    LayerActivations,
    forward_with_cache,
    init_mlp,
    layer_activations,
)
from workbench.core.optim import OPTIMIZERS
from workbench.core.threads import thread_scope
from workbench.core.train_config import (
    ProgressCallback,
    TrainConfig,
    TrainProgress,
    TrainResult,
)
from workbench.core.trainer import LOSSES, WorkingSet, batch_indices, per_seed_loss

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OPTIMIZERS",
    "EnsembleMLP",
    "LayerActivations",
    "ProgressCallback",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "ensemble_from_state_dict",
    "init_ensemble",
    "layer_activations",
    "load_checkpoint",
    "per_seed_loss",
    "save_checkpoint",
    "train_ensemble",
]

log = logging.getLogger(__name__)


def init_ensemble(
    config: TrainConfig,
    seeds: Iterable[int],
    d_in: int,
    d_out: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> EnsembleMLP:
    """Initialise one MLP of widths ``(d_in, *config.widths, d_out)`` per seed.

    See :func:`workbench.core.models.mlp.init_mlp` for the per-seed initialisation.
    """
    sizes = (int(d_in), *(int(w) for w in config.widths), int(d_out))
    return init_mlp(sizes, list(seeds), config.activation, device=device, dtype=dtype)


def train_ensemble(
    model: EnsembleMLP,
    x: Tensor,
    y: Tensor,
    config: TrainConfig,
    *,
    callback: ProgressCallback | None = None,
) -> TrainResult:
    """Train every seed of ``model`` in place, as one batched model.

    At each step k = 0, 1, ..., every seed's loss L_k is computed on the step's
    batch; a seed with L_k < ``loss_threshold`` is marked converged and one with a
    non-finite L_k diverged, and both are frozen before the update, so a converged
    seed keeps exactly the parameters that met the threshold. The remaining seeds
    take one optimiser step. Frozen seeds are packed away and cost nothing
    (:mod:`workbench.core.trainer`); a frozen seed's reported loss is the one at
    which it froze (until the final full-data evaluation). Checking for newly frozen
    seeds reads one bool per step from the device: free on a CPU, one small
    synchronisation per step on CUDA. The torch thread count follows
    :mod:`workbench.core.threads` for the duration of the call.

    Args:
        model: The ensemble; its parameters are updated in place.
        x: Inputs ``(n, d_in)`` shared by all seeds, or ``(seed, n, d_in)``.
        y: Targets ``(n, d_out)`` or ``(seed, n, d_out)``.
        config: Optimiser, steps, loss, threshold, batch size and reporting.
        callback: Called with a :class:`TrainProgress` every ``config.log_every``
            steps and once at the end, while the model holds the parameters the
            report describes (so it may read or copy them). An exception raised in
            it stops training and propagates; the model keeps those parameters.

    Returns:
        Per-seed final loss, flags, steps trained and the reported loss history.

    Raises:
        ValueError: If ``x`` or ``y`` do not fit the model.
    """
    x, y = _check_data(model, x, y)
    n_seeds = model.n_seeds
    device = model.device
    work = WorkingSet(
        model,
        x,
        y,
        optimizer=config.optimizer,
        lr=config.lr,
        momentum=config.momentum,
        betas=config.betas,
        eps=config.eps,
    )
    converged = torch.zeros(n_seeds, dtype=torch.bool, device=device)
    diverged = torch.zeros(n_seeds, dtype=torch.bool, device=device)
    steps_trained = torch.zeros(n_seeds, dtype=torch.long, device=device)
    last_loss = torch.full((n_seeds,), math.nan, dtype=model.dtype, device=device)
    batches = batch_indices(x.shape[-2], config.batch_size, config.data_seed, device)
    history: list[np.ndarray] = []
    history_steps: list[int] = []
    start = last_time = time.perf_counter()
    last_step = 0
    step = 0

    def report(step: int, loss: Tensor) -> None:
        nonlocal last_time, last_step
        now = time.perf_counter()
        rate = (step - last_step) / (now - last_time) if step > last_step else 0.0
        last_time, last_step = now, step
        # The one host sync: loss and flags come back together.
        progress = TrainProgress(
            step=step,
            total_steps=config.steps,
            loss=loss.detach().to("cpu", torch.float64).numpy(),
            converged=converged.cpu().numpy(),
            diverged=diverged.cpu().numpy(),
            steps_per_second=rate,
        )
        history.append(progress.loss)
        history_steps.append(step)
        if callback is not None:
            callback(progress)

    flags = (converged, diverged, steps_trained, last_loss)
    with torch.no_grad(), thread_scope(_work_per_step(model, x, config)) as threads:
        for step in range(config.steps):
            index = next(batches)
            if work.n_live > 0:
                loss, finite = work.step(index, config.loss)
                _freeze(work, step, loss, finite, config.loss_threshold, flags)
            if step > 0 and step % config.log_every == 0:
                if work.n_live == 0:
                    log.info("all %d seeds frozen at step %d; stopping early", n_seeds, step)
                    break  # the final report below covers this step
                # Before the update: the callback sees the model at the reported loss.
                live = torch.nonzero(work.live).squeeze(1)
                last_loss.index_copy_(
                    0, work.rows.index_select(0, live), loss.index_select(0, live)
                )
                work.write_back()
                report(step, last_loss)
                threads.refresh()
            if work.n_live > 0:
                work.update()
        else:
            step = config.steps
        work.write_back()
        steps_trained.index_fill_(0, work.rows, step)
        # Final evaluation on the full data, after the last update.
        loss, _ = per_seed_loss(forward_with_cache(model, x).output, y, config.loss)
        _update_flags(loss, converged, diverged, config.loss_threshold)
        seconds = time.perf_counter() - start
        report(step, loss)

    return TrainResult(
        final_loss=history[-1],
        converged=converged.cpu().numpy(),
        diverged=diverged.cpu().numpy(),
        steps_trained=steps_trained.cpu().numpy(),
        loss_history=np.stack(history),
        history_steps=np.asarray(history_steps, dtype=np.int64),
        steps_run=step,
        seconds=seconds,
    )


def _freeze(
    work: WorkingSet,
    step: int,
    loss: Tensor,
    finite: Tensor,
    threshold: float,
    flags: tuple[Tensor, Tensor, Tensor, Tensor],
) -> None:
    """Flag and freeze the working rows that stop training at ``step``, before its update.

    A live row diverges when its loss or Σ g² is not finite, and converges when its
    finite loss is below ``threshold``. Both are frozen: their parameters go back to
    the model as they are now, so a converged seed keeps exactly the parameters that
    met the threshold and a diverged one never hands the optimiser a non-finite
    gradient. The check costs one host sync per step (free on a CPU).

    Args:
        work: The working set; ``loss`` and ``finite`` are ``(row,)`` for its rows.
        step: Updates done so far (the frozen rows' ``steps_trained``).
        loss: ``(row,)``.
        finite: ``(row,)`` bool.
        threshold: The loss below which a seed has converged.
        flags: ``(seed,)`` converged, diverged, steps trained and last loss, updated in place.
    """
    converged, diverged, steps_trained, last_loss = flags
    newly_diverged = work.live & ~finite
    newly_converged = work.live & finite & (loss < threshold)
    frozen = newly_diverged | newly_converged
    if not bool(frozen.any()):
        return
    rows = torch.nonzero(frozen).squeeze(1)
    model_rows = work.freeze(rows)
    # Live seeds have both flags false, so copying the new flags in is an "or".
    diverged.index_copy_(0, model_rows, newly_diverged.index_select(0, rows))
    converged.index_copy_(0, model_rows, newly_converged.index_select(0, rows))
    steps_trained.index_fill_(0, model_rows, step)
    last_loss.index_copy_(0, model_rows, loss.index_select(0, rows))


def _work_per_step(model: EnsembleMLP, x: Tensor, config: TrainConfig) -> float:
    """Multiply-adds of one forward pass of all seeds (the thread policy's work size)."""
    batch = x.shape[-2] if config.batch_size is None else min(config.batch_size, x.shape[-2])
    per_example = sum(a * b for a, b in itertools.pairwise(model.sizes))
    return float(model.n_seeds * batch * per_example)


def _update_flags(
    loss: Tensor,
    converged: Tensor,
    diverged: Tensor,
    threshold: float,
    grad: Tensor | None = None,
) -> Tensor:
    """Mark new divergences and convergences in place; return the still-active mask.

    A seed diverges when its loss, or its squared gradient norm Σ g², is NaN or
    infinite; the second check runs before the update, so no active seed ever
    hands the optimiser a non-finite gradient or an overflowing g² (which keeps
    the optimisers' exact freezing exact, see :mod:`workbench.core.optim`).
    All on the device: no host sync. Flags are sticky; a seed never un-freezes.

    Args:
        loss: ``(seed,)``.
        converged: ``(seed,)`` bool, updated in place.
        diverged: ``(seed,)`` bool, updated in place.
        threshold: The loss below which a seed has converged.
        grad: ``(seed, n_params)`` gradient, if one was computed.

    Returns:
        ``(seed,)`` bool, true for seeds that still train.
    """
    finite = torch.isfinite(loss)
    if grad is not None:
        # ‖g‖ < √(float max) ⇔ Σ g² is finite, whether or not the norm kernel rescales.
        finite &= torch.linalg.vector_norm(grad, dim=1) < math.sqrt(torch.finfo(grad.dtype).max)
    diverged.logical_or_(~finite)
    converged.logical_or_((loss < threshold) & ~diverged)
    return ~(converged | diverged)


def _check_data(model: EnsembleMLP, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Move data to the model, and check ``(n, d)`` or ``(seed, n, d)`` shapes."""
    d_in, d_out = model.sizes[0], model.sizes[-1]
    for name, t, d in (("x", x, d_in), ("y", y, d_out)):
        ok = (t.ndim == 2 and t.shape[1] == d) or (
            t.ndim == 3 and t.shape[0] == model.n_seeds and t.shape[2] == d
        )
        if not ok:
            raise ValueError(
                f"{name} must be (n, {d}) or ({model.n_seeds}, n, {d}), got {tuple(t.shape)}"
            )
    if x.shape[-2] != y.shape[-2] or x.shape[-2] == 0:
        raise ValueError(
            f"x and y must hold the same non-zero number of examples, "
            f"got {x.shape[-2]} and {y.shape[-2]}"
        )
    return x.to(model.device, model.dtype), y.to(model.device, model.dtype)
