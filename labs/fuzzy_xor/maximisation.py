"""Activation maximisation: inputs that drive each reference neuron hardest, and who responds.

Step 1 finds, for every distinct reference neuron, inputs (a, b) ∈ [0, 1]² that
maximise its activation, by projected gradient ascent from many random starts,
all neurons and starts in one batch:

    x ← clip(x + η_t ∇ₓ h_i(x), 0, 1),   η_t = η (1 − t / T),

where h_i is the neuron's activation and the step shrinks linearly to zero so that
iterates zig-zagging across a ridge of a piecewise-linear function (e.g. the ridge
a + b = 1 of min(a, 1 − b)) settle on it. Starts whose final activation is within
``keep_tol`` of the best are kept: a neuron such as ``a`` is maximal on a whole
edge, and the kept starts sample that set.

Step 2 feeds the kept inputs to the trained networks and records how strongly each
trained neuron responds, as a z-score against its own activation statistics over
the evaluation grid,

    z_{s,i,u} = mean_{x ∈ X_i} (h_{s,u}(x) − μ_{s,u}) / σ_{s,u},

s the seed, i the reference neuron, u the trained neuron, X_i the kept maximisers of
i, μ and σ the grid mean and standard deviation of h_{s,u}. Constant trained neurons
(σ = 0) respond 0. The result is the reference-neuron × trained-neuron response
matrix, one per seed.

Step 3 summarises it: :func:`responding_fraction` (per reference neuron, the share of a
network's informative neurons that respond, averaged over the networks that have any)
and :func:`maximiser_agreement` (whether the neurons that matching pairs with a
reference neuron respond to its maximisers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .matching import CONSTANT_RTOL, constant_neurons
from .neurons import hidden_activations
from .references import ReferenceNetwork

__all__ = [
    "MaximisingInputs",
    "ReferenceUnits",
    "distinct_reference_units",
    "maximise_activations",
    "maximiser_agreement",
    "reference_unit_activations",
    "reference_unit_values",
    "responding_fraction",
    "response_matrix",
]


@dataclass(frozen=True)
class ReferenceUnits:
    """The distinct functions computed by reference neurons, one unit each.

    Attributes:
        labels: Distinct neuron labels, in order of first appearance.
        networks: For each label, the index of the first reference network with such a
            neuron.
        columns: Its position among that network's hidden neurons (all layers, in
            order, as in :func:`~.neurons.hidden_activations`).
    """

    labels: tuple[str, ...]
    networks: tuple[int, ...]
    columns: tuple[int, ...]


@dataclass(frozen=True)
class MaximisingInputs:
    """Result of :func:`maximise_activations`.

    Attributes:
        points: (n_neurons, n_restarts, 2) final inputs, columns a and b.
        values: (n_neurons, n_restarts) each neuron's activation at its final inputs.
        best: (n_neurons,) highest activation found per neuron.
        keep: (n_neurons, n_restarts) bool, restarts within ``keep_tol`` of the best.
    """

    points: Tensor
    values: Tensor
    best: Tensor
    keep: Tensor


def distinct_reference_units(references: Sequence[ReferenceNetwork]) -> ReferenceUnits:
    """One representative unit per distinct reference-neuron function (by label)."""
    labels: list[str] = []
    networks: list[int] = []
    columns: list[int] = []
    for n, net in enumerate(references):
        for column, neuron in enumerate(net.hidden_neurons):
            if neuron.label not in labels:
                labels.append(neuron.label)
                networks.append(n)
                columns.append(column)
    return ReferenceUnits(tuple(labels), tuple(networks), tuple(columns))


def reference_unit_activations(
    references: Sequence[ReferenceNetwork], units: ReferenceUnits
) -> Callable[[Tensor], Tensor]:
    """A differentiable map from inputs to the chosen reference units' activations.

    Args:
        references: The reference networks.
        units: Which unit of which network, see :func:`distinct_reference_units`.

    Returns:
        ``f(points: (batch, 2)) -> (batch, n_units)``, computed through the networks
        (not the closed forms), in float64 on the inputs' device.
    """
    models = {n: references[n].model() for n in sorted(set(units.networks))}

    def activations(points: Tensor) -> Tensor:
        hidden = {
            n: hidden_activations(model.to(points.device), points, differentiable=True)[0]
            for n, model in models.items()
        }  # network -> (batch, n_hidden)
        columns = [hidden[n][:, c] for n, c in zip(units.networks, units.columns, strict=True)]
        return torch.stack(columns, dim=1)  # (batch, n_units)

    return activations


def reference_unit_values(
    references: Sequence[ReferenceNetwork], units: ReferenceUnits, points: Tensor
) -> Tensor:
    """The chosen reference units' closed-form functions at ``points``.

    Args:
        references: The reference networks.
        units: Which unit of which network, see :func:`distinct_reference_units`.
        points: (n_points, 2) inputs, columns a and b.

    Returns:
        (n_units, n_points) float64.
    """
    x = points.to(torch.float64)
    return torch.stack(
        [
            references[n].hidden_neurons[c].function(x[:, 0], x[:, 1])
            for n, c in zip(units.networks, units.columns, strict=True)
        ]
    )


def maximise_activations(
    activations: Callable[[Tensor], Tensor],
    n_neurons: int,
    *,
    restarts: int,
    steps: int,
    step_size: float,
    keep_tol: float,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
    device: torch.device | None = None,
) -> MaximisingInputs:
    """Maximise every neuron over [0, 1]² by batched projected gradient ascent.

    Args:
        activations: ``f(points: (batch, 2)) -> (batch, n_neurons)``, differentiable.
        n_neurons: Number of neurons ``activations`` returns.
        restarts: Random starts per neuron, uniform on [0, 1]².
        steps: Gradient-ascent steps T.
        step_size: Initial step η, in input units per unit of gradient.
        keep_tol: Keep starts whose final activation is ≥ best − keep_tol.
        generator: Source of the random starts (its device must match ``device``).
        dtype: Floating dtype of the inputs.
        device: Where to compute (default CPU).

    Returns:
        :class:`MaximisingInputs`.

    Raises:
        ValueError: for non-positive counts or a negative step size or tolerance.
    """
    if n_neurons < 1 or restarts < 1 or steps < 0:
        raise ValueError(
            f"need n_neurons >= 1, restarts >= 1 and steps >= 0, "
            f"got {n_neurons}, {restarts}, {steps}"
        )
    if step_size < 0 or keep_tol < 0:
        raise ValueError(f"step_size and keep_tol must be >= 0, got {step_size}, {keep_tol}")
    x = torch.rand(
        (n_neurons, restarts, 2), generator=generator, dtype=dtype, device=device
    )  # (neuron, restart, 2)
    own = torch.arange(n_neurons, device=x.device)

    def own_activation(points: Tensor) -> Tensor:
        acts = activations(points.reshape(-1, 2)).reshape(n_neurons, restarts, n_neurons)
        return acts[own, :, own]  # (neuron, restart): neuron i at its own inputs

    for t in range(steps):
        x.requires_grad_(True)
        # Each start influences only its own neuron's term, so the gradient of the sum
        # is every start's own gradient: one backward pass for all of them.
        (grad,) = torch.autograd.grad(own_activation(x).sum(), x)
        with torch.no_grad():
            x = (x + step_size * (1.0 - t / steps) * grad).clamp(0.0, 1.0)
    x = x.detach()
    with torch.no_grad():
        values = own_activation(x)
    best = values.max(dim=1).values
    return MaximisingInputs(
        points=x, values=values, best=best, keep=values >= best.unsqueeze(1) - keep_tol
    )


def response_matrix(
    acts_at_maximisers: Tensor,
    keep: Tensor,
    grid_acts: Tensor,
    *,
    rtol: float = CONSTANT_RTOL,
) -> Tensor:
    """How strongly each trained neuron responds to each reference neuron's maximisers.

    Args:
        acts_at_maximisers: (seed, n_ref, n_restarts, n_units) trained activations at
            the inputs of :attr:`MaximisingInputs.points`.
        keep: (n_ref, n_restarts) bool, which starts reached the maximum.
        grid_acts: (seed, n_points, n_units) trained activations on the evaluation grid,
            for each neuron's mean μ and standard deviation σ.
        rtol: Relative tolerance for constant neurons (see :func:`~.matching.constant_neurons`).

    Returns:
        (seed, n_ref, n_units) float64 mean z-score over the kept maximisers.

    Raises:
        ValueError: if the shapes disagree.
    """
    n_seeds, n_ref, n_restarts, n_units = acts_at_maximisers.shape
    if tuple(keep.shape) != (n_ref, n_restarts):
        raise ValueError(
            f"keep must be (n_ref={n_ref}, n_restarts={n_restarts}), got {tuple(keep.shape)}"
        )
    if grid_acts.dim() != 3 or grid_acts.shape[0] != n_seeds or grid_acts.shape[2] != n_units:
        raise ValueError(
            f"grid_acts must be (seed={n_seeds}, n_points, n_units={n_units}), "
            f"got {tuple(grid_acts.shape)}"
        )
    grid = grid_acts.to(torch.float64)
    mean = grid.mean(dim=1)  # (seed, n_units)
    std = grid.std(dim=1, unbiased=False)
    constant = constant_neurons(grid, rtol=rtol)
    std = torch.where(constant, torch.ones_like(std), std)  # constant neurons: zeroed below
    z = (acts_at_maximisers.to(torch.float64) - mean[:, None, None, :]) / std[:, None, None, :]
    weights = keep.to(device=z.device, dtype=torch.float64)
    weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1.0)  # (n_ref, n_restarts)
    response = torch.einsum("sirn,ir->sin", z, weights)
    return torch.where(constant[:, None, :], torch.zeros_like(response), response)


def responding_fraction(response: Tensor, informative: Tensor, *, response_z: float) -> Tensor:
    """Per reference neuron, the share of a network's informative neurons that respond.

    For network s with informative neurons U_s ≠ ∅, F_{s,i} = |{u ∈ U_s : z_{s,i,u} ≥
    response_z}| / |U_s|; the result is the mean of F_{s,i} over the networks with
    U_s ≠ ∅. A network without informative neurons (e.g. one that collapsed to a
    constant) has no such share and is left out rather than counted as 0.

    Args:
        response: (seed, n_ref, n_units) z-scores, from :func:`response_matrix`.
        informative: (seed, n_units) bool.
        response_z: A neuron responds when its z-score is at least this.

    Returns:
        (n_ref,) float64 in [0, 1]; NaN everywhere if no network has an informative neuron.
    """
    mask = informative.to(response.device)
    count = mask.sum(dim=1)  # (seed,)
    responds = (response >= response_z) & mask.unsqueeze(1)  # (seed, n_ref, n_units)
    share = responds.sum(dim=2).to(torch.float64) / count.clamp_min(1).unsqueeze(1)
    has = count > 0
    if not bool(has.any()):
        return torch.full((response.shape[1],), float("nan"), dtype=torch.float64)
    return share[has].mean(dim=0)


def maximiser_agreement(
    response: Tensor,
    grid_acts: Tensor,
    reference_values: Tensor,
    matched_row: Tensor,
    *,
    response_z: float,
) -> float:
    """Do matching and maximisation agree? The share of matched neurons that respond.

    A trained neuron u matched to reference neuron i fits its function as
    h_u ≈ α·g_i + β. With α > 0 it is highest where g_i is, so it should respond to i's
    maximisers, z ≥ ``response_z``. With α < 0 it computes the mirror image of g_i
    (e.g. AND = 1 − NAND for reference NAND: matching's R² cannot tell them apart) and
    is *lowest* at those inputs, so its z-score is taken with the sign of α, that is
    of corr(h_u, g_i) over the grid: the neuron agrees when sign(α)·z ≥ ``response_z``.

    Args:
        response: (seed, n_ref, n_units) z-scores, from :func:`response_matrix`.
        grid_acts: (seed, n_points, n_units) trained activations on the grid.
        reference_values: (n_ref, n_points) each reference neuron's function on the grid.
        matched_row: (seed, n_units) int, the reference neuron (row of ``response``) each
            trained neuron is matched to, −1 for none.
        response_z: Response threshold in grid standard deviations.

    Returns:
        The share in [0, 1]; NaN when no neuron is matched.
    """
    rows = matched_row.to(response.device)
    seeds, units = torch.nonzero(rows >= 0, as_tuple=True)
    if seeds.numel() == 0:
        return float("nan")
    ref = rows[seeds, units]
    y = grid_acts.to(device=response.device, dtype=torch.float64)[seeds, :, units]  # (m, p)
    g = reference_values.to(device=response.device, dtype=torch.float64)[ref]  # (m, p)
    covariance = ((y - y.mean(dim=1, keepdim=True)) * (g - g.mean(dim=1, keepdim=True))).sum(1)
    z = response.to(torch.float64)[seeds, ref, units]
    return float((torch.sign(covariance) * z >= response_z).to(torch.float64).mean())
