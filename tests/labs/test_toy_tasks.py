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
from workbench.core.tasks import (
    all_inputs,
    expand_tasks,
    make_lookup_tables,
    make_task,
    table_index,
)
from workbench.measures import (
    entropy,
    information_ratio,
    mutual_information,
    normalized_similarity,
    similarity,
)
from workbench_labs.toy_tasks import LAB
from workbench_labs.toy_tasks.analysis import (
    bit_mutual_information,
    input_mutual_information,
    ir_blocks,
    layer_layer_across,
    layer_layer_within,
    normalized_similarity_from_blocks,
    off_diagonal,
    seed_seed_ir,
    similarity_from_blocks,
)
from workbench_labs.toy_tasks.grouping import (
    layer_entropies,
    scaled_codes,
    target_mutual_information,
)
from workbench_labs.toy_tasks.training import CHECK_EVERY, LIVE_IR, layer_posts


def layer_codes(posts: list[Any], tol: float) -> np.ndarray:
    """Absolute-tolerance chained codes of every layer (the sprint's rule, closed)."""
    t = [torch.as_tensor(np.asarray(p), dtype=torch.float32) for p in posts]
    return scaled_codes(t, tol, rule="chained", mode="absolute").codes


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


def test_lookup_tables_are_k_independent_tables_with_their_own_seeds() -> None:
    tables = make_lookup_tables(5, 3, task_seed=7)
    assert [t.name for t in tables] == ["random-lookup.0", "random-lookup.1", "random-lookup.2"]
    # Table k is the random-lookup table of task_seed + k.
    for k, t in enumerate(tables):
        assert torch.equal(t.targets, make_task("random-lookup", 5, task_seed=7 + k).targets)
    assert len({t.truth_table for t in tables}) == 3
    assert table_index("random-lookup.12") == 12
    assert table_index("random-lookup") is None and table_index("random-lookup.x") is None
    assert expand_tasks(["first-bit", "random-lookup"], 1) == ["first-bit", "random-lookup"]
    assert expand_tasks(["first-bit", "random-lookup"], 2) == [
        "first-bit",
        "random-lookup.0",
        "random-lookup.1",
    ]


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
    config = LAB.make_config(
        {"tasks": ["mine", "parity"], "truth_tables": {"mine": "0" * 128}, "lookup_tables": 1}
    )
    assert config.tasks == ("mine", "parity")
    for key, value in (
        ("widths_sweep", [[8, 0]]),
        ("snapshot_every", 7),
        ("min_trained", 1),
        ("rule", "nearest"),
        ("tol_mode", "percent"),
    ):
        with pytest.raises(ConfigError) as info:
            LAB.make_config({key: value})
        assert info.value.key == key
    with pytest.raises(ConfigError, match="appears twice"):
        LAB.make_config({"tasks": ["random-lookup", "random-lookup.1"], "lookup_tables": 2})


def test_presets_validate_and_sprint_is_the_old_set_up() -> None:
    sprint = LAB.make_config(LAB.preset("sprint"))
    assert (sprint.n_bits, sprint.widths, sprint.seeds, sprint.steps) == (
        5,
        (16, 16, 16),
        200,
        5000,
    )
    assert (sprint.tol, sprint.tol_mode, sprint.rule, sprint.loss) == (
        1e-5,
        "absolute",
        "chained",
        "mse",
    )
    assert sprint.loss_threshold == 1e-7 and sprint.trained_tasks() == [
        "first-bit",
        "random-lookup",
    ]
    quick = LAB.make_config(LAB.preset("quick"))
    assert quick.seeds * len(quick.trained_tasks()) * len(quick.architectures()) <= 100


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


def test_batched_entropies_and_target_mi_match_the_measures_row_by_row() -> None:
    codes = random_codes((5, 3, 32), 6, seed=9)
    target = random_codes((32,), 2, seed=10)
    from workbench.measures import canonical_codes

    canon = np.stack([canonical_codes(c) for c in codes])
    h = layer_entropies(canon)
    mi = target_mutual_information(canon, target)
    for s, i in itertools.product(range(5), range(3)):
        assert h[s, i] == pytest.approx(entropy(codes[s, i]), abs=1e-12)
        assert mi[s, i] == pytest.approx(mutual_information(codes[s, i], target), abs=1e-12)


def test_sim_read_off_the_ir_blocks_equals_the_measures() -> None:
    codes_a = random_codes((3, 3, 16), 4, seed=3)
    codes_b = random_codes((2, 3, 16), 2, seed=4)
    block = ir_blocks(codes_a, codes_b)
    sim = similarity_from_blocks(block)
    nsim = normalized_similarity_from_blocks(block)
    for s, t in itertools.product(range(3), range(2)):
        assert sim[s, t] == pytest.approx(similarity(codes_a[s], codes_b[t]))
        assert nsim[s, t] == pytest.approx(normalized_similarity(codes_a[s], codes_b[t]))


# --- the lab, headless --------------------------------------------------------------------------


TINY: dict[str, Any] = {
    "tasks": ["first-bit", "random-lookup", "mine"],
    "truth_tables": {"mine": "0110100110010110"},
    "n_bits": 4,
    "lookup_tables": 2,
    "seeds": 6,
    "widths": [8, 4, 8],
    "widths_sweep": [[8, 8]],
    "steps": 400,
    "loss_threshold": 1e-4,
    "min_trained": 3,
    "trained_thresholds": [1e-2, 1e-4],
    "tol_sweep": [1e-2],
    "snapshot_every": 50,
    "n_permutations": 99,
    "log_every": 100,
}
ENSEMBLES = ["first-bit", "random-lookup.0", "random-lookup.1", "mine"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from workbench.core.runner import run_lab
    from workbench.core.runs import init_project

    project = init_project(tmp_path_factory.mktemp("toy") / "proj", name="toy")
    return run_lab(LAB, LAB.make_config(TINY), project, device="cpu")


def test_the_lab_runs_headless_end_to_end(tiny_run: Any) -> None:
    run = tiny_run
    assert run.status == "completed"
    assert run.steps_done == [s.key for s in LAB.steps]
    results = run.results
    for key in (
        "first-bit/entropy/layer2/mean",
        "first-bit/baseline/entropy/layer2/mean",
        "first-bit/mi_target/layer3/mean",
        "first-bit/precision/layer4/flagged",
        "random-lookup.1/ir_seeds/layer2/mean",
        "random-lookup.1/baseline/ir_seeds/layer2/mean",
        "random-lookup.0/normalized_similarity/mean",
        "across/first-bit_vs_mine/sim/mean",
        "sweep/first-bit/w8x8/entropy/layer2/mean",
        "summary/finding",
        "summary/tests/family_size",
    ):
        assert key in results, key
    assert results["summary/claim/verdict"] in (
        "supported",
        "refuted",
        "not established",
        "not testable",
    )
    assert results["summary/finding"].startswith(results["summary/claim/verdict"])
    for name in [*ENSEMBLES, "first-bit_w8x8", "random-lookup.1_w8x8"]:
        n_trained = results[f"{name}/trained/count"]
        assert run.array(f"{name}/train/trained").sum() == n_trained
        targets = run.array(f"{name}/train/targets")
        assert targets.dtype == np.int64 and targets.shape == (16,)
        if n_trained == 0:
            continue
        h = run.array(f"{name}/entropy")
        assert ((h >= 0) & (h <= 4 + 1e-12)).all()  # 4 bits: 16 inputs
        assert results[f"{name}/entropy/layer2/mean"] == pytest.approx(h[:, 1].mean())
    for name in ENSEMBLES:
        table = make_task(name, 4, truth_tables=TINY["truth_tables"]).targets.numpy()
        np.testing.assert_array_equal(run.array(f"{name}/train/targets"), table)
        if results[f"{name}/trained/count"] == 0:
            continue
        h = run.array(f"{name}/entropy")
        np.testing.assert_allclose(run.array(f"{name}/mi_input"), h, atol=1e-12)
        # A trained net's layers all determine the target (within the precision): I(out; y).
        mi = run.array(f"{name}/mi_target")
        assert (mi <= h + 1e-12).all()
        # Snapshots: captured within CHECK_EVERY steps after the loss crossed each threshold.
        snap = run.array(f"{name}/train/snapshot_step")  # rows: 1e-2, 1e-4
        trained = run.array(f"{name}/train/trained").astype(bool)
        steps = run.array(f"{name}/train/steps_trained")
        assert (snap[1][trained] >= steps[trained]).all()
        assert (snap[1][trained] < steps[trained] + CHECK_EVERY).all()
        # The precision array: tol_eff, residual, resolution, closest codes.
        precision = run.array(f"{name}/precision")
        assert precision.shape == (4, h.shape[0], 4)
        residual = precision[1, :, -1]
        assert (residual < math.sqrt(16 * 1e-4) + 1e-6).all()  # MSE < 1e-4 bounds max|ŷ-y|
    # The compression curve: p10 <= median <= p90 at every snapshot, steps as labels.
    curve = run.array("curves/first-bit/entropy/layer2")
    assert curve.shape == (3, 400 // 50 + 1)
    ok = np.isfinite(curve).all(axis=0)
    assert (curve[0, ok] <= curve[1, ok] + 1e-12).all() and (
        curve[1, ok] <= curve[2, ok] + 1e-12
    ).all()
    assert run.array_meta("curves/first-bit/entropy/layer2")["labels"]["step"][:3] == [
        "0",
        "50",
        "100",
    ]
    # At step 0 the curve is the random-init baseline.
    base = run.array("first-bit/baseline/entropy")[:, 1]
    assert curve[1, 0] == pytest.approx(np.percentile(base, 50))
    assert run.array("sweep/first-bit/entropy").shape == (2, 4)
    assert run.array("robustness/verdict").shape == (2, 2, 4)

    records = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    losses = [r for r in records if "loss" in r]
    assert {r["task"] for r in losses} >= set(ENSEMBLES)
    assert {r["seed"] for r in losses if r["task"] == "random-lookup.1"} == set(range(12, 18))
    assert any(LIVE_IR in r for r in records)
    assert run.checkpoint("first-bit")["layers.0.weight"].shape == (6, 8, 4)
    assert run.checkpoint("first-bit_w8x8")["layers.1.weight"].shape == (6, 8, 8)
    summary = run.text("summary.md")
    for words in ("Claim:", "at init", "Robustness", "Power", "Holm", "width and depth"):
        assert words in summary, words


def test_other_labs_load_the_nets_through_from_run(tiny_run: Any) -> None:
    from workbench.core.from_run import load_from_run
    from workbench.core.runs import Project

    project = Project(tiny_run.path.parent.parent)
    source = load_from_run(project, tiny_run.id, labs=["toy-tasks"], same_architecture=False)
    assert "first-bit" in source.ensembles and "random-lookup.1_w8x8" in source.ensembles
    fb = source.ensembles["first-bit"]
    assert fb.widths == (8, 4, 8)
    assert (
        fb.targets is not None and fb.targets.tolist() == make_task("first-bit", 4).targets.tolist()
    )
    np.testing.assert_array_equal(
        fb.trained, tiny_run.array("first-bit/train/trained").astype(bool)
    )


def _peer_entropy(acts: np.ndarray, tol: float) -> float:
    """H of the partition 'within tol (mean |Δ| per unit), closed transitively', via scipy."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    dist = np.abs(acts[:, None, :] - acts[None, :, :]).mean(axis=2)
    _, labels = connected_components(csr_matrix(dist <= tol), directed=False)
    p = np.bincount(labels) / len(labels)
    return float(-(p * np.log2(p)).sum())


def test_reported_entropies_match_a_peer_recomputation_from_the_checkpoint(tiny_run: Any) -> None:
    """Every saved entropy, recomputed from the saved weights with numpy and scipy alone, with
    the relative tolerance rebuilt from its definition (mean pairwise distance × tol)."""
    run = tiny_run
    tol = run.config["tol"]
    assert run.config["tol_mode"] == "relative" and run.config["rule"] == "chained"
    x = all_inputs(TINY["n_bits"]).numpy().astype(np.float64)
    n_layers = len(TINY["widths"]) + 1
    for task in ENSEMBLES:
        weights = {k: v.double().numpy() for k, v in run.checkpoint(task).items()}
        trained = run.array(f"{task}/train/trained").astype(bool)
        expected = []
        for seed in np.flatnonzero(trained):
            h, row = x, []
            for layer in range(n_layers):
                w = weights[f"layers.{layer}.weight"][seed]
                h = h @ w.T + weights[f"layers.{layer}.bias"][seed]
                if layer < n_layers - 1:
                    h = np.maximum(h, 0.0)  # relu, the default activation
                dist = np.abs(h[:, None, :] - h[None, :, :]).mean(axis=2)
                scale = dist.sum() / (len(h) * (len(h) - 1)) or 1.0
                row.append(_peer_entropy(h, tol * scale))
            expected.append(row)
        if expected:
            np.testing.assert_allclose(run.array(f"{task}/entropy"), np.array(expected), atol=1e-9)


def test_seeds_8_steps_300_is_not_testable_with_a_warning_line(tmp_path: Any) -> None:
    """The issue's check: defaults with --set seeds=8 --set steps=300 (the architecture sweep
    off to keep the test short; it does not enter the verdict)."""
    import subprocess
    import sys

    from tests.conftest import cli_env

    proj = tmp_path / "proj"
    cmd = [sys.executable, "-m", "workbench"]
    subprocess.run([*cmd, "init", str(proj)], check=True, env=cli_env(), capture_output=True)
    out = subprocess.run(
        [*cmd, "run", "toy-tasks", "--project", str(proj), "--device", "cpu", "--set", "seeds=8",
         "--set", "steps=300", "--set", "widths_sweep=[]", "--set", "trained_thresholds=[1e-4]",
         "--set", "tol_sweep=[1e-2]"],
        env={**cli_env(), "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "warning: toy-tasks: not testable:" in " ".join(text.split())
    from workbench.core.runs import Project

    run = Project(proj).run("latest")
    assert run.results["summary/claim/verdict"] == "not testable"
    assert run.results["summary/finding"].startswith("not testable: fewer than min_trained = 8")
    assert "**not testable**" in run.text("summary.md")


def test_the_compression_curve_is_drawn_against_the_training_step(tiny_run: Any) -> None:
    from workbench.render.views import array_plot_spec

    view = next(v for s in LAB.steps for v in s.views if v.source == "curves/*/entropy/layer*")
    spec = array_plot_spec(tiny_run, "curves/first-bit/entropy/layer2", view)
    curve = tiny_run.array("curves/first-bit/entropy/layer2")
    steps = np.arange(0, 401, 50, dtype=np.float64)
    np.testing.assert_array_equal(spec.lines[0].x, steps)  # x is the step, not the index
    np.testing.assert_array_equal(spec.lines[0].y, curve[1])  # the median line
    np.testing.assert_array_equal(spec.bands[0].lo, curve[0])  # over the 10-90% band
    np.testing.assert_array_equal(spec.bands[0].hi, curve[2])


def test_a_swept_run_serves_other_labs_with_its_main_architecture(tiny_run: Any) -> None:
    from workbench.core.from_run import load_from_run
    from workbench.core.runs import Project

    project = Project(tiny_run.path.parent.parent)
    source = load_from_run(project, tiny_run.id, labs=["toy-tasks"])  # same_architecture
    assert sorted(source.ensembles) == sorted(ENSEMBLES)
    assert {e.widths for e in source.ensembles.values()} == {(8, 4, 8)}


def test_one_lookup_table_decides_from_the_per_table_test(project: Any) -> None:
    """lookup_tables = 1 (the sprint's design): no over-table test; the verdict is read from the
    net-level test against that one table, and the robustness grid is filled."""
    from workbench.core.runner import run_lab

    config = {
        "n_bits": 3, "lookup_tables": 1, "seeds": 6, "widths": [6, 6], "widths_sweep": [],
        "steps": 300, "loss_threshold": 1e-3, "min_trained": 3, "trained_thresholds": [1e-3],
        "tol_sweep": [1e-2], "n_permutations": 99, "snapshot_every": 0,
    }  # fmt: skip
    run = run_lab(LAB, LAB.make_config(config), project, device="cpu")
    results = run.results
    assert "random-lookup/trained/count" in results
    assert "summary/tests/over-tables/layer2/p" not in results
    assert results["summary/claim/verdict"] != "not testable", results["summary/finding"]
    # The claim's members are the per-table tests, one per unflagged layer.
    assert "summary/tests/random-lookup/layer1/p" in results
    assert run.array("robustness/verdict").shape == (1, 2, 3)
    assert "curves/first-bit/entropy/layer1" not in run.array_names()  # snapshot_every = 0
