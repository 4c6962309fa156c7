"""Colour ramps and colour modes shared by the heatmap and the plots.

A *ramp* maps a normalised value ``t`` in ``[0, 1]`` to an sRGB colour by
piecewise-linear interpolation between stops. The built-in ramps are chosen so
that luminance rises monotonically with ``t`` (viridis-like, magma-like, gray),
which keeps order readable even when a terminal only has 256 colours: Rich
downgrades each colour to the nearest xterm-256 entry, and a monotone-luminance
ramp stays monotone after that rounding (tested in ``tests/tui/test_colors.py``).

Colour modes:

* ``truecolor``: 24-bit colours, as computed.
* ``256``: colours rounded to the xterm-256 palette (what the terminal will show).
* ``none``: no colour at all (``NO_COLOR``); renderers switch to characters and numbers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from rich.color import Color, ColorSystem
from rich.console import Console

__all__ = [
    "RAMPS",
    "ColorMode",
    "Ramp",
    "contrast_text_color",
    "detect_color_mode",
    "get_ramp",
    "parse_hex",
    "relative_luminance",
    "series_colors",
]

ColorMode = Literal["truecolor", "256", "none"]
RGB = tuple[int, int, int]


def parse_hex(text: str) -> RGB:
    """Parse ``"#rrggbb"`` (or ``"rrggbb"``) into an ``(r, g, b)`` triple.

    Raises:
        ValueError: if ``text`` is not six hexadecimal digits.
    """
    digits = text.strip().lstrip("#")
    if len(digits) != 6 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError(f"colour {text!r} is not allowed: use #rrggbb, e.g. #1f9e89")
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def relative_luminance(rgb: RGB) -> float:
    """WCAG relative luminance ``L = 0.2126 R + 0.7152 G + 0.0722 B`` of linearised sRGB.

    Returns:
        A number in ``[0, 1]``: 0 for black, 1 for white.
    """

    def linear(c: int) -> float:
        s = c / 255.0
        # sRGB transfer function (IEC 61966-2-1).
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = rgb
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast_text_color(background: RGB) -> RGB:
    """Black or white, whichever reads better on ``background``.

    The threshold 0.179 is where the WCAG contrast ratio against black equals the
    ratio against white: ``(L + 0.05) / 0.05 = 1.05 / (L + 0.05)``.
    """
    return (0, 0, 0) if relative_luminance(background) > 0.179 else (255, 255, 255)


@dataclass(frozen=True)
class Ramp:
    """A colour ramp: stops evenly spaced on ``[0, 1]``, linearly interpolated.

    Attributes:
        name: Name used in theme files (``heatmap_ramp = "viridis"``).
        stops: At least two ``(r, g, b)`` colours, from ``t = 0`` to ``t = 1``.
    """

    name: str
    stops: tuple[RGB, ...]

    def __post_init__(self) -> None:
        if len(self.stops) < 2:
            raise ValueError(f"ramp {self.name!r} needs at least two stops")

    def rgb(self, t: float) -> RGB:
        """Colour at ``t`` (clipped to ``[0, 1]``)."""
        t = 0.0 if t != t else min(1.0, max(0.0, t))  # NaN maps to the low end
        pos = t * (len(self.stops) - 1)
        i = min(int(pos), len(self.stops) - 2)
        frac = pos - i
        a, b = self.stops[i], self.stops[i + 1]
        return (
            round(a[0] + (b[0] - a[0]) * frac),
            round(a[1] + (b[1] - a[1]) * frac),
            round(a[2] + (b[2] - a[2]) * frac),
        )

    def color(self, t: float, mode: ColorMode = "truecolor") -> Color | None:
        """Rich colour at ``t`` in the given mode (``None`` under ``none``)."""
        if mode == "none":
            return None
        color = Color.from_rgb(*self.rgb(t))
        if mode == "256":
            return color.downgrade(ColorSystem.EIGHT_BIT)
        return color

    def shown_rgb(self, t: float, mode: ColorMode = "truecolor") -> RGB:
        """The colour a terminal in ``mode`` actually shows at ``t`` (for contrast choices)."""
        color = self.color(t, mode)
        if color is None:
            return self.rgb(t)
        triplet = color.get_truecolor()
        return triplet.red, triplet.green, triplet.blue


def _hexes(*codes: str) -> tuple[RGB, ...]:
    return tuple(parse_hex(c) for c in codes)


#: Built-in ramps. Sequential ramps have luminance rising with t; "coolwarm" is
#: diverging (for signed data centred on 0) and is not monotone by design.
RAMPS: Mapping[str, Ramp] = {
    # Sampled from the viridis colour map (van der Walt and Smith, 2015).
    "viridis": Ramp(
        "viridis",
        _hexes(
            "#440154", "#482878", "#3e4989", "#31688e", "#26828e",
            "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725",
        ),
    ),
    # Sampled from the magma colour map (same authors).
    "magma": Ramp(
        "magma",
        _hexes(
            "#000004", "#180f3d", "#440f76", "#721f81", "#9e2f7f",
            "#cd4071", "#f1605d", "#fd9668", "#feca8d", "#fcfdbf",
        ),
    ),
    "gray": Ramp("gray", _hexes("#101010", "#f0f0f0")),
    "coolwarm": Ramp("coolwarm", _hexes("#3b4cc0", "#8db0fe", "#dddddd", "#f49a7b", "#b40426")),
}  # fmt: skip


def get_ramp(name: str) -> Ramp:
    """Look up a built-in ramp by name.

    Raises:
        ValueError: naming the ramps that exist.
    """
    try:
        return RAMPS[name]
    except KeyError:
        raise ValueError(
            f"colour ramp {name!r} is not known: use one of {', '.join(RAMPS)}"
        ) from None


def detect_color_mode(
    console: Console | None = None, environ: Mapping[str, str] | None = None
) -> ColorMode:
    """The colour mode to render for.

    ``NO_COLOR`` set to a non-empty value (https://no-color.org) always gives
    ``none``. Otherwise the console's colour system decides: ``truecolor`` stays
    truecolor, 256/16/8-colour terminals get ``256`` (Rich rounds further down
    when it must), and a console with no colour gives ``none``.
    """
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", ""):
        return "none"
    if console is None:
        return "truecolor"
    if console.no_color or console.color_system is None:
        return "none"
    return "truecolor" if console.color_system == "truecolor" else "256"


def series_colors(codes: Sequence[str]) -> tuple[RGB, ...]:
    """Parse a list of ``#rrggbb`` codes (a theme's plot series colours)."""
    return tuple(parse_hex(c) for c in codes)
