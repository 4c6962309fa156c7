"""Codes with a scale: which inputs a layer maps to "the same" activation, and how sure we can be.

The sprint called two activation vectors the same when their mean absolute difference per unit,
``d(i, j) = (1 / n_units) Σ_u |a_iu - a_ju|``, was at most ``tol = 1e-5``. Two things make that
number hard to read, and this module handles both:

* **Scale.** A fixed ``tol`` means different things in a layer whose activations are O(1) and in
  one whose activations are O(1e-3). With ``mode = "relative"`` the tolerance is a fraction of
  the layer's own scale, the mean distance between two inputs in that layer,
  ``s = (2 / (n (n - 1))) Σ_{i<j} d(i, j)``, so ``tol_eff = tol · s`` per net and layer (computed
  exactly in O(n log n) per unit from sorted values, see :func:`layer_scale`).
* **Precision.** A net only pins its activations down so far. The output of an MSE-trained net
  misses its 0/1 target by up to ``r = max_i |ŷ_i - y_i|``, so output differences below r are
  fitting residue, not information; any layer is only known to float32 resolution. A layer
  whose ``tol_eff`` is below its precision is flagged (:func:`precision`).

Rules: ``chained`` (connected components of the "within tol" graph, order-free, a code's
diameter may exceed tol) and ``leader`` (the sprint's greedy rule: each input, in input order,
joins the first earlier group whose *first member* is within tol, or opens a new group).

Shapes: ``acts: (seed, n_inputs, n_units)``, ``codes: (seed, layer, n_inputs)``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from workbench.measures import canonical_codes, discretize_batch

from .config import RULES, TOL_MODES

__all__ = [
    "RULES",
    "TOL_MODES",
    "LayerCodes",
    "float_resolution",
    "group_codes",
    "layer_entropies",
    "layer_scale",
    "leader_codes",
    "min_code_distance",
    "output_residual",
    "scaled_codes",
    "target_mutual_information",
]


#: A layer is known to about this many float32 ulps of its largest activation (a dot product
#: of a few dozen float32 terms rounds by a few ulps of its magnitude; 8 is a round upper bound).
RESOLUTION_ULPS = 8.0
#: Entries of one (chunk, n, n) distance block (bounds memory of the dense leader rule).
_MAX_BLOCK = 1 << 22

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@cache
def _measures_have_rules() -> bool:
    """True once :func:`workbench.measures.discretize_batch` takes ``rule=`` (the measures
    engineer's grouping rules); until then the leader rule runs here."""
    return "rule" in inspect.signature(discretize_batch).parameters


def leader_codes(acts: torch.Tensor, tol: float) -> IntArray:
    """The sprint's greedy "leader" grouping, batched over the seed axis.

    1. Input j (in input order) opens a group, as its *leader*, unless an earlier leader is
       within ``tol`` of it.
    2. Every input joins the first leader (lowest index) within ``tol``.

    A group's members are all within ``tol`` of its leader (diameter <= 2 tol), but the result
    depends on the input order, and two inputs within ``tol`` of each other may get different
    codes.

    Args:
        acts: ``(seed, n_inputs, n_units)``.
        tol: Threshold on the mean absolute difference per unit.

    Returns:
        ``(seed, n_inputs)`` int64 codes, 0..k-1 by first occurrence.
    """
    b, n, d = acts.shape
    out = []
    chunk = max(1, _MAX_BLOCK // (n * n))
    for s0 in range(0, b, chunk):
        a = acts[s0 : s0 + chunk]
        near = torch.cdist(a, a, p=1.0) / d <= tol  # (chunk, n, n)
        leader = torch.zeros(a.shape[0], n, dtype=torch.bool, device=a.device)
        for j in range(n):  # the rule is sequential in j; each step is batched over seeds
            leader[:, j] = ~(near[:, :j, j] & leader[:, :j]).any(dim=1)
        # First leader within tol: leaders i <= j, and j is its own leader if none came earlier.
        first = (near & leader[:, :, None]).to(torch.int8).argmax(dim=1)  # (chunk, n)
        out.append(first)
    return np.asarray(canonical_codes(torch.cat(out)), dtype=np.int64)


def group_codes(acts: torch.Tensor, tol: float, rule: str) -> IntArray:
    """``(seed, n_inputs)`` codes of ``acts: (seed, n_inputs, n_units)`` by ``rule``."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}; got {rule!r}")
    if _measures_have_rules():
        fn: Any = discretize_batch
        return np.asarray(fn(acts, tol, rule=rule), dtype=np.int64)
    if rule == "chained":
        return np.asarray(discretize_batch(acts, tol), dtype=np.int64)
    return leader_codes(acts, tol)


def layer_scale(acts: torch.Tensor) -> torch.Tensor:
    """Mean distance between two inputs, ``s = mean_{i<j} (1/d) Σ_u |a_iu - a_ju|``, per seed.

    Per unit, with the values sorted ascending ``v_(1) <= ... <= v_(n)``,
    ``Σ_{i<j} |v_i - v_j| = Σ_k (2k - n - 1) v_(k)`` (Gini's mean difference), so the exact
    mean over the n(n-1)/2 pairs costs a sort, not n² distances.

    Args:
        acts: ``(seed, n_inputs, n_units)``, n_inputs >= 2.

    Returns:
        ``(seed,)`` float64 scale, 0 for a layer that maps every input to one point.
    """
    n = acts.shape[1]
    # Sort each unit's n values along the contiguous last axis (much faster than along dim 1),
    # in the activations' own dtype; the weighted sum is taken in float64.
    v = acts.transpose(1, 2).contiguous().sort(dim=-1).values  # (seed, unit, n)
    weight = 2 * torch.arange(1, n + 1, dtype=torch.float64, device=acts.device) - n - 1
    pair_sum = v.to(torch.float64) @ weight  # (seed, unit)
    return pair_sum.mean(dim=1) * 2.0 / (n * (n - 1))


@dataclass(frozen=True)
class LayerCodes:
    """Every layer of every net, grouped at one setting.

    Attributes:
        codes: ``(seed, layer, n_inputs)`` int64.
        tol_eff: ``(seed, layer)`` the absolute tolerance used (``tol`` times the layer's
            scale in relative mode).
        scale: ``(seed, layer)`` each layer's mean distance between inputs (1 in absolute mode).
    """

    codes: IntArray
    tol_eff: FloatArray
    scale: FloatArray


def scaled_codes(posts: Sequence[torch.Tensor], tol: float, *, rule: str, mode: str) -> LayerCodes:
    """Group every layer at tolerance ``tol`` (relative to the layer's scale or absolute).

    Relative mode divides each net's layer by its scale s and groups at ``tol``, which is the
    same as grouping the raw activations at ``tol · s``.

    Args:
        posts: Per layer, ``(seed, n_inputs, d_l)`` activations.
        tol: Tolerance, >= 0.
        rule: ``chained`` or ``leader``.
        mode: ``relative`` or ``absolute``.
    """
    if mode not in TOL_MODES:
        raise ValueError(f"mode must be one of {TOL_MODES}; got {mode!r}")
    codes, tols, scales = [], [], []
    for acts in posts:
        if mode == "relative":
            scale = layer_scale(acts)
            safe = torch.where(scale > 0, scale, torch.ones_like(scale))  # constant layer: 1 code
            codes.append(group_codes(acts / safe[:, None, None].to(acts.dtype), tol, rule))
            scales.append(safe.cpu().numpy())
        else:
            codes.append(group_codes(acts, tol, rule))
            scales.append(np.ones(acts.shape[0]))
        tols.append(tol * scales[-1])
    return LayerCodes(np.stack(codes, axis=1), np.stack(tols, axis=1), np.stack(scales, axis=1))


def _entropy_rows(codes: IntArray, n_values: int) -> FloatArray:
    """Entropies (bits) of rows of non-negative labels < n_values: one bincount, no loop."""
    rows, n = codes.shape
    offsets = np.arange(rows, dtype=np.int64)[:, None] * n_values
    counts = np.bincount((codes + offsets).ravel(), minlength=rows * n_values).astype(np.float64)
    counts = counts.reshape(rows, n_values)
    # H = log2 n - (1/n) Σ_k c_k log2 c_k (0 log 0 = 0).
    clog = np.where(counts > 0, counts * np.log2(np.maximum(counts, 1.0)), 0.0)
    return np.asarray(np.maximum(0.0, math.log2(n) - clog.sum(axis=1) / n), dtype=np.float64)


def layer_entropies(codes: IntArray) -> FloatArray:
    """H(layer) in bits for every net and layer under uniform inputs, in one batched count.

    ``H = -Σ_k (c_k / N) log2 (c_k / N)`` over the groups k of c_k inputs each, N = 2^n.

    Args:
        codes: ``(seed, layer, n_inputs)`` labels in 0..n_inputs-1 (canonical codes).

    Returns:
        ``(seed, layer)`` entropies in [0, log2 N].
    """
    s, layers, n = codes.shape
    if s == 0:
        return np.zeros((0, layers))
    return _entropy_rows(codes.reshape(s * layers, n), n).reshape(s, layers)


def target_mutual_information(codes: IntArray, target: npt.ArrayLike) -> FloatArray:
    """I(layer; y) = H(layer) + H(y) - H(layer, y) in bits, for every net and layer.

    The pair (code, y) is the joint label ``2 · code + y``, so all joint entropies come from one
    batched count as well.

    Args:
        codes: ``(seed, layer, n_inputs)`` canonical codes.
        target: ``(n_inputs,)`` 0/1 target of each input.

    Returns:
        ``(seed, layer)``, in [0, H(y)].
    """
    s, layers, n = codes.shape
    if s == 0:
        return np.zeros((0, layers))
    y = np.asarray(target, dtype=np.int64).reshape(1, 1, n)
    h = layer_entropies(codes)
    h_joint = _entropy_rows((2 * codes + y).reshape(s * layers, n), 2 * n).reshape(s, layers)
    h_y = float(_entropy_rows(y.reshape(1, n), 2)[0])
    return np.asarray(np.clip(h + h_y - h_joint, 0.0, h_y), dtype=np.float64)


def output_residual(output: torch.Tensor, target: torch.Tensor, loss: str) -> FloatArray:
    """Largest miss of the output, ``r = max_i |ŷ_i - y_i|``, per seed, for an MSE fit.

    Two inputs with the same target have outputs within 2r of each other, so output codes at a
    tolerance below r separate inputs by fitting residue. For ``bce-with-logits`` the output is
    a logit with no target value (it grows without bound as the fit improves), so there is no
    residual: NaN, and only :func:`float_resolution` applies.

    Args:
        output: ``(seed, n_inputs, 1)``.
        target: ``(n_inputs,)`` 0/1.
        loss: ``mse`` or ``bce-with-logits``.
    """
    if loss != "mse":
        return np.full(output.shape[0], np.nan)
    diff = output[..., 0].to(torch.float64) - target.to(output.device, torch.float64)[None]
    return np.asarray(diff.abs().amax(dim=1).cpu().numpy(), dtype=np.float64)


def float_resolution(acts: torch.Tensor) -> FloatArray:
    """How finely float32 pins a layer down: ``RESOLUTION_ULPS · eps32 · max |a|`` per seed."""
    eps = float(torch.finfo(torch.float32).eps)
    top = acts.detach().abs().amax(dim=(1, 2)).to(torch.float64)
    return np.asarray((RESOLUTION_ULPS * eps * top).cpu().numpy(), dtype=np.float64)


def min_code_distance(acts: torch.Tensor, codes: IntArray) -> FloatArray:
    """Smallest distance between two inputs with different codes, per seed (inf if one code).

    Chained codes are always more than ``tol`` apart; leader codes can be closer than ``tol``,
    and a value just above ``tol`` says the partition sits on a continuum (a slightly larger
    tol would merge groups).

    Args:
        acts: ``(seed, n_inputs, n_units)`` in the units of ``tol_eff``.
        codes: ``(seed, n_inputs)``.
    """
    b, n, d = acts.shape
    out = np.empty(b)
    c = torch.as_tensor(codes, device=acts.device)
    chunk = max(1, _MAX_BLOCK // (n * n))
    for s0 in range(0, b, chunk):
        a = acts[s0 : s0 + chunk]
        dist = torch.cdist(a, a, p=1.0)  # (chunk, n, n), float32 like the activations
        cc = c[s0 : s0 + chunk]
        dist.masked_fill_(cc[:, :, None] == cc[:, None, :], math.inf)
        out[s0 : s0 + a.shape[0]] = (dist.amin(dim=(1, 2)) / d).cpu().numpy()
    return out
