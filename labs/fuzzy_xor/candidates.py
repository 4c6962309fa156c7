"""The candidate-function library: what a trained neuron might be computing.

The library holds, evaluated on the evaluation grid of [0, 1]²,

1. the 16 two-input boolean functions in fuzzy (min/max/1 − x) form, which include
   a, b and the constants;
2. every distinct function computed by a neuron of a reference network
   (:mod:`~workbench_labs.fuzzy_xor.references`), e.g. a ⊖ b or |a − b|.

Matching allows an affine fit y ≈ α·f + β, so two candidates that are affine images
of each other (OR and NOR = 1 − OR, a and NOT a, FALSE and TRUE) cannot be told
apart by any neuron. They are merged into one *class* whose name lists them all,
e.g. ``"OR ≡ NOR"``, so a match table shows each distinguishable function once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .fuzzy import BOOLEAN_FUNCTIONS, BinaryFunction
from .references import ReferenceNetwork

__all__ = [
    "CandidateLibrary",
    "build_candidate_library",
    "candidate_functions",
]

#: Relative standard deviation below which a function on the grid counts as constant.
CONSTANT_RTOL = 1e-9


@dataclass(frozen=True)
class CandidateLibrary:
    """Candidate functions on a grid, one per affine-equivalence class.

    Attributes:
        names: Class names, e.g. ``"OR ≡ NOR"``; the first alias is the representative.
        aliases: The member function names of each class, in library order.
        values: (n_candidates, n_points) float64, the representative of each class on
            the grid.
        points: (n_points, 2) float64, the grid, columns a and b.
    """

    names: tuple[str, ...]
    aliases: tuple[tuple[str, ...], ...]
    values: Tensor
    points: Tensor

    def __len__(self) -> int:
        return len(self.names)

    def index(self, function_name: str) -> int:
        """Index of the class that contains ``function_name`` (e.g. ``"NOR"``).

        Raises:
            KeyError: naming the known functions, if there is no such function.
        """
        for i, members in enumerate(self.aliases):
            if function_name in members:
                return i
        known = ", ".join(n for members in self.aliases for n in members)
        raise KeyError(f"no candidate function {function_name!r}; known: {known}")


def candidate_functions(
    references: Sequence[ReferenceNetwork],
) -> list[tuple[str, BinaryFunction]]:
    """Named candidate functions: the 16 boolean functions, then reference neurons.

    A reference-neuron function whose label already appeared (the same function in
    several constructions) is listed once.

    Args:
        references: Reference networks whose neuron functions join the library.

    Returns:
        ``(name, function)`` pairs in library order.
    """
    functions = [(f.name, f.function) for f in BOOLEAN_FUNCTIONS]
    seen = {name for name, _ in functions}
    for net in references:
        for neuron in net.hidden_neurons:
            if neuron.label not in seen:
                seen.add(neuron.label)
                functions.append((neuron.label, neuron.function))
    return functions


def build_candidate_library(
    functions: Sequence[tuple[str, BinaryFunction]],
    points: Tensor,
    *,
    equivalence_tol: float = 1e-9,
) -> CandidateLibrary:
    """Evaluate candidates on a grid and merge affine-equivalent ones into classes.

    Two non-constant functions f, g are affine-equivalent on the grid when
    g = α·f + β exactly, i.e. when corr(f, g)² = 1; numerically, when
    1 − corr² ≤ ``equivalence_tol``. All constant functions form one class.

    Args:
        functions: ``(name, function)`` pairs, see :func:`candidate_functions`.
        points: (n_points, 2) grid over [0, 1]², columns a and b.
        equivalence_tol: Tolerance on 1 − corr² for merging.

    Returns:
        The library; class order follows the first member's order in ``functions``.

    Raises:
        ValueError: if there are no functions, names repeat or ``points`` is not (n, 2).
    """
    if not functions:
        raise ValueError("the candidate library needs at least one function")
    names = [name for name, _ in functions]
    if len(set(names)) != len(names):
        raise ValueError(f"candidate names must be unique, got {names}")
    if points.dim() != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be (n_points, 2), got {tuple(points.shape)}")
    points = points.to(torch.float64)
    a, b = points[:, 0], points[:, 1]
    values = torch.stack([fn(a, b) for _, fn in functions])  # (n_functions, n_points)

    centred = values - values.mean(dim=1, keepdim=True)
    norms = centred.norm(dim=1)
    rms = values.pow(2).mean(dim=1).sqrt()
    constant = norms / values.shape[1] ** 0.5 <= CONSTANT_RTOL * rms.clamp_min(1.0)
    unit = centred / norms.clamp_min(1e-300).unsqueeze(1)
    corr2 = (unit @ unit.T).pow(2)  # (n_functions, n_functions)

    members: list[list[int]] = []
    for i in range(len(functions)):
        for group in members:
            j = group[0]
            same = bool(constant[i] and constant[j]) or (
                not bool(constant[i] or constant[j]) and 1.0 - float(corr2[i, j]) <= equivalence_tol
            )
            if same:
                group.append(i)
                break
        else:
            members.append([i])
    aliases = tuple(tuple(names[i] for i in group) for group in members)
    return CandidateLibrary(
        names=tuple(" ≡ ".join(group) for group in aliases),
        aliases=aliases,
        values=values[[group[0] for group in members]],
        points=points,
    )
