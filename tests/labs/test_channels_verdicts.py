"""Every verdict of the channels lab on planted nulls (not significant at the nominal rate) and
planted effects (detected), and the sign-flip test it rests on."""

from __future__ import annotations

import numpy as np
import pytest

from workbench_labs.channels import verdicts as vd
from workbench_labs.channels.stats import sign_flip_test, t_interval


def test_sign_flip_test_is_exact_for_small_samples() -> None:
    # Ten positive values: only the all-plus and all-minus patterns are as extreme.
    means, p = sign_flip_test(np.arange(1.0, 11.0)[None])
    assert means[0] == pytest.approx(5.5)
    assert p[0] == pytest.approx(2 / 1024)
    assert sign_flip_test(np.zeros((1, 6)))[1][0] == 1.0


def test_sign_flip_test_holds_its_level_under_the_null_and_detects_a_shift() -> None:
    rng = np.random.default_rng(0)
    null = rng.standard_normal((2000, 12))
    _, p = sign_flip_test(null)
    assert 0.03 < np.mean(p <= 0.05) < 0.07
    _, p_effect = sign_flip_test(null + 1.5)
    assert np.mean(p_effect <= 0.05) > 0.99
    # Random patterns beyond 16 seeds give a valid p too.
    _, p_random = sign_flip_test(rng.standard_normal((500, 20)), n_permutations=999)
    assert 0.02 < np.mean(p_random <= 0.05) < 0.09


def test_t_interval_covers_the_mean_at_its_level() -> None:
    rng = np.random.default_rng(1)
    low, high = t_interval(rng.standard_normal((4000, 8)) + 3.0)
    assert 0.93 < np.mean((low <= 3.0) & (high >= 3.0)) < 0.97


def _names(n: int) -> list[str]:
    return [f"cell{i}" for i in range(n)]


def test_scarce_verdict_planted_null_effect_and_a_mixed_map() -> None:
    rng = np.random.default_rng(2)
    noise = 0.05 * rng.standard_normal((10, 16))
    # Planted null (fractions symmetric about the threshold): the family errs at most α often.
    errors = sum(
        vd.scarce_verdict(0.5 + 0.05 * rng.standard_normal((10, 16)), _names(10), 0.5, 0.05)[0].word
        != "not established"
        for _ in range(60)
    )
    assert errors <= 7  # 60 families at FWER 0.05: 3 expected, 7 is p ≈ 0.03 under Binomial
    supported, _ = vd.scarce_verdict(0.1 + noise, _names(10), 0.5, 0.05)
    assert supported.word == "supported"
    refuted, _ = vd.scarce_verdict(0.9 + noise, _names(10), 0.5, 0.05)
    assert refuted.word == "refuted"
    mixed = np.concatenate([0.1 + noise[:5], 0.9 + noise[5:]])
    verdict, family = vd.scarce_verdict(mixed, _names(10), 0.5, 0.05)
    assert verdict.word == "not established" and "both directions" in verdict.reason
    np.testing.assert_array_equal(vd.cell_map(family), [1.0] * 5 + [-1.0] * 5)


def test_training_verdict_planted_null_and_effect() -> None:
    rng = np.random.default_rng(3)
    init = rng.uniform(0.2, 0.4, (6, 16))
    null = init + 0.05 * rng.standard_normal((6, 16))
    assert vd.training_verdict(init, null, _names(6), 0.05)[0].word == "not established"
    assert vd.training_verdict(init, init + 0.3, _names(6), 0.05)[0].word == "supported"


def test_capacity_verdict_planted_null_and_effects() -> None:
    rng = np.random.default_rng(4)
    cap = np.array([3.0, 2.0, 1.0])
    at_edge = cap[:, None] * (0.95 + 0.02 * rng.standard_normal((3, 16)))
    assert vd.capacity_verdict(at_edge, cap, [0, 0.3, 0.6], 0.05, 0.05)[0].word == (
        "not established"
    )
    near = cap[:, None] * (0.995 + 0.002 * rng.standard_normal((3, 16)))
    assert vd.capacity_verdict(near, cap, [0, 0.3, 0.6], 0.05, 0.05)[0].word == "supported"
    short = cap[:, None] * (0.7 + 0.02 * rng.standard_normal((3, 16)))
    assert vd.capacity_verdict(short, cap, [0, 0.3, 0.6], 0.05, 0.05)[0].word == "refuted"


def test_exact_checks_invertible_and_bound() -> None:
    assert vd.invertible_verdict(np.full((8, 3), 6.0), 6).word == "supported"
    short = np.full((8, 3), 6.0)
    short[2, 1] = 5.0
    assert vd.invertible_verdict(short, 6).word == "refuted"
    measured = np.array([1.0, 2.0, np.nan])
    assert vd.bound_verdict(measured, np.array([2.0, 2.5, 1.0]), "t").word == "supported"
    assert vd.bound_verdict(measured, np.array([2.0, 1.5, 1.0]), "t").word == "refuted"
    assert vd.bound_verdict(measured, np.full(3, np.nan), "t").word == "not testable"


def test_spectrum_change_and_jacobian_verdicts_planted_null_and_effect() -> None:
    rng = np.random.default_rng(5)
    init = {"relu": rng.normal(1.0, 0.2, 40), "tanh": rng.normal(1.0, 0.2, 40)}
    same = {k: rng.normal(1.0, 0.2, 40) for k in init}
    steeper = {k: v + 0.5 for k, v in init.items()}
    assert vd.spectrum_change_verdict(init, same, 0.05)[0].word == "not established"
    assert vd.spectrum_change_verdict(init, steeper, 0.05)[0].word == "supported"
    a, b = rng.uniform(1, 5, 60), rng.uniform(1, 5, 60)
    assert vd.jacobian_verdict({"x": (a, b)}, 0.05)[0].word == "not established"
    assert vd.jacobian_verdict({"x": (a, 2 * a + 1)}, 0.05)[0].word == "supported"
