"""Compact number formatting for cells, ticks and table columns."""

from __future__ import annotations

import math

__all__ = ["format_value"]


def format_value(value: float, width: int = 6) -> str:
    """Format ``value`` in at most ``width`` characters, keeping as many digits as fit.

    Tries fixed-point first (``0.934``), then scientific (``1e-05``); NaN is ``nan``
    and infinities ``inf``/``-inf``. A value that cannot fit is shown as ``#``s
    (like a spreadsheet) rather than as a misleading truncation.

    Args:
        value: The number.
        width: Maximum number of characters (at least 1).
    """
    width = max(1, width)
    if math.isnan(value):
        return "nan"[:width]
    if math.isinf(value):
        text = "inf" if value > 0 else "-inf"
        return text if len(text) <= width else "#" * width
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) < 10**width:
        text = str(int(value))
        if len(text) <= width:
            return text
    # Fixed point with as many decimals as fit, for magnitudes a reader scans quickly.
    if 1e-3 <= abs(value) < 10 ** (width - 1):
        for decimals in range(max(0, width - 2), -1, -1):
            text = f"{value:.{decimals}f}"
            if len(text) <= width and float(text) != 0:
                return text
    for digits in range(max(0, width - 6), -1, -1):
        text = _short_exponent(f"{value:.{digits}e}")
        if len(text) <= width:
            return text
    return "#" * width


def _short_exponent(text: str) -> str:
    """``1.5e-05`` becomes ``1.5e-5``: two characters saved in a narrow cell."""
    mantissa, _, exponent = text.partition("e")
    sign = "-" if exponent.startswith("-") else ""
    return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
