"""Constructions versus computations: when two ways of building XOR are the same computation.

Several one-layer constructions differ only by the identity relu(x) = x + relu(−x): dropping
the crease b ⊖ a and adding pass-through units a, b builds the same function from the same
features. Counting them as different strategies counts *parameterisations*. This module groups
constructions into **computation classes**.

Definition. Hidden layer l of a construction computes features h_l1, ..., h_lk on the unit
square. The output layer, and every later layer, can combine them only through affine maps, and
any net can add affine functions of the input (a, b) through pass-through units. So what layer l
makes available is the function space

    V_l = span{1, a, b, h_l1, ..., h_lk}     (functions on [0, 1]², evaluated on a grid).

A construction's computation is the sequence (V_1, ..., V_L) with consecutive repeats merged (a
layer of pass-through units repeats the space below it and adds nothing). Two constructions are
**the same computation** when their sequences are equal: the same spaces, in the same order.
Spaces are compared numerically: V = W exactly when rank[V] = rank[W] = rank[V | W], with the
rank of a grid matrix counted by singular values above ``rtol`` · the largest.

Examples: all nine one-layer constructions span {1, a, b, a ⊖ b, T_L} and are one computation;
``abs-diff`` builds |a − b| = (a ⊖ b) + (b ⊖ a) in a second layer whose space equals its first,
so it is that computation too; ``or-nand`` first makes features creased on a = b alone, a space
the others never pass through, so it is a different computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .references import ReferenceNetwork

__all__ = ["ComputationClasses", "computation_classes", "layer_spaces", "same_space"]

#: Singular values below this fraction of the largest count as zero when ranking grid matrices.
RANK_RTOL = 1e-9


def _rank(m: Tensor, rtol: float) -> int:
    s = torch.linalg.svdvals(m)
    return int((s > rtol * s.max()).sum()) if s.numel() else 0


def same_space(v: Tensor, w: Tensor, *, rtol: float = RANK_RTOL) -> bool:
    """Whether the column spaces of two grid matrices are equal.

    Args:
        v: (n_points, k_v) functions as columns.
        w: (n_points, k_w).
        rtol: Relative singular-value threshold of the rank.
    """
    rv, rw = _rank(v, rtol), _rank(w, rtol)
    return rv == rw == _rank(torch.cat([v, w], dim=1), rtol)


def layer_spaces(net: ReferenceNetwork, points: Tensor, *, rtol: float = RANK_RTOL) -> list[Tensor]:
    """The spaces V_1, ..., V_L of a construction, consecutive repeats merged.

    Args:
        net: The construction.
        points: (n_points, 2) float64 points of the unit square.

    Returns:
        One (n_points, 3 + k_l) matrix [1, a, b, h_l1, ...] per distinct consecutive layer.
    """
    x = points.to(torch.float64)
    a, b = x[:, 0], x[:, 1]
    base = [torch.ones_like(a), a, b]
    spaces: list[Tensor] = []
    for layer in net.neurons:
        space = torch.stack(base + [n.function(a, b) for n in layer], dim=1)
        if spaces and same_space(spaces[-1], space, rtol=rtol):
            continue
        spaces.append(space)
    return spaces


@dataclass(frozen=True)
class ComputationClasses:
    """Constructions grouped into computations.

    Attributes:
        names: Class names, one per class, e.g. ``"four-creases≡9"`` naming the first member and
            the class size.
        members: Per class, the construction names in it.
        of: Construction name → class index.
    """

    names: tuple[str, ...]
    members: tuple[tuple[str, ...], ...]
    of: dict[str, int]

    def label(self, construction: str) -> str:
        """The class name of a construction (``none``/``unconverged`` pass through)."""
        return self.names[self.of[construction]] if construction in self.of else construction


def computation_classes(
    references: Sequence[ReferenceNetwork], points: Tensor, *, rtol: float = RANK_RTOL
) -> ComputationClasses:
    """Group constructions whose layer-space sequences are equal (see the module docstring).

    Classes are numbered by their first member in ``references`` order; a class's name is its
    first member, followed by ``≡k`` when it has k > 1 members.
    """
    sequences = [layer_spaces(net, points, rtol=rtol) for net in references]
    of: dict[str, int] = {}
    leaders: list[int] = []
    for i, seq in enumerate(sequences):
        for c, j in enumerate(leaders):
            other = sequences[j]
            if len(other) == len(seq) and all(
                same_space(v, w, rtol=rtol) for v, w in zip(seq, other, strict=True)
            ):
                of[references[i].name] = c
                break
        else:
            of[references[i].name] = len(leaders)
            leaders.append(i)
    members = tuple(
        tuple(net.name for net in references if of[net.name] == c) for c in range(len(leaders))
    )
    names = tuple(group[0] if len(group) == 1 else f"{group[0]}≡{len(group)}" for group in members)
    return ComputationClasses(names, members, of)
