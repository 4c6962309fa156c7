"""The toy-tasks lab's ``summary.md``: the verdict first, then every number that shaped it.

Every arbitrary choice (tol and its mode, the grouping rule, the trained threshold,
``min_trained``, the flag's majority and float ulps, permutations, α) is printed next to the
result it shapes; the robustness grid sweeps the ones that can move the answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from workbench.core.inference import TestFamily, Verdict

from .config import arch_label
from .grouping import RESOLUTION_ULPS
from .measure import FLAG_FRACTION, LayerMeasures
from .stats import SettingTests
from .training import EnsembleRun, threshold_label

if TYPE_CHECKING:
    from .config import ToyTasksConfig

__all__ = ["ReportData", "summary_markdown"]


@dataclass(frozen=True)
class ReportData:
    """Everything the summary reports (built by :func:`.verdicts.summary`)."""

    cfg: ToyTasksConfig
    runs: Mapping[str, EnsembleRun]
    measures: Mapping[str, LayerMeasures | None]
    baseline: Mapping[str, LayerMeasures]
    verdict: Verdict
    family: TestFamily
    main: SettingTests | None
    init: SettingTests | None
    flags: npt.NDArray[np.bool_]
    power: Mapping[str, float]
    sides: Any
    robustness: Mapping[float, Any]
    grid: Sequence[tuple[str, float]]


def _f(v: float, spec: str = ".3f") -> str:
    return "n/a" if v != v else format(v, spec)


def _p(v: float) -> str:
    return "n/a" if v != v else f"{v:.2g}"


def _ms(values: npt.NDArray[np.float64]) -> str:
    if values.size == 0:
        return "n/a"
    sd = float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
    return f"{values.mean():.3f} ± {_f(sd)}"


def summary_markdown(d: ReportData) -> str:
    """The summary report as Markdown."""
    cfg = d.cfg
    n_layers = len(cfg.widths) + 1
    keys = [f"layer{i}" for i in range(1, n_layers + 1)]
    tol_words = (
        f"tol = {cfg.tol:g} × the layer's mean distance between inputs"
        if cfg.tol_mode == "relative"
        else f"tol = {cfg.tol:g} (absolute)"
    )
    lines = [
        "# Toy tasks: do nets trained on a simple function store less information?",
        "",
        f"**{d.verdict.word}**: {d.verdict.reason}",
        "",
        f"Claim: {d.verdict.claim}.",
        "",
        f"Set-up: {cfg.seeds} nets per ensemble, {cfg.n_bits}-bit inputs (all {2**cfg.n_bits} "
        f"used), hidden widths {list(cfg.widths)} ({cfg.activation}), {cfg.optimizer} lr "
        f"{cfg.lr:g}, {cfg.loss} loss, at most {cfg.steps} steps; random-lookup is "
        f"{cfg.lookup_tables} table(s) (task_seed {cfg.task_seed}). A net is *trained* when its "
        f"loss is below {cfg.loss_threshold:g}; an ensemble with fewer than min_trained = "
        f"{cfg.min_trained} trained nets is left out. Two inputs share a code when their mean "
        f"|difference| per unit is within {tol_words}, grouped by the **{cfg.rule}** rule.",
        "",
        "| ensemble | trained | diverged | median final loss | what it computes |",
        "|---|---|---|---|---|",
    ]
    for name, run in d.runs.items():
        if run.widths != tuple(cfg.widths):
            continue
        lines.append(
            f"| {name} | {int(run.trained.sum())} / {run.trained.size} | "
            f"{int(run.result.diverged.sum())} | {np.nanmedian(run.result.final_loss):.2g} | "
            f"{run.task.description} |"
        )
    lines += _entropy_section(d, keys)
    if d.main is not None:
        lines += _effects_section(d, d.main, keys, "Effects at the main setting")
    if d.init is not None:
        lines += _effects_section(d, d.init, keys, "The same tests at init (a built-in null)")
    lines += _robustness_section(d, keys)
    lines += _power_section(d, keys)
    lines += _sweep_section(d)
    lines += _curve_section(d, keys)
    lines += [
        "",
        "## Tests and choices",
        "",
        f"Family: {d.family.description} — the claim per layer at the main setting, per table "
        "and over tables, the same at init, and the claim's test at every robustness setting; "
        f"{d.family.size} tests, Holm-corrected at family-wise "
        f"α = {cfg.alpha:g}. Net-level tests: two-sided permutation tests of the difference in "
        f"mean entropy ({cfg.n_permutations} shuffles, drawn once and reused for every layer and "
        "setting). Over tables: a Welch-type test of the first task's mean against the mean of the "
        "tables' means (tables are the replicates, the first task a fixed function); Crawford & "
        "Howell's single-case p ('unlike one more random table?') is a cross-check, not a "
        "separate test. "
        f"Layers flagged 'tolerance below the nets' precision' (tol_eff < max(output residual, "
        f"{RESOLUTION_ULPS:g} float32 ulps of the layer's largest activation) in at least "
        f"{FLAG_FRACTION:.0%} of the nets) are left out of the claim at that setting.",
        "",
    ]
    return "\n".join(lines)


def _group_measures(d: ReportData, group: str, source: Mapping[str, Any]) -> LayerMeasures | None:
    ms = [
        m
        for n, r in d.runs.items()
        if r.group == group and r.widths == tuple(d.cfg.widths) and (m := source.get(n)) is not None
    ]
    if not ms:
        return None
    cat = {
        f: np.concatenate([getattr(m, f) for m in ms]) for f in LayerMeasures.__dataclass_fields__
    }
    return LayerMeasures(**cat)


def _entropy_section(d: ReportData, keys: list[str]) -> list[str]:
    groups = list(dict.fromkeys(r.group for r in d.runs.values()))
    lines = [
        "",
        "## Entropy of each layer (bits; trained mean ± std, with the random-init baseline)",
        "",
        "| layer | " + " | ".join(f"{g} | {g} at init | I(layer; y)" for g in groups) + " |",
        "|---|" + "---|---|---|" * len(groups),
    ]
    per = {
        g: (_group_measures(d, g, d.measures), _group_measures(d, g, d.baseline)) for g in groups
    }
    for i, key in enumerate(keys):
        cells = []
        for g in groups:
            m, b = per[g]
            cells += [
                _ms(m.entropy[:, i]) if m else "n/a",
                _ms(b.entropy[:, i]) if b else "n/a",
                _f(float(m.mi_target[:, i].mean())) if m else "n/a",
            ]
        label = key + (" (out)" if i == len(keys) - 1 else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Each layer is a function of the uniformly distributed input, so I(X; layer) = H(layer) "
        "exactly; the numbers are exact over all inputs, the spread is across initialisations.",
        "",
        "Precision (median over the trained nets of all ensembles): the tolerance actually used, "
        "the nets' precision there, and the smallest distance between two distinct codes.",
        "",
        "| layer | tol_eff | precision | closest distinct codes | below precision | flag |",
        "|---|---|---|---|---|---|",
    ]
    all_m = [m for m in d.measures.values() if m is not None and m.entropy.shape[1] == len(keys)]
    for i, key in enumerate(keys):
        if not all_m:
            break
        tol = np.concatenate([m.tol_eff[:, i] for m in all_m])
        prec = np.concatenate([m.precision[:, i] for m in all_m])
        dist = np.concatenate([m.min_distance[:, i] for m in all_m])
        below = np.concatenate([m.below_precision[:, i] for m in all_m]).mean()
        flag = "**tolerance below the nets' precision**" if d.flags[i] else ""
        lines.append(
            f"| {key} | {np.median(tol):.2g} | {np.median(prec):.2g} | "
            f"{np.median(dist[np.isfinite(dist)]) if np.isfinite(dist).any() else float('nan'):.2g}"
            f" | {below:.0%} | {flag} |"
        )
    return lines


def _effects_section(d: ReportData, t: SettingTests, keys: list[str], title: str) -> list[str]:
    adj = d.family.adjusted()
    prefix = "init/" if t is d.init else ""
    lines = [
        "",
        f"## {title}",
        "",
        f"Effect = mean H({d.sides.b}) − mean H({d.sides.a}) in bits: positive means "
        f"{d.sides.a} stores less. p: raw; Holm: adjusted over the family.",
        "",
    ]
    if t.excluded:
        lines += [f"Left out (fewer than min_trained trained nets): {', '.join(t.excluded)}.", ""]
    head = "| layer | " + " | ".join(f"{c} Δ (p, Holm)" for c in t.clusters)
    if t.over_tables:
        head += f" | over {len(t.clusters)} tables Δ, t (p, Holm) | single-case p"
    lines += [head + " |", "|---|" + "---|" * (len(t.clusters) + 2 * t.over_tables)]
    for i, key in enumerate(keys):
        cells = []
        for c, cluster in enumerate(t.clusters):
            h = adj.get(f"{prefix}{cluster}/{key}", float("nan"))
            cells.append(f"{t.per_effect[0, c, i]:+.3f} ({_p(t.per_p[0, c, i])}, {_p(h)})")
        if t.over_tables:
            h = adj.get(f"{prefix}over-tables/{key}", float("nan"))
            cells.append(
                f"{t.over_effect[0, i]:+.3f}, {t.over_t[0, i]:+.2f} ({_p(t.over_p[0, i])}, {_p(h)})"
            )
            cells.append(_p(t.single_p[0, i]))
        flag = " (flagged: left out)" if d.flags[i] else ""
        lines.append(f"| {key}{flag} | " + " | ".join(cells) + " |")
    return lines


def _robustness_section(d: ReportData, keys: list[str]) -> list[str]:
    if not d.robustness:
        return []
    adj = d.family.adjusted()
    n_settings = len(d.robustness) * len(d.grid)
    lines = [
        "",
        "## Robustness: the claim's test at every trained threshold × rule × tol",
        "",
        f"{n_settings} settings: thresholds {[threshold_label(t) for t in d.robustness]}, rules "
        f"chained and leader, tol in {[f'{t:g}' for t in d.cfg.tol_sweep]} ({d.cfg.tol_mode}). "
        "Counts of settings where the first task stores significantly less / more (Holm over "
        "the whole family) / neither / not testable (flagged or too few trained nets).",
        "",
        "| layer | less | more | neither | not testable | effect range (bits) |",
        "|---|---|---|---|---|---|",
    ]
    for i, key in enumerate(keys):
        less = more = neither = untestable = 0
        effects: list[float] = []
        for threshold, (tests, flags) in d.robustness.items():
            for si, (rule, tol) in enumerate(d.grid):
                if isinstance(tests, str) or flags[si, i]:
                    untestable += 1
                    continue
                suffix = "over-tables" if tests.over_tables else tests.clusters[0]
                eff = float(
                    (tests.over_effect if tests.over_tables else tests.per_effect[:, 0])[si, i]
                )
                effects.append(eff)
                name = f"robust/{threshold_label(threshold)}/{rule}/{tol:g}/{suffix}/{key}"
                p = adj.get(name, float("nan"))
                if p <= d.cfg.alpha:
                    less, more = less + (eff > 0), more + (eff < 0)
                else:
                    neither += 1
        span = f"{min(effects):+.3f} … {max(effects):+.3f}" if effects else "n/a"
        lines.append(f"| {key} | {less} | {more} | {neither} | {untestable} | {span} |")
    return lines


def _power_section(d: ReportData, keys: list[str]) -> list[str]:
    if not d.power:
        return []
    alpha = d.family.alpha / max(1, d.family.size)
    n, k = d.cfg.seeds, d.cfg.lookup_tables
    lines = [
        "",
        f"## Power (80%, at the Holm floor α/m = {alpha:.2g}, for the effects observed)",
        "",
        f"| layer | over tables: power now | tables needed ({n} nets each) | nets per "
        f"ensemble needed ({k} tables) | per table: median d | nets per ensemble needed |",
        "|---|---|---|---|---|---|",
    ]
    nan = float("nan")
    for key in keys:
        g = d.power.get
        lines.append(
            f"| {key} | {_f(g(f'{key}/power', nan), '.0%')} | "
            f"{_f(g(f'{key}/tables_needed', nan), '.0f')} | "
            f"{_f(g(f'{key}/nets_needed_over_tables', nan), '.0f')} | "
            f"{_f(g(f'{key}/per_table_d', nan), '+.2f')} | "
            f"{_f(g(f'{key}/nets_needed', nan), '.0f')} |"
        )
    lines += [
        "",
        "Normal approximations (inf: no count up to the search limit reaches 80%); the per-table "
        "formula n = 2 (z_{1-α/2} + z_{0.8})² / d² is slightly optimistic below ~10 nets.",
    ]
    return lines


def _sweep_section(d: ReportData) -> list[str]:
    archs = d.cfg.architectures()
    if len(archs) < 2:
        return []
    groups = list(dict.fromkeys(r.group for r in d.runs.values()))
    lines = [
        "",
        "## Entropy against width and depth (mean over trained nets, bits; descriptive)",
        "",
        "| architecture | " + " | ".join(groups) + " |",
        "|---|" + "---|" * len(groups),
    ]
    for widths in archs:
        cells = []
        for g in groups:
            ms = [
                m
                for n, r in d.runs.items()
                if r.group == g and r.widths == widths and (m := d.measures.get(n)) is not None
            ]
            if not ms:
                cells.append("n/a")
                continue
            h = np.concatenate([m.entropy for m in ms]).mean(axis=0)
            cells.append(
                " / ".join(f"{v:.2f}" for v in h) + f" (n = {sum(m.entropy.shape[0] for m in ms)})"
            )
        lines.append(f"| {arch_label(widths)} | " + " | ".join(cells) + " |")
    return lines


def _curve_section(d: ReportData, keys: list[str]) -> list[str]:
    groups = [g for g in dict.fromkeys(r.group for r in d.runs.values())]
    rows = []
    for g in groups:
        curves = [r.curves for r in d.runs.values() if r.group == g and r.curves is not None]
        if not curves:
            continue
        h = np.concatenate([c.entropy for c in curves], axis=1)  # (step, net, layer)
        first, last = np.nanmedian(h[0], axis=0), np.nanmedian(h[-1], axis=0)
        cells = " / ".join(f"{a:.2f} → {b:.2f}" for a, b in zip(first, last, strict=True))
        rows.append(f"| {g} | {cells} |")
    if not rows:
        return []
    return [
        "",
        f"## Entropy during training (every {d.cfg.snapshot_every} steps; arrays curves/*)",
        "",
        "Median over all nets (trained or not) at step 0 → the last step, layer by layer:",
        "",
        "| task | " + " / ".join(keys) + " |",
        "|---|---|",
        *rows,
    ]
