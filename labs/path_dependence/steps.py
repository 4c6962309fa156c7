"""The steps of the path-dependence lab, on the lab contract.

Each step reads what earlier steps left in ``ctx.state`` and writes arrays, checkpoints,
``[results]`` and Markdown through ``ctx``. Nets are indexed by their row in their ensemble
(only trained nets are kept); ``<g>/seeds`` maps rows to seeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.barriers import alpha_grid, barrier
from workbench.core.ensemble import TrainConfig, TrainProgress, init_ensemble, train_ensemble
from workbench.core.inference import Verdict
from workbench.core.lab import RunContext
from workbench.core.measures.clustering import average_linkage
from workbench.core.tasks import all_inputs, make_task

from .analysis import (
    MethodResult,
    alignment_decision,
    compare_pairs,
    lmc_fraction,
    pair_set,
    seed_matrix,
    width_decision,
)
from .config import PathDependenceConfig
from .report import summary_markdown
from .sources import Group, groups_from_run

__all__ = ["LIVE_BARRIER", "barriers", "nets", "put", "summary", "width"]

#: The live measure's key in metrics.jsonl (``Lab.live_metrics``).
LIVE_BARRIER = "live/median_barrier"
QUANTILES = np.linspace(0.0, 1.0, 21)

FloatArray = npt.NDArray[np.float64]


def _cfg(ctx: RunContext) -> PathDependenceConfig:
    config: PathDependenceConfig = ctx.config
    return config


def put(ctx: RunContext, results: Mapping[str, float | int | str | bool]) -> None:
    """Set ``[results]`` and keep a copy in ``ctx.state`` for the summary."""
    ctx.set_results(results)
    ctx.state.setdefault("results", {}).update(results)


def _groups(ctx: RunContext) -> list[Group]:
    groups: list[Group] = ctx.state["groups"]
    return groups


def clustering_method(methods: tuple[str, ...]) -> str:
    """The method whose aligned barriers cluster the nets: weight matching when it ran."""
    return "weight" if "weight" in methods else methods[-1]


def train_group(
    ctx: RunContext,
    name: str,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    widths: tuple[int, ...],
    activation: str,
    loss: str,
    seeds: range,
    progress: tuple[int, int],
) -> tuple[Any, npt.NDArray[np.bool_]]:
    """Train one ensemble as one batched model; returns it and its ``trained`` flags."""
    cfg = _cfg(ctx)
    train_config = TrainConfig(
        widths=widths, activation=activation, optimizer="adam", lr=cfg.lr, steps=cfg.steps,
        loss=loss, loss_threshold=cfg.loss_threshold, log_every=cfg.log_every,
        data_seed=cfg.data_seed,
    )  # fmt: skip
    model = init_ensemble(train_config, seeds, x.shape[1], y.shape[1], ctx.device)
    offset, total = progress

    def report(p: TrainProgress) -> None:
        ctx.log_metrics(
            {"step": p.step, "task": name, "seed": s, "loss": float(v)}
            for s, v in zip(model.seeds, p.loss, strict=True)
        )
        ctx.progress(offset + p.step, total, ensemble=name, converged=int(p.converged.sum()),
                     diverged=int(p.diverged.sum()))  # fmt: skip

    result = train_ensemble(model, x, y, train_config, callback=report)
    return model, np.asarray(result.converged, dtype=bool)


# --- step 1: the nets ------------------------------------------------------------------------


def nets(ctx: RunContext) -> None:
    """Train the lab's own ensembles, or load the source run's trained nets."""
    cfg = _cfg(ctx)
    groups: list[Group] = []
    if cfg.from_run:
        groups, source = groups_from_run(cfg, ctx.project, ctx.device)
        put(ctx, {"source/run": source.run.id, "source/lab": source.lab})
    else:
        x = all_inputs(cfg.n_bits).to(ctx.device)
        for i, task_name in enumerate(cfg.tasks):
            task = make_task(task_name, cfg.n_bits, task_seed=cfg.task_seed,
                             truth_tables=cfg.truth_tables)  # fmt: skip
            y = task.targets.to(ctx.device, torch.float32).unsqueeze(1)
            first = cfg.seed + i * cfg.seeds
            model, trained = train_group(
                ctx, task_name, x, y, widths=cfg.widths, activation=cfg.activation,
                loss=cfg.loss, seeds=range(first, first + cfg.seeds),
                progress=(i * cfg.steps, len(cfg.tasks) * cfg.steps),
            )  # fmt: skip
            ctx.save_checkpoint(task_name, model.state_dict())
            ctx.save_array(f"{task_name}/train/trained", trained.astype(np.int8), axes=("seed",))
            ctx.save_array(f"{task_name}/train/targets", task.targets.numpy(), axes=("input",))
            keep = np.flatnonzero(trained).tolist()
            groups.append(Group(task_name, model.select(keep), x, y, cfg.loss, codes_ok=True))
    for g in groups:
        ctx.save_array(f"{g.name}/seeds", np.asarray(g.model.seeds), axes=("seed",),
                       description="seed of each trained net, in row order")  # fmt: skip
        ctx.save_array(f"{g.name}/data/x", g.x.double().cpu().numpy(), axes=("example", "input"))
        ctx.save_array(f"{g.name}/data/y", g.y.double().cpu().numpy(), axes=("example", "output"))
        put(ctx, {f"{g.name}/nets": g.model.n_seeds, f"{g.name}/loss": g.loss})
        if g.model.n_seeds < 2:
            ctx.logger.warning("%s: fewer than 2 trained nets; nothing to pair", g.name)
    ctx.state["groups"] = [g for g in groups if g.model.n_seeds >= 2]


# --- step 2: barriers before and after alignment ----------------------------------------------


def _save_method(ctx: RunContext, g: Group, pairs: Any, res: MethodResult, order: Any) -> None:
    cfg = _cfg(ctx)
    n = g.model.n_seeds
    seeds = [str(s) for s in g.model.seeds]
    matrix = seed_matrix(n, pairs, res.barriers)[np.ix_(order, order)]
    clusters = ctx.state.setdefault("barrier_clusters", {}).get(g.name)
    rows = [f"s{seeds[i]}" + (f" c{clusters[i]}" if clusters is not None else "") for i in order]
    ctx.save_array(
        f"{g.name}/barrier/{res.name}", matrix, axes=("seed", "seed_b"),
        labels={"seed": rows, "seed_b": [seeds[i] for i in order]},
        description=f"{cfg.barrier_definition} loss barrier of every pair ({res.name}), "
        "rows and columns in cluster order",
    )  # fmt: skip
    ctx.save_array(f"{g.name}/losses/{res.name}", res.losses, axes=("pair", "alpha"))
    ranked = np.argsort(res.barriers, kind="stable")
    median, worst = int(ranked[len(ranked) // 2]), int(ranked[-1])
    names = [f"{k} s{seeds[pairs[p, 0]]}–s{seeds[pairs[p, 1]]} ({res.barriers[p]:.3g})"
             for k, p in (("median", median), ("worst", worst))]  # fmt: skip
    ctx.save_array(
        f"{g.name}/curves/{res.name}", res.losses[[median, worst]], axes=("pair", "alpha"),
        labels={"pair": names}, description="loss along the path of the median and worst pair",
    )  # fmt: skip
    # Anyone can recompute every barrier from these tensors and <g>/data/*.
    tensors = {"pairs": torch.as_tensor(pairs)}
    for end, params in (("a", res.params_a), ("b", res.params_b)):
        model = type(g.model)(params, g.model.sizes, g.model.activation)
        tensors.update({f"{end}.{k}": v for k, v in model.state_dict().items()})
    ctx.save_checkpoint(f"aligned-{g.name}-{res.name}", tensors)
    alt, _ = barrier(
        res.losses,
        alpha_grid(cfg.n_alphas),
        "max-endpoint" if cfg.barrier_definition == "interpolated" else "interpolated",
    )
    key = f"{g.name}/barrier/{res.name}"
    b = res.barriers
    put(ctx, {
        f"{key}/median": float(np.median(b)), f"{key}/mean": float(b.mean()),
        f"{key}/q90": float(np.quantile(b, 0.9)), f"{key}/max": float(b.max()),
        f"{key}/other_definition_median": float(np.median(alt)),
        f"{g.name}/lmc/{res.name}/fraction": float(np.mean(b < cfg.lmc_threshold)),
    })  # fmt: skip


def _alpha_sweep(
    ctx: RunContext, g: Group, results: dict[str, MethodResult], alphas: FloatArray
) -> None:
    """Median barrier on coarser α grids (every k-th point of the grid, both ends kept).

    The barrier is a maximum over the grid, so a coarse grid can only underestimate it; this
    shows how much the reported number depends on ``n_alphas``.
    """
    cfg = _cfg(ctx)
    strides = [
        k for k in (8, 4, 2, 1) if (len(alphas) - 1) % k == 0 and (len(alphas) - 1) // k >= 2
    ]
    names = list(results)
    table = np.array([
        [float(np.median(barrier(results[m].losses[:, ::k], alphas[::k],
                                 cfg.barrier_definition)[0])) for k in strides]
        for m in names
    ])  # fmt: skip
    grids = [str((len(alphas) - 1) // k + 1) for k in strides]
    ctx.save_array(f"{g.name}/alpha_sweep", table, axes=("method", "grid"),
                   labels={"method": names, "grid": grids},
                   description="median barrier on coarser α grids")  # fmt: skip
    for m, row in zip(names, table, strict=True):
        put(ctx, {f"{g.name}/barrier/{m}/median_at_{n}_alphas": float(v)
                  for n, v in zip(grids, row, strict=True)})  # fmt: skip


def barriers(ctx: RunContext) -> None:
    """Match every pair and measure its barrier before and after each alignment."""
    cfg = _cfg(ctx)
    alphas = alpha_grid(cfg.n_alphas)
    plan = [(g, *pair_set(g.model.n_seeds, cfg.max_pairs, cfg.data_seed)) for g in _groups(ctx)]
    total = sum(len(p) for _, p, _ in plan)
    done = 0
    reductions: dict[str, FloatArray] = {}
    for g, pairs, disjoint in plan:

        def live(k: int, median: float, g: Group = g, base: int = done) -> None:
            ctx.progress(base + k, total, ensemble=g.name, pairs_done=base + k,
                         median_barrier=round(median, 6))  # fmt: skip
            ctx.log_metrics([{"step": base + k, "task": g.name, LIVE_BARRIER: median}])

        results = compare_pairs(
            g.model, pairs, g.x, g.y, g.loss, alphas, methods=cfg.methods,
            normalization=cfg.normalization(g.model.activation),
            definition=cfg.barrier_definition, max_sweeps=cfg.max_sweeps,
            match_seed=cfg.data_seed, callback=live,
        )  # fmt: skip
        done += len(pairs)
        n = g.model.n_seeds
        main = results[clustering_method(cfg.methods)]
        full = seed_matrix(n, pairs, main.barriers)
        order = np.arange(n)
        if np.all(np.isfinite(full)):
            clusters = average_linkage(full, height=cfg.lmc_threshold)
            order = clusters.order
            ctx.state.setdefault("barrier_clusters", {})[g.name] = clusters.labels
            ctx.state.setdefault("barrier_matrix", {})[g.name] = full
            ctx.save_array(f"{g.name}/clusters/barrier", clusters.labels, axes=("seed",))
        ctx.save_array(f"{g.name}/pairs", pairs, axes=("pair", "end"), labels={"end": ["A", "B"]})
        ctx.save_array(f"{g.name}/alphas", alphas, axes=("alpha",))
        ctx.save_array(f"{g.name}/order", order, axes=("seed",))
        for res in results.values():
            _save_method(ctx, g, pairs, res, order)
        names = list(results)
        ctx.save_array(
            f"{g.name}/barrier_quantiles", np.stack([np.quantile(results[m].barriers, QUANTILES)
                                                      for m in names]),
            axes=("method", "quantile"), labels={"method": names},
            description="barrier quantiles 0, 5%, ..., 100% over all pairs",
        )  # fmt: skip
        ctx.save_array(
            f"{g.name}/lmc_fraction",
            np.stack([lmc_fraction(results[m].barriers, cfg.lmc_sweep) for m in names]),
            axes=("method", "threshold"),
            labels={"method": names, "threshold": [f"{t:g}" for t in cfg.lmc_sweep]},
            description="fraction of pairs with barrier below each threshold",
        )  # fmt: skip
        _alpha_sweep(ctx, g, results, alphas)
        if "weight" in results:
            w = results["weight"]
            ctx.save_array(f"{g.name}/weight_sweeps", w.sweeps, axes=("pair",))
            put(ctx, {f"{g.name}/weight/sweeps/max": int(w.sweeps.max()),
                             f"{g.name}/pairs": len(pairs)})  # fmt: skip
        for m in cfg.methods:
            before = results["none"].barriers[disjoint]
            reductions[f"{g.name}/{m}"] = before - results[m].barriers[disjoint]
    family, verdicts = alignment_decision(
        reductions, alpha=cfg.alpha, n_permutations=cfg.n_permutations, seed=cfg.data_seed
    )
    put(ctx, family.as_results("alignment/tests"))
    for name, v in verdicts.items():
        put(ctx, v.as_results(f"alignment/{name}"))
    ctx.state["verdicts"] = dict(verdicts)


# --- step 3: width sweep ------------------------------------------------------------------------


def width(ctx: RunContext) -> None:
    """Train ensembles of every width in the sweep on the first ensemble's data and align them."""
    cfg = _cfg(ctx)
    groups = _groups(ctx)
    if not cfg.width_sweep or not groups:
        ctx.state["width_verdicts"] = {}
        return
    base = groups[0]
    depth = base.model.n_layers - 1
    first = cfg.seed + (0 if cfg.from_run else cfg.seeds * len(cfg.tasks))
    alphas = alpha_grid(cfg.n_alphas)
    methods = ["none", *cfg.methods]
    median = np.full((len(methods), len(cfg.width_sweep)), np.nan)
    q25, q75, frac = median.copy(), median.copy(), median.copy()
    trained_counts = np.zeros(len(cfg.width_sweep), dtype=np.int64)
    units_w: dict[str, list[float]] = {m: [] for m in cfg.methods}
    units_b: dict[str, list[float]] = {m: [] for m in cfg.methods}
    for k, w in enumerate(cfg.width_sweep):
        start = first + k * cfg.width_seeds
        model, trained = train_group(
            ctx, f"width {w}", base.x, base.y, widths=(w,) * depth,
            activation=base.model.activation, loss=base.loss,
            seeds=range(start, start + cfg.width_seeds),
            progress=(k * cfg.steps, len(cfg.width_sweep) * cfg.steps),
        )  # fmt: skip
        trained_counts[k] = int(trained.sum())
        if trained.sum() < 2:
            continue
        kept = model.select(np.flatnonzero(trained).tolist())
        pairs, disjoint = pair_set(kept.n_seeds, cfg.max_pairs, cfg.data_seed)
        results = compare_pairs(
            kept, pairs, base.x, base.y, base.loss, alphas, methods=cfg.methods,
            normalization=cfg.normalization(kept.activation),
            definition=cfg.barrier_definition, max_sweeps=cfg.max_sweeps, match_seed=cfg.data_seed,
        )  # fmt: skip
        for i, m in enumerate(methods):
            b = results[m].barriers
            median[i, k], q25[i, k], q75[i, k] = np.quantile(b, [0.5, 0.25, 0.75])
            frac[i, k] = float(np.mean(b < cfg.lmc_threshold))
        for m in cfg.methods:
            units_w[m] += [float(w)] * len(disjoint)
            units_b[m] += results[m].barriers[disjoint].tolist()
    labels = {"method": methods, "width": [str(w) for w in cfg.width_sweep]}
    saved = (
        ("barrier_median", median, "median barrier"),
        ("barrier_q25", q25, "25% quantile of the barrier"),
        ("barrier_q75", q75, "75% quantile of the barrier"),
        ("lmc_fraction", frac, f"fraction of pairs below {cfg.lmc_threshold:g}"),
    )
    for name, arr, what in saved:
        ctx.save_array(f"width/{name}", arr, axes=("method", "width"), labels=labels,
                       description=f"{what} at each width")  # fmt: skip
    ctx.save_array("width/trained", trained_counts, axes=("width",), labels=labels)
    family, verdicts = width_decision(
        {m: np.array(v) for m, v in units_w.items()}, {m: np.array(v) for m, v in units_b.items()},
        alpha=cfg.alpha, n_permutations=cfg.n_permutations, seed=cfg.data_seed,
    )  # fmt: skip
    put(ctx, family.as_results("width/tests"))
    for m, v in verdicts.items():
        put(ctx, v.as_results(f"width/{m}"))
    for i, m in enumerate(methods):
        for k, w in enumerate(cfg.width_sweep):
            put(ctx, {f"width/{m}/w{w}/median": float(median[i, k])})
    ctx.state["width_verdicts"] = verdicts


# --- step 5: summary ------------------------------------------------------------------------------


def summary(ctx: RunContext) -> None:
    """Write summary.md and the headline."""
    cfg = _cfg(ctx)
    results: dict[str, Any] = ctx.state.get("results", {})
    verdicts: dict[str, Verdict] = dict(ctx.state.get("verdicts", {}))
    verdicts.update({f"width/{k}": v for k, v in ctx.state.get("width_verdicts", {}).items()})
    same: Verdict | None = ctx.state.get("same_verdict")
    text, headline = summary_markdown(cfg, [g.name for g in _groups(ctx)], results, verdicts, same)
    ctx.write_text("summary.md", text)
    ctx.set_result("summary/finding", headline)
