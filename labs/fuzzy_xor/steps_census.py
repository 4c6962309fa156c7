"""The fuzzy-XOR lab's census steps: strategies, computations, robustness, and the verdict.

Reads what :mod:`.steps` left in ``ctx.state`` (the grid activations, the neuron statuses, the
construction signatures and labels) and writes ``computation/*``, ``redundancy/*``,
``robustness/*``, ``verdict/*`` and ``summary.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.ensemble import EnsembleMLP
from workbench.core.lab import RunContext

from .census import CLAIM, census_verdict, sweep_census
from .computations import computation_classes
from .fuzzy import unit_square_grid
from .neurons import neuron_names
from .redundancy import crease_census
from .references import ReferenceNetwork
from .report import matches_markdown, summary_markdown
from .report_census import census_markdown
from .steps import MATCHED_R2, _config, _grid
from .strategies import (
    NONE,
    UNCONVERGED,
    classify_strategies,
    cluster_profiles,
    construction_signatures,
    score_strategies,
    strategy_counts,
    strategy_names,
)

__all__ = ["robustness", "strategies", "summary"]


# --- step 5: strategies -------------------------------------------------------------------


def strategies(ctx: RunContext) -> None:
    """Assign each network its closest construction, cluster the ensemble and count."""
    cfg = _config(ctx)
    model: EnsembleMLP = ctx.state["model"]
    refs: tuple[ReferenceNetwork, ...] = ctx.state["references"]
    converged: np.ndarray[Any, Any] = ctx.state["converged"]
    acts: torch.Tensor = ctx.state["grid_acts"]
    informative: torch.Tensor = ctx.state["informative"]
    profiles: np.ndarray[Any, Any] = ctx.state["profiles"]
    library = ctx.state["library"]
    grid = _grid(ctx)

    # 1. Score every network against every construction; label by the best.
    signatures = construction_signatures(refs, grid)
    scores = score_strategies(acts, informative, signatures)
    codes = classify_strategies(scores, converged, threshold=cfg.fit_threshold)
    labels = strategy_names(codes, scores.names)
    counts = strategy_counts(codes, scores.names)
    # 2. Cluster the converged networks by their match profiles.
    clusters = cluster_profiles(profiles, converged, max_distance=cfg.cluster_distance)
    n_clusters = int(clusters.max())
    columns = [*scores.names, NONE]
    cross = np.zeros((n_clusters, len(columns)), dtype=np.int64)
    for cluster, label in zip(clusters, labels, strict=True):
        if cluster > 0:
            cross[cluster - 1, columns.index(label)] += 1
    cluster_profile = (
        np.stack([profiles[clusters == k].mean(axis=0) for k in range(1, n_clusters + 1)])
        if n_clusters
        else np.zeros((0, len(library)))
    )

    construction_axis = {"construction": list(scores.names)}
    for name, array, text in (
        ("score", scores.score, "harmonic mean of coverage and purity"),
        ("coverage", scores.coverage, "mean R² of the best one-to-one assignment"),
        ("purity", scores.purity, "mean best R² of the informative neurons"),
    ):
        ctx.save_array(
            f"strategy/{name}",
            array,
            axes=("seed", "construction"),
            labels=construction_axis,
            description=text,
        )
    ctx.save_array(
        "strategy/label",
        codes,
        axes=("seed",),
        description="construction index, -1 none, -2 unconverged",
    )
    ctx.save_array("strategy/cluster", clusters, axes=("seed",), description="0: not converged")
    ctx.save_array(
        "strategy/cluster_by_strategy",
        cross,
        axes=("cluster", "strategy"),
        labels={"cluster": [str(k) for k in range(1, n_clusters + 1)], "strategy": columns},
        description="networks per profile cluster and strategy",
    )
    ctx.save_array(
        "strategy/cluster_profile",
        cluster_profile,
        axes=("cluster", "candidate"),
        labels={
            "cluster": [str(k) for k in range(1, n_clusters + 1)],
            "candidate": list(library.names),
        },
        description="mean match profile of each cluster",
    )
    n_converged = int(converged.sum())
    n_clustered = int(cross.sum())
    agreement = float(cross.max(axis=1).sum() / n_clustered) if n_clustered else float("nan")
    best_scores = scores.score.max(axis=1)[converged]
    results: dict[str, float | int | str] = {
        f"strategy/{name}/count": count for name, count in counts.items()
    }
    results.update(
        {
            "strategy/distinct": sum(
                1 for k, v in counts.items() if v > 0 and k not in (NONE, UNCONVERGED)
            ),
            "strategy/clusters": n_clusters,
            "strategy/cluster_agreement": agreement,
            "strategy/score/median": (
                float(np.median(best_scores)) if best_scores.size else float("nan")
            ),
        }
    )
    if n_converged:
        found = [k for k in counts if k != UNCONVERGED]
        results["strategy/most_common"] = max(found, key=lambda k: counts[k])
    ctx.set_results(results)

    status = ctx.state["status"]
    matches = ctx.state["matches"]
    ctx.write_text(
        "matches.md",
        matches_markdown(
            list(model.seeds),
            neuron_names(model.sizes),
            list(library.names),
            matches.top_index.cpu().numpy(),
            matches.top_r2.cpu().numpy(),
            status,
            labels,
        ),
    )
    # The summary is written by the last step, once the census has been swept.
    ctx.state["summary_args"] = dict(
        n_seeds=model.n_seeds,
        widths=cfg.widths,
        steps=cfg.steps,
        converged=n_converged,
        counts=counts,
        fit_threshold=cfg.fit_threshold,
        too_deep=[net.name for net in refs if len(net.widths) > len(cfg.widths)],
        cluster_sizes=[int(row.sum()) for row in cross],
        cluster_strategies=[columns[int(row.argmax())] for row in cross],
        cluster_functions=[
            [library.names[i] for i in np.flatnonzero(p >= MATCHED_R2)] for p in cluster_profile
        ],
        cluster_agreement=agreement,
    )
    ctx.state.update(signatures=signatures, strategy_labels=labels)


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
