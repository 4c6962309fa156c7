"""The toy-tasks lab's ``summary.md``: tables and plain statements of what the data supports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .analysis import Comparison

if TYPE_CHECKING:
    from .config import ToyTasksConfig

__all__ = ["LayerFinding", "PairFindings", "TaskSummary", "summary_markdown"]


@dataclass(frozen=True)
class TaskSummary:
    """One task's ensemble in numbers.

    Attributes:
        name: Task name.
        description: One line.
        n_trained: Networks below ``loss_threshold`` (the main analysis uses these).
        n_networks: Networks trained.
        n_diverged: Networks whose loss became NaN or infinite.
        entropy_mean: ``(layer,)`` mean H over the trained networks, bits.
        entropy_std: ``(layer,)`` sample standard deviation, bits.
    """

    name: str
    description: str
    n_trained: int
    n_networks: int
    n_diverged: int
    entropy_mean: npt.NDArray[np.float64]
    entropy_std: npt.NDArray[np.float64]


@dataclass(frozen=True)
class LayerFinding:
    """Task a against task b in one layer.

    Attributes:
        layer: ``layer1`` ... ``layerL``.
        comparison: Entropies at the main setting.
        main: Verdict at the main setting: +1 a keeps significantly less
            information than b, -1 more, 0 no significant difference.
        settings: ``(threshold, tol)`` verdicts of the robustness sweep.
    """

    layer: str
    comparison: Comparison
    main: int
    settings: npt.NDArray[np.int8]


@dataclass(frozen=True)
class PairFindings:
    """All layers of one task pair."""

    a: str
    b: str
    layers: list[LayerFinding]


def summary_markdown(
    cfg: ToyTasksConfig,
    tasks: Sequence[TaskSummary],
    pairs: Sequence[PairFindings],
    *,
    thresholds: Sequence[float],
    tols: Sequence[float],
    alpha: float,
) -> str:
    """Write the summary report.

    Args:
        cfg: The run's config.
        tasks: One summary per task.
        pairs: Findings for each pair of tasks (a before b in the config's order).
        thresholds: The robustness sweep's thresholds for "trained" (rows of ``settings``).
        tols: The sweep's tolerances (columns of ``settings``).
        alpha: The per-layer significance level (already Bonferroni-corrected).

    Returns:
        Markdown text.
    """
    n_layers = len(cfg.widths) + 1
    lines = [
        "# Toy tasks: how much information does each layer keep?",
        "",
        f"{cfg.seeds} networks per task, {cfg.n_bits}-bit inputs (all {2**cfg.n_bits} used), "
        f"hidden widths {list(cfg.widths)} ({cfg.activation}), {cfg.optimizer} lr {cfg.lr:g}, "
        f"{cfg.loss} loss, at most {cfg.steps} steps. A network counts as *trained* when its "
        f"loss is below {cfg.loss_threshold:g}; two activation vectors are *the same* when their "
        f"mean |difference| per unit is at most tol = {cfg.tol:g}.",
        "",
        "| task | trained | diverged | what it computes |",
        "|---|---|---|---|",
    ]
    for t in tasks:
        lines.append(
            f"| {t.name} | {t.n_trained} / {t.n_networks} | {t.n_diverged} | {t.description} |"
        )
    lines += [
        "",
        "## Entropy of each layer (bits, mean ± std over trained networks)",
        "",
        "| layer | " + " | ".join(t.name for t in tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for i in range(n_layers):
        name = f"layer{i + 1}" + (" (out)" if i == n_layers - 1 else "")
        cells = [f"{t.entropy_mean[i]:.3f} ± {t.entropy_std[i]:.3f}" for t in tasks]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Each layer is a deterministic function of the input and the {2**cfg.n_bits} inputs "
        "are equally likely, so its mutual information with the input equals its entropy, "
        "I(X; layer) = H(layer) - H(layer | X) = H(layer) (computed both ways; see "
        "`*/mi_input/max_gap_to_entropy`). The numbers are exact for these inputs, not "
        "estimates: the spread is across random initialisations only.",
    ]
    n_settings = len(thresholds) * len(tols)
    for pair in pairs:
        lines += _pair_section(pair, thresholds, tols, alpha, n_settings)
    lines += ["", "## What the data supports", ""]
    if not pairs:
        lines.append("Only one task was trained, so there is nothing to compare.")
    for pair in pairs:
        lines += [f"- {s}" for s in _statements(pair)]
    lines += [
        "",
        f"Significance: two-sided permutation test of the difference in mean entropy "
        f"({cfg.n_permutations} label shuffles), at α = {cfg.alpha:g} Bonferroni-corrected "
        f"over {n_layers} layers (p < {alpha:.3g}). Robustness: the same test at every "
        f"'trained' threshold in {[f'{t:g}' for t in thresholds]} (each network as it was "
        f"when its loss first fell below it) and every tol in {[f'{t:g}' for t in tols]}.",
        "",
    ]
    return "\n".join(lines)


def _pair_section(
    pair: PairFindings,
    thresholds: Sequence[float],
    tols: Sequence[float],
    alpha: float,
    n_settings: int,
) -> list[str]:
    lines = [
        "",
        f"## {pair.a} against {pair.b}",
        "",
        f"Δ = mean H({pair.b}) − mean H({pair.a}). The last columns count the {n_settings} "
        f"robustness settings where {pair.a} keeps significantly less / more information "
        "or the difference is not significant.",
        "",
        f"| layer | {pair.a} | {pair.b} | Δ (bits) | p | verdict | less / more / unclear |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in pair.layers:
        c = f.comparison
        counts = (int((f.settings == 1).sum()), int((f.settings == -1).sum()))
        unclear = f.settings.size - counts[0] - counts[1]
        lines.append(
            f"| {f.layer} | {c.mean_a:.3f} | {c.mean_b:.3f} | {c.difference:+.3f} | "
            f"{_p(c.p_value)} | {_verdict_text(f.main, pair)} | "
            f"{counts[0]} / {counts[1]} / {unclear} |"
        )
    for f in pair.layers:
        if f.settings.size and len(np.unique(f.settings)) > 1:
            lines += _settings_grid(f, pair, thresholds, tols)
    return lines


def _settings_grid(
    f: LayerFinding, pair: PairFindings, thresholds: Sequence[float], tols: Sequence[float]
) -> list[str]:
    """A threshold × tol table of verdicts for one layer whose verdict changes."""
    symbol = {1: "less", -1: "**more**", 0: "·"}
    lines = [
        "",
        f"{f.layer}: does {pair.a} keep less or more information than {pair.b}? "
        "(· = no significant difference)",
        "",
        "| trained below | " + " | ".join(f"tol {t:g}" for t in tols) + " |",
        "|---|" + "---|" * len(tols),
    ]
    for i, threshold in enumerate(thresholds):
        cells = [symbol[int(v)] for v in f.settings[i]]
        lines.append(f"| {threshold:g} | " + " | ".join(cells) + " |")
    return lines


def _statements(pair: PairFindings) -> list[str]:
    """Plain sentences: per direction, which layers and how robustly."""
    out = []
    robust_less = [f.layer for f in pair.layers if f.settings.size and (f.settings == 1).all()]
    robust_more = [f.layer for f in pair.layers if f.settings.size and (f.settings == -1).all()]
    if robust_less:
        out.append(
            f"**Supported:** {pair.a} networks keep less information than {pair.b} networks "
            f"in {_join(robust_less)}, at every 'trained' threshold and tolerance tried."
        )
    if robust_more:
        out.append(
            f"**Supported:** {pair.a} networks keep more information than {pair.b} networks "
            f"in {_join(robust_more)}, at every 'trained' threshold and tolerance tried."
        )
    for f in pair.layers:
        if f.layer in robust_less or f.layer in robust_more or not f.settings.size:
            continue
        less, more = int((f.settings == 1).sum()), int((f.settings == -1).sum())
        if less == 0 and more == 0:
            continue
        neither = f.settings.size - less - more
        flips = " The direction itself flips with the settings." if less and more else ""
        out.append(
            f"**Depends on the arbitrary choices:** in {f.layer}, {pair.a} keeps significantly "
            f"less information than {pair.b} at {less} of {f.settings.size} settings, more at "
            f"{more}, and neither at {neither} (see the grid above).{flips}"
        )
    quiet = [f.layer for f in pair.layers if f.settings.size and not (f.settings != 0).any()]
    if quiet:
        out.append(
            f"No significant difference between {pair.a} and {pair.b} in {_join(quiet)} "
            "at any setting."
        )
    if pair.a == "first-bit" and pair.b == "random-lookup":
        out.append(_sprint_verdict(robust_less, robust_more, pair))
    return out


def _sprint_verdict(robust_less: list[str], robust_more: list[str], pair: PairFindings) -> str:
    claim = (
        "The sprint's tentative finding was that simple-task networks "
        '"have the potential to throw away more information".'
    )
    if robust_less and not robust_more:
        return f"{claim} These runs support it, robustly, in {_join(robust_less)}."
    if robust_more and not robust_less:
        return f"{claim} These runs contradict it: first-bit keeps *more* in {_join(robust_more)}."
    if robust_less and robust_more:
        return (
            f"{claim} These runs give a mixed answer: less in {_join(robust_less)}, "
            f"more in {_join(robust_more)}."
        )
    return (
        f"{claim} No layer shows a difference that survives every setting, "
        "so these runs do not establish it."
    )


def _verdict_text(v: int, pair: PairFindings) -> str:
    return {1: f"{pair.a} less", -1: f"{pair.a} more", 0: "no significant difference"}[v]


def _p(p: float) -> str:
    return "n/a" if p != p else f"{p:.3g}"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
