"""Similarity of two networks from the information ratios of their layers' codes.

A network X is represented by the codes of its m layers on a shared set of inputs,
``X = (x_1, ..., x_m)`` (see :func:`~workbench.core.measures.discretization.discretize`); Y likewise
with n layers. ``IR(x_i, y_j) = I(x_i; y_j) / H(x_i, y_j)`` is the information ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.measures._arrays import Array, CodeStack
from workbench.core.measures.discrete import information_ratio_matrix

__all__ = [
    "layer_ratio_blocks",
    "normalized_similarity",
    "normalized_similarity_from_blocks",
    "normalized_similarity_matrix",
    "similarity",
    "similarity_from_blocks",
    "similarity_matrix",
]

#: Layer codes of several networks: a (n_nets, n_layers, n_samples) array, or one
#: :data:`CodeStack` per network (networks may then have different numbers of layers).
NetworkCodes: TypeAlias = "Array | Sequence[CodeStack]"


def similarity(layers_x: CodeStack, layers_y: CodeStack) -> float:
    """The sprint's network similarity: the mean information ratio over all layer pairs.

    ``Sim(X, Y) = (1 / (m n)) * sum_{i=1..m} sum_{j=1..n} IR(x_i, y_j)``, dimensionless, in
    [0, 1]. As the sprint noticed, it is not maximal at self-comparison: ``Sim(X, X)`` averages
    in the cross-layer ratios ``IR(x_i, x_k)``, which are below 1 whenever two layers of X carry
    different partitions, so a network can score higher against another network than against
    itself. :func:`normalized_similarity` fixes that.

    Args:
        layers_x: (m, n_samples) integer codes, or a sequence of m 1-D code arrays (one per
            layer of network X, all on the same inputs).
        layers_y: (n, n_samples) codes of network Y on the same inputs in the same order.

    Returns:
        Sim(X, Y) in [0, 1].

    Raises:
        ValueError: On empty or non-integer codes or different sample counts.
    """
    return float(information_ratio_matrix(layers_x, layers_y).mean())


def normalized_similarity(layers_x: CodeStack, layers_y: CodeStack) -> float:
    """Best-match network similarity, 1 exactly when both networks hold the same partitions.

    Each layer is matched with its most similar layer in the other network, and the two
    directions are averaged (a symmetrised "Chamfer" similarity)::

        NSim(X, Y) = 1/2 * [ (1/m) sum_i max_j IR(x_i, y_j) + (1/n) sum_j max_i IR(x_i, y_j) ]

    Properties (proof sketch):

    * ``NSim <= 1``: every IR is at most 1, so every max, mean and the average are too.
    * ``NSim(X, X) = 1``: each ``x_i`` is matched with itself and ``IR(x_i, x_i) = 1``
      (the 0/0 case of a constant code is 1 too). Hence self-comparison is the maximum.
    * ``NSim(X, Y) = 1`` iff every layer of X has a layer of Y with the same partition and vice
      versa: all maxima must be 1, and IR = 1 iff the partitions correspond one to one.
    * Symmetric, invariant to relabelling codes and to reordering layers, in [0, 1].

    The cosine-style rescaling ``Sim(X, Y) / sqrt(Sim(X, X) Sim(Y, Y))`` was rejected: IR is not
    a positive semi-definite kernel (the IR matrix of all 203 partitions of 6 samples has a
    negative eigenvalue), so Cauchy-Schwarz does not bound that ratio by 1, and it does exceed 1
    for two 16-layer networks on 6 inputs (see the measures tests).

    Args:
        layers_x: (m, n_samples) integer codes, or a sequence of m 1-D code arrays.
        layers_y: (n, n_samples) codes of network Y on the same inputs in the same order.

    Returns:
        NSim(X, Y) in [0, 1].

    Raises:
        ValueError: On empty or non-integer codes or different sample counts.
    """
    ratios = information_ratio_matrix(layers_x, layers_y)  # (m, n)
    return float(0.5 * (ratios.max(axis=1).mean() + ratios.max(axis=0).mean()))


def _flatten_networks(
    layers_by_net: NetworkCodes, name: str
) -> tuple[list[Any], npt.NDArray[np.int64]]:
    """All (network, layer) codes as one list of 1-D codes, and each network's layer count."""
    if isinstance(layers_by_net, np.ndarray | torch.Tensor):
        if layers_by_net.ndim != 3:
            raise ValueError(
                f"{name} must have shape (n_nets, n_layers, n_samples) or be a list of per-network "
                f"layer codes; got shape {tuple(layers_by_net.shape)}"
            )
        nets: Sequence[Any] = list(layers_by_net)
    elif isinstance(layers_by_net, Sequence) and not isinstance(layers_by_net, str | bytes):
        nets = layers_by_net
    else:
        raise ValueError(
            f"{name} must be a (n_nets, n_layers, n_samples) array or a list of per-network layer "
            f"codes; got {type(layers_by_net).__name__}"
        )
    if len(nets) == 0:
        raise ValueError(f"{name} holds no networks; pass at least one network's layer codes")
    rows: list[Any] = []
    sizes: list[int] = []
    n_samples: int | None = None
    for k, net in enumerate(nets):
        layers = list(net)
        if not layers:
            raise ValueError(f"{name}[{k}] has no layers; pass at least one layer per network")
        for i, layer in enumerate(layers):
            if np.ndim(layer) != 1:
                raise ValueError(
                    f"{name}[{k}][{i}] must be a 1-D code array (one code per sample); got "
                    f"{np.ndim(layer)} dimensions. Pass each network as (n_layers, n_samples)"
                )
            length = len(layer)
            if n_samples is None:
                n_samples = length
            elif length != n_samples:
                raise ValueError(
                    f"{name}[{k}][{i}] has {length} samples but the first layer has {n_samples}; "
                    "every layer of every network must be coded on the same inputs"
                )
        rows.extend(layers)
        sizes.append(len(layers))
    return rows, np.asarray(sizes, dtype=np.int64)


def _ratio_blocks(
    layers_by_net: NetworkCodes, other: NetworkCodes | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """One IR matrix over all (network, layer) rows, plus the layer counts of both sides."""
    rows_a, sizes_a = _flatten_networks(layers_by_net, "layers_by_net")
    if other is None:
        ratios = information_ratio_matrix(rows_a)
        sizes_b = sizes_a
    else:
        rows_b, sizes_b = _flatten_networks(other, "layers_by_net_b")
        if len(rows_a[0]) != len(rows_b[0]):
            raise ValueError(
                f"layers_by_net has {len(rows_a[0])} samples but layers_by_net_b has "
                f"{len(rows_b[0])}; code both sets of networks on the same inputs"
            )
        ratios = information_ratio_matrix(rows_a, rows_b)
    return np.asarray(ratios, dtype=np.float64), sizes_a, sizes_b


def _starts(sizes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Row offset of each network's first layer in the flattened (network, layer) axis."""
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def similarity_matrix(
    layers_by_net: NetworkCodes, layers_by_net_b: NetworkCodes | None = None
) -> npt.NDArray[np.float64]:
    """The sprint's similarity :func:`similarity` for every pair of networks, vectorised.

    With ``R = IR(rows, rows)`` the information ratio between every (network, layer) row, computed
    in one :func:`~workbench.core.measures.discrete.information_ratio_matrix` call, and network s
    owning layers ``L_s`` (``m_s = |L_s|``)::

        Sim[s, t] = (1 / (m_s m_t)) * sum_{i in L_s} sum_{j in L_t} R[i, j]

    i.e. the mean of each network pair's layer × layer block; entry (s, t) equals
    ``similarity(layers_by_net[s], layers_by_net_b[t])``. Dimensionless, in [0, 1]. The diagonal is
    *not* 1 in general (see :func:`similarity`).

    Args:
        layers_by_net: (n_nets, n_layers, n_samples) integer codes, or a sequence of n_nets
            networks, each a (m_s, n_samples) code array or a sequence of m_s 1-D code arrays
            (networks may then differ in depth). All on the same inputs in the same order.
        layers_by_net_b: Codes of a second set of n_nets_b networks, same forms; ``None``
            compares ``layers_by_net`` with itself.

    Returns:
        (n_nets, n_nets_b) float64 array in [0, 1]; symmetric when ``layers_by_net_b`` is ``None``.

    Raises:
        ValueError: On no networks, a network without layers, different sample counts, a wrong
            shape, or empty or non-integer codes.
    """
    ratios, sizes_a, sizes_b = _ratio_blocks(layers_by_net, layers_by_net_b)
    # 1. Sum each block: reduce rows per network of side a, then columns per network of side b.
    block_sums = np.add.reduceat(
        np.add.reduceat(ratios, _starts(sizes_a), axis=0), _starts(sizes_b), axis=1
    )
    # 2. Divide by the block sizes m_s m_t.
    return np.asarray(block_sums / np.outer(sizes_a, sizes_b), dtype=np.float64)


def normalized_similarity_matrix(
    layers_by_net: NetworkCodes, layers_by_net_b: NetworkCodes | None = None
) -> npt.NDArray[np.float64]:
    """Best-match similarity :func:`normalized_similarity` for every pair of networks, vectorised.

    With ``R`` the information ratio between every (network, layer) row (one
    :func:`~workbench.core.measures.discrete.information_ratio_matrix` call) and network s owning
    layers ``L_s`` (``m_s = |L_s|``)::

        NSim[s, t] = 1/2 * [ (1/m_s) sum_{i in L_s} max_{j in L_t} R[i, j]
                           + (1/m_t) sum_{j in L_t} max_{i in L_s} R[i, j] ]

    Entry (s, t) equals ``normalized_similarity(layers_by_net[s], layers_by_net_b[t])``. In [0, 1];
    without ``layers_by_net_b`` it is symmetric with a unit diagonal (a network is maximally
    similar to itself).

    Args:
        layers_by_net: (n_nets, n_layers, n_samples) integer codes, or a sequence of n_nets
            networks, each a (m_s, n_samples) code array or a sequence of m_s 1-D code arrays.
            All on the same inputs in the same order.
        layers_by_net_b: Codes of a second set of n_nets_b networks, same forms; ``None``
            compares ``layers_by_net`` with itself.

    Returns:
        (n_nets, n_nets_b) float64 array in [0, 1].

    Raises:
        ValueError: On no networks, a network without layers, different sample counts, a wrong
            shape, or empty or non-integer codes.
    """
    ratios, sizes_a, sizes_b = _ratio_blocks(layers_by_net, layers_by_net_b)
    starts_a, starts_b = _starts(sizes_a), _starts(sizes_b)
    # 1. Each layer of X (a row) matched with its best layer in every network Y, averaged over
    #    X's layers: (P_a, n_b) maxima, then per-network means -> (n_a, n_b).
    best_for_x = (
        np.add.reduceat(np.maximum.reduceat(ratios, starts_b, axis=1), starts_a, axis=0)
        / sizes_a[:, None]
    )
    # 2. The same from Y's side: (n_a, P_b) maxima, then per-network means over Y's layers.
    best_for_y = (
        np.add.reduceat(np.maximum.reduceat(ratios, starts_a, axis=0), starts_b, axis=1)
        / sizes_b[None, :]
    )
    # 3. Symmetrise.
    return np.asarray(0.5 * (best_for_x + best_for_y), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# One IR computation for every measure of a set of equal-depth networks


def layer_ratio_blocks(codes: Array, codes_b: Array | None = None) -> npt.NDArray[np.float64]:
    """IR between every layer of every pair of equal-depth networks, in one matrix call.

    ``R[s, i, t, j] = IR(x_i^s, y_j^t)``, from one
    :func:`~workbench.core.measures.discrete.information_ratio_matrix` call over all
    (network, layer) rows (with ``codes_b=None`` that call computes only half the symmetric
    joint entropies). Everything a lab reports about IR and Sim can be read off it without
    recomputing: the seed x seed IR of layer i is ``R[:, i, :, i]``, Sim is
    :func:`similarity_from_blocks` and NSim :func:`normalized_similarity_from_blocks`.

    Args:
        codes: (n_nets, n_layers, n_samples) integer codes, numpy or torch on any device.
        codes_b: (n_nets_b, n_layers_b, n_samples) codes of a second set; ``None`` compares
            ``codes`` with itself.

    Returns:
        (n_nets, n_layers, n_nets_b, n_layers_b) float64 in [0, 1].

    Raises:
        ValueError: On shapes other than 3-D, different sample counts, or non-integer codes.
    """
    shapes = [tuple(c.shape) for c in (codes, codes_b) if c is not None]
    if any(len(shape) != 3 for shape in shapes):
        raise ValueError(
            f"codes must have shape (n_nets, n_layers, n_samples); got shapes {shapes}"
        )
    sa, la, n = shapes[0]
    rows = codes.reshape(sa * la, n)
    if codes_b is None:
        return np.asarray(information_ratio_matrix(rows), dtype=np.float64).reshape(sa, la, sa, la)
    sb, lb, nb = shapes[1]
    if nb != n:
        raise ValueError(
            f"codes has {n} samples but codes_b has {nb}; code both sets on the same inputs"
        )
    ratios = information_ratio_matrix(rows, codes_b.reshape(sb * lb, nb))
    return np.asarray(ratios, dtype=np.float64).reshape(sa, la, sb, lb)


def similarity_from_blocks(blocks: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The sprint's Sim for every pair of networks from :func:`layer_ratio_blocks`.

    ``Sim[s, t] = (1 / (m n)) sum_i sum_j R[s, i, t, j]``, the mean of each block; equal to
    :func:`similarity_matrix` on the same codes.

    Args:
        blocks: (n_nets, n_layers, n_nets_b, n_layers_b) information ratios.

    Returns:
        (n_nets, n_nets_b) float64 in [0, 1].
    """
    return np.asarray(blocks.mean(axis=(1, 3)), dtype=np.float64)


def normalized_similarity_from_blocks(
    blocks: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Best-match similarity for every pair of networks from :func:`layer_ratio_blocks`.

    ``NSim[s, t] = 1/2 [(1/m) sum_i max_j R[s, i, t, j] + (1/n) sum_j max_i R[s, i, t, j]]``;
    equal to :func:`normalized_similarity_matrix` on the same codes.

    Args:
        blocks: (n_nets, n_layers, n_nets_b, n_layers_b) information ratios.

    Returns:
        (n_nets, n_nets_b) float64 in [0, 1].
    """
    best_for_x = blocks.max(axis=3).mean(axis=1)  # (n_nets, n_nets_b): x's layers, best in y
    best_for_y = blocks.max(axis=1).mean(axis=2)  # (n_nets, n_nets_b): y's layers, best in x
    return np.asarray(0.5 * (best_for_x + best_for_y), dtype=np.float64)
