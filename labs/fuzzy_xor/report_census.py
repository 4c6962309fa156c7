"""Markdown for the fuzzy-XOR census: verdict, computations, redundancy and the threshold sweep."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from workbench.core.inference import Verdict

from .census import CensusSweep
from .computations import ComputationClasses
from .config import FuzzyXorConfig
from .redundancy import CreaseCensus

__all__ = ["census_markdown"]


def _range(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}–{hi}"


def census_markdown(
    *,
    cfg: FuzzyXorConfig,
    sweep: CensusSweep,
    classes: ComputationClasses,
    verdict: Verdict,
    crease: CreaseCensus,
    converged: npt.NDArray[np.bool_],
) -> str:
    """The sections after the default-threshold census, verdict first."""
    tol = int(np.ceil(cfg.stable_fraction * max(sweep.n_converged, 1)))
    lines = [
        "## Verdict",
        "",
        f"**{verdict.word}** — {verdict.claim}: {verdict.reason}.",
        "",
        f"Claim read as: a computation other than the most common one is followed by at least "
        f"π_min = {cfg.minority_share:g} of the networks that fit a construction "
        f"(min_classified = {cfg.min_classified}, α = {cfg.alpha:g}; exact binomial tests at "
        f"each of the {len(sweep.settings)} threshold settings, combined as intersection–union "
        "tests for and against, Holm over the two).",
        "",
        "## Constructions and computations",
        "",
        "Constructions that build the same layer-by-layer feature spaces (up to affine maps and "
        "pass-through units, e.g. relu(x) = x + relu(−x)) are one *computation*:",
        "",
        "| computation | constructions | networks (range over settings) |",
        "|---|---|---|",
    ]
    ranges = sweep.ranges("computations")
    for name, members in zip(classes.names, classes.members, strict=True):
        lo, hi = ranges[name]
        lines.append(f"| {name} | {', '.join(members)} | {_range(lo, hi)} |")
    lo, hi = ranges["none"]
    lines += [f"| none | – | {_range(lo, hi)} |", ""]
    shared = int(((crease.max_per_crease > 1) & converged).sum())
    finite = crease.redundancy[converged & np.isfinite(crease.redundancy)]
    median = f"{np.median(finite):.2f}" if finite.size else "–"
    lines += [
        "## Redundancy",
        "",
        f"In **{shared}** of {sweep.n_converged} converged networks several informative "
        f"first-layer units sit on one crease (crease_tol = {cfg.crease_tol:g}); the median "
        f"is {median} units per crease. relu(z) and relu(−z) share a crease because their "
        "difference is affine.",
        "",
        "## Robustness to the classification thresholds",
        "",
        f"Every network was reclassified at {len(sweep.settings)} settings: relevance ∈ "
        f"{list(cfg.relevance_sweep)}, affine_threshold ∈ {list(cfg.affine_sweep)}, "
        f"fit_threshold ∈ {list(cfg.fit_sweep)}. A census is *stable* when no count moves by "
        f"more than {tol} networks (stable_fraction = {cfg.stable_fraction:g} of converged).",
        "",
        f"- constructions: **{'stable' if sweep.stable('constructions', tol) else 'unstable'}**",
        f"- computations: **{'stable' if sweep.stable('computations', tol) else 'unstable'}**",
        "",
        "| construction | networks (min–max over settings) |",
        "|---|---|",
    ]
    for name, (lo, hi) in sweep.ranges("constructions").items():
        if hi > 0:
            lines.append(f"| {name} | {_range(lo, hi)} |")
    lines.append("")
    return "\n".join(lines)
