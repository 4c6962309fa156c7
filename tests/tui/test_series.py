"""Loss curves, spreads across seeds, thinning and the power-law line, against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.core.runs import records_to_columns
from workbench.render.series import (
    LossAccumulator,
    LossCurves,
    log_positive,
    seed_spread,
    thin_indices,
)


def make_records(n_seeds: int = 3, steps: range = range(0, 50, 10), tasks=("a", "b")) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    return [
        {"step": s, "seed": seed, "task": task, "loss": float(100 * t + 10 * seed + s)}
        for s in steps
        for t, task in enumerate(tasks)
        for seed in range(n_seeds)
    ]


def test_seed_spread_matches_numpy_with_nans_and_divergence() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(size=(9, 30))
    values[2, 5] = np.nan  # a seed that logged nothing at step 5
    values[4, 7] = np.inf  # a diverged seed
    values[:, 10] = np.nan  # a step nobody logged
    spread = seed_spread(values, (0.25, 0.75))
    clean = np.where(np.isfinite(values), values, np.nan)
    for j in range(30):
        col = clean[:, j]
        col = col[np.isfinite(col)]
        if col.size == 0:
            assert np.isnan(spread.median[j]) and spread.count[j] == 0
            continue
        assert spread.median[j] == pytest.approx(np.median(col))
        assert spread.lo[j] == pytest.approx(np.quantile(col, 0.25))
        assert spread.hi[j] == pytest.approx(np.quantile(col, 0.75))
        assert spread.count[j] == col.size
    assert np.all(spread.lo[np.isfinite(spread.lo)] <= spread.hi[np.isfinite(spread.hi)])


def test_seed_spread_rejects_bad_quantiles() -> None:
    with pytest.raises(ValueError, match="quantiles"):
        seed_spread(np.zeros((2, 2)), (0.9, 0.1))
    with pytest.raises(ValueError, match="n_seeds, n_steps"):
        seed_spread(np.zeros(3))


def test_loss_curves_from_columns_puts_every_value_in_its_place() -> None:
    records = make_records()
    records.append({"step": 0, "note": "another metric"})  # no loss: skipped
    curves = LossCurves.from_columns(records_to_columns(records))
    assert curves.steps.tolist() == [0, 10, 20, 30, 40]
    assert curves.n_series == 6
    for i, (group, seed) in enumerate(zip(curves.groups, curves.seeds, strict=True)):
        t = ("a", "b").index(group)
        assert curves.values[i].tolist() == [100 * t + 10 * seed + s for s in range(0, 50, 10)]


def test_accumulator_fed_in_chunks_equals_reading_everything() -> None:
    records = make_records(n_seeds=4, steps=range(0, 300, 10))
    acc = LossAccumulator()
    for start in range(0, len(records), 37):
        acc.add(records[start : start + 37])
    a = acc.curves()
    b = LossCurves.from_columns(records_to_columns(records))
    assert a.groups == b.groups and a.seeds == b.seeds
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.values, b.values)


def test_accumulator_memory_is_bounded_and_kept_values_are_exact() -> None:
    acc = LossAccumulator(max_steps=16)
    records = make_records(n_seeds=2, steps=range(0, 1000), tasks=("a",))
    acc.add(records)
    curves = acc.curves()
    assert len(curves.steps) <= 16
    assert curves.steps[0] == 0
    for i, seed in enumerate(curves.seeds):
        np.testing.assert_array_equal(curves.values[i], 10 * seed + curves.steps)
    # The kept steps stay evenly spaced (every 2^k-th step).
    gaps = np.diff(curves.steps)
    assert len(set(gaps.tolist())) == 1


def test_thin_indices() -> None:
    idx = thin_indices(1000, 50)
    assert idx[0] == 0 and idx[-1] == 999 and len(idx) <= 50
    assert np.all(np.diff(idx) > 0)
    assert thin_indices(10, 50).tolist() == list(range(10))
    log_idx = thin_indices(1000, 50, log=True)
    # Log spacing keeps the head dense: more than half the points in the first 10%.
    assert np.sum(log_idx < 100) > len(log_idx) / 2
    assert thin_indices(0, 5).size == 0


def test_log_positive_drops_what_a_log_axis_cannot_show() -> None:
    x, y, dropped = log_positive([1, 2, 3, 4], [1.0, 0.0, -1.0, np.nan], log_x=False, log_y=True)
    assert x.tolist() == [1] and y.tolist() == [1.0] and dropped == 2
