"""``workbench sweep``: define, run, resume, list, show and export sweeps.

::

    workbench sweep LAB --grid 'widths=[[8,8],[16,16]]' --grid 'tol=[1e-5,1e-3]'
                        [--set k=v ...] [--config FILE] [--preset NAME] [--file sweep.toml]
                        [--seeds-per-run N] [--repeat K] [--engine local|ray|slurm] [--jobs N]
    workbench sweep resume ID       only the cells that did not complete
    workbench sweep list
    workbench sweep show ID [--key K ...] [--csv FILE] [--heatmap K --x AXIS --y AXIS]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from workbench.core.errors import ConfigError

__all__ = ["add_sweep_parser", "sweep_main"]

_ACTIONS = ("resume", "list", "show")


def add_sweep_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register ``workbench sweep`` on the CLI's sub-parsers."""
    p = sub.add_parser(
        "sweep",
        parents=[common],
        help="run a lab over a grid of configs (and resume, list, show sweeps)",
        description="workbench sweep LAB --grid KEY=[...] ...; or sweep resume|list|show ID",
    )
    p.add_argument("target", help="a lab name (new sweep), or resume, list or show")
    p.add_argument("ref", nargs="?", help="the sweep id for resume/show (a prefix, or latest)")
    p.add_argument(
        "--grid",
        metavar="KEY=[VALUES]",
        action="append",
        default=[],
        help="a swept key and its values as a TOML list, e.g. 'lr=[1e-3,1e-2]'",
    )
    p.add_argument(
        "--file",
        metavar="SWEEP.TOML",
        help="a sweep file: lab, [grid], [set], repeat, seeds_per_run, engine",
    )
    p.add_argument("--config", metavar="FILE", help="TOML file of base config values")
    p.add_argument("--preset", metavar="NAME", help="start from a lab preset (e.g. quick)")
    p.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a base config value for every cell",
    )
    p.add_argument("--seeds-per-run", type=int, metavar="N", help="set `seeds` in every cell")
    p.add_argument(
        "--repeat",
        type=int,
        default=None,
        metavar="K",
        help="repeat every grid point K times with disjoint seeds (default 1)",
    )
    p.add_argument("--engine", choices=("local", "ray", "slurm"), default=None)
    p.add_argument("--jobs", type=int, default=None, metavar="N", help="cells at once")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda for every cell")
    p.add_argument("--threads", type=int, default=None, help="torch threads per cell")
    p.add_argument("--address", help="Ray cluster address (default: a local Ray for the sweep)")
    p.add_argument("--gpus-per-cell", type=float, default=0.0)
    p.add_argument(
        "--slurm",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help='a submitit parameter, e.g. slurm_partition="gpu" timeout_min=120',
    )
    p.add_argument("--key", action="append", default=[], help="show: a result key column")
    p.add_argument("--csv", metavar="FILE", help="show: write the table as CSV ('-': stdout)")
    p.add_argument("--heatmap", metavar="KEY", help="show: a result key over two swept axes")
    p.add_argument("--x", help="show --heatmap: the swept key of the columns")
    p.add_argument("--y", help="show --heatmap: the swept key of the rows")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(handler=sweep_main)


def sweep_main(args: argparse.Namespace) -> int:
    from workbench.core.runs import open_project

    for key, value in (("jobs", args.jobs), ("threads", args.threads)):
        if value is not None and value < 1:  # checked before anything is created
            raise ConfigError(key, value, "an integer >= 1")
    project = open_project(getattr(args, "project", None))
    if args.target == "list":
        return _list(project)
    if args.target in ("resume", "show"):
        if not args.ref:
            raise ConfigError("sweep", args.target, f"`workbench sweep {args.target} ID`")
        from workbench.core.sweep import open_sweep

        sweep = open_sweep(project, args.ref)
        return (
            _show(project, sweep, args) if args.target == "show" else _drive(project, sweep, args)
        )
    return _new(project, args)


def _sweep_file(path: str) -> dict[str, Any]:
    from workbench.core.config import load_config_file

    return load_config_file(path)


def _new(project: Any, args: argparse.Namespace) -> int:
    from workbench.core.config import load_config_file, parse_override
    from workbench.core.registry import load_lab
    from workbench.core.sweep import create_sweep, parse_grid

    spec = _sweep_file(args.file) if args.file else {}
    lab = load_lab(str(spec["lab"]) if args.target == "-" and "lab" in spec else args.target)
    base: dict[str, Any] = {}
    if args.preset:
        base.update(lab.preset(args.preset))
    if args.config:
        base.update(load_config_file(args.config))
    base.update(dict(spec.get("set", {})))
    base.update(dict(parse_override(item) for item in args.set))
    seeds_per_run = args.seeds_per_run or spec.get("seeds_per_run")
    if seeds_per_run is not None:
        base["seeds"] = int(seeds_per_run)
    grid_items = list(dict(spec.get("grid", {})).items())
    grid_items += [parse_override(item) for item in args.grid]
    grid = parse_grid(grid_items)
    engine = args.engine or str(spec.get("engine", "local"))
    repeat = args.repeat if args.repeat is not None else int(spec.get("repeat", 1))
    options = _options_dict(args, spec)
    sweep = create_sweep(
        project, lab, base=base, grid=grid, repeat=repeat, engine=engine, options=options
    )
    if not args.quiet:
        print(f"sweep {sweep.id}: {len(sweep.cells)} cells of {lab.name} on {engine}")
    return _drive(project, sweep, args)


def _options_dict(args: argparse.Namespace, spec: dict[str, Any]) -> dict[str, Any]:
    from workbench.core.config import parse_override

    slurm = dict(spec.get("slurm", {}))
    slurm.update(dict(parse_override(item) for item in args.slurm))
    return {
        "jobs": args.jobs or int(spec.get("jobs", 1)),
        "device": args.device,
        "threads": args.threads or 0,
        "address": args.address or str(spec.get("address", "")),
        "gpus_per_cell": args.gpus_per_cell,
        "slurm": slurm,
    }


def _drive(project: Any, sweep: Any, args: argparse.Namespace) -> int:
    from workbench.core.sweep import reconcile
    from workbench.core.sweep_engines import EngineOptions, run_sweep

    reconcile(project, sweep)
    opts = dict(sweep.options)
    if args.jobs:
        opts["jobs"] = args.jobs
    options = EngineOptions(
        jobs=int(opts.get("jobs", 1)),
        device=str(opts.get("device", "auto")),
        threads=int(opts.get("threads") or 0) or None,
        address=str(opts.get("address") or "") or None,
        gpus_per_cell=float(opts.get("gpus_per_cell", 0.0)),
        slurm=dict(opts.get("slurm", {})),
    )
    todo = sweep.todo()
    total = len(sweep.cells)

    def report() -> None:
        if args.quiet:
            return
        c = sweep.counts()
        print(
            f"\r{c['completed']}/{total} done, {c['running']} running, {c['failed']} failed"
            + " " * 8,
            end="",
            file=sys.stderr,
            flush=True,
        )

    if not args.quiet and not todo:
        print(f"sweep {sweep.id}: every cell has completed")
    try:
        run_sweep(sweep, options, cells=todo, on_change=report)
    except KeyboardInterrupt:
        reconcile(project, sweep)
        print(file=sys.stderr)
        print(f"cancelled; `workbench sweep resume {sweep.id}` runs the rest", file=sys.stderr)
        return 130
    if not args.quiet:
        print(file=sys.stderr)
        c = sweep.counts()
        print(f"sweep {sweep.id}: {c['completed']} completed, {c['failed']} failed")
        for cell in sweep.cells:
            if cell.state == "failed":
                print(f"  cell {cell.index} failed: {cell.error}", file=sys.stderr)
        print(f"next: workbench sweep show {sweep.id}")
    return 0 if all(c.state == "completed" for c in sweep.cells) else 1


def _list(project: Any) -> int:
    from workbench.core.sweep import sweeps

    found = sweeps(project)
    if not found:
        print("no sweeps yet; `workbench sweep LAB --grid KEY=[...]` starts one")
    for s in found:
        c = s.counts()
        axes = " × ".join(f"{k}({len(v)})" for k, v in s.grid.items())
        print(f"{s.id}  {s.lab:<18} {axes}  {c['completed']}/{len(s.cells)} done")
    return 0


def _show(project: Any, sweep: Any, args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from workbench.core.sweep import reconcile
    from workbench.core.sweep_report import aggregate, grid_matrix, sweep_csv, sweep_rows

    reconcile(project, sweep)
    if args.csv:
        text = sweep_csv(project, sweep, args.key)
        if args.csv == "-":
            sys.stdout.write(text)
        else:
            out = Path(args.csv)
            if not out.parent.is_dir():
                raise ConfigError("--csv", args.csv, "a file in an existing folder")
            out.write_text(text)
            print(f"wrote {out}")
        return 0
    console = Console()
    header, rows = sweep_rows(project, sweep, args.key)
    table = Table(title=f"sweep {sweep.id} ({sweep.lab}, {sweep.engine})", expand=False)
    for name in header:
        if name == "run":
            table.add_column(name, no_wrap=True)
        elif name == "headline":
            table.add_column(name, overflow="ellipsis", no_wrap=True, max_width=32)
        else:
            table.add_column(name, overflow="fold", max_width=24)
    for row in rows:
        table.add_row(*(_text(v) for v in row))
    console.print(table)
    for key in args.key:
        aggs = aggregate(project, sweep, key)
        t = Table(title=f"{key}: mean and 95% t-interval over repeats")
        for name in [*sweep.grid, "n", "mean", "95% interval"]:
            t.add_column(name)
        for a in aggs:
            t.add_row(
                *(_text(a.values[k]) for k in sweep.grid),
                str(a.n),
                _text(a.mean),
                f"[{_text(a.low)}, {_text(a.high)}]",
            )
        console.print(t)
    if args.heatmap:
        axes = list(sweep.grid)
        x = args.x or axes[0]
        y = args.y or (axes[1] if len(axes) > 1 else axes[0])
        for axis in (x, y):
            if axis not in sweep.grid:
                raise ConfigError("--x/--y", axis, f"a swept key: {', '.join(axes)}")
        xs, ys, m = grid_matrix(aggregate(project, sweep, args.heatmap), x, y)
        from workbench.render.heatmap import Heatmap

        console.print(
            Heatmap(
                m,
                row_labels=[_text(v) for v in ys],
                col_labels=[_text(v) for v in xs],
                title=f"{args.heatmap} (mean over repeats and other axes)",
                x_label=x,
                y_label=y,
            )
        )
    return 0


def _text(value: Any) -> str:
    if isinstance(value, str):
        try:  # headlines are stored as text; a number among them reads better rounded
            return _text(float(value)) if value.strip() else value
        except ValueError:
            return value
    if isinstance(value, float):
        return "–" if value != value else f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)
