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
    "reference_unit_activations",
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
