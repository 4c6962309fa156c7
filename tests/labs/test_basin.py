"""The basin lab: a tiny end-to-end run, from_run sources, bad input, and its statistics."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import PYTHON, cli_env
from workbench.core.errors import ConfigError
from workbench.core.runner import run_lab
from workbench.core.runs import Project, Run, init_project
from workbench.measures import entropy
from workbench_labs.basin import LAB
from workbench_labs.basin.analysis import (
    BROADNESS,
    broader_claim,
    compare_groups,
    correlate,
    stores_less_claim,
)
from workbench_labs.basin.compression import batched_entropy

TINY: dict[str, Any] = {
    "n_bits": 3,
    "seeds": 5,
    "widths": [4, 4],
    "steps": 1500,
    "loss_threshold": 1e-4,
    "chains": 2,
    "draws": 60,
    "burn_in": 10,
    "sweep_seeds": 3,
    "sweep_chains": 2,
    "step_sweep": [1e-5],
    "nbeta_sweep": [100.0],
    "localization_sweep": [],
    "directions": 8,
    "calibration_draws": 200,
    "n_permutations": 99,
    "eps_sweep": [1e-4, 1e-2],
    "threshold_sweep": [0.1],
    "floor_sweep": [1e-3],
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, Run]:
    project = init_project(tmp_path_factory.mktemp("basin") / "proj", name="basin-test")
    run = run_lab(LAB, LAB.make_config(TINY), project, device="cpu")
    return project, run


def test_tiny_run_completes_and_round_trips(tiny: tuple[Project, Run]) -> None:
    project, run = tiny
    again = project.run(run.id)
    assert again.status == "completed"
    same = {k: v for k, v in run.results.items() if v == v}  # NaN != NaN: compare the rest
    assert {k: v for k, v in again.results.items() if v == v} == same
    assert set(again.results) == set(run.results)
    r = again.results
    for key in (
        "calibration/passed",
        "verdict/broader/verdict",
        "verdict/stores_less/verdict",
        "summary/finding",
        "first-bit/llc/median",
        "random-lookup/hessian/trace/median",
        "calibration/llc/normal_crossing_1_2/truth",
        "family/broader/family_size",
    ):
        assert key in r, key
    assert r["calibration/llc/normal_crossing_1_2/truth"] == 0.25
    assert r["calibration/llc/regular_d6/truth"] == 3.0
    assert r["calibration/hessian/quadratic_eigenvalues/ok"] is True
    names = set(again.array_names())
    assert {
        "first-bit/hessian/eigenvalues",
        "first-bit/llc/trace",
        "hessian/spectrum/first-bit",
        "first-bit/volume/log_volume",
        "first-bit/entropy",
    } <= names
    n = int(r["first-bit/nets/trained"])
    assert again.array("first-bit/hessian/eigenvalues").shape == (n, 4 * 4 + 4 * 5 + 5)
    assert again.array("first-bit/llc/chains").shape == (n, 2)
    summary = (again.path / "summary.md").read_text()
    assert "## Calibration" in summary and r["verdict/broader/verdict"] in summary
    assert any(m.get("live/llc") is not None for m in again.metric_records(0)[0])


def test_scatter_and_band_spectrum_render_at_80_columns(tiny: tuple[Project, Run]) -> None:
    from workbench.render.plots import render_plot
    from workbench.render.views import array_plot_spec

    _, run = tiny
    scatter = next(v for s in LAB.steps for v in s.views if v.kind == "scatter")
    name = next(n for n in run.array_names() if n.startswith("scatter/llc"))
    text = render_plot(array_plot_spec(run, name, scatter), 80, 20, mode="none").plain
    assert "first-bit" in text and "random-lookup" in text
    assert max(len(line) for line in text.splitlines()) <= 80
    spectrum = next(v for s in LAB.steps for v in s.views if v.kind == "spectrum")
    spec = array_plot_spec(run, "hessian/spectrum/first-bit", spectrum)
    assert spec.log_x and spec.log_y and len(spec.bands) == 1


def test_from_run_measures_the_source_runs_nets(tiny: tuple[Project, Run]) -> None:
    project, source = tiny
    cfg = LAB.make_config({**TINY, "from_run": source.id})
    run = run_lab(LAB, cfg, project, device="cpu")
    assert run.results["nets/source"] == f"basin run {source.id}"
    # The very same nets: the same Hessian spectra.
    np.testing.assert_allclose(
        run.array("first-bit/hessian/eigenvalues"),
        source.array("first-bit/hessian/eigenvalues"),
        atol=1e-9,
    )


def _fake_toy_run(project: Project, checkpoints: bool) -> str:
    writer = project.create_run(
        lab="toy-tasks", config={"tasks": ["first-bit"], "n_bits": 3}, device="cpu", seeds=(0, 1)
    )
    writer.finish("interrupted")
    assert not checkpoints
    return writer.id


@pytest.mark.parametrize(
    ("sets", "fragment"),
    [
        (['from_run="nope"'], "'from_run'"),
        pytest.param(['from_run="{counting}"'], "'from_run'", marks=pytest.mark.slow),
        (['from_run="{empty}"'], "saved checkpoints"),
        (["threshold=0"], "'threshold'"),
        pytest.param(["threshold=-1e-3"], "'threshold'", marks=pytest.mark.slow),
        (["nbeta=0"], "'nbeta'"),
        pytest.param(["nbeta=-5"], "'nbeta'", marks=pytest.mark.slow),
    ],
)
def test_bad_input_exits_2_with_one_message(tmp_path: Path, sets: list[str], fragment: str) -> None:
    from tests.fixtures.counting_lab import LAB as COUNTING

    project = init_project(tmp_path / "p", name="bad")
    counting = run_lab(COUNTING, COUNTING.make_config({}), project, device="cpu").id
    empty = _fake_toy_run(project, checkpoints=False)
    before = len(project.runs())
    args = [
        PYTHON,
        "-m",
        "workbench",
        "run",
        "basin",
        "--project",
        str(project.path),
        "--device",
        "cpu",
    ]
    for s in sets:
        args += ["--set", s.format(counting=counting, empty=empty)]
    proc = subprocess.run(args, capture_output=True, text=True, env=cli_env(), timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], proc.stderr
    assert len(project.runs()) == before  # no run folder was made


def test_config_rejects_a_threshold_below_the_trained_loss_and_equal_tasks() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        LAB.make_config({"threshold": 1e-6, "loss_threshold": 1e-5})
    with pytest.raises(ConfigError, match="complex_task"):
        LAB.make_config({"simple_task": "parity", "complex_task": "parity"})


def test_quick_preset_is_small() -> None:
    cfg = LAB.make_config(LAB.preset("quick"))
    assert cfg.seeds * len(cfg.tasks) <= 24 and cfg.draws + cfg.burn_in <= 400


def test_batched_entropy_equals_the_measures_entropy() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 5, size=(7, 32))
    ours = batched_entropy(codes)
    ref = [entropy(row) for row in codes]
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    assert batched_entropy(np.arange(32)[None, :])[0] == pytest.approx(5.0)


# --- planted null and planted effect for both claims --------------------------------------------


def _broadness_groups(rng: np.random.Generator, shift: float, n: int = 12) -> list[Any]:
    out = []
    for measure, sign in BROADNESS.items():
        a = rng.normal(size=n) + sign * shift  # shift > 0: the simple task is broader
        b = rng.normal(size=n)
        out.append(
            compare_groups(measure, a, b, sign, n_permutations=199, seed=int(rng.integers(1 << 30)))
        )
    return out


def test_broader_claim_planted_null_is_rejected_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(1)
    words = [broader_claim(_broadness_groups(rng, 0.0), 0.05)[0].word for _ in range(150)]
    false_positive = np.mean([w != "not established" for w in words])
    assert false_positive <= 0.10, false_positive  # Holm keeps the family-wise rate at 5%


def test_broader_claim_planted_effect_is_detected_and_signed() -> None:
    rng = np.random.default_rng(2)
    words = [broader_claim(_broadness_groups(rng, 2.0), 0.05)[0].word for _ in range(20)]
    assert np.mean([w == "supported" for w in words]) >= 0.9
    words = [broader_claim(_broadness_groups(rng, -2.0), 0.05)[0].word for _ in range(20)]
    assert np.mean([w == "refuted" for w in words]) >= 0.9


def _correlations(rng: np.random.Generator, coupling: float, n: int = 20) -> list[Any]:
    base = rng.normal(size=n)
    # The oriented broadness of every measure is `base`; entropy falls with it when coupling > 0.
    measures = {m: sign * base for m, sign in BROADNESS.items()}
    h = np.stack([-coupling * base + rng.normal(size=n), rng.normal(size=n)], axis=1)
    return correlate(
        "t", measures, h, ["layer1", "layer2"], n_permutations=199, seed=int(rng.integers(1 << 30))
    )


def test_stores_less_planted_null_and_planted_effect() -> None:
    rng = np.random.default_rng(3)
    null = [stores_less_claim(_correlations(rng, 0.0), 0.05)[0].word for _ in range(100)]
    assert np.mean([w != "not established" for w in null]) <= 0.12
    planted = [stores_less_claim(_correlations(rng, 2.0), 0.05)[0].word for _ in range(20)]
    assert np.mean([w == "supported" for w in planted]) >= 0.9


def test_calibration_miss_is_named_in_the_verdict() -> None:
    rng = np.random.default_rng(4)
    verdict, _ = broader_claim(
        _broadness_groups(rng, 2.0),
        0.05,
        calibration_note="calibration missed 1 of 8 checks: llc/x",
    )
    assert "calibration missed" in verdict.reason


@pytest.mark.gpu
def test_tiny_run_on_cuda_matches_the_cpu_hessians(tiny: tuple[Project, Run]) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    project, cpu_run = tiny
    run = run_lab(LAB, LAB.make_config({**TINY, "from_run": cpu_run.id}), project, device="cuda")
    assert run.info["device"].startswith("cuda")
    np.testing.assert_allclose(
        run.array("first-bit/hessian/eigenvalues"),
        cpu_run.array("first-bit/hessian/eigenvalues"),
        atol=1e-6,
    )
    for name in (
        "quadratic_eigenvalues",
        "closed_form_vs_autodiff",
        "closed_form_vs_finite_differences",
    ):
        assert run.results[f"calibration/hessian/{name}/ok"] is True


def test_lanczos_path_of_the_lab_matches_its_dense_path(tiny: tuple[Project, Run]) -> None:
    """With as many Lanczos steps as parameters, the Ritz values are the whole spectrum."""
    import torch

    from workbench.core.ensemble import ensemble_from_state_dict
    from workbench.core.tasks import all_inputs
    from workbench_labs.basin.curvature import measure_curvature
    from workbench_labs.basin.nets import TaskNets

    _, run = tiny
    model = ensemble_from_state_dict(run.checkpoint("first-bit"), "relu").select([0, 1])
    targets = torch.as_tensor(run.array("first-bit/train/targets"), dtype=torch.float32)
    nets = TaskNets("first-bit", model, targets.unsqueeze(1), np.ones(2, bool), np.zeros(2))
    p = model.params.shape[1]
    x = all_inputs(3)
    dense = measure_curvature(LAB.make_config({**TINY, "hessian": "dense"}), nets, x)
    ritz = measure_curvature(
        LAB.make_config({**TINY, "hessian": "lanczos", "lanczos_steps": p}), nets, x
    )
    assert dense.method == "dense" and ritz.method == "lanczos"
    np.testing.assert_allclose(ritz.eigenvalues, dense.eigenvalues, atol=1e-7)
    np.testing.assert_allclose(ritz.trace, dense.trace, atol=1e-6)
