"""The fuzzy-XOR lab's step 4: activation maximisation of the reference neurons.

Reads what :mod:`.steps` left in ``ctx.state`` (the trained ensemble, the references, the grid
activations, the informative neurons and the matches), finds the inputs that maximise every
distinct reference neuron, feeds them to every trained network and writes ``maximise/*``,
including whether maximisation agrees with matching.
"""

from __future__ import annotations

import numpy as np
import torch

from workbench.core.ensemble import EnsembleMLP
from workbench.core.lab import RunContext

from .maximisation import (
    ReferenceUnits,
    distinct_reference_units,
    maximise_activations,
    maximiser_agreement,
    reference_unit_activations,
    reference_unit_values,
    responding_fraction,
    response_matrix,
)
from .neurons import hidden_activations, neuron_names
from .references import ReferenceNetwork
from .steps import MATCHED_R2, _config, _grid

__all__ = ["maximise"]


# --- step 4 ---------------------------------------------------------------------------------


def maximise(ctx: RunContext) -> None:
    """Find inputs that maximise each reference neuron and record which trained neurons respond."""
    cfg = _config(ctx)
    model: EnsembleMLP = ctx.state["model"]
    refs: tuple[ReferenceNetwork, ...] = ctx.state["references"]
    acts: torch.Tensor = ctx.state["grid_acts"]
    informative: torch.Tensor = ctx.state["informative"]

    # 1. Batched projected gradient ascent on every distinct reference neuron.
    units = distinct_reference_units(refs)
    generator = torch.Generator(device=ctx.device).manual_seed(cfg.data_seed)
    found = maximise_activations(
        reference_unit_activations(refs, units),
        len(units.labels),
        restarts=cfg.restarts,
        steps=cfg.ascent_steps,
        step_size=cfg.ascent_step_size,
        keep_tol=cfg.keep_tol,
        generator=generator,
        device=ctx.device,
    )
    # 2. Feed the maximisers to every trained network at once.
    n_ref, n_restarts, _ = found.points.shape
    flat = found.points.reshape(-1, 2).to(model.dtype)
    at_max = hidden_activations(model, flat)  # (seed, n_ref·restarts, n_hidden)
    at_max = at_max.reshape(model.n_seeds, n_ref, n_restarts, -1)
    response = response_matrix(at_max, found.keep, acts)  # (seed, n_ref, n_hidden)

    names = neuron_names(model.sizes)
    labels = list(units.labels)
    response_np = response.cpu().numpy()
    ctx.save_array(
        "maximise/points",
        found.points.cpu().numpy(),
        axes=("reference", "restart", "input"),
        labels={"reference": labels, "input": ["a", "b"]},
        description="final inputs of gradient ascent on each reference neuron",
    )
    ctx.save_array(
        "maximise/keep",
        found.keep.cpu().numpy().astype(np.int8),
        axes=("reference", "restart"),
        labels={"reference": labels},
        description="1 where the start reached the best activation (within keep_tol)",
    )
    ctx.save_array(
        "maximise/response",
        response_np,
        axes=("seed", "reference", "neuron"),
        labels={"reference": labels, "neuron": names},
        description="z-score of each trained neuron at each reference neuron's maximisers",
    )
    flat_columns = [f"{seed}:{name}" for seed in model.seeds for name in names]
    ctx.save_array(
        "maximise/response_matrix",
        response_np.transpose(1, 0, 2).reshape(n_ref, -1),
        axes=("reference", "trained"),
        labels={"reference": labels, "trained": flat_columns},
        description="reference neuron × trained neuron (seed:neuron) response, z-score",
    )
    strongest = response.max(dim=2).values  # (seed, n_ref)
    ctx.save_array(
        "maximise/strongest_response",
        strongest.cpu().numpy().T,
        axes=("reference", "seed"),
        labels={"reference": labels},
        description="largest response over each network's neurons, z-score",
    )
    fraction = responding_fraction(response, informative, response_z=cfg.response_z)
    ctx.save_array(
        "maximise/responding_fraction",
        fraction.cpu().numpy(),
        axes=("reference",),
        labels={"reference": labels},
        description="mean fraction of informative trained neurons with z ≥ response_z, over "
        "the networks that have informative neurons",
    )
    ctx.set_results(
        {
            "maximise/reference_neurons": n_ref,
            "maximise/best_activation/min": float(found.best.min()),
            "maximise/agreement": _agreement(ctx, refs, units, response, informative),
        }
    )


def _agreement(
    ctx: RunContext,
    refs: tuple[ReferenceNetwork, ...],
    units: ReferenceUnits,
    response: torch.Tensor,
    informative: torch.Tensor,
) -> float:
    """Do matching and maximisation agree? See :func:`maximiser_agreement`.

    A neuron is matched to a reference neuron when it is informative and its best
    candidate (R² ≥ ``MATCHED_R2``) is the class of that reference neuron's function.
    """
    library = ctx.state["library"]
    matches = ctx.state["matches"]
    best = matches.top_index[:, :, 0]  # (seed, n_hidden)
    # Candidate class -> reference row (-1 for classes no reference neuron computes).
    row_of = torch.full((len(library),), -1, dtype=torch.long, device=best.device)
    for row, label in enumerate(units.labels):
        row_of[library.index(label)] = row
    well_matched = informative.to(best.device) & (matches.top_r2[:, :, 0] >= MATCHED_R2)
    matched_row = torch.where(well_matched, row_of[best], torch.full_like(best, -1))
    return maximiser_agreement(
        response,
        ctx.state["grid_acts"],
        reference_unit_values(refs, units, _grid(ctx)),
        matched_row,
        response_z=_config(ctx).response_z,
    )
