"""A run's arrays drawn as its lab's views ask, on a Rich console (``workbench show``)."""

from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from tests.tui.conftest import make_run
from workbench.core.lab import View
from workbench.core.runs import Project
from workbench.render.views import (
    array_heatmap,
    fit_spectrum_exponent,
    matching_arrays,
    renderable_for_view,
)


def printed(renderable: object, *, color: bool = False) -> str:
    console = Console(
        width=90, file=io.StringIO(), color_system="truecolor" if color else None, record=True
    )
    console.print(renderable)
    return console.export_text()


def test_heatmap_view_uses_the_array_metadata(project: Project) -> None:
    run = make_run(project, "20261121-093000-000-aaaa", seeds=3)
    view = View("heatmap", "IR", "ir_seed_seed/*", x_label="seed", y_label="seed")
    assert matching_arrays(run, view) == ["ir_seed_seed/first-bit"]
    heatmap = array_heatmap(run, "ir_seed_seed/first-bit", view)
    assert heatmap.row_labels == ["0", "1", "2"]
    np.testing.assert_allclose(
        heatmap.values, 1 / (1 + np.abs(np.subtract.outer(range(3), range(3))))
    )
    text = printed(renderable_for_view(run, view, "ir_seed_seed/first-bit"))
    assert "↓ seed   → seed" in text and "0.500" in text


def test_signed_matrices_get_a_diverging_scale_centred_on_zero(project: Project) -> None:
    run = make_run(project, "20261121-093000-000-aaaa")
    corr = np.array([[1.0, -0.5], [-0.5, 1.0]])
    np.save(run.path / "arrays" / "corr.npy", corr)
    heatmap = array_heatmap(run, "corr")
    assert heatmap.ramp.name == "coolwarm"
    assert (heatmap.vmin, heatmap.vmax) == (-1.0, 1.0)


def test_spectrum_view_fits_the_power_law(project: Project) -> None:
    run = make_run(project, "20261121-093000-000-aaaa")
    fit = fit_spectrum_exponent(run.array("spectrum/hidden"))
    assert fit is not None and abs(fit.exponent - 1.2) < 1e-9
    text = printed(renderable_for_view(run, View("spectrum", "S", "spectrum/*"), "spectrum/hidden"))
    assert "α = 1.2 over ranks 1–32" in text and "rank k" in text
    assert fit_spectrum_exponent(np.array([1.0, 0.0])) is None  # too few to fit: no line


def test_curve_view(project: Project) -> None:
    run = make_run(project, "20261121-093000-000-aaaa")
    np.save(run.path / "arrays" / "curve.npy", np.linspace(0, 1, 50))
    text = printed(renderable_for_view(run, View("curve", "C", "curve", x_label="epoch"), "curve"))
    assert "epoch" in text and "0.6┤" in text and "  1┤" in text
