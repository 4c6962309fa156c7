"""The steps of the channels lab: what each computes and writes.

Cells of the sweep are (activation, init scale, depth, width); every cell is one ensemble of
``seeds`` networks trained or measured as one batched model. Fractions are I(X; layer) / H(X)
for the last hidden layer, H(X) = n_bits (uniform binary inputs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.lab import RunContext
from workbench.core.tasks import all_inputs, make_task

from . import dropout as dr
from . import gaussian_report as gr
from .config import ChannelsConfig
from .gaussian import (
    STAGES,
    GaussianCell,
    GaussianSweep,
    MineSettings,
    measure_gaussian,
    reference_information,
)
from .nets import build_ensemble, hidden_layers, jacobian_gram, layer_information, train
from .spectra import LayerSpectra, layer_spectra

__all__ = ["Cell", "dropout_channel", "gaussian", "init_map", "spectra", "trained_map"]

FloatArray = npt.NDArray[np.float64]


@dataclass
class Cell:
    """One cell of the binary sweep and what was measured in it.

    Attributes:
        info_init: ``(seed, layer)`` bits at the map's resolution, at init.
        sweep_init: ``(resolution, seed)`` bits of the last hidden layer at each resolution.
        info_trained: ``(seed, layer)`` bits after training (scale-1 cells only).
        spectra: Per hidden layer, init and trained spectra (widths >= 3, scale 1).
    """

    activation: str
    scale: float
    depth: int
    width: int
    info_init: FloatArray
    sweep_init: FloatArray
    info_trained: FloatArray | None = None
    spectra: dict[str, list[LayerSpectra]] = field(default_factory=dict)
    entropy: dict[str, FloatArray] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.activation}/s{self.scale:g}/d{self.depth}/w{self.width}"


def _cfg(ctx: RunContext) -> ChannelsConfig:
    config: ChannelsConfig = ctx.config
    return config


def _seeds(cfg: ChannelsConfig) -> list[int]:
    return list(range(cfg.seed, cfg.seed + cfg.seeds))


def width_labels(cfg: ChannelsConfig) -> list[str]:
    return [f"w{w}" for w in cfg.widths]


def depth_labels(cfg: ChannelsConfig) -> list[str]:
    return [f"d{d}" for d in cfg.depths]


# --- step 1: the map at init --------------------------------------------------------------------


def init_map(ctx: RunContext) -> None:
    """MI of every hidden layer with the input at init, over the whole sweep, exactly."""
    cfg = _cfg(ctx)
    x = all_inputs(cfg.n_bits).to(ctx.device)
    cells: list[Cell] = []
    total = len(cfg.activations) * len(cfg.init_scales) * len(cfg.depths) * len(cfg.widths)
    for act in cfg.activations:
        for scale in cfg.init_scales:
            grid = np.zeros((len(cfg.depths), len(cfg.widths)))
            for i, depth in enumerate(cfg.depths):
                for j, width in enumerate(cfg.widths):
                    model = build_ensemble(
                        width, depth, act, scale, _seeds(cfg), cfg.n_bits, 1, ctx.device
                    )
                    layers = hidden_layers(model, x)
                    info = np.stack([layer_information(h, cfg.resolution) for h in layers], 1)
                    sweep = np.stack(
                        [layer_information(layers[-1], r) for r in cfg.resolution_sweep]
                    )
                    cells.append(Cell(act, scale, depth, width, info, sweep))
                    grid[i, j] = info[:, -1].mean() / cfg.n_bits
                    ctx.progress(len(cells), total)
            ctx.save_array(
                f"map/{act}/init/scale{scale:g}",
                grid,
                axes=("depth", "width"),
                labels={"depth": depth_labels(cfg), "width": width_labels(cfg)},
                description=f"mean I(X; last hidden)/H(X) at init, {act}, init scale {scale:g}",
            )
    ctx.state["cells"] = cells
    _invertible_case(ctx, x)


def _invertible_case(ctx: RunContext, x: torch.Tensor) -> None:
    """The commenter's net: square (width = n_bits), leaky-relu, the deepest depth, at init."""
    cfg = _cfg(ctx)
    depth = max(cfg.depths)
    model = build_ensemble(
        cfg.n_bits, depth, "leaky-relu", 1.0, _seeds(cfg), cfg.n_bits, 1, ctx.device
    )
    layers = hidden_layers(model, x)
    exact = np.stack([layer_information(h, 0.0) for h in layers], axis=1)  # (seed, layer)
    at_res = np.stack([layer_information(h, cfg.resolution) for h in layers], axis=1)
    ctx.state["invertible"] = exact
    ctx.save_array(
        "invertible/information",
        np.stack([exact.mean(0), at_res.mean(0)]),
        axes=("resolution", "layer"),
        labels={
            "resolution": ["exact", f"r={cfg.resolution:g}"],
            "layer": [f"h{i + 1}" for i in range(depth)],
        },
        description="square leaky-relu net at init: mean I(X; layer), bits",
    )
    ctx.set_results(
        {
            "invertible/min_bits_exact": float(exact.min()),
            "invertible/mean_bits_at_resolution": float(at_res.mean()),
            "invertible/depth": depth,
        }
    )


# --- step 2: trained nets -----------------------------------------------------------------------


def trained_map(ctx: RunContext) -> None:
    """Train the scale-1 cells on the task; MI per layer after training; spectra before/after."""
    cfg = _cfg(ctx)
    x = all_inputs(cfg.n_bits).to(ctx.device)
    task = make_task(cfg.task, cfg.n_bits, task_seed=cfg.task_seed)
    y = task.targets.to(ctx.device, torch.float32).unsqueeze(1)
    cells = [c for c in ctx.state["cells"] if c.scale == 1.0]
    if not cells:
        ctx.logger.warning("init_scales has no 1.0: no cell is trained")
    for index, cell in enumerate(cells):
        model = build_ensemble(
            cell.width, cell.depth, cell.activation, 1.0, _seeds(cfg), cfg.n_bits, 1, ctx.device
        )
        if cell.width >= 3:
            cell.spectra["init"], cell.entropy["init"] = _spectra_of(model, x, cfg.resolution)

        def on_progress(done: int, total: int, i: int = index) -> None:
            ctx.progress(i + done / total, len(cells))

        train(model, x, y, cfg.train_steps, cfg.lr, on_progress)
        layers = hidden_layers(model, x)
        cell.info_trained = np.stack([layer_information(h, cfg.resolution) for h in layers], 1)
        if cell.width >= 3:
            cell.spectra["trained"], cell.entropy["trained"] = _spectra_of(model, x, cfg.resolution)
    for act in cfg.activations:
        side = np.full((len(cfg.depths), 2 * len(cfg.widths)), math.nan)
        for cell in cells:
            if cell.activation != act or cell.info_trained is None:
                continue
            i, j = cfg.depths.index(cell.depth), cfg.widths.index(cell.width)
            side[i, j] = cell.info_init[:, -1].mean() / cfg.n_bits
            side[i, len(cfg.widths) + j] = cell.info_trained[:, -1].mean() / cfg.n_bits
        ctx.save_array(
            f"map/{act}/init_vs_trained",
            side,
            axes=("depth", "width"),
            labels={
                "depth": depth_labels(cfg),
                "width": [f"i{w}" for w in cfg.widths] + [f"t{w}" for w in cfg.widths],
            },
            description=f"I(X; last hidden)/H(X), {act}, scale 1: init (i) | trained (t)",
        )


def _spectra_of(
    model: Any, x: torch.Tensor, resolution: float
) -> tuple[list[LayerSpectra], FloatArray]:
    layers = hidden_layers(model, x)
    grams = jacobian_gram(model, x)
    spectra = [layer_spectra(h, g, resolution) for h, g in zip(layers, grams, strict=True)]
    entropy = np.stack([layer_information(h, resolution) for h in layers], axis=1)
    return spectra, entropy


# --- step 3: Gaussian inputs --------------------------------------------------------------------


def gaussian(ctx: RunContext) -> None:
    """I(X; noisy last hidden layer) for Gaussian X at init and trained: exact, KSG and MINE."""
    cfg = _cfg(ctx)
    acts = ("linear", *[a for a in cfg.activations if a != "linear"])
    sweep = GaussianSweep(
        acts,
        cfg.gaussian_widths,
        cfg.depths,
        list(range(cfg.seed, cfg.seed + cfg.gaussian_seeds)),
        cfg.gaussian_dim,
        cfg.gaussian_samples,
        cfg.noise,
        cfg.train_steps,
        cfg.lr,
        cfg.seed,
        cfg.task_seed,
    )
    mine = MineSettings(cfg.mine_steps, cfg.mine_estimators, cfg.mine_lr, cfg.mine_batch)
    cells = measure_gaussian(sweep, mine, ctx.device, on_progress=ctx.progress)
    ctx.state["gaussian"] = cells
    ref = reference_information(cfg.gaussian_dim, cfg.noise)
    biases = gr.linear_bias(cells)
    ctx.state["gaussian_bias"] = biases
    gr.save_arrays(ctx, cfg, acts, cells, biases, ref)
    results: dict[str, float | int | str | bool] = {"gaussian/reference_bits": ref}
    for stage in STAGES:
        linear = [c for c in cells if c.activation == "linear" and c.stage == stage]
        cover = np.concatenate([(c.mine_low <= c.exact) & (c.exact <= c.mine_high) for c in linear])
        # The init keys keep their names; the trained ones live under .../trained/.
        prefix = "gaussian/linear" if stage == "init" else "gaussian/linear/trained"
        for kind in gr.ESTIMATORS:
            err = np.concatenate([getattr(c, kind) - c.exact for c in linear])
            results[f"{prefix}/{kind}_error_mean"] = float(err.mean())
        results[f"{prefix}/mine_coverage"] = float(cover.mean())
        results[f"{prefix}/exact_mean_bits"] = float(np.mean([c.exact for c in linear]))
    results["gaussian/linear/nets"] = sum(c.exact.size for c in cells if c.activation == "linear")
    results |= {f"gaussian/bias/{b.estimator}/{b.stage}/w{b.width}": b.mean for b in biases}
    results["gaussian/within_bias"] = len(gr.flagged(cells, biases))
    ctx.set_results(results)


def gaussian_fractions(cells: list[GaussianCell], ref: float) -> dict[str, FloatArray]:
    """Per cell name, the KSG fraction I/reference per seed (the map's Gaussian counterpart)."""
    return {f"{c.activation}/d{c.depth}/w{c.width}/{c.stage}": c.ksg / ref for c in cells}


# --- step 4: the dropout channel ----------------------------------------------------------------


def dropout_channel(ctx: RunContext) -> None:
    """Train codes through dropout at every rate (one batched model); exact MI across it."""
    cfg = _cfg(ctx)
    x = all_inputs(cfg.n_bits).to(ctx.device)
    rates = list(cfg.dropout_rates)
    k = cfg.dropout_seeds
    seeds = list(range(cfg.seed, cfg.seed + k))
    model = dr.DropoutCodes(
        [r for r in rates for _ in seeds],
        seeds * len(rates),
        cfg.n_bits,
        cfg.code_units,
        cfg.code_levels,
        cfg.dropout_hidden,
        ctx.device,
    )
    before = model.levels_of(x)
    curve = dr.train_codes(
        model, x, cfg.dropout_steps, cfg.lr, cfg.seed, on_progress=lambda d, t: ctx.progress(d, t)
    )
    after = model.levels_of(x)
    m, levels = cfg.code_units, cfg.code_levels
    info = np.stack(
        [dr.code_information(after[i * k : (i + 1) * k], r, levels) for i, r in enumerate(rates)]
    )
    info0 = np.stack(
        [dr.code_information(before[i * k : (i + 1) * k], r, levels) for i, r in enumerate(rates)]
    )
    cap = np.array([dr.capacity(r, m, levels) for r in rates])
    rows = np.stack(
        [
            cap,
            np.array([dr.theorem_lower_bound(r, m, levels) for r in rates]),
            np.array([dr.proof_lower_bound(r, m, levels) for r in rates]),
            info.mean(axis=1),
            info0.mean(axis=1),
        ]
    )
    ctx.save_array(
        "dropout/capacity_curve",
        rows,
        axes=("curve", "rate"),
        labels={
            "curve": ["(1-D)C", "theorem lower", "proof lower", "trained", "init"],
            "rate": [f"{r:g}" for r in rates],
        },
        description="bits across the dropout layer against the rate D",
    )
    ctx.save_array(
        "dropout/information",
        info,
        axes=("rate", "seed"),
        labels={"rate": [f"{r:g}" for r in rates]},
        description="exact I(X; dropout(code)) of each trained net, bits",
    )
    ctx.save_array("dropout/loss", curve, axes=("step",), description="mean reconstruction BCE")
    ctx.state["dropout"] = (info, cap, info0)
    ctx.set_results(
        {f"dropout/D={r:g}/bits_mean": float(info[i].mean()) for i, r in enumerate(rates)}
        | {
            f"dropout/D={r:g}/fraction_of_capacity": float(info[i].mean() / cap[i])
            for i, r in enumerate(rates)
        }
        | {"dropout/max_excess_over_capacity": float((info - cap[:, None]).max())}
    )


# --- step 5: spectra ----------------------------------------------------------------------------


def spectra(ctx: RunContext) -> None:
    """Save the widest deepest cell's spectra per activation, and every layer's α and bounds."""
    cfg = _cfg(ctx)
    cells = [c for c in ctx.state["cells"] if c.spectra]
    for act in cfg.activations:
        mine = [c for c in cells if c.activation == act]
        if not mine:
            continue
        top = max(mine, key=lambda c: (c.width, c.depth))
        for when in ("init", "trained"):
            for i, s in enumerate(top.spectra[when]):
                ctx.save_array(
                    f"spectra/{act}/{when}/covariance/layer{i + 1}",
                    s.covariance.mean(axis=0),
                    axes=("rank",),
                    description=f"mean covariance spectrum, {top.name}, {when}",
                )
                ctx.save_array(
                    f"spectra/{act}/{when}/jacobian/layer{i + 1}",
                    s.jacobian.mean(axis=0),
                    axes=("rank",),
                    description=f"mean eigenvalues of E[JJᵀ], {top.name}, {when}",
                )
        alpha = {
            w: np.concatenate([s.alpha for c in mine for s in c.spectra[w]])
            for w in ("init", "trained")
        }
        ctx.set_results(
            {f"spectra/{act}/alpha_{w}_median": float(np.nanmedian(a)) for w, a in alpha.items()}
        )
