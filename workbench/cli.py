"""The ``workbench`` command: the TUI with no arguments, a headless CLI otherwise.

Exit codes: 0 success; 1 a run failed (its folder is kept, status ``failed``);
2 bad input (unknown lab, malformed config, value out of range, unsafe
archive...), always with one message and never a traceback; 130 interrupted.

This module is the only importer of :mod:`workbench.tui`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from workbench import __version__
from workbench.core.errors import WorkbenchError

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    # Warnings reach the terminal; the run's own INFO log goes to its log.txt only.
    stderr_handler = logging.StreamHandler()
    stderr_handler.setLevel(logging.WARNING)
    stderr_handler.setFormatter(_NoTracebackFormatter("%(levelname)s %(name)s: %(message)s"))
    stderr_handler.addFilter(_RUN_WARNINGS)
    logging.getLogger().addHandler(stderr_handler)
    try:
        handler = getattr(args, "handler", None)
        if handler is None:
            return _cmd_tui(args)
        return int(handler(args))
    except WorkbenchError as err:
        _err(str(err))
        from workbench.core.runner import RunFailedError

        return EXIT_FAILED if isinstance(err, RunFailedError) else EXIT_USAGE
    except KeyboardInterrupt:
        _console(stderr=True).print("cancelled")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `workbench show ... | head`
        return EXIT_OK


class _RunWarnings(logging.Filter):
    """Keeps a running lab's log off the terminal: it is all in the run's log.txt.

    Labs may log many warnings (each regularised covariance, say); the terminal
    gets one line counting them at the end instead of a wall of text. A failed
    run's traceback also belongs in log.txt: the CLI prints one line about it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.active = False
        self.held: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("workbench.core.runner"):
            return False
        if self.active and record.name.startswith("workbench"):
            self.held.append(record.getMessage())
            return False
        # Hub and transformers warnings: their own handlers print them already; ours
        # would print each a second time over the progress bar.
        return not (self.active and record.name.split(".")[0] in _CHATTY_LIBRARIES)


#: Libraries that print their own warnings (with their own handlers).
_CHATTY_LIBRARIES = {"huggingface_hub", "transformers", "urllib3", "filelock"}


_RUN_WARNINGS = _RunWarnings()


class _NoTracebackFormatter(logging.Formatter):
    """Warnings on the terminal are one line each: no tracebacks."""

    def formatException(self, ei: Any) -> str:
        return ""

    def formatStack(self, stack_info: str) -> str:
        return ""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = ""
        return super().format(record).rstrip()


# --- parser ---------------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--project",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="project folder (default: the nearest workbench.toml upwards, else the default "
        "project in your user data folder)",
    )
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="A terminal lab bench for neural-network interpretability research. "
        "With no command, opens the workbench TUI.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument("--theme", metavar="NAME", help="TUI theme (dark, light, high-contrast...)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("init", parents=[common], help="make a folder a workbench project")
    p.add_argument("dir", nargs="?", default=".", help="folder (default: the current one)")
    p.add_argument("--name", help="project name (default: the folder name)")
    p.add_argument("--description", default="", help="one line about the project")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.set_defaults(handler=_cmd_init)

    p = sub.add_parser("labs", parents=[common], help="list the labs, or describe one")
    p.add_argument("lab", nargs="?", help="a lab name: show its steps and config keys")
    p.set_defaults(handler=_cmd_labs)

    p = sub.add_parser(
        "config", parents=[common], help="print a lab's resolved config as TOML (a starting file)"
    )
    _add_config_args(p)
    p.set_defaults(handler=_cmd_config)

    p = sub.add_parser("run", parents=[common], help="run a lab headless into a new run folder")
    _add_config_args(p)
    p.add_argument("--device", default=None, help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument(
        "--threads",
        default=None,
        help="torch CPU threads: auto (default: from the work and the machine's load) or N; "
        "also WORKBENCH_THREADS",
    )
    p.set_defaults(handler=_cmd_run)

    p = sub.add_parser("runs", parents=[common], help="list the project's runs")
    p.add_argument("--lab", help="only runs of this lab")
    p.add_argument("--status", choices=("running", "completed", "failed", "interrupted"))
    p.add_argument("--tag", help="only runs with this tag")
    p.add_argument("--wide", action="store_true", help="headlines in full (wrapped)")
    p.set_defaults(handler=_cmd_runs)

    p = sub.add_parser("show", parents=[common], help="show a run: config, results, arrays")
    p.add_argument("run", help="run id, unique prefix, or 'latest'")
    p.add_argument("--no-plots", action="store_true", help="tables only")
    p.add_argument(
        "--follow", action="store_true", help="follow a running run: progress and live measure"
    )
    p.add_argument("--array", metavar="NAME", help="print one array (heatmap, spectrum, curve)")
    p.add_argument("--csv", metavar="FILE", help="with --array: write it as CSV ('-' for stdout)")
    p.add_argument("--png", metavar="FILE", help="with --array: render it to a PNG (matplotlib)")
    p.add_argument("--force", action="store_true", help="replace an existing --csv/--png file")
    p.set_defaults(handler=_cmd_show)

    p = sub.add_parser("live", parents=[common], help="follow a run (same as show --follow)")
    p.add_argument("run", help="run id, unique prefix, or 'latest'")
    p.set_defaults(handler=_cmd_live)

    p = sub.add_parser("rm", parents=[common], help="delete a run folder")
    p.add_argument("run", help="run id or unique prefix ('latest' too)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")
    p.set_defaults(handler=_cmd_rm)

    p = sub.add_parser("tag", parents=[common], help="set a run's tags or note (in run.toml)")
    p.add_argument("run", help="run id, unique prefix, or 'latest'")
    p.add_argument("tags", nargs="*", metavar="TAG", help="the run's tags (replace the old ones)")
    p.add_argument("--note", help="a one-line note ('' removes it)")
    p.add_argument("--clear", action="store_true", help="remove every tag")
    p.set_defaults(handler=_cmd_tag)

    p = sub.add_parser("rerun", parents=[common], help="run again from a run's [config]")
    p.add_argument("run", help="run id, unique prefix, or 'latest'")
    p.add_argument("--device", default=None, help="default: the device the run used")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument(
        "--threads",
        default=None,
        help="torch CPU threads: auto (default: from the work and the machine's load) or N; "
        "also WORKBENCH_THREADS",
    )
    p.set_defaults(handler=_cmd_rerun)

    p = sub.add_parser("export", parents=[common], help="write a run as a shareable .tar.gz")
    p.add_argument("run", help="run id, unique prefix, or 'latest'")
    p.add_argument("-o", "--output", metavar="FILE", help="archive path (default: <run-id>.tar.gz)")
    p.add_argument("--force", action="store_true", help="replace an existing archive")
    p.add_argument("--parents", action="store_true", help="create the output's missing folders")
    p.set_defaults(handler=_cmd_export)

    from workbench.cli_sweep import add_sweep_parser

    add_sweep_parser(sub, common)

    p = sub.add_parser("import", parents=[common], help="import an exported run archive")
    p.add_argument("file", help="a .tar.gz made by `workbench export`")
    p.add_argument(
        "--as-new", action="store_true", help="import a copy even if this run is already here"
    )
    p.set_defaults(handler=_cmd_import)
    return parser


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("lab", help="lab name (see `workbench labs`)")
    p.add_argument("--config", metavar="FILE", help="TOML file of config values")
    p.add_argument(
        "--preset",
        metavar="NAME",
        default=None,
        help="start from a named preset of the lab (e.g. quick); --config and --set apply on top",
    )
    p.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override one config value; VALUE is TOML, e.g. --set 'widths=[16,16]'",
    )


# --- commands -------------------------------------------------------------------------------


def _project(args: argparse.Namespace, *, create: bool = False) -> Any:
    """The project of ``--project`` (made only by commands that write runs: ``create``)."""
    from workbench.core.runs import open_project

    return open_project(getattr(args, "project", None), create=create)


def _cmd_tui(args: argparse.Namespace) -> int:
    project = _project(args, create=True)
    try:
        from workbench.tui.app import run_app
    except ImportError:  # pragma: no cover - only while the TUI is being built
        _err("the TUI is not available in this build; try `workbench --help`")
        return EXIT_USAGE
    run_app(project, theme=args.theme)
    return EXIT_OK


def _cmd_init(args: argparse.Namespace) -> int:
    from workbench.core.runs import init_project

    project = init_project(
        args.dir, name=args.name, description=args.description, device=args.device
    )
    _console().print(f"project [bold]{project.name}[/] at {project.path}")
    return EXIT_OK


def _cmd_labs(args: argparse.Namespace) -> int:
    # Listing and describing import no torch or scipy: a lab's definition is cheap to load
    # (its steps are LazySteps), tests/test_import_hygiene.py checks it, and
    # benchmarks/bench_startup.py times it.
    from rich.table import Table

    from workbench.core.registry import available_labs, load_lab

    console = _console()
    if args.lab:
        from rich.markdown import Markdown  # markdown-it costs ~0.2 s; only a description needs it

        lab = load_lab(args.lab)
        console.print(f"[bold]{lab.name}[/]: {lab.title}\n")
        console.print(Markdown(lab.description))
        steps = Table("#", "step", "produces", title="Steps", title_justify="left")
        for i, step in enumerate(lab.steps, start=1):
            steps.add_row(str(i), step.title, ", ".join(step.produces))
        console.print(steps)
        console.print(_config_table(lab.config_cls))
        return EXIT_OK
    table = Table("lab", "title", "steps", title="Labs", title_justify="left")
    for name, entry in available_labs().items():
        try:
            lab = entry.load()
        except Exception as err:  # a broken third-party lab must not hide the others
            table.add_row(name, f"[red]cannot load: {err}[/]", "")
            continue
        table.add_row(name, lab.title, str(len(lab.steps)))
    console.print(table)
    return EXIT_OK


def _cmd_config(args: argparse.Namespace) -> int:
    import tomli_w

    from workbench.core.config import config_to_dict

    lab, config = _resolve_config(args)
    sys.stdout.write(f"# config for lab {lab.name}\n")
    sys.stdout.write(tomli_w.dumps(config_to_dict(config)))
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from workbench.core.device import resolve_device
    from workbench.core.runner import run_lab

    lab, config = _resolve_config(args)
    _preflight(config)
    _apply_threads(args)
    project = _project(args, create=True)
    device = args.device or project.device
    resolve_device(device)  # fail before drawing a progress bar
    with _progress(args.quiet) as (on_event, cancel):
        run = run_lab(
            lab,
            config,
            project,
            device=device,
            on_event=on_event,
            cancel=cancel,
            extra={"preset": args.preset} if args.preset else None,
        )
    return _report_run(run, args.quiet)


def _apply_threads(args: argparse.Namespace) -> None:
    """``--threads`` (else WORKBENCH_THREADS, else auto); a bad value is a ConfigError."""
    from workbench.core.threads import parse_threads, requested_threads, set_threads

    if args.threads is not None:
        set_threads(parse_threads(args.threads, "--threads"))
    requested_threads()  # checks WORKBENCH_THREADS before a run folder is made


def _cmd_rerun(args: argparse.Namespace) -> int:
    from workbench.core.runner import rerun

    _apply_threads(args)
    project = _project(args)
    original = project.run(args.run)
    with _progress(args.quiet) as (on_event, cancel):
        run = rerun(project, original, device=args.device, on_event=on_event, cancel=cancel)
    return _report_run(run, args.quiet)


def _cmd_runs(args: argparse.Namespace) -> int:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from workbench.core.errors import RunFolderError

    project = _project(args)
    console = _console()
    table = Table(
        title=f"Runs of {project.name} ({project.path})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    # One row per run at 80 columns: the fixed columns keep their width and the
    # headline gives way (cut with …; `--wide` wraps it, `show RUN` prints it whole).
    # The creation time is in the run id, so narrow terminals leave its column out.
    runs = project.runs()
    widest_id = max((len(r.id) for r in runs), default=2)
    with_created = args.wide or console.width >= 110
    table.add_column("id", no_wrap=True, min_width=widest_id)
    table.add_column("lab", no_wrap=True, min_width=_widest_lab(runs))
    table.add_column("status", no_wrap=True, min_width=9)
    # Networks of the run over all its ensembles (a lab with two tasks of 64 seeds: 128).
    table.add_column("nets", no_wrap=True, justify="right")
    if with_created:
        table.add_column("created", no_wrap=True)
    # Columns are 2 cells apart; the headline gets what the others leave.
    fixed = widest_id + _widest_lab(runs) + 9 + 4 + (11 if with_created else 0)
    room = max(12, console.width - fixed - 2 * (5 if with_created else 4) - 1)
    table.add_column(
        "headline",
        no_wrap=not args.wide,
        overflow="fold" if args.wide else "ellipsis",
        max_width=None if args.wide else room,
    )
    for run in runs:
        try:
            info = run.info
            status = run.status
        except RunFolderError as err:
            cells = [run.id, "?", "[red]unreadable[/]", ""] + ([""] if with_created else [])
            table.add_row(*cells, Text(str(err)))
            continue
        if (args.lab and info.get("lab") != args.lab) or (args.status and status != args.status):
            continue
        if args.tag and args.tag not in info.get("tags", []):
            continue
        tags = info.get("tags", [])
        headline = _headline(run)
        if tags:
            headline = f"[{' '.join(tags)}] {headline}"
        cells = [
            run.id,
            str(info.get("lab", "?")),
            _status_markup(status),
            _seeds_text(info.get("seeds")),
        ]
        if with_created:
            cells.append(_short_time(info.get("created")))
        cell = Text(headline, overflow="fold", no_wrap=False)
        if not args.wide:
            cell = Text(headline, overflow="ellipsis", no_wrap=True)
        table.add_row(*cells, cell)
    console.print(table)
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    project = _project(args)
    run = project.run(args.run)
    if (args.csv or args.png) and not args.array:
        from workbench.core.errors import ConfigError

        raise ConfigError("--csv/--png", args.csv or args.png, "give --array NAME too", "the CLI")
    if args.follow:
        return _follow(run)
    if args.array:
        from workbench.show import show_array

        show_array(_console(), run, args.array, csv=args.csv, png=args.png, force=args.force)
        return EXIT_OK
    from workbench.show import show_run

    show_run(_console(), run, plots=not args.no_plots)
    return EXIT_OK


def _cmd_live(args: argparse.Namespace) -> int:
    return _follow(_project(args).run(args.run))


def _follow(run: Any) -> int:
    """Follow a run folder until the run ends, with the run command's progress display."""
    import time

    from workbench.core.registry import load_lab
    from workbench.progress_line import RunProgress
    from workbench.tui.follow import RunFollower

    steps: list[tuple[str, str]] = []
    live: tuple[str, ...] = ()
    try:
        lab = load_lab(run.lab)
        steps = [(s.key, s.title) for s in lab.steps]
        live = tuple(lab.live_metrics)
    except WorkbenchError:
        pass  # an unknown lab: follow without its step titles
    follower = RunFollower(run, live_metrics=live)
    console = _console(stderr=True)
    snap = follower.poll()
    with RunProgress(console) as progress:
        while True:
            info = dict(snap.info)
            for key, curves in snap.live.items():
                last: list[float] = curves.values[:, -1].tolist() if curves.values.size else []
                finite = [v for v in last if v == v]  # NaN != NaN
                if finite:
                    info[key] = sum(finite) / len(finite)  # mean over seeds, latest step
            if snap.step:
                progress.show(snap.step, steps, snap.done, snap.total, info)
            if snap.finished or snap.error:
                break
            time.sleep(0.5)
            snap = follower.poll()
    if snap.error:
        _err(f"cannot read run {run.id}: {snap.error}")
        return EXIT_USAGE
    _console().print(f"run [bold]{run.id}[/] {_status_markup(snap.status)}")
    if snap.status == "failed" and snap.message:
        _err(snap.message)
        return EXIT_FAILED
    return EXIT_OK


def _cmd_rm(args: argparse.Namespace) -> int:
    from workbench.core.runs import remove_run

    project = _project(args)
    run = project.run(args.run)
    if not args.yes:
        if not sys.stdin.isatty():
            _err(f"not removing run {run.id}: confirm with --yes (stdin is not a terminal)")
            return EXIT_USAGE
        answer = input(f"delete run {run.id} ({run.path}) and all its files? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            _console().print("kept")
            return EXIT_OK
    remove_run(run)
    _console().print(f"removed run {run.id}")
    return EXIT_OK


def _cmd_tag(args: argparse.Namespace) -> int:
    from workbench.core.runs import set_run_notes

    project = _project(args)
    run = project.run(args.run)
    tags = [] if args.clear else (args.tags or None)
    set_run_notes(run, note=args.note, tags=tags)
    info = run.info
    shown = " ".join(info.get("tags", [])) or "(no tags)"
    note = f" · note: {info['note']}" if info.get("note") else ""
    _console().print(f"run {run.id}: {shown}{note}", markup=False)
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from workbench.core.archive import export_run

    project = _project(args)
    if args.run.startswith("sw-"):  # a sweep: all its runs in one archive
        from workbench.core.sweep import open_sweep
        from workbench.core.sweep_archive import export_sweep

        sweep = open_sweep(project, args.run)
        path = export_sweep(
            project, sweep, Path(args.output) if args.output else None, force=args.force
        )
        _console().print(f"exported sweep {sweep.id} ({len(sweep.cells)} cells) to {path}")
        return EXIT_OK
    out = export_run(
        project.run(args.run),
        Path(args.output) if args.output else None,
        force=args.force,
        make_dirs=args.parents,
    )
    _console().print(f"exported to {out}")
    return EXIT_OK


def _cmd_import(args: argparse.Namespace) -> int:
    from workbench.core.archive import import_run

    project = _project(args, create=True)  # like `run`, import writes a run into it
    from workbench.core.sweep_archive import import_sweep, is_sweep_archive

    if is_sweep_archive(Path(args.file)):
        sweep = import_sweep(project, Path(args.file), as_new=args.as_new)
        _console().print(f"imported sweep [bold]{sweep.id}[/] ({len(sweep.cells)} cells)")
        return EXIT_OK
    run = import_run(project, Path(args.file), as_new=args.as_new)
    _console().print(f"imported run [bold]{run.id}[/] into {project.name}\nfolder: {run.path}")
    return EXIT_OK


# --- helpers --------------------------------------------------------------------------------


def _resolve_config(args: argparse.Namespace) -> tuple[Any, Any]:
    from workbench.core.config import load_config_file, parse_override
    from workbench.core.registry import load_lab

    lab = load_lab(args.lab)
    values: dict[str, Any] = {}
    source = "defaults"
    if getattr(args, "preset", None):
        values.update(lab.preset(args.preset))
        source = f"preset {args.preset!r}"
    if args.config:
        values.update(load_config_file(args.config))
        source = str(args.config)
    config = lab.make_config(values, source=source)  # file errors name the file
    if args.set:
        overrides = dict(parse_override(item) for item in args.set)
        config = lab.make_config({**values, **overrides}, source="--set")
    return lab, config


@contextlib.contextmanager
def _progress(quiet: bool) -> Iterator[tuple[Any, threading.Event]]:
    """A progress display fed by run events, and SIGINT/SIGTERM turned into a clean cancel."""
    from workbench.progress_line import RunProgress

    cancel = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():  # second signal: stop now
            raise KeyboardInterrupt
        cancel.set()
        if not quiet:
            _console(stderr=True).print(
                "cancelling: the run stops at its next progress report (ctrl-c again to force)"
            )

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    _RUN_WARNINGS.active = True
    try:
        with RunProgress(_console(stderr=True), quiet=quiet) as progress:
            yield progress.on_event, cancel
    finally:
        _RUN_WARNINGS.active = False
        for s, h in previous.items():
            signal.signal(s, h)


def _preflight(config: Any) -> None:
    """Checks that need no run folder and fail in seconds, not after a minute of retries.

    A config naming a Hugging Face hub model (a ``model`` field, with ``download``)
    is checked before the run starts: cached, or the hub reachable. A bad name is
    bad input (exit 2), so no failed run folder is left behind.
    """
    model = getattr(config, "model", None)
    if not isinstance(model, str):
        return
    from workbench.core.models.gpt2 import check_hub_model

    check_hub_model(model, allow_download=bool(getattr(config, "download", True)))


def _report_run(run: Any, quiet: bool) -> int:
    import textwrap

    from rich.text import Text

    status = run.status
    if not quiet:
        console = _console()
        started = run.info.get("created")
        finished = run.info.get("finished")
        took = f" in {(finished - started).total_seconds():.0f} s" if started and finished else ""
        if status == "interrupted":
            console.print("cancelled")
        console.print(f"run [bold]{run.id}[/] {_status_markup(status)}{took}")
        console.print(f"folder: {run.path}")
        if _RUN_WARNINGS.held:
            # Cut at a word, never mid-word; the whole text is in log.txt.
            first = textwrap.shorten(_RUN_WARNINGS.held[0], 200, placeholder=" …")
            more = len(_RUN_WARNINGS.held) - 1
            note = f" (and {more} more)" if more else ""
            console.print(Text(f"warning: {first}{note}; all are in log.txt", style="yellow"))
        if status == "completed":
            console.print(f"next: workbench show {run.id}")
    return EXIT_INTERRUPTED if status == "interrupted" else EXIT_OK


def _headline(run: Any) -> str:
    """The run's headline result: the lab's chosen key, else the first result."""
    results = run.results
    if not results:
        return ""
    key = run.info.get("headline")
    if key not in results:
        key = next(iter(results))
    value = results[key]
    if isinstance(value, str) and key == run.info.get("headline"):
        return value  # a verdict line says what it is; the key would only crowd it out
    return f"{key} = {value:.4g}" if isinstance(value, float) else f"{key} = {value}"


def _widest_lab(runs: list[Any]) -> int:
    widest = 3
    for run in runs:
        with contextlib.suppress(WorkbenchError):
            widest = max(widest, len(str(run.info.get("lab", "?"))))
    return widest


def _short_time(value: Any) -> str:
    """``11-21 05:12`` (UTC) for a TOML datetime; text as it is otherwise."""
    return value.strftime("%m-%d %H:%M") if hasattr(value, "strftime") else str(value or "")


def _seeds_text(seeds: Any) -> str:
    if isinstance(seeds, dict):
        return str(seeds.get("count", ""))
    return "" if seeds is None else str(seeds)


def _status_markup(status: str) -> str:
    colour = {"completed": "green", "running": "cyan", "failed": "red", "interrupted": "yellow"}
    return f"[{colour.get(status, 'white')}]{status}[/]"


def _config_table(config_cls: type) -> Any:
    from rich.table import Table

    from workbench.core.config import config_fields, toml_value_text

    # Defaults as the TOML that --set takes: ["first-bit", "random-lookup"], [16, 16], "relu".
    table = Table(title="Config", title_justify="left")
    table.add_column("key", no_wrap=True)
    table.add_column("default", overflow="fold")
    for name in ("unit", "allowed", "help"):
        table.add_column(name)
    for spec in config_fields(config_cls):
        default = "" if spec.default is None else toml_value_text(spec.default)
        table.add_row(spec.name, default, spec.unit, spec.allowed, spec.help)
    return table


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _err(message: str) -> None:
    from rich.text import Text

    # Text, not markup: messages quote user values such as [16, 16] verbatim.
    _console(stderr=True).print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
