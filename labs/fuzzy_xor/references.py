"""Hand-coded ReLU networks that compute fuzzy XOR exactly, with labelled neurons.

Every hidden neuron of a reference network computes one clean function of (a, b)
on the unit square, recorded as a :class:`ReferenceNeuron` with a closed form. The
constructions rest on two exact ReLU identities,

    max(x, y) = x + relu(y − x),      min(x, y) = x − relu(x − y),

and on relu(x) = x for x ≥ 0, which lets a unit pass a nonnegative input through.

Each construction is a one-seed :class:`~workbench.core.ensemble.EnsembleMLP`
(layers ``weight: (seed, d_out, d_in)``, ``bias: (seed, d_out)``, ReLU hidden layers,
linear output), so the code that reads trained ensembles reads references unchanged.

The constructions (XOR(a, b) = min(max(a, b), 1 − min(a, b))):

* ``or-nand``: XOR = AND(OR, NAND) = OR − relu(OR − NAND), with OR = a + relu(b − a)
  and NAND = 1 − a + relu(a − b). Three hidden layers (the min needs a ReLU of
  OR − NAND, one layer above OR and NAND).
* ``and-not-or``: XOR = (a AND NOT b) OR (NOT a AND b) = X + relu(Y − X), with
  X = a − relu(a + b − 1) and Y = b − relu(a + b − 1). Three hidden layers.
* ``abs-diff``: XOR = (1 + |a − b| − |a + b − 1|) / 2 with |x| = relu(x) + relu(−x),
  the absolute values as second-layer neurons. Two hidden layers.
* ``four-creases``: the same formula in one hidden layer: the four half-planes
  relu(±(a − b)), relu(±(a + b − 1)) feed the output directly.
* ``three-creases-*``: one hidden layer with three of the four creases; the dropped
  one differs from its mirror image by an affine function, which pass-through units
  a and b supply. Four variants, named by the crease they drop.
* ``two-creases-*``: the fewest units in one hidden layer: one crease per diagonal,
  e.g. XOR = b + relu(a − b) − relu(a + b − 1), and one pass-through unit for the
  linear remainder. Four mirror variants (which side of each diagonal is active).

The nine one-layer constructions are every choice of one or both creases per
diagonal. Every hidden neuron of every construction is used: mean-ablating any of
them changes the output (the tests check this).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from workbench.core.ensemble import EnsembleMLP

from .fuzzy import (
    BinaryFunction,
    bounded_difference,
    fuzzy_and,
    fuzzy_not,
    fuzzy_or,
    lukasiewicz_and,
    lukasiewicz_nor,
)

__all__ = [
    "Layer",
    "ReferenceNetwork",
    "ReferenceNeuron",
    "permute_and_rescale_hidden",
    "reference_networks",
]

#: One layer as built here: ``(weight (1, d_out, d_in), bias (1, d_out))``, float64.
Layer = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class ReferenceNeuron:
    """A hidden neuron of a reference network and the function it computes.

    Attributes:
        label: The function's name, e.g. ``"OR"`` or ``"a ⊖ b"``; neurons of different
            constructions that compute the same function share a label.
        function: Closed form of the neuron's activation on [0, 1]².
        wiring: How the unit is wired in its network, e.g. ``"relu(OR − NAND)"``.
    """

    label: str
    function: BinaryFunction
    wiring: str


@dataclass(frozen=True)
class ReferenceNetwork:
    """An exact ReLU construction of fuzzy XOR.

    Attributes:
        name: Stable slug, e.g. ``"or-nand"``, used in result keys.
        formula: The construction in one line.
        layers: Parameters, each ``(weight (1, d_out, d_in), bias (1, d_out))``,
            float64; hidden layers are ReLU, the last layer is linear.
        neurons: One tuple per hidden layer, one :class:`ReferenceNeuron` per unit.
    """

    name: str
    formula: str
    layers: tuple[Layer, ...]
    neurons: tuple[tuple[ReferenceNeuron, ...], ...]

    @property
    def hidden_neurons(self) -> tuple[ReferenceNeuron, ...]:
        """All hidden neurons, layer by layer."""
        return tuple(n for layer in self.neurons for n in layer)

    @property
    def widths(self) -> tuple[int, ...]:
        """Hidden widths, e.g. ``(3, 3)``."""
        return tuple(len(layer) for layer in self.neurons)

    def model(self) -> EnsembleMLP:
        """The construction as a one-seed float64 ReLU ensemble (a fresh copy)."""
        return EnsembleMLP.from_layers(
            [w for w, _ in self.layers], [b for _, b in self.layers], "relu", [0]
        )


def permute_and_rescale_hidden(
    model: EnsembleMLP,
    permutations: Sequence[Tensor],
    scales: Sequence[Tensor],
) -> EnsembleMLP:
    """Apply the ReLU symmetries to hidden units; every network's function is unchanged.

    ReLU is positively homogeneous, relu(c·z) = c·relu(z) for c > 0, so multiplying a
    unit's incoming weights and bias by c and its outgoing weights by 1/c leaves the
    output unchanged; so does permuting a layer's units together with the matching
    columns of the next layer. New unit j of hidden layer l is old unit ``perm[j]``
    times ``scale[j]``.

    Args:
        model: The ensemble.
        permutations: One (d_hidden,) index tensor per hidden layer (same for all seeds).
        scales: One (seed, d_hidden) or (d_hidden,) tensor of positive factors per
            hidden layer, applied after the permutation.

    Returns:
        A new ensemble computing the same functions, hidden units reordered and rescaled.

    Raises:
        ValueError: if the counts or shapes do not match or a scale is not positive.
    """
    n_hidden = model.n_layers - 1
    if len(permutations) != n_hidden or len(scales) != n_hidden:
        raise ValueError(
            f"need one permutation and one scale tensor per hidden layer ({n_hidden}), "
            f"got {len(permutations)} and {len(scales)}"
        )
    weights = [layer.weight.clone() for layer in model.layers]
    biases = [layer.bias.clone() for layer in model.layers]
    for layer, (perm, scale) in enumerate(zip(permutations, scales, strict=True)):
        d_hidden = weights[layer].shape[1]
        if sorted(perm.tolist()) != list(range(d_hidden)):
            raise ValueError(
                f"permutation of hidden layer {layer + 1} must reorder 0..{d_hidden - 1}, "
                f"got {perm.tolist()}"
            )
        if bool((scale <= 0).any()):
            raise ValueError(f"scales of hidden layer {layer + 1} must be > 0 (ReLU symmetry)")
        perm = perm.to(device=model.device, dtype=torch.long)
        c = scale.to(model.params).expand(model.n_seeds, d_hidden)  # (seed, d_hidden)
        weights[layer] = weights[layer][:, perm, :] * c.unsqueeze(2)
        biases[layer] = biases[layer][:, perm] * c
        weights[layer + 1] = weights[layer + 1][:, :, perm] / c.unsqueeze(1)
    return EnsembleMLP.from_layers(weights, biases, model.activation, model.seeds)


# --- the constructions ---------------------------------------------------------------------


def _layer(weight: list[list[float]], bias: list[float]) -> Layer:
    w = torch.tensor(weight, dtype=torch.float64).unsqueeze(0)  # (1, d_out, d_in)
    b = torch.tensor(bias, dtype=torch.float64).unsqueeze(0)  # (1, d_out)
    return w, b


def _a(a: Tensor, b: Tensor) -> Tensor:
    return a + 0.0 * b


def _b(a: Tensor, b: Tensor) -> Tensor:
    return b + 0.0 * a


def _b_minus_a(a: Tensor, b: Tensor) -> Tensor:
    return bounded_difference(b, a)


def _abs_diff(a: Tensor, b: Tensor) -> Tensor:
    return (a - b).abs()


def _abs_anti(a: Tensor, b: Tensor) -> Tensor:
    return (a + b - 1.0).abs()


def _nand(a: Tensor, b: Tensor) -> Tensor:
    return fuzzy_not(fuzzy_and(a, b))


def _a_and_not_b(a: Tensor, b: Tensor) -> Tensor:
    return fuzzy_and(a, fuzzy_not(b))


def _not_a_and_b(a: Tensor, b: Tensor) -> Tensor:
    return fuzzy_and(fuzzy_not(a), b)


A = ReferenceNeuron("a", _a, "relu(a)")
B = ReferenceNeuron("b", _b, "relu(b)")
A_MINUS_B = ReferenceNeuron("a ⊖ b", bounded_difference, "relu(a − b)")
B_MINUS_A = ReferenceNeuron("b ⊖ a", _b_minus_a, "relu(b − a)")
T_L = ReferenceNeuron("T_L(a,b)", lukasiewicz_and, "relu(a + b − 1)")
NOR_L = ReferenceNeuron("NOR_L(a,b)", lukasiewicz_nor, "relu(1 − a − b)")


def _build_or_nand() -> ReferenceNetwork:
    # Hidden 1: a, relu(b − a), relu(a − b).
    # Hidden 2: OR = a + relu(b − a) = max(a, b);  NAND = 1 − a + relu(a − b) = 1 − min(a, b).
    # Hidden 3: relu(OR) = OR (pass-through);  relu(OR − NAND), which equals relu(a + b − 1).
    # Output:   min(OR, NAND) = OR − relu(OR − NAND).
    layers = (
        _layer([[1, 0], [-1, 1], [1, -1]], [0, 0, 0]),
        _layer([[1, 1, 0], [-1, 0, 1]], [0, 1]),
        _layer([[1, 0], [1, -1]], [0, 0]),
        _layer([[1, -1]], [0]),
    )
    neurons = (
        (A, B_MINUS_A, A_MINUS_B),
        (
            ReferenceNeuron("OR", fuzzy_or, "relu(a + (b ⊖ a))"),
            ReferenceNeuron("NAND", _nand, "relu(1 − a + (a ⊖ b))"),
        ),
        (
            ReferenceNeuron("OR", fuzzy_or, "relu(OR)"),
            ReferenceNeuron("T_L(a,b)", lukasiewicz_and, "relu(OR − NAND)"),
        ),
    )
    return ReferenceNetwork(
        "or-nand", "XOR = AND(OR, NAND) = OR − relu(OR − NAND)", layers, neurons
    )


def _build_and_not_or() -> ReferenceNetwork:
    # Hidden 1: a, b, relu(a + b − 1).
    # Hidden 2: X = a − relu(a + b − 1) = min(a, 1 − b);  Y = b − relu(a + b − 1) = min(1 − a, b).
    # Hidden 3: relu(X) = X (pass-through);  relu(Y − X), which equals relu(b − a).
    # Output:   max(X, Y) = X + relu(Y − X).
    layers = (
        _layer([[1, 0], [0, 1], [1, 1]], [0, 0, -1]),
        _layer([[1, 0, -1], [0, 1, -1]], [0, 0]),
        _layer([[1, 0], [-1, 1]], [0, 0]),
        _layer([[1, 1]], [0]),
    )
    neurons = (
        (A, B, T_L),
        (
            ReferenceNeuron("a AND NOT b", _a_and_not_b, "relu(a − T_L)"),
            ReferenceNeuron("NOT a AND b", _not_a_and_b, "relu(b − T_L)"),
        ),
        (
            ReferenceNeuron("a AND NOT b", _a_and_not_b, "relu(a AND NOT b)"),
            ReferenceNeuron("b ⊖ a", _b_minus_a, "relu((NOT a AND b) − (a AND NOT b))"),
        ),
    )
    return ReferenceNetwork(
        "and-not-or", "XOR = (a AND NOT b) OR (NOT a AND b) = X + relu(Y − X)", layers, neurons
    )


#: Incoming weights (w_a, w_b) and bias of every first-layer unit the constructions use.
_FIRST_LAYER_ROWS: dict[str, tuple[tuple[float, float], float]] = {
    "a ⊖ b": ((1.0, -1.0), 0.0),
    "b ⊖ a": ((-1.0, 1.0), 0.0),
    "T_L(a,b)": ((1.0, 1.0), -1.0),
    "NOR_L(a,b)": ((-1.0, -1.0), 1.0),
    "a": ((1.0, 0.0), 0.0),
    "b": ((0.0, 1.0), 0.0),
}


def _first_layer(units: Sequence[ReferenceNeuron]) -> Layer:
    rows = [_FIRST_LAYER_ROWS[u.label] for u in units]
    return _layer([list(w) for w, _ in rows], [bias for _, bias in rows])


def _four_crease_layer() -> Layer:
    # relu(a − b), relu(b − a), relu(a + b − 1), relu(1 − a − b)
    return _first_layer((A_MINUS_B, B_MINUS_A, T_L, NOR_L))


def _build_abs_diff() -> ReferenceNetwork:
    # Hidden 2 adds the two halves of each absolute value: |x| = relu(x) + relu(−x).
    layers = (
        _four_crease_layer(),
        _layer([[1, 1, 0, 0], [0, 0, 1, 1]], [0, 0]),
        _layer([[0.5, -0.5]], [0.5]),
    )
    neurons = (
        (A_MINUS_B, B_MINUS_A, T_L, NOR_L),
        (
            ReferenceNeuron("|a − b|", _abs_diff, "relu((a ⊖ b) + (b ⊖ a))"),
            ReferenceNeuron("|a + b − 1|", _abs_anti, "relu(T_L + NOR_L)"),
        ),
    )
    return ReferenceNetwork("abs-diff", "XOR = (1 + |a − b| − |a + b − 1|) / 2", layers, neurons)


def _one_layer(
    name: str, terms: Sequence[tuple[ReferenceNeuron, float]], bias: float
) -> ReferenceNetwork:
    """A one-hidden-layer construction: XOR = bias + Σ weight · unit."""
    units = tuple(unit for unit, _ in terms)
    out = _layer([[weight for _, weight in terms]], [bias])
    text = f"{bias:g}" if bias else ""
    for unit, weight in terms:
        sign = "−" if weight < 0 else "+"
        size = "" if abs(weight) == 1.0 else f"{abs(weight):g}·"
        term = f"{size}({unit.label})" if " " in unit.label else f"{size}{unit.label}"
        text = f"{text} {sign} {term}" if text else (f"−{term}" if weight < 0 else term)
    return ReferenceNetwork(name, f"XOR = {text}", (_first_layer(units), out), (units,))


def _build_one_layer() -> tuple[ReferenceNetwork, ...]:
    # With |x| = relu(x) + relu(−x), XOR = (1 + |a − b| − |a + b − 1|) / 2 uses the four
    # creases (half-planes) of the two diagonals. Each diagonal needs at least one of its
    # two creases, because the other differs from it by an affine function:
    #   b ⊖ a = (a ⊖ b) − (a − b),      NOR_L = T_L − (a + b − 1),
    # and affine remainders go to pass-through units a, b (relu(a) = a on [0, 1]).
    # Choosing one or both creases per diagonal gives the 3 × 3 = 9 constructions below.
    half = 0.5
    return (
        _one_layer(
            "four-creases",
            [(A_MINUS_B, half), (B_MINUS_A, half), (T_L, -half), (NOR_L, -half)],
            half,
        ),
        # Three creases: substitute for the dropped one.
        _one_layer(
            "three-creases-no-nor",
            [(A_MINUS_B, half), (B_MINUS_A, half), (T_L, -1.0), (A, half), (B, half)],
            0.0,
        ),
        _one_layer(
            "three-creases-no-and",
            [(A_MINUS_B, half), (B_MINUS_A, half), (NOR_L, -1.0), (A, -half), (B, -half)],
            1.0,
        ),
        _one_layer(
            "three-creases-no-ba",
            [(A_MINUS_B, 1.0), (T_L, -half), (NOR_L, -half), (A, -half), (B, half)],
            half,
        ),
        _one_layer(
            "three-creases-no-ab",
            [(B_MINUS_A, 1.0), (T_L, -half), (NOR_L, -half), (A, half), (B, -half)],
            half,
        ),
        # Two creases, one per diagonal: XOR = b + (a ⊖ b) − T_L and its mirror images.
        _one_layer("two-creases-ab-and", [(A_MINUS_B, 1.0), (T_L, -1.0), (B, 1.0)], 0.0),
        _one_layer("two-creases-ba-and", [(B_MINUS_A, 1.0), (T_L, -1.0), (A, 1.0)], 0.0),
        _one_layer("two-creases-ab-nor", [(A_MINUS_B, 1.0), (NOR_L, -1.0), (A, -1.0)], 1.0),
        _one_layer("two-creases-ba-nor", [(B_MINUS_A, 1.0), (NOR_L, -1.0), (B, -1.0)], 1.0),
    )


def reference_networks() -> tuple[ReferenceNetwork, ...]:
    """All hand-coded constructions of fuzzy XOR, in a fixed order.

    Returns:
        The two-hidden-layer ``or-nand``, ``and-not-or`` and ``abs-diff``, then the
        nine one-hidden-layer ``four-creases``, ``three-creases-*`` and
        ``two-creases-*``; each reproduces :func:`~.fuzzy.fuzzy_xor` exactly on
        [0, 1]² (to float64 rounding).
    """
    return (_build_or_nand(), _build_and_not_or(), _build_abs_diff(), *_build_one_layer())
