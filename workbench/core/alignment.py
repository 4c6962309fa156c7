"""Permutation alignment of pairs of nets: weight matching and activation matching.

Given nets A and B of one architecture, find permutations π_l of B's hidden layers so that
``permute_hidden(B, π)`` (:mod:`workbench.core.symmetry`) is as close to A as possible; B's
function does not change. Both methods follow Ainsworth, Hayase & Srinivasa (2023), "Git
Re-Basin: Merging Models modulo Permutation Symmetries", §3.1–3.2.

**Weight matching** maximises ``Σ_l ⟨W_l^A, W_l^{B'}⟩_F + ⟨b_l^A, b_l^{B'}⟩`` over all π at
once. That is NP-hard for two or more hidden layers, so it is done by coordinate descent
(started from a forward pass of incoming-weight matches, or from the identity as in the paper):
with the others fixed, the objective is linear in π_l,

    ⟨P_l, C_l⟩,  C_l[i, j] = ⟨f_i^A, f_j^B⟩,
    f_i = [W_l[i, :] (columns already permuted by π_{l-1}),  b_l[i],  W_{l+1}[:, i] (rows
          permuted by π_{l+1})],

a linear assignment problem solved exactly by ``scipy.optimize.linear_sum_assignment``. Layers
are visited in a random order each sweep (as in the paper), and a pair stops when a whole sweep
changes no permutation. A new assignment is taken only when it strictly increases the objective,
so ties cannot make the descent cycle and it always terminates.

**Activation matching** correlates each hidden unit of A with each of B over a set of inputs
(post-activations, Pearson correlation; ties among dead units broken by pre-activation
correlation, see :data:`TIE_BREAK`) and solves one assignment per layer. The layers are
independent: which units B has in a layer does not depend on how the layer below is ordered.

Batching: all pairs' cost matrices of a layer come from one batched product; only the LAPs run
one pair at a time, since scipy solves one problem per call. ``benchmarks/bench_path_dependence.py``
times both parts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from workbench.core.models.mlp import EnsembleMLP, layer_activations

__all__ = [
    "MatchResult",
    "activation_correlations",
    "activation_matching",
    "solve_assignments",
    "weight_matching",
    "weight_matching_costs",
]

#: Weight of the pre-activation correlations in activation matching. Dead ReLU units are
#: constant after the nonlinearity, so they correlate 0 with everything and any assignment of
#: them is as good; their pre-activations still differ, and this small weight breaks those ties
#: without overriding post-activation differences larger than about 2·TIE_BREAK·d.
TIE_BREAK = 1e-3

#: A new assignment must beat the current one by this much (relative to the cost scale) to be
#: taken: float rounding cannot then make two equally good assignments alternate.
IMPROVE_TOL = 1e-10


@dataclass(frozen=True)
class MatchResult:
    """Permutations that align each B to its A.

    Attributes:
        perms: One ``(pair, d_l)`` int64 tensor per hidden layer; ``permute_hidden(B, perms)``
            is B aligned to A.
        sweeps: ``(pair,)`` coordinate-descent sweeps each pair took (1 for activation
            matching).
        converged: ``(pair,)`` bool, a whole sweep changed nothing (always True for activation
            matching).
        objective: ``(pair,)`` the matched similarity: Σ ⟨θ^A, θ^{B'}⟩ over hidden-layer weights
            and biases for weight matching, Σ_l Σ_i corr(A_i, B'_i) for activation matching.
    """

    perms: list[Tensor]
    sweeps: npt.NDArray[np.int64]
    converged: npt.NDArray[np.bool_]
    objective: npt.NDArray[np.float64]


def solve_assignments(costs: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Maximum-weight perfect matching for each of a stack of square cost matrices.

    Args:
        costs: ``(pair, d, d)``; ``costs[p, i, j]`` is the gain of putting B's unit j at A's
            unit i.

    Returns:
        ``(pair, d)`` with ``perm[p, i]`` the B unit placed at position i.
    """
    out = np.empty(costs.shape[:2], dtype=np.int64)
    for p in range(costs.shape[0]):  # scipy solves one LAP per call
        rows, cols = linear_sum_assignment(costs[p], maximize=True)
        out[p, rows] = cols
    return out


def _gather_rows(t: Tensor, perm: Tensor) -> Tensor:
    """``t[p, perm[p], :]`` for every pair p; t: (pair, d, k), perm: (pair, d)."""
    return t.gather(1, perm.unsqueeze(2).expand(-1, -1, t.shape[2]))


def _gather_cols(t: Tensor, perm: Tensor) -> Tensor:
    """``t[p, :, perm[p]]`` for every pair p; t: (pair, k, d), perm: (pair, d)."""
    return t.gather(2, perm.unsqueeze(1).expand(-1, t.shape[1], -1))


def weight_matching_costs(
    wa: Sequence[Tensor],
    ba: Sequence[Tensor],
    wb: Sequence[Tensor],
    bb: Sequence[Tensor],
    perms: Sequence[Tensor],
    layer: int,
    *,
    outgoing: bool = True,
) -> Tensor:
    """The cost matrices ``C_l`` of hidden layer ``layer`` (0-based) for every pair, batched.

    Args:
        wa, ba: A's weights ``(pair, d_out, d_in)`` and biases ``(pair, d_out)`` per layer.
        wb, bb: B's, unpermuted.
        perms: The current ``(pair, d_l)`` permutations of B's hidden layers.
        layer: Which hidden layer's units to match (0 = first hidden layer).
        outgoing: Include the outgoing weights in the features (False: incoming weights and
            bias only, for the forward initialisation).

    Returns:
        ``(pair, d, d)`` with ``C[p, i, j] = ⟨f_i^A, f_j^B⟩`` as in the module docstring.
    """
    w_in_b = wb[layer]
    if layer > 0:  # B's inputs to this layer are its permuted units of the layer below
        w_in_b = _gather_cols(w_in_b, perms[layer - 1])
    w_out_b = wb[layer + 1]
    if layer + 1 < len(perms):  # rows of the next layer follow its permutation
        w_out_b = _gather_rows(w_out_b, perms[layer + 1])
    # Unit features (pair, d, d_in + 1 + d_next): incoming, bias, outgoing weights.
    parts_a = [wa[layer], ba[layer].unsqueeze(2)]
    parts_b = [w_in_b, bb[layer].unsqueeze(2)]
    if outgoing:
        parts_a.append(wa[layer + 1].transpose(1, 2))
        parts_b.append(w_out_b.transpose(1, 2))
    fa, fb = torch.cat(parts_a, dim=2), torch.cat(parts_b, dim=2)
    return torch.einsum("pik,pjk->pij", fa, fb)


def _objective(
    wa: Sequence[Tensor], ba: Sequence[Tensor], aligned: EnsembleMLP
) -> npt.NDArray[np.float64]:
    total = torch.zeros(aligned.n_seeds, dtype=torch.float64, device=aligned.device)
    for li, layer in enumerate(aligned.layers):
        total += (wa[li] * layer.weight.double()).sum(dim=(1, 2)) + (
            ba[li] * layer.bias.double()
        ).sum(1)
    return total.cpu().numpy()


def weight_matching(
    model_a: EnsembleMLP,
    model_b: EnsembleMLP,
    *,
    max_sweeps: int = 100,
    seed: int = 0,
    init: str = "forward",
    callback: Callable[[int, int], None] | None = None,
) -> MatchResult:
    """Align every net of ``model_b`` to the net of ``model_a`` in the same row.

    Coordinate descent over one LAP per hidden layer (module docstring), in float64. A pair
    whose sweep changes nothing is done and drops out of later sweeps.

    Args:
        model_a: ``pair`` nets A.
        model_b: ``pair`` nets B, same layer sizes.
        max_sweeps: Stop after this many sweeps even if some pair still changes.
        seed: Seeds the random layer order of each sweep (one order shared by all pairs).
        init: ``forward`` starts from matching each layer on its incoming weights, input side
            first; ``identity`` starts from no permutation, as Ainsworth et al. do.
        callback: ``callback(sweep, pairs_done)`` after every sweep (for progress; may raise to
            cancel).

    Returns:
        The permutations, sweeps, convergence flags and the matched objective.
    """
    from workbench.core.symmetry import identity_permutations, permute_hidden

    _check_pair(model_a, model_b)
    wa = [layer.weight.double() for layer in model_a.layers]
    ba = [layer.bias.double() for layer in model_a.layers]
    wb = [layer.weight.double() for layer in model_b.layers]
    bb = [layer.bias.double() for layer in model_b.layers]
    n_pairs, n_hidden = model_a.n_seeds, model_a.n_layers - 1
    perms = identity_permutations(model_b)
    if init == "forward":
        # Match each layer on its incoming weights and bias alone, from the input up: exact for
        # a permuted copy (whose units differ), where coordinate descent from the identity can
        # stop at a local optimum that swaps two pairs of units in adjacent layers at once.
        for li in range(n_hidden):
            first = weight_matching_costs(wa, ba, wb, bb, perms, li, outgoing=False)
            perms[li] = torch.as_tensor(
                solve_assignments(first.cpu().numpy()), device=model_a.device
            )
    elif init != "identity":
        raise ValueError(f"init must be 'forward' or 'identity'; got {init!r}")
    sweeps = np.zeros(n_pairs, dtype=np.int64)
    active = np.ones(n_pairs, dtype=bool)
    rng = np.random.default_rng(seed)
    for sweep in range(1, max_sweeps + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        rows = torch.as_tensor(idx, device=model_a.device)
        sub = [p.index_select(0, rows) for p in perms]
        sa, sba, sb, sbb = ([t.index_select(0, rows) for t in ts] for ts in (wa, ba, wb, bb))
        changed = np.zeros(idx.size, dtype=bool)
        for layer in rng.permutation(n_hidden):
            # 1. All active pairs' cost matrices of this layer in one batched product.
            cost = weight_matching_costs(sa, sba, sb, sbb, sub, int(layer)).cpu().numpy()
            # 2. One exact LAP per pair; keep the new assignment only if it is strictly better.
            new = solve_assignments(cost)
            current = sub[layer].cpu().numpy().copy()
            gain_new = np.take_along_axis(cost, new[:, :, None], 2).sum(axis=(1, 2))
            gain_old = np.take_along_axis(cost, current[:, :, None], 2).sum(axis=(1, 2))
            scale = np.abs(cost).max(axis=(1, 2)) * cost.shape[1] + 1e-300
            better = gain_new > gain_old + IMPROVE_TOL * scale
            if better.any():
                current[better] = new[better]
                sub[layer] = torch.as_tensor(current, device=model_a.device)
                changed |= better
        for li in range(n_hidden):
            perms[li][rows] = sub[li]
        sweeps[idx] = sweep
        active[idx[~changed]] = False
        if callback is not None:
            callback(sweep, int((~active).sum()))
    aligned = permute_hidden(model_b.to(model_a.device), perms)
    return MatchResult(perms, sweeps, ~active, _objective(wa, ba, aligned))


def activation_correlations(
    model_a: EnsembleMLP, model_b: EnsembleMLP, x: Tensor, *, kind: str = "post"
) -> list[Tensor]:
    """Pearson correlation of every hidden unit of A with every unit of B, per hidden layer.

    ``corr[p, i, j] = (1/n) Σ_x z^A_i(x) z^B_j(x)`` with ``z`` a unit's activation standardised
    over the n inputs. A constant unit (a dead ReLU's post-activation) has ``z = 0``, so it
    correlates 0 with everything.

    Args:
        model_a, model_b: ``pair`` nets each.
        x: ``(n, d_in)`` inputs shared by all nets.
        kind: ``post`` (after the nonlinearity, as Ainsworth et al.) or ``pre``.

    Returns:
        One ``(pair, d_l, d_l)`` float64 tensor per hidden layer.
    """
    _check_pair(model_a, model_b)
    if kind not in ("post", "pre"):
        raise ValueError(f"kind must be 'post' or 'pre'; got {kind!r}")
    acts_a = layer_activations(model_a, x)[:-1]
    acts_b = layer_activations(model_b, x.to(model_b.device))[:-1]
    out = []
    for la, lb in zip(acts_a, acts_b, strict=True):
        ta, tb = (la.post, lb.post) if kind == "post" else (la.pre, lb.pre)
        za, zb = _standardise(ta.double()), _standardise(tb.double().to(model_a.device))
        out.append(torch.einsum("pni,pnj->pij", za, zb) / za.shape[1])
    return out


def _standardise(acts: Tensor) -> Tensor:
    """``(a − mean) / std`` per unit over the batch axis of ``(pair, n, d)``; 0 where std = 0."""
    centred = acts - acts.mean(dim=1, keepdim=True)
    std = centred.square().mean(dim=1, keepdim=True).sqrt()
    # Relative threshold: a unit whose spread is rounding noise counts as constant.
    scale = acts.abs().amax(dim=1, keepdim=True)
    ok = std > 1e-12 * (1.0 + scale)
    return torch.where(ok, centred / torch.where(ok, std, torch.ones_like(std)), 0.0)


def activation_matching(model_a: EnsembleMLP, model_b: EnsembleMLP, x: Tensor) -> MatchResult:
    """Align every B to its A by matching hidden units on their activation correlations.

    Args:
        model_a, model_b: ``pair`` nets each, one architecture.
        x: ``(n, d_in)`` inputs (the training inputs).

    Returns:
        The permutations; ``objective`` is the summed matched (post-activation) correlation.
    """
    corrs = activation_correlations(model_a, model_b, x)
    pres = activation_correlations(model_a, model_b, x, kind="pre")
    perms = []
    total = np.zeros(model_a.n_seeds)
    for corr, pre in zip(corrs, pres, strict=True):
        c = corr.cpu().numpy()
        perm = solve_assignments(c + TIE_BREAK * pre.cpu().numpy())
        total += np.take_along_axis(c, perm[:, :, None], 2).sum(axis=(1, 2))
        perms.append(torch.as_tensor(perm, device=model_a.device))
    n = model_a.n_seeds
    return MatchResult(perms, np.ones(n, dtype=np.int64), np.ones(n, dtype=bool), total)


def _check_pair(model_a: EnsembleMLP, model_b: EnsembleMLP) -> None:
    if model_a.sizes != model_b.sizes or model_a.n_seeds != model_b.n_seeds:
        raise ValueError(
            f"nets A and B must share layer sizes and count; got {model_a.sizes} × "
            f"{model_a.n_seeds} and {model_b.sizes} × {model_b.n_seeds}"
        )
