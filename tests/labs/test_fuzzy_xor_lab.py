"""The fuzzy-xor lab runs headless through the lab contract and its run folder round-trips."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from workbench.core.ensemble import ensemble_from_state_dict
from workbench.core.errors import ConfigError
from workbench.core.registry import load_lab
from workbench.core.runner import run_lab
from workbench.core.runs import Project, Run
from workbench_labs.fuzzy_xor import LAB
from workbench_labs.fuzzy_xor.fuzzy import fuzzy_xor, unit_square_grid
from workbench_labs.fuzzy_xor.references import reference_networks

TINY: dict[str, Any] = {
    "seeds": 5,
    "widths": [6],
    "steps": 60,
    "samples": 64,
    "grid": 11,
    "restarts": 4,
    "ascent_steps": 10,
    "log_every": 20,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    from workbench.core.runs import init_project

    project = init_project(tmp_path_factory.mktemp("fuzzy") / "proj")
    return run_lab(LAB, LAB.make_config(TINY), project, device="cpu")


def test_lab_is_registered_under_its_name() -> None:
    assert load_lab("fuzzy-xor") is LAB
    assert [s.key for s in LAB.steps] == [
        "train",
        "references",
        "match",
        "maximise",
        "strategies",
        "robustness",
        "summary",
    ]
    defaults = LAB.make_config()
    assert defaults.seeds == 100 and defaults.widths == (16,)


def test_tiny_run_completes_every_step(tiny_run: Run) -> None:
    assert tiny_run.status == "completed"
    assert tiny_run.lab == "fuzzy-xor"
    assert tiny_run.steps_done == [s.key for s in LAB.steps]
    assert tiny_run.config["widths"] == [6]
    for name in ("summary.md", "references.md", "matches.md"):
        assert tiny_run.text(name).startswith("# ")


def test_markdown_tables_escape_labels_that_contain_bars(tiny_run: Run) -> None:
    # Regression: labels such as |a − b| used to split a table row into extra columns.
    for name, columns in (("references.md", 3), ("matches.md", 3), ("summary.md", None)):
        for line in tiny_run.text(name).splitlines():
            if line.startswith("| "):
                bars = len(re.findall(r"(?<!\\)\|", line))
                assert columns is None or bars == columns + 1, (name, line)
    assert "\\|a − b\\|" in tiny_run.text("references.md")


def test_tiny_run_counts_every_network_once(tiny_run: Run) -> None:
    results = tiny_run.results
    names = [net.name for net in reference_networks()]
    counts = {
        k: v for k, v in results.items() if k.startswith("strategy/") and k.endswith("/count")
    }
    assert set(counts) == {f"strategy/{n}/count" for n in [*names, "none", "unconverged"]}
    assert sum(counts.values()) == TINY["seeds"]
    converged = tiny_run.array("train/converged")
    assert results["train/converged/count"] == int(converged.sum())
    assert results["strategy/unconverged/count"] == TINY["seeds"] - int(converged.sum())
    labels = tiny_run.array("strategy/label")
    assert labels.shape == (TINY["seeds"],)
    assert set(labels.tolist()) <= set(range(-2, len(names)))
    assert results["reference/max_error"] <= 1e-12


def test_tiny_run_arrays_have_documented_shapes(tiny_run: Run) -> None:
    seeds, hidden, points = TINY["seeds"], TINY["widths"][0], TINY["grid"] ** 2
    r2 = tiny_run.array("match/r2")
    n_candidates = tiny_run.results["match/candidates"]
    assert r2.shape == (seeds, hidden, n_candidates)
    assert tiny_run.array_meta("match/r2")["axes"] == ["seed", "neuron", "candidate"]
    assert np.all((r2 >= 0) & (r2 <= 1))
    assert tiny_run.array("match/top_r2").shape == (seeds, hidden, 3)
    response = tiny_run.array("maximise/response")
    n_ref = tiny_run.results["maximise/reference_neurons"]
    assert response.shape == (seeds, n_ref, hidden)
    assert tiny_run.array("maximise/response_matrix").shape == (n_ref, seeds * hidden)
    assert tiny_run.array("strategy/score").shape == (seeds, len(reference_networks()))
    assert tiny_run.array("train/loss_history").shape[0] == seeds
    assert points == unit_square_grid(TINY["grid"]).shape[0]
    metrics = tiny_run.metrics()
    assert set(np.unique(metrics["seed"]).tolist()) == set(range(seeds))
    assert np.all(np.isfinite(metrics["loss"]))


def test_checkpoint_round_trips_to_the_grid_error(tiny_run: Run) -> None:
    tensors = tiny_run.checkpoint("ensemble")
    model = ensemble_from_state_dict(tensors, "relu")
    grid = unit_square_grid(TINY["grid"], dtype=torch.float32)
    with torch.no_grad():
        mse = (model(grid)[:, :, 0] - fuzzy_xor(grid[:, 0], grid[:, 1])).double().pow(2).mean(1)
    assert np.allclose(mse.numpy(), tiny_run.array("train/grid_mse"), rtol=1e-6)


def test_same_config_gives_the_same_results(tiny_run: Run, project: Project) -> None:
    again = run_lab(LAB, LAB.make_config(TINY), project, device="cpu")
    first = {k: v for k, v in tiny_run.results.items() if k != "train/seconds"}
    second = {k: v for k, v in again.results.items() if k != "train/seconds"}
    assert first.keys() == second.keys()
    for key, value in first.items():
        if isinstance(value, float) and np.isnan(value):
            assert np.isnan(second[key]), key
        else:
            assert second[key] == value, key
    assert np.array_equal(tiny_run.array("match/r2"), again.array("match/r2"))


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"batch_size": 100, "samples": 50}, "batch_size"),
        ({"widths": []}, "widths"),
        ({"lr": 0.0}, "lr"),
        ({"grid": 1}, "grid"),
        ({"fit_threshold": 1.5}, "fit_threshold"),
        ({"sedes": 3}, "sedes"),
    ],
)
def test_bad_config_names_the_key(values: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        LAB.make_config(values)
    assert info.value.key == key


@pytest.mark.slow
def test_trained_networks_are_read_consistently(project: Project) -> None:
    # A real (small) ensemble: most networks learn XOR, their informative neurons are
    # nearly exact matches to candidate functions, and the two readings agree — every
    # well-matched neuron responds to its matched reference neuron's maximisers.
    config = LAB.make_config(
        {"seeds": 12, "steps": 1500, "samples": 256, "grid": 21, "restarts": 8}
    )
    run = run_lab(LAB, config, project, device="cpu")
    results = run.results
    assert results["train/converged/fraction"] >= 0.5
    assert results["match/mean_best_r2"] >= 0.95
    assert results["maximise/agreement"] >= 0.9
    followed = results["train/converged/count"] - results["strategy/none/count"]
    assert followed >= 1
    score = run.array("strategy/score")
    labels = run.array("strategy/label")
    assert np.all(score[labels >= 0].max(axis=1) >= config.fit_threshold)


def test_tiny_run_with_few_nets_is_not_testable(tiny_run: Run) -> None:
    """5 nets cannot reach min_classified = 10, so the verdict says so instead of guessing."""
    results = tiny_run.results
    assert results["verdict/verdict"] == "not testable"
    assert str(results["summary/finding"]).startswith("not testable: ")
    assert "## Verdict" in tiny_run.text("summary.md")
    counts = tiny_run.array("robustness/computation_counts")
    settings = len(LAB.make_config().relevance_sweep) * 3 * 3
    assert counts.shape[0] == settings and counts.sum(axis=1).max() <= 5


def test_two_hidden_layers_are_matched_layer_by_layer(tmp_path: Path) -> None:
    from workbench.core.runs import init_project

    project = init_project(tmp_path / "deep")
    run = run_lab(LAB, LAB.make_config({**TINY, "widths": [4, 3]}), project, device="cpu")
    assert run.status == "completed"
    results = run.results
    informative = results["match/neurons/informative"]
    converged = run.array("train/converged").astype(bool)
    per_layer = results["match/layer1/informative"] + results["match/layer2/informative"]
    used = run.array("match/informative")[converged].sum()
    assert per_layer == used <= informative
    assert run.array("match/r2").shape[1] == 7  # 4 + 3 hidden neurons
