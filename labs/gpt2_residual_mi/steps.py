"""The steps of the ``gpt2-residual-mi`` lab: each reads ``ctx.state``, writes the run folder.

The Jacobian step is in :mod:`jacobian_step`; the MI step's results are in :mod:`results`.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from workbench.core.errors import ConfigError
from workbench.core.lab import RunContext
from workbench.core.models.gpt2 import collect_residual_stream, random_twin
from workbench_labs.gpt2_residual_mi.analysis import MIPoint, layer_mi_matrices, mi_point
from workbench_labs.gpt2_residual_mi.ceiling import model_losses, shannon_ceiling
from workbench_labs.gpt2_residual_mi.config import ResidualMIConfig
from workbench_labs.gpt2_residual_mi.corpus import SequenceSource, make_source
from workbench_labs.gpt2_residual_mi.models import ModelPair, load_model_pair, load_second_model
from workbench_labs.gpt2_residual_mi.robustness import HookPass, HookResult, reduce_pass
from workbench_labs.gpt2_residual_mi.stream import (
    ResidualAccumulators,
    batch_sizes,
    curve_token_counts,
    token_batches,
)
from workbench_labs.gpt2_residual_mi.summary import summary_markdown

__all__ = [
    "PARTNER_OFFSET",
    "run_ceiling",
    "run_layers",
    "run_load",
    "run_spectra",
    "run_stream",
    "run_summary",
]

MODELS = ("trained", "twin")
#: Partner k (the twin-versus-twin baseline) has seed ``twin_seed + PARTNER_OFFSET + k``.
PARTNER_OFFSET = 1000


def config_of(ctx: RunContext) -> ResidualMIConfig:
    """The run's config, typed."""
    config: ResidualMIConfig = ctx.config
    return config


def pair_of(ctx: RunContext) -> ModelPair:
    """The loaded models, typed."""
    pair: ModelPair = ctx.state["pair"]
    return pair


def names_of(ctx: RunContext) -> tuple[str, ...]:
    """The hook points measured (``config.hooks`` or all)."""
    names: tuple[str, ...] = ctx.state["names"]
    return names


def run_load(ctx: RunContext) -> None:
    """Load the trained model, build its first twin, and record what they are."""
    config = config_of(ctx)
    pair = load_model_pair(config, ctx.device)
    unknown = [h for h in config.hooks if h not in pair.names]
    if unknown:
        raise ConfigError("hooks", list(config.hooks), f"hook points of this model: {pair.names}")
    names = tuple(h for h in pair.names if not config.hooks or h in config.hooks)
    ctx.state["pair"] = pair
    ctx.state["names"] = names
    ctx.logger.info(
        "loaded %s: %d blocks, d_model %d, %d parameters; %d twins from seed %d",
        pair.source,
        pair.n_layer,
        pair.d_model,
        pair.n_parameters,
        config.twin_seeds,
        config.twin_seed,
    )
    ctx.set_results(
        {
            "model/source": pair.source,
            "model/n_layer": pair.n_layer,
            "model/d_model": pair.d_model,
            "model/parameters": pair.n_parameters,
            "model/hook_points": len(pair.names),
            "model/hooks_measured": len(names),
            "model/twin_seeds": config.twin_seeds,
        }
    )


def run_ceiling(ctx: RunContext) -> None:
    """Score held-out sequences with the trained model: the Shannon ceiling per position."""
    config, pair = config_of(ctx), pair_of(ctx)
    source = make_source(config.corpus, config.corpus_seed, config.seq_len, pair.tokenizer)
    # Sequences after the streamed and the Jacobian ones: text no other step reads.
    start = config.n_sequences + config.jacobian_sequences
    losses = []
    for first in range(0, config.ceiling_sequences, config.batch_size):
        rows = range(
            start + first, start + min(first + config.batch_size, config.ceiling_sequences)
        )
        ids = torch.from_numpy(np.stack([source.sequence(i) for i in rows])).to(ctx.device)
        losses.append(model_losses(pair.trained, ids))
    ceiling = shannon_ceiling(
        np.concatenate(losses),
        first_position=config.first_position,
        vocab_size=pair.tokenizer.vocab_size,
        level=config.level,
    )
    ctx.state["ceiling"] = ceiling
    ctx.save_array(
        "ceiling/by_position",
        ceiling.by_position,
        axes=("position",),
        labels={"position": [str(t) for t in ceiling.positions]},
        description="Shannon ceiling C(t) = log2 V + Σ_{s<=t} loss_s (bits) per position",
    )
    ctx.set_results(
        {
            "ceiling/bits": ceiling.bits,
            "ceiling/high": ceiling.high,
            "ceiling/se": ceiling.se,
            "ceiling/first_token_bits": ceiling.first_token_bits,
            "ceiling/loss_bits_per_token": float(np.concatenate(losses).mean()),
            "ceiling/n_sequences": ceiling.n_sequences,
        }
    )


def _check_tokens(config: ResidualMIConfig, d: int, cumulative: list[int]) -> int:
    # The leave-one-group-out covariances must still have more samples than 2 d dimensions.
    minimum: int = math.ceil((2 * d + 2) * config.n_groups / (config.n_groups - 1))
    if cumulative[-1] < minimum:
        raise ConfigError(
            "n_sequences",
            config.n_sequences,
            f"enough sequences for at least {minimum} tokens (more than the joint dimension "
            f"2 d_model = {2 * d} with a jackknife group left out); {cumulative[-1]} tokens "
            "would be streamed",
        )
    return minimum


def run_stream(ctx: RunContext) -> None:
    """Stream K twin passes (each with its partner) into accumulators, reduce, free."""
    config, pair, names = config_of(ctx), pair_of(ctx), names_of(ctx)
    d = pair.d_model
    source = make_source(config.corpus, config.corpus_seed, config.seq_len, pair.tokenizer)
    sizes = batch_sizes(config.n_sequences, config.batch_size, config.n_groups)
    cumulative = [int(c) for c in np.cumsum(sizes) * config.positions_per_sequence]
    minimum = _check_tokens(config, d, cumulative)
    passes: dict[str, list[HookPass]] = {name: [] for name in names}
    curve: dict[str, list[MIPoint]] = {name: [] for name in names}
    total = config.twin_seeds * len(sizes)
    started = time.perf_counter()
    peak_bytes = 0
    for k in range(config.twin_seeds):
        first = k == 0
        twin = (
            pair.twin
            if first
            else random_twin(pair.trained.config, config.twin_seed + k, ctx.device)
        )
        partner = random_twin(
            pair.trained.config, config.twin_seed + PARTNER_OFFSET + k, ctx.device
        )
        acc = ResidualAccumulators.create(
            names,
            d,
            n_groups=config.n_groups,
            n_permutations=config.n_permutations,
            seed=config.corpus_seed + 100 * k,
            layer_matrix=config.layer_matrix and first,
            device=ctx.device,
            null_parts=config.null_parts,
            baseline=True,
            copula_calibration=config.copula_calibration if config.copula and first else 0,
            kurtosis=first,
        )
        checkpoints = curve_token_counts(config.token_counts, cumulative, minimum) if first else []
        batches = token_batches(
            source,
            sizes,
            seq_len=config.seq_len,
            first_position=config.first_position,
            positions_per_sequence=config.positions_per_sequence,
            seed=config.corpus_seed,
        )
        models = [pair.trained, twin, partner]
        stream = collect_residual_stream(models, batches, names, ctx.device)
        for done, (batch, (trained, twin_acts, partner_acts)) in enumerate(stream, start=1):
            acc.update(trained, twin_acts, batch.input_ids.shape[0], partner=partner_acts)
            if checkpoints and acc.n_tokens >= checkpoints[0]:
                checkpoints.pop(0)
                for name in names:
                    curve[name].append(mi_point(acc.pairs[name], config.level))
            rate = acc.n_tokens * (k + 1) / (time.perf_counter() - started)
            ctx.progress(k * len(sizes) + done, total, twin=k, tokens_per_second=round(rate, 1))
        peak_bytes = max(peak_bytes, acc.nbytes())
        for name, reduced in reduce_pass(acc, config.level, config.noise_fractions).items():
            passes[name].append(reduced)
        if first:
            ctx.state["n_tokens"], ctx.state["n_sequences"] = acc.n_tokens, acc.n_sequences
            ctx.state["spectra_eigs"] = {
                name: (acc.pairs[name].spectrum("x"), acc.pairs[name].spectrum("y"))
                for name in names
            }
            if acc.joint is not None:
                ctx.state["joint_cov"] = acc.joint.covariance_tensor()
        del acc, twin, partner  # one pass of memory, whatever K
    seconds = time.perf_counter() - started
    ctx.state["passes"], ctx.state["curve"] = passes, curve
    ctx.logger.info("accumulators of one pass held %.1f MB", peak_bytes / 1e6)
    results: dict[str, float | int | str | bool] = {
        "data/corpus": source.description,
        "data/n_sequences": ctx.state["n_sequences"],
        "data/n_tokens": ctx.state["n_tokens"],
        "data/positions_per_sequence": config.positions_per_sequence,
        "data/seq_len": config.seq_len,
        "data/tokens_per_second": ctx.state["n_tokens"] * config.twin_seeds / seconds,
        "data/accumulator_mb": peak_bytes / 1e6,
    }
    if config.second_model:
        results.update(_second_model_pass(ctx, source, sizes))
    ctx.set_results(results)


def _second_model_pass(
    ctx: RunContext, source: SequenceSource, sizes: list[int]
) -> dict[str, float | int | str | bool]:
    """Trained versus a second trained checkpoint on the same tokens."""
    config, pair, names = config_of(ctx), pair_of(ctx), names_of(ctx)
    second = load_second_model(config, pair, ctx.device)
    acc = ResidualAccumulators.create(
        names,
        pair.d_model,
        n_groups=config.n_groups,
        n_permutations=config.n_permutations,
        seed=config.corpus_seed + 99,
        layer_matrix=False,
        device=ctx.device,
        null_parts=config.null_parts,
    )
    batches = token_batches(
        source,
        sizes,
        seq_len=config.seq_len,
        first_position=config.first_position,
        positions_per_sequence=config.positions_per_sequence,
        seed=config.corpus_seed,
    )
    for batch, (a, b) in collect_residual_stream(
        [pair.trained, second], batches, names, ctx.device
    ):
        acc.update(a, b, batch.input_ids.shape[0])
    points = {name: mi_point(acc.pairs[name], config.level) for name in names}
    ctx.state["trained_trained"] = points
    out: dict[str, float | int | str | bool] = {"trained_trained/model": config.second_model}
    for name, p in points.items():
        singular = p.ridge > 0
        out[f"trained_trained/{name}"] = p.bits
        out[f"trained_trained/{name}/low"] = math.nan if singular else p.low
        out[f"trained_trained/{name}/high"] = math.nan if singular else p.high
        out[f"trained_trained/{name}/ridge"] = p.ridge
    return out


def run_layers(ctx: RunContext) -> None:
    """Layer x layer MI matrices within each model and across the two (first twin)."""
    pair, names = pair_of(ctx), names_of(ctx)
    cov = ctx.state.get("joint_cov")
    if cov is None:
        ctx.logger.info("layer_matrix is off: no layer x layer matrices")
        return
    matrices, ridged = layer_mi_matrices(cov, ctx.state["n_tokens"], len(names), pair.d_model)
    ctx.state["layers"] = matrices
    hook_results: dict[str, HookResult] = ctx.state["hook_results"]
    # Flags in the axis labels, so a heatmap shows them beside the numbers.
    hooks = [_flagged_label(name, hook_results[name]) for name in names]
    for key, matrix in matrices.items():
        rows, cols = ("trained", "twin") if key == "cross" else (key, key)
        ctx.save_array(
            f"layers/mi_{key}",
            matrix,
            axes=(f"{rows} hook", f"{cols} hook"),
            labels={f"{rows} hook": hooks, f"{cols} hook": hooks},
            description=(
                "Gaussian (linear) MI (bits), trained rows x twin columns"
                if key == "cross"
                else f"Gaussian (linear) MI (bits) within the {key} model; diagonal NaN"
            )
            + f"; NaN where the covariance needed a ridge ({ridged[key]} cells)",
        )


def _flagged_label(name: str, result: HookResult) -> str:
    words = result.flag_words
    return f"{name} [{', '.join(words)}]" if words else name


def run_spectra(ctx: RunContext) -> None:
    """Covariance eigenspectra per hook point and model, with their shape measures."""
    from workbench_labs.gpt2_residual_mi.analysis import spectrum_measures

    names = names_of(ctx)
    eigs_of = ctx.state["spectra_eigs"]
    results: dict[str, float | int | str | bool] = {}
    summary: dict[str, dict[str, dict[str, float]]] = {m: {} for m in MODELS}
    for name in names:
        for model, eigs in zip(MODELS, eigs_of[name], strict=True):
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
            np.array([summary[model][n]["participation_ratio"] for n in names]),
            axes=("hook",),
            labels={"hook": list(names)},
            description="participation ratio by hook point",
        )
    ctx.state["spectra"] = summary
    ctx.set_results(results)


def run_summary(ctx: RunContext) -> None:
    """Write summary.md: what the numbers allow one to say, in plain words."""
    config, pair = config_of(ctx), pair_of(ctx)
    text = summary_markdown(
        config=config,
        names=names_of(ctx),
        source=pair.source,
        n_tokens=ctx.state["n_tokens"],
        n_sequences=ctx.state["n_sequences"],
        curve=ctx.state["curve"],
        hooks=ctx.state["hook_results"],
        ceiling=ctx.state["ceiling"],
        verdicts=ctx.state["verdicts"],
        spectra=ctx.state.get("spectra", {}),
        jacobians=ctx.state.get("jacobians", {}),
        trained_trained=ctx.state.get("trained_trained"),
        d_model=pair.d_model,
        jacobian_verdicts=ctx.state.get("jacobian_verdicts"),
    )
    ctx.write_text("summary.md", text)
