"""Metric records on disk: per-seed records as column chunks, the rest as JSON lines.

A run logs one record per seed per logged step (``{"step", "task", "seed", "loss"}``).
As JSON text that is ~70 bytes and a parse per seed per step: 400k records, 29 MB and
11 s at 2,000 seeds (issue 11). So ``metrics.jsonl`` holds only small things, and a
run of at least :data:`CHUNK_MIN` consecutive records with the same keys and plain
values goes to its own column file::

    metrics.jsonl                       {"step": 20, "task": "t", "live/ir": 0.5}
                                        {"_chunk": "metrics/00000003.npz", "_records": 2000,
                                         "_summary": {"step": 20, "loss": {"median": ...}}}
    metrics/00000003.npz                step: (2000,) int64, task: (2000,) <U9, seed, loss ...

Writes stay append-safe and readable after ``kill -9``: a chunk is written whole
(temp file, then rename) *before* the one line that names it is appended, so a
reader sees either no line (and ignores the orphan file) or a line whose chunk is
complete; a partial last line is ignored as before. Readers expand chunk lines
back into records (:func:`expand_line`) for incremental followers, and
:func:`merge_columns` joins column segments for :meth:`workbench.core.runs.Run.metrics`
without building a dict per record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.atomic import atomic_write_with

__all__ = [
    "CHUNK_DIR",
    "CHUNK_KEY",
    "CHUNK_MIN",
    "Columns",
    "expand_line",
    "filter_columns",
    "merge_columns",
    "read_chunk",
    "split_records",
    "summarize",
    "write_chunk",
]

log = logging.getLogger(__name__)

Columns = dict[str, np.ndarray[Any, Any]]

CHUNK_DIR = "metrics"
CHUNK_KEY = "_chunk"
#: Consecutive same-key records needed for a chunk; fewer stay JSON lines (a file
#: per handful of records would cost more than the text).
CHUNK_MIN = 16


def split_records(
    records: Sequence[Mapping[str, Any]],
) -> list[tuple[Columns | None, list[Mapping[str, Any]]]]:
    """Cut records into runs: ``(columns, [])`` for a chunk, ``(None, records)`` for JSON.

    Order is kept. A run of records with the same keys in the same order becomes
    columns when it has at least :data:`CHUNK_MIN` records and every column is all
    ints, all numbers (None is NaN) or all strings; bools and nested values stay JSON.
    """
    out: list[tuple[Columns | None, list[Mapping[str, Any]]]] = []
    start = 0
    while start < len(records):
        keys = tuple(records[start])
        end = start + 1
        while end < len(records) and tuple(records[end]) == keys:
            end += 1
        run = records[start:end]
        columns = _as_columns(run, keys) if len(run) >= CHUNK_MIN else None
        if columns is not None:
            out.append((columns, []))
        elif out and out[-1][0] is None:
            out[-1][1].extend(run)
        else:
            out.append((None, list(run)))
        start = end
    return out


def _as_columns(run: Sequence[Mapping[str, Any]], keys: tuple[str, ...]) -> Columns | None:
    columns: Columns = {}
    for key in keys:
        values = [r[key] for r in run]
        present = [v for v in values if v is not None]
        if any(isinstance(v, bool) for v in present):
            return None
        if present and all(isinstance(v, (int, np.integer)) for v in values):
            columns[key] = np.asarray(values, dtype=np.int64)
        elif all(isinstance(v, (int, float, np.integer, np.floating)) for v in present):
            columns[key] = np.asarray([np.nan if v is None else v for v in values], np.float64)
        elif len(present) == len(values) and all(isinstance(v, str) for v in values):
            columns[key] = np.asarray(values, dtype=str)
        else:
            return None
    return columns


def summarize(columns: Columns) -> dict[str, Any]:
    """The chunk line's aggregates: constant columns' values, and each float column's spread.

    E.g. ``{"step": 20, "task": "t", "loss": {"median": ..., "q10": ..., "q90": ...,
    "non_finite": 0}}``, so the JSONL alone shows a run's course at any seed count.
    """
    out: dict[str, Any] = {}
    for key, col in columns.items():
        if col.dtype.kind in "iuU" and col.size and bool((col == col[0]).all()):
            out[key] = col[0].item()
        elif col.dtype.kind == "f":
            finite = col[np.isfinite(col)]
            q10, median, q90 = (
                np.quantile(finite, [0.1, 0.5, 0.9]).tolist() if finite.size else [None] * 3
            )
            out[key] = {
                "median": median,
                "q10": q10,
                "q90": q90,
                "non_finite": int(col.size - finite.size),
            }
    return out


def write_chunk(run_dir: Path, number: int, columns: Columns) -> str:
    """Write ``metrics/<number>.npz`` atomically; return its name relative to the run."""
    name = f"{CHUNK_DIR}/{number:08d}.npz"

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **columns)  # type: ignore[arg-type]  # keyword arrays

    atomic_write_with(run_dir / name, write)
    return name


def read_chunk(run_dir: Path, name: str) -> Columns | None:
    """The columns of a chunk, or ``None`` (with a warning) if it cannot be read."""
    if not name.startswith(f"{CHUNK_DIR}/") or ".." in name:
        log.warning("ignoring a metrics chunk outside %s/: %r", CHUNK_DIR, name)
        return None
    try:
        with np.load(run_dir / name, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError) as err:
        log.warning("cannot read metrics chunk %s: %s", name, err)
        return None


def expand_line(run_dir: Path, record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The records a JSONL line stands for: itself, or its chunk's rows as dicts."""
    name = record.get(CHUNK_KEY)
    if not isinstance(name, str):
        return [dict(record)]
    columns = read_chunk(run_dir, name)
    if columns is None:
        return []
    keys = list(columns)
    lists = [columns[k].tolist() for k in keys]
    # NaN becomes None, as JSON (which has no NaN) stored it.
    return [
        {k: _json_value(v) for k, v in zip(keys, row, strict=True)}
        for row in zip(*lists, strict=True)
    ]


def _json_value(value: Any) -> Any:
    return None if isinstance(value, float) and value != value else value


def filter_columns(columns: Columns, match: Mapping[str, Any]) -> Columns:
    """Rows whose fields equal ``match`` (a segment without a matched key has none)."""
    if not match or not columns:
        return columns
    n = len(next(iter(columns.values())))
    keep = np.ones(n, dtype=bool)
    for key, value in match.items():
        if key not in columns:
            return {}
        keep &= columns[key] == value
    return {k: v[keep] for k, v in columns.items()}


def merge_columns(segments: Sequence[Columns]) -> Columns:
    """Join column segments in order, with the rules of ``records_to_columns``.

    A key missing from a segment is NaN (numbers) or ``""`` (text) there; a column
    is int64 only if every segment has it as ints.
    """
    segments = [s for s in segments if s and len(next(iter(s.values()))) > 0]
    keys: dict[str, None] = {}
    for seg in segments:
        keys.update(dict.fromkeys(seg))
    out: Columns = {}
    for key in keys:
        parts = [seg.get(key) for seg in segments]
        kinds = {p.dtype.kind for p in parts if p is not None}
        if kinds <= {"i", "u"} and all(p is not None for p in parts):
            out[key] = np.concatenate([np.asarray(p, np.int64) for p in parts if p is not None])
        elif kinds <= {"i", "u", "f"}:
            out[key] = np.concatenate(
                [
                    np.full(_length(seg), np.nan) if p is None else p.astype(np.float64)
                    for p, seg in zip(parts, segments, strict=True)
                ]
            )
        else:
            out[key] = np.concatenate(
                [
                    np.full(_length(seg), "") if p is None else p.astype(str)
                    for p, seg in zip(parts, segments, strict=True)
                ]
            )
    return out


def _length(columns: Columns) -> int:
    return len(next(iter(columns.values())))
