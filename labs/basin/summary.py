"""The summary step: per-net broadness, the two claims, the robustness sweep and the scatters."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.core.inference import TestFamily, Verdict, seeds_for_power
from workbench.core.lab import RunContext

from .analysis import (
    BROADNESS,
    Comparison,
    Correlation,
    broader_claim,
    compare_groups,
    correlate,
    stores_less_claim,
)
from .calibration import Check, summary_line
from .config import BasinConfig
from .curvature import Curvature, floors, thresholds
from .llc import LLCRun
from .report import ReportData, summary_markdown

__all__ = ["RobustRow", "broadness_table", "summarize"]

FloatArray = npt.NDArray[np.float64]
RobustRow = tuple[str, str, Comparison]
"""(setting label, measure, comparison) of the robustness sweep."""


def broadness_table(ctx: RunContext) -> dict[str, dict[str, FloatArray]]:
    """task → measure → ``(seed,)`` values at the main settings."""
    cfg: BasinConfig = ctx.config
    curv: dict[str, Curvature] = ctx.state["curvature"]
    run: LLCRun = ctx.state["llc"]
    vols = ctx.state["volume"]
    out: dict[str, dict[str, FloatArray]] = {}
    for name, cur in curv.items():
        rows = run.task_of_net == name
        out[name] = {
            "llc": run.main.llc[0, rows],
            "hessian_trace": cur.trace,
            "quadratic_log_volume": cur.log_volume[0, 0],
            "mc_log_volume": vols[name][cfg.threshold].log_volume,
        }
    return out


def _robustness(ctx: RunContext, simple: str, complex_: str) -> list[RobustRow]:
    cfg: BasinConfig = ctx.config
    curv: dict[str, Curvature] = ctx.state["curvature"]
    vols = ctx.state["volume"]
    run: LLCRun = ctx.state["llc"]
    rows: list[RobustRow] = []

    def add(label: str, measure: str, a: Any, b: Any) -> None:
        rows.append(
            (
                label,
                measure,
                compare_groups(
                    measure, a, b, BROADNESS[measure], n_permutations=cfg.n_permutations
                ),
            )
        )

    for ti, t in enumerate(thresholds(cfg)):
        add(
            f"T={t:g}",
            "quadratic_log_volume",
            curv[simple].log_volume[0, ti],
            curv[complex_].log_volume[0, ti],
        )
        add(f"T={t:g}", "mc_log_volume", vols[simple][t].log_volume, vols[complex_][t].log_volume)
    for fi, f in enumerate(floors(cfg)):
        add(
            f"floor={f:g}",
            "quadratic_log_volume",
            curv[simple].log_volume[fi, 0],
            curv[complex_].log_volume[fi, 0],
        )
    main = run.main
    for k in sorted({1, 2, cfg.chains // 2, cfg.chains} - {0}):
        lam = main.llc_first_chains(k)[0]
        add(f"chains={k}", "llc", lam[run.task_of_net == simple], lam[run.task_of_net == complex_])
    if run.sweep is not None:
        # Euler–Maruyama is stable along curvature a while εa/2 < 1; a = nβλ_max + γ.
        top = max(float(np.median(curv[simple].top)), float(np.median(curv[complex_].top)))
        for s, (kind, value) in enumerate(run.sweep_labels):
            setting = run.sweep.settings[s]
            lam = run.sweep.llc[s]
            stability = setting.step_size * (setting.nbeta * top + setting.localization) / 2
            flag = f"; unstable: ε(nβλ_max+γ)/2 = {stability:.2g} > 1" if stability > 1 else ""
            add(
                f"{kind}={value:g} (first {cfg.sweep_seeds}{flag})",
                "llc",
                lam[run.task_of_sweep_net == simple],
                lam[run.task_of_sweep_net == complex_],
            )
    return rows


def _scatter(ctx: RunContext, table: dict[str, dict[str, FloatArray]]) -> None:
    entropy: dict[str, FloatArray] = ctx.state["entropy"]
    names = list(table)
    n_layers = next(iter(entropy.values())).shape[1]
    layer = max(0, n_layers - 2)  # the last hidden layer
    for measure in BROADNESS:
        pts = [
            np.stack([table[n][measure], entropy[n][:, layer], np.full(len(entropy[n]), i)], axis=1)
            for i, n in enumerate(names)
        ]
        ctx.save_array(
            f"scatter/{measure}_vs_entropy_layer{layer + 1}",
            np.concatenate(pts),
            axes=("seed", "coord"),
            labels={"coord": [measure, f"H(layer{layer + 1}) bits", "task"], "task": names},
            description=f"{measure} against the last hidden layer's entropy, one point per net",
        )


def summarize(ctx: RunContext) -> None:
    """Both verdicts with their families, the robustness table, scatters and summary.md."""
    cfg: BasinConfig = ctx.config
    checks: list[Check] = ctx.state["calibration"]
    table = broadness_table(ctx)
    entropy: dict[str, FloatArray] = ctx.state["entropy"]
    missed = [c for c in checks if not c.ok]
    note = summary_line(checks) if missed else ""
    results: dict[str, float | int | str | bool] = {}
    simple, complex_ = cfg.simple_task, cfg.complex_task
    comparisons: list[Comparison] = []
    robust: list[RobustRow] = []
    if simple in table and complex_ in table:
        comparisons = [
            compare_groups(
                m, table[simple][m], table[complex_][m], sign, n_permutations=cfg.n_permutations
            )
            for m, sign in BROADNESS.items()
        ]
        robust = _robustness(ctx, simple, complex_)
        broader, fam1 = broader_claim(comparisons, cfg.alpha, calibration_note=note)
    else:
        fam1 = TestFamily("simple vs complex task", alpha=cfg.alpha)
        broader = Verdict(
            "simple functions sit in broader basins",
            "not testable",
            f"needs trained nets of both {simple!r} and {complex_!r}; measured: {sorted(table)}",
        )
    correlations: list[Correlation] = []
    for name, measures in table.items():
        layers = [f"layer{i + 1}" for i in range(entropy[name].shape[1])]
        correlations += correlate(
            name, measures, entropy[name], layers, n_permutations=cfg.n_permutations
        )
    stores, fam2 = stores_less_claim(correlations, cfg.alpha, calibration_note=note)
    for c in comparisons:
        p = f"compare/{c.measure}"
        results.update(
            {
                f"{p}/mean_{simple}": c.mean_simple,
                f"{p}/mean_{complex_}": c.mean_complex,
                f"{p}/broader_by": c.broader_by,
                f"{p}/lo": c.lo,
                f"{p}/hi": c.hi,
                f"{p}/cohens_d": c.cohens_d,
                f"{p}/p": c.p_value,
                f"{p}/seeds_for_power": seeds_for_power(
                    abs(c.cohens_d), cfg.alpha / max(1, fam1.size)
                )
                if math.isfinite(c.cohens_d)
                else math.nan,
            }
        )
    for cor in correlations:
        results[f"correlation/{cor.name}/rho"] = cor.rho
    for label, measure, c in robust:
        results[f"robustness/{label}/{measure}/broader_by"] = c.broader_by
        results[f"robustness/{label}/{measure}/p"] = c.p_value
    results.update(broader.as_results("verdict/broader"))
    results.update(fam1.as_results("family/broader"))
    results.update(stores.as_results("verdict/stores_less"))
    results.update(fam2.as_results("family/stores_less"))
    results["summary/finding"] = f"broader: {broader.word}; stores less: {stores.word}" + (
        " (calibration missed)" if missed else ""
    )
    ctx.set_results(results)
    if table:
        _scatter(ctx, table)
    ctx.write_text(
        "summary.md",
        summary_markdown(
            ReportData(
                cfg=cfg,
                nets=ctx.state["nets"],
                checks=checks,
                comparisons=comparisons,
                correlations=correlations,
                robust=robust,
                broader=broader,
                stores=stores,
                family_broader=fam1,
                family_stores=fam2,
                table=table,
                llc=ctx.state["llc"],
                curvature=ctx.state["curvature"],
            )
        ),
    )
