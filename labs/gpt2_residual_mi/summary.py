"""``summary.md`` of a ``gpt2-residual-mi`` run: the conclusions the numbers support."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from workbench.core.inference import Verdict
from workbench_labs.gpt2_residual_mi.analysis import MIPoint
from workbench_labs.gpt2_residual_mi.ceiling import CEILING_SENTENCE, Ceiling
from workbench_labs.gpt2_residual_mi.config import ResidualMIConfig
from workbench_labs.gpt2_residual_mi.robustness import HookResult

__all__ = ["mi_table_row", "summary_markdown"]


def _f(value: float, digits: int = 2) -> str:
    return "–" if not math.isfinite(value) else f"{value:.{digits}f}"


def _interval(low: float, high: float) -> str:
    return (
        "no interval"
        if not (math.isfinite(low) and math.isfinite(high))
        else (f"[{low:.2f}, {high:.2f}]")
    )


def mi_table_row(h: HookResult, ceiling_high: float = math.inf) -> str:
    """One row of the MI table (also what the tests look for); a twin-vs-twin MI above the
    ceiling is marked ``(>ceiling)``."""
    first = h.passes[0]
    tt = h.trained_twin
    base = h.twin_twin.bits if h.twin_twin is not None else math.nan
    above = " (>ceiling)" if math.isfinite(base) and not h.ridge_set and base > ceiling_high else ""
    cop = first.copula.bits if first.copula is not None else math.nan
    kurt = first.kurtosis or (math.nan, math.nan)
    return (
        f"| `{h.name}` | {_f(tt.bits)} | {_interval(tt.low, tt.high)} | {_f(base)}{above} "
        f"| {_f(cop)} | {_f(kurt[0], 1)} / {_f(kurt[1], 1)} | {first.condition:.1e} "
        f"| {100 * h.noise_move:.1f}% | {', '.join(h.flag_words) or '–'} |"
    )


def _mi_table(hooks: Sequence[HookResult], config: ResidualMIConfig, ceiling_high: float) -> str:
    pct = round(100 * config.level)
    lines = [
        f"| hook point | Gaussian (linear) MI | {pct}% interval (twins × tokens) | twin-vs-twin "
        f"| Gaussian-copula MI | excess kurtosis (trained / twin) | κ "
        f"| MI change at {config.noise_flag_fraction:g} noise | flags |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    lines += [mi_table_row(h, ceiling_high) for h in hooks]
    return "\n".join(lines)


def _noise_table(hooks: Sequence[HookResult], config: ResidualMIConfig) -> str:
    head = " | ".join(f"f = {f:g}" for f in config.noise_fractions)
    lines = [f"| hook point | no noise | {head} |", "|---|" + "---:|" * (1 + len(head.split("|")))]
    for h in hooks:
        p = h.passes[0]
        cells = " | ".join(_f(b) for b in p.noise_bits)
        lines.append(f"| `{h.name}` | {_f(p.point.bits)} | {cells} |")
    return "\n".join(lines)


def _flag_words(hooks: Sequence[HookResult], config: ResidualMIConfig, ceiling: Ceiling) -> str:
    count = {f: sum(h.flags[f] for h in hooks) for f in hooks[0].flags}
    return "\n".join(
        [
            f"- **ridge** ({count['ridge_set']}): the joint covariance is singular (one stream is "
            "a linear function of the other on these tokens), so the Gaussian MI is unbounded "
            "and the number is set by the ridge; no interval, left out of every count and test.",
            f"- **κ** ({count['near_singular']}): the joint correlation matrix has a condition "
            f"number above {config.condition_threshold:.0e}: nearly singular.",
            f"- **noise** ({count['noise_fragile']}): independent noise at "
            f"{config.noise_flag_fraction:g} of each feature's SD moves the MI by more than "
            f"{100 * config.noise_flag_move:g}%: it rests on directions of tiny variance.",
            f"- **>ceiling** ({count['above_ceiling']}): the Gaussian MI exceeds the Shannon "
            f"ceiling's upper end, {ceiling.high:.1f} bits. {CEILING_SENTENCE}",
            f"- **twin-vs-twin (>ceiling)** ({_baseline_above(hooks, ceiling)}): the baseline "
            "of two random inits is itself above the ceiling there, so it too measures linear "
            "alignment (both random streams are near-linear maps of the same tokens), not "
            "shared information.",
        ]
    )


def _baseline_above(hooks: Sequence[HookResult], ceiling: Ceiling) -> int:
    return sum(
        h.twin_twin is not None and not h.ridge_set and h.twin_twin.bits > ceiling.high
        for h in hooks
    )


def _curve_words(names: Sequence[str], curve: Mapping[str, Sequence[MIPoint]]) -> str:
    last = names[-1]
    points = curve[last]
    if len(points) < 2:
        return "Only one token count was measured, so there is no curve to read."
    a, b = points[0], points[-1]
    return (
        f"At `{last}` (first twin), going from {a.n_tokens} to {b.n_tokens} tokens the plug-in "
        f"MI moves from {a.plugin_bits:.2f} to {b.plugin_bits:.2f} bits while the shuffled null "
        f"(the plug-in's bias) falls from {a.null_mean:.2f} to {b.null_mean:.2f} bits; the "
        f"bias-corrected MI moves from {a.bits:.2f} to {b.bits:.2f} bits. A plug-in curve that "
        "falls with more tokens while the corrected one stays level is estimator bias "
        "draining away, not information being lost. On shuffled pairs the corrected MI "
        f"averages {b.null_corrected_mean:.2f} bits (0 when the Gaussian correction fits)."
    )


def _spectrum_words(
    names: Sequence[str], spectra: Mapping[str, Mapping[str, Mapping[str, float]]], d_model: int
) -> str:
    lines = []
    for model in ("trained", "twin"):
        per_hook = spectra.get(model, {})
        for name in dict.fromkeys((names[0], names[len(names) // 2], names[-1])):
            if name not in per_hook:
                continue
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


def _jacobian_words(
    jacobians: Mapping[str, Mapping[int, Mapping[str, float]]], config: ResidualMIConfig
) -> str:
    lines = []
    for model, per_offset in jacobians.items():
        parts = [
            f"k={k}: σ_max {m['sigma_max']:.3g} ± {m['sigma_max_sd']:.2g}, effective rank "
            f"{m['effective_rank']:.1f}, {m['rank_above_floor']:.1f} σ above the floor"
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
    hooks: Mapping[str, HookResult],
    ceiling: Ceiling,
    verdicts: Mapping[str, Verdict],
    spectra: Mapping[str, Mapping[str, Mapping[str, float]]],
    jacobians: Mapping[str, Mapping[int, Mapping[str, float]]],
    trained_trained: Mapping[str, MIPoint] | None,
    d_model: int,
    jacobian_verdicts: Mapping[str, Verdict] | None = None,
) -> str:
    """The run's conclusions as Markdown."""
    ordered = [hooks[n] for n in names]
    regular = [h for h in ordered if not h.ridge_set]
    n_zero = sum(not h.ridge_set and h.trained_twin.low > 0 for h in ordered)
    parts = [
        "# Residual-stream Gaussian (linear) MI: trained model versus random-init twins",
        f"Model: {source}; {config.twin_seeds} twins (seeds {config.twin_seed} to "
        f"{config.twin_seed + config.twin_seeds - 1}), each with a partner init for the "
        f"twin-versus-twin baseline. Tokens: {n_tokens} positions from {n_sequences} sequences "
        f"({config.positions_per_sequence} per sequence, {config.seq_len} tokens long). "
        "**Gaussian (linear) MI** in bits: the MI of Gaussians with the streams' covariance, a "
        "measure of linear alignment, not the Shannon MI of the streams. Intervals combine "
        f"the delete-a-group jackknife over {config.n_groups} groups of whole sequences with "
        "the spread over twins.",
        "## Verdicts",
        "\n".join(f"- {v.claim}: **{v.line()}**" for v in verdicts.values()),
        "## Gaussian (linear) MI per hook point",
        f"Shannon ceiling: {ceiling.bits:.1f} bits (upper end {ceiling.high:.1f}; "
        f"{ceiling.first_token_bits:.1f} bits for the first token plus the trained model's "
        f"held-out loss summed over the prefix, averaged over the sampled positions, from "
        f"{ceiling.n_sequences} sequences).",
        _mi_table(ordered, config, ceiling.high),
        f"{len(regular)} of {len(ordered)} hook points are regular (not ridge-set); {n_zero} of "
        f"them have an interval above 0.",
        "Flags:\n\n" + _flag_words(ordered, config, ceiling),
        "## Noise-floor sweep (first twin)",
        "Independent noise at a fraction f of each feature's SD, added to both streams (in "
        "the covariance exactly the ridge λ = f²):",
        _noise_table(ordered, config),
    ]
    if trained_trained:
        rows = [
            f"- `{n}`: {_f(p.bits)} bits, "
            + ("ridge-set" if p.ridge > 0 else _interval(p.low, p.high))
            for n, p in trained_trained.items()
        ]
        parts += [f"## Trained versus trained ({config.second_model})", "\n".join(rows)]
    else:
        parts.append(
            "Trained versus trained: not measured (no second checkpoint; set `second_model`)."
        )
    parts += ["## Gaussian MI against the number of tokens", _curve_words(names, curve)]
    spectrum = _spectrum_words(names, spectra, d_model)
    if spectrum:
        parts += ["## Covariance spectra", spectrum]
    if jacobians:
        positions = ", ".join(str(t) for t in config.jacobian_output_positions)
        parts += [
            f"## Jacobian of the last residual stream w.r.t. the first (t = {positions})",
            f"{config.jacobian_sequences} sequences x "
            f"{len(config.jacobian_output_positions)} output positions; σ below "
            f"{config.jacobian_gain_floor:g} σ_max do not count towards the rank. Twins "
            "`scale_s` have GPT-2's init σ times s.",
            _jacobian_words(jacobians, config),
        ]
        if jacobian_verdicts:
            parts.append(
                "\n".join(f"- {v.claim}: **{v.line()}**" for v in jacobian_verdicts.values())
            )
    return "\n\n".join(parts) + "\n"
