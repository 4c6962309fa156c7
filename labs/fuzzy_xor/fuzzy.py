"""Fuzzy (Zadeh) logic on the unit square, and the 16 two-input boolean functions.

Inputs are truth degrees a, b ∈ [0, 1]. The connectives are the Zadeh (min/max)
ones used in the sprint that motivates this lab:

    OR(a, b) = max(a, b),   AND(a, b) = min(a, b),   NOT(a) = 1 − a,
    XOR(a, b) = AND(OR(a, b), NOT(AND(a, b))) = min(max(a, b), 1 − min(a, b)).

On the corners {0, 1}² every fuzzy form reduces to its boolean truth table; in
the interior they are piecewise linear, which is why a ReLU network can compute
them exactly (see :mod:`workbench_labs.fuzzy_xor.references`).

A few Łukasiewicz connectives appear too because a single ReLU unit computes them:
the Łukasiewicz t-norm T_L(a, b) = max(0, a + b − 1) and the bounded difference
a ⊖ b = max(0, a − b).

All functions take and return torch tensors of any (broadcastable) shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "BOOLEAN_FUNCTIONS",
    "BinaryFunction",
    "BooleanFunction",
    "bounded_difference",
    "fuzzy_and",
    "fuzzy_not",
    "fuzzy_or",
    "fuzzy_xor",
    "lukasiewicz_and",
    "lukasiewicz_nor",
    "unit_square_grid",
    "xor_piecewise",
]

#: A function of the two truth degrees, elementwise: ``f(a, b)`` with a, b of one shape.
BinaryFunction = Callable[[Tensor, Tensor], Tensor]


def fuzzy_not(x: Tensor) -> Tensor:
    """Zadeh negation NOT(x) = 1 − x."""
    return 1.0 - x


def fuzzy_and(x: Tensor, y: Tensor) -> Tensor:
    """Zadeh conjunction AND(x, y) = min(x, y)."""
    return torch.minimum(x, y)


def fuzzy_or(x: Tensor, y: Tensor) -> Tensor:
    """Zadeh disjunction OR(x, y) = max(x, y)."""
    return torch.maximum(x, y)


def fuzzy_xor(a: Tensor, b: Tensor) -> Tensor:
    """The lab's target, XOR(a, b) = AND(OR(a, b), NOT(AND(a, b))).

    Equals min(max(a, b), 1 − min(a, b)); see :func:`xor_piecewise` for the same
    function written with absolute values.
    """
    return fuzzy_and(fuzzy_or(a, b), fuzzy_not(fuzzy_and(a, b)))


def xor_piecewise(a: Tensor, b: Tensor) -> Tensor:
    """Fuzzy XOR on [0, 1]² as (1 + |a − b| − |a + b − 1|) / 2.

    Why it equals :func:`fuzzy_xor`: max(a, b) ≤ 1 − min(a, b) exactly when
    a + b ≤ 1, so XOR is max(a, b) below the anti-diagonal and 1 − min(a, b) above
    it. The two diagonals a = b and a + b = 1 cut the square into four triangles on
    which XOR is a, b, 1 − a or 1 − b, and the formula above matches each of them.
    Only valid on the unit square.
    """
    return 0.5 * (1.0 + (a - b).abs() - (a + b - 1.0).abs())


def lukasiewicz_and(a: Tensor, b: Tensor) -> Tensor:
    """Łukasiewicz t-norm T_L(a, b) = max(0, a + b − 1): one ReLU unit, relu(a + b − 1)."""
    return torch.relu(a + b - 1.0)


def lukasiewicz_nor(a: Tensor, b: Tensor) -> Tensor:
    """T_L(1 − a, 1 − b) = max(0, 1 − a − b): one ReLU unit, relu(1 − a − b)."""
    return torch.relu(1.0 - a - b)


def bounded_difference(a: Tensor, b: Tensor) -> Tensor:
    """Bounded difference a ⊖ b = max(0, a − b) = T_L(a, 1 − b): one ReLU unit."""
    return torch.relu(a - b)


@dataclass(frozen=True)
class BooleanFunction:
    """One of the 16 two-input boolean functions, with its fuzzy (Zadeh) form.

    Attributes:
        name: Readable name, e.g. ``"a AND NOT b"``.
        truth_table: Outputs at (a, b) = (0, 0), (0, 1), (1, 0), (1, 1).
        function: The fuzzy form, built from min, max and 1 − x only.
    """

    name: str
    truth_table: tuple[int, int, int, int]
    function: BinaryFunction


def _const(value: float) -> BinaryFunction:
    def constant(a: Tensor, b: Tensor) -> Tensor:
        return torch.full_like(a + b, value)

    return constant


#: The 16 two-input boolean functions, ordered by truth table read as a binary number
#: (bit order (0,0), (0,1), (1,0), (1,1), most significant first).
BOOLEAN_FUNCTIONS: tuple[BooleanFunction, ...] = (
    BooleanFunction("FALSE", (0, 0, 0, 0), _const(0.0)),
    BooleanFunction("AND", (0, 0, 0, 1), fuzzy_and),
    BooleanFunction("a AND NOT b", (0, 0, 1, 0), lambda a, b: fuzzy_and(a, fuzzy_not(b))),
    BooleanFunction("a", (0, 0, 1, 1), lambda a, b: a + 0.0 * b),
    BooleanFunction("NOT a AND b", (0, 1, 0, 0), lambda a, b: fuzzy_and(fuzzy_not(a), b)),
    BooleanFunction("b", (0, 1, 0, 1), lambda a, b: b + 0.0 * a),
    BooleanFunction("XOR", (0, 1, 1, 0), fuzzy_xor),
    BooleanFunction("OR", (0, 1, 1, 1), fuzzy_or),
    BooleanFunction("NOR", (1, 0, 0, 0), lambda a, b: fuzzy_not(fuzzy_or(a, b))),
    BooleanFunction("XNOR", (1, 0, 0, 1), lambda a, b: fuzzy_not(fuzzy_xor(a, b))),
    BooleanFunction("NOT b", (1, 0, 1, 0), lambda a, b: fuzzy_not(b) + 0.0 * a),
    BooleanFunction("a OR NOT b", (1, 0, 1, 1), lambda a, b: fuzzy_or(a, fuzzy_not(b))),
    BooleanFunction("NOT a", (1, 1, 0, 0), lambda a, b: fuzzy_not(a) + 0.0 * b),
    BooleanFunction("NOT a OR b", (1, 1, 0, 1), lambda a, b: fuzzy_or(fuzzy_not(a), b)),
    BooleanFunction("NAND", (1, 1, 1, 0), lambda a, b: fuzzy_not(fuzzy_and(a, b))),
    BooleanFunction("TRUE", (1, 1, 1, 1), _const(1.0)),
)


def unit_square_grid(
    side: int, *, dtype: torch.dtype = torch.float64, device: torch.device | None = None
) -> Tensor:
    """A regular grid over [0, 1]², corners included.

    Args:
        side: Points per axis (≥ 2); the grid has side² points.
        dtype: Floating dtype of the result.
        device: Where to put it (default CPU).

    Returns:
        points: (side², 2), column 0 is a and column 1 is b; a varies slowest.

    Raises:
        ValueError: if ``side`` < 2.
    """
    if side < 2:
        raise ValueError(f"grid side must be >= 2 so the corners are included, got {side}")
    axis = torch.linspace(0.0, 1.0, side, dtype=dtype, device=device)
    a, b = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([a.reshape(-1), b.reshape(-1)], dim=1)  # (side², 2)
