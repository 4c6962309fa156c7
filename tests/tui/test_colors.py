"""Colour ramps: exact stops, monotone luminance in truecolor and 256 colours, contrast."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from rich.console import Console

from workbench.render.colors import (
    RAMPS,
    contrast_text_color,
    detect_color_mode,
    get_ramp,
    parse_hex,
    relative_luminance,
)

SEQUENTIAL = ("viridis", "magma", "gray")


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio (L1 + 0.05) / (L2 + 0.05), the larger luminance on top."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def test_parse_hex_round_trips_and_rejects_bad_codes() -> None:
    assert parse_hex("#1f9e89") == (0x1F, 0x9E, 0x89)
    assert parse_hex("FFFFFF") == (255, 255, 255)
    with pytest.raises(ValueError, match="#rrggbb"):
        parse_hex("#12345")
    with pytest.raises(ValueError, match="#rrggbb"):
        parse_hex("#gg0000")


def test_luminance_known_values() -> None:
    # WCAG: black is 0, white is 1, and pure green carries 0.7152 of the weight.
    assert relative_luminance((0, 0, 0)) == 0.0
    assert relative_luminance((255, 255, 255)) == pytest.approx(1.0)
    assert relative_luminance((0, 255, 0)) == pytest.approx(0.7152)


@pytest.mark.parametrize("name", list(RAMPS))
def test_ramp_hits_its_stops_exactly(name: str) -> None:
    ramp = RAMPS[name]
    n = len(ramp.stops)
    for i, stop in enumerate(ramp.stops):
        assert ramp.rgb(i / (n - 1)) == stop
    # Out of range values clip to the ends; NaN goes to the low end.
    assert ramp.rgb(-3.0) == ramp.stops[0]
    assert ramp.rgb(7.0) == ramp.stops[-1]
    assert ramp.rgb(float("nan")) == ramp.stops[0]


def test_ramp_interpolates_linearly_between_stops() -> None:
    gray = get_ramp("gray")
    (r0, _, _), (r1, _, _) = gray.stops
    assert gray.rgb(0.25)[0] == round(r0 + 0.25 * (r1 - r0))


@pytest.mark.parametrize("name", SEQUENTIAL)
@pytest.mark.parametrize("mode", ["truecolor", "256"])
def test_sequential_ramps_keep_order_in_truecolor_and_256_colours(name: str, mode: str) -> None:
    """Readable in 256-colour terminals: luminance never falls as the value rises."""
    ramp = RAMPS[name]
    ts = np.linspace(0, 1, 11)
    lum = [relative_luminance(ramp.shown_rgb(float(t), mode)) for t in ts]  # type: ignore[arg-type]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(lum)), lum
    # ... and the 11 levels stay distinguishable: at least 8 different colours after rounding.
    shown = {ramp.shown_rgb(float(t), mode) for t in ts}  # type: ignore[arg-type]
    assert len(shown) >= 8


def test_unknown_ramp_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="viridis"):
        get_ramp("rainbow")


@pytest.mark.parametrize(
    "rgb", [(0, 0, 0), (255, 255, 255), (68, 1, 84), (253, 231, 37), (128, 128, 128)]
)
def test_contrast_text_colour_is_the_better_of_black_and_white(rgb: tuple[int, int, int]) -> None:
    chosen = contrast_text_color(rgb)
    other = (255, 255, 255) if chosen == (0, 0, 0) else (0, 0, 0)
    assert contrast_ratio(chosen, rgb) >= contrast_ratio(other, rgb)


def test_detect_color_mode() -> None:
    assert detect_color_mode(None, {"NO_COLOR": "1"}) == "none"
    assert (
        detect_color_mode(None, {"NO_COLOR": ""}) == "truecolor"
    )  # empty means unset (no-color.org)
    truecolor = Console(color_system="truecolor", force_terminal=True)
    eight_bit = Console(color_system="256", force_terminal=True)
    plain = Console(color_system=None)
    assert detect_color_mode(truecolor, {}) == "truecolor"
    assert detect_color_mode(eight_bit, {}) == "256"
    assert detect_color_mode(plain, {}) == "none"
