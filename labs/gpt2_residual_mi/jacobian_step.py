"""The ``jacobian`` step: σ of ∂ resid_post[t] / ∂ resid_pre0[t - k] for the trained model and
for random twins over a sweep of init scales, on several sequences and output positions."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from workbench.core.jacobian import jacobian_singular_values
from workbench.core.lab import RunContext
from workbench.core.models.gpt2 import eager_attention, embed_tokens, resid_post_from_resid_pre0
from workbench_labs.gpt2_residual_mi.analysis import jacobian_measures
from workbench_labs.gpt2_residual_mi.corpus import make_source
from workbench_labs.gpt2_residual_mi.models import scaled_twin
from workbench_labs.gpt2_residual_mi.steps import config_of, pair_of
from workbench_labs.gpt2_residual_mi.verdicts import jacobian_family, jacobian_verdicts

__all__ = ["run_jacobians"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def _singular_values(
    model: Any,
    inputs: list[torch.Tensor],
    positions: tuple[int, ...],
    offsets: tuple[int, ...],
    top_k: int | None,
    seed: int,
    tick: Any,
) -> FloatArray:
    """``(n_offsets, n_sequences * n_positions, r)`` σ, rows sequence-major."""
    generator = torch.Generator().manual_seed(seed)
    values = []
    with eager_attention(model):  # torch.func needs plain attention (see jacobian.py)
        for ids in inputs:
            with torch.no_grad():
                x0 = embed_tokens(model, ids)

            def fn(x: torch.Tensor, model: Any = model) -> torch.Tensor:
                return resid_post_from_resid_pre0(model, x)

            for t in positions:
                sv = jacobian_singular_values(fn, x0, t, offsets, top_k=top_k, generator=generator)
                values.append(sv.cpu().numpy())
            tick()
    return np.stack(values, axis=1)


def run_jacobians(ctx: RunContext) -> None:
    """Jacobian spectra with a gain floor, spread over samples, and the init-scale sweep."""
    config, pair = config_of(ctx), pair_of(ctx)
    if config.jacobian_sequences == 0:
        ctx.logger.info("jacobian_sequences = 0: no Jacobians")
        return
    source = make_source(config.corpus, config.corpus_seed, config.seq_len, pair.tokenizer)
    # Sequences after the ones streamed, so the Jacobians are taken on fresh text.
    inputs = [
        torch.from_numpy(source.sequence(config.n_sequences + i)).to(ctx.device)
        for i in range(config.jacobian_sequences)
    ]
    positions = config.jacobian_output_positions
    offsets = config.jacobian_offsets
    top_k = config.jacobian_top_k or None
    scales = config.twin_init_scales
    models: dict[str, Any] = {"trained": pair.trained, "twin": pair.twin}
    for scale in scales:
        models[f"scale_{scale:g}"] = (
            pair.twin
            if scale == 1.0
            else scaled_twin(pair.trained.config, config.twin_seed, scale, ctx.device)
        )
    distinct = {id(m) for m in models.values()}
    total = len(distinct) * len(inputs)
    done = [0]

    def tick() -> None:
        done[0] += 1
        ctx.progress(done[0], total)

    results: dict[str, float | int | str | bool] = {}
    summary: dict[str, dict[int, dict[str, float]]] = {}
    sigma_max: dict[str, dict[int, FloatArray]] = {}
    samples = [f"seq {i} t={t}" for i in range(len(inputs)) for t in positions]
    cache: dict[int, FloatArray] = {}  # scale 1 is the twin itself: computed once
    for name, model in models.items():
        if id(model) not in cache:
            cache[id(model)] = _singular_values(
                model, inputs, positions, offsets, top_k, config.corpus_seed, tick
            )
        stacked = cache[id(model)]
        summary[name], sigma_max[name] = {}, {}
        for k, sv_k in zip(offsets, stacked, strict=True):
            key = f"jacobian/{name}/offset_{k}"
            ctx.save_array(
                key,
                sv_k,
                axes=("sample", "rank"),
                labels={"sample": samples},
                description=f"σ of ∂ resid_post[t] / ∂ resid_pre0[t - {k}], descending; "
                "samples: sequence x output position",
            )
            measures = jacobian_measures(sv_k, config.jacobian_gain_floor)
            summary[name][k] = measures
            sigma_max[name][k] = sv_k[:, 0]
            for m_key, value in measures.items():
                results[f"{key}/{m_key}"] = value
    family = jacobian_family(sigma_max, scales, config.alpha, seed=config.corpus_seed)
    verdicts = jacobian_verdicts(family, scales)
    results.update(family.as_results("family/jacobian"))
    for scale, v in verdicts.items():
        results.update(v.as_results(f"verdict/jacobian/scale_{scale}"))
    results["jacobian/gain_floor"] = config.jacobian_gain_floor
    results["jacobian/samples"] = len(samples)
    ctx.state["jacobians"] = summary
    ctx.state["jacobian_verdicts"] = verdicts
    ctx.set_results(results)
