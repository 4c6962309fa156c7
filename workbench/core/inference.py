"""Verdicts, multiple-comparison corrections and power: how a lab turns tests into findings.

Every lab ends in claims ("simple nets store less", "broader basins store less"). Each claim
gets one :class:`Verdict` whose word is one of

* ``supported``: the test family's corrected p-value is below α and the effect points the way
  the claim says;
* ``refuted``: it is below α and the effect points the *other* way;
* ``not established``: the data were adequate but nothing passed the corrected threshold;
* ``not testable``: the data cannot answer (too few trained nets, a degenerate measure, a
  calibration that failed), with the reason.

Corrections are over a stated *family* of tests: :func:`holm_adjust` implements the Holm (1979)
step-down procedure, which controls the family-wise error rate under any dependence between the
tests, and is uniformly more powerful than Bonferroni.

Everything here is NumPy and a few SciPy special functions (imported lazily, so importing this
module stays cheap); the permutation tests are batched, never a Python loop over permutations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "VERDICT_WORDS",
    "FamilyTest",
    "TestFamily",
    "Verdict",
    "cohens_d",
    "decide",
    "fixed_case_test",
    "holm_adjust",
    "nested_permutation_test",
    "not_testable",
    "seeds_for_power",
    "single_case_power",
    "single_case_test",
    "spearman_permutation_test",
]

VerdictWord = Literal["supported", "refuted", "not established", "not testable"]
VERDICT_WORDS: tuple[VerdictWord, ...] = (
    "supported",
    "refuted",
    "not established",
    "not testable",
)

FloatArray = npt.NDArray[np.float64]

#: Permuted copies held at once (bounds the memory of the batched tests).
_CHUNK_VALUES = 1 << 22


@dataclass(frozen=True)
class Verdict:
    """The answer to one claim.

    Attributes:
        claim: The claim in words, e.g. ``"first-bit nets store less than random-lookup nets"``.
        word: One of :data:`VERDICT_WORDS`.
        reason: One line saying why, with the numbers that decided it.
        p_value: The corrected p-value that decided it (NaN when not testable).
        effect: The signed effect (positive = in the claim's direction; NaN when not testable).
    """

    claim: str
    word: VerdictWord
    reason: str
    p_value: float = math.nan
    effect: float = math.nan

    def __post_init__(self) -> None:
        if self.word not in VERDICT_WORDS:
            raise ValueError(f"verdict word must be one of {VERDICT_WORDS}; got {self.word!r}")

    def line(self) -> str:
        """``"<word>: <reason>"``, the one line shown in summaries, headlines and the TUI."""
        return f"{self.word}: {self.reason}"

    def as_results(self, prefix: str) -> dict[str, float | str]:
        """Flat ``[results]`` entries under ``prefix``: verdict, reason, p_corrected, effect."""
        return {
            f"{prefix}/verdict": self.word,
            f"{prefix}/reason": self.reason,
            f"{prefix}/p_corrected": self.p_value,
            f"{prefix}/effect": self.effect,
        }


def not_testable(claim: str, reason: str) -> Verdict:
    """A :class:`Verdict` saying the data cannot answer ``claim``, and why."""
    return Verdict(claim, "not testable", reason)


def holm_adjust(p_values: Sequence[float] | npt.ArrayLike) -> FloatArray:
    """Holm–Bonferroni step-down adjusted p-values (Holm, 1979).

    With the m finite p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted values
    are ``p̃_(i) = min(1, max_{j <= i} (m - j + 1) p_(j))``; rejecting every test with
    ``p̃ <= α`` controls the family-wise error rate at α under arbitrary dependence. NaN entries
    (tests that could not be run) are not members of the family and stay NaN.

    Args:
        p_values: (m,) raw p-values in [0, 1], NaN for a test that was not run.

    Returns:
        (m,) adjusted p-values in the input order.
    """
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    out = np.full_like(p, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    if finite.size == 0:
        return out
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError(f"p-values must lie in [0, 1]; got {p[finite].tolist()}")
    m = finite.size
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]  # (m - j + 1) p_(j) with j 1-based
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


@dataclass(frozen=True)
class FamilyTest:
    """One member of a :class:`TestFamily`.

    Attributes:
        name: Stable key, e.g. ``"entropy/layer2"``.
        p_value: Raw p-value (NaN when the test could not be run).
        effect: Signed effect, positive in the direction of the claim.
    """

    name: str
    p_value: float
    effect: float


@dataclass
class TestFamily:
    """A named family of tests corrected together with Holm's procedure.

    Attributes:
        description: What the family is, in words (printed in summaries).
        alpha: The family-wise error rate.
        tests: The members, in the order added.
    """

    __test__ = False  # not a pytest test class, whatever its name

    description: str
    alpha: float = 0.05
    tests: list[FamilyTest] = field(default_factory=list)

    def add(self, name: str, p_value: float, effect: float) -> None:
        """Add one test (raw p, signed effect)."""
        if any(t.name == name for t in self.tests):
            raise ValueError(f"test {name!r} is already in the family")
        self.tests.append(FamilyTest(name, float(p_value), float(effect)))

    def adjusted(self) -> dict[str, float]:
        """Name → Holm-adjusted p-value over the whole family."""
        adj = holm_adjust([t.p_value for t in self.tests])
        return {t.name: float(a) for t, a in zip(self.tests, adj, strict=True)}

    @property
    def size(self) -> int:
        """Number of tests that were run (finite p), i.e. the m of the correction."""
        return sum(1 for t in self.tests if math.isfinite(t.p_value))

    def as_results(self, prefix: str) -> dict[str, float | str | int]:
        """``[results]`` entries: the family's description and size, and each raw/adjusted p."""
        out: dict[str, float | str | int] = {
            f"{prefix}/family": self.description,
            f"{prefix}/family_size": self.size,
            f"{prefix}/alpha": self.alpha,
        }
        for t, adj in zip(self.tests, self.adjusted().values(), strict=True):
            out[f"{prefix}/{t.name}/p"] = t.p_value
            out[f"{prefix}/{t.name}/p_holm"] = adj
        return out


def decide(
    claim: str,
    family: TestFamily,
    names: Sequence[str] | None = None,
    *,
    testable: bool = True,
    why_not: str = "",
) -> Verdict:
    """The verdict on ``claim`` from the members ``names`` of a corrected family.

    The claim is ``supported`` when some member passes its Holm-adjusted threshold with a
    positive effect and none passes with a negative one; ``refuted`` when the reverse holds;
    ``not established`` when nothing passes, or when members pass in both directions (the
    reason says so).

    Args:
        claim: The claim in words.
        family: The corrected family; ``names`` pick the members that bear on the claim.
        names: Members to read (default: all).
        testable: False when the data cannot answer; ``why_not`` says why.
        why_not: The reason, when not testable.
    """
    if not testable:
        return not_testable(claim, why_not or "the data cannot answer this claim")
    adj = family.adjusted()
    members = [t for t in family.tests if names is None or t.name in names]
    run = [t for t in members if math.isfinite(t.p_value)]
    if not run:
        return not_testable(claim, why_not or "no test bearing on the claim could be run")
    a = family.alpha
    where = f"Holm over {family.size} tests ({family.description}), α = {a:g}"
    pro = [t for t in run if adj[t.name] <= a and t.effect > 0]
    con = [t for t in run if adj[t.name] <= a and t.effect < 0]
    best = min(run, key=lambda t: adj[t.name])
    if pro and not con:
        t = min(pro, key=lambda t: adj[t.name])
        return Verdict(
            claim, "supported",
            f"{t.name}: effect {t.effect:+.3g}, p = {adj[t.name]:.3g} ({where})",
            adj[t.name], t.effect,
        )  # fmt: skip
    if con and not pro:
        t = min(con, key=lambda t: adj[t.name])
        return Verdict(
            claim, "refuted",
            f"{t.name}: effect {t.effect:+.3g} against the claim, p = {adj[t.name]:.3g} ({where})",
            adj[t.name], t.effect,
        )  # fmt: skip
    if pro and con:
        return Verdict(
            claim, "not established",
            f"significant in both directions ({len(pro)} for, {len(con)} against; {where})",
            adj[best.name], best.effect,
        )  # fmt: skip
    return Verdict(
        claim, "not established",
        f"no test significant; smallest p = {adj[best.name]:.3g} at {best.name} ({where})",
        adj[best.name], best.effect,
    )  # fmt: skip


def cohens_d(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Standardised mean difference ``d = (mean a - mean b) / s_pooled`` (Cohen, 1988).

    ``s_pooled² = ((n_a - 1) s_a² + (n_b - 1) s_b²) / (n_a + n_b - 2)``. Returns ±inf when the
    pooled SD is 0 and the means differ, 0 when both are equal, NaN with fewer than 2 values.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size < 1 or y.size < 1 or x.size + y.size < 3:
        return math.nan
    diff = float(x.mean() - y.mean())
    ss = float(((x - x.mean()) ** 2).sum() + ((y - y.mean()) ** 2).sum())
    sd = math.sqrt(ss / (x.size + y.size - 2))
    if sd == 0.0:
        return 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
    return diff / sd


def seeds_for_power(effect_size: float, alpha: float, power: float = 0.8) -> float:
    """Seeds per group a two-sided two-sample test needs to detect ``effect_size`` (Cohen's d).

    Normal approximation (Cohen, 1988, ch. 2): ``n = 2 (z_{1-α/2} + z_{power})² / d²``, rounded
    up; it is slightly optimistic below about 10 seeds per group, where the t distribution's
    heavier tails matter. ``α`` should be the per-test level the correction leaves (for Holm,
    conservatively α / m). Returns inf for d = 0 and NaN for a NaN d.
    """
    from scipy.special import ndtri  # lazy: keeps importing inference cheap

    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must lie in (0, 1); got {alpha}, {power}")
    if math.isnan(effect_size):
        return math.nan
    if effect_size == 0.0:
        return math.inf
    if math.isinf(effect_size):
        return 2.0
    z = float(ndtri(1 - alpha / 2) + ndtri(power))
    return float(max(2, math.ceil(2 * z * z / (effect_size * effect_size))))


def _ranks(x: FloatArray) -> FloatArray:
    """Average ranks along the last axis (ties share their mean rank)."""
    from scipy.stats import rankdata

    return np.asarray(rankdata(x, axis=-1), dtype=np.float64)


def spearman_permutation_test(
    x: npt.ArrayLike, y: npt.ArrayLike, *, n_permutations: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Spearman's ρ and its two-sided permutation p-value.

    ρ is Pearson's correlation of the average ranks. Under independence every pairing of the
    y-ranks with the x-ranks is equally likely, so ``p = (1 + #{|ρ_k| >= |ρ|}) / (1 + K)`` over
    K random pairings (Phipson & Smyth, 2010). The K permutations are drawn at once from one
    ``numpy.random.Generator`` and evaluated as one matrix product.

    Args:
        x: (n,) values, n >= 3.
        y: (n,) values paired with x.
        n_permutations: K.
        seed: Seed of this test's generator.

    Returns:
        ``(rho, p)``; ``(nan, nan)`` when either variable is constant (no ranks to correlate).
    """
    xa = np.asarray(x, dtype=np.float64).reshape(-1)
    ya = np.asarray(y, dtype=np.float64).reshape(-1)
    if xa.shape != ya.shape or xa.size < 3:
        raise ValueError(f"x and y need the same length >= 3; got {xa.size} and {ya.size}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise ValueError("x and y must be finite; drop the seeds whose measure is NaN first")
    rx, ry = _ranks(xa), _ranks(ya)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    norm = math.sqrt(float(rx @ rx) * float(ry @ ry))
    if norm == 0.0:
        return math.nan, math.nan
    rho = float(rx @ ry) / norm
    rng = np.random.default_rng(seed)
    n = xa.size
    chunk = max(1, _CHUNK_VALUES // n)
    extreme = 0
    for start in range(0, n_permutations, chunk):
        rows = min(chunk, n_permutations - start)
        perm = rng.permuted(np.broadcast_to(ry, (rows, n)), axis=1)  # (rows, n)
        null = perm @ rx / norm
        extreme += int(np.count_nonzero(np.abs(null) >= abs(rho) - 1e-12))
    return rho, (1 + extreme) / (1 + n_permutations)


def nested_permutation_test(
    values: Mapping[str, npt.ArrayLike],
    groups: Mapping[str, str],
    *,
    n_permutations: int = 2000,
    seed: int = 0,
) -> tuple[float, float, dict[str, float]]:
    """Two-level test of a difference between two conditions with units nested in clusters.

    When nets (units) are nested in clusters that share something (the nets trained on one
    random lookup table), the clusters, not the nets, are the independent replicates. The
    statistic is the difference between the conditions' means of *cluster means*,
    ``D = mean_{c in A} m_c - mean_{c in B} m_c``, and the null permutes whole clusters between
    conditions (a cluster-level randomisation test). With one cluster per condition no
    permutation can move anything, and the p-value is NaN: say "not testable" then.

    Args:
        values: Cluster name → (n_c,) unit values.
        groups: Cluster name → condition label; exactly two distinct labels, the first one seen
            is condition A.
        n_permutations: Random relabellings of clusters (all of them when fewer exist).
        seed: Seed of this test's generator.

    Returns:
        ``(D, p, cluster_means)``; p is two-sided.
    """
    names = list(values)
    if set(names) != set(groups):
        raise ValueError("values and groups must name the same clusters")
    labels = [groups[n] for n in names]
    conditions = list(dict.fromkeys(labels))
    if len(conditions) != 2:
        raise ValueError(f"need exactly two conditions; got {conditions}")
    means = np.array([float(np.mean(np.asarray(values[n], dtype=np.float64))) for n in names])
    is_a = np.array([lab == conditions[0] for lab in labels])
    d = float(means[is_a].mean() - means[~is_a].mean())
    k = int(is_a.sum())
    cluster_means = dict(zip(names, means.tolist(), strict=True))
    if len(names) <= 2:
        return d, math.nan, cluster_means
    rng = np.random.default_rng(seed)
    keys = rng.random((n_permutations, len(names)))
    chosen = np.argsort(keys, axis=1)[:, :k]  # (K, k): clusters relabelled as A
    mask = np.zeros((n_permutations, len(names)), dtype=bool)
    np.put_along_axis(mask, chosen, True, axis=1)
    null = (mask @ means) / k - ((~mask) @ means) / (len(names) - k)
    extreme = int(np.count_nonzero(np.abs(null) >= abs(d) - 1e-12))
    return d, (1 + extreme) / (1 + n_permutations), cluster_means


def single_case_test(case: float, controls: npt.ArrayLike) -> tuple[float, float, float]:
    """Is one case unlike a small sample of controls? Crawford & Howell's (1998) t-test.

    One cluster against K clusters, e.g. the mean entropy of the first-bit nets against the mean
    entropies of the nets of K random lookup tables: the tables, not the nets, are the
    replicates. Under the null the case is one more draw from the controls' normal
    distribution, so ``t = (x* - x̄) / (s sqrt((K + 1) / K))`` follows Student's t with K - 1
    degrees of freedom (x̄, s: the controls' mean and sample SD). Unlike a cluster permutation
    test, whose p-value cannot go below 1 / (K + 1), it can answer with few controls, at the
    price of assuming normal cluster means.

    Args:
        case: x*, the single case's value.
        controls: (K,) the controls' values, K >= 2.

    Returns:
        ``(t, p, d)``: the statistic, its two-sided p-value and the effect size
        ``d = (x* - x̄) / s`` (NaN, NaN, NaN with fewer than 2 controls; t = ±inf and p = 0 when
        the controls are all equal and the case differs, p = 1 when it does not).
    """
    from scipy.stats import t as student_t  # lazy: keeps importing inference cheap

    c = np.asarray(controls, dtype=np.float64).reshape(-1)
    if c.size < 2 or not math.isfinite(case) or not np.all(np.isfinite(c)):
        return math.nan, math.nan, math.nan
    k = c.size
    diff = float(case - c.mean())
    s = float(c.std(ddof=1))
    if s == 0.0:
        if diff == 0.0:
            return 0.0, 1.0, 0.0
        inf = math.copysign(math.inf, diff)
        return inf, 0.0, inf
    t = diff / (s * math.sqrt((k + 1) / k))
    return t, float(2 * student_t.sf(abs(t), df=k - 1)), diff / s


def single_case_power(effect_size: float, n_controls: int, alpha: float) -> float:
    """Power of :func:`single_case_test` at effect ``d = (μ* - μ) / σ`` with K controls.

    With a normal case and controls, ``t`` is noncentral t with K - 1 degrees of freedom and
    noncentrality ``δ = d / sqrt((K + 1) / K)``; power ``= P(|T| > t_{1-α/2, K-1})``. As K grows
    the power tends to that of a z-test of one draw, ``Φ(|d| - z_{1-α/2})`` (roughly): more
    controls cannot make a small d detectable from a single case.

    Args:
        effect_size: d (signed or not; NaN gives NaN).
        n_controls: K >= 2.
        alpha: Two-sided level, in (0, 1): the per-test level a correction leaves.

    Returns:
        The power in [0, 1].
    """
    from scipy.stats import nct
    from scipy.stats import t as student_t

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha}")
    if n_controls < 2 or math.isnan(effect_size):
        return math.nan
    if math.isinf(effect_size):
        return 1.0
    df = n_controls - 1
    delta = abs(effect_size) / math.sqrt((n_controls + 1) / n_controls)
    crit = float(student_t.ppf(1 - alpha / 2, df))
    return float(nct.sf(crit, df, delta) + nct.cdf(-crit, df, delta))


def fixed_case_test(
    case_values: npt.ArrayLike, cluster_means: npt.ArrayLike
) -> tuple[float, float, float]:
    """Does a fixed condition differ from the mean of a population of clusters? (Welch-type.)

    One fixed condition (first-bit: a single, fixed function) measured on n units, against K
    clusters drawn from a population (random lookup tables), each summarised by its mean over
    its units. H0: the fixed condition's expectation equals the population mean of the cluster
    means. The case mean has variance ``σ_c² / n`` (units only: the condition is fixed), the mean
    of the K cluster means ``σ_m² / K`` (between-cluster and within-cluster noise together), so

        t = (x̄_c - m̄) / sqrt(s_c² / n + s_m² / K),

    with Welch–Satterthwaite degrees of freedom
    ``ν = (a + b)² / (a² / (n - 1) + b² / (K - 1))``, ``a = s_c² / n``, ``b = s_m² / K`` (Welch,
    1947). Unlike :func:`single_case_test` it does not treat the fixed condition as one more draw
    from the clusters' population, which is right when the claim is about that condition.

    Args:
        case_values: (n,) unit values of the fixed condition, n >= 2.
        cluster_means: (K,) cluster means, K >= 2.

    Returns:
        ``(t, p, ν)`` with p two-sided; NaNs when n < 2 or K < 2; ``(±inf, 0, nan)`` when both
        variances are 0 and the means differ, ``(0, 1, nan)`` when they do not.
    """
    from scipy.stats import t as student_t

    c = np.asarray(case_values, dtype=np.float64).reshape(-1)
    m = np.asarray(cluster_means, dtype=np.float64).reshape(-1)
    if c.size < 2 or m.size < 2:
        return math.nan, math.nan, math.nan
    diff = float(c.mean() - m.mean())
    a = float(c.var(ddof=1)) / c.size
    b = float(m.var(ddof=1)) / m.size
    if a + b == 0.0:
        if diff == 0.0:
            return 0.0, 1.0, math.nan
        return math.copysign(math.inf, diff), 0.0, math.nan
    t = diff / math.sqrt(a + b)
    df = (a + b) ** 2 / (a * a / (c.size - 1) + b * b / (m.size - 1))
    return t, float(2 * student_t.sf(abs(t), df)), df
