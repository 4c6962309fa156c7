"""The ``mi`` step: per hook point, Gaussian (linear) MI over twins and tokens, its baseline,
ceiling, robustness columns and flags, the MI-versus-tokens curves, and the verdicts."""

from __future__ import annotations

import math

import numpy as np

from workbench.core.lab import RunContext
from workbench_labs.gpt2_residual_mi.analysis import (
    CURVE_ROWS,
    MIPoint,
    curve_array,
    extrapolate_to_infinite_tokens,
)
from workbench_labs.gpt2_residual_mi.ceiling import Ceiling
from workbench_labs.gpt2_residual_mi.robustness import (
    FLAG_WORDS,
    HookPass,
    HookResult,
    combine_passes,
)
from workbench_labs.gpt2_residual_mi.steps import config_of, names_of
from workbench_labs.gpt2_residual_mi.verdicts import mi_families, mi_verdicts

__all__ = ["BY_HOOK_ROWS", "headline", "run_mi"]

Results = dict[str, float | int | str | bool]

#: Rows of ``mi/by_hook``, in order.
BY_HOOK_ROWS = (
    "Gaussian (linear) MI, mean over twins",
    "interval low (twins x tokens)",
    "interval high (twins x tokens)",
    "plug-in (first twin)",
    "null mean (plug-in, first twin)",
    "twin-vs-twin baseline",
    "Shannon ceiling (high end)",
    "Gaussian-copula MI (first twin)",
)


def _hook_results(name: str, r: HookResult, ceiling: Ceiling, alpha: float) -> Results:
    first = r.passes[0]
    p = first.point
    key = f"mi/{name}"
    tt = r.trained_twin
    out: Results = {
        key: tt.bits,
        f"{key}/low": tt.low,
        f"{key}/high": tt.high,
        f"{key}/se": tt.se,
        f"{key}/token_se": tt.token_se,
        f"{key}/twin_sd": tt.twin_sd,
        f"{key}/plugin": p.plugin_bits,
        f"{key}/token_low": math.nan if r.ridge_set else p.low,
        f"{key}/token_high": math.nan if r.ridge_set else p.high,
        f"{key}/null_mean": p.null_mean,
        f"{key}/p_value": p.p_value,
        f"{key}/ridge": max(q.point.ridge for q in r.passes),
        f"{key}/above_zero": not r.ridge_set and tt.low > 0.0,
        f"{key}/above_bias": not r.ridge_set and p.p_value <= alpha + 1e-12,
        f"{key}/condition": first.condition,
        f"{key}/noise_move": r.noise_move,
        f"{key}/above_ceiling_by": tt.bits - ceiling.high,
        f"{key}/flags": ", ".join(r.flag_words) or "none",
    }
    for flag, raised in r.flags.items():
        out[f"{key}/flag/{flag}"] = raised
    if r.twin_twin is not None and r.difference is not None:
        out[f"{key}/twin_twin"] = r.twin_twin.bits
        out[f"{key}/twin_twin/low"] = r.twin_twin.low
        out[f"{key}/twin_twin/high"] = r.twin_twin.high
        out[f"{key}/twin_twin/above_ceiling"] = not r.ridge_set and r.twin_twin.bits > ceiling.high
        out[f"{key}/difference"] = r.difference.bits
        out[f"{key}/difference/low"] = r.difference.low
        out[f"{key}/difference/high"] = r.difference.high
    if first.copula is not None:
        out[f"{key}/copula"] = first.copula.bits
        out[f"{key}/copula/low"] = math.nan if r.ridge_set else first.copula.low
        out[f"{key}/copula/high"] = math.nan if r.ridge_set else first.copula.high
    if first.kurtosis is not None:
        out[f"{key}/kurtosis/trained"], out[f"{key}/kurtosis/twin"] = first.kurtosis
    return out


def headline(hooks: list[HookResult], ceiling: Ceiling) -> str:
    """One line: the last regular hook's MI, its baseline, the ceiling and the flag counts."""
    regular = [h for h in hooks if not h.ridge_set]
    counts = {word: sum(h.flags[flag] for h in hooks) for flag, word in FLAG_WORDS.items() if flag}
    flagged = ", ".join(f"{n} {w}" for w, n in counts.items() if n) or "no flags"
    if not regular:
        return f"every hook point is ridge-set ({len(hooks)}); ceiling {ceiling.bits:.1f} bits"
    last = regular[-1]
    base = f", twin-vs-twin {last.twin_twin.bits:.2f}" if last.twin_twin is not None else ""
    return (
        f"Gaussian (linear) MI {last.trained_twin.bits:.2f} bits at {last.name}{base}; "
        f"Shannon ceiling {ceiling.bits:.1f}; {len(hooks)} hooks: {flagged}"
    )


def _curves(ctx: RunContext, names: tuple[str, ...], curve: dict[str, list[MIPoint]]) -> Results:
    n_tokens = np.array([p.n_tokens for p in curve[names[0]]], dtype=np.int64)
    ctx.save_array(
        "curve/n_tokens",
        n_tokens,
        axes=("point",),
        description="token counts of the MI-versus-tokens curve points",
    )
    out: Results = {}
    for name in names:
        points = curve[name]
        ctx.save_array(
            f"curve/{name}",
            curve_array(points),
            axes=("estimate", "point"),
            labels={"estimate": list(CURVE_ROWS), "point": [str(n) for n in n_tokens]},
            description="Gaussian MI (bits, first twin) against tokens; columns: curve/n_tokens",
        )
        out[f"mi/{name}/plugin_extrapolated"] = extrapolate_to_infinite_tokens(
            [p.n_tokens for p in points], [p.plugin_bits for p in points]
        )
    return out


def run_mi(ctx: RunContext) -> None:
    """Combine the passes per hook point, flag, test, and write the MI results and arrays."""
    config, names = config_of(ctx), names_of(ctx)
    passes: dict[str, list[HookPass]] = ctx.state["passes"]
    ceiling: Ceiling = ctx.state["ceiling"]
    hooks = [
        combine_passes(
            name,
            passes[name],
            level=config.level,
            noise_fractions=config.noise_fractions,
            noise_flag_fraction=config.noise_flag_fraction,
            noise_flag_move=config.noise_flag_move,
            condition_threshold=config.condition_threshold,
            ceiling_high=ceiling.high,
        )
        for name in names
    ]
    ctx.state["hook_results"] = {h.name: h for h in hooks}
    results = _curves(ctx, names, ctx.state["curve"])
    for h in hooks:
        results.update(_hook_results(h.name, h, ceiling, config.alpha))
    _save_arrays(ctx, names, hooks, ceiling, config.noise_fractions)
    families = mi_families(hooks, config.alpha)
    verdicts = mi_verdicts(families, config.twin_seeds)
    ctx.state["verdicts"] = dict(verdicts)
    for key, family in families.items():
        results.update(family.as_results(f"family/{key}"))
    for key, v in verdicts.items():
        results.update(v.as_results(f"verdict/{key}"))
    regular = [h for h in hooks if not h.ridge_set]
    results["mi/hooks_regular"] = len(regular)
    results["mi/hooks_ridge_set"] = len(hooks) - len(regular)
    results["mi/hooks_above_zero"] = sum(bool(results[f"mi/{h.name}/above_zero"]) for h in hooks)
    results["mi/hooks_above_bias"] = sum(bool(results[f"mi/{h.name}/above_bias"]) for h in hooks)
    for flag in FLAG_WORDS:
        results[f"mi/hooks_flagged/{flag}"] = sum(h.flags[flag] for h in hooks)
    results["mi/hooks_twin_twin_above_ceiling"] = sum(
        bool(results.get(f"mi/{h.name}/twin_twin/above_ceiling", False)) for h in hooks
    )
    if regular:
        results["mi/first_hook"] = regular[0].trained_twin.bits
        results["mi/first_hook/name"] = regular[0].name
        results["mi/last_hook"] = regular[-1].trained_twin.bits
        results["mi/last_hook/name"] = regular[-1].name
    results["mi/headline"] = headline(hooks, ceiling)
    ctx.set_results(results)


def _save_arrays(
    ctx: RunContext,
    names: tuple[str, ...],
    hooks: list[HookResult],
    ceiling: Ceiling,
    fractions: tuple[float, ...],
) -> None:
    labels = {"hook": [n + (f" [{', '.join(h.flag_words)}]" if h.flag_words else "")
                       for n, h in zip(names, hooks, strict=True)]}  # fmt: skip
    nan = math.nan

    def column(h: HookResult) -> list[float]:
        p = h.passes[0]
        return [
            h.trained_twin.bits,
            h.trained_twin.low,
            h.trained_twin.high,
            p.point.plugin_bits,
            p.point.null_mean,
            h.twin_twin.bits if h.twin_twin is not None else nan,
            ceiling.high,
            p.copula.bits if p.copula is not None else nan,
        ]

    ctx.save_array(
        "mi/by_hook",
        np.array([column(h) for h in hooks]).T,
        axes=("estimate", "hook"),
        labels={"estimate": list(BY_HOOK_ROWS), **labels},
        description="Gaussian (linear) MI (bits) per hook point; ridge-set hooks: no interval",
    )
    ctx.save_array(
        "mi/per_twin",
        np.array([h.trained_twin.per_twin for h in hooks]).T,
        axes=("twin", "hook"),
        labels={"twin": [str(k) for k in range(len(hooks[0].passes))], **labels},
        description="bias-corrected Gaussian MI (bits) of the trained model with each twin",
    )
    ctx.save_array(
        "mi/noise",
        np.array([[h.passes[0].point.bits, *h.passes[0].noise_bits] for h in hooks]).T,
        axes=("noise fraction", "hook"),
        labels={"noise fraction": ["0", *[f"{f:g}" for f in fractions]], **labels},
        description="Gaussian MI (bits, first twin) with independent noise at fractions of each "
        "feature's SD (the ridge λ = f²)",
    )
    ctx.save_array(
        "mi/flags",
        np.array([[float(h.flags[f]) for h in hooks] for f in FLAG_WORDS]),
        axes=("flag", "hook"),
        labels={"flag": list(FLAG_WORDS.values()), **labels},
        description="1 where a flag is raised: ridge-set (no interval, left out of counts), "
        "near-singular (condition number), noise-fragile, above the Shannon ceiling",
    )
