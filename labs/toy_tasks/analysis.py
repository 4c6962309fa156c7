"""Pure analysis functions of the toy-tasks lab: MI with the input, IR blocks, similarity.

Every quantity is exact for the uniform distribution over all 2^n inputs: each
input is one sample, so a layer's code (which inputs it maps to the "same"
activation, within ``tol``) is a partition of the 2^n inputs and its plug-in
entropy is the entropy of the layer under uniform inputs, not an estimate.

Shapes: ``codes: (seed, layer, n_inputs)`` int64 with one row per network and
layer (layers 1..L, the last is the linear output); IR blocks
``ir: (seed_a, layer, seed_b, layer)``. Information is in bits. Codes come from
:mod:`.grouping`; the IR blocks are computed once per ensemble pair and Sim and the
normalised similarity are read off them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from workbench.measures import information_ratio_matrix, mutual_information_matrix

__all__ = [
    "bit_mutual_information",
    "input_mutual_information",
    "ir_blocks",
    "layer_layer_across",
    "layer_layer_within",
    "normalized_similarity_from_blocks",
    "off_diagonal",
    "seed_seed_ir",
    "similarity_from_blocks",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


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


def similarity_from_blocks(ir: FloatArray) -> FloatArray:
    """The sprint's Sim for every pair of networks, from IR blocks already computed.

    ``Sim[s, t] = (1 / (m n)) Σ_i Σ_j IR(x_i^s, y_j^t)``, the mean of each block, so the IR
    matrices are computed once per run and not again for Sim (equal to
    :func:`workbench.measures.similarity_matrix`; the tests check it).

    Args:
        ir: ``(seed_a, layer_a, seed_b, layer_b)``.

    Returns:
        ``(seed_a, seed_b)``.
    """
    return np.asarray(ir.mean(axis=(1, 3)), dtype=np.float64)


def normalized_similarity_from_blocks(ir: FloatArray) -> FloatArray:
    """Normalised similarity for every pair of networks, from IR blocks already computed.

    ``NSim = ½ [(1/m) Σ_i max_j IR(x_i, y_j) + (1/n) Σ_j max_i IR(x_i, y_j)]``, as
    :func:`workbench.measures.normalized_similarity`.

    Args:
        ir: ``(seed_a, layer_a, seed_b, layer_b)``.

    Returns:
        ``(seed_a, seed_b)``.
    """
    best_a = ir.max(axis=3).mean(axis=1)  # (seed_a, seed_b): each layer of a, its best in b
    best_b = ir.max(axis=1).mean(axis=2)  # (seed_a, seed_b)
    return np.asarray(0.5 * (best_a + best_b), dtype=np.float64)
