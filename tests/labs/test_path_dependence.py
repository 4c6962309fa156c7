"""The path-dependence lab end to end: own nets, saved aligned checkpoints, source runs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from workbench.core.errors import ConfigError
from workbench.core.runner import run_lab
from workbench.core.runs import Project, Run
from workbench_labs.path_dependence import LAB

TINY: dict[str, Any] = {
    "tasks": ["first-bit"],
    "seeds": 8,
    "widths": [8, 8],
    "steps": 600,
    "n_alphas": 9,
    "width_sweep": [4, 16],
    "width_seeds": 6,
    "n_permutations": 199,
    "log_every": 100,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    from workbench.core.runs import init_project

    torch.set_num_threads(1)
    project = init_project(tmp_path_factory.mktemp("pd") / "proj", name="pd")
    return run_lab(LAB, LAB.make_config(TINY), project, device="cpu")


def test_tiny_run_completes_every_step(tiny_run: Run) -> None:
    assert tiny_run.status == "completed"
    assert tiny_run.info["steps_done"] == [s.key for s in LAB.steps]
    assert "Path dependence" in (tiny_run.path / "summary.md").read_text()
    assert "median barrier" in str(tiny_run.results["summary/finding"])
    for verdict in ("alignment/first-bit/weight", "width/weight", "same"):
        assert tiny_run.results[f"{verdict}/verdict"] in (
            "supported", "refuted", "not established", "not testable"
        )  # fmt: skip


def test_heatmaps_are_cluster_ordered_with_seed_labels(tiny_run: Run) -> None:
    n = int(tiny_run.results["first-bit/nets"])
    seeds = tiny_run.array("first-bit/seeds")
    order = tiny_run.array("first-bit/order")
    clusters = tiny_run.array("first-bit/clusters/barrier")
    assert sorted(order.tolist()) == list(range(n))
    runs = clusters[order]  # the leaf order keeps each cluster contiguous
    assert int(np.sum(runs[1:] != runs[:-1])) == len(np.unique(clusters)) - 1
    for method in ("none", "normalized", "weight", "activation"):
        meta = tiny_run.array_meta(f"first-bit/barrier/{method}")
        assert meta["labels"]["seed_b"] == [str(seeds[i]) for i in order]
        assert all(len(label) <= 12 for label in meta["labels"]["seed"])  # fits the row labels
        matrix = tiny_run.array(f"first-bit/barrier/{method}")
        assert matrix.shape == (n, n) and np.allclose(matrix, matrix.T)
        assert np.all(np.diag(matrix) == 0)


def plain_barrier(ta: dict[str, torch.Tensor], tb: dict[str, torch.Tensor], p: int,
                  x: torch.Tensor, y: torch.Tensor, alphas: np.ndarray) -> float:  # fmt: skip
    """max_α L(θ_α) − [(1−α)L_A + αL_B] with nn.Linear layers, one α at a time."""
    n_layers = sum(1 for k in ta if k.endswith(".weight"))
    losses = []
    for alpha in alphas:
        mods: list[torch.nn.Module] = []
        for i in range(n_layers):
            w = (1 - alpha) * ta[f"layers.{i}.weight"][p] + alpha * tb[f"layers.{i}.weight"][p]
            b = (1 - alpha) * ta[f"layers.{i}.bias"][p] + alpha * tb[f"layers.{i}.bias"][p]
            lin = torch.nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                lin.weight.copy_(w)
                lin.bias.copy_(b)
            mods += [lin] if i == n_layers - 1 else [lin, torch.nn.ReLU()]
        with torch.no_grad():
            out = torch.nn.Sequential(*mods)(x)
        losses.append(float(torch.nn.functional.mse_loss(out, y)))
    ell = np.array(losses)
    return float(np.max(ell - ((1 - alphas) * ell[0] + alphas * ell[-1])))


@pytest.mark.parametrize("method", ["none", "normalized", "weight", "activation"])
def test_every_barrier_recomputes_from_the_saved_checkpoints(tiny_run: Run, method: str) -> None:
    tensors = load_file(
        str(tiny_run.path / "checkpoints" / f"aligned-first-bit-{method}.safetensors")
    )
    ta = {k[2:]: v for k, v in tensors.items() if k.startswith("a.")}
    tb = {k[2:]: v for k, v in tensors.items() if k.startswith("b.")}
    pairs = tensors["pairs"].numpy()
    x = torch.as_tensor(tiny_run.array("first-bit/data/x"), dtype=torch.float32)
    y = torch.as_tensor(tiny_run.array("first-bit/data/y"), dtype=torch.float32)
    alphas = tiny_run.array("first-bit/alphas")
    order = tiny_run.array("first-bit/order")
    matrix = tiny_run.array(f"first-bit/barrier/{method}")
    position = np.argsort(order)  # row of net i in the ordered heatmap
    for p in range(0, len(pairs), 3):
        i, j = pairs[p]
        reported = matrix[position[i], position[j]]
        assert plain_barrier(ta, tb, p, x, y, alphas) == pytest.approx(reported, abs=1e-5)


@pytest.mark.parametrize("method", ["weight", "activation"])
def test_aligned_checkpoints_compute_the_original_nets(tiny_run: Run, method: str) -> None:
    from workbench.core.ensemble import ensemble_from_state_dict

    tensors = load_file(
        str(tiny_run.path / "checkpoints" / f"aligned-first-bit-{method}.safetensors")
    )
    aligned = ensemble_from_state_dict({k[2:]: v for k, v in tensors.items() if k[:2] == "b."},
                                       "relu")  # fmt: skip
    original = ensemble_from_state_dict(tiny_run.checkpoint("first-bit"), "relu")
    trained = np.flatnonzero(tiny_run.array("first-bit/train/trained"))
    b_rows = trained[tensors["pairs"].numpy()[:, 1]]
    x = torch.as_tensor(tiny_run.array("first-bit/data/x"), dtype=torch.float32)
    torch.testing.assert_close(aligned(x), original.select(b_rows.tolist())(x), rtol=0, atol=1e-5)


def test_live_progress_and_metrics(tiny_run: Run) -> None:
    lines = (tiny_run.path / "metrics.jsonl").read_text().splitlines()
    live = [line for line in lines if "live/median_barrier" in line]
    assert live  # one record per chunk of pairs
    assert "live/median_barrier" in LAB.live_metrics


# --- source runs ---------------------------------------------------------------------------------


def fake_source(project: Project, lab: str, *, widths: tuple[tuple[int, ...], ...] = ((8, 8),),
                checkpoints: bool = True) -> Run:  # fmt: skip
    """A finished run folder of another lab, written through the run-folder contract only."""
    from workbench.core.ensemble import TrainConfig, init_ensemble, train_ensemble
    from workbench.core.tasks import all_inputs, make_task

    if lab == "toy-tasks":
        names = ["first-bit", "random-lookup"][: len(widths)]
        config: dict[str, Any] = {"tasks": names, "n_bits": 4, "seeds": 6, "seed": 0, "loss": "mse"}
    else:
        names = ["ensemble"]
        config = {"seeds": 6, "seed": 0, "samples": 64, "data_seed": 0, "widths": [8]}
    writer = project.create_run(lab=lab, config=config, device="cpu", seeds=(0, 12))
    for k, (name, w) in enumerate(zip(names, widths, strict=False)):
        cfg = TrainConfig(widths=w, steps=300, lr=1e-2)
        if lab == "toy-tasks":
            x = all_inputs(4)
            y = make_task(name, 4).targets.float().unsqueeze(1)
        else:
            from workbench_labs.path_dependence.sources import fuzzy_xor_data

            x, y = fuzzy_xor_data(config)
        model = init_ensemble(cfg, range(6 * k, 6 * k + 6), x.shape[1], 1)
        train_ensemble(model, x, y, cfg)
        if checkpoints:
            writer.save_checkpoint(name, model.state_dict())
        if lab == "toy-tasks":
            writer.save_array(f"{name}/train/trained", np.ones(6, dtype=np.int8), axes=("seed",))
            writer.save_array(f"{name}/trained_seeds", np.arange(6 * k, 6 * k + 6), axes=("seed",))
            sim = np.eye(6) * 0.5 + 0.5
            writer.save_array(f"{name}/normalized_similarity", sim, axes=("seed", "seed_b"))
        else:
            writer.save_array("train/converged", np.ones(6, dtype=np.int8), axes=("seed",))
            writer.save_array("strategy/label", np.array([0, 0, 1, 1, 2, 2]), axes=("seed",))
    writer.finish("completed")
    return project.run(writer.id)


SMALL = {"width_sweep": [], "n_alphas": 7, "n_permutations": 99}


def test_a_toy_tasks_source_uses_its_nets_and_its_ir_similarity(project: Project) -> None:
    src = fake_source(project, "toy-tasks")
    run = run_lab(LAB, LAB.make_config({"from_run": src.id, **SMALL}), project, device="cpu")
    assert run.results["source/lab"] == "toy-tasks"
    assert run.results["first-bit/nets"] == 6
    assert run.results["first-bit/ir_similarity/source"] == "source run"
    assert run.array("first-bit/seeds").tolist() == list(range(6))


def test_a_fuzzy_xor_source_compares_with_strategy_labels(project: Project) -> None:
    src = fake_source(project, "fuzzy-xor")
    run = run_lab(LAB, LAB.make_config({"from_run": src.id, **SMALL}), project, device="cpu")
    assert "same/ensemble/barrier~strategy/ari" in run.results
    x = run.array("ensemble/data/x")
    assert x.shape == (64, 2) and x.min() >= 0 and x.max() <= 1


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [("missing", "the id of a run"), ("no-checkpoints", "saved checkpoints"),
     ("architectures", "share one architecture")],
)  # fmt: skip
def test_bad_sources_are_config_errors_before_any_folder(project: Project, kind: str,
                                                          fragment: str) -> None:  # fmt: skip
    if kind == "missing":
        ref = "nope"
    elif kind == "no-checkpoints":
        ref = fake_source(project, "toy-tasks", checkpoints=False).id
    else:
        ref = fake_source(project, "toy-tasks", widths=((8, 8), (6, 6))).id
    before = len(project.runs())
    with pytest.raises(ConfigError, match=fragment):
        run_lab(LAB, LAB.make_config({"from_run": ref, **SMALL}), project, device="cpu")
    assert len(project.runs()) == before


def test_config_rejects_unknown_methods_and_foreign_symmetries() -> None:
    with pytest.raises(ConfigError, match="methods"):
        LAB.make_config({"methods": ["weight", "bogus"]})
    with pytest.raises(ConfigError, match="normalize"):
        LAB.make_config({"activation": "tanh", "normalize": "relu-scale"})
    assert LAB.make_config({"activation": "tanh"}).normalization("tanh") == "tanh-sign"


def test_quick_preset_is_small() -> None:
    cfg = LAB.make_config(LAB.preset("quick"))
    assert cfg.seeds * len(cfg.tasks) <= 16 and len(cfg.width_sweep) <= 2


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["missing", "no-checkpoints", "architectures"])
def test_bad_sources_exit_2_with_one_message_in_the_cli(
    project: Project, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    from tests.conftest import COUNTING_LAB, PYTHON, cli_env

    monkeypatch.setenv(
        "WORKBENCH_EXTRA_LABS", f"{COUNTING_LAB},path-dependence=workbench_labs.path_dependence:LAB"
    )
    if kind == "missing":
        ref = "nope"
    elif kind == "no-checkpoints":
        ref = fake_source(project, "toy-tasks", checkpoints=False).id
    else:
        ref = fake_source(project, "toy-tasks", widths=((8, 8), (6, 6))).id
    before = len(project.runs())
    proc = subprocess.run(
        [PYTHON, "-m", "workbench", "run", "path-dependence", "--project", str(project.path),
         "--set", f'from_run="{ref}"', "--device", "cpu"],
        capture_output=True, text=True, env=cli_env(), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "'from_run'" in errors[0]
    assert len(project.runs()) == before  # no run folder


def test_coarser_alpha_grids_can_only_lower_the_barrier(tiny_run: Run) -> None:
    sweep = tiny_run.array("first-bit/alpha_sweep")
    meta = tiny_run.array_meta("first-bit/alpha_sweep")
    assert meta["labels"]["grid"] == ["3", "5", "9"]
    # A subset of the grid gives a max over fewer points, pair by pair: medians are ordered.
    assert np.all(np.diff(sweep, axis=1) >= -1e-12)
    for row, method in enumerate(meta["labels"]["method"]):
        assert sweep[row, -1] == pytest.approx(
            tiny_run.results[f"first-bit/barrier/{method}/median"]
        )
