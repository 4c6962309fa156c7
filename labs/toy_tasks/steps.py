"""The steps of the toy-tasks lab, on the lab contract.

Each step reads what earlier steps left in ``ctx.state``, computes on ``ctx.device``
and writes arrays, ``[results]`` and Markdown through ``ctx``. Layers are numbered
1..L (``layer1`` is the first hidden layer, ``layerL`` the linear output); every
measure is over the uniform distribution on all 2^n inputs.
"""

from __future__ import annotations

import itertools
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
from workbench.measures import discretize_batch, information_ratio_matrix

from .analysis import (
    Comparison,
    bit_mutual_information,
    compare_groups,
    input_mutual_information,
    ir_blocks,
    layer_codes,
    layer_entropies,
    layer_layer_across,
    layer_layer_within,
    layer_posts,
    normalized_similarity_matrix,
    off_diagonal,
    seed_seed_ir,
    similarity_matrix,
    verdict,
)
from .config import ToyTasksConfig
from .report import LayerFinding, PairFindings, TaskSummary, summary_markdown
from workbench.core.tasks import Task, all_inputs, make_task

__all__ = ["information", "ir", "robustness", "similarity", "summary", "train"]

#: Steps between the engine's progress callbacks: snapshots for the "trained"
#: thresholds are taken at this resolution.
CHECK_EVERY = 5
#: Networks whose last hidden layers give the live IR metric while training.
LIVE_SEEDS = 16
#: The live IR metric's key in metrics.jsonl (``Lab.live_metrics``).
LIVE_IR = "live/ir_last_hidden"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


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
class TaskRun:
    """One task's trained ensemble and what the analysis needs of it."""

    task: Task
    model: EnsembleMLP
    result: TrainResult
    trained: npt.NDArray[np.bool_]
    snapshots: dict[float, Snapshot] = field(default_factory=dict)

    def trained_model(self) -> EnsembleMLP | None:
        """The networks that count as trained (main analysis), or None if none do."""
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


def _runs(ctx: RunContext) -> dict[str, TaskRun]:
    runs: dict[str, TaskRun] = ctx.state["runs"]
    return runs


def layer_keys(n_layers: int) -> list[str]:
    """``["layer1", ..., "layerL"]``."""
    return [f"layer{i}" for i in range(1, n_layers + 1)]


def layer_labels(n_layers: int) -> list[str]:
    """Axis labels, the output layer marked: ``["layer1", ..., "layerL (out)"]``."""
    keys = layer_keys(n_layers)
    keys[-1] += " (out)"
    return keys


def pair_key(a: str, b: str) -> str:
    """Results namespace of a comparison of task a with task b."""
    return f"{a}_vs_{b}"


def threshold_label(value: float) -> str:
    """``1e-05`` style label of a threshold or tolerance."""
    return f"{value:.0e}" if value > 0 else "0"


# --- step 1: train -----------------------------------------------------------------------------


def train(ctx: RunContext) -> None:
    """Train one ensemble per task, with a live loss for every network."""
    cfg = _config(ctx)
    train_config = TrainConfig(
        widths=cfg.widths,
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
    x = all_inputs(cfg.n_bits).to(ctx.device)
    runs: dict[str, TaskRun] = {}
    for index, name in enumerate(cfg.tasks):
        task = make_task(name, cfg.n_bits, task_seed=cfg.task_seed, truth_tables=cfg.truth_tables)
        y = task.targets.to(ctx.device, torch.float32).unsqueeze(1)  # (2^n, 1)
        # Task i trains its own seeds, so the tasks' ensembles are independent samples.
        first = cfg.seed + index * cfg.seeds
        model = init_ensemble(
            train_config, range(first, first + cfg.seeds), cfg.n_bits, 1, ctx.device
        )
        snapshots = {
            t: Snapshot(
                model.params.clone(),
                np.zeros(cfg.seeds, dtype=bool),
                np.full(cfg.seeds, -1, dtype=np.int64),
            )
            for t in sorted(set(cfg.trained_thresholds), reverse=True)
        }
        monitor = _TrainingMonitor(ctx, name, model, x, snapshots, offset=index * cfg.steps)
        result = train_ensemble(model, x, y, train_config, callback=monitor)
        trained = result.converged if cfg.loss_threshold > 0 else ~result.diverged
        runs[name] = TaskRun(task, model, result, trained, snapshots)
        _save_training(ctx, runs[name], monitor)
    ctx.state["runs"] = runs
    ctx.state["x"] = x


class _TrainingMonitor:
    """The training callback: snapshots, per-seed loss metrics, live IR, progress."""

    def __init__(
        self,
        ctx: RunContext,
        task: str,
        model: EnsembleMLP,
        x: torch.Tensor,
        snapshots: dict[float, Snapshot],
        offset: int,
    ) -> None:
        self.ctx = ctx
        self.cfg = _config(ctx)
        self.task = task
        self.model = model
        self.x = x
        self.snapshots = snapshots
        self.offset = offset
        self.next_log = self.cfg.log_every
        self.logged_steps: list[int] = []
        self.logged_loss: list[FloatArray] = []

    def __call__(self, progress: TrainProgress) -> None:
        self._capture(progress)
        if progress.step >= self.next_log or progress.done:
            self._log(progress)
            while self.next_log <= progress.step:
                self.next_log += self.cfg.log_every
        self.ctx.progress(
            self.offset + progress.step,
            self.cfg.steps * len(self.cfg.tasks),
            task=self.task,
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

    def _log(self, progress: TrainProgress) -> None:
        records: list[dict[str, Any]] = [
            {"step": progress.step, "task": self.task, "seed": seed, "loss": float(loss)}
            for seed, loss in zip(self.model.seeds, progress.loss, strict=True)
        ]
        live = self._live_ir(progress)
        if live is not None:
            records.append({"step": progress.step, "task": self.task, LIVE_IR: live})
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
        codes = discretize_batch(last_hidden, self.cfg.tol)  # (seed, n_inputs)
        return float(off_diagonal(information_ratio_matrix(codes)).mean())


def _save_training(ctx: RunContext, run: TaskRun, monitor: _TrainingMonitor) -> None:
    cfg = _config(ctx)
    name, result = run.task.name, run.result
    ctx.save_checkpoint(name, run.model.state_dict())
    ctx.save_array(
        f"{name}/train/loss_history",
        np.stack(monitor.logged_loss, axis=1),
        axes=("seed", "report"),
        description="every network's training loss at each logged step",
    )
    ctx.save_array(f"{name}/train/report_steps", np.asarray(monitor.logged_steps), axes=("report",))
    ctx.save_array(
        f"{name}/train/loss_median",
        np.nanmedian(np.stack(monitor.logged_loss), axis=1),
        axes=("report",),
        description="median training loss over the networks at each logged step",
    )
    ctx.save_array(f"{name}/train/final_loss", result.final_loss, axes=("seed",))
    ctx.save_array(f"{name}/train/steps_trained", result.steps_trained, axes=("seed",))
    ctx.save_array(f"{name}/train/trained", run.trained.astype(np.int8), axes=("seed",))
    thresholds = list(run.snapshots)
    ctx.save_array(
        f"{name}/train/snapshot_step",
        np.stack([run.snapshots[t].step for t in thresholds]),
        axes=("threshold", "seed"),
        labels={"threshold": [threshold_label(t) for t in thresholds]},
        description="step at which each network's loss first fell below each threshold (-1: never)",
    )
    trained_steps = result.steps_trained[run.trained]
    results: dict[str, float | int | str | bool] = {
        f"{name}/truth_table": run.task.truth_table,
        f"{name}/trained/count": int(run.trained.sum()),
        f"{name}/trained/fraction": float(run.trained.mean()),
        f"{name}/diverged/count": int(result.diverged.sum()),
        f"{name}/final_loss/median": float(np.nanmedian(result.final_loss)),
        f"{name}/steps_to_trained/median": (
            float(np.median(trained_steps)) if trained_steps.size else float("nan")
        ),
        f"{name}/train/seconds": float(result.seconds),
    }
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


# --- step 2: information per layer ---------------------------------------------------------------


def information(ctx: RunContext) -> None:
    """Entropy of every layer and its MI with the input, for every trained network."""
    cfg = _config(ctx)
    x: torch.Tensor = ctx.state["x"]
    codes: dict[str, IntArray] = {}
    entropies: dict[str, FloatArray] = {}
    n_layers = len(cfg.widths) + 1
    keys = layer_keys(n_layers)
    for name, run in _runs(ctx).items():
        model = run.trained_model()
        if model is None:
            codes[name] = np.zeros((0, n_layers, 2**cfg.n_bits), dtype=np.int64)
            entropies[name] = np.zeros((0, n_layers))
            continue
        codes[name] = layer_codes(layer_posts(model, x), cfg.tol)
        h = layer_entropies(codes[name])
        mi = input_mutual_information(codes[name])
        target = run.task.targets.numpy()
        mi_target = bit_mutual_information(codes[name][:, -1], target)
        entropies[name] = h
        axes = ("seed", "layer")
        labels = {"layer": layer_labels(n_layers)}
        ctx.save_array(f"{name}/entropy", h, axes=axes, labels=labels, description="H(layer), bits")
        ctx.save_array(
            f"{name}/mi_input", mi, axes=axes, labels=labels, description="I(input; layer), bits"
        )
        ctx.save_array(
            f"{name}/mi_output_target",
            mi_target,
            axes=("seed",),
            description="I(output layer; task target), bits",
        )
        ctx.save_array(f"{name}/trained_seeds", np.asarray(model.seeds), axes=("seed",))
        results: dict[str, float | int | str | bool] = {
            f"{name}/mi_input/max_gap_to_entropy": float(np.abs(mi - h).max()),
            f"{name}/mi_output_target/mean": float(mi_target.mean()),
        }
        for i, key in enumerate(keys):
            results[f"{name}/entropy/{key}/mean"] = float(h[:, i].mean())
            results[f"{name}/entropy/{key}/std"] = _std(h[:, i])
            results[f"{name}/mi_input/{key}/mean"] = float(mi[:, i].mean())
        ctx.set_results(results)
    names = list(entropies)
    ctx.save_array(
        "entropy/mean_by_layer",
        np.stack([_column_means(entropies[n], n_layers) for n in names]),
        axes=("task", "layer"),
        labels={"task": names, "layer": layer_labels(n_layers)},
        description="mean entropy of each layer over the trained networks, bits",
    )
    ctx.state["codes"] = codes
    ctx.state["entropies"] = entropies


# --- step 3: IR between layers -------------------------------------------------------------------


def ir(ctx: RunContext) -> None:
    """IR between corresponding layers of every pair of networks, and layer × layer IR."""
    cfg = _config(ctx)
    codes = {name: c[: cfg.pair_seeds] for name, c in ctx.state["codes"].items()}
    n_layers = len(cfg.widths) + 1
    keys = layer_keys(n_layers)
    labels = {"layer": layer_labels(n_layers), "layer_b": layer_labels(n_layers)}
    blocks: dict[tuple[str, str], FloatArray] = {}
    results: dict[str, float | int | str | bool] = {}
    for name, c in codes.items():
        if c.shape[0] < 2:
            continue
        block = ir_blocks(c)
        blocks[(name, name)] = block
        for i, key in enumerate(keys):
            matrix = seed_seed_ir(block, i)
            ctx.save_array(
                f"{name}/ir_seed_seed/{key}",
                matrix,
                axes=("seed", "seed_b"),
                description=f"IR between the {key} of every pair of networks",
            )
            results[f"{name}/ir_seeds/{key}/mean"] = float(off_diagonal(matrix).mean())
            results[f"{name}/ir_seeds/{key}/std"] = _std(off_diagonal(matrix))
        ctx.save_array(
            f"{name}/ir_layer_layer/within",
            layer_layer_within(block),
            axes=("layer", "layer_b"),
            labels=labels,
            description="layer × layer IR inside a network, mean over networks",
        )
        ctx.save_array(
            f"{name}/ir_layer_layer/across",
            layer_layer_across(block, same_ensemble=True),
            axes=("layer", "layer_b"),
            labels=labels,
            description="layer × layer IR between two networks, mean over pairs",
        )
    for a, b in itertools.combinations(codes, 2):
        if not (codes[a].shape[0] and codes[b].shape[0]):
            continue
        block = ir_blocks(codes[a], codes[b])
        blocks[(a, b)] = block
        pair = pair_key(a, b)
        ctx.save_array(
            f"across/{pair}/ir_layer_layer",
            layer_layer_across(block, same_ensemble=False),
            axes=("layer", "layer_b"),
            labels=labels,
            description=f"layer × layer IR between a {a} and a {b} network, mean over pairs",
        )
        for i, key in enumerate(keys):
            results[f"across/{pair}/ir_seeds/{key}/mean"] = float(seed_seed_ir(block, i).mean())
    ctx.set_results(results)
    ctx.state["ir"] = blocks


# --- step 4: network similarity ------------------------------------------------------------------


def similarity(ctx: RunContext) -> None:
    """Sim and normalised similarity between every pair of networks, within and across tasks."""
    cfg = _config(ctx)
    codes = {name: c[: cfg.pair_seeds] for name, c in ctx.state["codes"].items()}
    results: dict[str, float | int | str | bool] = {}
    # The same network pairs as the IR step (its blocks' keys).
    blocks: dict[tuple[str, str], FloatArray] = ctx.state["ir"]
    for a, b in blocks:
        within = a == b
        prefix = a if within else f"across/{pair_key(a, b)}"
        other = None if within else codes[b]
        for measure, matrix in (
            ("sim", similarity_matrix(codes[a], other)),
            ("normalized_similarity", normalized_similarity_matrix(codes[a], other)),
        ):
            ctx.save_array(
                f"{prefix}/{measure}",
                matrix,
                axes=("seed", "seed_b"),
                description=f"{measure} of every pair of networks ({a} × {b})",
            )
            values = off_diagonal(matrix) if within else matrix.ravel()
            results[f"{prefix}/{measure}/mean"] = float(values.mean())
            results[f"{prefix}/{measure}/std"] = _std(values)
    ctx.set_results(results)


# --- step 5: robustness --------------------------------------------------------------------------


def robustness(ctx: RunContext) -> None:
    """Rerun the entropy comparison across tolerances and thresholds for 'trained'."""
    cfg = _config(ctx)
    runs = _runs(ctx)
    x: torch.Tensor = ctx.state["x"]
    thresholds = sorted(set(cfg.trained_thresholds), reverse=True)
    tols = list(cfg.tol_sweep)
    n_layers = len(cfg.widths) + 1
    alpha = cfg.alpha / n_layers  # Bonferroni over the layers
    shape = (len(thresholds), len(tols), n_layers)
    entropy_mean = {name: np.full(shape, np.nan) for name in runs}
    ir_mean = {name: np.full(shape, np.nan) for name in runs}
    pairs = list(itertools.combinations(runs, 2))
    difference = {p: np.full(shape, np.nan) for p in pairs}
    p_value = {p: np.full(shape, np.nan) for p in pairs}
    verdicts = {p: np.zeros(shape, dtype=np.int8) for p in pairs}
    total = len(thresholds) * len(tols)
    for ti, threshold in enumerate(thresholds):
        posts = {}
        for name, run in runs.items():
            model = run.snapshot_model(threshold)
            posts[name] = None if model is None else layer_posts(model, x)
        for ki, tol in enumerate(tols):
            h: dict[str, FloatArray] = {}
            for name, p in posts.items():
                if p is None:
                    continue
                codes = layer_codes(p, tol)
                h[name] = layer_entropies(codes)
                entropy_mean[name][ti, ki] = h[name].mean(axis=0)
                if codes.shape[0] >= 2:
                    for i in range(n_layers):
                        ratios = information_ratio_matrix(codes[: cfg.pair_seeds, i])
                        ir_mean[name][ti, ki, i] = off_diagonal(ratios).mean()
            for a, b in pairs:
                if a not in h or b not in h:
                    continue
                for i in range(n_layers):
                    comp = compare_groups(
                        h[a][:, i], h[b][:, i], n_permutations=cfg.n_permutations, seed=i
                    )
                    difference[(a, b)][ti, ki, i] = comp.difference
                    p_value[(a, b)][ti, ki, i] = comp.p_value
                    verdicts[(a, b)][ti, ki, i] = verdict(comp, alpha)
            ctx.progress(ti * len(tols) + ki + 1, total)
    axes = ("threshold", "tol", "layer")
    labels = {
        "threshold": [threshold_label(t) for t in thresholds],
        "tol": [threshold_label(t) for t in tols],
        "layer": layer_labels(n_layers),
    }
    for name in runs:
        ctx.save_array(
            f"robustness/{name}/entropy_mean",
            entropy_mean[name],
            axes=axes,
            labels=labels,
            description="mean entropy (bits) per 'trained' threshold, tolerance and layer",
        )
        ctx.save_array(
            f"robustness/{name}/ir_seeds_mean",
            ir_mean[name],
            axes=axes,
            labels=labels,
            description="mean IR between corresponding layers of two networks",
        )
    results: dict[str, float | int | str | bool] = {}
    for a, b in pairs:
        pair = pair_key(a, b)
        for i, key in enumerate(layer_keys(n_layers)):
            ctx.save_array(
                f"robustness/{pair}/difference/{key}",
                difference[(a, b)][:, :, i],
                axes=("threshold", "tol"),
                labels=labels,
                description=f"mean H({b}) - mean H({a}) in {key}, bits",
            )
            v = verdicts[(a, b)][:, :, i]
            results[f"robustness/{pair}/{key}/less_fraction"] = float((v == 1).mean())
            results[f"robustness/{pair}/{key}/more_fraction"] = float((v == -1).mean())
            results[f"robustness/{pair}/{key}/unclear_fraction"] = float((v == 0).mean())
        ctx.save_array(f"robustness/{pair}/p_value", p_value[(a, b)], axes=axes, labels=labels)
        ctx.save_array(
            f"robustness/{pair}/verdict",
            verdicts[(a, b)],
            axes=axes,
            labels=labels,
            description=(
                f"+1: {a} keeps significantly less information than {b}; -1: more; 0: unclear"
            ),
        )
    ctx.set_results(results)
    ctx.state["robustness"] = {
        "thresholds": thresholds,
        "tols": tols,
        "verdicts": verdicts,
        "difference": difference,
    }


# --- step 6: summary -----------------------------------------------------------------------------


def summary(ctx: RunContext) -> None:
    """Compare the tasks layer by layer and state what the data supports."""
    cfg = _config(ctx)
    runs = _runs(ctx)
    entropies: dict[str, FloatArray] = ctx.state["entropies"]
    robust = ctx.state["robustness"]
    n_layers = len(cfg.widths) + 1
    keys = layer_keys(n_layers)
    alpha = cfg.alpha / n_layers
    results: dict[str, float | int | str | bool] = {}
    tasks = [
        TaskSummary(
            name=name,
            description=run.task.description,
            n_trained=int(run.trained.sum()),
            n_networks=cfg.seeds,
            n_diverged=int(run.result.diverged.sum()),
            entropy_mean=_column_means(entropies[name], n_layers),
            entropy_std=np.asarray([_std(entropies[name][:, i]) for i in range(n_layers)]),
        )
        for name, run in runs.items()
    ]
    pair_findings = []
    for a, b in itertools.combinations(runs, 2):
        pair = pair_key(a, b)
        layers = []
        for i, key in enumerate(keys):
            comp: Comparison = compare_groups(
                entropies[a][:, i], entropies[b][:, i], n_permutations=cfg.n_permutations, seed=i
            )
            main = verdict(comp, alpha)
            settings = robust["verdicts"][(a, b)][:, :, i]
            layers.append(LayerFinding(key, comp, main, settings))
            results[f"compare/{pair}/entropy/{key}/difference"] = comp.difference
            results[f"compare/{pair}/entropy/{key}/p_value"] = comp.p_value
            results[f"compare/{pair}/entropy/{key}/verdict"] = _verdict_word(main)
        pair_findings.append(PairFindings(a, b, layers))
    finding = _headline(pair_findings)
    results["summary/finding"] = finding
    ctx.set_results(results)
    ctx.write_text(
        "summary.md",
        summary_markdown(
            cfg,
            tasks,
            pair_findings,
            thresholds=robust["thresholds"],
            tols=robust["tols"],
            alpha=alpha,
        ),
    )


def _headline(pairs: list[PairFindings]) -> str:
    if not pairs:
        return "one task: nothing to compare"
    p = pairs[0]
    less = sum(1 for f in p.layers if f.main == 1)
    more = sum(1 for f in p.layers if f.main == -1)
    return f"{p.a} vs {p.b}: less information in {less}, more in {more} of {len(p.layers)} layers"


def _verdict_word(v: int) -> str:
    return {1: "less", -1: "more", 0: "no significant difference"}[v]


def _std(values: FloatArray) -> float:
    """Sample standard deviation (ddof 1); NaN for fewer than two values."""
    return float(np.std(values, ddof=1)) if values.size > 1 else float("nan")


def _column_means(values: FloatArray, n_columns: int) -> FloatArray:
    if values.shape[0] == 0:
        return np.full(n_columns, np.nan)
    return np.asarray(values.mean(axis=0), dtype=np.float64)
