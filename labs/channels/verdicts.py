"""The lab's claims, each a pure function of measured arrays that returns a Verdict.

Each claim states its test family; every family is Holm-corrected (workbench.core.inference), so
the map of the scarce-channels regime controls the family-wise error over all its cells. The
deterministic claims (an exact identity, a bound) are checked exactly and say so in the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from workbench.core.inference import (
    TestFamily,
    Verdict,
    VerdictWord,
    decide,
    not_testable,
    spearman_permutation_test,
)
from workbench.measures import two_sample_permutation_test

from .stats import sign_flip_test

__all__ = [
    "SCARCE_CLAIM",
    "bound_verdict",
    "capacity_verdict",
    "cell_map",
    "invertible_verdict",
    "jacobian_verdict",
    "scarce_verdict",
    "spectrum_change_verdict",
    "training_verdict",
]

FloatArray = npt.NDArray[np.float64]

SCARCE_CLAIM = "at init a net throws away most of its input: I(X; last hidden) < f·H(X)"


def _family_of_means(
    description: str, names: Sequence[str], d: FloatArray, alpha: float, n_permutations: int
) -> TestFamily:
    family = TestFamily(description, alpha=alpha)
    means, p = sign_flip_test(d, n_permutations=n_permutations)
    for name, mean, p_value in zip(names, means, p, strict=True):
        family.add(name, float(p_value), float(mean))
    return family


def cell_map(family: TestFamily) -> FloatArray:
    """+1 where a member passes Holm with a positive effect, -1 negative, 0 neither."""
    adj = family.adjusted()
    return np.array(
        [
            0.0 if not adj[t.name] <= family.alpha else math.copysign(1.0, t.effect)
            for t in family.tests
        ]
    )


def scarce_verdict(
    fractions: FloatArray,
    names: Sequence[str],
    threshold: float,
    alpha: float,
    n_permutations: int = 4000,
) -> tuple[Verdict, TestFamily]:
    """Is I/H(X) below ``threshold`` in each cell? ``fractions``: ``(cell, seed)``.

    Effect = threshold - mean fraction (positive = scarce); a two-sided sign-flip test per cell,
    Holm over the cells. Scarce in some cells and abundant in others reads "not established:
    significant in both directions", and the map says where.
    """
    family = _family_of_means(
        f"sign-flip test of threshold {threshold:g} - I/H(X) per cell, {len(names)} cells",
        names,
        threshold - fractions,
        alpha,
        n_permutations,
    )
    return decide(SCARCE_CLAIM.replace("f·", f"{threshold:g}·"), family), family


def training_verdict(
    init: FloatArray,
    trained: FloatArray,
    names: Sequence[str],
    alpha: float,
    n_permutations: int = 4000,
) -> tuple[Verdict, TestFamily]:
    """Does training raise I(X; last hidden)? Paired per seed; ``(cell, seed)`` fractions."""
    family = _family_of_means(
        f"sign-flip test of trained - init I/H(X) per cell, {len(names)} cells",
        names,
        trained - init,
        alpha,
        n_permutations,
    )
    claim = "training builds channels: the last hidden layer keeps more of X after training"
    return decide(claim, family), family


def invertible_verdict(information: FloatArray, n_bits: int, tol: float = 1e-9) -> Verdict:
    """The commenter's case, checked exactly: ``information`` ``(seed, layer)`` bits at r = 0."""
    claim = "a square invertible net at init passes all of its input: I(X; layer) = H(X)"
    if information.size == 0 or not np.all(np.isfinite(information)):
        return not_testable(claim, "no finite information values")
    gap = float(information.min()) - n_bits
    short = int(np.count_nonzero(information < n_bits - tol))
    if short == 0:
        return Verdict(
            claim,
            "supported",
            f"exact: every layer of all {information.shape[0]} "
            f"nets has I = {n_bits} bits (min gap {gap:+.2e})",
            0.0,
            gap,
        )
    return Verdict(
        claim,
        "refuted",
        f"exact: {short} of {information.size} layer values fall "
        f"short of {n_bits} bits (min {information.min():.4g})",
        0.0,
        gap,
    )


def capacity_verdict(
    information: FloatArray,
    capacities: FloatArray,
    rates: Sequence[float],
    tolerance: float,
    alpha: float,
    n_permutations: int = 4000,
) -> tuple[Verdict, TestFamily]:
    """Do trained codes reach (1 - tolerance) × capacity? ``information``: ``(rate, seed)``."""
    claim = f"trained codes reach the dropout capacity (1-D)·m·log2 L within {tolerance:.0%}"
    ratio = information / capacities[:, None]
    names = [f"D={r:g}" for r in rates]
    family = _family_of_means(
        f"sign-flip test of I/C - (1 - {tolerance:g}) per rate, {len(names)} rates",
        names,
        ratio - (1.0 - tolerance),
        alpha,
        n_permutations,
    )
    return decide(claim, family), family


def bound_verdict(measured: FloatArray, bound: FloatArray, which: str) -> Verdict:
    """Exact check that measured entropy never exceeds the bound (NaN pairs skipped)."""
    claim = f"measured layer entropy <= the power-law bound ({which})"
    ok = np.isfinite(measured) & np.isfinite(bound)
    if not np.any(ok):
        return not_testable(claim, "no layer with a finite bound (resolution 0 or < 3 eigenvalues)")
    slack = bound[ok] - measured[ok]
    above = int(np.count_nonzero(slack < 0))
    word: VerdictWord = "supported" if above == 0 else "refuted"
    return Verdict(
        claim,
        word,
        f"exact: {above} of {slack.size} layers above the bound; median "
        f"slack {np.median(slack):.3g} bits (min {slack.min():.3g})",
        0.0,
        float(slack.min()),
    )


def spectrum_change_verdict(
    init: Mapping[str, FloatArray],
    trained: Mapping[str, FloatArray],
    alpha: float,
    n_permutations: int = 4000,
) -> tuple[Verdict, TestFamily]:
    """Does training change α? Two-sample permutation test per activation, Holm over them."""
    family = TestFamily(
        f"permutation test of mean α (trained - init), {len(init)} activations", alpha=alpha
    )
    for name in init:
        a, b = trained[name], init[name]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if a.size < 2 or b.size < 2:
            family.add(name, math.nan, math.nan)
            continue
        test = two_sample_permutation_test(a, b, n_permutations=n_permutations)
        family.add(name, test.p_value, test.estimate)
    claim = "training steepens the covariance spectrum (α_trained > α_init)"
    return decide(claim, family), family


def jacobian_verdict(
    pairs: Mapping[str, tuple[FloatArray, FloatArray]], alpha: float, n_permutations: int = 4000
) -> tuple[Verdict, TestFamily]:
    """Do Jacobian and covariance spectra agree? Spearman ρ of their participation ratios."""
    family = TestFamily(
        f"Spearman permutation test of PR(cov) vs PR(E[JJᵀ]), {len(pairs)} conditions", alpha=alpha
    )
    for name, (cov, jac) in pairs.items():
        ok = np.isfinite(cov) & np.isfinite(jac)
        if np.count_nonzero(ok) < 3:
            family.add(name, math.nan, math.nan)
            continue
        rho, p = spearman_permutation_test(cov[ok], jac[ok], n_permutations=n_permutations)
        family.add(name, p, rho)
    claim = "Jacobian and covariance spectra give the same picture (their PRs rank together)"
    return decide(claim, family), family
