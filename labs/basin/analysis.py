"""The answer to the prompt: two claims, each tested over a stated family with Holm's correction.

1. **"Simple functions sit in broader basins."** For every broadness measure, the simple
   task's nets against the lookup task's: difference of means oriented so that positive means
   *broader* for the simple task, a percentile-bootstrap interval (groups resampled
   independently), Cohen's d, and a two-sided permutation p
   (:func:`workbench.measures.two_sample_permutation_test`). Family: the broadness measures.
2. **"Broader basins store less."** Within each task (so the task difference cannot drive it),
   Spearman's ρ between each broadness measure (oriented: larger = broader) and each layer's
   entropy (= its MI with the input, see :mod:`.compression`), with a permutation p
   (:func:`workbench.core.inference.spearman_permutation_test`); effect = -ρ, positive when
   broader nets store less. Family: every (task, measure, layer) with a non-constant layer.

Broadness orientation: λ̂ and the Hessian trace are *smaller* for broader basins (sign -1);
the quadratic and Monte-Carlo log-volumes are larger (sign +1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from workbench.core.inference import (
    TestFamily,
    Verdict,
    cohens_d,
    decide,
    spearman_permutation_test,
)
from workbench.measures import two_sample_permutation_test

__all__ = [
    "BROADNESS",
    "CLAIM_BROADER",
    "CLAIM_STORES_LESS",
    "Comparison",
    "Correlation",
    "broader_claim",
    "compare_groups",
    "correlate",
    "stores_less_claim",
]

FloatArray = npt.NDArray[np.float64]

#: Broadness measures and their orientation (+1: larger value = broader basin).
BROADNESS: dict[str, int] = {
    "llc": -1,
    "hessian_trace": -1,
    "quadratic_log_volume": +1,
    "mc_log_volume": +1,
}

CLAIM_BROADER = "simple functions sit in broader basins"
CLAIM_STORES_LESS = "broader basins store less"


@dataclass(frozen=True)
class Comparison:
    """Simple against complex on one broadness measure (raw means; oriented difference)."""

    measure: str
    mean_simple: float
    mean_complex: float
    broader_by: float  # sign · (mean_simple - mean_complex): > 0 = simple is broader
    lo: float
    hi: float
    cohens_d: float  # oriented like broader_by
    p_value: float
    n_simple: int
    n_complex: int


@dataclass(frozen=True)
class Correlation:
    """Spearman ρ between an oriented broadness and a layer's entropy, within one task."""

    task: str
    measure: str
    layer: str
    rho: float
    p_value: float
    n: int

    @property
    def name(self) -> str:
        """Family key ``<task>/<measure>/<layer>``."""
        return f"{self.task}/{self.measure}/{self.layer}"


def _finite(a: npt.ArrayLike) -> FloatArray:
    v = np.asarray(a, dtype=np.float64).ravel()
    return v[np.isfinite(v)]


def compare_groups(
    measure: str,
    simple: npt.ArrayLike,
    complex_: npt.ArrayLike,
    sign: int,
    *,
    n_permutations: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    n_boot: int = 2000,
) -> Comparison:
    """Difference in means with interval, effect size and permutation p (NaN values dropped)."""
    a, b = _finite(simple), _finite(complex_)
    if a.size < 2 or b.size < 2:
        nan = math.nan
        return Comparison(measure, nan, nan, nan, nan, nan, nan, nan, a.size, b.size)
    test = two_sample_permutation_test(a, b, n_permutations=n_permutations, seed=seed)
    rng = np.random.default_rng(seed)
    boot = (
        a[rng.integers(0, a.size, (n_boot, a.size))].mean(1)
        - b[rng.integers(0, b.size, (n_boot, b.size))].mean(1)
    ) * sign
    q = (1 - level) / 2
    return Comparison(
        measure=measure,
        mean_simple=float(a.mean()),
        mean_complex=float(b.mean()),
        broader_by=sign * float(a.mean() - b.mean()),
        lo=float(np.quantile(boot, q)),
        hi=float(np.quantile(boot, 1 - q)),
        cohens_d=sign * cohens_d(a, b),
        p_value=float(test.p_value),
        n_simple=int(a.size),
        n_complex=int(b.size),
    )


def broader_claim(
    comparisons: Sequence[Comparison], alpha: float, *, calibration_note: str = ""
) -> tuple[Verdict, TestFamily]:
    """Verdict on :data:`CLAIM_BROADER` over the family of broadness measures."""
    family = TestFamily("simple vs complex task, one test per broadness measure", alpha=alpha)
    for c in comparisons:
        family.add(c.measure, c.p_value, c.broader_by)
    testable = any(math.isfinite(c.p_value) for c in comparisons)
    verdict = decide(
        CLAIM_BROADER,
        family,
        testable=testable,
        why_not="fewer than 2 trained nets in the simple or the complex task",
    )
    return _with_note(verdict, calibration_note), family


def correlate(
    task: str,
    broadness: Mapping[str, npt.ArrayLike],
    entropy: npt.ArrayLike,
    layers: Sequence[str],
    *,
    n_permutations: int = 2000,
    seed: int = 0,
) -> list[Correlation]:
    """Spearman ρ of each oriented broadness with each layer's entropy (NaN when constant)."""
    h = np.asarray(entropy, dtype=np.float64)
    out = []
    for i, (measure, values) in enumerate(broadness.items()):
        v = BROADNESS[measure] * np.asarray(values, dtype=np.float64)
        for j, layer in enumerate(layers):
            ok = np.isfinite(v) & np.isfinite(h[:, j])
            if ok.sum() < 3:
                out.append(Correlation(task, measure, layer, math.nan, math.nan, int(ok.sum())))
                continue
            rho, p = spearman_permutation_test(
                v[ok], h[ok, j], n_permutations=n_permutations, seed=seed + 31 * i + j
            )
            out.append(Correlation(task, measure, layer, rho, p, int(ok.sum())))
    return out


def stores_less_claim(
    correlations: Sequence[Correlation], alpha: float, *, calibration_note: str = ""
) -> tuple[Verdict, TestFamily]:
    """Verdict on :data:`CLAIM_STORES_LESS`: effect -ρ per (task, measure, layer), Holm."""
    family = TestFamily(
        "within-task Spearman ρ, each broadness measure × each non-constant layer entropy",
        alpha=alpha,
    )
    for c in correlations:
        family.add(c.name, c.p_value, -c.rho if math.isfinite(c.rho) else math.nan)
    verdict = decide(
        CLAIM_STORES_LESS,
        family,
        testable=family.size > 0,
        why_not="no layer's entropy varies across nets (every correlation is undefined)",
    )
    return _with_note(verdict, calibration_note), family


def _with_note(verdict: Verdict, note: str) -> Verdict:
    if not note:
        return verdict
    return Verdict(
        verdict.claim, verdict.word, f"{verdict.reason} — {note}", verdict.p_value, verdict.effect
    )
