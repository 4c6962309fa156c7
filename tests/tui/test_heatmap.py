"""The Rich heatmap: every cell's colour and number is the value's, in every colour mode."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console
from rich.text import Text

from workbench.render.colors import get_ramp
from workbench.render.heatmap import LEVEL_CHARS, Heatmap, level_index, normalise, short_labels
from workbench.render.numbers import format_value

CONSOLE = Console(width=120, color_system="truecolor", force_terminal=True, file=io.StringIO())


def cell_text(line: Text, start: int, width: int) -> str:
    return line.plain[start : start + width]


def cell_style(line: Text, offset: int):  # type: ignore[no-untyped-def]
    return line.get_style_at_offset(CONSOLE, offset)


def test_normalise_and_levels() -> None:
    assert normalise(5.0, 0.0, 10.0) == 0.5
    assert normalise(-1.0, 0.0, 10.0) == 0.0  # clipped
    assert normalise(3.0, 3.0, 3.0) == 0.5  # constant matrix: middle of the ramp
    assert np.isnan(normalise(float("nan"), 0.0, 1.0))
    n = len(LEVEL_CHARS)
    # Level k covers [k/n, (k+1)/n); the top value belongs to the top level.
    assert [level_index(k / n) for k in range(n)] == list(range(n))
    assert level_index(1.0) == n - 1
    assert level_index(0.999) == n - 1
    assert level_index(1 / n - 1e-9) == 0


@pytest.mark.parametrize("mode", ["truecolor", "256"])
def test_every_cell_has_the_colour_of_its_value(mode: str) -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(5, 7))
    heatmap = Heatmap(values, mode=mode)  # type: ignore[arg-type]
    lay = heatmap.layout(120, None, mode)  # type: ignore[arg-type]
    lines = list(heatmap.lines(120, None, mode))  # type: ignore[arg-type]
    ramp = get_ramp("viridis")
    vmin, vmax = values.min(), values.max()
    for r in range(5):
        line = lines[1 + r]  # after the column labels
        for c in range(7):
            start = lay.label_width + c * lay.cell_width
            t = (values[r, c] - vmin) / (vmax - vmin)
            assert cell_style(line, start).bgcolor == ramp.color(float(t), mode)  # type: ignore[arg-type]
            if lay.show_numbers:
                shown = cell_text(line, start, lay.cell_width - 1).strip()
                assert shown == format_value(float(values[r, c]), lay.cell_width - 1)
                assert float(shown) == pytest.approx(values[r, c], abs=0.05)


def test_no_color_shows_numbers_when_they_fit() -> None:
    values = np.array([[0.1, 0.25], [0.5, 0.9]])
    lines = [line.plain for line in Heatmap(values).lines(80, None, "none")]
    body = "\n".join(lines[1:3])
    for v in ("0.100", "0.250", "0.500", "0.900"):
        assert v in body
    # No colour anywhere in NO_COLOR mode.
    for line in Heatmap(values).lines(80, None, "none"):
        for span in line.spans:
            style = span.style if not isinstance(span.style, str) else None
            assert style is None or (style.color is None and style.bgcolor is None)


def test_no_color_falls_back_to_level_characters_and_a_legend() -> None:
    values = np.linspace(0, 1, 40).reshape(1, 40)
    heatmap = Heatmap(values)
    lines = list(heatmap.lines(80, None, "none"))
    lay = heatmap.layout(80, None, "none")
    assert not lay.show_numbers
    n_label_lines = heatmap._label_rows(lay.cell_width)
    row = lines[n_label_lines]
    for c in lay.cols:
        start = lay.label_width + (c - lay.cols.start) * lay.cell_width
        glyph = row.plain[start : start + lay.cell_width].strip()[:1]
        assert glyph == LEVEL_CHARS[level_index(normalise(values[0, c], 0.0, 1.0))]
    legend = "\n".join(line.plain for line in lines[n_label_lines + 1 :])
    # Each character's lower edge is listed: level k starts at k/8 of the range.
    for k, ch in enumerate(LEVEL_CHARS):
        assert f"{ch}≥{format_value(k / 8, 5)}" in legend


def test_selected_cell_shows_its_exact_value_and_labels() -> None:
    values = np.arange(12, dtype=float).reshape(3, 4) / 7
    heatmap = Heatmap(
        values,
        row_labels=["a", "b", "c"],
        col_labels=["w", "x", "y", "z"],
        x_label="col",
        y_label="row",
        selected=(2, 1),
    )
    last = list(heatmap.lines(80, None, "truecolor"))[-1].plain
    assert last == f"◆ {values[2, 1]:.6g} at row c × col x"


def test_hook_names_are_abbreviated_on_the_axes_and_whole_for_the_selected_cell() -> None:
    # Issue 14: mi_cross rows read `blocks.0.ho…` three times: pre, mid, post lost.
    hooks = [f"blocks.{i}.hook_resid_{k}" for i in range(2) for k in ("pre", "mid")]
    hooks.append("blocks.1.hook_resid_post")
    assert short_labels(hooks) == ["0.pre", "0.mid", "1.pre", "1.mid", "1.post"]
    assert short_labels(["a.x", "a.x"]) == ["a.x", "a.x"]  # nothing to shorten
    values = np.arange(25, dtype=float).reshape(5, 5)
    heatmap = Heatmap(values, row_labels=hooks, col_labels=hooks, selected=(4, 1))
    lines = [line.plain for line in heatmap.lines(80, None, "truecolor")]
    body = "\n".join(lines)
    assert "1.post" in body and "0.mid" in body and "hook_resid" not in "\n".join(lines[:-1])
    # The value comes first, so even a narrow line keeps it.
    assert lines[-1] == "◆ 21 at row blocks.1.hook_resid_post × col blocks.0.hook_resid_mid"
    narrow = list(heatmap.lines(20, None, "truecolor"))[-1].plain
    assert narrow.startswith("◆ 21 at") and len(narrow) <= 20


def test_scale_shows_the_value_range() -> None:
    values = np.array([[-2.0, 0.0], [1.0, 6.0]])
    lines = [line.plain for line in Heatmap(values).lines(80, None, "truecolor")]
    assert lines[-1].split() == ["-2", "2", "6"]  # low end, middle, high end


def test_large_matrix_shows_a_window_around_the_selection() -> None:
    values = np.arange(100 * 100, dtype=float).reshape(100, 100)
    heatmap = Heatmap(values, x_label="unit", y_label="unit", selected=(90, 80))
    lay = heatmap.layout(80, 24, "truecolor")
    assert 90 in lay.rows and 80 in lay.cols
    lines = list(heatmap.lines(80, 24, "truecolor"))
    assert len(lines) <= 24
    assert all(line.cell_len <= 80 for line in lines)
    assert f"{lay.rows.start}–{lay.rows.stop - 1} of 100" in lines[0].plain


def test_console_rendering_fits_the_width() -> None:
    console = Console(
        width=40, color_system="256", force_terminal=True, file=io.StringIO(), record=True
    )
    console.print(Heatmap(np.eye(30), title="eye", selected=(29, 29)))
    text = console.export_text()
    assert all(len(line) <= 40 for line in text.splitlines())
    assert text.splitlines()[-1].startswith("◆ 1 at")


def test_bad_input_names_the_problem() -> None:
    with pytest.raises(ValueError, match="2-D"):
        Heatmap(np.zeros(3))
    with pytest.raises(ValueError, match="row_labels has 2 labels"):
        Heatmap(np.zeros((3, 3)), row_labels=["a", "b"])


def test_every_visible_column_is_labelled_when_labels_are_wider_than_cells() -> None:
    # Issue 14: at 80 columns only every other column of a 64-seed matrix was labelled.
    n = 64
    heatmap = Heatmap(np.eye(n), selected=(0, 0))
    lay = heatmap.layout(80, 40, "truecolor")
    assert lay.cell_width == 2 and len(lay.cols) > 20
    label_lines = list(heatmap._col_label_lines(lay))
    assert len(label_lines) == 2
    for c in lay.cols:
        start = lay.label_width + (c - lay.cols.start) * lay.cell_width
        found = [line.plain[start : start + len(str(c))] for line in label_lines]
        assert str(c) in found, (c, found)
