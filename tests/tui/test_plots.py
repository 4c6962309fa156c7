"""Plots through plotext 6: ticks, sizes, log axes, no-colour markers, the power-law caption."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.measures import power_law_exponent
from workbench.render.plots import (
    Line,
    PlotSpec,
    log_ticks,
    loss_spec,
    nice_ticks,
    render_plot,
    spectrum_spec,
    tick_label,
)
from workbench.render.series import LossCurves


@pytest.mark.parametrize(
    ("lo", "hi", "n"), [(0, 1, 6), (0.013, 0.97, 5), (-3, 1234, 7), (5, 5.5, 4)]
)
def test_nice_ticks_are_round_and_inside_the_range(lo: float, hi: float, n: int) -> None:
    ticks = nice_ticks(lo, hi, n)
    assert 2 <= len(ticks) <= n
    assert all(lo - 1e-9 <= t <= hi + 1e-9 for t in ticks)
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1.0, 2.0, 5.0)
    assert np.allclose(np.diff(ticks), step)


def test_log_ticks_are_decades_or_one_two_five() -> None:
    assert log_ticks(0.003, 2.0) == pytest.approx([0.01, 0.1, 1.0])
    assert log_ticks(2.5, 9.0) == [2.5, 9.0]  # only 5 inside: the two ends instead
    ticks = log_ticks(1.5, 60)
    assert all(1.5 <= t <= 60 for t in ticks) and 10.0 in ticks
    assert len(log_ticks(1e-12, 1e12, 6)) <= 6
    assert log_ticks(-1, 10) == []


def test_tick_label() -> None:
    assert tick_label(0.1) == "0.1"
    assert tick_label(1500.0) == "1500"
    assert tick_label(1e-5) == "1e-5"
    assert tick_label(0.30000000000000004) == "0.3"


def test_render_plot_fills_exactly_the_space_given() -> None:
    x = np.arange(100)
    spec = PlotSpec(lines=(Line(x, np.sin(x / 10), label="sin"),), title="t", x_label="x")
    text = render_plot(spec, 60, 15)
    lines = text.plain.split("\n")
    assert len(lines) == 15
    assert max(len(line) for line in lines) <= 60
    assert lines[-1].strip().startswith("━━ sin")


def test_log_axis_ticks_span_the_data_in_decades() -> None:
    x = np.arange(1, 101, dtype=float)
    spec = PlotSpec(lines=(Line(x, 1.0 / x**2),), log_y=True)
    text = render_plot(spec, 60, 16).plain
    labels = [line.split("┤")[0].strip() for line in text.splitlines() if "┤" in line]
    assert labels[0] == "1" and labels[-1] == "0.0001"
    assert set(labels) >= {"1", "0.01", "0.0001"}


def test_log_axis_drops_non_positive_points_and_says_so() -> None:
    spec = PlotSpec(lines=(Line([1, 2, 3], [1.0, 0.0, 0.1]),), log_y=True)
    assert "1 point <= 0 hidden" in render_plot(spec, 50, 12).plain


def test_the_curve_falls_where_the_data_falls() -> None:
    x = np.arange(0, 50, dtype=float)
    text = render_plot(PlotSpec(lines=(Line(x, -x),)), 50, 14).plain.splitlines()
    rows = [i for i, line in enumerate(text) for ch in line if "\u2800" < ch <= "\u28ff"]
    cols = [line.index(ch) for line in text for ch in line if "\u2800" < ch <= "\u28ff"]
    # A falling line: the leftmost dots sit in the top rows, the rightmost in the bottom ones.
    first = rows[int(np.argmin(cols))]
    last = rows[int(np.argmax(cols))]
    assert first < last


def test_no_color_gives_plain_text_and_distinct_markers() -> None:
    x = np.arange(20)
    spec = PlotSpec(lines=(Line(x, x, label="a"), Line(x, 2 * x, label="b")))
    text = render_plot(spec, 50, 14, mode="none")
    assert all(
        span.style in ("", None) or not getattr(span.style, "color", None) for span in text.spans
    )
    assert "•" in text.plain  # the second series' marker
    assert "•• b" in text.plain


def test_loss_spec_switches_to_median_and_band_with_many_seeds() -> None:
    steps = np.arange(0, 100, 10, dtype=float)
    values = np.vstack([np.exp(-steps / (10 + s)) for s in range(20)])
    curves = LossCurves(steps, values, ("t",) * 20, tuple(range(20)))
    spec = loss_spec(curves, max_lines=8)
    assert len(spec.lines) == 1 and len(spec.bands) == 1
    np.testing.assert_allclose(spec.lines[0].y, np.median(values, axis=0))
    np.testing.assert_allclose(spec.bands[0].lo, np.quantile(values, 0.1, axis=0))
    few = LossCurves(steps, values[:3], ("t",) * 3, (0, 1, 2))
    assert len(loss_spec(few).lines) == 3 and not loss_spec(few).bands
    assert "20 curves" in spec.note


def test_spectrum_spec_draws_the_measured_power_law_fit() -> None:
    lam = 2.0 * np.arange(1, 65, dtype=float) ** -1.3
    fit = power_law_exponent(lam, ranks=(2, 40))
    spec = spectrum_spec(lam[::-1], fit=fit)
    assert spec.log_x and spec.log_y
    data = spec.lines[-1]
    assert data.y[0] == lam.max()  # sorted descending: rank 1 is the largest
    line = spec.lines[0]
    assert line.x[0] == 2 and line.x[-1] == 40
    np.testing.assert_allclose(line.y, 2.0 * line.x**-1.3, rtol=1e-9)
    text = render_plot(spec, 78, 18).plain
    assert "α = 1.3 over ranks 2–40, R² = 1.000" in text
    labels = [line.split("┤")[0].strip() for line in text.splitlines() if "┤" in line]
    assert "1" in labels[0] or "2" in labels[0]


def test_empty_and_tiny_plots_say_why() -> None:
    assert render_plot(PlotSpec(empty_message="nothing"), 50, 10).plain == "nothing"
    spec = PlotSpec(lines=(Line([1, 2], [1, 2]),))
    assert "at least" in render_plot(spec, 10, 3).plain


def test_named_x_positions_are_the_ticks() -> None:
    # Issue 14: mi/by_hook numbered its x axis 0-8 instead of naming the hooks.
    hooks = [f"blocks.{i}.hook_resid_{k}" for i in range(3) for k in ("pre", "mid")]
    spec = PlotSpec(lines=(Line(np.arange(6.0), np.arange(6.0) ** 2),), x_names=tuple(hooks))
    text = render_plot(spec, 80, 16, mode="none").plain
    ticks = next(line for line in text.splitlines() if "0.pre" in line)
    assert ticks.split() == ["0.pre", "0.mid", "1.pre", "1.mid", "2.pre", "2.mid"]
