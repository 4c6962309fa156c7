"""Barriers of every pair before and after alignment, and the lab's statistical decisions.

The pipeline for one ensemble (:func:`compare_pairs`), per chunk of pairs so the live view can
follow it, every step batched over the chunk's pairs:

1. ``none``: the barrier between the nets as trained;
2. ``normalized`` (when a rescaling symmetry is removed): the same nets after
   :func:`workbench.core.symmetry.normalize`, which leaves each net's function unchanged but
   moves it along its symmetry orbit, so the straight line between two nets changes;
3. one entry per alignment method: the normalised B permuted onto its normalised A.

The decisions (each a :class:`~workbench.core.inference.Verdict` from a Holm-corrected
:class:`~workbench.core.inference.TestFamily`) use disjoint pairs of nets, (0, 1), (2, 3), ...,
so that the pairs are independent replicates; every other pair is description only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.alignment import activation_matching, weight_matching
from workbench.core.barriers import barrier, pair_indices, path_losses
from workbench.core.inference import TestFamily, Verdict, decide, spearman_permutation_test
from workbench.core.measures.clustering import ari_permutation_test
from workbench.core.measures.paired import paired_permutation_test
from workbench.core.models.mlp import EnsembleMLP
from workbench.core.symmetry import normalize, permute_hidden

__all__ = [
    "PAIRS_PER_CHUNK",
    "MethodResult",
    "agreement_decision",
    "alignment_decision",
    "compare_pairs",
    "disjoint_pairs",
    "lmc_fraction",
    "pair_set",
    "seed_matrix",
    "width_decision",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Pairs matched and measured per chunk: large enough to batch well, small enough that the
#: live view moves.
PAIRS_PER_CHUNK = 256


@dataclass
class MethodResult:
    """One way of comparing every pair.

    Attributes:
        name: ``none``, ``normalized``, ``weight`` or ``activation``.
        barriers: ``(pair,)`` barrier of each pair's path.
        peak: ``(pair,)`` index into the α grid where the barrier is.
        losses: ``(pair, α)`` loss along each path.
        params_a: ``(pair, n_params)`` the A end of each path (flat, as ``EnsembleMLP.params``).
        params_b: ``(pair, n_params)`` the B end (aligned for the matching methods).
        sweeps: ``(pair,)`` coordinate-descent sweeps (weight matching; else 0).
    """

    name: str
    barriers: FloatArray
    peak: IntArray
    losses: FloatArray
    params_a: torch.Tensor
    params_b: torch.Tensor
    sweeps: IntArray


def disjoint_pairs(n: int) -> IntArray:
    """``(n // 2, 2)``: nets (0, 1), (2, 3), ...; no net is in two of them."""
    first = np.arange(0, n - 1, 2, dtype=np.int64)
    return np.stack([first, first + 1], axis=1)


def pair_set(n: int, max_pairs: int, seed: int) -> tuple[IntArray, IntArray]:
    """The pairs to measure and where the disjoint pairs are among them.

    Returns:
        ``(pairs (pair, 2), disjoint (n // 2,))``: all pairs (or a sample of ``max_pairs`` with
        the disjoint pairs added), in (i, j) order, and the rows that hold the disjoint pairs.
    """
    pairs = pair_indices(n, max_pairs, seed)
    pairs = np.unique(np.concatenate([pairs, disjoint_pairs(n)]), axis=0)
    row = {(int(i), int(j)): k for k, (i, j) in enumerate(pairs)}
    return pairs, np.array([row[(int(i), int(j))] for i, j in disjoint_pairs(n)], dtype=np.int64)


def compare_pairs(
    model: EnsembleMLP,
    pairs: IntArray,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: str,
    alphas: FloatArray,
    *,
    methods: Sequence[str],
    normalization: str,
    definition: str = "interpolated",
    max_sweeps: int = 100,
    match_seed: int = 0,
    callback: Callable[[int, float], None] | None = None,
) -> dict[str, MethodResult]:
    """Barriers of every pair, as trained, normalised and after each alignment method.

    Args:
        model: The ensemble's nets, ``seed`` first.
        pairs: ``(pair, 2)`` row positions of the nets to pair (A, B).
        x: ``(n, d_in)`` and y ``(n, d_out)``: the data the loss is measured on.
        loss: ``mse`` or ``bce-with-logits``.
        alphas: The α grid, 0 and 1 included.
        methods: Alignment methods (``weight``, ``activation``).
        normalization: ``none``, ``relu-scale`` or ``tanh-sign``.
        definition: The barrier definition (:data:`workbench.core.barriers.DEFINITIONS`).
        max_sweeps: Weight-matching sweeps at most.
        match_seed: Seeds the weight-matching layer order.
        callback: ``callback(pairs_done, median barrier so far of the last method)`` per chunk.

    Returns:
        Method name → result, in the order ``none``, (``normalized``), *methods*.
    """
    normed = normalize(model, normalization)
    names = ["none", *(["normalized"] if normalization != "none" else []), *methods]
    parts: dict[str, list[tuple[FloatArray, torch.Tensor, torch.Tensor, IntArray]]] = {
        n: [] for n in names
    }
    for start in range(0, len(pairs), PAIRS_PER_CHUNK):
        chunk = pairs[start : start + PAIRS_PER_CHUNK]
        ia, ib = chunk[:, 0].tolist(), chunk[:, 1].tolist()
        raw_a, raw_b = model.select(ia), model.select(ib)
        a, b = normed.select(ia), normed.select(ib)
        no_sweeps = np.zeros(len(chunk), dtype=np.int64)
        ends: dict[str, tuple[EnsembleMLP, EnsembleMLP, IntArray]] = {
            "none": (raw_a, raw_b, no_sweeps)
        }
        if normalization != "none":
            ends["normalized"] = (a, b, no_sweeps)
        for method in methods:
            if method == "weight":
                res = weight_matching(a, b, max_sweeps=max_sweeps, seed=match_seed)
            else:
                res = activation_matching(a, b, x)
            sweeps = res.sweeps if method == "weight" else no_sweeps
            ends[method] = (a, permute_hidden(b, res.perms), sweeps)
        for name, (ea, eb, sweeps) in ends.items():
            path = path_losses(ea, eb, x, y, alphas, loss)
            parts[name].append((path, ea.params.cpu(), eb.params.cpu(), sweeps))
        if callback is not None:
            last = np.concatenate([barrier(p[0], alphas, definition)[0] for p in parts[names[-1]]])
            callback(start + len(chunk), float(np.median(last)))
    out = {}
    for name in names:
        losses = np.concatenate([p[0] for p in parts[name]])
        value, peak = barrier(losses, alphas, definition)
        out[name] = MethodResult(
            name,
            value,
            peak,
            losses,
            torch.cat([p[1] for p in parts[name]]),
            torch.cat([p[2] for p in parts[name]]),
            np.concatenate([p[3] for p in parts[name]]),
        )
    return out


def seed_matrix(n: int, pairs: IntArray, values: FloatArray) -> FloatArray:
    """``(n, n)`` symmetric matrix of pair values, 0 on the diagonal, NaN for unmeasured pairs."""
    m = np.full((n, n), np.nan)
    np.fill_diagonal(m, 0.0)
    m[pairs[:, 0], pairs[:, 1]] = values
    m[pairs[:, 1], pairs[:, 0]] = values
    return m


def lmc_fraction(barriers: FloatArray, thresholds: Sequence[float]) -> FloatArray:
    """``(threshold,)`` fraction of pairs whose barrier is below each threshold."""
    b = np.asarray(barriers, dtype=np.float64)
    return np.array([float(np.mean(b < t)) if b.size else np.nan for t in thresholds])


def alignment_decision(
    reductions: Mapping[str, FloatArray], *, alpha: float, n_permutations: int, seed: int = 0
) -> tuple[TestFamily, dict[str, Verdict]]:
    """Does each alignment lower the barrier?  One sign-flip test per (ensemble, method).

    Args:
        reductions: Member name (``<ensemble>/<method>``) → ``(pair,)`` barrier before minus
            after alignment, over disjoint pairs (independent replicates).
        alpha: Family-wise error rate of the Holm correction over all members.
        n_permutations: Sign patterns per test.
        seed: Seed of the tests' generators.

    Returns:
        The family and, per member, the verdict on "aligning by <method> lowers the barrier"
        (effect: the mean reduction, in loss units).
    """
    family = TestFamily("barrier before − after alignment, disjoint pairs, sign-flip", alpha)
    why: dict[str, str] = {}
    m = len(reductions)
    for k, (name, diff) in enumerate(reductions.items()):
        d = np.asarray(diff, dtype=np.float64)
        d = d[np.isfinite(d)]
        # With n pairs there are 2^n sign patterns, so p >= 2^-n: below α/m nothing can pass.
        floor = 2.0**-d.size
        if d.size < 2 or floor * m > alpha:
            why[name] = (
                f"{d.size} disjoint pairs: the smallest attainable p, 2^-{d.size} = {floor:.3g}, "
                f"exceeds α/{m} = {alpha / m:.3g}; train more nets"
            )
            family.add(name, np.nan, np.nan)
            continue
        mean, p = paired_permutation_test(d, n_permutations=n_permutations, seed=seed + k)
        if np.isnan(p):
            why[name] = "no pair's barrier changed"
        family.add(name, p, mean)
    verdicts = {
        name: decide(
            f"aligning by {name.rsplit('/', 1)[-1]} matching lowers the barrier ({name})",
            family,
            [name],
            why_not=why.get(name, ""),
        )
        for name in reductions
    }
    return family, verdicts


def width_decision(
    widths: Mapping[str, FloatArray],
    barriers: Mapping[str, FloatArray],
    *,
    alpha: float,
    n_permutations: int,
    seed: int = 0,
) -> tuple[TestFamily, dict[str, Verdict]]:
    """Does the aligned barrier fall as the nets get wider?  Spearman ρ per method.

    Args:
        widths: Method → ``(unit,)`` width of each independent pair's nets.
        barriers: Method → ``(unit,)`` the pair's barrier after that method.
        alpha: Family-wise error rate.
        n_permutations: Permutations per test.
        seed: Seed of the tests' generators.

    Returns:
        The family and per method the verdict on "the barrier after <method> matching falls
        with width" (effect −ρ, positive when it falls).
    """
    family = TestFamily("Spearman ρ of barrier with width, disjoint pairs, permutation", alpha)
    for k, name in enumerate(barriers):
        w, b = np.asarray(widths[name], float), np.asarray(barriers[name], float)
        ok = np.isfinite(w) & np.isfinite(b)
        if ok.sum() < 3 or np.unique(w[ok]).size < 2:
            family.add(name, np.nan, np.nan)
            continue
        rho, p = spearman_permutation_test(
            w[ok], b[ok], n_permutations=n_permutations, seed=seed + k
        )
        family.add(name, p, -rho)
    verdicts = {
        name: decide(
            f"the barrier after {name} matching falls as width grows",
            family,
            [name],
            why_not="fewer than 3 pairs or a single width",
        )
        for name in barriers
    }
    return family, verdicts


def agreement_decision(
    partitions: Mapping[str, tuple[IntArray, IntArray]],
    *,
    alpha: float,
    n_permutations: int,
    seed: int = 0,
    why_not: str = "",
) -> tuple[TestFamily, Verdict, dict[str, float]]:
    """Do nets grouped together by one notion of "the same thing" group together by another?

    Args:
        partitions: Comparison name (``first-bit/barrier~ir``) → the two labellings of the same
            nets.
        alpha: Family-wise error rate over all comparisons.
        n_permutations: Relabellings per test.
        seed: Seed of the tests' generators.
        why_not: The reason when there is nothing to compare.

    Returns:
        The family, the verdict (supported when some comparison agrees beyond chance after
        Holm), and the ARI of each comparison.
    """
    family = TestFamily("ARI of two partitions of the same nets, permutation null", alpha)
    aris = {}
    for k, (name, (a, b)) in enumerate(partitions.items()):
        ari, p = ari_permutation_test(a, b, n_permutations=n_permutations, seed=seed + k)
        aris[name] = ari
        family.add(name, p, ari)
    claim = "nets that do the same thing by one definition do it by the others"
    reason = why_not or "every partition compared was a single cluster (or all singletons)"
    return family, decide(claim, family, testable=bool(partitions), why_not=reason), aris
