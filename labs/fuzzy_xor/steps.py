"""The fuzzy-XOR lab's first steps: train, the reference constructions, and matching.

Step 4 (maximisation) is in :mod:`.steps_maximise` and steps 5-7 (the census) in
:mod:`.steps_census`; they share :data:`MATCHED_R2`, ``_config`` and ``_grid`` from here.

Each step reads what earlier steps left in ``ctx.state``, computes on ``ctx.device``,
and writes arrays, results and Markdown through ``ctx``. Every neuron axis follows
:func:`~workbench_labs.fuzzy_xor.neurons.neuron_names` (``L1.0``, ``L1.1``, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.ensemble import (
    EnsembleMLP,
    TrainConfig,
    TrainProgress,
    init_ensemble,
    train_ensemble,
)
from workbench.core.lab import RunContext

from .candidates import build_candidate_library, candidate_functions
from .config import FuzzyXorConfig
from .fuzzy import fuzzy_xor, unit_square_grid
from .matching import affine_span_r2, match_neurons
from .neurons import ablation_effect, hidden_activations, neuron_names
from .references import ReferenceNetwork, reference_networks
from .report import references_markdown
from .strategies import informative_neurons, match_profiles

__all__ = ["layer_results", "match", "reference_error", "references", "train"]

#: Largest tolerated |reference − XOR| in float64, a few ulps of values in [0, 1].
EXACT_TOL = 1e-12
#: R² at or above which a neuron counts as matched to its best candidate.
MATCHED_R2 = 0.99
#: Random points (besides the grid) on which the references are checked.
N_CHECK_POINTS = 10_000


def _config(ctx: RunContext) -> FuzzyXorConfig:
    config: FuzzyXorConfig = ctx.config
    return config


def _grid(ctx: RunContext, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return unit_square_grid(_config(ctx).grid, dtype=dtype, device=ctx.device)


def _finite_median(values: np.ndarray[Any, Any]) -> float:
    """Median of the finite entries (a diverged network's loss is NaN); NaN if there are none."""
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


# --- step 1 ---------------------------------------------------------------------------------


def train(ctx: RunContext) -> None:
    """Train the ensemble on fuzzy XOR and evaluate every network on the grid."""
    cfg = _config(ctx)
    # 1. Training data: uniform on the unit square, from the data seed alone.
    data_gen = torch.Generator().manual_seed(cfg.data_seed)
    x = torch.rand(cfg.samples, 2, generator=data_gen, dtype=torch.float64)
    y = fuzzy_xor(x[:, 0], x[:, 1]).unsqueeze(1)  # (samples, 1)

    # 2. One batched ensemble, one generator per seed (init_ensemble).
    train_config = TrainConfig(
        widths=cfg.widths,
        activation="relu",
        optimizer="adam",
        lr=cfg.lr,
        steps=cfg.steps,
        batch_size=cfg.batch_size or None,
        loss="mse",
        log_every=cfg.log_every,
        data_seed=cfg.data_seed,
    )
    seeds = range(cfg.seed, cfg.seed + cfg.seeds)
    model = init_ensemble(train_config, seeds, d_in=2, d_out=1, device=ctx.device)

    def report(progress: TrainProgress) -> None:
        ctx.log_metrics(
            {"step": progress.step, "seed": seed, "loss": float(loss)}
            for seed, loss in zip(model.seeds, progress.loss, strict=True)
        )
        ctx.progress(
            progress.step,
            progress.total_steps,
            loss=_finite_median(progress.loss),
            diverged=int(progress.diverged.sum()),
            steps_per_second=round(progress.steps_per_second, 1),
        )

    result = train_ensemble(
        model, x.to(ctx.device), y.to(ctx.device), train_config, callback=report
    )

    # 3. Evaluate on the dense grid: a network has learned XOR if its grid MSE is small.
    grid = _grid(ctx, model.dtype)
    with torch.no_grad():
        output = model(grid)[:, :, 0]  # (seed, grid²)
    target = fuzzy_xor(grid[:, 0], grid[:, 1])
    grid_mse = (output - target).double().pow(2).mean(dim=1).cpu().numpy()
    converged = (grid_mse < cfg.converged_mse) & ~result.diverged

    ctx.save_checkpoint("ensemble", model.state_dict())
    ctx.save_array(
        "train/loss_history",
        result.loss_history.T,
        axes=("seed", "report"),
        description="training loss of every network at every progress report",
    )
    ctx.save_array(
        "train/loss_median",
        np.array([_finite_median(row) for row in result.loss_history]),
        axes=("report",),
        description="median training loss over the networks at every progress report",
    )
    ctx.save_array("train/report_steps", result.history_steps, axes=("report",))
    ctx.save_array("train/grid_mse", grid_mse, axes=("seed",), description="MSE on the grid")
    ctx.save_array("train/converged", converged.astype(np.int8), axes=("seed",))
    ctx.set_results(
        {
            "train/converged/count": int(converged.sum()),
            "train/converged/fraction": float(converged.mean()),
            "train/diverged/count": int(result.diverged.sum()),
            "train/grid_mse/median": _finite_median(grid_mse),
            "train/seconds": float(result.seconds),
        }
    )
    ctx.state.update(model=model, converged=converged)


# --- step 2 ---------------------------------------------------------------------------------


def references(ctx: RunContext) -> None:
    """Build the hand-coded constructions and check that each computes XOR exactly."""
    cfg = _config(ctx)
    refs = reference_networks()
    check_gen = torch.Generator().manual_seed(cfg.data_seed)
    points = torch.cat(
        [
            unit_square_grid(cfg.grid),
            torch.rand(N_CHECK_POINTS, 2, generator=check_gen, dtype=torch.float64),
        ]
    ).to(ctx.device)
    errors = [reference_error(net, points) for net in refs]
    for net, error in zip(refs, errors, strict=True):
        if not error <= EXACT_TOL:
            raise RuntimeError(
                f"reference construction {net.name!r} is not exact: max |error| = {error:.3g} "
                f"> {EXACT_TOL:g}; the construction is wrong"
            )
    ctx.set_results(
        {
            "reference/count": len(refs),
            "reference/max_error": max(errors),
            **{f"reference/{net.name}/max_error": e for net, e in zip(refs, errors, strict=True)},
        }
    )
    ctx.write_text("references.md", references_markdown(refs, errors))
    ctx.state["references"] = refs


def reference_error(net: ReferenceNetwork, points: torch.Tensor) -> float:
    """Largest |output − XOR| and |neuron − its closed form| of a construction, in float64.

    Args:
        net: The construction.
        points: (n, 2) float64 points of the unit square.
    """
    model = net.model().to(points.device)
    a, b = points[:, 0], points[:, 1]
    with torch.no_grad():
        error = (model(points)[0, :, 0] - fuzzy_xor(a, b)).abs().max()
        acts = hidden_activations(model, points)[0]  # (n, n_hidden)
        closed = torch.stack([n.function(a, b) for n in net.hidden_neurons], dim=1)
        error = torch.maximum(error, (acts - closed).abs().max())
    return float(error)


# --- step 3 ---------------------------------------------------------------------------------


def match(ctx: RunContext) -> None:
    """Match every trained neuron to the candidate functions by affine-fit R²."""
    cfg = _config(ctx)
    model: EnsembleMLP = ctx.state["model"]
    refs: tuple[ReferenceNetwork, ...] = ctx.state["references"]
    converged: np.ndarray[Any, Any] = ctx.state["converged"]
    grid = _grid(ctx)
    library = build_candidate_library(candidate_functions(refs), grid)
    names = neuron_names(model.sizes)

    # 1. Activations on the grid and the R² of every neuron against every candidate.
    acts = hidden_activations(model, grid.to(model.dtype))  # (seed, grid², n_hidden)
    matches = match_neurons(acts, library.values, top_k=cfg.top_k)
    # 2. Which neurons carry a nonlinear feature the network uses.
    affine = affine_span_r2(acts, grid)
    effect = ablation_effect(model, grid.to(model.dtype))
    informative = informative_neurons(
        matches.constant,
        affine,
        effect,
        affine_threshold=cfg.affine_threshold,
        relevance=cfg.relevance,
    )
    profiles = match_profiles(matches.r2, informative)

    status = np.full(informative.shape, "informative", dtype="<U11")
    status[(effect < cfg.relevance).cpu().numpy()] = "unused"
    status[(affine >= cfg.affine_threshold).cpu().numpy()] = "affine"
    status[matches.constant.cpu().numpy()] = "constant"

    inf = informative.cpu().numpy()
    best_r2 = matches.top_r2[:, :, 0].cpu().numpy()
    best_index = matches.top_index[:, :, 0].cpu().numpy()
    used = inf & converged[:, None]  # informative neurons of networks that learned XOR
    counts = np.bincount(best_index[used], minlength=len(library))

    neuron_labels = {"neuron": names, "candidate": list(library.names)}
    ctx.save_array(
        "match/r2",
        matches.r2.cpu().numpy(),
        axes=("seed", "neuron", "candidate"),
        labels=neuron_labels,
        description="R² of the best affine fit of each neuron to each candidate",
    )
    ctx.save_array(
        "match/top_index",
        matches.top_index.cpu().numpy(),
        axes=("seed", "neuron", "rank"),
        labels={"neuron": names},
        description="best candidates per neuron (indices into the candidate axis of match/r2)",
    )
    ctx.save_array(
        "match/top_r2",
        matches.top_r2.cpu().numpy(),
        axes=("seed", "neuron", "rank"),
        labels={"neuron": names},
        description="R² of the best candidates per neuron",
    )
    ctx.save_array("match/best_r2", best_r2, axes=("seed", "neuron"), labels={"neuron": names})
    ctx.save_array(
        "match/affine_r2",
        affine.cpu().numpy(),
        axes=("seed", "neuron"),
        labels={"neuron": names},
        description="R² of the best fit w_a·a + w_b·b + c: 1 for an affine neuron",
    )
    ctx.save_array(
        "match/ablation_effect",
        effect.cpu().numpy(),
        axes=("seed", "neuron"),
        labels={"neuron": names},
        description="RMS output change when the neuron is replaced by its grid mean",
    )
    ctx.save_array(
        "match/informative", inf.astype(np.int8), axes=("seed", "neuron"), labels={"neuron": names}
    )
    ctx.save_array(
        "match/profile",
        profiles,
        axes=("seed", "candidate"),
        labels={"candidate": list(library.names)},
        description="best R² of each candidate over each network's informative neurons",
    )
    ctx.save_array(
        "match/best_candidate_count",
        counts,
        axes=("candidate",),
        labels={"candidate": list(library.names)},
        description="informative neurons of converged networks whose best match is each candidate",
    )
    n_used = int(used.sum())
    ctx.set_results(
        {
            "match/candidates": len(library),
            "match/neurons/total": int(status.size),
            "match/neurons/constant": int((status == "constant").sum()),
            "match/neurons/affine": int((status == "affine").sum()),
            "match/neurons/unused": int((status == "unused").sum()),
            "match/neurons/informative": int(inf.sum()),
            "match/mean_best_r2": float(best_r2[used].mean()) if n_used else float("nan"),
            "match/matched/fraction": (
                float((best_r2[used] >= MATCHED_R2).mean()) if n_used else float("nan")
            ),
            **layer_results(model.sizes, inf, best_r2, converged, MATCHED_R2),
        }
    )
    ctx.state.update(
        constant=matches.constant,
        affine_span=affine,
        ablation=effect,
        library=library,
        grid_acts=acts,
        matches=matches,
        informative=informative,
        profiles=profiles,
        status=status,
    )


def layer_results(
    sizes: tuple[int, ...],
    informative: npt.NDArray[np.bool_],
    best_r2: npt.NDArray[np.float64],
    converged: npt.NDArray[np.bool_],
    matched_r2: float,
) -> dict[str, float | int]:
    """Matching read layer by layer: informative neurons and match quality per hidden layer.

    Args:
        sizes: ``(d_in, *hidden, d_out)``.
        informative: (seed, n_hidden) bool.
        best_r2: (seed, n_hidden) best candidate R².
        converged: (seed,) bool.
        matched_r2: R² at which a neuron counts as matched.
    """
    out: dict[str, float | int] = {}
    start = 0
    for layer, width in enumerate(sizes[1:-1], 1):
        cols = slice(start, start + width)
        start += width
        used = informative[:, cols] & converged[:, None]
        r2 = best_r2[:, cols][used]
        out[f"match/layer{layer}/informative"] = int(used.sum())
        out[f"match/layer{layer}/mean_best_r2"] = float(r2.mean()) if r2.size else float("nan")
        out[f"match/layer{layer}/matched_fraction"] = (
            float((r2 >= matched_r2).mean()) if r2.size else float("nan")
        )
    return out
