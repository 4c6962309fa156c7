"""Step 1 of the toy-tasks lab: train one ensemble per (architecture, task), with its baseline.

Every ensemble keeps

* its random-init twin (the same seeds, untrained), the baseline measured beside every trained
  number;
* each net's weights from the moment its loss first fell below each "trained" threshold (for
  the robustness step);
* for the main architecture, every layer's entropy and MI with the target every
  ``snapshot_every`` steps, the compression curve (Shwartz-Ziv & Tishby, 2017, measured here
  exactly over all inputs rather than estimated).

Names: the ensemble of task ``t`` on the main ``widths`` is ``t``; on a sweep architecture it is
``t_w32x4x32`` (:func:`.config.ensemble_name`). Checkpoints ``checkpoints/<name>.safetensors``
hold ``EnsembleMLP.state_dict()``; arrays ``<name>/train/trained`` ``(seed,)`` 0/1 and
``<name>/train/targets`` ``(2^n,)`` int64 let other labs load the nets without this lab
(:mod:`workbench.core.from_run`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.ensemble import (
    EnsembleMLP,
    TrainConfig,
    TrainProgress,
    TrainResult,
    init_ensemble,
    layer_activations,
    train_ensemble,
)
from workbench.core.lab import RunContext
from workbench.core.tasks import Task, all_inputs, make_task
from workbench.measures import information_ratio_matrix

from .config import ToyTasksConfig, ensemble_name
from .grouping import layer_entropies, scaled_codes, target_mutual_information
from .saving import save_training, threshold_label

__all__ = [
    "CHECK_EVERY",
    "LIVE_IR",
    "Curves",
    "EnsembleRun",
    "Snapshot",
    "layer_posts",
    "threshold_label",
    "train",
]

#: Steps between the engine's progress callbacks: snapshots for the "trained" thresholds and
#: the compression curve are taken at this resolution.
CHECK_EVERY = 5
#: Networks whose last hidden layers give the live IR metric while training.
LIVE_SEEDS = 16
#: The live IR metric's key in metrics.jsonl (``Lab.live_metrics``).
LIVE_IR = "live/ir_last_hidden"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def layer_posts(model: EnsembleMLP, x: torch.Tensor) -> list[torch.Tensor]:
    """Each layer's post-activation on ``x: (n_inputs, d_in)``: one ``(seed, n_inputs, d_l)``
    tensor per layer, the last being the linear output."""
    return [acts.post for acts in layer_activations(model, x)]


@dataclass
class Snapshot:
    """Each network's weights when its loss first fell below one threshold.

    Attributes:
        params: ``(seed, n_params)``; rows not captured hold the initial weights.
        captured: ``(seed,)`` bool, the loss fell below the threshold.
        step: ``(seed,)`` step of the capture, -1 if never.
    """

    params: torch.Tensor
    captured: npt.NDArray[np.bool_]
    step: IntArray


@dataclass
class Curves:
    """Layer measures against training step (main architecture only).

    Attributes:
        steps: ``(snapshot,)`` 0, snapshot_every, ..., steps.
        entropy: ``(snapshot, seed, layer)`` H(layer) = I(X; layer), bits; NaN once diverged.
        mi_target: ``(snapshot, seed, layer)`` I(layer; y), bits.
        seconds: Wall time spent measuring them.
    """

    steps: IntArray
    entropy: FloatArray
    mi_target: FloatArray
    seconds: float


@dataclass
class EnsembleRun:
    """One trained ensemble and what the analysis needs of it."""

    name: str
    task: Task
    group: str  # the config task it belongs to: "random-lookup" for every table
    widths: tuple[int, ...]
    model: EnsembleMLP
    init: EnsembleMLP  # the random-init baseline: same seeds, untrained
    result: TrainResult
    trained: npt.NDArray[np.bool_]
    snapshots: dict[float, Snapshot] = field(default_factory=dict)
    curves: Curves | None = None

    def trained_model(self) -> EnsembleMLP | None:
        """The networks that count as trained, or None if none do."""
        index = np.flatnonzero(self.trained)
        return self.model.select(index.tolist()) if index.size else None

    def snapshot_model(self, threshold: float) -> EnsembleMLP | None:
        """The networks as they were when their loss first fell below ``threshold``."""
        snap = self.snapshots[threshold]
        index = np.flatnonzero(snap.captured)
        if not index.size:
            return None
        rows = torch.as_tensor(index, device=snap.params.device)
        return EnsembleMLP(
            snap.params.index_select(0, rows),
            self.model.sizes,
            self.model.activation,
            [self.model.seeds[i] for i in index],
        )


def _config(ctx: RunContext) -> ToyTasksConfig:
    config: ToyTasksConfig = ctx.config
    return config


def _group_of(task: str, cfg: ToyTasksConfig) -> str:
    return task if task in cfg.tasks else "random-lookup"


def train(ctx: RunContext) -> None:
    """Train every (architecture, task) ensemble; keep baselines, snapshots and curves."""
    cfg = _config(ctx)
    x = all_inputs(cfg.n_bits).to(ctx.device)
    tasks = cfg.trained_tasks()
    archs = cfg.architectures()
    runs: dict[str, EnsembleRun] = {}
    total = cfg.steps * len(tasks) * len(archs)
    done = 0
    for widths in archs:
        train_config = TrainConfig(
            widths=widths,
            activation=cfg.activation,
            optimizer=cfg.optimizer,
            lr=cfg.lr,
            steps=cfg.steps,
            batch_size=cfg.batch_size or None,
            loss=cfg.loss,
            loss_threshold=cfg.loss_threshold,
            log_every=CHECK_EVERY,
            data_seed=cfg.data_seed,
        )
        main = widths == tuple(cfg.widths)
        for index, task_name in enumerate(tasks):
            task = make_task(
                task_name, cfg.n_bits, task_seed=cfg.task_seed, truth_tables=cfg.truth_tables
            )
            y = task.targets.to(ctx.device, torch.float32).unsqueeze(1)  # (2^n, 1)
            # Task i trains its own seeds, so the tasks' ensembles are independent samples.
            first = cfg.seed + index * cfg.seeds
            seeds = range(first, first + cfg.seeds)
            model = init_ensemble(train_config, seeds, cfg.n_bits, 1, ctx.device)
            init = EnsembleMLP(model.params.clone(), model.sizes, model.activation, list(seeds))
            snapshots = {
                t: Snapshot(
                    model.params.clone(),
                    np.zeros(cfg.seeds, dtype=bool),
                    np.full(cfg.seeds, -1, dtype=np.int64),
                )
                for t in sorted(set(cfg.trained_thresholds), reverse=True)
            }
            name = ensemble_name(task_name, widths, cfg.widths)
            monitor = _TrainingMonitor(
                ctx, name, model, x, task, snapshots, offset=done, total=total, curves=main
            )
            monitor.start()
            result = train_ensemble(model, x, y, train_config, callback=monitor)
            done += cfg.steps
            trained = result.converged if cfg.loss_threshold > 0 else ~result.diverged
            run = EnsembleRun(
                name, task, _group_of(task_name, cfg), widths, model, init, result, trained,
                snapshots, monitor.curves(),
            )  # fmt: skip
            runs[name] = run
            save_training(ctx, run, monitor.logged_steps, monitor.logged_loss)
    ctx.state["runs"] = runs
    ctx.state["x"] = x


class _TrainingMonitor:
    """The training callback: snapshots, compression curve, loss metrics, live IR, progress."""

    def __init__(
        self,
        ctx: RunContext,
        name: str,
        model: EnsembleMLP,
        x: torch.Tensor,
        task: Task,
        snapshots: dict[float, Snapshot],
        *,
        offset: int,
        total: int,
        curves: bool,
    ) -> None:
        self.ctx = ctx
        self.cfg = _config(ctx)
        self.name = name
        self.model = model
        self.x = x
        self.target = task.targets.numpy()
        self.snapshots = snapshots
        self.offset = offset
        self.total = total
        self.live = curves
        self.next_log = self.cfg.log_every
        self.logged_steps: list[int] = []
        self.logged_loss: list[FloatArray] = []
        every = self.cfg.snapshot_every if curves else 0
        self.curve_steps = list(range(0, self.cfg.steps + 1, every)) if every else []
        if self.curve_steps and self.curve_steps[-1] != self.cfg.steps:
            self.curve_steps.append(self.cfg.steps)
        self.curve_h: list[FloatArray] = []
        self.curve_mi: list[FloatArray] = []
        self.curve_seconds = 0.0
        self.frozen_before = np.zeros(model.n_seeds, dtype=bool)

    def __call__(self, progress: TrainProgress) -> None:
        self._capture(progress)
        self._measure_curve(progress)
        if progress.step >= self.next_log or progress.done:
            self._log(progress)
            while self.next_log <= progress.step:
                self.next_log += self.cfg.log_every
        self.ctx.progress(
            self.offset + progress.step,
            self.total,
            task=self.name,
            converged=int(progress.converged.sum()),
            diverged=int(progress.diverged.sum()),
            steps_per_second=round(progress.steps_per_second, 1),
        )

    def _capture(self, progress: TrainProgress) -> None:
        # The model holds the weights the report describes (see train_ensemble), so a
        # network is captured within CHECK_EVERY steps of crossing each threshold.
        for threshold, snap in self.snapshots.items():
            newly = (progress.loss < threshold) & ~snap.captured  # NaN < t is False
            if newly.any():
                rows = torch.as_tensor(np.flatnonzero(newly), device=snap.params.device)
                snap.params.index_copy_(0, rows, self.model.params.index_select(0, rows))
                snap.captured |= newly
                snap.step[newly] = progress.step

    def start(self) -> None:
        """Measure the curve's step 0 on the untrained model (the engine reports from step 5)."""
        if self.curve_steps:
            none = np.zeros(self.model.n_seeds, dtype=bool)
            self._measure(none, none, 1)

    def _measure_curve(self, progress: TrainProgress) -> None:
        """Measure at each curve step (a multiple of CHECK_EVERY, so a report falls on it).

        After the final report every net is frozen (or the steps ran out), so the curve steps
        still to come repeat that measurement exactly.
        """
        due = len(self.curve_h)
        if due >= len(self.curve_steps):
            return
        if progress.step < self.curve_steps[due] and not progress.done:
            return
        if progress.done:
            repeats = len(self.curve_steps) - due
        else:
            repeats = sum(1 for s in self.curve_steps[due:] if s <= progress.step)
        self._measure(progress.converged | progress.diverged, progress.diverged, repeats)

    def _measure(
        self, frozen: npt.NDArray[np.bool_], diverged: npt.NDArray[np.bool_], repeats: int
    ) -> None:
        """Measure the nets that may have moved; a net already frozen at the previous
        measurement has the same weights, so its values are carried over exactly."""
        start = time.perf_counter()
        if self.curve_h:
            h, mi = self.curve_h[-1].copy(), self.curve_mi[-1].copy()
        else:
            shape = (self.model.n_seeds, self.model.n_layers)
            h, mi = np.full(shape, np.nan), np.full(shape, np.nan)
        moved = np.flatnonzero(~self.frozen_before)
        if moved.size:
            model = self.model if moved.size == self.model.n_seeds else self.model.select(
                moved.tolist()
            )  # fmt: skip
            codes = scaled_codes(
                layer_posts(model, self.x), self.cfg.tol, rule=self.cfg.rule,
                mode=self.cfg.tol_mode,
            ).codes  # fmt: skip
            h[moved] = layer_entropies(codes)
            mi[moved] = target_mutual_information(codes, self.target)
        h[diverged], mi[diverged] = np.nan, np.nan
        self.frozen_before = frozen.copy()
        self.curve_h.extend([h] * repeats)
        self.curve_mi.extend([mi] * repeats)
        self.curve_seconds += time.perf_counter() - start

    def curves(self) -> Curves | None:
        if not self.curve_steps:
            return None
        return Curves(
            np.asarray(self.curve_steps[: len(self.curve_h)], dtype=np.int64),
            np.stack(self.curve_h),
            np.stack(self.curve_mi),
            self.curve_seconds,
        )

    def _log(self, progress: TrainProgress) -> None:
        records: list[dict[str, Any]] = [
            {"step": progress.step, "task": self.name, "seed": seed, "loss": float(loss)}
            for seed, loss in zip(self.model.seeds, progress.loss, strict=True)
        ]
        live = self._live_ir(progress) if self.live else None
        if live is not None:
            records.append({"step": progress.step, "task": self.name, LIVE_IR: live})
        self.ctx.log_metrics(records)
        self.logged_steps.append(progress.step)
        self.logged_loss.append(progress.loss)

    def _live_ir(self, progress: TrainProgress) -> float | None:
        """Mean IR between the last hidden layers of a few networks (cheap, for the TUI)."""
        if self.model.n_layers < 2:
            return None
        ok = np.flatnonzero(~progress.diverged)[:LIVE_SEEDS]
        if ok.size < 2:
            return None
        last_hidden = layer_activations(self.model.select(ok.tolist()), self.x)[-2].post
        if not bool(torch.isfinite(last_hidden).all()):
            return None
        # The run's own grouping setting, so the live number previews the final one.
        codes = scaled_codes(
            [last_hidden], self.cfg.tol, rule=self.cfg.rule, mode=self.cfg.tol_mode
        ).codes[:, 0]  # (seed, n_inputs)
        ratios = information_ratio_matrix(codes)
        return float(ratios[~np.eye(len(ok), dtype=bool)].mean())
