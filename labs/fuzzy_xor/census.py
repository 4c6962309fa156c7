"""The strategy census across the classification thresholds, and the verdict it supports.

The counts of :mod:`.strategies` depend on three arbitrary thresholds: ``relevance`` (which
neurons the output uses), ``affine_threshold`` (which are affine) and ``fit_threshold`` (how well
a network must fit a construction). :func:`sweep_census` reclassifies every network at every
combination of the swept values, at two levels: constructions and computation classes
(:mod:`.computations`). The expensive R² against the signatures is computed once.

The claim tested is the sprint's question turned around: *the trained networks compute XOR in
more than one way*, read as "a computation other than the most common one is followed by at
least π_min of the classified networks". At each setting s, with n_s classified networks and k_s
outside the most common class, two exact one-sided binomial tests are run:

* for the claim, H0: share ≤ π_min, p = P(Bin(n_s, π_min) ≥ k_s);
* against it, H0: share ≥ π_min, p = P(Bin(n_s, π_min) ≤ k_s).

The claim is **supported** when the test for it rejects at every setting (the census holds
whatever the thresholds: an intersection–union test), **refuted** when the test against it
rejects at every setting, **not established** otherwise, and **not testable** when too few
networks fit a construction. The two directions form the family, Holm-corrected. Networks that
fit no construction (``none``) are left out of n_s; the reason line says how many there were,
since they may be a way nobody hand-coded.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.inference import TestFamily, Verdict, not_testable

from .computations import ComputationClasses
from .strategies import (
    NONE_CODE,
    Signature,
    classify_strategies,
    informative_neurons,
    scores_from_r2,
    signature_r2,
)

__all__ = ["CLAIM", "CensusSweep", "census_verdict", "sweep_census"]

CLAIM = "trained networks compute fuzzy XOR in more than one way"

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CensusSweep:
    """Counts at every threshold setting.

    Attributes:
        settings: (setting, 3) float64 rows (relevance, affine_threshold, fit_threshold).
        constructions: Construction names, the columns of ``construction_counts`` before
            ``none``.
        construction_counts: (setting, n_constructions + 1) int64; last column ``none``.
        computations: Computation class names, the columns of ``computation_counts`` before
            ``none``.
        computation_counts: (setting, n_classes + 1) int64; last column ``none``.
        n_converged: Networks that learned XOR (the same at every setting).
    """

    settings: FloatArray
    constructions: tuple[str, ...]
    construction_counts: IntArray
    computations: tuple[str, ...]
    computation_counts: IntArray
    n_converged: int

    def ranges(self, level: str = "constructions") -> dict[str, tuple[int, int]]:
        """Name → (min, max) count over the settings."""
        names, counts = (
            (self.constructions, self.construction_counts)
            if level == "constructions"
            else (self.computations, self.computation_counts)
        )
        return {
            name: (int(counts[:, i].min()), int(counts[:, i].max()))
            for i, name in enumerate([*names, "none"])
        }

    def stable(self, level: str, tolerance: int) -> bool:
        """True when no count moves by more than ``tolerance`` networks across the settings."""
        return all(hi - lo <= tolerance for lo, hi in self.ranges(level).values())


def sweep_census(
    acts: torch.Tensor,
    constant: torch.Tensor,
    affine_span: torch.Tensor,
    effect: torch.Tensor,
    converged: npt.NDArray[np.bool_],
    signatures: Sequence[Signature],
    classes: ComputationClasses,
    *,
    relevance: Sequence[float],
    affine_threshold: Sequence[float],
    fit_threshold: Sequence[float],
) -> CensusSweep:
    """Reclassify every network at every threshold combination.

    Args:
        acts: (seed, n_points, n_units) hidden activations on the grid.
        constant: (seed, n_units) bool constant neurons.
        affine_span: (seed, n_units) affine-span R².
        effect: (seed, n_units) mean-ablation effect.
        converged: (seed,) bool.
        signatures: The constructions' signatures.
        classes: Their computation classes.
        relevance, affine_threshold, fit_threshold: The swept values.
    """
    r2s = signature_r2(acts, signatures)  # once: independent of the thresholds
    names = tuple(sig.name for sig in signatures)
    class_of = np.array([classes.of[n] for n in names])
    settings = list(itertools.product(relevance, affine_threshold, fit_threshold))
    by_construction = np.zeros((len(settings), len(names) + 1), dtype=np.int64)
    by_class = np.zeros((len(settings), len(classes.names) + 1), dtype=np.int64)
    for row, (rel, aff, fit) in enumerate(settings):
        mask = informative_neurons(
            constant, affine_span, effect, affine_threshold=aff, relevance=rel
        )
        codes = classify_strategies(scores_from_r2(r2s, signatures, mask), converged, threshold=fit)
        labelled = codes[codes >= 0]
        by_construction[row, : len(names)] = np.bincount(labelled, minlength=len(names))
        by_construction[row, -1] = int((codes == NONE_CODE).sum())
        by_class[row, :-1] = np.bincount(class_of[labelled], minlength=len(classes.names))
        by_class[row, -1] = by_construction[row, -1]
    return CensusSweep(
        np.asarray(settings, dtype=np.float64),
        names,
        by_construction,
        classes.names,
        by_class,
        int(np.asarray(converged).sum()),
    )


def census_verdict(
    counts: IntArray,
    *,
    minority_share: float,
    alpha: float,
    min_classified: int,
) -> tuple[Verdict, TestFamily]:
    """The verdict on :data:`CLAIM` from computation counts at every setting.

    "At every setting" is an intersection–union test (Berger, 1982): the claim holds at all
    settings when each setting's test rejects, and the largest of the per-setting p-values is a
    valid p-value for that, with no correction over settings. The family is the two such tests
    (for and against), Holm-corrected.

    Args:
        counts: (setting, n_classes + 1) computation counts, last column ``none``.
        minority_share: π_min, the share a second computation must reach.
        alpha: Family-wise error rate of the two tests.
        min_classified: Fewest classified networks a setting needs to be tested.

    Returns:
        The verdict and the corrected family.
    """
    from scipy.stats import binom  # lazy: keeps importing the lab cheap

    classified = counts[:, :-1].sum(axis=1)
    minority = classified - counts[:, :-1].max(axis=1, initial=0)
    tested = np.flatnonzero(classified >= min_classified)
    family = TestFamily(
        f"two intersection–union tests (minority-computation share above / below π_min = "
        f"{minority_share:g} at all {tested.size} testable threshold settings)",
        alpha=alpha,
    )
    none = int(counts[:, -1].max(initial=0))
    tail = f"; {none} nets fit no construction (not counted)" if none else ""
    if tested.size == 0:
        return (
            not_testable(
                CLAIM,
                f"at most {int(classified.max(initial=0))} networks fit a construction at any "
                f"threshold setting; at least {min_classified} are needed{tail}",
            ),
            family,
        )
    n, k = classified[tested], minority[tested]
    shares = k / n
    # Exact one-sided binomial p-values per setting, then the IUT maximum over settings.
    p_for = binom.sf(k - 1, n, minority_share)  # H0: share <= π_min
    p_against = binom.cdf(k, n, minority_share)  # H0: share >= π_min
    family.add("for", float(p_for.max()), float(shares.min() - minority_share))
    family.add("against", float(p_against.max()), float(minority_share - shares.max()))
    adj = family.adjusted()
    span = (
        f"minority share {shares.min():.2f}–{shares.max():.2f} of {n.min()}–{n.max()} "
        f"classified nets over {tested.size} settings"
    )
    if adj["for"] <= alpha:
        verdict = Verdict(CLAIM, "supported", f"{span}, above π_min = {minority_share:g} at "
                          f"every setting (Holm p = {adj['for']:.2g}){tail}", adj["for"],
                          family.tests[0].effect)  # fmt: skip
    elif adj["against"] <= alpha:
        verdict = Verdict(CLAIM, "refuted", f"{span}, below π_min = {minority_share:g} at "
                          f"every setting (Holm p = {adj['against']:.2g}){tail}", adj["against"],
                          -family.tests[1].effect)  # fmt: skip
    else:
        n_for = int((p_for <= alpha).sum())
        n_against = int((p_against <= alpha).sum())
        why = (
            f"above π_min at {n_for} and below at {n_against} of {tested.size} settings, so the "
            "census moves with the thresholds"
            if n_for or n_against
            else f"too few nets to tell the share from π_min = {minority_share:g} at any setting"
        )
        verdict = Verdict(
            CLAIM, "not established", f"{span}: {why} (Holm p ≥ {min(adj.values()):.2g}){tail}",
            min(adj.values()), float(np.median(shares) - minority_share),
        )  # fmt: skip
    return verdict, family
