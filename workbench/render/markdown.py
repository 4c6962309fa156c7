"""Markdown that fits a narrow terminal: wide tables become one stacked entry per row.

A lab's ``summary.md`` holds GitHub pipe tables (significance, MI per layer...).
A table wider than the screen has each cell ellipsised to a few characters
(``laye… │ first-b… │ +0.0…``), which reads as nothing. :func:`fit_tables`
rewrites only the tables that do not fit: each row becomes a bullet that names
its first cell in bold and then every other column as ``header value``, so
nothing is cut and the text wraps::

    - **layer2** · first-bit 4.926 · random-lookup 4.902 · Δ (bits) -0.024 · p 0.707

Tables that fit are left exactly as they were.
"""

from __future__ import annotations

import re

__all__ = ["fit_tables", "table_width"]

#: A delimiter row: ``| --- | :---: |`` (optional outer pipes, colons for alignment).
_DELIMITER = re.compile(r"^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$")


def _cells(line: str) -> list[str]:
    """The cells of a pipe-table line (escaped pipes ``\\|`` stay inside their cell)."""
    text = line.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    parts = re.split(r"(?<!\\)\|", text)
    return [p.strip() for p in parts]


def table_width(rows: list[list[str]]) -> int:
    """Characters a table needs with every cell whole: ``sum(widest cell) + 3·cols + 1``.

    This is the width of a box-drawn table with one space of padding each side
    of every cell (``│ a │ b │``), which is how Textual and Rich draw them.
    """
    n_cols = max((len(r) for r in rows), default=0)
    widths = [max((len(r[c]) if c < len(r) else 0) for r in rows) for c in range(n_cols)]
    return sum(widths) + 3 * n_cols + 1


def _stacked(header: list[str], body: list[list[str]]) -> list[str]:
    """One bullet per body row: the first cell in bold, then ``header value`` pairs."""
    out = []
    for row in body:
        first = row[0] if row else ""
        parts = [f"**{first}**" if first else "**·**"]
        for name, value in zip(header[1:], row[1:], strict=False):
            if value:
                parts.append(f"{name} {value}" if name else value)
        out.append("- " + " · ".join(parts))
    return out


def fit_tables(markdown: str, width: int) -> str:
    """``markdown`` with every pipe table wider than ``width`` written as a stacked list.

    Args:
        markdown: GitHub-flavoured Markdown.
        width: Characters available for a table (the widget's content width).

    Returns:
        The same text where all tables fit; otherwise the wide tables replaced by
        bullet lists (a blank line before and after, so they stay separate blocks).
    """
    lines = markdown.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        is_table = (
            "|" in line
            and i + 1 < len(lines)
            and _DELIMITER.match(lines[i + 1]) is not None
            and "-" in lines[i + 1]
        )
        if not is_table:
            out.append(line)
            i += 1
            continue
        header = _cells(line)
        j = i + 2
        body = []
        while j < len(lines) and "|" in lines[j] and lines[j].strip():
            body.append(_cells(lines[j]))
            j += 1
        if table_width([header, *body]) <= width:
            out.extend(lines[i:j])
        else:
            if out and out[-1].strip():
                out.append("")
            out.extend(_stacked(header, body))
            if j < len(lines) and lines[j].strip():
                out.append("")
        i = j
    return "\n".join(out) + ("\n" if markdown.endswith("\n") else "")
