"""One array of a run written out: as CSV text, or as a PNG image.

``workbench show RUN --array NAME --csv FILE`` and ``--png FILE`` use these.

* CSV: a 1-D array is one column; a 2-D array one line per row, with the row
  and column tick labels (from the array's metadata) as the first column and
  the header; a higher-dimensional array is flattened to one line per index of
  its leading axes, which are written as the first columns.
* PNG: a heatmap, one square block of pixels per cell, coloured on the same
  ramp and scale as the terminal heatmap (:func:`workbench.render.views.array_heatmap`),
  encoded here with :mod:`zlib` (PNG is DEFLATE'd scanlines with CRCs, RFC 2083),
  so no imaging library is needed. Curves and spectra are drawn with matplotlib
  when it is installed (``pip install workbench[plots]``).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from workbench.render.colors import Ramp
from workbench.render.heatmap import Heatmap, normalise

__all__ = ["array_csv", "heatmap_png", "png_bytes"]

#: Pixels per heatmap cell side, chosen so a 64×64 matrix is a 512-pixel image.
CELL_PIXELS = 8
NAN_RGB = (128, 128, 128)


def array_csv(
    values: Any,
    axes: Sequence[str] = (),
    labels: dict[str, list[str]] | None = None,
) -> str:
    """The array as CSV text (see the module docstring for the layout)."""
    arr = np.asarray(values)
    labels = labels or {}
    axes = list(axes) + [f"axis{i}" for i in range(len(axes), arr.ndim)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")

    def ticks(axis: int) -> list[str]:
        given = labels.get(axes[axis])
        n = arr.shape[axis]
        return (
            [str(t) for t in given]
            if isinstance(given, list) and len(given) == n
            else [str(i) for i in range(n)]
        )

    if arr.ndim == 0:
        writer.writerow(["value"])
        writer.writerow([_num(arr.item())])
    elif arr.ndim == 1:
        writer.writerow([axes[0], "value"])
        for tick, v in zip(ticks(0), arr.tolist(), strict=True):
            writer.writerow([tick, _num(v)])
    else:
        lead = list(range(arr.ndim - 1))
        writer.writerow([axes[i] for i in lead] + ticks(arr.ndim - 1))
        flat = arr.reshape(-1, arr.shape[-1])
        for index, row in zip(
            itertools.product(*(ticks(i) for i in lead)), flat.tolist(), strict=True
        ):
            writer.writerow(list(index) + [_num(v) for v in row])
    return out.getvalue()


def _num(value: Any) -> str:
    """Full precision (``repr``) so a reader gets the exact stored number back."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value)


def png_bytes(rgb: np.ndarray[Any, Any]) -> bytes:
    """An 8-bit RGB PNG of ``rgb``: ``(height, width, 3)`` values in ``0..255``.

    Each scanline is prefixed with filter type 0 (none); the chunks are IHDR, one
    IDAT (the zlib-compressed scanlines) and IEND, each ``length, type, data, CRC-32``.
    """
    img = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"an RGB image is (height, width, 3); got shape {img.shape}")
    height, width, _ = img.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit, colour type 2: RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def heatmap_rgb(heatmap: Heatmap, cell: int = CELL_PIXELS) -> np.ndarray[Any, Any]:
    """The heatmap's cells as an RGB image, ``(n_rows·cell, n_cols·cell, 3)``."""
    ramp: Ramp = heatmap.ramp
    n_rows, n_cols = heatmap.values.shape
    colours = np.zeros((n_rows, n_cols, 3), dtype=np.uint8)
    for r in range(n_rows):
        for c in range(n_cols):
            t = normalise(float(heatmap.values[r, c]), heatmap.vmin, heatmap.vmax)
            colours[r, c] = NAN_RGB if math.isnan(t) else ramp.rgb(t)
    return np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)


def heatmap_png(heatmap: Heatmap, cell: int = CELL_PIXELS) -> bytes:
    """The heatmap as PNG bytes (one ``cell``-pixel square per matrix cell)."""
    return png_bytes(heatmap_rgb(heatmap, cell))
