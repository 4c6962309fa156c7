"""The path-dependence lab's summary.md and headline, from its results and verdicts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from workbench.core.inference import Verdict

from .config import PathDependenceConfig

__all__ = ["summary_markdown"]


def _num(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3g}"
    return str(value)


def summary_markdown(
    cfg: PathDependenceConfig,
    groups: Sequence[str],
    results: Mapping[str, Any],
    verdicts: Mapping[str, Verdict],
    same: Verdict | None,
) -> tuple[str, str]:
    """The Markdown summary and the one-line headline.

    Args:
        cfg: The run's config (the arbitrary choices are printed beside the numbers).
        groups: Ensemble names.
        results: The run's ``[results]`` so far.
        verdicts: Alignment and width verdicts by name.
        same: The "same thing, three ways" verdict, if that step ran.
    """
    methods = ["none", "normalized", *cfg.methods]
    lines = [
        "# Path dependence: linear mode connectivity after permutation alignment",
        "",
        f"Barrier: **{cfg.barrier_definition}** on {cfg.n_alphas} points of the straight path "
        f"(max_α L(θ_α) − [(1−α)L_A + αL_B]; the other definition's median is in the results). "
        f"Linearly mode connected: barrier < **{cfg.lmc_threshold:g}** (swept over "
        f"{', '.join(f'{t:g}' for t in cfg.lmc_sweep)} in `<ensemble>/lmc_fraction`). "
        f"Normalisation before matching: `{cfg.normalize}`. Tests: Holm at α = {cfg.alpha:g}, "
        f"{cfg.n_permutations} permutations, disjoint pairs of nets as replicates.",
        "",
        "| ensemble | nets | pairs | method | median barrier | 90% | max | connected |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for g in groups:
        for m in methods:
            key = f"{g}/barrier/{m}"
            if f"{key}/median" not in results:
                continue
            lines.append(
                f"| {g} | {_num(results.get(f'{g}/nets', ''))} | "
                f"{_num(results.get(f'{g}/pairs', ''))} | {m} | {_num(results[f'{key}/median'])} | "
                f"{_num(results[f'{key}/q90'])} | {_num(results[f'{key}/max'])} | "
                f"{_num(results[f'{g}/lmc/{m}/fraction'])} |"
            )
    lines += ["", "## Verdicts", ""]
    for v in verdicts.values():
        lines.append(f"- **{v.claim}** — {v.line()}")
    if same is not None:
        lines.append(f"- **{same.claim}** — {same.line()}")
        aris = {k: v for k, v in results.items() if k.startswith("same/") and k.endswith("/ari")}
        for key, value in aris.items():
            name = key[len("same/") : -len("/ari")]
            p = results.get(f"same/tests/{name}/p_holm", math.nan)
            note = (
                "not testable: a partition is one cluster or all singletons"
                if isinstance(p, float) and math.isnan(p)
                else f"Holm p = {_num(p)}"
            )
            lines.append(f"  - ARI {name}: {_num(value)} ({note})")
    if cfg.width_sweep:
        lines += ["", "## Width sweep (median barrier)", "",
                  "| method | " + " | ".join(str(w) for w in cfg.width_sweep) + " |",
                  "| --- |" + " --- |" * len(cfg.width_sweep)]  # fmt: skip
        for m in ["none", *cfg.methods]:
            row = [_num(results.get(f"width/{m}/w{w}/median", math.nan)) for w in cfg.width_sweep]
            lines.append(f"| {m} | " + " | ".join(row) + " |")
    main = "weight" if "weight" in cfg.methods else cfg.methods[-1]
    parts = []
    for g in groups:
        before, after = (
            results.get(f"{g}/barrier/none/median"),
            results.get(f"{g}/barrier/{main}/median"),
        )
        if before is not None and after is not None:
            frac = results.get(f"{g}/lmc/{main}/fraction", math.nan)
            parts.append(f"{g} {_num(before)}→{_num(after)} ({_num(100 * frac)}% LMC)")
    headline = f"median barrier, {main} matching: " + "; ".join(parts)
    if same is not None:
        headline += f"; same thing: {same.word}"
    return "\n".join(lines) + "\n", headline
