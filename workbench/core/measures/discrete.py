"""Information measures of discrete codes (partitions of the samples), in bits.

Symbols: a sample set of size n; codes ``a`` and ``b`` assign each sample a label; ``p(a)`` is the
fraction of samples with label ``a`` (the empirical, plug-in distribution). All quantities are
plug-in estimates: exact for the samples at hand (e.g. the 2^5 inputs of a 5-bit task), but
biased low as estimates of a larger population's entropy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy.typing as npt
import torch

from workbench.core.measures._arrays import (
    Array,
    CodeStack,
    as_codes,
    check_paired,
    resolve_device,
    to_numpy,
)
from workbench.core.measures._grouping import first_occurrence_roots, rank_roots

__all__ = [
    "entropy",
    "information_ratio",
    "information_ratio_matrix",
    "joint_entropy",
    "mutual_information",
    "mutual_information_matrix",
]

#: The pairwise matrices count joint codes by equality matmuls (O(n^2) per pair, fast BLAS) up
#: to ``_MATMUL_SAMPLES_PER_ROOT_CODE * sqrt(min(P_x, P_y))`` samples, and by sorting joint
#: labels (O(n log n) per pair) above. BLAS gets more efficient with more codes, so the crossover
#: grows with P. Measured on 1 thread (sort path / matmul path speed): P = 50: 1.1 at n = 384,
#: 1.7 at 512; P = 150-200: 0.76 at n = 512, 0.87 at 768, 1.9 at n = 1024 (P = 100); P = 300:
#: 0.37 at n = 256; P = 1000: 0.16 at n = 32. 50 sqrt(P) puts the switch at n = 354 for P = 50
#: and 707 for P = 200. benchmarks/bench_measures.py re-measures it.
_MATMUL_SAMPLES_PER_ROOT_CODE = 50.0
#: Entries per chunk in either path (about 32 MiB of float64), bounding memory.
_MATMUL_CHUNK_ENTRIES = 1 << 22
#: Codes per side of one square tile of pairs (bounds the intermediate memory of both paths).
_MATMUL_TILE = 1024
_SORT_CHUNK_ENTRIES = 1 << 22


def _entropy_of_counts(counts: torch.Tensor, n: int) -> float:
    """H = log2 n - (1/n) * sum_k c_k log2 c_k, for counts c_k summing to n (bits)."""
    c = counts.to(torch.float64)
    return max(0.0, math.log2(n) - float((c * torch.log2(c)).sum()) / n)


def _pair(a: object, b: object) -> tuple[torch.Tensor, torch.Tensor]:
    device = resolve_device(a, b)
    ta = as_codes(a, "a", device=device)
    tb = as_codes(b, "b", device=device)
    check_paired(("a", ta), ("b", tb))
    return ta, tb


def entropy(codes: Array) -> float:
    """Shannon entropy of a code's empirical distribution, in bits.

    ``H(A) = -sum_a p(a) log2 p(a)``, with ``p(a) = count(a) / n``. Uniform over k labels gives
    ``log2 k``; a constant code gives 0. Plug-in estimate: biased low when n is small compared
    to the number of labels of the underlying distribution.

    Args:
        codes: (n_samples,) integer labels, numpy or torch on any device.

    Returns:
        H(A) in bits, in [0, log2 n_samples].

    Raises:
        ValueError: If ``codes`` is empty, not 1-D, or not integer.
    """
    t = as_codes(codes, "codes")
    _, counts = torch.unique(t, return_counts=True)
    return _entropy_of_counts(counts, t.shape[0])


def joint_entropy(a: Array, b: Array) -> float:
    """Entropy of the pair of codes, ``H(A, B) = -sum_{a,b} p(a, b) log2 p(a, b)``, in bits.

    ``H(A, B)`` is the entropy of the common refinement of the two partitions, the sprint's
    "total information" ``TI(A, B) = H(A) + H(B) - I(A; B)``.

    Args:
        a: (n_samples,) integer labels.
        b: (n_samples,) integer labels of the same samples.

    Returns:
        H(A, B) in bits, in [max(H(A), H(B)), H(A) + H(B)].

    Raises:
        ValueError: On empty, non-integer or non-1-D input, or different sample counts.
    """
    ta, tb = _pair(a, b)
    _, counts = torch.unique(torch.stack([ta, tb]), dim=1, return_counts=True)
    return _entropy_of_counts(counts, ta.shape[0])


def mutual_information(a: Array, b: Array) -> float:
    """Mutual information of two codes, ``I(A; B) = H(A) + H(B) - H(A, B)``, in bits.

    Plug-in estimate: zero exactly when the empirical joint distribution factorises, and biased
    high for samples of independent variables (about (k_a - 1)(k_b - 1) / (2 n ln 2) bits;
    Miller, 1955). Round-off below zero is clipped to 0.

    Args:
        a: (n_samples,) integer labels.
        b: (n_samples,) integer labels of the same samples.

    Returns:
        I(A; B) in bits, in [0, min(H(A), H(B))].

    Raises:
        ValueError: On empty, non-integer or non-1-D input, or different sample counts.
    """
    ta, tb = _pair(a, b)
    return max(0.0, entropy(ta) + entropy(tb) - joint_entropy(ta, tb))


def information_ratio(a: Array, b: Array) -> float:
    """The sprint's information ratio ``IR(A, B) = I(A; B) / H(A, B)`` (dimensionless).

    ``IR`` lies in [0, 1]. It is 1 exactly when the two partitions correspond one to one
    (a bijection between labels): ``I = H(A, B)`` means ``H(A | B) + H(B | A) = 0``, i.e. each
    code is a function of the other. It is 0 when the codes are independent on the samples.
    ``1 - IR`` is a metric on partitions (Kraskov et al., 2005, "Hierarchical clustering using
    mutual information"; the "joint" normalisation in Vinh, Epps & Bailey, JMLR 2010).
    IR does not change when either code is relabelled.

    The 0/0 case: ``H(A, B) = 0`` only when both codes are constant. Two one-block partitions do
    correspond one to one, so IR is defined as 1 there, keeping "IR = 1 iff bijection" true.
    A constant code against a non-constant one gives I = 0 < H(A, B), so IR = 0.

    Args:
        a: (n_samples,) integer labels.
        b: (n_samples,) integer labels of the same samples.

    Returns:
        IR(A, B) in [0, 1].

    Raises:
        ValueError: On empty, non-integer or non-1-D input, or different sample counts.
    """
    ta, tb = _pair(a, b)
    h_joint = joint_entropy(ta, tb)
    if h_joint == 0.0:
        return 1.0
    mi = max(0.0, entropy(ta) + entropy(tb) - h_joint)
    return min(1.0, mi / h_joint)


# ---------------------------------------------------------------------------------------------
# Pairwise matrices


def _stack_codes(codes: object, name: str, device: torch.device) -> torch.Tensor:
    """(n_partitions, n_samples) int64 from a 2-D array or a sequence of 1-D code arrays."""
    if isinstance(codes, Sequence) and not isinstance(codes, str | bytes):
        if len(codes) == 0:
            raise ValueError(f"{name} is empty; pass at least one code array")
        rows = [as_codes(c, f"{name}[{i}]", device=device) for i, c in enumerate(codes)]
        check_paired(*((f"{name}[{i}]", r) for i, r in enumerate(rows)))
        return torch.stack(rows)
    return as_codes(codes, name, ndim=2, shape_doc="(n_partitions, n_samples)", device=device)


def _joint_block_matmul(cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
    """H(X_p, Y_q) in bits for one tile of pairs, by counting with batched equality matmuls.

    For a sample i, let ``c_i(p, q)`` be the number of samples j with the same label pair as i
    in (X_p, Y_q): ``c_i(p, q) = sum_j [x_p(j) = x_p(i)] [y_q(j) = y_q(i)]``, a (P_x, n) @
    (n, P_y) matrix product per sample, batched over a chunk of samples. A label pair with count
    c contributes c samples of log2 c each, so ``H = log2 n - (1/n) * sum_i log2 c_i``. The sum
    of logs is taken as the log of a product over the chunk (integers, exact in float64 up to
    rounding), with chunks short enough that the product cannot overflow. The matmuls run in
    float32: the 0/1 factors and the counts (at most n < 2^24) are exact there.

    Cost: O(P_x P_y n^2) flops in a few batched BLAS calls (few calls also keeps it fast when
    other processes compete for the cores); memory about ``_MATMUL_CHUNK_ENTRIES``.
    """
    px, n = cx.shape
    py = cy.shape[0]
    # Each factor is at most n, so a product of `renew` factors stays below 2**1000 < float max.
    renew = max(1, 1000 // max(1, math.ceil(math.log2(n + 1))))
    chunk = max(1, min(renew, _MATMUL_CHUNK_ENTRIES // (max(px, py) * n + px * py)))
    log_sum = torch.zeros(px, py, dtype=torch.float64, device=cx.device)
    for i0 in range(0, n, chunk):
        rows = slice(i0, min(n, i0 + chunk))
        same_x = (cx[:, rows, None] == cx[:, None, :]).to(torch.float32)  # (P_x, chunk, n)
        same_y = (cy[:, rows, None] == cy[:, None, :]).to(torch.float32)  # (P_y, chunk, n)
        # (chunk, P_x, n) @ (chunk, n, P_y) -> (chunk, P_x, P_y): counts c_i(p, q)
        counts = torch.bmm(same_x.transpose(0, 1), same_y.permute(1, 2, 0))
        log_sum += torch.log2(counts.to(torch.float64).prod(dim=0))
    return math.log2(n) - log_sum / n


def _joint_block_sort(cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
    """H(X_p, Y_q) in bits for one tile of pairs, by sorting joint labels (for many samples).

    With canonical labels (< n), the pair (x, y) has the joint label ``x * n + y``. After sorting
    each joint row, a run of c equal labels contributes ``c log2 c``, written as the telescoping
    sum over the run's elements of ``f(r) = r log2 r - (r - 1) log2 (r - 1)``, r = 1..c.

    Cost: O(P_x P_y n log n), vectorised over chunks of about ``_SORT_CHUNK_ENTRIES`` labels.
    """
    px, n = cx.shape
    py = cy.shape[0]
    ranks = torch.arange(1, n + 1, dtype=torch.float64, device=cx.device)
    f = torch.zeros(n + 1, dtype=torch.float64, device=cx.device)
    f[1:] = ranks * torch.log2(ranks) - (ranks - 1) * torch.log2((ranks - 1).clamp(min=1))
    position = torch.arange(n, device=cx.device)
    out = torch.empty(px, py, dtype=torch.float64, device=cx.device)
    rows = max(1, _SORT_CHUNK_ENTRIES // (py * n))
    for p0 in range(0, px, rows):
        joint = cx[p0 : p0 + rows, None, :] * n + cy[None, :, :]  # (rows, P_y, n)
        joint, _ = joint.sort(dim=-1)
        starts = torch.ones_like(joint, dtype=torch.bool)
        starts[..., 1:] = joint[..., 1:] != joint[..., :-1]
        run_start = torch.where(starts, position, 0).cummax(dim=-1).values
        rank_in_run = position - run_start + 1
        out[p0 : p0 + rows] = math.log2(n) - f[rank_in_run].sum(dim=-1) / n
    return out


def _tiled(
    block: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    cx: torch.Tensor,
    cy: torch.Tensor,
    tile: int,
    symmetric: bool,
) -> torch.Tensor:
    """(P_x, P_y) joint entropies from ``block`` on square tiles of pairs.

    Tiles bound the intermediate memory whatever P is (the result itself is P_x P_y floats).
    When ``cy`` is ``cx`` the matrix is symmetric, ``H(X_p, X_q) = H(X_q, X_p)``: only tiles on
    or above the diagonal are computed and the others are their transposes.
    """
    px, py = cx.shape[0], cy.shape[0]
    out = torch.empty(px, py, dtype=torch.float64, device=cx.device)
    for p0 in range(0, px, tile):
        for q0 in range(p0 if symmetric else 0, py, tile):
            h = block(cx[p0 : p0 + tile], cy[q0 : q0 + tile])
            if symmetric and q0 == p0:
                # A diagonal tile: keep its upper triangle, so the result is exactly symmetric
                # (the two halves differ by rounding in the order of the sums).
                h = torch.triu(h) + torch.triu(h, diagonal=1).T
            out[p0 : p0 + tile, q0 : q0 + tile] = h
            if symmetric and q0 != p0:
                out[q0 : q0 + tile, p0 : p0 + tile] = h.T
    return out


def _joint_entropies_matmul(
    cx: torch.Tensor, cy: torch.Tensor, *, symmetric: bool = False
) -> torch.Tensor:
    """H(X_p, Y_q) for all pairs by equality matmuls (:func:`_joint_block_matmul`), tiled."""
    return _tiled(_joint_block_matmul, cx, cy, _MATMUL_TILE, symmetric)


def _joint_entropies_sort(
    cx: torch.Tensor, cy: torch.Tensor, *, symmetric: bool = False
) -> torch.Tensor:
    """H(X_p, Y_q) for all pairs by sorting joint labels (:func:`_joint_block_sort`), tiled."""
    tile = max(1, min(_MATMUL_TILE, _SORT_CHUNK_ENTRIES // cx.shape[1]))
    return _tiled(_joint_block_sort, cx, cy, tile, symmetric)


def _use_matmul(n: int, px: int, py: int) -> bool:
    """Whether the matmul path is the faster one at n samples and P_x x P_y pairs."""
    return n <= _MATMUL_SAMPLES_PER_ROOT_CODE * math.sqrt(min(px, py))


def _entropies(codes: torch.Tensor) -> torch.Tensor:
    """(P,) entropies in bits of canonical codes (P, n), from each sample's class size."""
    n = codes.shape[1]
    counts = torch.zeros_like(codes).scatter_add_(1, codes, torch.ones_like(codes))
    sizes = counts.gather(1, codes).to(torch.float64)  # (P, n): size of each sample's class
    return (math.log2(n) - torch.log2(sizes).sum(dim=1) / n).clamp(min=0.0)


def _pairwise(
    codes_x: object, codes_y: object | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Entropies and joint entropies for all pairs of rows, plus 'constant code' masks."""
    device = resolve_device(codes_x, codes_y)
    cx = _stack_codes(codes_x, "codes_x", device)
    cy = cx if codes_y is None else _stack_codes(codes_y, "codes_y", device)
    check_paired(("codes_x", cx), ("codes_y", cy), axis=1)
    # Canonical labels 0..k-1 (needed by the sorting path, harmless for the matmul path).
    cx = rank_roots(first_occurrence_roots(cx))
    cy = cx if codes_y is None else rank_roots(first_occurrence_roots(cy))
    n = cx.shape[1]
    use_matmul = _use_matmul(n, cx.shape[0], cy.shape[0])
    joint_fn = _joint_entropies_matmul if use_matmul else _joint_entropies_sort
    h_joint = joint_fn(cx, cy, symmetric=codes_y is None).clamp_(min=0.0)
    hx, hy = _entropies(cx), _entropies(cy)
    # A code is constant when its largest label is 0; used for exact zeros and the 0/0 case.
    const_x, const_y = cx.amax(dim=1) == 0, cy.amax(dim=1) == 0
    return hx, hy, h_joint, const_x, const_y


def mutual_information_matrix(
    codes_x: CodeStack, codes_y: CodeStack | None = None
) -> npt.NDArray[Any]:
    """Mutual information ``I(X_p; Y_q)`` in bits for every pair of codes, vectorised.

    Args:
        codes_x: (P_x, n_samples) integer codes, or a sequence of P_x 1-D code arrays.
        codes_y: (P_y, n_samples) codes; ``None`` compares ``codes_x`` with itself.

    Returns:
        (P_x, P_y) float64 numpy array; with ``codes_y=None`` it is symmetric with the
        entropies ``H(X_p)`` on the diagonal.

    Raises:
        ValueError: On empty or non-integer codes or different sample counts.
    """
    hx, hy, h_joint, const_x, const_y = _pairwise(codes_x, codes_y)
    # In place: for thousands of codes each (P_x, P_y) float64 copy is hundreds of MB.
    mi = h_joint.neg_().add_(hx[:, None]).add_(hy[None, :]).clamp_(min=0.0)
    mi.masked_fill_(const_x[:, None] | const_y[None, :], 0.0)
    return to_numpy(mi)


def information_ratio_matrix(
    codes_x: CodeStack, codes_y: CodeStack | None = None
) -> npt.NDArray[Any]:
    """Information ratio ``IR(X_p, Y_q) = I / H(X_p, Y_q)`` for every pair of codes, vectorised.

    Same definition and 0/0 convention as :func:`information_ratio`, for all pairs at once:
    joint entropies are counted with one (P_x, n) @ (n, P_y) matrix product per sample (or by
    sorting joint labels when n > 50 sqrt(min(P_x, P_y)), the measured crossover), never a
    Python loop over pairs. Memory is bounded by chunks of about 4M entries plus the result.

    Args:
        codes_x: (P_x, n_samples) integer codes, or a sequence of P_x 1-D code arrays, e.g. one
            discretized layer per row.
        codes_y: (P_y, n_samples) codes for a cross matrix; ``None`` compares ``codes_x`` with
            itself.

    Returns:
        (P_x, P_y) float64 numpy array in [0, 1]; symmetric with a unit diagonal when
        ``codes_y`` is ``None``.

    Raises:
        ValueError: On empty or non-integer codes or different sample counts.
    """
    hx, hy, h_joint, const_x, const_y = _pairwise(codes_x, codes_y)
    # In place where possible: for thousands of codes each (P_x, P_y) float64 copy is hundreds
    # of MB. mi = H(X) + H(Y) - H(X, Y); IR = mi / H(X, Y).
    mi = (hx[:, None] + hy[None, :]).sub_(h_joint).clamp_(min=0.0)
    ratio = mi.div_(h_joint.clamp_(min=torch.finfo(torch.float64).tiny)).clamp_(0.0, 1.0)
    ratio.masked_fill_(const_x[:, None] ^ const_y[None, :], 0.0)  # one constant code: I = 0
    ratio.masked_fill_(const_x[:, None] & const_y[None, :], 1.0)  # both constant: 0/0 := 1
    return to_numpy(ratio)
