"""The toy-tasks lab: tasks, exact information measures, comparisons and a headless run."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
import torch

from workbench.core.ensemble import TrainConfig, init_ensemble, train_ensemble
from workbench.core.errors import ConfigError
from workbench.measures import information_ratio, normalized_similarity, similarity
from workbench_labs.toy_tasks import LAB
from workbench_labs.toy_tasks.analysis import (
    bit_mutual_information,
    compare_groups,
    input_mutual_information,
    ir_blocks,
    layer_codes,
    layer_entropies,
    layer_layer_across,
    layer_layer_within,
    layer_posts,
    normalized_similarity_matrix,
    off_diagonal,
    seed_seed_ir,
    similarity_matrix,
    verdict,
)
from workbench_labs.toy_tasks.steps import CHECK_EVERY, LIVE_IR
from workbench.core.tasks import all_inputs, make_task

# --- tasks --------------------------------------------------------------------------------------


def test_inputs_are_every_bit_string_most_significant_first() -> None:
    x = all_inputs(3)
    assert x.tolist() == [[(i >> 2) & 1, (i >> 1) & 1, i & 1] for i in range(8)]


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("first-bit", "00001111"),
        ("parity", "01101001"),
        ("majority", "00010111"),
    ],
)
def test_builtin_truth_tables(name: str, table: str) -> None:
    assert make_task(name, 3).truth_table == table


def test_majority_breaks_ties_to_zero() -> None:
    # n = 2: inputs 00, 01, 10, 11; one 1 out of two is a tie, not a majority.
    assert make_task("majority", 2).truth_table == "0001"


def test_random_lookup_is_fixed_by_its_task_seed() -> None:
    a = make_task("random-lookup", 5, task_seed=3).targets
    assert torch.equal(a, make_task("random-lookup", 5, task_seed=3).targets)
    assert not torch.equal(a, make_task("random-lookup", 5, task_seed=4).targets)
    assert set(a.tolist()) == {0, 1}


def test_truth_tables_from_the_config() -> None:
    task = make_task("mine", 2, truth_tables={"mine": "0110"})
    assert task.targets.tolist() == [0, 1, 1, 0]
    with pytest.raises(ConfigError, match="2\\^n_bits = 4") as info:
        make_task("mine", 2, truth_tables={"mine": "011"})
    assert info.value.key == "truth_tables.mine"
    with pytest.raises(ConfigError, match="0 or 1"):
        make_task("mine", 2, truth_tables={"mine": "01x0"})
    with pytest.raises(ConfigError, match="parity"):
        make_task("nope", 2)


def test_config_rejects_bad_values_with_the_key_named() -> None:
    with pytest.raises(ConfigError, match="first-bit") as info:
        LAB.make_config({"tasks": ["first-bit", "fist-bit"]})
    assert info.value.key == "tasks"
    with pytest.raises(ConfigError, match="appears twice"):
        LAB.make_config({"tasks": ["parity", "parity"]})
    with pytest.raises(ConfigError) as info:
        LAB.make_config({"truth_tables": {"parity": "0110"}, "n_bits": 2})
    assert info.value.key == "truth_tables.parity"
    with pytest.raises(ConfigError, match="loss_threshold") as info:
        LAB.make_config({"loss_threshold": 1e-4, "trained_thresholds": [1e-3, 1e-5]})
    assert info.value.key == "trained_thresholds"
    with pytest.raises(ConfigError, match="2\\^n_bits = 8"):
        LAB.make_config({"n_bits": 3, "batch_size": 9})
    config = LAB.make_config({"tasks": ["mine", "parity"], "truth_tables": {"mine": "0" * 32}})
    assert config.tasks == ("mine", "parity")


# --- exact information measures -----------------------------------------------------------------


def partition_layer(sizes: list[int], n_units: int = 3, spacing: float = 1.0) -> np.ndarray:
    """(1, sum(sizes), n_units) activations: group g's inputs all sit at activation g·spacing."""
    groups = np.repeat(np.arange(len(sizes)), sizes)
    return (groups[:, None] * spacing * np.ones((1, n_units)))[None]


@pytest.mark.parametrize(
    ("sizes", "bits"),
    [
        ([32], 0.0),
        ([16, 16], 1.0),
        ([8, 8, 8, 8], 2.0),
        ([16, 8, 8], 1.5),  # -(1/2 log 1/2 + 2 · 1/4 log 1/4)
        ([1] * 32, 5.0),
        ([24, 8], -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))),
        ([2] * 8 + [16], 8 * (2 / 32) * 4 + 0.5 * 1),  # 8 groups of 1/16 and one of 1/2
    ],
)
def test_exact_entropy_of_hand_made_partitions(sizes: list[int], bits: float) -> None:
    layers = [partition_layer(sizes), partition_layer(sizes, n_units=5)]
    codes = layer_codes(layers, tol=1e-5)
    assert codes.shape == (1, 2, 32)
    h = layer_entropies(codes)
    np.testing.assert_allclose(h, [[bits, bits]], atol=1e-12)
    # A layer is a function of the input, which is uniform: I(X; layer) = H(layer).
    np.testing.assert_allclose(input_mutual_information(codes), h, atol=1e-12)


def test_tolerance_decides_which_activations_are_the_same() -> None:
    tol = 1e-3
    acts = partition_layer([8, 8, 8, 8], spacing=0.5 * tol)  # neighbours closer than tol
    assert layer_entropies(layer_codes([acts], tol))[0, 0] == pytest.approx(0.0)  # one chain
    acts = partition_layer([8, 8, 8, 8], spacing=2.0 * tol)
    assert layer_entropies(layer_codes([acts], tol))[0, 0] == pytest.approx(2.0)


def test_mi_with_a_bit() -> None:
    first = all_inputs(5)[:, 0].long().numpy()
    last = all_inputs(5)[:, 4].long().numpy()
    codes = np.stack([first, last, np.arange(32), np.zeros(32, dtype=np.int64)])
    mi = bit_mutual_information(codes, first)
    np.testing.assert_allclose(mi, [1.0, 0.0, 1.0, 0.0], atol=1e-12)


def test_a_trained_first_bit_output_carries_at_least_one_bit_about_the_first_bit() -> None:
    x = all_inputs(5)
    y = x[:, :1].clone()
    config = TrainConfig(widths=(8, 8), steps=600, loss_threshold=1e-4, lr=1e-2)
    model = init_ensemble(config, range(6), 5, 1)
    result = train_ensemble(model, x, y, config)
    assert result.converged.sum() >= 4
    trained = model.select(np.flatnonzero(result.converged).tolist())
    codes = layer_codes(layer_posts(trained, x), tol=1e-5)
    mi = bit_mutual_information(codes[:, -1], y[:, 0].long().numpy())
    assert (mi >= 1.0 - 1e-12).all()


# --- IR blocks and similarity -------------------------------------------------------------------


def random_codes(shape: tuple[int, ...], k: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, k, size=shape)


def test_ir_blocks_match_the_measure_pair_by_pair() -> None:
    codes_a = random_codes((3, 2, 16), 4, seed=0)
    codes_b = random_codes((2, 2, 16), 3, seed=1)
    ir = ir_blocks(codes_a, codes_b)
    assert ir.shape == (3, 2, 2, 2)
    for s, i, t, j in itertools.product(range(3), range(2), range(2), range(2)):
        assert ir[s, i, t, j] == pytest.approx(information_ratio(codes_a[s, i], codes_b[t, j]))
    self_ir = ir_blocks(codes_a)
    np.testing.assert_allclose(seed_seed_ir(self_ir, 1).diagonal(), 1.0)


def test_relabelled_layers_have_ir_one() -> None:
    base = random_codes((16,), 5, seed=2)
    relabelled = (base * 7 + 3) % 11  # a bijection of the labels 0..4
    codes = np.stack([base, relabelled])[:, None, :]  # two networks, one layer
    assert seed_seed_ir(ir_blocks(codes), 0)[0, 1] == pytest.approx(1.0)


def test_similarity_matrices_equal_the_measures() -> None:
    codes_a = random_codes((3, 3, 16), 4, seed=3)
    codes_b = random_codes((2, 3, 16), 2, seed=4)
    sim = similarity_matrix(codes_a, codes_b)
    nsim = normalized_similarity_matrix(codes_a, codes_b)
    for s, t in itertools.product(range(3), range(2)):
        assert sim[s, t] == pytest.approx(similarity(codes_a[s], codes_b[t]))
        assert nsim[s, t] == pytest.approx(normalized_similarity(codes_a[s], codes_b[t]))


def test_layer_layer_means_over_networks() -> None:
    codes = random_codes((4, 3, 16), 3, seed=5)
    ir = ir_blocks(codes)
    within = np.mean([ir[s, :, s, :] for s in range(4)], axis=0)
    across = np.mean([ir[s, :, t, :] for s in range(4) for t in range(4) if s != t], axis=0)
    np.testing.assert_allclose(layer_layer_within(ir), within)
    np.testing.assert_allclose(layer_layer_across(ir, same_ensemble=True), across)
    np.testing.assert_allclose(np.diag(layer_layer_within(ir)), 1.0)
    other = ir_blocks(codes[:2], codes[2:])
    np.testing.assert_allclose(
        layer_layer_across(other, same_ensemble=False), other.mean(axis=(0, 2))
    )
    assert off_diagonal(np.arange(9.0).reshape(3, 3)).tolist() == [1, 2, 3, 5, 6, 7]


# --- comparisons --------------------------------------------------------------------------------


def test_permutation_p_value_matches_exact_enumeration() -> None:
    a = np.array([0.0, 1.0, 2.0, 3.0])
    b = np.array([2.0, 3.5, 4.0, 5.0])
    pooled = np.concatenate([a, b])
    observed = abs(b.mean() - a.mean())
    splits = list(itertools.combinations(range(8), 4))
    exact = np.mean(
        [
            abs(np.delete(pooled, s).mean() - pooled[list(s)].mean()) >= observed - 1e-12
            for s in splits
        ]
    )
    comp = compare_groups(a, b, n_permutations=20_000, seed=1)
    assert comp.p_value == pytest.approx(exact, abs=0.01)
    assert comp.difference == pytest.approx(b.mean() - a.mean())
    assert comp.std_a == pytest.approx(np.std(a, ddof=1))


def test_comparison_verdicts() -> None:
    low, high = np.zeros(30), np.ones(30)
    comp = compare_groups(low, high, n_permutations=999)
    assert comp.p_value == pytest.approx(1 / 1000)
    assert verdict(comp, 0.05) == 1  # a keeps less
    assert verdict(compare_groups(high, low, n_permutations=999), 0.05) == -1
    same = compare_groups(low, low, n_permutations=999)
    assert same.p_value == 1.0 and verdict(same, 0.05) == 0
    empty = compare_groups(low, np.array([]), n_permutations=999)
    assert math.isnan(empty.p_value) and verdict(empty, 0.05) == 0


# --- the lab, headless --------------------------------------------------------------------------


TINY: dict[str, Any] = {
    "tasks": ["first-bit", "random-lookup", "mine"],
    "truth_tables": {"mine": "0110100110010110"},
    "n_bits": 4,
    "seeds": 6,
    "widths": [8, 8],
    "steps": 400,
    "loss_threshold": 1e-4,
    "trained_thresholds": [1e-2, 1e-4],
    "tol_sweep": [1e-5, 1e-2],
    "n_permutations": 99,
    "log_every": 100,
}


def test_the_lab_runs_headless_end_to_end(project: Any) -> None:
    from workbench.core.runner import run_lab

    run = run_lab(LAB, LAB.make_config(TINY), project, device="cpu")
    assert run.status == "completed"
    assert run.steps_done == [s.key for s in LAB.steps]
    results = run.results

    # Namespaced keys, as the issue asks.
    for key in (
        "first-bit/entropy/layer2/mean",
        "first-bit/entropy/layer3/std",
        "random-lookup/mi_input/layer1/mean",
        "mine/ir_seeds/layer2/mean",
        "mine/normalized_similarity/mean",
        "across/first-bit_vs_mine/sim/mean",
        "compare/first-bit_vs_random-lookup/entropy/layer3/p_value",
        "robustness/first-bit_vs_random-lookup/layer3/less_fraction",
        "summary/finding",
    ):
        assert key in results, key
    for task in TINY["tasks"]:
        n_trained = results[f"{task}/trained/count"]
        assert 0 < n_trained <= 6
        h = run.array(f"{task}/entropy")
        assert h.shape == (n_trained, 3)
        assert ((h >= 0) & (h <= 4 + 1e-12)).all()  # 4 bits: 16 inputs
        assert results[f"{task}/entropy/layer2/mean"] == pytest.approx(h[:, 1].mean())
        np.testing.assert_allclose(run.array(f"{task}/mi_input"), h, atol=1e-12)
        # A trained network's output determines the target: I(output; y) = H(y).
        target = make_task(task, 4, truth_tables=TINY["truth_tables"]).targets.numpy()
        p = target.mean()
        h_target = -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
        np.testing.assert_allclose(run.array(f"{task}/mi_output_target"), h_target, atol=1e-9)
        # Snapshots: captured within CHECK_EVERY steps after the loss first crossed each
        # threshold; the looser threshold is crossed no later than the tighter one.
        snap = run.array(f"{task}/train/snapshot_step")  # rows: 1e-2, 1e-4
        trained = run.array(f"{task}/train/trained").astype(bool)
        steps = run.array(f"{task}/train/steps_trained")
        assert (snap[1][trained] >= steps[trained]).all()
        assert (snap[1][trained] < steps[trained] + CHECK_EVERY).all()
        assert (snap[0][snap[1] >= 0] <= snap[1][snap[1] >= 0]).all()

    ir = run.array("first-bit/ir_seed_seed/layer2")
    n = results["first-bit/trained/count"]
    assert ir.shape == (n, n)
    np.testing.assert_allclose(np.diag(ir), 1.0)
    np.testing.assert_allclose(ir, ir.T)
    sim = run.array("first-bit/sim")
    assert results["first-bit/sim/mean"] == pytest.approx(off_diagonal(sim).mean())
    assert run.array("robustness/first-bit_vs_mine/verdict").shape == (2, 2, 3)

    # Live loss for every seed, tagged by task, and the live IR metric.
    records = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    losses = [r for r in records if "loss" in r]
    assert {r["task"] for r in losses} == set(TINY["tasks"])
    assert {r["seed"] for r in losses if r["task"] == "random-lookup"} == set(range(6, 12))
    assert any(LIVE_IR in r for r in records)

    checkpoint = run.checkpoint("first-bit")
    assert checkpoint["layers.0.weight"].shape == (6, 8, 4)
    summary = run.text("summary.md")
    assert "What the data supports" in summary and "first-bit against random-lookup" in summary


def test_the_lab_reports_tasks_where_no_network_trained(project: Any) -> None:
    from workbench.core.runner import run_lab

    config = {**TINY, "tasks": ["first-bit", "parity"], "steps": 1, "truth_tables": {}}
    run = run_lab(LAB, LAB.make_config(config), project, device="cpu")
    assert run.status == "completed"
    assert run.results["parity/trained/count"] == 0
    assert math.isnan(run.results["compare/first-bit_vs_parity/entropy/layer1/p_value"])
    assert "0 / 6" in run.text("summary.md")


def test_summary_states_what_the_data_supports() -> None:
    from workbench_labs.toy_tasks.analysis import Comparison
    from workbench_labs.toy_tasks.report import (
        LayerFinding,
        PairFindings,
        TaskSummary,
        summary_markdown,
    )

    def finding(layer: str, settings: list[list[int]], main: int) -> LayerFinding:
        comp = Comparison(1.0, 0.1, 10, 2.0, 0.1, 10, 1.0, 0.001)
        return LayerFinding(layer, comp, main, np.asarray(settings, dtype=np.int8))

    pair = PairFindings(
        "first-bit",
        "random-lookup",
        [
            finding("layer1", [[0, 0], [0, 0]], 0),  # never different
            finding("layer2", [[1, 1], [1, 1]], 1),  # robustly less
            finding("layer3", [[1, 0], [-1, 1]], 1),  # flips with the settings
        ],
    )
    tasks = [
        TaskSummary(n, "", 10, 10, 0, np.array([5.0, 4.0, 3.0]), np.array([0.0, 0.1, 0.2]))
        for n in ("first-bit", "random-lookup")
    ]
    config = LAB.make_config({"widths": [16, 16]})
    text = summary_markdown(
        config, tasks, [pair], thresholds=[1e-3, 1e-5], tols=[1e-5, 1e-3], alpha=0.05
    )
    assert "**Supported:** first-bit networks keep less information than random-lookup " in text
    assert "networks in layer2, at every" in text
    assert (
        "in layer3, first-bit keeps significantly less information than random-lookup at 2 of 4"
        in text
    )
    assert "more at 1, and neither at 1" in text and "flips" in text
    assert "No significant difference between first-bit and random-lookup in layer1" in text
    assert "These runs support it, robustly, in layer2." in text
    # The flipping layer gets a threshold × tol grid; the uniform ones do not.
    assert "layer3: does first-bit keep less or more" in text
    assert "layer2: does first-bit keep less or more" not in text


def _peer_entropy(acts: np.ndarray, tol: float) -> float:
    """H of the partition 'within tol (mean |Δ| per unit), closed transitively', via scipy."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    dist = np.abs(acts[:, None, :] - acts[None, :, :]).mean(axis=2)
    _, labels = connected_components(csr_matrix(dist <= tol), directed=False)
    p = np.bincount(labels) / len(labels)
    return float(-(p * np.log2(p)).sum())


def test_reported_entropies_match_a_peer_recomputation_from_the_checkpoint(project: Any) -> None:
    """Every saved entropy, recomputed from the saved weights with numpy and scipy alone."""
    from workbench.core.runner import run_lab

    run = run_lab(LAB, LAB.make_config(TINY), project, device="cpu")
    tol = run.config["tol"]
    x = all_inputs(TINY["n_bits"]).numpy().astype(np.float64)
    for task in TINY["tasks"]:
        weights = {k: v.double().numpy() for k, v in run.checkpoint(task).items()}
        trained = run.array(f"{task}/train/trained").astype(bool)
        n_layers = len(TINY["widths"]) + 1
        expected = []
        for seed in np.flatnonzero(trained):
            h, row = x, []
            for layer in range(n_layers):
                w = weights[f"layers.{layer}.weight"][seed]
                h = h @ w.T + weights[f"layers.{layer}.bias"][seed]
                if layer < n_layers - 1:
                    h = np.maximum(h, 0.0)  # relu, the default activation
                row.append(_peer_entropy(h, tol))
            expected.append(row)
        np.testing.assert_allclose(run.array(f"{task}/entropy"), np.array(expected), atol=1e-9)
