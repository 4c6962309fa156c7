"""Line plots rendered to text through plotext 6: loss curves, spreads, log-log spectra.

A plot is described by a :class:`PlotSpec` (lines, shaded bands, labels, log
axes) and drawn to a :class:`rich.text.Text` of a given size by
:func:`render_plot`. The text prints on a Rich console and inside a Textual
widget alike.

Why plotext 6, wrapped thinly here: it is pinned (``plotext==6.1.0``), its
braille markers give two dots per character, and since 6.0 every figure is an
object of its own. Each call builds a fresh terminal and figure, never plotext's
global ``plotext.figure``, so several panels can render at once without sharing
state. (textual-plotext needs plotext < 6 and is not used.)

The legend is drawn as one caption line under the plot rather than inside the
canvas, where it would hide data on a small terminal.

Log axes are drawn by transforming the data to ``log10`` here and labelling
linear ticks with powers of ten: plotext 6.1's own log scale ignores explicit
tick positions (the limits are computed before the transform), and decade ticks
are what a reader of a spectrum wants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.color import Color, ColorSystem
from rich.style import Style
from rich.text import Text

from workbench.render.colors import RGB, ColorMode
from workbench.render.series import LossCurves, log_positive, seed_spread, thin_indices

__all__ = [
    "Band",
    "Line",
    "PlotPalette",
    "PlotSpec",
    "curve_spec",
    "log_ticks",
    "loss_spec",
    "nice_ticks",
    "render_plot",
    "spectrum_spec",
    "tick_label",
]

#: Markers that tell series apart without colour (NO_COLOR), in order of use.
PLAIN_MARKERS = ("braille", "•", "+", "x", "o", "*", "#", "=")
MIN_WIDTH = 20
MIN_HEIGHT = 6


@dataclass(frozen=True)
class PlotPalette:
    """Colours of a plot, from the theme.

    Attributes:
        series: Colours given to successive lines (seeds or groups).
        band: Colour of a shaded spread band (drawn with ``░``).
        fit: Colour of a fitted line.
    """

    series: tuple[RGB, ...] = (
        (86, 180, 233),
        (230, 159, 0),
        (0, 158, 115),
        (204, 121, 167),
        (240, 228, 66),
        (0, 114, 178),
        (213, 94, 0),
        (170, 170, 170),
    )  # the Okabe–Ito palette, distinguishable with the common colour-vision deficiencies
    band: RGB = (110, 110, 110)
    fit: RGB = (230, 80, 80)

    def series_color(self, i: int) -> RGB:
        """Colour of the ``i``-th series, cycling."""
        return self.series[i % len(self.series)]


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class Line:
    """A line (or scatter) to draw.

    Attributes:
        x: ``(n,)`` x values.
        y: ``(n,)`` y values.
        label: Legend text; empty leaves it out of the legend.
        color: Colour, or ``None`` for the next palette colour.
        points: Draw markers only, without connecting lines.
    """

    x: Any
    y: Any
    label: str = ""
    color: RGB | None = None
    points: bool = False


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class Band:
    """A shaded band between two curves (a spread across seeds).

    Attributes:
        x: ``(n,)`` x values.
        lo: ``(n,)`` lower edge.
        hi: ``(n,)`` upper edge.
        label: Legend text.
        color: Colour, or ``None`` for the palette's band colour.
    """

    x: Any
    lo: Any
    hi: Any
    label: str = ""
    color: RGB | None = None


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class PlotSpec:
    """Everything needed to draw a plot, independent of its size.

    Attributes:
        lines: Lines, drawn in order (later on top).
        bands: Shaded bands, drawn under the lines.
        title: Title line.
        x_label: Label of the x axis.
        y_label: Label of the y axis (shown in the title line: a rotated label
            would cost a column of a small terminal).
        log_x: Logarithmic x axis.
        log_y: Logarithmic y axis.
        note: A caption under the legend (e.g. the fitted exponent).
        x_names: Names of the x positions ``0, 1, ...`` (e.g. hook names), shown as
            the x ticks instead of numbers.
    """

    lines: tuple[Line, ...] = ()
    bands: tuple[Band, ...] = ()
    title: str = ""
    x_label: str = ""
    y_label: str = ""
    log_x: bool = False
    log_y: bool = False
    note: str = ""
    empty_message: str = "no data yet"
    x_names: tuple[str, ...] = ()


def nice_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[float]:
    """Round tick positions within ``[lo, hi]``: multiples of 1, 2 or 5 times a power of ten.

    The step is the smallest "nice" step giving at most ``max_ticks`` ticks.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or max_ticks < 1:
        return []
    lo, hi = min(lo, hi), max(lo, hi)
    if hi == lo:
        return [lo]
    raw = (hi - lo) / max(1, max_ticks - 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        step = m * magnitude
        first = math.ceil(lo / step - 1e-9)
        last = math.floor(hi / step + 1e-9)
        if last - first + 1 <= max_ticks:
            # Round away float noise such as 0.30000000000000004.
            return [round(k * step, 12) for k in range(first, last + 1)]
    return [lo, hi]  # pragma: no cover - the 10x step always fits


def tick_label(value: float) -> str:
    """Shortest faithful label of a tick value: ``0.1``, ``1500``, ``1e-5``.

    Tick values come from :func:`nice_ticks`/:func:`log_ticks`, so six significant
    digits always show them exactly.
    """
    text = f"{value:.6g}"
    if "e" in text:
        mantissa, _, exponent = text.partition("e")
        sign = "-" if exponent.startswith("-") else ""
        text = f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    return text


def log_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[float]:
    """Tick values for a log axis spanning ``[lo, hi]`` (both > 0).

    Decades (``1e-3, 1e-2, ...``) when the range holds at least three of them;
    otherwise ``1, 2, 5`` times the decades; otherwise the two ends. Thinned to
    at most ``max_ticks`` by keeping every k-th decade.
    """
    if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
        return []
    lo, hi = min(lo, hi), max(lo, hi)
    # Tolerate float noise at the ends (10**log10(x) is not always exactly x).
    lo_t, hi_t = lo * (1 - 1e-9), hi * (1 + 1e-9)
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    ticks = [10.0**e for e in range(first, last + 1) if lo_t <= 10.0**e <= hi_t]
    if len(ticks) < 3:
        ticks = [
            m * 10.0**e
            for e in range(first, last + 1)
            for m in (1, 2, 5)
            if lo_t <= m * 10.0**e <= hi_t
        ]
    if len(ticks) < 2:
        ticks = [lo, hi]
    if len(ticks) > max_ticks:
        step = math.ceil(len(ticks) / max_ticks)
        ticks = ticks[::step]
    return ticks


def render_plot(
    spec: PlotSpec,
    width: int,
    height: int,
    *,
    mode: ColorMode = "truecolor",
    palette: PlotPalette | None = None,
) -> Text:
    """Draw ``spec`` into ``width`` × ``height`` characters.

    The last one or two lines hold the legend and the note; the plot takes the rest.

    Args:
        spec: What to draw.
        width: Characters per line.
        height: Lines, legend included.
        mode: ``truecolor``, ``256`` or ``none`` (``NO_COLOR``: no colour, and each
            series gets its own marker character instead).
        palette: Colours (default :class:`PlotPalette`).
    """
    palette = palette or PlotPalette()
    data = _prepare(spec, max_points=max(2, width))
    if data is None:
        return Text(spec.empty_message, style="dim")
    note = spec.note
    if data.dropped:
        hidden = f"{data.dropped} point{'s' if data.dropped > 1 else ''} <= 0 hidden (log axis)"
        note = f"{note}; {hidden}" if note else hidden
    caption = _caption(spec, note, palette, mode, width)
    plot_height = height - len(caption)
    if width < MIN_WIDTH or plot_height < MIN_HEIGHT:
        return Text(f"(plot needs at least {MIN_WIDTH}×{MIN_HEIGHT + len(caption)} characters)")
    fig = _new_figure(width, plot_height)
    fig.theme("colorless")  # frame and labels take the widget's own text colour
    fig.canvas("default")  # transparent: the widget's background shows through
    fig.legend(False)
    title = spec.title
    if spec.y_label:
        title = f"{title}  ({spec.y_label})" if title else spec.y_label
    if title:
        fig.title(title)
    if spec.x_label:
        fig.label(spec.x_label, "x")
    import plotext  # lazily: importing plotext takes ~1 s, and the first screen draws no plot

    for i, (x, lo, hi) in enumerate(data.bands):
        if not x:
            continue
        pixel = _pixel(spec.bands[i].color or palette.band, mode)
        lo_sig = fig.signal(x, lo, marker=plotext.marker("░", pixel))
        hi_sig = fig.signal(x, hi, marker=plotext.marker("░", pixel))
        hi_sig.fill(lo_sig)
        fig.draw(hi_sig)
        fig.draw(lo_sig)
    colours = _assign_colours(spec, palette)
    import plotext  # lazily: importing plotext takes ~1 s, and the first screen draws no plot

    for i, (x, y) in enumerate(data.lines):
        if not x:
            continue
        symbol = "braille" if mode != "none" else PLAIN_MARKERS[i % len(PLAIN_MARKERS)]
        sig = fig.signal(x, y, marker=plotext.marker(symbol, _pixel(colours[i], mode)))
        if not spec.lines[i].points:
            sig.lines()
        fig.draw(sig)
    x_ticks = max(2, width // 12)
    y_ticks = max(2, plot_height // 3)
    _set_axis(fig, "x", data.x_range, spec.log_x, x_ticks)
    if spec.x_names and not spec.log_x:
        _name_ticks(fig, spec.x_names, width)
    _set_axis(fig, "y", data.y_range, spec.log_y, y_ticks)
    body = fig.build().string(colorless=(mode == "none"))
    text = Text.from_ansi(body, no_wrap=True)
    text.rstrip()
    for line in caption:
        text.append("\n")
        text.append_text(line)
    return text


# --- builders ----------------------------------------------------------------------------------


def loss_spec(
    curves: LossCurves,
    *,
    log_y: bool = True,
    max_lines: int = 8,
    q: tuple[float, float] = (0.1, 0.9),
    title: str = "loss",
) -> PlotSpec:
    """Loss curves: every seed when there are few, else median and spread per group.

    With at most ``max_lines`` series each gets its own line. With more, each
    group (task) is drawn as its median across seeds with a shaded band from the
    ``q[0]`` to the ``q[1]`` quantile (see :func:`workbench.render.series.seed_spread`).
    """
    if curves.n_series == 0 or curves.steps.size == 0:
        return PlotSpec(
            title=title, x_label="step", log_y=log_y, empty_message="no loss logged yet"
        )
    groups = curves.group_names()
    lines: list[Line] = []
    bands: list[Band] = []
    if curves.n_series <= max_lines:
        for i in range(curves.n_series):
            group = f"{curves.groups[i]} " if len(groups) > 1 else ""
            lines.append(
                Line(curves.steps, curves.values[i], label=f"{group}seed {curves.seeds[i]}")
            )
        note = ""
    else:
        for group in groups:
            spread = seed_spread(curves.group_values(group), q)
            name = f"{group} " if group else ""
            bands.append(Band(curves.steps, spread.lo, spread.hi, label=f"{name}{_pct(q)}"))
            lines.append(Line(curves.steps, spread.median, label=f"{name}median"))
        note = f"{curves.n_series} curves: median and {_pct(q)} band across seeds"
    return PlotSpec(
        lines=tuple(lines),
        bands=tuple(bands),
        title=title + (" (log)" if log_y else ""),
        x_label="step",
        log_y=log_y,
        note=note,
    )


def spectrum_spec(
    eigenvalues: Any,
    *,
    fit: Any = None,
    title: str = "eigenspectrum",
) -> PlotSpec:
    """Eigenvalues against rank on log-log axes, with the fitted power law if given.

    Args:
        eigenvalues: ``(n,)`` eigenvalues; sorted descending here (rank 1 is the largest).
        fit: A :class:`workbench.measures.PowerLawFit` (``exponent`` α, ``log_prefactor``
            ln c, ``first_rank``, ``last_rank``, ``r_squared``) of ``λ_k ≈ c k^(-α)``;
            the line ``c k^(-α)`` is drawn over the fitted ranks.
        title: Title line.
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64).ravel())[::-1]
    ranks = np.arange(1, lam.size + 1, dtype=np.float64)
    lines = [Line(ranks, lam, label="eigenvalues")]
    note = ""
    if fit is not None and math.isfinite(fit.exponent):
        k = np.arange(fit.first_rank, fit.last_rank + 1, dtype=np.float64)
        line = np.exp(fit.log_prefactor) * k ** (-fit.exponent)
        # The fit goes first so the measured spectrum is drawn on top of it.
        lines.insert(0, Line(k, line, label=f"fit k^-{fit.exponent:.3g}", color=_FIT))
        note = (
            f"power law λ_k ∝ k^(-α): α = {fit.exponent:.4g} over ranks "
            f"{fit.first_rank}–{fit.last_rank}, R² = {fit.r_squared:.3f}"
        )
    return PlotSpec(
        lines=tuple(lines),
        title=title,
        x_label="rank k",
        y_label="λ_k",
        log_x=True,
        log_y=True,
        note=note,
        empty_message="no positive eigenvalues",
    )


def curve_spec(
    array: Any,
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    labels: Sequence[str] | None = None,
    log_y: bool = False,
    x: Sequence[float] | None = None,
) -> PlotSpec:
    """A 1-D array as one curve, or a 2-D array as one curve per row.

    ``x`` gives the x value of each column (e.g. the training step); by default the index. A
    ``(3, n)`` array whose ``labels`` are ``p10, median, p90`` is drawn as the median line
    over a 10–90% band.
    """
    arr = np.asarray(array, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"a curve needs a 1-D or 2-D array; got shape {arr.shape}")
    xs = (
        np.asarray(x, dtype=np.float64)
        if x is not None and len(x) == arr.shape[1]
        else np.arange(arr.shape[1], dtype=np.float64)
    )
    if labels is not None and list(labels) == ["p10", "median", "p90"]:
        return PlotSpec(
            lines=(Line(xs, arr[1], label="median"),),
            bands=(Band(xs, arr[0], arr[2], label="10–90%"),),
            title=title,
            x_label=x_label,
            y_label=y_label,
            log_y=log_y,
        )
    names = list(labels) if labels is not None else [str(i) for i in range(arr.shape[0])]
    lines = tuple(
        Line(xs, arr[i], label=names[i] if arr.shape[0] > 1 and i < len(names) else "")
        for i in range(arr.shape[0])
    )
    return PlotSpec(lines=lines, title=title, x_label=x_label, y_label=y_label, log_y=log_y)


# --- internals ---------------------------------------------------------------------------------

#: Marker colour meaning "use the palette's fit colour".
_FIT: RGB = (-1, -1, -1)


def _pct(q: tuple[float, float]) -> str:
    return f"{round(q[0] * 100)}–{round(q[1] * 100)}%"


def _new_figure(width: int, height: int) -> Any:
    """A fresh plotext figure of its own, never the global ``plotext.figure``.

    plotext 6 exposes the terminal and figure classes only through its global
    instances, so they are reached through ``type(...)``. The size limit is
    switched off: the figure's size is the widget's, not the real terminal's.
    """
    import plotext  # lazily, see render_plot

    terminal = type(plotext.terminal)()
    terminal.limit(False, False)
    fig = type(plotext.figure)(parent=terminal)
    fig.plot_size(width, height)
    return fig


def _pixel(rgb: RGB, mode: ColorMode) -> Any:
    if mode == "none":
        return None
    if mode == "256":
        number = Color.from_rgb(*rgb).downgrade(ColorSystem.EIGHT_BIT).number
        return number if number is not None else rgb
    return rgb


def _assign_colours(spec: PlotSpec, palette: PlotPalette) -> list[RGB]:
    colours = []
    auto = 0
    for line in spec.lines:
        if line.color == _FIT:
            colours.append(palette.fit)
        elif line.color is not None:
            colours.append(line.color)
        else:
            colours.append(palette.series_color(auto))
            auto += 1
    return colours


@dataclass(frozen=True)
class _Prepared:
    """Data ready for plotext: transformed to log10 where asked, thinned, with ranges."""

    lines: list[tuple[list[float], list[float]]]
    bands: list[tuple[list[float], list[float], list[float]]]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    dropped: int


def _prepare(spec: PlotSpec, max_points: int) -> _Prepared | None:
    """Drop what the axes cannot show, go to log10 space, thin, and find the ranges.

    Returns ``None`` when nothing drawable is left. Lines and bands keep their
    positions (an emptied one stays as empty lists) so colours stay assigned.
    """
    lines: list[tuple[list[float], list[float]]] = []
    bands: list[tuple[list[float], list[float], list[float]]] = []
    xs: list[np.ndarray[Any, Any]] = []
    ys: list[np.ndarray[Any, Any]] = []
    dropped = 0
    for line in spec.lines:
        x, y, n_bad = log_positive(line.x, line.y, log_x=spec.log_x, log_y=spec.log_y)
        dropped += n_bad
        x, y = _to_axes(x, spec.log_x), _to_axes(y, spec.log_y)
        idx = thin_indices(x.size, max_points, log=spec.log_x)
        xs.append(x)
        ys.append(y)
        lines.append((x[idx].tolist(), y[idx].tolist()))
    for band in spec.bands:
        x = np.asarray(band.x, dtype=np.float64)
        lo = np.asarray(band.lo, dtype=np.float64)
        hi = np.asarray(band.hi, dtype=np.float64)
        keep = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
        if spec.log_x:
            keep &= x > 0
        if spec.log_y:
            keep &= (lo > 0) & (hi > 0)
        x = _to_axes(x[keep], spec.log_x)
        lo, hi = _to_axes(lo[keep], spec.log_y), _to_axes(hi[keep], spec.log_y)
        idx = thin_indices(x.size, max_points, log=spec.log_x)
        xs.append(x)
        ys.extend((lo, hi))
        bands.append((x[idx].tolist(), lo[idx].tolist(), hi[idx].tolist()))
    all_x = np.concatenate(xs) if xs else np.zeros(0)
    all_y = np.concatenate(ys) if ys else np.zeros(0)
    if all_x.size == 0 or all_y.size == 0:
        return None
    return _Prepared(lines, bands, _span(all_x), _span(all_y), dropped)


def _to_axes(values: np.ndarray[Any, Any], log: bool) -> np.ndarray[Any, Any]:
    return np.log10(values) if log else values


def _span(values: np.ndarray[Any, Any]) -> tuple[float, float]:
    """The range of the values, widened around a single value so the axis has a length."""
    lo, hi = float(values.min()), float(values.max())
    if hi - lo <= 1e-12 * max(1.0, abs(lo)):
        pad = 0.5 if lo == 0 else abs(lo) * 0.05
        return lo - pad, hi + pad
    return lo, hi


def _set_axis(fig: Any, axis: str, span: tuple[float, float], log: bool, n_ticks: int) -> None:
    """Limits and labelled ticks of one axis (in log10 units when ``log``)."""
    lo, hi = span
    ruler = fig.ruler(axis)
    ruler.lim(lo, hi)
    if log:
        values = log_ticks(10.0**lo, 10.0**hi, n_ticks)
        positions = [math.log10(v) for v in values]
    else:
        values = nice_ticks(lo, hi, n_ticks)
        positions = values
    if positions:
        ruler.ticks(positions, [tick_label(v) for v in values])


def _name_ticks(fig: Any, names: Sequence[str], width: int) -> None:
    """Named x ticks at ``0, 1, ...``: every k-th, so each label has room (k = ⌈n·w / width⌉)."""
    from workbench.render.heatmap import short_labels

    shown = short_labels(list(names))
    room = max(1, max(len(n) for n in shown) + 1)
    step = max(1, math.ceil(len(shown) * room / max(1, width - 8)))
    positions = list(range(0, len(shown), step))
    fig.ruler("x").ticks(positions, [shown[i] for i in positions])


def _caption(
    spec: PlotSpec, note: str, palette: PlotPalette, mode: ColorMode, width: int
) -> list[Text]:
    """The legend line (and the note line) under the plot."""
    out: list[Text] = []
    legend = Text(no_wrap=True, overflow="ellipsis")
    for band in spec.bands:
        if band.label:
            style = _style(band.color or palette.band, mode)
            legend.append("░░", style=style)
            legend.append(f" {band.label}  ")
    colours = _assign_colours(spec, palette)
    for i, line in enumerate(spec.lines):
        if line.label:
            glyph = "━━" if mode != "none" else _plain_glyph(i) * 2
            legend.append(glyph, style=_style(colours[i], mode))
            legend.append(f" {line.label}  ")
    if legend.plain.strip():
        legend.rstrip()
        legend.truncate(width, overflow="ellipsis")
        out.append(legend)
    if note:
        out.append(Text(note, style="dim", no_wrap=True, overflow="ellipsis"))
        out[-1].truncate(width, overflow="ellipsis")
    return out


def _plain_glyph(i: int) -> str:
    marker = PLAIN_MARKERS[i % len(PLAIN_MARKERS)]
    return "⣿" if marker == "braille" else marker


def _style(rgb: RGB, mode: ColorMode) -> Style:
    if mode == "none":
        return Style()
    color = Color.from_rgb(*rgb)
    if mode == "256":
        color = color.downgrade(ColorSystem.EIGHT_BIT)
    return Style(color=color)
