"""The channels lab's Gaussian step: trained nets, exact linear MI after training, the
estimators' measured bias and its flags, MINE without null networks, and the capacity view."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.labs.test_channels_lab import TINY
from workbench.core.runner import run_lab
from workbench.core.runs import Project
from workbench.measures import gaussian_mutual_information, mine_mutual_information
from workbench.render.views import array_plot_spec
from workbench_labs.channels import LAB
from workbench_labs.channels import gaussian_report as gr
from workbench_labs.channels.gaussian import (
    GaussianCell,
    GaussianSweep,
    MineSettings,
    linear_information,
    measure_gaussian,
    noisy_last_layer,
    teacher_targets,
)
from workbench_labs.channels.nets import build_ensemble, train

SWEEP = GaussianSweep(
    activations=("linear", "relu"),
    widths=(3,),
    depths=(1, 2),
    seeds=(0, 1),
    dim=3,
    samples=400,
    noise=1.0,
    train_steps=60,
    lr=1e-2,
    data_seed=0,
    task_seed=0,
)
MINE = MineSettings(steps=20, estimators=2, lr=3e-3, batch_size=64)


def test_teacher_is_a_fixed_balanced_sign() -> None:
    x = torch.randn(4000, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = teacher_targets(x, 3)
    assert y.shape == (4000, 1) and set(y.unique().tolist()) == {0.0, 1.0}
    assert abs(float(y.mean()) - 0.5) < 0.03  # P(vᵀx > 0) = 1/2 for symmetric X
    torch.testing.assert_close(teacher_targets(x, 3), y)
    assert not torch.equal(teacher_targets(x, 4), y)
    # Odd in x: flipping every input flips every label.
    torch.testing.assert_close(teacher_targets(-x, 3), 1.0 - y)


def test_trained_linear_nets_keep_an_exact_answer() -> None:
    # After training the net is still linear, so ½ log2 det(I + AAᵀ/σ²) is still the truth:
    # checked against the Gaussian MI of many samples of the trained net's noisy layer.
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(20_000, 3, generator=gen, dtype=torch.float64)
    model = build_ensemble(2, 2, "linear", 1.0, [0], 3, 1)
    before = model.state_dict()["layers.0.weight"].clone()
    train(model, x[:2000].float(), teacher_targets(x[:2000], 0), 100, 1e-2)
    assert not torch.equal(model.state_dict()["layers.0.weight"], before)
    t, sigma = noisy_last_layer(model, x, 1.0, gen)
    exact = linear_information(model, sigma.numpy())[0]
    assert gaussian_mutual_information(x.numpy(), t[0].numpy()) == pytest.approx(exact, abs=0.02)


def test_measure_gaussian_gives_both_stages_and_the_init_stage_is_untrained() -> None:
    cells = measure_gaussian(SWEEP, MINE)
    assert len(cells) == 2 * 2 * 2  # activation × depth × stage
    assert {c.stage for c in cells} == {"init", "trained"}
    for c in cells:
        assert c.ksg.shape == c.mine.shape == (2,)
        assert np.all(np.isfinite(c.exact)) == (c.activation == "linear")
    # The init stage is the freshly built nets: their exact MI does not depend on training.
    init = [c for c in cells if c.activation == "linear" and c.stage == "init"]
    trained = [c for c in cells if c.activation == "linear" and c.stage == "trained"]
    for c in init:
        model = build_ensemble(c.width, c.depth, "linear", 1.0, SWEEP.seeds, SWEEP.dim, 1)
        x = torch.randn(SWEEP.samples, SWEEP.dim, generator=torch.Generator().manual_seed(0))
        _, sigma = noisy_last_layer(model, x.double(), 1.0, torch.Generator().manual_seed(0))
        # σ is the layer's SD on the step's own draw, close to this one's: a loose tolerance.
        np.testing.assert_allclose(c.exact, linear_information(model, sigma.numpy()), atol=0.2)
    assert any(not np.allclose(a.exact, b.exact) for a, b in zip(init, trained, strict=True))


def _cell(act: str, stage: str, width: int, exact: float, ksg: float, mine: float) -> GaussianCell:
    one = np.ones(3)
    return GaussianCell(
        act, width, 1, stage, exact * one, ksg * one, mine * one, mine * one - 0.1, mine * one
    )


def test_linear_bias_is_the_mean_error_on_exact_cells_and_flags_follow_it() -> None:
    cells = [
        _cell("linear", "init", 2, 1.0, 0.7, 0.9),  # KSG -0.3, MINE -0.1
        _cell("linear", "init", 2, 2.0, 1.9, 1.7),  # KSG -0.1, MINE -0.3
        _cell("linear", "trained", 2, 1.0, 1.0, 1.0),  # no error after training
        _cell("relu", "init", 2, math.nan, 0.15, 1.5),  # KSG within |−0.2|; MINE not
        _cell("relu", "trained", 2, math.nan, 0.15, 0.0),  # bias 0: only 0 is "within"
    ]
    biases = gr.linear_bias(cells)
    assert gr.bias_of(biases, "ksg", "init", 2).mean == pytest.approx(-0.2)
    assert gr.bias_of(biases, "mine", "init", 2).mean == pytest.approx(-0.2)
    assert gr.bias_of(biases, "ksg", "init", 2).nets == 6
    assert gr.bias_of(biases, "mine", "trained", 2).mean == pytest.approx(0.0)
    assert gr.flagged(cells, biases) == ["relu/d1/w2/init/ksg", "relu/d1/w2/trained/mine"]
    assert not gr.within_bias(math.nan, 1.0) and not gr.within_bias(0.1, math.nan)
    lines = gr.gaussian_section(cells, biases, 2.0, 1.0)
    assert sum("†" in line for line in lines if line.startswith("| relu")) == 2
    assert "2 of 4" in "\n".join(lines)
    # The rule's multiple m is swept: at 0.5× the KSG 0.15 (bias 0.2) is no longer flagged, at
    # 8× the relu init MINE 1.5 (bias 0.2) is; the summary line shows each count.
    assert gr.flagged(cells, biases, 0.5) == ["relu/d1/w2/trained/mine"]
    assert "relu/d1/w2/init/mine" in gr.flagged(cells, biases, 8.0)
    assert "0.5×: 1, 1×: 2, 2×: 2, 4×: 2" in "\n".join(lines)


def test_side_by_side_puts_init_left_and_trained_right() -> None:
    cells = [_cell("relu", "init", 2, math.nan, 1.0, 0.5), _cell("relu", "trained", 2, 0, 3.0, 1)]
    grid = gr.side_by_side(cells, "relu", "ksg", [1], [2], ref=2.0)
    np.testing.assert_allclose(grid, [[0.5, 1.5]])


def test_mine_without_null_networks_is_the_same_estimator() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(1500, 1, generator=gen, dtype=torch.float64)
    z = 0.6 * x + 0.8 * torch.randn(1500, 1, generator=gen, dtype=torch.float64)
    truth = -0.5 * math.log2(1 - 0.36)
    est = mine_mutual_information(
        x, z, n_estimators=4, hidden=32, steps=300, batch_size=128, null_estimators=False
    )
    assert est.null_estimates.size == 0 and math.isnan(est.bias_at_zero)
    assert est.estimates.shape == (4,)
    assert est.covers(truth), (est.low, est.high, truth)


def test_capacity_curve_x_values_are_the_rates_and_the_run_has_the_gaussian_stages(
    project: Project,
) -> None:
    run = run_lab(LAB, LAB.make_config(TINY), project, device="cpu")
    view = next(v for s in LAB.steps for v in s.views if v.source == "dropout/capacity_curve")
    spec = array_plot_spec(run, "dropout/capacity_curve", view)
    for line in spec.lines:
        np.testing.assert_array_equal(line.x, TINY["dropout_rates"])
    assert "index" not in view.title
    side = run.array("gaussian/relu/ksg_init_vs_trained")
    assert side.shape == (len(TINY["depths"]), 2 * len(TINY["gaussian_widths"]))
    np.testing.assert_array_equal(side[:, :1], run.array("gaussian/relu/ksg"))
    assert run.array("gaussian/bias").shape == (4, len(TINY["gaussian_widths"]))
    # The init-only grid's description names init flags only (it once listed trained ones).
    for act in ("relu", "leaky-relu"):
        for kind in ("ksg", "mine"):
            assert "/trained" not in run.array_meta(f"gaussian/{act}/{kind}")["description"]
    for key in ("gaussian/linear/trained/mine_error_mean", "gaussian/within_bias"):
        assert key in run.results, key
    summary = (run.path / "summary.md").read_text()
    assert "## Gaussian inputs" in summary and "MINE bias" in summary
