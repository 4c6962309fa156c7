"""Sweeps: a named set of runs over a grid of configs, stored as a folder of the project.

A sweep is defined by a lab, base config values, a grid (config key → list of values) and a
number of repeats. Its *cells* are the Cartesian product of the grid, each repeated ``repeat``
times with disjoint seeds: repeat r of a cell whose config trains ``count`` seeds from ``seed``
gets ``seed + r · count``, so no two repeats share a network.

Storage::

    sweeps/<sweep id>/sweep.toml   [sweep] id, lab, created, engine, jobs, repeat
                                   [sweep.base]  the base values   [sweep.grid] key = [values]
                                   [[cells]] index, repeat, values, state, run, error

Each cell is an ordinary run folder under ``runs/`` whose ``[run]`` records ``sweep`` and
``sweep_cell``. Only the process driving the sweep writes ``sweep.toml``, atomically, after
every change of a cell's state, so a sweep killed at any moment keeps every completed cell;
:func:`reconcile` repairs the states of a sweep whose driver died from the runs themselves.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.core.atomic import atomic_write_toml, read_toml
from workbench.core.config import config_to_dict
from workbench.core.errors import ConfigError, WorkbenchError
from workbench.core.lab import Lab, seeds_of
from workbench.core.runs import Project, Run

__all__ = [
    "CELL_STATES",
    "Cell",
    "Sweep",
    "SweepError",
    "SweepNotFoundError",
    "create_sweep",
    "expand_grid",
    "open_sweep",
    "parse_grid",
    "sweeps",
]

SWEEPS_DIR = "sweeps"
SWEEP_FILE = "sweep.toml"
CELL_STATES = ("pending", "running", "completed", "failed", "interrupted")


class SweepError(WorkbenchError):
    """A sweep cannot be created, read or resumed as asked."""


class SweepNotFoundError(SweepError):
    """No sweep matches the id or prefix."""


@dataclass
class Cell:
    """One run of a sweep.

    Attributes:
        index: Position in the sweep, 0-based.
        repeat: Which repeat of its grid point (0-based).
        values: The grid values of this cell (key → value), before the repeat's seed shift.
        config: The whole validated config the run uses (a TOML-able dict).
        state: One of :data:`CELL_STATES`.
        run: The run id, once the cell has started a run.
        error: The error message of a failed cell.
    """

    index: int
    repeat: int
    values: dict[str, Any]
    config: dict[str, Any]
    state: str = "pending"
    run: str = ""
    error: str = ""

    def as_toml(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "repeat": self.repeat,
            "values": self.values,
            "config": self.config,
            "state": self.state,
            "run": self.run,
            "error": self.error,
        }


@dataclass
class Sweep:
    """A sweep folder: its definition and the state of every cell."""

    path: Path
    id: str
    lab: str
    grid: dict[str, list[Any]]
    base: dict[str, Any]
    repeat: int
    engine: str
    created: str
    cells: list[Cell] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def project_path(self) -> Path:
        return self.path.parent.parent

    def save(self) -> None:
        """Write sweep.toml atomically (only the driving process calls this)."""
        atomic_write_toml(
            self.path / SWEEP_FILE,
            {
                "sweep": {
                    "id": self.id,
                    "lab": self.lab,
                    "created": self.created,
                    "engine": self.engine,
                    "repeat": self.repeat,
                    "grid": self.grid,
                    "base": self.base,
                    "options": self.options,
                },
                "cells": [c.as_toml() for c in self.cells],
            },
        )

    def counts(self) -> dict[str, int]:
        """Cells per state."""
        return {s: sum(1 for c in self.cells if c.state == s) for s in CELL_STATES}

    def todo(self) -> list[Cell]:
        """Cells that have not completed (what ``resume`` runs)."""
        return [c for c in self.cells if c.state != "completed"]


def parse_grid(items: Sequence[tuple[str, Any]]) -> dict[str, list[Any]]:
    """Grid axes from ``(key, value)`` pairs, each value a non-empty TOML list.

    Raises:
        ConfigError: naming ``--grid <key>`` for a value that is not a non-empty list, or a key
            given twice.
    """
    grid: dict[str, list[Any]] = {}
    for key, value in items:
        if key in grid:
            raise ConfigError(f"grid.{key}", value, "each key once in the grid")
        if not isinstance(value, list) or not value:
            raise ConfigError(
                f"grid.{key}", value, "a non-empty TOML list of values, e.g. 'widths=[[8],[16]]'"
            )
        grid[key] = list(value)
    return grid


def expand_grid(
    lab: Lab[Any], base: Mapping[str, Any], grid: Mapping[str, Sequence[Any]], repeat: int
) -> list[Cell]:
    """Every cell of the sweep, each validated: one bad value anywhere fails before any run.

    Raises:
        ConfigError: from the lab's validation, naming the key, the value, what is allowed and
            the cell (``source`` says ``sweep cell 3 (widths=[8, 8], tol=0.1)``).
    """
    if repeat < 1:
        raise ConfigError("repeat", repeat, "an integer >= 1")
    keys = list(grid)
    cells: list[Cell] = []
    for point in itertools.product(*(grid[k] for k in keys)):
        values = dict(zip(keys, point, strict=True))
        where = ", ".join(f"{k}={v!r}" for k, v in values.items())
        for r in range(repeat):
            source = f"sweep cell {len(cells)} ({where}, repeat {r})"
            config = lab.make_config({**base, **values}, source=source)
            if r and "seed" not in config_to_dict(config):
                raise ConfigError("repeat", repeat, f"1: lab {lab.name!r} has no seed to vary")
            if r:
                first, count = seeds_of(config)
                config = lab.make_config(
                    {**base, **values, "seed": first + r * count}, source=source
                )
            cells.append(Cell(len(cells), r, values, config_to_dict(config)))
    return cells


def _new_sweep_id() -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return f"sw-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def create_sweep(
    project: Project,
    lab: Lab[Any],
    *,
    base: Mapping[str, Any],
    grid: Mapping[str, Sequence[Any]],
    repeat: int = 1,
    engine: str = "local",
    options: Mapping[str, Any] | None = None,
) -> Sweep:
    """Validate every cell, then make the sweep folder (exclusive mkdir: ids never collide).

    Raises:
        ConfigError: for any bad value in any cell; nothing is created then.
    """
    if not grid:
        raise ConfigError("grid", {}, "at least one --grid KEY=[values]")
    cells = expand_grid(lab, base, grid, repeat)
    if lab.check is not None:
        for cell in cells:  # e.g. a from_run that must exist
            lab.check(lab.make_config(cell.config, source=f"sweep cell {cell.index}"), project)
    root = project.path / SWEEPS_DIR
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        sweep_id = _new_sweep_id()
        try:
            (root / sweep_id).mkdir()
        except FileExistsError:
            continue
        break
    else:  # pragma: no cover - 100 collisions of 16 random bits in one second
        raise SweepError(f"could not create a unique sweep folder under {root}")
    sweep = Sweep(
        path=root / sweep_id,
        id=sweep_id,
        lab=lab.name,
        grid={k: list(v) for k, v in grid.items()},
        base=dict(base),
        repeat=repeat,
        engine=engine,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        cells=cells,
        options=dict(options or {}),
    )
    sweep.save()
    return sweep


def _load(path: Path) -> Sweep:
    try:
        data = read_toml(path / SWEEP_FILE)
        head = data["sweep"]
        cells = [
            Cell(
                int(c["index"]),
                int(c.get("repeat", 0)),
                dict(c.get("values", {})),
                dict(c.get("config", {})),
                str(c.get("state", "pending")),
                str(c.get("run", "")),
                str(c.get("error", "")),
            )
            for c in data.get("cells", [])
        ]
    except (OSError, KeyError, TypeError, ValueError) as err:
        raise SweepError(f"{path / SWEEP_FILE} cannot be read: {err}") from None
    return Sweep(
        path=path,
        id=str(head["id"]),
        lab=str(head["lab"]),
        grid=dict(head.get("grid", {})),
        base=dict(head.get("base", {})),
        repeat=int(head.get("repeat", 1)),
        engine=str(head.get("engine", "local")),
        created=str(head.get("created", "")),
        cells=cells,
        options=dict(head.get("options", {})),
    )


def sweeps(project: Project) -> list[Sweep]:
    """All sweeps of a project, oldest first."""
    root = project.path / SWEEPS_DIR
    if not root.is_dir():
        return []
    return [_load(p) for p in sorted(root.iterdir()) if (p / SWEEP_FILE).is_file()]


def open_sweep(project: Project, ref: str) -> Sweep:
    """A sweep by id, unique prefix or ``latest``.

    Raises:
        SweepNotFoundError: none or several match.
    """
    found = sweeps(project)
    if ref in ("latest", "last") and found:
        return found[-1]
    matches = [s for s in found if s.id == ref] or [s for s in found if s.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SweepNotFoundError(
            f"no sweep {ref!r} in project {project.name!r}; `workbench sweep list` lists them"
        )
    raise SweepNotFoundError(f"sweep prefix {ref!r} is ambiguous: {[s.id for s in matches[:5]]}")


def runs_of(project: Project, sweep: Sweep) -> Iterator[tuple[Cell, Run | None]]:
    """Each cell with its run folder (None before it started or when the folder is gone)."""
    for cell in sweep.cells:
        run = None
        if cell.run and (project.runs_dir / cell.run).is_dir():
            run = Run(project.runs_dir / cell.run)
        yield cell, run


def reconcile(project: Project, sweep: Sweep) -> Sweep:
    """Repair cell states from the runs (a driver killed mid-sweep leaves cells ``running``).

    A cell whose run completed is ``completed`` even if the driver never heard back; a
    ``running`` cell whose run is not (its process is gone) becomes ``interrupted``. Runs are
    also found by their ``[run].sweep``/``sweep_cell`` when the driver died before recording
    the id.
    """
    by_cell: dict[int, Run] = {}
    for run in project.runs():
        try:
            info = run.info
        except WorkbenchError:
            continue
        if info.get("sweep") == sweep.id and "sweep_cell" in info:
            by_cell[int(info["sweep_cell"])] = run  # the newest run of a cell wins
    changed = False
    for cell in sweep.cells:
        found = by_cell.get(cell.index)
        if found is None:
            if cell.state == "running":
                cell.state, changed = "interrupted", True
            continue
        status = found.status
        new = status if status in ("completed", "failed", "interrupted") else cell.state
        if (new, found.id) != (cell.state, cell.run):
            cell.state, cell.run, changed = new, found.id, True
    if changed:
        sweep.save()
    return sweep
