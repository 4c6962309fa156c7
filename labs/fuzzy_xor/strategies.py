"""Which construction does each trained network follow? Scores, labels and clusters.

A construction's *signature* is the set of distinct nonlinear functions its hidden
neurons compute (affine units such as a pass-through ``relu(a) = a`` are left out:
every network can form affine functions of (a, b), so they say nothing about the
way XOR is built). A trained network follows a construction when

* **coverage** — each signature function is computed by its own trained neuron:
  the best one-to-one assignment (Hungarian algorithm, ``linear_sum_assignment``)
  of signature functions g_i to trained neurons u maximises
  C = (1/n_sig) Σ_i R²(u_π(i), g_i), unassigned functions scoring 0; and
* **purity** — every informative (non-constant, non-affine) trained neuron computes
  some signature function: P = mean_u max_i R²(u, g_i).

Coverage alone cannot separate nested signatures (every network that contains the
four creases of ``four-creases`` also contains the two of ``two-creases-ab-and``);
purity penalises the construction that leaves neurons unexplained. The score is
their harmonic mean S = 2CP / (C + P), in [0, 1], and equals 1 exactly when the
network's informative neurons are, up to affine maps, the signature functions.
Permuting neurons or rescaling them by c > 0 changes no R², so S is invariant to the
ReLU symmetries.

A network's strategy is the construction with the highest score if that score is at
least a threshold, ``"none"`` otherwise, and ``"unconverged"`` when the network did
not learn XOR in the first place; the counts report all three honestly.

Independently of the references, networks are clustered by their match profile
(per candidate, the best R² over the network's informative neurons), so ways of
computing XOR that no hand-coded construction anticipated still show up as groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import pdist
from torch import Tensor

from .matching import affine_r2, affine_span_r2
from .references import ReferenceNetwork

__all__ = [
    "NONE",
    "NONE_CODE",
    "UNCONVERGED",
    "UNCONVERGED_CODE",
    "Signature",
    "StrategyScores",
    "classify_strategies",
    "cluster_profiles",
    "construction_signatures",
    "informative_neurons",
    "match_profiles",
    "score_strategies",
    "scores_from_r2",
    "signature_r2",
    "strategy_counts",
    "strategy_names",
]

#: Label of a converged network that fits no construction well enough.
NONE = "none"
#: Label of a network whose evaluation error says it did not learn XOR.
UNCONVERGED = "unconverged"
#: Integer codes of those labels in :func:`classify_strategies`' output.
NONE_CODE = -1
UNCONVERGED_CODE = -2

FloatArray = np.ndarray[tuple[int, ...], np.dtype[np.float64]]
IntArray = np.ndarray[tuple[int, ...], np.dtype[np.int64]]
BoolArray = np.ndarray[tuple[int, ...], np.dtype[np.bool_]]


@dataclass(frozen=True)
class Signature:
    """The nonlinear neuron functions of one construction, on the grid.

    Attributes:
        name: The construction's name, e.g. ``"or-nand"``.
        labels: Distinct labels of its non-affine hidden neurons.
        values: (n_sig, n_points) float64, those functions on the grid.
    """

    name: str
    labels: tuple[str, ...]
    values: Tensor


@dataclass(frozen=True)
class StrategyScores:
    """How well each network fits each construction.

    Attributes:
        names: Construction names, one per column.
        coverage: (seed, n_constructions) mean R² of the best one-to-one assignment.
        purity: (seed, n_constructions) mean best R² of the informative neurons.
        score: (seed, n_constructions) harmonic mean of coverage and purity.
        assignment: Per construction, (seed, n_sig) index of the trained neuron
            assigned to each signature function, −1 where none is.
    """

    names: tuple[str, ...]
    coverage: FloatArray
    purity: FloatArray
    score: FloatArray
    assignment: tuple[IntArray, ...]


def construction_signatures(
    references: Sequence[ReferenceNetwork], points: Tensor, *, affine_tol: float = 1e-9
) -> tuple[Signature, ...]:
    """The signature (distinct non-affine neuron functions) of each construction.

    Args:
        references: The hand-coded constructions.
        points: (n_points, 2) evaluation grid.
        affine_tol: A neuron with affine-span R² ≥ 1 − affine_tol counts as affine.

    Returns:
        One :class:`Signature` per reference, in the same order.
    """
    x = points.to(torch.float64)
    signatures = []
    for net in references:
        labels: list[str] = []
        rows: list[Tensor] = []
        for neuron in net.hidden_neurons:
            if neuron.label in labels:
                continue
            values = neuron.function(x[:, 0], x[:, 1])  # (n_points,)
            linear = affine_span_r2(values.view(1, -1, 1), x)[0, 0]
            if float(linear) < 1.0 - affine_tol:
                labels.append(neuron.label)
                rows.append(values)
        signatures.append(Signature(net.name, tuple(labels), torch.stack(rows)))
    return tuple(signatures)


def informative_neurons(
    constant: Tensor,
    affine_span: Tensor,
    ablation_effect: Tensor,
    *,
    affine_threshold: float,
    relevance: float,
) -> Tensor:
    """Neurons that carry a nonlinear feature the network uses.

    A neuron is informative when it is not constant, not (nearly) affine in (a, b),
    and replacing it by its mean changes the output by at least ``relevance``.

    Args:
        constant: (seed, n_units) bool, from :func:`~.matching.constant_neurons`.
        affine_span: (seed, n_units) affine-span R², from :func:`~.matching.affine_span_r2`.
        ablation_effect: (seed, n_units), from :func:`~.neurons.ablation_effect`.
        affine_threshold: Neurons with affine-span R² ≥ this are affine.
        relevance: Neurons with a smaller mean-ablation effect are unused.

    Returns:
        (seed, n_units) bool.
    """
    effect = ablation_effect.to(affine_span.device)
    return ~constant & (affine_span < affine_threshold) & (effect >= relevance)


def score_strategies(
    acts: Tensor, informative: Tensor, signatures: Sequence[Signature]
) -> StrategyScores:
    """Coverage, purity and score of every network against every construction.

    Args:
        acts: (seed, n_points, n_units) hidden activations (all layers) on the grid.
        informative: (seed, n_units) bool, see :func:`informative_neurons`; only these
            neurons can cover a signature function or count toward purity.
        signatures: From :func:`construction_signatures`.

    Returns:
        :class:`StrategyScores`. A network with no informative neuron scores 0.

    Raises:
        ValueError: if ``informative`` does not match ``acts``.
    """
    n_seeds, _, n_units = acts.shape
    if tuple(informative.shape) != (n_seeds, n_units):
        raise ValueError(
            f"informative must be (seed={n_seeds}, n_units={n_units}), "
            f"got {tuple(informative.shape)}"
        )
    return scores_from_r2(signature_r2(acts, signatures), signatures, informative)


def signature_r2(acts: Tensor, signatures: Sequence[Signature]) -> list[FloatArray]:
    """Affine-fit R² of every neuron against each construction's signature functions.

    The expensive part of :func:`score_strategies`, independent of which neurons are
    informative, so a threshold sweep computes it once.

    Returns:
        One (seed, n_units, n_sig) float64 array per construction.
    """
    return [affine_r2(acts, sig.values).cpu().numpy() for sig in signatures]


def scores_from_r2(
    r2s: Sequence[FloatArray], signatures: Sequence[Signature], informative: Tensor
) -> StrategyScores:
    """Coverage, purity and score from precomputed R² (see :func:`score_strategies`)."""
    mask = informative.cpu().numpy()
    n_seeds = mask.shape[0]
    n_informative = mask.sum(axis=1)
    coverage = np.zeros((n_seeds, len(signatures)))
    purity = np.zeros((n_seeds, len(signatures)))
    assignments = []
    for c, (sig, raw) in enumerate(zip(signatures, r2s, strict=True)):
        r2 = np.where(mask[:, :, None], raw, 0.0)
        # Purity: each informative neuron's best signature function, averaged.
        best = r2.max(axis=2).sum(axis=1)
        purity[:, c] = np.divide(
            best, n_informative, out=np.zeros(n_seeds), where=n_informative > 0
        )
        # Coverage: one Hungarian assignment per network (tiny problems, n_sig ≤ 6; SciPy
        # has no batched LAP, and these take microseconds each).
        assigned = np.full((n_seeds, len(sig.labels)), -1, dtype=np.int64)
        for s in range(n_seeds):
            units, funcs = linear_sum_assignment(r2[s], maximize=True)
            matched = r2[s, units, funcs]
            coverage[s, c] = matched.sum() / len(sig.labels)
            # A pairing with R² = 0 (e.g. with a masked-out neuron) is no match at all.
            assigned[s, funcs] = np.where(matched > 0.0, units, -1)
        assignments.append(assigned)
    total = coverage + purity
    score = np.divide(2.0 * coverage * purity, total, out=np.zeros_like(total), where=total > 0)
    return StrategyScores(
        names=tuple(sig.name for sig in signatures),
        coverage=coverage,
        purity=purity,
        score=score,
        assignment=tuple(assignments),
    )


def classify_strategies(
    scores: StrategyScores, converged: BoolArray, *, threshold: float
) -> IntArray:
    """Each network's strategy: its best-scoring construction, or none, or unconverged.

    Args:
        scores: From :func:`score_strategies`.
        converged: (seed,) bool, whether each network learned XOR.
        threshold: Minimum score for a construction to count as the network's strategy.

    Returns:
        (seed,) int64: the construction's index, ``NONE_CODE`` (−1) if the best score
        is below ``threshold``, ``UNCONVERGED_CODE`` (−2) if not converged.
    """
    best = scores.score.argmax(axis=1)
    best_score = scores.score.max(axis=1)
    labels = np.where(best_score >= threshold, best, NONE_CODE)
    return np.where(converged, labels, UNCONVERGED_CODE).astype(np.int64)


def strategy_names(labels: IntArray, names: Sequence[str]) -> list[str]:
    """Turn :func:`classify_strategies` codes into names (``"none"``, ``"unconverged"``)."""
    special = {NONE_CODE: NONE, UNCONVERGED_CODE: UNCONVERGED}
    return [special[int(c)] if c < 0 else names[int(c)] for c in labels]


def strategy_counts(labels: IntArray, names: Sequence[str]) -> dict[str, int]:
    """How many networks follow each construction; every name, none and unconverged listed."""
    counts = {name: int((labels == i).sum()) for i, name in enumerate(names)}
    counts[NONE] = int((labels == NONE_CODE).sum())
    counts[UNCONVERGED] = int((labels == UNCONVERGED_CODE).sum())
    return counts


def match_profiles(r2: Tensor, informative: Tensor) -> FloatArray:
    """A network's fingerprint: per candidate, the best R² over its informative neurons.

    Invariant to permuting and positively rescaling neurons, so two networks that
    differ only by ReLU symmetries have the same profile.

    Args:
        r2: (seed, n_units, n_candidates) from :func:`~.matching.affine_r2`.
        informative: (seed, n_units) bool.

    Returns:
        (seed, n_candidates) float64 in [0, 1]; 0 for a network with no informative neuron.
    """
    masked = torch.where(informative.unsqueeze(2), r2, torch.zeros_like(r2))
    profile: FloatArray = masked.max(dim=1).values.cpu().numpy().astype(np.float64)
    return profile


def cluster_profiles(profiles: FloatArray, include: BoolArray, *, max_distance: float) -> IntArray:
    """Group networks whose match profiles are close (average-linkage clustering).

    The distance between two profiles is their root-mean-square difference,
    d(x, y) = ‖x − y‖₂ / √n_candidates, in R² units; average linkage joins groups
    while the mean pairwise distance stays below ``max_distance``.

    Args:
        profiles: (seed, n_candidates), from :func:`match_profiles`.
        include: (seed,) bool, the networks to cluster (e.g. the converged ones).
        max_distance: Cut height of the dendrogram, in R² units (RMS).

    Returns:
        (seed,) int64 cluster ids 1, 2, ... ordered by size (1 is the largest),
        0 for networks left out.

    Raises:
        ValueError: if ``max_distance`` is negative or the shapes disagree.
    """
    if max_distance < 0:
        raise ValueError(f"max_distance must be >= 0, got {max_distance}")
    if include.shape != (profiles.shape[0],):
        raise ValueError(f"include must be (seed={profiles.shape[0]},), got {include.shape}")
    out = np.zeros(profiles.shape[0], dtype=np.int64)
    rows = np.flatnonzero(include)
    if rows.size == 0:
        return out
    if rows.size == 1:
        out[rows] = 1
        return out
    distances = pdist(profiles[rows], metric="euclidean") / np.sqrt(profiles.shape[1])
    tree = linkage(distances, method="average")
    raw = fcluster(tree, t=max_distance, criterion="distance")
    # Relabel by size, largest first; ties broken by first appearance for stability.
    ids, first, sizes = np.unique(raw, return_index=True, return_counts=True)
    order = np.lexsort((first, -sizes))
    relabel = {int(ids[k]): rank + 1 for rank, k in enumerate(order)}
    out[rows] = [relabel[int(r)] for r in raw]
    return out
