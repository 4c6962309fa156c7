"""Match neurons to candidate functions by the R² of an affine fit, batched over seeds.

For a neuron's activation y over the evaluation grid and a candidate function f on
the same grid, the least-squares fit y ≈ α·f + β explains the fraction

    R²(y, f) = 1 − min_{α,β} Σ_p (y_p − α f_p − β)² / Σ_p (y_p − ȳ)² = corr(y, f)²

of the neuron's variance (p runs over grid points; ȳ is the grid mean). With
ŷ = (y − ȳ)/‖y − ȳ‖ and f̂ likewise, corr(y, f) = ŷ·f̂, so every neuron of every seed
is scored against every candidate by one matrix product.

Conventions for degenerate cases, so that every entry is a number in [0, 1]:

* a constant candidate explains none of a non-constant neuron's variance: R² = 0;
* a constant neuron (a dead ReLU, or one active everywhere with zero weights) is
  fitted exactly by any constant: R² = 1 against constant candidates, 0 against the
  rest. :func:`constant_neurons` flags these neurons so callers can set them aside.

All work is done in float64 on the inputs' device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "CONSTANT_RTOL",
    "NeuronMatches",
    "affine_r2",
    "affine_span_r2",
    "constant_neurons",
    "match_neurons",
]

#: A neuron whose grid standard deviation is at most this fraction of its RMS (or of
#: 1, whichever is larger) counts as constant. Float32 activations are computed to a
#: relative precision ~1e-7, so 1e-6 leaves a margin without hiding real variation.
CONSTANT_RTOL = 1e-6


@dataclass(frozen=True)
class NeuronMatches:
    """Best-matching candidates for every neuron of every seed.

    Attributes:
        r2: (seed, n_units, n_candidates) affine-fit R² of each neuron on each candidate.
        top_index: (seed, n_units, k) candidate indices, best first.
        top_r2: (seed, n_units, k) their R², descending.
        constant: (seed, n_units) bool, neurons that are constant on the grid.
    """

    r2: Tensor
    top_index: Tensor
    top_r2: Tensor
    constant: Tensor


def constant_neurons(acts: Tensor, *, rtol: float = CONSTANT_RTOL) -> Tensor:
    """Flag neurons whose activation does not vary over the grid.

    Args:
        acts: (seed, n_points, n_units) activations over the grid.
        rtol: Relative tolerance; std ≤ rtol · max(rms, 1) counts as constant.

    Returns:
        (seed, n_units) bool.
    """
    y = acts.to(torch.float64)
    std = y.std(dim=1, unbiased=False)
    rms = y.pow(2).mean(dim=1).sqrt()
    return std <= rtol * rms.clamp_min(1.0)


def _unit_centred(values: Tensor, dim: int, constant: Tensor) -> Tensor:
    """(v − mean) / ‖v − mean‖ along ``dim``; zero for constant vectors."""
    centred = values - values.mean(dim=dim, keepdim=True)
    norm = centred.norm(dim=dim, keepdim=True)
    unit = centred / norm.clamp_min(torch.finfo(torch.float64).tiny)
    return torch.where(constant.unsqueeze(dim), torch.zeros_like(unit), unit)


def affine_r2(acts: Tensor, candidates: Tensor, *, rtol: float = CONSTANT_RTOL) -> Tensor:
    """R² of the best affine fit y ≈ α·f + β of every neuron on every candidate.

    R²(y, f) = corr(y, f)², the fraction of the neuron's variance over the grid that
    the candidate explains; see the module docstring for constant neurons and
    candidates.

    Args:
        acts: (seed, n_points, n_units) neuron activations on the grid.
        candidates: (n_candidates, n_points) candidate functions on the same grid.
        rtol: Relative tolerance for "constant" (see :func:`constant_neurons`).

    Returns:
        (seed, n_units, n_candidates) float64 in [0, 1].

    Raises:
        ValueError: if the shapes do not fit together.
    """
    if acts.dim() != 3:
        raise ValueError(f"acts must be (seed, n_points, n_units), got {tuple(acts.shape)}")
    if candidates.dim() != 2 or candidates.shape[1] != acts.shape[1]:
        raise ValueError(
            f"candidates must be (n_candidates, n_points={acts.shape[1]}), "
            f"got {tuple(candidates.shape)}"
        )
    y = acts.to(torch.float64)
    f = candidates.to(device=y.device, dtype=torch.float64)
    y_const = constant_neurons(y, rtol=rtol)  # (seed, n_units)
    f_const = constant_neurons(f.T.unsqueeze(0), rtol=rtol)[0]  # (n_candidates,)
    y_hat = _unit_centred(y, 1, y_const)  # (seed, n_points, n_units)
    f_hat = _unit_centred(f, 1, f_const)  # (n_candidates, n_points)
    r2 = torch.einsum("spu,cp->suc", y_hat, f_hat).pow(2).clamp(0.0, 1.0)
    # A constant neuron is fitted exactly by a constant candidate (α = 0, β = ȳ).
    both_constant = y_const.unsqueeze(2) & f_const.view(1, 1, -1)
    return torch.where(both_constant, torch.ones_like(r2), r2)


def affine_span_r2(acts: Tensor, points: Tensor, *, rtol: float = CONSTANT_RTOL) -> Tensor:
    """R² of the best fit y ≈ w_a·a + w_b·b + c: how close each neuron is to affine.

    A first-layer ReLU unit whose crease misses the unit square is exactly affine
    there (R² = 1); such a unit encodes no nonlinear feature of (a, b). Computed by
    projecting the centred activations onto an orthonormal basis of the centred
    inputs (a QR factorisation), R² = ‖Qᵀ(y − ȳ)‖² / ‖y − ȳ‖². Constant neurons get 1
    (a constant is affine).

    Args:
        acts: (seed, n_points, n_units) activations on the grid.
        points: (n_points, 2) the grid, columns a and b.
        rtol: Relative tolerance for "constant" (see :func:`constant_neurons`).

    Returns:
        (seed, n_units) float64 in [0, 1].
    """
    y = acts.to(torch.float64)
    x = points.to(device=y.device, dtype=torch.float64)
    x = x - x.mean(dim=0, keepdim=True)
    q, _ = torch.linalg.qr(x)  # (n_points, 2)
    centred = y - y.mean(dim=1, keepdim=True)
    explained = torch.einsum("pk,spu->sku", q, centred).pow(2).sum(dim=1)  # (seed, n_units)
    total = centred.pow(2).sum(dim=1)
    r2 = (explained / total.clamp_min(torch.finfo(torch.float64).tiny)).clamp(0.0, 1.0)
    return torch.where(constant_neurons(y, rtol=rtol), torch.ones_like(r2), r2)


def match_neurons(acts: Tensor, candidates: Tensor, *, top_k: int = 3) -> NeuronMatches:
    """Score every neuron against every candidate and keep the best ``top_k``.

    Args:
        acts: (seed, n_points, n_units) activations on the grid (all hidden layers
            concatenated along the last axis, if several).
        candidates: (n_candidates, n_points) candidate functions on the grid.
        top_k: How many best candidates to keep per neuron (clipped to n_candidates).

    Returns:
        The full R² table, the top-k candidates per neuron and the constant mask.

    Raises:
        ValueError: if ``top_k`` < 1 or the shapes do not fit.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    r2 = affine_r2(acts, candidates)
    top_r2, top_index = r2.topk(min(top_k, r2.shape[2]), dim=2)
    return NeuronMatches(r2=r2, top_index=top_index, top_r2=top_r2, constant=constant_neurons(acts))
