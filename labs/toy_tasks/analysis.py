"""Pure analysis functions of the toy-tasks lab: codes, entropies, IR blocks, comparisons.

Every quantity is exact for the uniform distribution over all 2^n inputs: each
input is one sample, so a layer's code (which inputs it maps to the "same"
activation, within ``tol``) is a partition of the 2^n inputs and its plug-in
entropy is the entropy of the layer under uniform inputs, not an estimate.

Shapes: ``codes: (seed, layer, n_inputs)`` int64 with one row per network and
layer (layers 1..L, the last is the linear output); IR blocks
``ir: (seed_a, layer, seed_b, layer)``. Information is in bits.

``similarity_matrix`` and ``normalized_similarity_matrix`` are re-exported from
:mod:`workbench.measures`; they take codes ``(seed, layer, n_inputs)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.ensemble import EnsembleMLP, layer_activations
from workbench.measures import (
    discretize_batch,
    entropy,
    information_ratio_matrix,
    mutual_information_matrix,
    normalized_similarity_matrix,
    similarity_matrix,
    two_sample_permutation_test,
)

__all__ = [
    "Comparison",
    "bit_mutual_information",
    "compare_groups",
    "input_mutual_information",
    "ir_blocks",
    "layer_codes",
    "layer_entropies",
    "layer_layer_across",
    "layer_layer_within",
    "layer_posts",
    "normalized_similarity_matrix",
    "off_diagonal",
    "seed_seed_ir",
    "similarity_matrix",
    "verdict",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def layer_posts(model: EnsembleMLP, x: torch.Tensor) -> list[torch.Tensor]:
    """Each layer's post-activation on the inputs: the representation it passes on.

    Args:
        model: The ensemble.
        x: ``(n_inputs, d_in)``.

    Returns:
        One ``(seed, n_inputs, d_l)`` tensor per layer; the last is the linear output.
    """
    return [acts.post for acts in layer_activations(model, x)]


def layer_codes(posts: Sequence[Any], tol: float) -> IntArray:
    """Discretize every layer of every network on the shared inputs.

    Two inputs get the same code in a layer when their activation vectors are
    within ``tol`` (mean absolute difference per unit), closed transitively; see
    :func:`workbench.measures.discretize`.

    Args:
        posts: Per layer, ``(seed, n_inputs, d_l)`` activations (tensor or array).
        tol: Tolerance, >= 0.

    Returns:
        ``(seed, layer, n_inputs)`` int64 codes.
    """
    return np.stack([discretize_batch(p, tol) for p in posts], axis=1)


def layer_entropies(codes: IntArray) -> FloatArray:
    """H(layer) in bits for every network and layer, under uniform inputs.

    ``H = -Σ_k (c_k / N) log2 (c_k / N)`` over the groups k of c_k inputs each, N = 2^n.

    Args:
        codes: ``(seed, layer, n_inputs)``.

    Returns:
        ``(seed, layer)`` entropies in [0, log2 N].
    """
    n_seeds, n_layers, _ = codes.shape
    out = np.empty((n_seeds, n_layers))
    for s in range(n_seeds):
        for layer in range(n_layers):
            out[s, layer] = entropy(codes[s, layer])
    return out


def input_mutual_information(codes: IntArray) -> FloatArray:
    """I(X; layer) in bits between the input and every layer, under uniform inputs.

    The input X takes each of its N values once, so its code is 0..N-1. A layer
    is a deterministic function of the input, H(layer | X) = 0, hence
    I(X; layer) = H(layer) - H(layer | X) = H(layer): computed here with the
    measure itself, and the tests check the identity.

    Args:
        codes: ``(seed, layer, n_inputs)``.

    Returns:
        ``(seed, layer)`` mutual information.
    """
    n_seeds, n_layers, n_inputs = codes.shape
    input_code = np.arange(n_inputs)[None, :]
    mi = mutual_information_matrix(codes.reshape(n_seeds * n_layers, n_inputs), input_code)
    return np.asarray(mi[:, 0].reshape(n_seeds, n_layers), dtype=np.float64)


def bit_mutual_information(layer_code: IntArray, bit: IntArray) -> FloatArray:
    """I(layer; bit) in bits for each network, e.g. the output layer against x₀.

    Args:
        layer_code: ``(seed, n_inputs)`` codes of one layer.
        bit: ``(n_inputs,)`` 0/1 value of the bit for each input.

    Returns:
        ``(seed,)``; at most H(bit), which is 1 bit for a balanced bit.
    """
    mi = mutual_information_matrix(layer_code, np.asarray(bit, dtype=np.int64)[None, :])
    return np.asarray(mi[:, 0], dtype=np.float64)


def ir_blocks(codes_a: IntArray, codes_b: IntArray | None = None) -> FloatArray:
    """Information ratio IR = I / H(joint) between every layer of every pair of networks.

    One vectorised :func:`workbench.measures.information_ratio_matrix` call over
    all (network, layer) rows.

    Args:
        codes_a: ``(seed_a, layer_a, n_inputs)``.
        codes_b: ``(seed_b, layer_b, n_inputs)``; ``None`` compares ``codes_a`` with itself.

    Returns:
        ``(seed_a, layer_a, seed_b, layer_b)`` ratios in [0, 1].
    """
    sa, la, n = codes_a.shape
    rows_a = codes_a.reshape(sa * la, n)
    if codes_b is None:
        ir = information_ratio_matrix(rows_a)
        sb, lb = sa, la
    else:
        sb, lb, _ = codes_b.shape
        ir = information_ratio_matrix(rows_a, codes_b.reshape(sb * lb, n))
    return np.asarray(ir, dtype=np.float64).reshape(sa, la, sb, lb)


def seed_seed_ir(ir: FloatArray, layer: int) -> FloatArray:
    """IR between corresponding layers (0-based ``layer``) for every pair of networks.

    Returns:
        ``(seed_a, seed_b)``.
    """
    return ir[:, layer, :, layer]


def layer_layer_within(ir: FloatArray) -> FloatArray:
    """Mean over networks of the layer × layer IR inside each network.

    Args:
        ir: ``(seed, layer, seed, layer)`` blocks of one ensemble with itself.

    Returns:
        ``(layer, layer)``: entry (i, j) is mean_s IR(x_i, x_j) for the layers of net s.
    """
    return np.asarray(np.einsum("sisj->ij", ir) / ir.shape[0], dtype=np.float64)


def layer_layer_across(ir: FloatArray, *, same_ensemble: bool) -> FloatArray:
    """Mean over pairs of different networks of the layer × layer IR between them.

    Args:
        ir: ``(seed_a, layer, seed_b, layer)`` blocks.
        same_ensemble: True when ``ir`` compares an ensemble with itself, so the
            pairs s = t (a network with itself) are left out of the mean.

    Returns:
        ``(layer, layer)``: entry (i, j) is the mean of IR(x_i, y_j) over pairs (X, Y).
    """
    sa, _, sb, _ = ir.shape
    total = ir.sum(axis=(0, 2))
    if same_ensemble:
        total = total - np.einsum("sisj->ij", ir)
        return np.asarray(total / (sa * (sa - 1)), dtype=np.float64)
    return np.asarray(total / (sa * sb), dtype=np.float64)


def off_diagonal(matrix: FloatArray) -> FloatArray:
    """The entries of a square matrix off its diagonal, as a flat array (pairs s ≠ t)."""
    n = matrix.shape[0]
    return np.asarray(matrix[~np.eye(n, dtype=bool)], dtype=np.float64)


@dataclass(frozen=True)
class Comparison:
    """Two groups of per-network values (e.g. one layer's entropy in two tasks).

    Attributes:
        mean_a, std_a, n_a: Group a's mean, sample standard deviation and size.
        mean_b, std_b, n_b: The same for group b.
        difference: mean_b - mean_a.
        p_value: Two-sided permutation p-value for "same distribution": the share of
            random relabellings whose |mean difference| is at least the observed one,
            counted as (1 + k) / (1 + permutations). NaN when a group is empty.
    """

    mean_a: float
    std_a: float
    n_a: int
    mean_b: float
    std_b: float
    n_b: int
    difference: float
    p_value: float


def compare_groups(
    a: FloatArray, b: FloatArray, *, n_permutations: int = 2000, seed: int = 0
) -> Comparison:
    """Compare two groups by their means, with a two-sided permutation test.

    The statistic is T = |mean(b) - mean(a)|. Under the null hypothesis that both
    groups come from one distribution the group labels are exchangeable, so
    shuffling the labels samples T's null distribution (the two-sided
    :func:`workbench.measures.two_sample_permutation_test`).

    Args:
        a: ``(n_a,)`` values of group a.
        b: ``(n_b,)`` values of group b.
        n_permutations: Label shuffles.
        seed: Seed of the test's own generator.

    Returns:
        The :class:`Comparison`.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)

    def summary(v: FloatArray) -> tuple[float, float]:
        mean = float(v.mean()) if v.size else float("nan")
        std = float(v.std(ddof=1)) if v.size > 1 else float("nan")
        return mean, std

    mean_a, std_a = summary(a)
    mean_b, std_b = summary(b)
    p_value = float("nan")
    if a.size and b.size:
        test = two_sample_permutation_test(a, b, n_permutations=n_permutations, seed=seed)
        p_value = test.p_value
    return Comparison(
        mean_a, std_a, int(a.size), mean_b, std_b, int(b.size), mean_b - mean_a, p_value
    )


def verdict(comparison: Comparison, alpha: float) -> int:
    """+1 when group a is significantly *lower* than b, -1 when higher, 0 otherwise.

    Significant means ``p_value < alpha`` (pass an already corrected alpha).
    """
    if not comparison.p_value < alpha:  # NaN counts as not significant
        return 0
    return 1 if comparison.difference > 0 else -1
