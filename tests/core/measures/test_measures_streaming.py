"""Streaming covariance accumulators: equal to in-memory results, merging, resampling."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from scipy import stats

from workbench.measures import (
    StreamingCovariance,
    StreamingJointCovariance,
    covariance_spectrum,
    gaussian_entropy,
    gaussian_mutual_information,
    gaussian_mutual_information_from_covariance,
    jackknife_interval,
)

SPLITS = [1, 7, 8, 150, 333, 599]  # uneven batches, including a single sample


def paired_data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)) * [1.0, 10.0, 0.1, 3.0] + 100.0  # large offset: cancellation
    y = x[:, :2] @ rng.normal(size=(2, 3)) + rng.normal(size=(n, 3))
    return x, y


def test_streamed_covariance_equals_numpy_in_memory() -> None:
    x, _ = paired_data()
    acc = StreamingCovariance(4)
    for part in np.split(x, SPLITS):
        acc.update(part)
    assert acc.n == 600
    assert np.allclose(acc.mean(), x.mean(axis=0), rtol=1e-13, atol=0)
    assert np.allclose(acc.covariance(), np.cov(x.T), rtol=1e-11, atol=1e-12)
    assert np.allclose(acc.spectrum(), covariance_spectrum(x), rtol=1e-10)
    assert acc.gaussian_entropy() == pytest.approx(gaussian_entropy(x), rel=1e-10)


def test_streamed_mutual_information_equals_in_memory() -> None:
    x, y = paired_data()
    acc = StreamingJointCovariance(4, 3)
    for xs, ys in zip(np.split(x, SPLITS), np.split(y, SPLITS), strict=True):
        acc.update(torch.from_numpy(xs), ys)
    assert np.allclose(acc.covariance(), np.cov(np.column_stack([x, y]).T), rtol=1e-11)
    assert acc.gaussian_mutual_information() == pytest.approx(
        gaussian_mutual_information(x, y), rel=1e-10
    )
    assert acc.gaussian_entropy("y") == pytest.approx(gaussian_entropy(y), rel=1e-10)
    assert acc.gaussian_entropy("joint") == pytest.approx(
        gaussian_entropy(np.column_stack([x, y])), rel=1e-10
    )
    assert np.allclose(acc.spectrum("x"), covariance_spectrum(x), rtol=1e-10)


def test_returned_arrays_do_not_change_with_later_updates() -> None:
    acc = StreamingCovariance(2)
    acc.update(np.zeros((3, 2)))
    mean, cov = acc.mean(), acc.covariance()
    acc.update(np.ones((3, 2)))
    assert np.all(mean == 0) and np.all(cov == 0)


def test_merge_equals_one_accumulator() -> None:
    x, y = paired_data()
    whole, first, second = (StreamingJointCovariance(4, 3, n_groups=3) for _ in range(3))
    whole.update(x, y)
    first.update(x[:250], y[:250])
    second.update(x[250:], y[250:])
    first.merge(second)
    assert first.n == whole.n
    assert np.allclose(first.covariance(), whole.covariance(), rtol=1e-12)


@pytest.mark.parametrize("n_groups", [1, 3])
def test_updates_after_a_merge_equal_one_accumulator(n_groups: int) -> None:
    """A merge leaves full scatters; later batches add upper tiles only, mirrored when read."""
    x, y = paired_data()
    whole, first, second = (StreamingJointCovariance(4, 3, n_groups=n_groups) for _ in range(3))
    groups = np.arange(600) % n_groups
    whole.update(x, y, groups=groups)
    first.update(x[:250], y[:250], groups=groups[:250])
    second.update(x[250:400], y[250:400], groups=groups[250:400])
    first.merge(second)
    first.update(x[400:], y[400:], groups=groups[400:])
    assert np.allclose(first.covariance(), np.cov(np.hstack([x, y]).T), rtol=1e-11)
    if n_groups > 1:

        def statistic(cov: torch.Tensor, n: int) -> float:
            return float(torch.logdet(cov))

        np.testing.assert_allclose(
            first.jackknife_values(statistic)[1], whole.jackknife_values(statistic)[1], rtol=1e-11
        )


def test_streamed_jackknife_equals_in_memory_grouped_jackknife() -> None:
    # Both assign sample i to group i mod G, so the intervals must agree.
    x, y = paired_data()
    acc = StreamingJointCovariance(4, 3, n_groups=6)
    for xs, ys in zip(np.split(x, SPLITS), np.split(y, SPLITS), strict=True):
        acc.update(xs, ys)
    streamed = acc.gaussian_mutual_information_interval(level=0.9)
    in_memory = jackknife_interval(gaussian_mutual_information, x, y, n_groups=6, level=0.9)
    assert streamed.estimate == pytest.approx(in_memory.estimate, rel=1e-10)
    assert streamed.standard_error == pytest.approx(in_memory.standard_error, rel=1e-6)
    assert streamed.low == pytest.approx(in_memory.low, rel=1e-8)
    assert streamed.high == pytest.approx(in_memory.high, rel=1e-8)


def test_streamed_entropy_jackknife() -> None:
    x, _ = paired_data()
    acc = StreamingCovariance(4, n_groups=5)
    acc.update(x)
    interval = acc.gaussian_entropy_interval()
    expected = jackknife_interval(gaussian_entropy, x, n_groups=5)
    assert interval.standard_error == pytest.approx(expected.standard_error, rel=1e-6)


def _numpy_grouped_jackknife(
    stat: Callable[[np.ndarray, int], float],
    data: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    level: float,
) -> tuple[float, float, float, float]:
    """Delete-a-group jackknife in plain numpy: (estimate, SE, low, high), Tukey's formulas."""
    theta = stat(np.cov(data.T), data.shape[0])
    leave = np.array(
        [stat(np.cov(data[groups != g].T), int(np.sum(groups != g))) for g in range(n_groups)]
    )
    se = math.sqrt((n_groups - 1) / n_groups * np.sum((leave - leave.mean()) ** 2))
    centre = theta - (n_groups - 1) * (leave.mean() - theta)
    half = stats.t.ppf((1 + level) / 2, n_groups - 1) * se
    return theta, se, centre - half, centre + half


def _logdet_np(cov: np.ndarray, n: int) -> float:
    return float(np.linalg.slogdet(cov)[1]) + 1.0 / n


def _logdet_torch(cov: torch.Tensor, n: int) -> float:
    return float(torch.linalg.slogdet(cov)[1]) + 1.0 / n


@pytest.mark.parametrize("n_groups", [2, 5])
def test_explicit_groups_equal_numpy_grouped_jackknife(n_groups: int) -> None:
    # Arbitrary, uneven, non round-robin groups: contiguous runs of random length, shuffled
    # labels, so a batch may hold several groups or none of some.
    x, y = paired_data()
    rng = np.random.default_rng(3)
    runs = np.repeat(rng.permutation(60) % n_groups, rng.integers(1, 20, size=60))[:600]
    groups = np.concatenate([runs, rng.integers(0, n_groups, size=600 - runs.size)])
    assert not np.array_equal(groups, np.arange(600) % n_groups)
    joint = np.hstack([x, y])
    single = StreamingCovariance(7, n_groups=n_groups)
    pair = StreamingJointCovariance(4, 3, n_groups=n_groups)
    for idx in np.split(np.arange(600), SPLITS):
        single.update(joint[idx], groups=groups[idx])
        pair.update(x[idx], y[idx], groups=torch.from_numpy(groups[idx]))
    expected = _numpy_grouped_jackknife(_logdet_np, joint, groups, n_groups, 0.9)
    for acc in (single, pair):
        assert np.allclose(acc.covariance(), np.cov(joint.T), rtol=1e-11, atol=1e-12)
        got = acc.jackknife_interval(_logdet_torch, level=0.9)
        assert got.estimate == pytest.approx(expected[0], rel=1e-10)
        assert got.standard_error == pytest.approx(expected[1], rel=1e-6)
        assert got.low == pytest.approx(expected[2], rel=1e-8)
        assert got.high == pytest.approx(expected[3], rel=1e-8)
    # The MI interval leaves out the same groups as the in-memory MI on each subset.
    mi = pair.gaussian_mutual_information_interval(level=0.9)
    ridge = pair.gaussian_mutual_information_details().ridge
    leave = np.array(
        [
            gaussian_mutual_information(x[groups != g], y[groups != g], ridge=ridge)
            for g in range(n_groups)
        ]
    )
    se = math.sqrt((n_groups - 1) / n_groups * np.sum((leave - leave.mean()) ** 2))
    assert mi.standard_error == pytest.approx(se, rel=1e-6)


def test_round_robin_groups_given_explicitly_equal_the_default() -> None:
    x, y = paired_data()
    default = StreamingJointCovariance(4, 3, n_groups=6, n_permutations=5, seed=2)
    explicit = StreamingJointCovariance(4, 3, n_groups=6, n_permutations=5, seed=2)
    start = 0
    for xs, ys in zip(np.split(x, SPLITS), np.split(y, SPLITS), strict=True):
        default.update(xs, ys)
        explicit.update(xs, ys, groups=(start + np.arange(len(xs))) % 6)
        start += len(xs)
    a = default.gaussian_mutual_information_interval(level=0.9)
    b = explicit.gaussian_mutual_information_interval(level=0.9)
    assert b.estimate == pytest.approx(a.estimate, rel=1e-12)
    assert b.standard_error == pytest.approx(a.standard_error, rel=1e-9)
    assert explicit.permutation_test().null == pytest.approx(default.permutation_test().null)


def test_bad_groups_raise_value_error() -> None:
    x, y = paired_data(10)
    acc = StreamingJointCovariance(4, 3, n_groups=3)
    single = StreamingCovariance(4, n_groups=3)
    bad = [
        (np.zeros(9, dtype=int), "shape"),  # too short
        (np.zeros((10, 1), dtype=int), "shape"),  # not 1-D
        (np.full(10, 3), r"\[0, n_groups\)"),  # out of range
        (np.full(10, -1), r"\[0, n_groups\)"),
        (np.zeros(10), "integers"),  # float
        (np.zeros(10, dtype=bool), "integers"),
        (torch.arange(10) % 4, r"\[0, n_groups\)"),
    ]
    for groups, match in bad:
        with pytest.raises(ValueError, match=match):
            acc.update(x, y, groups=groups)
        with pytest.raises(ValueError, match=match):
            single.update(x, groups=groups)
    assert acc.n == 0 and single.n == 0  # nothing was folded in


def test_permutation_null_equals_recomputed_shuffles() -> None:
    # White-box: replay the accumulator's generator to rebuild each within-batch shuffle and
    # recompute the MI of the shuffled stream from scratch.
    x, y = paired_data(n=300)
    k, seed, batches = 5, 3, [100, 200]
    acc = StreamingJointCovariance(4, 3, n_permutations=k, seed=seed)
    for xs, ys in zip(np.split(x, batches), np.split(y, batches), strict=True):
        acc.update(xs, ys)
    test = acc.permutation_test()
    gen = torch.Generator().manual_seed(seed)
    shuffled = [np.empty_like(y) for _ in range(k)]
    for rows in np.split(np.arange(300), batches):
        perms = torch.rand(k, rows.size, generator=gen).argsort(dim=1).numpy()
        for j in range(k):
            shuffled[j][rows] = y[rows][perms[j]]
    expected = [gaussian_mutual_information(x, shuffled[j]) for j in range(k)]
    assert np.allclose(test.null, expected, rtol=1e-9, atol=1e-12)
    assert test.estimate == pytest.approx(gaussian_mutual_information(x, y), rel=1e-10)
    assert test.p_value == pytest.approx(1 / (k + 1))


def test_permutation_null_is_centred_on_zero_for_independent_streams() -> None:
    gen = torch.Generator().manual_seed(4)
    acc = StreamingJointCovariance(3, 3, n_permutations=200, seed=1)
    for _ in range(4):
        acc.update(
            torch.randn(500, 3, generator=gen, dtype=torch.float64),
            torch.randn(500, 3, generator=gen, dtype=torch.float64),
        )
    test = acc.permutation_test()
    # Corrected MI under the null has mean ~0 and s.d. ~ sqrt(dx dy / 2) / n nats.
    sd = math.sqrt(9 / 2) / 2000 / math.log(2)
    assert abs(test.null_mean) < 0.5 * sd
    assert test.null_std == pytest.approx(sd, rel=0.3)
    assert 0.0 < test.p_value <= 1.0


def test_errors_say_what_to_change() -> None:
    acc = StreamingJointCovariance(2, 2)
    with pytest.raises(ValueError, match="n_permutations=K"):
        acc.update(np.zeros((5, 2)), np.ones((5, 2)))
        acc.permutation_test()
    with pytest.raises(ValueError, match="n_groups >= 2"):
        acc.gaussian_mutual_information_interval()
    with pytest.raises(ValueError, match="2 features per sample"):
        acc.update(np.zeros((5, 3)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="5 samples but y has 4"):
        acc.update(np.zeros((5, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        acc.update(np.full((5, 2), np.nan), np.zeros((5, 2)))
    fresh = StreamingCovariance(3)
    with pytest.raises(ValueError, match="at least 2 samples"):
        fresh.update(np.zeros((1, 3)))
        fresh.covariance()
    small = StreamingJointCovariance(3, 3)
    small.update(np.random.default_rng(0).normal(size=(6, 3)), np.zeros((6, 3)) + 1)
    with pytest.raises(ValueError, match="at least 7 samples"):
        small.gaussian_mutual_information()


def test_from_covariance_matches_streamed_details() -> None:
    x, y = paired_data()
    acc = StreamingJointCovariance(4, 3)
    acc.update(x, y)
    est = gaussian_mutual_information_from_covariance(acc.covariance(), 4, acc.n)
    assert est.bits == pytest.approx(acc.gaussian_mutual_information(), rel=1e-12)


def test_parts_null_equals_recomputed_derangement_shuffles() -> None:
    """White-box: replay the generator (a row order ρ, then a derangement per shuffle) and
    recompute the MI of each shuffled stream from scratch."""
    from workbench.core.measures.streaming import derangements

    x, y = paired_data(n=300)
    k, seed, parts = 5, 3, 4
    acc = StreamingJointCovariance(
        4, 3, n_permutations=k, seed=seed, null="parts", null_parts=parts
    )
    for xs, ys in zip(np.split(x, [100, 200]), np.split(y, [100, 200]), strict=True):
        acc.update(xs, ys)
    gen = torch.Generator().manual_seed(seed)
    table = derangements(parts).numpy()
    shuffled = [y.copy() for _ in range(k)]
    for rows in np.split(np.arange(300), [100, 200]):
        r = rows.size // parts
        order = torch.randperm(rows.size, generator=gen)[: parts * r].numpy()
        which = torch.randint(0, table.shape[0], (k,), generator=gen).numpy()
        for j in range(k):
            block = y[rows].copy()
            for p, q in enumerate(table[which[j]]):
                block[order[p * r : (p + 1) * r]] = y[rows][order[q * r : (q + 1) * r]]
            shuffled[j][rows] = block
    expected = [gaussian_mutual_information(x, s) for s in shuffled]
    assert np.allclose(acc.permutation_test().null, expected, rtol=1e-9, atol=1e-12)


def test_derangements_have_no_fixed_points_and_the_known_counts() -> None:
    from workbench.core.measures.streaming import derangements

    for parts, count in ((2, 1), (3, 2), (4, 9), (5, 44)):
        table = derangements(parts).numpy()
        assert table.shape == (count, parts)
        assert np.all(table != np.arange(parts))
        assert np.all(np.sort(table, axis=1) == np.arange(parts))
    with pytest.raises(ValueError, match="null_parts"):
        derangements(1)


def test_parts_null_sits_on_the_plugin_bias_and_rejects_at_the_nominal_rate() -> None:
    """Planted null (independent Gaussian streams), 200 accumulators: each shuffle's plug-in
    has the plug-in's null distribution, so the mean over shuffles is the bias
    ½[b(d) + b(d) - b(2d)] / ln 2 bits (Wishart digamma formula), and p <= 0.05 happens at
    about the nominal rate. The shuffles of one accumulator share part blocks, so they are
    correlated: the mean is checked over many accumulators, not within one."""
    from workbench.measures import log_det_bias

    gen = torch.Generator().manual_seed(7)
    d, n_batch, batches, reps = 2, 200, 4, 200
    means, p_values = [], []
    for rep in range(reps):
        acc = StreamingJointCovariance(d, d, n_permutations=19, seed=rep, null="parts")
        for _ in range(batches):
            acc.update(
                torch.randn(n_batch, d, generator=gen, dtype=torch.float64),
                torch.randn(n_batch, d, generator=gen, dtype=torch.float64),
            )
        test = acc.permutation_test(bias_correction=False)
        means.append(test.null_mean)
        p_values.append(test.p_value)
    n = n_batch * batches
    bias = 0.5 * (2 * log_det_bias(d, n) - log_det_bias(2 * d, n)) / math.log(2)
    assert np.mean(means) == pytest.approx(bias, rel=0.05)
    rate = np.mean(np.asarray(p_values) <= 0.05)
    # Binomial(200, 0.05): sd 1.5%; allow 3 sd above nominal.
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / reps)


def test_parts_null_detects_a_planted_dependence() -> None:
    gen = torch.Generator().manual_seed(8)
    acc = StreamingJointCovariance(2, 2, n_permutations=19, seed=0, null="parts")
    for _ in range(4):
        x = torch.randn(200, 2, generator=gen, dtype=torch.float64)
        acc.update(x, 0.3 * x + torch.randn(200, 2, generator=gen, dtype=torch.float64))
    assert acc.permutation_test().p_value == pytest.approx(1 / 20)


def test_jackknife_values_are_what_the_interval_summarises() -> None:
    from workbench.core.measures.resampling import jackknife_summary

    x, y = paired_data(n=400)
    acc = StreamingJointCovariance(4, 3, n_groups=5)
    acc.update(x, y)

    def stat(cov: torch.Tensor, n: int) -> float:
        return gaussian_mutual_information_from_covariance(cov, 4, n).bits

    estimate, leave = acc.jackknife_values(stat)
    interval = acc.gaussian_mutual_information_interval(0.9)
    again = jackknife_summary(estimate, leave, 0.9)
    assert (again.low, again.high) == pytest.approx((interval.low, interval.high))
    # Each leave-one-out value is the MI of the rows outside group g (round robin i mod 5).
    rest = np.arange(400) % 5 != 2
    assert leave[2] == pytest.approx(gaussian_mutual_information(x[rest], y[rest]), rel=1e-9)
    assert acc.nbytes() == 5 * (7 * 7 + 7) * 8


def test_grouped_moments_stay_exact_far_from_zero_and_under_drift() -> None:
    """The group scatters are kept about a fixed shift (the first batch's mean): a stream
    centred at 1e6 whose mean drifts by 50 SDs still matches numpy to float64 precision."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2000, 3)) + 1e6 + np.linspace(0, 50, 2000)[:, None]
    acc = StreamingCovariance(3, n_groups=4)
    for rows in np.split(np.arange(2000), 8):
        acc.update(x[rows])
    np.testing.assert_allclose(acc.covariance(), np.cov(x, rowvar=False), rtol=1e-9)
    np.testing.assert_allclose(acc.mean(), x.mean(axis=0), rtol=1e-14)
