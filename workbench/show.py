"""``workbench show RUN``: a run printed as Rich tables, its summary, and plots.

Results are grouped by the first part of their namespaced key
(``first-bit/entropy/layer2/mean`` goes under ``first-bit``) so a lab with
hundreds of headline numbers still reads as a few small tables.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections import defaultdict
from typing import Any

from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from workbench.core.errors import ConfigError, WorkbenchError
from workbench.core.lab import Lab, View
from workbench.core.runs import Run

__all__ = ["format_value", "show_array", "show_run"]


def show_run(console: Console, run: Run, *, plots: bool = True) -> None:
    """Print everything a researcher wants to see about one run."""
    info = run.info
    console.print(_header(run, info))
    console.print(_config_table(run.config))
    for table in _results_tables(run.results):
        console.print(table)
    summary = run.text("summary.md")
    if summary:
        console.print(Panel(Markdown(summary), title="Summary", title_align="left"))
    arrays = _arrays_table(run)
    if arrays is not None:
        console.print(arrays)
    if plots:
        for renderable in _plots(run):
            console.print(renderable)
    if info.get("error"):
        console.print(Text.assemble(("error: ", "bold red"), str(info["error"])))


def format_value(value: Any) -> str:
    """Numbers to 4 significant figures; everything else as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _header(run: Run, info: dict[str, Any]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    seeds = info.get("seeds")
    seeds_text = (
        f"{seeds.get('count')} (from {seeds.get('first')})" if isinstance(seeds, dict) else ""
    )
    rows = [
        ("run", run.id),
        ("lab", str(info.get("lab", "?"))),
        ("status", run.status),
        ("created", str(info.get("created", ""))),
        ("finished", str(info.get("finished", ""))),
        ("device", str(info.get("device", ""))),
        ("seeds", seeds_text),
        ("steps done", ", ".join(info.get("steps_done", []))),
        (
            "versions",
            f"workbench {info.get('workbench_version', '?')}, "
            f"python {info.get('python_version', '?')}, torch {info.get('torch_version', '?')}",
        ),
        ("folder", str(run.path)),
    ]
    if info.get("rerun_of"):
        rows.append(("rerun of", str(info["rerun_of"])))
    for key, value in rows:
        table.add_row(key, Text(value))
    return table


def _config_table(config: dict[str, Any]) -> Table:
    table = Table("key", "value", title="Config", title_justify="left")
    for key, value in config.items():
        table.add_row(key, Text(format_value(value)))
    return table


def _results_tables(results: dict[str, Any]) -> list[Table]:
    groups: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for key, value in results.items():
        head, _, rest = key.partition("/")
        groups[head if rest else ""].append((rest or key, value))
    tables = []
    for head, items in groups.items():
        title = f"Results: {head}" if head else "Results"
        table = Table("key", "value", title=title, title_justify="left")
        for key, value in items:
            table.add_row(key, Text(format_value(value)))
        tables.append(table)
    return tables


def _arrays_table(run: Run) -> Table | None:
    names = run.array_names()
    if not names:
        return None
    table = Table("array", "shape", "axes", "description", title="Arrays", title_justify="left")
    for name in names:
        meta = run.array_meta(name)
        shape = meta.get("shape")
        table.add_row(
            name,
            "×".join(str(s) for s in shape) if shape else "",
            ", ".join(meta.get("axes", [])),
            Text(str(meta.get("description", ""))),
        )
    return table


def _lab_views(run: Run) -> list[View]:
    from workbench.core.registry import load_lab

    with contextlib.suppress(WorkbenchError, ImportError, AttributeError):
        lab: Lab[Any] = load_lab(run.lab)
        return [view for step in lab.steps for view in step.views]
    return []


def _plots(run: Run) -> list[Any]:
    """Loss curves and the lab's heatmap/spectrum views, when the renderers are available."""
    try:
        from workbench.render import renderable_for_view
    except ImportError:
        return []
    out = []
    names = run.array_names()
    for view in _lab_views(run):
        if view.kind not in ("heatmap", "spectrum", "curve", "scatter"):
            continue
        for name in fnmatch.filter(names, view.source):
            with contextlib.suppress(Exception):
                title = Text(f"{view.title}: {name}", style="bold")
                out.append(Group(title, renderable_for_view(run, view, name)))
    return out


def show_array(
    console: Console,
    run: Run,
    name: str,
    *,
    csv: str | None = None,
    png: str | None = None,
    force: bool = False,
) -> None:
    """Print one array as its lab's view draws it, or write it as CSV or PNG.

    Args:
        console: Where to print.
        run: The run.
        name: The array's name (``workbench show RUN`` lists them).
        csv: Write CSV to this file (``-``: to standard output) instead of printing.
        png: Render to this PNG file instead of printing.
        force: Replace an existing output file.

    Raises:
        ConfigError: for an unknown array, an output that exists (without ``force``),
            or a PNG of a curve without matplotlib.
    """
    from pathlib import Path

    from workbench.core.atomic import atomic_write_bytes, atomic_write_text
    from workbench.render.views import array_heatmap, renderable_for_view, view_for

    names = run.array_names()
    if name not in names:
        shown = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
        raise ConfigError("--array", name, f"one of the arrays of run {run.id}: {shown or 'none'}")
    view = view_for(run, name, _lab_views(run))
    for target in (csv, png):
        if target and target != "-" and Path(target).exists() and not force:
            raise ConfigError("output", target, "a file that does not exist yet (or --force)")
    if csv:
        from workbench.render.export import array_csv

        meta = run.array_meta(name)
        labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else None
        text = array_csv(run.array(name), meta.get("axes", []), labels)
        if csv == "-":
            console.file.write(text)
        else:
            atomic_write_text(Path(csv), text)
            console.print(f"wrote {name} to {csv}", markup=False)
    if png:
        if view.kind == "heatmap":
            from workbench.render.export import heatmap_png

            atomic_write_bytes(Path(png), heatmap_png(array_heatmap(run, name, view)))
        else:
            _curve_png(run, name, view, Path(png))
        console.print(f"wrote {name} to {png}", markup=False)
    if not csv and not png:
        console.print(Text(f"{view.title}: {name}", style="bold"))
        console.print(renderable_for_view(run, view, name))


def _curve_png(run: Run, name: str, view: View, path: Any) -> None:
    """A curve or spectrum drawn with matplotlib (an optional extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(
            "--png",
            str(path),
            "a heatmap array; curves and spectra need matplotlib (pip install workbench[plots])",
        ) from None
    from workbench.render.views import array_plot_spec

    spec = array_plot_spec(run, name, view)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for line in spec.lines:
        ax.plot(line.x, line.y, label=line.label or None)
    if spec.log_x:
        ax.set_xscale("log")
    if spec.log_y:
        ax.set_yscale("log")
    ax.set_title(spec.title)
    ax.set_xlabel(spec.x_label)
    ax.set_ylabel(spec.y_label)
    if any(line.label for line in spec.lines):
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
