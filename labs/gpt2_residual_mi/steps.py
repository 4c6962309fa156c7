"""The steps of the ``gpt2-residual-mi`` lab: each reads ``ctx.state``, writes the run folder."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from workbench.core.errors import ConfigError
from workbench.core.jacobian import jacobian_singular_values
from workbench.core.lab import RunContext
from workbench.core.models.gpt2 import (
    collect_residual_stream,
    eager_attention,
    embed_tokens,
    resid_post_from_resid_pre0,
)
from workbench_labs.gpt2_residual_mi.analysis import (
    CURVE_ROWS,
    MIPoint,
    curve_array,
    extrapolate_to_infinite_tokens,
    jacobian_measures,
    layer_mi_matrices,
    mi_point,
    spectrum_measures,
    verdict,
)
from workbench_labs.gpt2_residual_mi.config import ResidualMIConfig
from workbench_labs.gpt2_residual_mi.corpus import make_source
from workbench_labs.gpt2_residual_mi.models import ModelPair, load_model_pair
from workbench_labs.gpt2_residual_mi.stream import (
    ResidualAccumulators,
    batch_sizes,
    curve_token_counts,
    token_batches,
)
from workbench_labs.gpt2_residual_mi.summary import summary_markdown

__all__ = [
    "run_jacobians",
    "run_layers",
    "run_load",
    "run_mi",
    "run_spectra",
    "run_stream",
    "run_summary",
]

MODELS = ("trained", "twin")


def _config(ctx: RunContext) -> ResidualMIConfig:
    config: ResidualMIConfig = ctx.config
    return config


def _pair(ctx: RunContext) -> ModelPair:
    pair: ModelPair = ctx.state["pair"]
    return pair


def run_load(ctx: RunContext) -> None:
    """Load the trained model, build its twin, and record what they are."""
    config = _config(ctx)
    pair = load_model_pair(config, ctx.device)
    ctx.state["pair"] = pair
    ctx.logger.info(
        "loaded %s: %d blocks, d_model %d, %d parameters; twin seed %d",
        pair.source,
        pair.n_layer,
        pair.d_model,
        pair.n_parameters,
        config.twin_seed,
    )
    ctx.set_results(
        {
            "model/source": pair.source,
            "model/n_layer": pair.n_layer,
            "model/d_model": pair.d_model,
            "model/parameters": pair.n_parameters,
            "model/hook_points": len(pair.names),
        }
    )


def run_stream(ctx: RunContext) -> None:
    """Stream both models over the corpus into the accumulators; measure the curve on the way."""
    config, pair = _config(ctx), _pair(ctx)
    d = pair.d_model
    source = make_source(config.corpus, config.corpus_seed, config.seq_len, pair.tokenizer)
    sizes = batch_sizes(config.n_sequences, config.batch_size, config.n_groups)
    cumulative = list(np.cumsum(sizes) * config.positions_per_sequence)
    # The leave-one-group-out covariances must still have more samples than 2 d dimensions.
    minimum = math.ceil((2 * d + 2) * config.n_groups / (config.n_groups - 1))
    if cumulative[-1] < minimum:
        raise ConfigError(
            "n_sequences",
            config.n_sequences,
            f"enough sequences for at least {minimum} tokens (more than the joint dimension "
            f"2 d_model = {2 * d} with a jackknife group left out); {cumulative[-1]} tokens "
            "would be streamed",
        )
    checkpoints = curve_token_counts(config.token_counts, cumulative, minimum)
    acc = ResidualAccumulators.create(
        pair.names,
        d,
        n_groups=config.n_groups,
        n_permutations=config.n_permutations,
        seed=config.corpus_seed,
        layer_matrix=config.layer_matrix,
        device=ctx.device,
    )
    if config.layer_matrix:
        width = 2 * len(pair.names) * d
        ctx.logger.info(
            "joint covariance of all hook points: %d features, %.1f MB",
            width,
            width * width * 8 / 1e6,
        )
    batches = token_batches(
        source,
        sizes,
        seq_len=config.seq_len,
        first_position=config.first_position,
        positions_per_sequence=config.positions_per_sequence,
        seed=config.corpus_seed,
    )
    curve: dict[str, list[MIPoint]] = {name: [] for name in pair.names}
    started = time.perf_counter()
    stream = collect_residual_stream([pair.trained, pair.twin], batches, pair.names, ctx.device)
    for done, (batch, (trained, twin)) in enumerate(stream, start=1):
        acc.update(trained, twin, batch.input_ids.shape[0])
        if checkpoints and acc.n_tokens >= checkpoints[0]:
            checkpoints.pop(0)
            for name in pair.names:
                curve[name].append(mi_point(acc.pairs[name], config.level))
        rate = acc.n_tokens / (time.perf_counter() - started)
        ctx.progress(done, len(sizes), tokens=acc.n_tokens, tokens_per_second=round(rate, 1))
    seconds = time.perf_counter() - started
    ctx.state["acc"] = acc
    ctx.state["curve"] = curve
    ctx.set_results(
        {
            "data/corpus": source.description,
            "data/n_sequences": acc.n_sequences,
            "data/n_tokens": acc.n_tokens,
            "data/positions_per_sequence": config.positions_per_sequence,
            "data/seq_len": config.seq_len,
            "data/tokens_per_second": acc.n_tokens / seconds,
        }
    )


def run_mi(ctx: RunContext) -> None:
    """MI per hook point with null, interval and verdicts; the MI-versus-tokens curves."""
    config, pair = _config(ctx), _pair(ctx)
    curve: dict[str, list[MIPoint]] = ctx.state["curve"]
    n_tokens = np.array([p.n_tokens for p in curve[pair.names[0]]], dtype=np.int64)
    ctx.save_array(
        "curve/n_tokens",
        n_tokens,
        axes=("point",),
        description="token counts of the MI-versus-tokens curve points",
    )
    results: dict[str, float | int | str | bool] = {}
    finals = []
    for name in pair.names:
        points = curve[name]
        ctx.save_array(
            f"curve/{name}",
            curve_array(points),
            axes=("estimate", "point"),
            labels={"estimate": list(CURVE_ROWS), "point": [str(n) for n in n_tokens]},
            description="MI (bits) against tokens; rows: estimate, columns: curve/n_tokens",
        )
        final = points[-1]
        finals.append(final)
        v = verdict(final, config.level)
        results.update(
            {
                f"mi/{name}": final.bits,
                f"mi/{name}/plugin": final.plugin_bits,
                f"mi/{name}/low": final.low,
                f"mi/{name}/high": final.high,
                f"mi/{name}/null_mean": final.null_mean,
                f"mi/{name}/p_value": final.p_value,
                f"mi/{name}/above_zero": v.above_zero,
                f"mi/{name}/above_bias": v.above_bias,
                f"mi/{name}/ridge": final.ridge,
                f"mi/{name}/plugin_extrapolated": extrapolate_to_infinite_tokens(
                    [p.n_tokens for p in points], [p.plugin_bits for p in points]
                ),
            }
        )
    labels = {"hook": list(pair.names)}
    ctx.save_array(
        "mi/by_hook",
        np.array(
            [
                [p.plugin_bits for p in finals],
                [p.bits for p in finals],
                [p.low for p in finals],
                [p.high for p in finals],
                [p.null_mean for p in finals],
            ]
        ),
        axes=("estimate", "hook"),
        labels={
            "estimate": [
                "plug-in",
                "bias-corrected",
                "interval low",
                "interval high",
                "null mean (plug-in)",
            ],
            **labels,
        },
        description="MI (bits) of trained and twin per hook point, all tokens",
    )
    # A singular hook's MI is set by the ridge, not measured: the headline "first" MI is the
    # first hook point whose joint covariance is regular.
    first = next((i for i, p in enumerate(finals) if p.ridge == 0.0), 0)
    results["mi/first_hook"] = finals[first].bits
    results["mi/first_hook/name"] = pair.names[first]
    results["mi/last_hook"] = finals[-1].bits
    results["mi/hooks_above_zero"] = sum(verdict(p, config.level).above_zero for p in finals)
    results["mi/hooks_above_bias"] = sum(verdict(p, config.level).above_bias for p in finals)
    ctx.set_results(results)


def run_layers(ctx: RunContext) -> None:
    """Layer x layer MI matrices within each model and across the two."""
    pair = _pair(ctx)
    acc: ResidualAccumulators = ctx.state["acc"]
    if acc.joint is None:
        ctx.logger.info("layer_matrix is off: no layer x layer matrices")
        return
    matrices = layer_mi_matrices(
        acc.joint.covariance_tensor(), acc.n_tokens, len(pair.names), pair.d_model
    )
    ctx.state["layers"] = matrices
    hooks = list(pair.names)
    for key, matrix in matrices.items():
        rows, cols = ("trained", "twin") if key == "cross" else (key, key)
        ctx.save_array(
            f"layers/mi_{key}",
            matrix,
            axes=(f"{rows} hook", f"{cols} hook"),
            labels={f"{rows} hook": hooks, f"{cols} hook": hooks},
            description=(
                "MI (bits), trained rows x twin columns"
                if key == "cross"
                else f"MI (bits) within the {key} model; diagonal NaN"
            ),
        )


def run_spectra(ctx: RunContext) -> None:
    """Covariance eigenspectra per hook point and model, with their shape measures."""
    pair = _pair(ctx)
    acc: ResidualAccumulators = ctx.state["acc"]
    results: dict[str, float | int | str | bool] = {}
    summary: dict[str, dict[str, dict[str, float]]] = {m: {} for m in MODELS}
    for name in pair.names:
        for model, which in zip(MODELS, ("x", "y"), strict=True):
            eigs = acc.pairs[name].spectrum(which)
            ctx.save_array(
                f"spectrum/{model}/{name}",
                eigs,
                axes=("rank",),
                description="covariance eigenvalues, descending",
            )
            measures = spectrum_measures(eigs)
            summary[model][name] = measures
            for key, value in measures.items():
                results[f"spectrum/{model}/{name}/{key}"] = value
    for model in MODELS:
        ctx.save_array(
            f"spectrum/{model}/participation_ratio",
            np.array([summary[model][n]["participation_ratio"] for n in pair.names]),
            axes=("hook",),
            labels={"hook": list(pair.names)},
            description="participation ratio by hook point",
        )
    ctx.state["spectra"] = summary
    ctx.set_results(results)


def run_jacobians(ctx: RunContext) -> None:
    """Singular values of d resid_post[t] / d resid_pre0[t - k] for both models."""
    config, pair = _config(ctx), _pair(ctx)
    if config.jacobian_sequences == 0:
        ctx.logger.info("jacobian_sequences = 0: no Jacobians")
        return
    source = make_source(config.corpus, config.corpus_seed, config.seq_len, pair.tokenizer)
    # Sequences after the ones streamed, so the Jacobians are taken on fresh text.
    first = config.n_sequences
    t = config.seq_len - 1
    offsets = config.jacobian_offsets
    top_k = config.jacobian_top_k or None
    results: dict[str, float | int | str | bool] = {}
    summary: dict[str, dict[int, dict[str, float]]] = {}
    total = 2 * config.jacobian_sequences
    done = 0
    for model_name, model in zip(MODELS, (pair.trained, pair.twin), strict=True):
        values = []
        generator = torch.Generator().manual_seed(config.corpus_seed)
        with eager_attention(model):  # torch.func needs plain attention (see jacobian.py)
            for i in range(config.jacobian_sequences):
                ids = torch.from_numpy(source.sequence(first + i)).to(ctx.device)
                with torch.no_grad():
                    x0 = embed_tokens(model, ids)

                def fn(x: torch.Tensor, model: Any = model) -> torch.Tensor:
                    return resid_post_from_resid_pre0(model, x)

                sv = jacobian_singular_values(fn, x0, t, offsets, top_k=top_k, generator=generator)
                values.append(sv.cpu().numpy())
                done += 1
                ctx.progress(done, total)
        stacked = np.stack(values, axis=1)  # (n_offsets, n_sequences, r)
        summary[model_name] = {}
        for k, sv_k in zip(offsets, stacked, strict=True):
            ctx.save_array(
                f"jacobian/{model_name}/offset_{k}",
                sv_k,
                axes=("sequence", "rank"),
                description=f"σ of ∂ resid_post[{t}] / ∂ resid_pre0[{t - k}], descending",
            )
            measures = jacobian_measures(sv_k)
            summary[model_name][k] = measures
            for key, value in measures.items():
                results[f"jacobian/{model_name}/offset_{k}/{key}"] = value
    ctx.state["jacobians"] = summary
    ctx.set_results(results)


def run_summary(ctx: RunContext) -> None:
    """Write summary.md: what the numbers allow one to say, in plain words."""
    config, pair = _config(ctx), _pair(ctx)
    text = summary_markdown(
        config=config,
        names=pair.names,
        source=pair.source,
        n_tokens=ctx.state["acc"].n_tokens,
        n_sequences=ctx.state["acc"].n_sequences,
        curve=ctx.state["curve"],
        spectra=ctx.state.get("spectra", {}),
        jacobians=ctx.state.get("jacobians", {}),
        d_model=pair.d_model,
    )
    ctx.write_text("summary.md", text)
