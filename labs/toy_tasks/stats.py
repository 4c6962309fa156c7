"""The tests behind the toy-tasks claim: per table, over tables, batched over layers and settings.

The claim is "nets of task A (the config's first task, e.g. first-bit) store less information
than nets of task B (the second, e.g. random-lookup)". Task B may be K random lookup tables,
each its own ensemble: the nets are nested in tables, so

* **per-table effects** compare A's nets with one table's nets (a two-sample permutation test
  of the difference in mean entropy, net level). They are about *that table*;
* the **over-table effect** compares A's mean with the mean of the K tables' means, the tables
  being the replicates of B and A a fixed function
  (:func:`workbench.core.inference.fixed_case_test`, Welch-type, the variance of B's side
  from the spread of the table means). It is about random tables in general. As a
  cross-check, Crawford & Howell's single-case test
  (:func:`workbench.core.inference.single_case_test`) asks the stricter question "is A's mean
  unlike one more random table's?". A cluster permutation test
  (:func:`workbench.core.inference.nested_permutation_test`) cannot serve here: with A a single
  cluster its p never goes below 1 / (K + 1).

Effects are signed so that **positive means A stores less** (``mean H(B) - mean H(A)``, bits).
Permutation tests draw their label shuffles once per pair of group sizes and evaluate every
layer and every (rule, tol) setting with one matrix product (:func:`permutation_p_values`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr, ndtri

from workbench.core.inference import (
    cohens_d,
    fixed_case_test,
    seeds_for_power,
    single_case_test,
)

__all__ = [
    "SettingTests",
    "permutation_p_values",
    "power_over_tables",
    "power_per_table",
    "setting_tests",
]

FloatArray = npt.NDArray[np.float64]

#: Largest number of tables the power analysis searches for 80% power.
MAX_TABLES_FOR_POWER = 1000


def permutation_p_values(
    a: npt.ArrayLike, b: npt.ArrayLike, *, n_permutations: int, seed: int = 0
) -> tuple[FloatArray, FloatArray]:
    """Two-sided two-sample permutation tests of many statistics with one set of shuffles.

    Row r of ``a`` and ``b`` is one statistic (a layer at a setting) measured on the same nets.
    The shuffles are drawn once: permutation k puts the pooled nets ``π_k(0..n_a-1)`` in group a,
    written as a 0/1 selection matrix ``S: (K, n)``; then every row's null differences are one
    product, ``mean_a = pooled @ Sᵀ / n_a``, ``D_k = mean_b - mean_a``. ``p = (1 + #{|D_k| >=
    |D|}) / (1 + K)`` (Phipson & Smyth, 2010), ties within a few rounding errors counted.

    Args:
        a: ``(m, n_a)`` values of group a.
        b: ``(m, n_b)`` values of group b.
        n_permutations: K.
        seed: Seed of this test's generator.

    Returns:
        ``(p, difference)``: ``(m,)`` p-values and ``mean_b - mean_a``.
    """
    ta = np.atleast_2d(np.asarray(a, dtype=np.float64))
    tb = np.atleast_2d(np.asarray(b, dtype=np.float64))
    n_a, n_b = ta.shape[1], tb.shape[1]
    if n_a == 0 or n_b == 0 or ta.shape[0] != tb.shape[0]:
        raise ValueError(f"need non-empty groups with the same rows; got {ta.shape}, {tb.shape}")
    pooled = np.concatenate([ta, tb], axis=1)  # (m, n)
    n = n_a + n_b
    observed = tb.mean(axis=1) - ta.mean(axis=1)
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.broadcast_to(np.arange(n), (n_permutations, n)), axis=1)
    select = np.zeros((n_permutations, n))
    np.put_along_axis(select, perms[:, :n_a], 1.0, axis=1)  # (K, n)
    sum_a = pooled @ select.T  # (m, K)
    total = pooled.sum(axis=1, keepdims=True)
    null = (total - sum_a) / n_b - sum_a / n_a  # (m, K)
    slack = 8.0 * n * np.finfo(np.float64).eps * np.abs(pooled).max(axis=1, initial=0.0)
    extreme = np.abs(null) >= (np.abs(observed) - slack)[:, None]
    return (1.0 + extreme.sum(axis=1)) / (1.0 + n_permutations), observed


@dataclass(frozen=True)
class SettingTests:
    """The claim's tests at S settings (rows) and L layers (columns).

    Attributes:
        case: The single-cluster side's ensemble (A, or B when A has the clusters).
        clusters: The many-cluster side's usable ensembles (>= min_trained nets), or the one
            other ensemble when both sides are single.
        case_is_a: True when the single side is A.
        per_effect: ``(S, C, L)`` per-cluster effect, bits (positive: A stores less).
        per_p: ``(S, C, L)`` its permutation p-value.
        per_d: ``(S, C, L)`` Cohen's d (positive: A stores less).
        over_effect: ``(S, L)`` over-cluster effect, bits; NaN without >= 2 clusters.
        over_p: ``(S, L)`` fixed-case (Welch-type) p-value.
        over_t: ``(S, L)`` its t (positive: A stores less).
        single_p: ``(S, L)`` Crawford-Howell single-case p-value (cross-check).
        case_sd: ``(S, L)`` SD of the single side's nets.
        cluster_sd: ``(S, L)`` SD of the cluster means.
        n_case: Nets on the single side.
        excluded: Ensembles left out for having fewer than min_trained nets.
    """

    case: str
    clusters: list[str]
    case_is_a: bool
    per_effect: FloatArray
    per_p: FloatArray
    per_d: FloatArray
    over_effect: FloatArray
    over_p: FloatArray
    over_t: FloatArray
    single_p: FloatArray
    case_sd: FloatArray
    cluster_sd: FloatArray
    n_case: int
    excluded: list[str]

    @property
    def over_tables(self) -> bool:
        """True when the over-cluster test applies (one side has >= 2 usable clusters)."""
        return len(self.clusters) >= 2 and self.many_side_is_clustered

    many_side_is_clustered: bool = False


def setting_tests(
    values_a: Mapping[str, FloatArray],
    values_b: Mapping[str, FloatArray],
    *,
    min_trained: int,
    n_permutations: int,
    seed: int = 0,
) -> SettingTests | str:
    """The claim's tests at every setting and layer, or the reason they cannot be run.

    Args:
        values_a: Ensemble name → ``(S, n_nets, L)`` entropies of side A's ensembles.
        values_b: The same for side B.
        min_trained: Ensembles with fewer nets are left out.
        n_permutations: Shuffles per net-level test.
        seed: Seed of the shuffles.

    Returns:
        The :class:`SettingTests`, or a one-line reason why the claim is not testable.
    """
    usable_a = {k: v for k, v in values_a.items() if v.shape[1] >= min_trained}
    usable_b = {k: v for k, v in values_b.items() if v.shape[1] >= min_trained}
    excluded = [k for k in (*values_a, *values_b) if k not in usable_a and k not in usable_b]
    for side, usable, given in (("A", usable_a, values_a), ("B", usable_b, values_b)):
        if not usable:
            counts = ", ".join(f"{k}: {v.shape[1]}" for k, v in given.items())
            return (
                f"fewer than min_trained = {min_trained} trained nets in every ensemble of "
                f"side {side} ({counts})"
            )
    if len(values_a) > 1 and len(values_b) > 1:
        return "both sides have several ensembles; the claim needs one task against the other"
    case_is_a = len(values_a) == 1
    case_name, case_values = next(iter((usable_a if case_is_a else usable_b).items()))
    many = usable_b if case_is_a else usable_a
    clustered = len(values_b if case_is_a else values_a) > 1
    sign = 1.0 if case_is_a else -1.0  # effects positive when A stores less
    s, _, n_layers = case_values.shape
    names = list(many)
    per_effect = np.full((s, len(names), n_layers), np.nan)
    per_p = np.full_like(per_effect, np.nan)
    per_d = np.full_like(per_effect, np.nan)
    for c, name in enumerate(names):
        # One matrix product tests every setting and layer against this cluster.
        rows_case = case_values.transpose(0, 2, 1).reshape(s * n_layers, -1)
        rows_other = many[name].transpose(0, 2, 1).reshape(s * n_layers, -1)
        p, diff = permutation_p_values(
            rows_case, rows_other, n_permutations=n_permutations, seed=seed
        )
        # A row constant over both groups (every net at log2 N bits, say) carries nothing to
        # test: it is not run (NaN), so it does not count in the Holm family.
        constant = np.ptp(np.concatenate([rows_case, rows_other], axis=1), axis=1) == 0
        per_p[:, c] = np.where(constant, np.nan, p).reshape(s, n_layers)
        per_effect[:, c] = sign * diff.reshape(s, n_layers)
        d = [cohens_d(o, r) for r, o in zip(rows_case, rows_other, strict=True)]
        per_d[:, c] = sign * np.asarray(d).reshape(s, n_layers)
    over_effect = np.full((s, n_layers), np.nan)
    over_p, over_t, single_p, case_sd, cluster_sd = (
        np.full_like(over_effect, np.nan) for _ in range(5)
    )
    if clustered and len(names) >= 2:
        cluster_means = np.stack([many[n].mean(axis=1) for n in names], axis=-1)  # (S, L, C)
        for i in range(s):
            for j in range(n_layers):
                t_case, p_case, _ = fixed_case_test(case_values[i, :, j], cluster_means[i, j])
                constant = np.ptp(case_values[i, :, j]) == 0 and np.ptp(cluster_means[i, j]) == 0
                if constant and case_values[i, 0, j] == cluster_means[i, j, 0]:
                    p_case = float("nan")  # nothing to test, as for the per-table rows
                over_effect[i, j] = sign * (
                    cluster_means[i, j].mean() - case_values[i, :, j].mean()
                )
                over_p[i, j], over_t[i, j] = p_case, -sign * t_case
                single_p[i, j] = single_case_test(case_values[i, :, j].mean(), cluster_means[i, j])[
                    1
                ]
                case_sd[i, j] = case_values[i, :, j].std(ddof=1)
                cluster_sd[i, j] = cluster_means[i, j].std(ddof=1)
    return SettingTests(
        case_name, names, case_is_a, per_effect, per_p, per_d, over_effect, over_p, over_t,
        single_p, case_sd, cluster_sd, int(case_values.shape[1]), excluded, clustered,
    )  # fmt: skip


def power_per_table(d: float, alpha: float) -> float:
    """Nets per ensemble a per-table test needs for 80% power at per-test level ``alpha``."""
    return math.nan if math.isnan(d) else seeds_for_power(abs(d), alpha)


def _normal_power(delta: float, alpha: float) -> float:
    """Two-sided z-test power at noncentrality δ: Φ(δ - z) + Φ(-δ - z), z = z_{1-α/2}."""
    z = float(ndtri(1 - alpha / 2))
    return float(ndtr(delta - z) + ndtr(-delta - z))


def power_over_tables(
    effect: float, case_sd: float, n_case: int, cluster_sd: float, n_tables: int, alpha: float
) -> tuple[float, float, float]:
    """Power of the over-table test, and the tables or nets 80% power needs.

    Normal approximation of :func:`workbench.core.inference.fixed_case_test`: noncentrality
    ``δ = |Δ| / sqrt(s_c² / n + s_m² / K)``. More tables shrink only the second term, more nets
    per ensemble only the first (to first order: s_m includes within-table noise too, so this
    is conservative for nets).

    Args:
        effect: Δ, bits.
        case_sd: s_c, SD of the single side's nets.
        n_case: n.
        cluster_sd: s_m, SD of the table means.
        n_tables: K.
        alpha: Per-test level.

    Returns:
        ``(power now, tables needed at n nets, nets needed at K tables)``; inf when no number
        up to :data:`MAX_TABLES_FOR_POWER` (tables) or 100 000 (nets) reaches 80%.
    """
    if not all(math.isfinite(v) for v in (effect, case_sd, cluster_sd)) or n_tables < 2:
        return math.nan, math.nan, math.nan

    def power(n: float, k: float) -> float:
        se = math.sqrt(case_sd**2 / n + cluster_sd**2 / k)
        return 1.0 if se == 0 else _normal_power(abs(effect) / se, alpha)

    def smallest(f: object, top: int) -> float:
        assert callable(f)
        if f(top) < 0.8:
            return math.inf
        lo, hi = 2, top  # power grows with the count: bisect for the smallest one
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if f(mid) >= 0.8 else (mid + 1, hi)
        return float(lo)

    return (
        power(n_case, n_tables),
        smallest(lambda k: power(n_case, k), MAX_TABLES_FOR_POWER),
        smallest(lambda n: power(n, n_tables), 100_000),
    )
