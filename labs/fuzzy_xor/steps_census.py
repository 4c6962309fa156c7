"""The fuzzy-XOR lab's last steps: computations, redundancy, the threshold sweep and the verdict.

Reads what :mod:`.steps` left in ``ctx.state`` (the grid activations, the neuron statuses, the
construction signatures and labels) and writes ``computation/*``, ``redundancy/*``,
``robustness/*``, ``verdict/*`` and ``summary.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.lab import RunContext

from .census import CLAIM, census_verdict, sweep_census
from .computations import computation_classes
from .config import FuzzyXorConfig
from .fuzzy import unit_square_grid
from .redundancy import crease_census
from .report import summary_markdown
from .report_census import census_markdown

__all__ = ["layer_results", "robustness", "summary"]


def _config(ctx: RunContext) -> FuzzyXorConfig:
    config: FuzzyXorConfig = ctx.config
    return config


def layer_results(
    sizes: tuple[int, ...],
    informative: npt.NDArray[np.bool_],
    best_r2: npt.NDArray[np.float64],
    converged: npt.NDArray[np.bool_],
    matched_r2: float,
) -> dict[str, float | int]:
    """Matching read layer by layer: informative neurons and match quality per hidden layer.

    Args:
        sizes: ``(d_in, *hidden, d_out)``.
        informative: (seed, n_hidden) bool.
        best_r2: (seed, n_hidden) best candidate R².
        converged: (seed,) bool.
        matched_r2: R² at which a neuron counts as matched.
    """
    out: dict[str, float | int] = {}
    start = 0
    for layer, width in enumerate(sizes[1:-1], 1):
        cols = slice(start, start + width)
        start += width
        used = informative[:, cols] & converged[:, None]
        r2 = best_r2[:, cols][used]
        out[f"match/layer{layer}/informative"] = int(used.sum())
        out[f"match/layer{layer}/mean_best_r2"] = float(r2.mean()) if r2.size else float("nan")
        out[f"match/layer{layer}/matched_fraction"] = (
            float((r2 >= matched_r2).mean()) if r2.size else float("nan")
        )
    return out


def robustness(ctx: RunContext) -> None:
    """Computation classes, crease redundancy, and the census at every threshold setting."""
    cfg = _config(ctx)
    state = ctx.state
    grid = unit_square_grid(cfg.grid, dtype=torch.float64, device=ctx.device)
    converged: npt.NDArray[np.bool_] = state["converged"]
    classes = computation_classes(state["references"], grid)
    # 1. Computation classes of the default-threshold labels.
    members = {name: " ".join(group) for name, group in zip(classes.names, classes.members,
                                                            strict=True)}  # fmt: skip
    class_labels = [classes.label(lab) for lab in state["strategy_labels"]]
    found = sorted({c for c in class_labels if c in classes.names})
    ctx.set_results(
        {
            "computation/classes": len(classes.names),
            "computation/distinct": len(found),
            **{f"computation/{c}/count": class_labels.count(c) for c in classes.names},
            **{f"computation/{c}/members": members[c] for c in classes.names},
        }
    )
    # 2. Redundancy: units per crease among informative first-layer units.
    informative: torch.Tensor = state["informative"]
    first = informative[:, : cfg.widths[0]]
    census = crease_census(state["model"], first, crease_tol=cfg.crease_tol)
    ctx.save_array("redundancy/creases", census.creases, axes=("seed",))
    ctx.save_array("redundancy/units", census.units, axes=("seed",))
    ctx.save_array(
        "redundancy/units_per_crease",
        census.redundancy,
        axes=("seed",),
        description=f"informative first-layer units per distinct crease (crease_tol = "
        f"{cfg.crease_tol:g})",
    )
    shared = (census.max_per_crease > 1) & converged
    ctx.set_results(
        {
            "redundancy/crease_tol": cfg.crease_tol,
            "redundancy/nets_with_shared_crease": int(shared.sum()),
            "redundancy/units_per_crease/median": (
                float(np.nanmedian(census.redundancy[converged]))
                if np.isfinite(census.redundancy[converged]).any()
                else float("nan")
            ),
        }
    )
    # 3. The census at every combination of the swept thresholds.
    sweep = sweep_census(
        state["grid_acts"],
        state["constant"],
        state["affine_span"],
        state["ablation"],
        converged,
        state["signatures"],
        classes,
        relevance=cfg.relevance_sweep,
        affine_threshold=cfg.affine_sweep,
        fit_threshold=cfg.fit_sweep,
    )
    setting_labels = [f"rel={r:g} aff={a:g} fit={f:g}" for r, a, f in sweep.settings]
    ctx.save_array(
        "robustness/settings",
        sweep.settings,
        axes=("setting", "threshold"),
        labels={"setting": setting_labels,
                "threshold": ["relevance", "affine_threshold", "fit_threshold"]},
    )  # fmt: skip
    ctx.save_array(
        "robustness/construction_counts",
        sweep.construction_counts,
        axes=("setting", "construction"),
        labels={"setting": setting_labels, "construction": [*sweep.constructions, "none"]},
        description="networks following each construction at each threshold setting",
    )
    ctx.save_array(
        "robustness/computation_counts",
        sweep.computation_counts,
        axes=("setting", "computation"),
        labels={"setting": setting_labels, "computation": [*sweep.computations, "none"]},
        description="networks following each computation class at each threshold setting",
    )
    tolerance = int(np.ceil(cfg.stable_fraction * max(sweep.n_converged, 1)))
    results: dict[str, float | int | str | bool] = {
        "robustness/settings": len(setting_labels),
        "robustness/stable_tolerance": tolerance,
        "robustness/constructions/stable": sweep.stable("constructions", tolerance),
        "robustness/computations/stable": sweep.stable("computations", tolerance),
    }
    for level in ("constructions", "computations"):
        for name, (lo, hi) in sweep.ranges(level).items():
            results[f"robustness/{level}/{name}/min"] = lo
            results[f"robustness/{level}/{name}/max"] = hi
    verdict, family = census_verdict(
        sweep.computation_counts,
        minority_share=cfg.minority_share,
        alpha=cfg.alpha,
        min_classified=cfg.min_classified,
    )
    results.update(verdict.as_results("verdict"))
    results.update(family.as_results("verdict/tests"))
    results["verdict/claim"] = CLAIM
    results["summary/finding"] = verdict.line()
    ctx.set_results(results)
    state.update(census_sweep=sweep, verdict=verdict, classes=classes, crease=census)


def summary(ctx: RunContext) -> None:
    """Write summary.md: the strategy census, then computations, robustness and the verdict."""
    cfg = _config(ctx)
    state: dict[str, Any] = ctx.state
    text = summary_markdown(**state["summary_args"])
    text += census_markdown(
        cfg=cfg,
        sweep=state["census_sweep"],
        classes=state["classes"],
        verdict=state["verdict"],
        crease=state["crease"],
        converged=state["converged"],
    )
    ctx.write_text("summary.md", text)
