"""Steps 2-4 of the toy-tasks lab: information per layer, IR between layers, network similarity.

Each step reads what earlier steps left in ``ctx.state``, computes on ``ctx.device`` and writes
arrays and ``[results]`` through ``ctx``. Layers are numbered 1..L (``layer1`` is the first
hidden layer, ``layerL`` the linear output); every measure is over the uniform distribution on
all 2^n inputs, and every trained number has its random-init baseline beside it
(``<name>/baseline/...``). Training is :mod:`.training`; robustness and the summary are
:mod:`.verdicts`.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import numpy.typing as npt

from workbench.core.lab import RunContext

from .analysis import (
    ir_blocks,
    layer_layer_across,
    layer_layer_within,
    normalized_similarity_from_blocks,
    off_diagonal,
    seed_seed_ir,
    similarity_from_blocks,
)
from .config import ToyTasksConfig, arch_label
from .measure import LayerMeasures, measure_layers
from .training import EnsembleRun

__all__ = [
    "information",
    "ir",
    "layer_keys",
    "layer_labels",
    "main_runs",
    "similarity",
]

FloatArray = npt.NDArray[np.float64]
#: Rows of ``<name>/precision``.
PRECISION_MEASURES = ("tol_eff", "residual", "resolution", "min_code_distance")
Results = dict[str, float | int | str | bool]


def _config(ctx: RunContext) -> ToyTasksConfig:
    config: ToyTasksConfig = ctx.config
    return config


def main_runs(ctx: RunContext) -> dict[str, EnsembleRun]:
    """The main architecture's ensembles, by name."""
    cfg = _config(ctx)
    runs: dict[str, EnsembleRun] = ctx.state["runs"]
    return {k: r for k, r in runs.items() if r.widths == tuple(cfg.widths)}


def layer_keys(n_layers: int) -> list[str]:
    """``["layer1", ..., "layerL"]``."""
    return [f"layer{i}" for i in range(1, n_layers + 1)]


def layer_labels(n_layers: int) -> list[str]:
    """Axis labels, the output layer marked: ``["layer1", ..., "layerL (out)"]``."""
    keys = layer_keys(n_layers)
    keys[-1] += " (out)"
    return keys


def _std(values: FloatArray) -> float:
    """Sample standard deviation (ddof 1); NaN for fewer than two values."""
    return float(np.std(values, ddof=1)) if values.size > 1 else float("nan")


def _mean(values: FloatArray) -> float:
    return float(np.mean(values)) if values.size else float("nan")


# --- step 2: information per layer ---------------------------------------------------------------


def information(ctx: RunContext) -> None:
    """Entropy, MI with input and target, and precision of every layer; trained and at init."""
    cfg = _config(ctx)
    runs: dict[str, EnsembleRun] = ctx.state["runs"]
    x = ctx.state["x"]
    trained: dict[str, LayerMeasures | None] = {}
    baseline: dict[str, LayerMeasures] = {}
    measure = functools.partial(
        measure_layers, x=x, loss=cfg.loss, tol=cfg.tol, rule=cfg.rule, mode=cfg.tol_mode
    )
    for k, (name, run) in enumerate(runs.items()):
        target = run.task.targets
        model = run.trained_model()
        # The closest-codes distance (O(n²) per net) is for the main nets' precision table.
        main = run.widths == tuple(cfg.widths)
        trained[name] = None if model is None else measure(model, target=target, distances=main)
        baseline[name] = measure(run.init, target=target, distances=False)
        _save_measures(ctx, run, trained[name], baseline[name])
        ctx.progress(k + 1, len(runs))
    ctx.state["measures"] = trained
    ctx.state["baseline"] = baseline
    _save_by_layer(ctx, trained, baseline)
    _save_curves(ctx)
    _save_sweep(ctx, trained)


def _save_measures(
    ctx: RunContext, run: EnsembleRun, m: LayerMeasures | None, base: LayerMeasures
) -> None:
    """Arrays and results of one ensemble (sweep members keep only entropy and I(layer; y))."""
    n_layers = run.model.n_layers
    keys = layer_keys(n_layers)
    axes = ("seed", "layer")
    labels = {"layer": layer_labels(n_layers)}
    name = run.name
    main = run.widths == tuple(_config(ctx).widths)
    results: Results = {}
    for prefix, meas in ((name, m), (f"{name}/baseline", base)):
        if meas is None or (not main and prefix != name):
            continue
        arrays = [
            ("entropy", meas.entropy, "H(layer), bits"),
            ("mi_target", meas.mi_target, "I(layer; target), bits"),
        ]
        if main and prefix == name:
            arrays.append(("mi_input", meas.mi_input, "I(input; layer), bits (= H(layer))"))
        for key, values, what in arrays:
            ctx.save_array(f"{prefix}/{key}", values, axes=axes, labels=labels, description=what)
        if main and prefix == name:
            ctx.save_array(
                f"{name}/precision",
                np.stack([meas.tol_eff, meas.residual, meas.resolution, meas.min_distance]),
                axes=("measure", "seed", "layer"),
                labels={"measure": list(PRECISION_MEASURES), **labels},
                description="tolerance used, output residual max|ŷ - y| (MSE), float32 "
                "resolution, and the smallest distance between distinct codes",
            )
        flagged = meas.flagged()
        below = meas.below_precision.mean(axis=0) if meas.entropy.size else np.zeros(n_layers)
        for i, key in enumerate(keys):
            results[f"{prefix}/entropy/{key}/mean"] = _mean(meas.entropy[:, i])
            results[f"{prefix}/entropy/{key}/std"] = _std(meas.entropy[:, i])
            results[f"{prefix}/mi_target/{key}/mean"] = _mean(meas.mi_target[:, i])
            if prefix == name:
                results[f"{name}/precision/{key}/tol_eff_median"] = float(
                    np.median(meas.tol_eff[:, i])
                )
                results[f"{name}/precision/{key}/precision_median"] = float(
                    np.median(meas.precision[:, i])
                )
                results[f"{name}/precision/{key}/below_fraction"] = float(below[i])
                results[f"{name}/precision/{key}/flagged"] = bool(flagged[i])
        if prefix == name:
            results[f"{name}/mi_input/max_gap_to_entropy"] = float(
                np.abs(meas.mi_input - meas.entropy).max(initial=0.0)
            )
    if m is not None and main:
        ctx.save_array(
            f"{name}/trained_seeds",
            np.asarray([s for s, t in zip(run.model.seeds, run.trained, strict=True) if t]),
            axes=("seed",),
        )
    ctx.set_results(results)


def _groups(ctx: RunContext) -> dict[str, list[str]]:
    """Config task → its main-architecture ensembles (K tables for random-lookup)."""
    out: dict[str, list[str]] = {}
    for name, run in main_runs(ctx).items():
        out.setdefault(run.group, []).append(name)
    return out


def _pooled(
    per_name: dict[str, LayerMeasures | None], names: list[str], n_layers: int
) -> FloatArray:
    rows = [m.entropy for n in names if (m := per_name.get(n)) is not None]
    return np.concatenate(rows) if rows else np.zeros((0, n_layers))


def _save_by_layer(
    ctx: RunContext,
    trained: dict[str, LayerMeasures | None],
    baseline: dict[str, LayerMeasures],
) -> None:
    n_layers = len(_config(ctx).widths) + 1
    rows, names = [], []
    for group, members in _groups(ctx).items():
        for label, source in ((group, trained), (f"{group} (init)", baseline)):
            h = _pooled(dict(source), members, n_layers)
            rows.append(h.mean(axis=0) if h.size else np.full(n_layers, np.nan))
            names.append(label)
    ctx.save_array(
        "entropy/mean_by_layer",
        np.stack(rows),
        axes=("task", "layer"),
        labels={"task": names, "layer": layer_labels(n_layers)},
        description="mean entropy of each layer over the trained nets (and at init), bits",
    )


def _save_curves(ctx: RunContext) -> None:
    """Per task and layer, p10 / median / p90 over nets against training step."""
    cfg = _config(ctx)
    runs = main_runs(ctx)
    n_layers = len(cfg.widths) + 1
    for group, members in _groups(ctx).items():
        curves = [runs[n].curves for n in members]
        if not curves or any(c is None for c in curves):
            continue
        steps = curves[0].steps  # type: ignore[union-attr]
        for key in ("entropy", "mi_target"):
            pooled = np.concatenate([getattr(c, key) for c in curves], axis=1)  # (step, net, L)
            for i, layer in enumerate(layer_keys(n_layers)):
                values = pooled[:, :, i]
                ok = np.isfinite(values).any(axis=1)
                band = np.full((3, len(steps)), np.nan)
                if ok.any():
                    band[:, ok] = np.nanpercentile(values[ok], [10, 50, 90], axis=1)
                ctx.save_array(
                    f"curves/{group}/{key}/{layer}",
                    band,
                    axes=("quantile", "step"),
                    labels={"quantile": ["p10", "median", "p90"], "step": [str(s) for s in steps]},
                    description=f"{key} of {layer} over the {group} nets against training step, "
                    "bits (10th, 50th, 90th percentile)",
                )


def _save_sweep(ctx: RunContext, trained: dict[str, LayerMeasures | None]) -> None:
    """Entropy against width and depth: one row per architecture, NaN past its depth."""
    cfg = _config(ctx)
    archs = cfg.architectures()
    if len(archs) < 2:
        return
    runs: dict[str, EnsembleRun] = ctx.state["runs"]
    depth = max(len(w) for w in archs) + 1
    results: Results = {}
    for group in dict.fromkeys(r.group for r in runs.values()):
        table = np.full((len(archs), depth), np.nan)
        for a, widths in enumerate(archs):
            names = [n for n, r in runs.items() if r.group == group and r.widths == widths]
            h = _pooled(dict(trained), names, len(widths) + 1)
            if h.size:
                table[a, : h.shape[1]] = h.mean(axis=0)
                for i, key in enumerate(layer_keys(h.shape[1])):
                    results[f"sweep/{group}/{arch_label(widths)}/entropy/{key}/mean"] = float(
                        h[:, i].mean()
                    )
            results[f"sweep/{group}/{arch_label(widths)}/trained/count"] = int(h.shape[0])
        ctx.save_array(
            f"sweep/{group}/entropy",
            table,
            axes=("architecture", "layer"),
            labels={
                "architecture": [arch_label(w) for w in archs],
                "layer": [f"layer{i}" for i in range(1, depth + 1)],
            },
            description="mean entropy of each layer over the trained nets, per architecture "
            "(the last filled column is the output), bits",
        )
    ctx.set_results(results)


# --- step 3: IR between layers -------------------------------------------------------------------


def ir(ctx: RunContext) -> None:
    """IR between corresponding layers of every pair of nets, once per ensemble pair."""
    cfg = _config(ctx)
    runs = main_runs(ctx)
    trained: dict[str, LayerMeasures | None] = ctx.state["measures"]
    baseline: dict[str, LayerMeasures] = ctx.state["baseline"]
    n_layers = len(cfg.widths) + 1
    keys = layer_keys(n_layers)
    labels = {"layer": layer_labels(n_layers), "layer_b": layer_labels(n_layers)}
    blocks: dict[tuple[str, str], FloatArray] = {}
    results: Results = {}
    for name in runs:
        m = trained[name]
        for prefix, codes in ((name, None if m is None else m.codes), (f"{name}/baseline",
                              baseline[name].codes)):  # fmt: skip
            if codes is None or codes.shape[0] < 2:
                continue
            block = ir_blocks(codes[: cfg.pair_seeds])
            blocks[(prefix, prefix)] = block
            for i, key in enumerate(keys):
                matrix = seed_seed_ir(block, i)
                if prefix == name:
                    ctx.save_array(
                        f"{name}/ir_seed_seed/{key}",
                        matrix,
                        axes=("seed", "seed_b"),
                        description=f"IR between the {key} of every pair of networks",
                    )
                results[f"{prefix}/ir_seeds/{key}/mean"] = float(off_diagonal(matrix).mean())
                results[f"{prefix}/ir_seeds/{key}/std"] = _std(off_diagonal(matrix))
            if prefix == name:
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
    names = [n for n in runs if trained[n] is not None]
    first = names[0] if names else None
    for a, b in itertools.combinations(names, 2):
        if a != first:
            continue  # across-task blocks: the first task against every other ensemble
        ma, mb = trained[a], trained[b]
        assert ma is not None and mb is not None
        block = ir_blocks(ma.codes[: cfg.pair_seeds], mb.codes[: cfg.pair_seeds])
        blocks[(a, b)] = block
        ctx.save_array(
            f"across/{a}_vs_{b}/ir_layer_layer",
            layer_layer_across(block, same_ensemble=False),
            axes=("layer", "layer_b"),
            labels=labels,
            description=f"layer × layer IR between a {a} and a {b} network, mean over pairs",
        )
        for i, key in enumerate(keys):
            results[f"across/{a}_vs_{b}/ir_seeds/{key}/mean"] = float(seed_seed_ir(block, i).mean())
    ctx.set_results(results)
    ctx.state["ir"] = blocks


# --- step 4: network similarity ------------------------------------------------------------------


def similarity(ctx: RunContext) -> None:
    """Sim and normalised similarity for every pair of nets, read off the IR blocks."""
    results: Results = {}
    blocks: dict[tuple[str, str], FloatArray] = ctx.state["ir"]
    for (a, b), block in blocks.items():
        within = a == b
        prefix = a if within else f"across/{a}_vs_{b}"
        for measure, matrix in (
            ("sim", similarity_from_blocks(block)),
            ("normalized_similarity", normalized_similarity_from_blocks(block)),
        ):
            if not a.endswith("/baseline"):
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
