"""The toy-tasks verdict's rigour (issue 10): grouping rules, scale, precision flag, planted
null, planted effect, and the batched permutation tests against their peers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from workbench.core.ensemble import EnsembleMLP, TrainConfig, init_ensemble, train_ensemble
from workbench.core.inference import TestFamily, decide
from workbench.core.tasks import all_inputs
from workbench.measures import two_sample_permutation_test
from workbench_labs.toy_tasks.grouping import (
    group_codes,
    layer_entropies,
    layer_scale,
    scaled_codes,
)
from workbench_labs.toy_tasks.measure import measure_layers
from workbench_labs.toy_tasks.stats import (
    permutation_p_values,
    power_over_tables,
    setting_tests,
)

# --- grouping rules and scale -------------------------------------------------------------------


def _h(probabilities: list[float]) -> float:
    return -sum(p * math.log2(p) for p in probabilities)


def test_a_known_chain_gives_the_known_chained_and_leader_entropies() -> None:
    # 1-D points 0, 0.6, 1.2 (a chain at tol 1) and a far point 10.
    acts = torch.tensor([[[0.0], [0.6], [1.2], [10.0]]])
    chained = group_codes(acts, 1.0, "chained")
    leader = group_codes(acts, 1.0, "leader")
    assert chained.tolist() == [[0, 0, 0, 1]]  # 0 ~ 0.6 ~ 1.2, closed transitively
    assert leader.tolist() == [[0, 0, 1, 2]]  # 1.2 is 1.2 from the leader 0: a new group
    h_chained = layer_entropies(chained[:, None, :])[0, 0]
    h_leader = layer_entropies(leader[:, None, :])[0, 0]
    assert h_chained == pytest.approx(_h([3 / 4, 1 / 4]), abs=1e-12)  # 0.811 bits
    assert h_leader == pytest.approx(_h([1 / 2, 1 / 4, 1 / 4]), abs=1e-12)  # 1.5 bits


def test_leader_rule_joins_the_first_leader_within_tol_and_depends_on_order() -> None:
    acts = torch.tensor([[[0.0], [1.5], [0.8], [2.4]]])
    # Leaders 0 and 1.5; 0.8 is within 1 of both and joins the first; 2.4 joins 1.5.
    assert group_codes(acts, 1.0, "leader").tolist() == [[0, 1, 0, 1]]
    reordered = acts[:, [2, 0, 1, 3]]  # 0.8 first: it leads 0 and 1.5; 2.4 opens its own group
    assert group_codes(reordered, 1.0, "leader").tolist() == [[0, 0, 0, 1]]


def test_layer_scale_is_the_mean_pairwise_distance_and_makes_tol_scale_free() -> None:
    gen = torch.Generator().manual_seed(0)
    acts = torch.randn(3, 20, 4, generator=gen, dtype=torch.float64)
    brute = torch.cdist(acts, acts, p=1.0) / 4
    n = 20
    expected = brute.sum(dim=(1, 2)) / (n * (n - 1))  # every ordered pair, diagonal 0
    torch.testing.assert_close(layer_scale(acts), expected)
    # Relative tolerance: rescaling a layer leaves its codes unchanged.
    posts = [acts.float()]
    a = scaled_codes(posts, 0.3, rule="chained", mode="relative")
    b = scaled_codes([acts.float() * 1e-3], 0.3, rule="chained", mode="relative")
    np.testing.assert_array_equal(a.codes, b.codes)
    np.testing.assert_allclose(b.tol_eff, a.tol_eff * 1e-3, rtol=1e-5)


# --- the precision flag -------------------------------------------------------------------------


def _hand_net(eps: float) -> EnsembleMLP:
    """Output = x₀ + ε·x₃ on 4 bits: first-bit with a known residual max|ŷ - y| = ε."""
    w1 = torch.eye(4)[None]  # hidden = relu(x) = x (bits are >= 0)
    w2 = torch.tensor([[[1.0, 0.0, 0.0, eps]]])
    return EnsembleMLP.from_layers([w1, w2], [torch.zeros(1, 4), torch.zeros(1, 1)], "relu", [0])


@pytest.mark.parametrize(("tol", "flagged"), [(0.5e-3, True), (2e-3, False)])
def test_a_hand_built_net_with_a_known_residual_gets_the_flag(tol: float, flagged: bool) -> None:
    eps = 1e-3
    x = all_inputs(4)
    target = x[:, 0].long()
    m = measure_layers(
        _hand_net(eps), x, target, loss="mse", tol=tol, rule="chained", mode="absolute"
    )
    assert m.residual[0, -1] == pytest.approx(eps, rel=1e-4)
    assert np.isnan(m.residual[0, 0])  # hidden layers have no residual
    assert m.flagged().tolist() == [False, flagged]
    if flagged:  # below precision the output codes split on the residual: 2 bits, not 1
        assert m.entropy[0, -1] == pytest.approx(2.0)
    else:
        assert m.entropy[0, -1] == pytest.approx(1.0)
    # The closest distinct output codes: ε apart below the flag, 1 - ε apart above it.
    assert m.min_distance[0, -1] == pytest.approx(eps if flagged else 1 - eps, rel=1e-4)


# --- the batched permutation test ---------------------------------------------------------------


def test_batched_permutation_p_values_match_exact_enumeration_and_the_peer() -> None:
    a = np.array([[0.0, 1.0, 2.0, 3.0], [5.0, 5.0, 5.0, 6.0]])
    b = np.array([[2.0, 3.5, 4.0, 5.0], [5.0, 6.0, 6.0, 7.0]])
    p, diff = permutation_p_values(a, b, n_permutations=20_000, seed=1)
    for r in range(2):
        pooled = np.concatenate([a[r], b[r]])
        observed = abs(b[r].mean() - a[r].mean())
        exact = np.mean(
            [
                abs(np.delete(pooled, s).mean() - pooled[list(s)].mean()) >= observed - 1e-12
                for s in itertools.combinations(range(8), 4)
            ]
        )
        assert p[r] == pytest.approx(exact, abs=0.01)
        assert diff[r] == pytest.approx(b[r].mean() - a[r].mean())
        peer = two_sample_permutation_test(a[r], b[r], n_permutations=20_000, seed=2).p_value
        assert p[r] == pytest.approx(peer, abs=0.01)


# --- planted null and planted effect ------------------------------------------------------------


@pytest.fixture(scope="module")
def first_bit_pool() -> np.ndarray:
    """(net, layer) entropies of 96 nets trained on first-bit (4 bits), relative tol 1e-2."""
    x = all_inputs(4)
    y = x[:, :1].clone()
    config = TrainConfig(widths=(8, 3, 8), steps=400, loss_threshold=1e-3, lr=1e-2)
    model = init_ensemble(config, range(96), 4, 1)
    result = train_ensemble(model, x, y, config)
    trained = model.select(np.flatnonzero(result.converged).tolist())
    m = measure_layers(
        trained, x, y[:, 0].long(), loss="mse", tol=1e-2, rule="chained", mode="relative"
    )
    assert m.entropy.shape[0] >= 64
    return m.entropy


def test_planted_null_a_table_equal_to_first_bit_is_rejected_at_most_at_the_nominal_rate(
    first_bit_pool: np.ndarray,
) -> None:
    """Nets of a 'lookup table' that equals first-bit are first-bit nets with other seeds: the
    per-table and over-table tests must reject at most at α (plus binomial slack)."""
    rng = np.random.default_rng(0)
    alpha, repeats = 0.05, 200
    per_hits = over_hits = 0
    per_runs = over_runs = 0
    n = 8
    for r in range(repeats):
        nets = rng.permutation(first_bit_pool.shape[0])[: 5 * n]
        groups = first_bit_pool[nets].reshape(5, n, -1)  # case + 4 "tables"
        a = {"first-bit": groups[0][None]}
        b = {f"table.{k}": groups[k + 1][None] for k in range(4)}
        t = setting_tests(a, b, min_trained=n, n_permutations=499, seed=r)
        assert not isinstance(t, str)
        layer = 1  # the bottleneck, whose entropy varies across nets
        p_per, p_over = t.per_p[0, 0, layer], t.over_p[0, layer]
        if np.isfinite(p_per):
            per_runs += 1
            per_hits += p_per <= alpha
        if np.isfinite(p_over):
            over_runs += 1
            over_hits += p_over <= alpha
    assert per_runs > 150 and over_runs > 150
    for hits, runs in ((per_hits, per_runs), (over_hits, over_runs)):
        slack = 3 * math.sqrt(alpha * (1 - alpha) / runs)
        assert hits / runs <= alpha + slack


def _bit_net(bits: list[int], n_bits: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Weights of a net whose every layer depends on exactly the given input bits.

    Layer 1 reads the bits with weights 2^j (distinct sums, so H = len(bits) bits exactly);
    layer 2 copies it; the output sums. A per-net random positive gain makes the nets differ
    without changing any partition.
    """
    gain = 1.0 + np.random.default_rng(seed).random()
    w1 = torch.zeros(3, n_bits)
    for j, b in enumerate(bits):
        w1[:, b] = gain * 2.0**j
    return w1, torch.eye(3), torch.ones(1, 3)


def _ensemble(bit_sets: list[list[int]], n_bits: int, first_seed: int) -> EnsembleMLP:
    parts = [_bit_net(bits, n_bits, first_seed + i) for i, bits in enumerate(bit_sets)]
    weights = [torch.stack([p[k] for p in parts]) for k in range(3)]
    biases = [torch.zeros(len(parts), 3), torch.zeros(len(parts), 3), torch.zeros(len(parts), 1)]
    seeds = list(range(first_seed, first_seed + len(parts)))
    return EnsembleMLP.from_layers(weights, biases, "relu", seeds)


def test_planted_effect_hand_built_nets_with_known_entropies_are_detected() -> None:
    """Side A's nets keep 2 or 3 bits, every table's nets 3 or 4: a known difference."""
    n_bits, rng = 5, np.random.default_rng(1)
    x = all_inputs(n_bits)
    target = x[:, 0].long()

    def measure(sizes: list[int], first_seed: int) -> np.ndarray:
        bit_sets = [sorted(rng.choice(n_bits, size=k, replace=False).tolist()) for k in sizes]
        model = _ensemble(bit_sets, n_bits, first_seed)
        m = measure_layers(model, x, target, loss="mse", tol=1e-3, rule="chained", mode="relative")
        np.testing.assert_allclose(m.entropy[:, 0], sizes, atol=1e-12)  # H = bits read, exactly
        return m.entropy

    a_sizes = [2, 3] * 6
    h_a = measure(a_sizes, 0)
    tables, planted = {}, []
    for k in range(5):
        sizes = [3, 4] * 5 + [4] * (k % 2)
        tables[f"table.{k}"] = measure(sizes, 100 * (k + 1))[None]
        planted.append(float(np.mean(sizes)))
    t = setting_tests({"a": h_a[None]}, tables, min_trained=8, n_permutations=999, seed=0)
    assert not isinstance(t, str)
    # The measured effects are exactly the planted ones.
    for k, mean_b in enumerate(planted):
        assert t.per_effect[0, k, 0] == pytest.approx(mean_b - np.mean(a_sizes), abs=1e-12)
    assert t.over_effect[0, 0] == pytest.approx(np.mean(planted) - np.mean(a_sizes), abs=1e-12)
    family = TestFamily("planted effect", 0.05)
    for k, name in enumerate(t.clusters):
        family.add(f"{name}/layer1", t.per_p[0, k, 0], t.per_effect[0, k, 0])
    family.add("over-tables/layer1", t.over_p[0, 0], t.over_effect[0, 0])
    verdict = decide("a stores less", family, ["over-tables/layer1"])
    assert verdict.word == "supported", verdict.line()
    # And the reverse claim is refuted.
    t_rev = setting_tests(tables, {"a": h_a[None]}, min_trained=8, n_permutations=999)
    assert not isinstance(t_rev, str) and t_rev.over_effect[0, 0] < 0


def test_too_few_trained_nets_make_the_claim_not_testable() -> None:
    values = {"a": np.zeros((1, 3, 2))}
    reason = setting_tests(values, {"b": np.zeros((1, 9, 2))}, min_trained=8, n_permutations=99)
    assert isinstance(reason, str) and "min_trained = 8" in reason and "side A" in reason


def test_over_table_power_grows_with_tables_and_saturates() -> None:
    now, tables, nets = power_over_tables(1.0, 1.0, 10, 1.0, 6, 0.05)
    assert nets > 10
    assert 0 < now < 1 and tables > 6
    # With one first-bit ensemble of 10 nets, SE >= s_c / sqrt(10) whatever K: a small effect
    # is unreachable by adding tables alone.
    assert power_over_tables(0.3, 1.0, 10, 1.0, 6, 0.001)[1] == math.inf
    # Normal approximation at known numbers: δ = 1 / sqrt(1/10 + 1/6) = 1.936.
    from scipy.stats import norm

    delta = 1 / math.sqrt(1 / 10 + 1 / 6)
    z = norm.ppf(0.975)
    assert now == pytest.approx(norm.cdf(delta - z) + norm.cdf(-delta - z), abs=1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_layer_measures_are_the_same_on_cuda() -> None:
    x = all_inputs(5)
    model = init_ensemble(TrainConfig(widths=(8, 4, 8)), range(6), 5, 1)
    target = x[:, 0].long()
    kwargs = {"loss": "mse", "tol": 1e-2, "mode": "relative"}
    for rule in ("chained", "leader"):
        cpu = measure_layers(model, x, target, rule=rule, **kwargs)
        gpu = measure_layers(model.to("cuda"), x.cuda(), target, rule=rule, **kwargs)
        np.testing.assert_array_equal(cpu.codes, gpu.codes)
        np.testing.assert_allclose(cpu.entropy, gpu.entropy, atol=1e-12)
        np.testing.assert_allclose(cpu.tol_eff, gpu.tol_eff, rtol=1e-5)
