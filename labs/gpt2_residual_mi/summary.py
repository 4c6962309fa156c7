"""``summary.md`` of a ``gpt2-residual-mi`` run: the conclusions the numbers support."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from workbench_labs.gpt2_residual_mi.analysis import MIPoint, verdict
from workbench_labs.gpt2_residual_mi.config import ResidualMIConfig

__all__ = ["summary_markdown"]


def _mi_table(names: Sequence[str], curve: Mapping[str, Sequence[MIPoint]], level: float) -> str:
    pct = round(100 * level)
    lines = [
        f"| hook point | MI (bits) | {pct}% interval | plug-in | null mean | p | verdict |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for name in names:
        p = curve[name][-1]
        v = verdict(p, level)
        if v.singular:
            words = f"singular (ridge {p.ridge:.0e}): unbounded"
        elif v.above_zero and v.above_bias:
            words = "above 0 and above the bias"
        elif v.above_bias:
            words = "above the bias, interval reaches 0"
        elif v.above_zero:
            words = "interval above 0, not above the bias"
        else:
            words = "not told apart from 0"
        lines.append(
            f"| `{name}` | {p.bits:.2f} | [{p.low:.2f}, {p.high:.2f}] | {p.plugin_bits:.2f} "
            f"| {p.null_mean:.2f} | {p.p_value:.3f} | {words} |"
        )
    return "\n".join(lines)


def _curve_words(names: Sequence[str], curve: Mapping[str, Sequence[MIPoint]]) -> str:
    last = names[-1]
    points = curve[last]
    if len(points) < 2:
        return "Only one token count was measured, so there is no curve to read."
    a, b = points[0], points[-1]
    return (
        f"At `{last}`, going from {a.n_tokens} to {b.n_tokens} tokens the plug-in MI moves "
        f"from {a.plugin_bits:.2f} to {b.plugin_bits:.2f} bits while the shuffled null (the "
        f"plug-in's bias) falls from {a.null_mean:.2f} to {b.null_mean:.2f} bits; the "
        f"bias-corrected MI moves from {a.bits:.2f} to {b.bits:.2f} bits. A plug-in curve that "
        "falls with more tokens while the corrected one stays level is estimator bias "
        "draining away, not information being lost. On shuffled pairs the corrected MI "
        f"averages {b.null_corrected_mean:.2f} bits (0 when the Gaussian correction fits)."
    )


def _spectrum_words(
    names: Sequence[str], spectra: Mapping[str, Mapping[str, Mapping[str, float]]], d_model: int
) -> str:
    if not spectra:
        return ""
    lines = []
    for model in ("trained", "twin"):
        per_hook = spectra.get(model, {})
        if not per_hook:
            continue
        for name in (names[0], names[len(names) // 2], names[-1]):
            m = per_hook[name]
            shape = (
                "a few channels (the top 3 eigenvalues hold most of the variance)"
                if m["top3_share"] > 0.5
                else "variance spread over many directions"
            )
            lines.append(
                f"- {model}, `{name}`: participation ratio {m['participation_ratio']:.1f} of "
                f"{d_model}, effective rank {m['effective_rank']:.1f}, top-3 share "
                f"{100 * m['top3_share']:.0f}%, power-law exponent {m['alpha']:.2f} "
                f"(R² {m['alpha_r2']:.2f}): {shape}."
            )
    return "\n".join(lines)


def _jacobian_words(jacobians: Mapping[str, Mapping[int, Mapping[str, float]]]) -> str:
    if not jacobians:
        return ""
    lines = []
    for model, per_offset in jacobians.items():
        parts = [
            f"k={k}: σ_max {m['sigma_max']:.3g}, effective rank {m['effective_rank']:.1f}"
            for k, m in per_offset.items()
        ]
        lines.append(f"- {model}: " + "; ".join(parts) + ".")
    return "\n".join(lines)


def summary_markdown(
    *,
    config: ResidualMIConfig,
    names: Sequence[str],
    source: str,
    n_tokens: int,
    n_sequences: int,
    curve: Mapping[str, Sequence[MIPoint]],
    spectra: Mapping[str, Mapping[str, Mapping[str, float]]],
    jacobians: Mapping[str, Mapping[int, Mapping[str, float]]],
    d_model: int,
) -> str:
    """The run's conclusions as Markdown."""
    finals = [curve[n][-1] for n in names]
    verdicts = [verdict(p, config.level) for p in finals]
    n_zero = sum(v.above_zero for v in verdicts)
    n_bias = sum(v.above_bias for v in verdicts)
    n_singular = sum(v.singular for v in verdicts)
    first = next((i for i, v in enumerate(verdicts) if not v.singular), 0)
    parts = [
        "# Residual-stream MI: trained model versus its random-init twin",
        f"Model: {source}; twin seed {config.twin_seed}. Tokens: {n_tokens} positions from "
        f"{n_sequences} sequences ({config.positions_per_sequence} per sequence, "
        f"{config.seq_len} tokens long). Gaussian MI in bits; intervals are delete-a-group "
        f"jackknife over {config.n_groups} groups of whole sequences; the null pairs each "
        f"trained token with the twin's stream at another token ({config.n_permutations} "
        "shuffles).",
        "## MI per hook point",
        _mi_table(names, curve, config.level),
        f"{n_zero} of {len(names)} hook points have an interval above 0 and {n_bias} beat "
        f"every shuffle (p ≤ {1 - config.level:.2f}). MI goes from {finals[first].bits:.2f} "
        f"bits at `{names[first]}` (the first hook point with a regular covariance) to "
        f"{finals[-1].bits:.2f} bits at `{names[-1]}`.",
    ]
    if n_singular:
        parts.append(
            f"{n_singular} hook point(s) have a singular joint covariance: on these tokens one "
            "stream is a linear function of the other (typical of the embedding, which takes "
            "only as many values as there are distinct tokens and positions), so the Gaussian "
            "MI is unbounded and the number shown is set by the ridge."
        )
    parts += ["## MI against the number of tokens", _curve_words(names, curve)]
    spectrum = _spectrum_words(names, spectra, d_model)
    if spectrum:
        parts += ["## Covariance spectra", spectrum]
    jac = _jacobian_words(jacobians)
    if jac:
        parts += [
            f"## Jacobian of the last residual stream w.r.t. the first (t = {config.seq_len - 1})",
            jac,
        ]
    return "\n\n".join(parts) + "\n"
