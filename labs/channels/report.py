"""The summary step: every verdict, its robustness sweep, and summary.md."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from workbench.core.inference import Verdict
from workbench.core.lab import RunContext

from . import dropout as dr
from . import gaussian_report as gr
from . import verdicts as vd
from .config import ChannelsConfig
from .gaussian import reference_information
from .steps import Cell, depth_labels, width_labels

__all__ = ["summary"]

FloatArray = npt.NDArray[np.float64]


def _scarce_map(ctx: RunContext, cfg: ChannelsConfig, cells: list[Cell]) -> Verdict:
    """Default verdict, the per-cell map, and the resolution × threshold sweep."""
    names = [c.name for c in cells]
    fractions = np.stack([c.info_init[:, -1] for c in cells]) / cfg.n_bits  # (cell, seed)
    verdict, family = vd.scarce_verdict(
        fractions, names, cfg.scarce_fraction, cfg.alpha, cfg.n_permutations
    )
    signs = vd.cell_map(family)
    for act in cfg.activations:
        for scale in cfg.init_scales:
            grid = np.zeros((len(cfg.depths), len(cfg.widths)))
            for c, s in zip(cells, signs, strict=True):
                if c.activation == act and c.scale == scale:
                    grid[cfg.depths.index(c.depth), cfg.widths.index(c.width)] = s
            ctx.save_array(
                f"map/{act}/verdict/scale{scale:g}",
                grid,
                axes=("depth", "width"),
                labels={"depth": depth_labels(cfg), "width": width_labels(cfg)},
                description="+1 scarce, -1 abundant, 0 not established (Holm)",
            )
    ctx.set_results(
        verdict.as_results("verdict/scarce")
        | {
            "map/scarce_cells": int(np.count_nonzero(signs > 0)),
            "map/abundant_cells": int(np.count_nonzero(signs < 0)),
            "map/cells": len(cells),
        }
    )
    scarce = np.zeros((len(cfg.resolution_sweep), len(cfg.scarce_fraction_sweep)))
    abundant = np.zeros_like(scarce)
    for i in range(len(cfg.resolution_sweep)):
        f = np.stack([c.sweep_init[i] for c in cells]) / cfg.n_bits
        for j, threshold in enumerate(cfg.scarce_fraction_sweep):
            s = vd.cell_map(
                vd.scarce_verdict(f, names, threshold, cfg.alpha, cfg.n_permutations)[1]
            )
            scarce[i, j], abundant[i, j] = np.mean(s > 0), np.mean(s < 0)
    labels = {
        "resolution": [f"{r:g}" for r in cfg.resolution_sweep],
        "threshold": [f"{t:g}" for t in cfg.scarce_fraction_sweep],
    }
    ctx.save_array(
        "robustness/scarce_cells",
        scarce,
        axes=("resolution", "threshold"),
        labels=labels,
        description="share of cells significantly scarce",
    )
    ctx.save_array(
        "robustness/abundant_cells",
        abundant,
        axes=("resolution", "threshold"),
        labels=labels,
        description="share of cells significantly abundant",
    )
    return verdict


def _capacity(ctx: RunContext, cfg: ChannelsConfig) -> Verdict:
    info, cap, _ = ctx.state["dropout"]
    rates = list(cfg.dropout_rates)
    verdict, _ = vd.capacity_verdict(
        info, cap, rates, cfg.capacity_tolerance, cfg.alpha, cfg.n_permutations
    )
    results: dict[str, float | int | str | bool] = dict(verdict.as_results("verdict/capacity"))
    for tol in cfg.capacity_tolerance_sweep:
        v, _ = vd.capacity_verdict(info, cap, rates, tol, cfg.alpha, cfg.n_permutations)
        results[f"robustness/capacity/tolerance={tol:g}"] = v.word
    ratio = info / cap[:, None]
    results["dropout/fraction_of_capacity_min_mean"] = float(ratio.mean(axis=1).min())
    proof = np.array([dr.proof_lower_bound(r, cfg.code_units, cfg.code_levels) for r in rates])
    results["dropout/share_above_proof_lower_bound"] = float(np.mean(info >= proof[:, None]))
    ctx.set_results(results)
    return verdict


def _spectra_verdicts(ctx: RunContext, cfg: ChannelsConfig, cells: list[Cell]) -> list[Verdict]:
    with_spectra = [c for c in cells if c.spectra]
    out: list[Verdict] = []
    measured, stated, scale, r2 = [], [], [], []
    for c in with_spectra:
        for when in ("init", "trained"):
            for i, s in enumerate(c.spectra[when]):
                measured.append(c.entropy[when][:, i])
                stated.append(s.bound_stated)
                scale.append(s.bound_scale)
                r2.append(s.r_squared)
    if measured:
        m, b1, b2 = np.concatenate(measured), np.concatenate(stated), np.concatenate(scale)
        # The theorem assumes a power-law spectrum: judge it on layers whose fit says so.
        law = np.concatenate(r2) >= cfg.power_law_r2
        m = np.where(law, m, np.nan)
        which = f"layers with power-law fit r² >= {cfg.power_law_r2:g}"
        out.append(vd.bound_verdict(m, b1, f"as stated, α of the eigenvalues; {which}"))
        out.append(vd.bound_verdict(m, b2, f"scales α/2 + Gaussian term; {which}"))
        everywhere = vd.bound_verdict(np.concatenate(measured), b2, "every layer")
        ctx.set_results(
            {
                "spectra/power_law_layers": int(np.count_nonzero(law)),
                "spectra/layers": int(law.size),
                "spectra/bound_scale_all_layers": everywhere.line(),
            }
        )
    alpha = {
        w: {
            a: np.concatenate(
                [s.alpha for c in with_spectra if c.activation == a for s in c.spectra[w]]
                or [np.zeros(0)]
            )
            for a in cfg.activations
        }
        for w in ("init", "trained")
    }
    v, _ = vd.spectrum_change_verdict(
        alpha["init"], alpha["trained"], cfg.alpha, cfg.n_permutations
    )
    out.append(v)
    pairs = {
        w: (
            np.concatenate(
                [s.pr_covariance for c in with_spectra for s in c.spectra[w]] or [np.zeros(0)]
            ),
            np.concatenate(
                [s.pr_jacobian for c in with_spectra for s in c.spectra[w]] or [np.zeros(0)]
            ),
        )
        for w in ("init", "trained")
    }
    v, _ = vd.jacobian_verdict(pairs, cfg.alpha, cfg.n_permutations)
    out.append(v)
    keys = ("bound_stated", "bound_scale", "alpha_change", "jacobian")
    for key, verdict in zip(keys[-len(out) :], out, strict=True):
        ctx.set_results(verdict.as_results(f"verdict/{key}"))
    return out


def summary(ctx: RunContext) -> None:
    """Every claim's verdict, the sweeps, and summary.md."""
    cfg: ChannelsConfig = ctx.config
    cells: list[Cell] = ctx.state["cells"]
    lines = ["# Channels: scarce channels, dropout capacity and spectra", ""]
    scarce = _scarce_map(ctx, cfg, cells)
    invertible = vd.invertible_verdict(ctx.state["invertible"], cfg.n_bits)
    ctx.set_results(invertible.as_results("verdict/invertible"))
    trained = [c for c in cells if c.info_trained is not None]
    verdicts = [scarce, invertible]
    if trained:
        v, _ = vd.training_verdict(
            np.stack([c.info_init[:, -1] for c in trained]) / cfg.n_bits,
            np.stack([c.info_trained[:, -1] for c in trained if c.info_trained is not None])
            / cfg.n_bits,
            [c.name for c in trained],
            cfg.alpha,
            cfg.n_permutations,
        )
        ctx.set_results(v.as_results("verdict/training"))
        verdicts.append(v)
    verdicts.append(_capacity(ctx, cfg))
    verdicts += _spectra_verdicts(ctx, cfg, cells)
    lines += ["## Verdicts", ""]
    lines += [f"- **{v.claim}** — {v.line()}" for v in verdicts]
    info, cap, info0 = ctx.state["dropout"]
    lines += [
        "",
        "## Dropout channel (exact bits)",
        "",
        "| D | capacity | trained mean | trained / capacity | init mean |",
        "| --- | --- | --- | --- | --- |",
    ]
    for i, r in enumerate(cfg.dropout_rates):
        lines.append(
            f"| {r:g} | {cap[i]:.3f} | {info[i].mean():.3f} | "
            f"{info[i].mean() / cap[i]:.3f} | {info0[i].mean():.3f} |"
        )
    ref = reference_information(cfg.gaussian_dim, cfg.noise)
    lines += ["", *gr.gaussian_section(ctx.state["gaussian"], ctx.state["gaussian_bias"], ref,
                                       cfg.noise)]  # fmt: skip
    lines += [
        "",
        "## Choices that shape these results",
        "",
        f"- resolution {cfg.resolution:g} (in layer standard deviations); swept "
        f"{list(cfg.resolution_sweep)} in `robustness/*_cells`",
        f"- scarce threshold {cfg.scarce_fraction:g}·H(X); swept {list(cfg.scarce_fraction_sweep)}",
        f"- capacity tolerance {cfg.capacity_tolerance:g}; swept "
        f"{list(cfg.capacity_tolerance_sweep)} in `robustness/capacity/*`",
        f"- {cfg.seeds} nets per cell, {cfg.dropout_seeds} per dropout rate, α = "
        f"{cfg.alpha:g} (Holm within each family)",
        f"- Gaussian noise {cfg.noise:g}× the layer's standard deviation; {cfg.gaussian_seeds} "
        f"nets per Gaussian cell, {cfg.gaussian_samples} samples; KSG k = 3",
        f"- MINE: {cfg.mine_estimators} estimators, {cfg.mine_steps} steps, lr {cfg.mine_lr:g}, "
        f"batch {cfg.mine_batch} (chosen by measuring the error on the linear cells; the sweep "
        "is in labs/channels/gaussian.py); a Gaussian estimate is flagged † when |estimate| ≤ "
        "|bias| of its estimator on linear nets of the same width and stage",
    ]
    ctx.write_text("summary.md", "\n".join(lines) + "\n")
    ctx.set_result(
        "summary/finding",
        f"scarce: {scarce.word}; invertible: {invertible.word}; "
        f"capacity: {verdicts[3 if trained else 2].word}",
    )
