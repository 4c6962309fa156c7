"""Markdown reports of the fuzzy-XOR lab: references, neuron matches and the summary.

Pure string builders: they take finished numbers and return Markdown, so the
steps stay short and the wording can be tested without running anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .references import ReferenceNetwork
from .strategies import NONE, UNCONVERGED

__all__ = ["matches_markdown", "references_markdown", "summary_markdown"]


def _cell(text: str) -> str:
    """Escape a Markdown table cell: labels such as |a − b| contain the column bar."""
    return text.replace("|", "\\|")


def references_markdown(references: Sequence[ReferenceNetwork], errors: Sequence[float]) -> str:
    """One section per construction: formula, widths, and every neuron's function.

    Args:
        references: The constructions.
        errors: Max |network − XOR| of each, over the grid and random points (float64).
    """
    lines = [
        "# Reference constructions of fuzzy XOR",
        "",
        "XOR(a, b) = min(max(a, b), 1 − min(a, b)). Every hidden neuron below computes the",
        "function named in its label; T_L(a,b) = max(0, a + b − 1) is the Łukasiewicz AND,",
        "NOR_L(a,b) = max(0, 1 − a − b) and a ⊖ b = max(0, a − b) the bounded difference.",
        "",
    ]
    for net, error in zip(references, errors, strict=True):
        widths = ", ".join(str(w) for w in net.widths)
        lines += [
            f"## {net.name}",
            "",
            f"{net.formula}  ",
            f"hidden widths [{widths}], max |error| = {error:.1e}",
            "",
            "| neuron | computes | wiring |",
            "|---|---|---|",
        ]
        for layer, neurons in enumerate(net.neurons, 1):
            for unit, neuron in enumerate(neurons):
                lines.append(
                    f"| L{layer}.{unit} | {_cell(neuron.label)} | {_cell(neuron.wiring)} |"
                )
        lines.append("")
    return "\n".join(lines)


def matches_markdown(
    seeds: Sequence[int],
    neuron_names: Sequence[str],
    candidate_names: Sequence[str],
    top_index: np.ndarray,
    top_r2: np.ndarray,
    status: np.ndarray,
    strategy: Sequence[str] | None = None,
) -> str:
    """Every network's neurons with their best candidates and the variance each explains.

    Args:
        seeds: Seed of each network.
        neuron_names: ``"L1.0"``, ... per neuron.
        candidate_names: Candidate class names.
        top_index: (seed, neuron, k) candidate indices, best first.
        top_r2: (seed, neuron, k) their R².
        status: (seed, neuron) strings: ``informative``, ``affine``, ``unused`` or
            ``constant``; constant neurons are left out of the table.
        strategy: Optional per-network strategy name for the heading.
    """
    lines = [
        "# Neuron matches",
        "",
        "R² is the fraction of a neuron's variance over the evaluation grid explained by",
        "the best affine fit α·f(a, b) + β to the candidate f. Constant (dead) neurons are",
        "left out; *affine* neurons are linear in (a, b) on the square; *unused* neurons",
        "barely change the output when replaced by their mean.",
        "",
    ]
    for s, seed in enumerate(seeds):
        title = f"## seed {seed}"
        if strategy is not None:
            title += f" — {strategy[s]}"
        lines += [title, "", "| neuron | status | best candidates (R²) |", "|---|---|---|"]
        for u, name in enumerate(neuron_names):
            if status[s, u] == "constant":
                continue
            best = ", ".join(
                f"{_cell(candidate_names[int(i)])} ({float(r):.3f})"
                for i, r in zip(top_index[s, u], top_r2[s, u], strict=True)
            )
            lines.append(f"| {name} | {status[s, u]} | {best} |")
        lines.append("")
    return "\n".join(lines)


def summary_markdown(
    *,
    n_seeds: int,
    widths: Sequence[int],
    steps: int,
    converged: int,
    counts: Mapping[str, int],
    fit_threshold: float,
    too_deep: Sequence[str],
    cluster_sizes: Sequence[int],
    cluster_strategies: Sequence[str],
    cluster_functions: Sequence[Sequence[str]],
    cluster_agreement: float,
) -> str:
    """The lab's conclusion in words: how many strategies, how often, and the clusters.

    Args:
        n_seeds: Networks trained.
        widths: Their hidden widths.
        steps: Training steps.
        converged: Networks that learned XOR.
        counts: Networks per strategy, including ``none`` and ``unconverged``.
        fit_threshold: The score a network needs to follow a construction.
        too_deep: Constructions with more hidden layers than the trained networks.
        cluster_sizes: Size of each profile cluster (largest first).
        cluster_strategies: Most common strategy in each cluster.
        cluster_functions: Candidate functions found in (nearly) every network of
            each cluster.
        cluster_agreement: Fraction of clustered networks whose strategy is their
            cluster's most common one.
    """
    widths_text = ", ".join(str(w) for w in widths)
    found = {k: v for k, v in counts.items() if k not in (NONE, UNCONVERGED) and v > 0}
    unused = [k for k, v in counts.items() if k not in (NONE, UNCONVERGED) and v == 0]
    lines = [
        "# Which way does each network compute fuzzy XOR?",
        "",
        f"{n_seeds} ReLU networks with hidden widths [{widths_text}] were trained for {steps} "
        f"steps; **{converged}** learned XOR and {counts.get(UNCONVERGED, 0)} did not.",
        "",
        f"Of the converged networks, **{sum(found.values())}** follow one of the hand-coded "
        f"constructions (score ≥ {fit_threshold:g}), using **{len(found)}** distinct "
        f"constructions, and **{counts.get(NONE, 0)}** fit none of them.",
        "",
        "| strategy | networks | share of converged |",
        "|---|---|---|",
    ]
    for name, count in sorted([*found.items(), (NONE, counts.get(NONE, 0))], key=lambda kv: -kv[1]):
        share = f"{count / converged:.0%}" if converged else "–"
        lines.append(f"| {name} | {count} | {share} |")
    lines.append("")
    if unused:
        lines += [f"No network follows {', '.join(unused)}.", ""]
    if too_deep:
        lines += [
            f"{', '.join(too_deep)} need more hidden layers than the trained networks have, "
            "so their deeper neurons (such as OR or |a − b| as one unit) cannot appear.",
            "",
        ]
    lines += [
        "## Clusters of match profiles",
        "",
        f"Independently of the constructions, the converged networks fall into "
        f"**{len(cluster_sizes)}** clusters of similar neuron functions"
        + (
            f"; {cluster_agreement:.0%} of them share their cluster's most common strategy."
            if cluster_sizes
            else "."
        ),
        "",
        "| cluster | networks | most common strategy | functions in nearly every network |",
        "|---|---|---|---|",
    ]
    for k, (size, strategy, functions) in enumerate(
        zip(cluster_sizes, cluster_strategies, cluster_functions, strict=True), 1
    ):
        listed = _cell(", ".join(functions)) or "–"
        lines.append(f"| {k} | {size} | {strategy} | {listed} |")
    lines.append("")
    return "\n".join(lines)
