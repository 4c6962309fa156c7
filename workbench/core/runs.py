"""Projects and run folders: the storage contract.

A **project** is a folder holding ``workbench.toml`` and ``runs/``::

    my-project/
      workbench.toml          [project] name, description, created, device
      runs/
        20261121-050112-123-a1b2/
          run.toml            [run] [config] [results]
          metrics.jsonl       small records, and one line per chunk of per-seed records
          metrics/*.npz       per-seed records as columns (workbench.core.metrics_store)
          progress.toml       the current step and its progress (rewritten, throttled)
          arrays/*.npy        numeric arrays (loaded with allow_pickle=False)
          arrays/index.toml   axis names, tick labels and descriptions of the arrays
          checkpoints/*.safetensors
          log.txt             the run's log
          summary.md          the lab's conclusion in words, if it wrote one

Every file except the append-only ``metrics.jsonl`` and ``log.txt`` is written
atomically (temp file, then rename), so a run killed at any moment stays
readable; a partial last line of ``metrics.jsonl`` is ignored by readers. A run
whose ``status`` is ``running`` but whose process is gone reads as
``interrupted`` everywhere (:attr:`Run.status`).

Notebook use::

    import workbench
    project = workbench.open_project()          # or open_project("path/to/project")
    run = project.run("latest")
    run.results["first-bit/entropy/layer2/mean"]
    m = run.metrics()                           # {"step": array, "seed": array, "loss": array, ...}
    ir = run.array("first-bit/ir_seed_seed/layer2")
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import platform
import re
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workbench.core.atomic import atomic_write_text, atomic_write_toml, atomic_write_with, read_toml
from workbench.core.errors import ProjectError, RunFolderError, RunNotFoundError
from workbench.core.locations import default_project_dir
from workbench.core.metrics_store import (
    CHUNK_DIR,
    CHUNK_KEY,
    expand_line,
    filter_columns,
    merge_columns,
    read_chunk,
    split_records,
    summarize,
    write_chunk,
)

__all__ = [
    "PROJECT_FILE",
    "RUN_FILE",
    "STATUSES",
    "Project",
    "Run",
    "RunWriter",
    "find_project",
    "init_project",
    "neutral_argv",
    "open_project",
    "remove_run",
    "set_run_notes",
]

PROJECT_FILE = "workbench.toml"
RUN_FILE = "run.toml"
METRICS_FILE = "metrics.jsonl"
PROGRESS_FILE = "progress.toml"
ARRAYS_DIR = "arrays"
ARRAYS_INDEX = "index.toml"
CHECKPOINTS_DIR = "checkpoints"
LOG_FILE = "log.txt"
HEARTBEAT_FILE = "heartbeat"
STATUSES = ("running", "completed", "failed", "interrupted")

_ID_RE = re.compile(r"^\d{8}-\d{6}-\d{3}-[0-9a-f]{4,}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*$")

log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


# --- projects ---------------------------------------------------------------------------------


class Project:
    """A project folder: ``workbench.toml`` plus ``runs/``.

    Use :func:`open_project` or :func:`init_project` rather than the constructor.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()
        file = self.path / PROJECT_FILE
        try:
            data = read_toml(file)
        except FileNotFoundError:
            raise ProjectError(
                f"{self.path} is not a workbench project (no {PROJECT_FILE})"
            ) from None
        except Exception as err:  # malformed TOML or unreadable file
            raise ProjectError(f"{file} cannot be read: {err}") from None
        table = data.get("project")
        if not isinstance(table, dict):
            raise ProjectError(f"{file} has no [project] table")
        self.name: str = str(table.get("name", self.path.name))
        self.description: str = str(table.get("description", ""))
        self.created: Any = table.get("created")
        self.device: str = str(table.get("device", "auto"))

    @property
    def runs_dir(self) -> Path:
        """The folder holding one sub-folder per run."""
        return self.path / "runs"

    def __repr__(self) -> str:
        return f"Project({str(self.path)!r})"

    def runs(self) -> list[Run]:
        """All runs, oldest first (run ids sort by creation time)."""
        if not self.runs_dir.is_dir():
            return []
        return [
            Run(p)
            for p in sorted(self.runs_dir.iterdir())
            if p.is_dir() and not p.name.startswith(".") and (p / RUN_FILE).exists()
        ]

    def run(self, ref: str) -> Run:
        """Find a run by id, unique id prefix, or ``latest``.

        Raises:
            RunNotFoundError: no run, or several runs, match.
        """
        runs = self.runs()
        if ref in ("latest", "last"):
            if not runs:
                raise RunNotFoundError(f"project {self.name!r} has no runs yet")
            return runs[-1]
        exact = [r for r in runs if r.id == ref]
        if exact:
            return exact[0]
        matches = [r for r in runs if r.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise RunNotFoundError(
                f"no run {ref!r} in project {self.name!r} ({self.path}); "
                "`workbench runs` lists them, and `latest` names the newest"
            )
        ids = ", ".join(r.id for r in matches[:5])
        raise RunNotFoundError(f"run prefix {ref!r} is ambiguous: {ids}")

    def new_run_dir(self) -> tuple[str, Path]:
        """Create a fresh, uniquely named run folder.

        Ids are ``YYYYMMDD-HHMMSS-mmm-xxxx`` (UTC time, milliseconds, random hex):
        they sort by time, and ``mkdir`` is exclusive, so two runs started in the
        same millisecond, even by two processes, never share a folder.
        """
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            run_id = new_run_id()
            path = self.runs_dir / run_id
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return run_id, path
        raise ProjectError(f"could not create a unique run folder under {self.runs_dir}")

    def create_run(
        self,
        *,
        lab: str,
        config: Mapping[str, Any],
        device: str,
        seeds: tuple[int, int],
        extra: Mapping[str, Any] | None = None,
    ) -> RunWriter:
        """Start a new run folder with status ``running`` and return its writer."""
        run_id, path = self.new_run_dir()
        return RunWriter.create(
            path, run_id=run_id, lab=lab, config=config, device=device, seeds=seeds, extra=extra
        )


def new_run_id(now: dt.datetime | None = None) -> str:
    """A run id that sorts by time: ``YYYYMMDD-HHMMSS-mmm-xxxx``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}-{secrets.token_hex(2)}"


def find_project(start: Path | None = None) -> Path | None:
    """Find the nearest folder holding ``workbench.toml``, from ``start`` upwards (like git)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def init_project(
    path: Path | str,
    *,
    name: str | None = None,
    description: str = "",
    device: str = "auto",
) -> Project:
    """Create a project folder (or open it if it already is one).

    Raises:
        ProjectError: if ``path`` is a non-empty folder that is not a project, or a file.
    """
    path = Path(path).expanduser().resolve()
    if (path / PROJECT_FILE).is_file():
        return Project(path)
    if path.exists() and not path.is_dir():
        raise ProjectError(f"{path} is a file, not a project folder")
    if path.is_dir() and any(path.iterdir()):
        raise ProjectError(
            f"{path} is not empty and has no {PROJECT_FILE}; "
            f"run `workbench init {path}` to make it a project"
        )
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_toml(
        path / PROJECT_FILE,
        {
            "project": {
                "name": name or path.name,
                "description": description,
                "created": _now(),
                "device": device,
            }
        },
    )
    (path / "runs").mkdir(exist_ok=True)
    return Project(path)


def open_project(path: Path | str | None = None, *, create: bool = True) -> Project:
    """Open a project.

    With ``path``: that folder, created if it does not exist or is empty (with
    ``create=False``, a folder that is not a project yet is an error instead:
    commands that only read, such as ``runs`` or ``show``, never make one).
    Without: the nearest ``workbench.toml`` from the working directory upwards,
    else ``$WORKBENCH_PROJECT``, else the default project in the user data
    folder, created on first use.

    Raises:
        ProjectError: with ``create=False``, if ``path`` holds no ``workbench.toml``.
    """
    if path is not None:
        if not create and not (Path(path).expanduser() / PROJECT_FILE).is_file():
            raise ProjectError(
                f"{path} is not a workbench project (it has no {PROJECT_FILE}); "
                f"`workbench init {path}` makes one, and `workbench run` creates it"
            )
        return init_project(path)
    found = find_project()
    if found is not None:
        return Project(found)
    env = os.environ.get("WORKBENCH_PROJECT")
    if env:
        return init_project(env)
    return init_project(
        default_project_dir(),
        name="default",
        description="The default workbench project, created on first use.",
    )


# --- runs: reading ----------------------------------------------------------------------------


class Run:
    """Read-only view of a run folder. Every property reads the folder afresh."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def id(self) -> str:
        """The run id (the folder name)."""
        return self.path.name

    def document(self) -> dict[str, Any]:
        """The parsed ``run.toml``.

        Raises:
            RunFolderError: if it is missing or malformed.
        """
        file = self.path / RUN_FILE
        try:
            data = read_toml(file)
        except FileNotFoundError:
            raise RunFolderError(f"{self.path} has no {RUN_FILE}") from None
        except Exception as err:
            raise RunFolderError(f"{file} cannot be read: {err}") from None
        if not isinstance(data.get("run"), dict):
            raise RunFolderError(f"{file} has no [run] table")
        return data

    @property
    def info(self) -> dict[str, Any]:
        """The ``[run]`` table: id, lab, status, created, finished, versions, device, seeds..."""
        return dict(self.document()["run"])

    @property
    def lab(self) -> str:
        """Name of the lab that made this run."""
        return str(self.info.get("lab", "?"))

    @property
    def config(self) -> dict[str, Any]:
        """The whole resolved config (``[config]``)."""
        return dict(self.document().get("config", {}))

    @property
    def results(self) -> dict[str, Any]:
        """Headline numbers under namespaced keys (``[results]``)."""
        return dict(self.document().get("results", {}))

    @property
    def status(self) -> str:
        """``running``, ``completed``, ``failed`` or ``interrupted``.

        A run recorded as ``running`` whose process has gone (killed, crashed,
        machine rebooted) is reported as ``interrupted``.
        """
        return effective_status(self.info, self.path)

    @property
    def steps_done(self) -> list[str]:
        """Keys of the lab steps that finished."""
        return list(self.info.get("steps_done", []))

    def progress(self) -> dict[str, Any]:
        """The latest progress record: step, done, total and live numbers (may be empty)."""
        try:
            return read_toml(self.path / PROGRESS_FILE)
        except Exception:  # absent, or being replaced on a platform without atomic rename
            return {}

    # metrics -----------------------------------------------------------------------------------

    def metric_records(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Read complete metric records appended after byte ``offset``.

        Returns the records and the offset to pass next time, so a follower
        (the TUI) reads only what is new. A partial last line (a writer killed
        mid-write, or still writing) is left for the next call.
        """
        file = self.path / METRICS_FILE
        try:
            with open(file, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
        except FileNotFoundError:
            return [], offset
        end = chunk.rfind(b"\n")
        if end < 0:
            return [], offset
        records = []
        for line in chunk[: end + 1].splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                log.warning("skipping a malformed metrics line in %s", file)
                continue
            if isinstance(rec, dict):
                records.extend(expand_line(self.path, rec))  # a chunk line is many records
        return records, offset + end + 1

    def metrics(self, **match: Any) -> dict[str, np.ndarray[Any, Any]]:
        """All metric records as columns of numpy arrays.

        Args:
            **match: Keep only records whose fields equal these values, e.g.
                ``task="first-bit"``.

        Returns:
            ``{"step": (n,), "seed": (n,), "loss": (n,), ...}``; a field missing from
            a record is NaN (numbers) or ``""`` (text).
        """
        return merge_columns(self._metric_segments(match))

    def _metric_segments(self, match: Mapping[str, Any]) -> list[dict[str, np.ndarray[Any, Any]]]:
        """Column segments in file order: loose JSON records, and chunks read as columns."""
        segments: list[dict[str, np.ndarray[Any, Any]]] = []
        loose: list[dict[str, Any]] = []

        def flush() -> None:
            kept = [r for r in loose if all(r.get(k) == v for k, v in match.items())]
            segments.append(records_to_columns(kept))
            loose.clear()

        for rec in self._metric_lines():
            name = rec.get(CHUNK_KEY)
            if not isinstance(name, str):
                loose.append(rec)
                continue
            flush()
            columns = read_chunk(self.path, name)
            if columns is not None:
                segments.append(filter_columns(columns, match))
        flush()
        return segments

    def _metric_lines(self) -> list[dict[str, Any]]:
        """The complete lines of ``metrics.jsonl`` as dicts (chunk lines unexpanded)."""
        try:
            data = (self.path / METRICS_FILE).read_bytes()
        except FileNotFoundError:
            return []
        lines = []
        for line in data[: data.rfind(b"\n") + 1].splitlines():
            try:
                rec = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                log.warning("skipping a malformed metrics line in %s", self.path / METRICS_FILE)
                continue
            if isinstance(rec, dict):
                lines.append(rec)
        return lines

    # arrays, checkpoints, texts -----------------------------------------------------------------

    def array_names(self) -> list[str]:
        """Names of the saved arrays (``arrays/a/b.npy`` is ``a/b``), sorted."""
        root = self.path / ARRAYS_DIR
        if not root.is_dir():
            return []
        return sorted(
            p.relative_to(root).with_suffix("").as_posix()
            for p in root.rglob("*.npy")
            if not p.name.startswith(".")
        )

    def array(self, name: str) -> np.ndarray[Any, Any]:
        """Load an array (never unpickles: ``allow_pickle=False``)."""
        path = self.path / ARRAYS_DIR / f"{_check_name(name)}.npy"
        try:
            arr: np.ndarray[Any, Any] = np.load(path, allow_pickle=False)
            return arr
        except FileNotFoundError:
            raise RunFolderError(f"run {self.id} has no array {name!r}") from None
        except ValueError as err:
            raise RunFolderError(f"array {name!r} of run {self.id} cannot be read: {err}") from None

    def array_meta(self, name: str) -> dict[str, Any]:
        """Axis names, tick labels and description saved with an array (may be empty)."""
        index = self._array_index()
        meta = index.get(name, {})
        return dict(meta) if isinstance(meta, dict) else {}

    def _array_index(self) -> dict[str, Any]:
        try:
            return read_toml(self.path / ARRAYS_DIR / ARRAYS_INDEX)
        except Exception:
            return {}

    def checkpoint_names(self) -> list[str]:
        """Names of the saved checkpoints."""
        root = self.path / CHECKPOINTS_DIR
        return sorted(p.stem for p in root.glob("*.safetensors")) if root.is_dir() else []

    def checkpoint(self, name: str) -> dict[str, Any]:
        """Load a checkpoint's tensors (safetensors: no code is ever unpickled)."""
        from safetensors.torch import load_file

        path = self.path / CHECKPOINTS_DIR / f"{_check_name(name)}.safetensors"
        if not path.exists():
            raise RunFolderError(f"run {self.id} has no checkpoint {name!r}")
        return dict(load_file(str(path)))

    def text(self, name: str) -> str:
        """A Markdown report the lab wrote (e.g. ``summary.md``), or ``""``."""
        try:
            return (self.path / _check_name(name)).read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def log_text(self) -> str:
        """The run's log."""
        return self.text(LOG_FILE)


def records_to_columns(records: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray[Any, Any]]:
    """Turn metric records into columns; see :meth:`Run.metrics`."""
    keys: dict[str, None] = {}
    for rec in records:
        for k in rec:
            keys.setdefault(k, None)
    columns: dict[str, np.ndarray[Any, Any]] = {}
    for key in keys:
        values = [rec.get(key) for rec in records]
        present = [v for v in values if v is not None]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            if present and all(isinstance(v, int) for v in present) and len(present) == len(values):
                columns[key] = np.asarray(values, dtype=np.int64)
            else:
                columns[key] = np.asarray(
                    [np.nan if v is None else v for v in values], dtype=np.float64
                )
        else:
            columns[key] = np.asarray(["" if v is None else str(v) for v in values])
    return columns


def effective_status(info: Mapping[str, Any], run_path: Path | None = None) -> str:
    """The status a reader should report: ``running`` only while the process lives."""
    status = str(info.get("status", "interrupted"))
    if status != "running":
        return status
    return "running" if _process_alive(info, run_path) else "interrupted"


#: A run on another host (a project on a shared file system) counts as alive while
#: its heartbeat is younger than this many seconds; the runner beats every few seconds.
HEARTBEAT_TIMEOUT = 60.0


def _process_alive(info: Mapping[str, Any], run_path: Path | None = None) -> bool:
    pid = info.get("pid")
    if not isinstance(pid, int):
        return False
    if info.get("host") != socket.gethostname():
        # We cannot see another machine's processes; trust a fresh heartbeat only.
        return run_path is not None and _heartbeat_age(run_path) < HEARTBEAT_TIMEOUT
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by someone else
    started = info.get("pid_started")
    if started is not None:
        # pids are reused: the process must also have the recorded start time.
        now_started = process_start_ticks(pid)
        if now_started is not None and now_started != started:
            return False
    return _not_zombie(pid)


def _heartbeat_age(run_path: Path) -> float:

    try:
        return time.time() - (run_path / HEARTBEAT_FILE).stat().st_mtime
    except OSError:
        return float("inf")


def process_start_ticks(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot (Linux), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; split after its end.
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 of the whole line
    except (IndexError, ValueError):
        return None


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    state = stat[stat.rfind(")") + 2 :].split()[:1]
    return state != ["Z"]


def _check_name(name: str) -> str:
    """Array/checkpoint/text names are relative paths without '..', so they stay in the run."""
    if not _NAME_RE.match(name) or ".." in name.split("/"):
        raise ValueError(
            f"invalid name {name!r}: use letters, digits, '.', '_', '-' and '/' between parts"
        )
    return name


# --- runs: writing ----------------------------------------------------------------------------


class RunWriter(Run):
    """The writing side of a run folder, held by the process that runs the lab."""

    #: metrics.jsonl is fsynced at most this often (seconds); every line is flushed.
    fsync_interval = 2.0

    def __init__(self, path: Path, document: dict[str, Any]) -> None:
        super().__init__(path)
        self._doc = document
        self._metrics_fh = open(self.path / METRICS_FILE, "a", encoding="utf-8")  # noqa: SIM115
        self._last_fsync = 0.0
        chunks = self.path / CHUNK_DIR
        self._n_chunks = len(list(chunks.glob("*.npz"))) if chunks.is_dir() else 0
        self._index: dict[str, Any] | None = None  # arrays/index.toml, read once
        self._index_batch = 0  # depth of batch_arrays() blocks
        self._index_dirty = False
        self._index_written = 0.0
        self._log_handler: logging.Handler | None = None

    @classmethod
    def create(
        cls,
        path: Path,
        *,
        run_id: str,
        lab: str,
        config: Mapping[str, Any],
        device: str,
        seeds: tuple[int, int],
        extra: Mapping[str, Any] | None = None,
    ) -> RunWriter:
        """Write the initial ``run.toml`` (status ``running``) into an empty folder."""
        import torch

        from workbench import __version__

        pid = os.getpid()
        run_table: dict[str, Any] = {
            "id": run_id,
            "lab": lab,
            "status": "running",
            "created": _now(),
            "workbench_version": __version__,
            "python_version": platform.python_version(),
            "torch_version": torch.__version__,
            "numpy_version": np.__version__,
            "device": device,
            "host": socket.gethostname(),
            "pid": pid,
            "seeds": {"first": seeds[0], "count": seeds[1]},
            "steps_done": [],
            "argv": neutral_argv(sys.argv, path.parent.parent),
        }
        started = process_start_ticks(pid)
        if started is not None:
            run_table["pid_started"] = started
        if extra:
            run_table.update(extra)
        document = {"run": run_table, "config": dict(config), "results": {}}
        atomic_write_toml(path / RUN_FILE, document)
        writer = cls(path, document)
        writer.heartbeat()
        writer._attach_log()
        return writer

    # -- run.toml ---------------------------------------------------------------------------

    def _flush_document(self) -> None:
        atomic_write_toml(self.path / RUN_FILE, self._doc)

    def set_results(self, results: Mapping[str, Any]) -> None:
        """Merge headline numbers into ``[results]`` (one atomic rewrite of run.toml)."""
        clean: dict[str, Any] = {}
        for key, value in results.items():
            if isinstance(value, (np.floating, np.integer, np.bool_)):
                value = value.item()
            if not isinstance(value, (bool, int, float, str)):
                raise TypeError(
                    f"result {key!r} must be a number, bool or string, not {type(value)}"
                )
            clean[key] = value
        self._doc["results"].update(clean)
        self._flush_document()

    def update_info(self, **fields: Any) -> None:
        """Update fields of ``[run]`` (one atomic rewrite)."""
        self._doc["run"].update(fields)
        self._flush_document()

    def mark_step_done(self, key: str) -> None:
        """Record that a lab step finished."""
        self._doc["run"]["steps_done"] = [*self._doc["run"]["steps_done"], key]
        self._flush_document()

    def heartbeat(self) -> None:
        """Touch the heartbeat file: readers on other hosts see the run is alive."""
        (self.path / HEARTBEAT_FILE).touch()

    def finish(self, status: str, error: str | None = None) -> None:
        """Set the final status and close files. Safe to call once."""
        if status not in STATUSES or status == "running":
            raise ValueError(
                f"final status must be completed, failed or interrupted, not {status!r}"
            )
        self._doc["run"]["status"] = status
        self._doc["run"]["finished"] = _now()
        if error:
            self._doc["run"]["error"] = error
        self._flush_document()
        self.close()

    def close(self) -> None:
        """Flush and close the metrics file and the log handler."""
        if not self._metrics_fh.closed:
            self._metrics_fh.flush()
            os.fsync(self._metrics_fh.fileno())
            self._metrics_fh.close()
        if self._log_handler is not None:
            logging.getLogger("workbench").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    # -- appended streams -----------------------------------------------------------------------

    def append_metrics(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append records: per-seed runs as column chunks, the rest as JSON lines.

        See :mod:`workbench.core.metrics_store`. A chunk is written whole before
        the line naming it is appended; each line is written whole and flushed.
        """
        parts = []
        for columns, loose in split_records([_jsonable(r) for r in records]):
            if columns is None:
                parts += [json.dumps(r, separators=(",", ":")) + "\n" for r in loose]
                continue
            self._n_chunks += 1
            name = write_chunk(self.path, self._n_chunks, columns)
            n = len(next(iter(columns.values())))
            line = {CHUNK_KEY: name, "_records": n, "_summary": summarize(columns)}
            parts.append(json.dumps(line, separators=(",", ":")) + "\n")
        lines = "".join(parts)
        if not lines:
            return
        self._metrics_fh.write(lines)
        self._metrics_fh.flush()

        now = time.monotonic()
        if now - self._last_fsync > self.fsync_interval:
            os.fsync(self._metrics_fh.fileno())
            self._last_fsync = now

    def _attach_log(self) -> None:
        handler = logging.FileHandler(self.path / LOG_FILE, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.INFO)
        logger = logging.getLogger("workbench")
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        self._log_handler = handler

    # -- files ------------------------------------------------------------------------------------

    def write_progress(self, step: str, done: float, total: float, info: Mapping[str, Any]) -> None:
        """Replace ``progress.toml`` with the current step's progress."""
        record: dict[str, Any] = {
            "step": step,
            "done": float(done),
            "total": float(total),
            "updated": dt.datetime.now(dt.timezone.utc),
        }
        live = {k: _jsonable(v) for k, v in info.items()}
        if live:
            record["info"] = {k: v for k, v in live.items() if v is not None}
        atomic_write_toml(self.path / PROGRESS_FILE, record)

    def save_array(
        self,
        name: str,
        array: np.ndarray[Any, Any],
        *,
        axes: Sequence[str] = (),
        labels: Mapping[str, Sequence[str]] | None = None,
        description: str = "",
    ) -> None:
        """Save ``arrays/<name>.npy`` atomically and record its metadata in the index."""
        _check_name(name)
        arr = np.asarray(array)
        if arr.dtype == object:
            raise TypeError(f"array {name!r} has object dtype; save numbers or fixed-width strings")
        if axes and len(axes) != arr.ndim:
            raise ValueError(f"array {name!r} has {arr.ndim} dims but {len(axes)} axis names")
        path = self.path / ARRAYS_DIR / f"{name}.npy"

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)

        atomic_write_with(path, write)
        meta: dict[str, Any] = {"shape": list(arr.shape), "dtype": str(arr.dtype)}
        if axes:
            meta["axes"] = list(axes)
        if labels:
            meta["labels"] = {k: [str(v) for v in vs] for k, vs in labels.items()}
        if description:
            meta["description"] = description
        if self._index is None:
            self._index = self._array_index()
        self._index[name] = meta
        self._index_dirty = True
        # Inside batch_arrays() the index is rewritten once at the end (and at most every
        # index_interval seconds, so a kill -9 loses at most that much metadata; the
        # arrays themselves are always complete files).
        if not self._index_batch or time.monotonic() - self._index_written > self.index_interval:
            self._write_index()

    #: Inside batch_arrays(), arrays/index.toml is rewritten at most this often (seconds).
    index_interval = 1.0

    @contextlib.contextmanager
    def batch_arrays(self) -> Iterator[None]:
        """Defer ``arrays/index.toml`` rewrites of the arrays saved in the block to one write.

        Each array is still written atomically as it is saved. The runner wraps every
        lab step in this block: one index write per step instead of one per array.
        """
        self._index_batch += 1
        try:
            yield
        finally:
            self._index_batch -= 1
            if not self._index_batch and self._index_dirty:
                self._write_index()

    def _write_index(self) -> None:
        atomic_write_toml(self.path / ARRAYS_DIR / ARRAYS_INDEX, self._index or {})
        self._index_dirty = False
        self._index_written = time.monotonic()

    def save_checkpoint(self, name: str, tensors: Mapping[str, Any]) -> None:
        """Save tensors as ``checkpoints/<name>.safetensors`` atomically."""
        from safetensors.torch import save_file

        _check_name(name)
        cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
        atomic_write_with(
            self.path / CHECKPOINTS_DIR / f"{name}.safetensors",
            lambda tmp: save_file(cpu, str(tmp)),
        )

    def write_text(self, name: str, text: str) -> None:
        """Write a text file (e.g. ``summary.md``) into the run folder atomically."""
        _check_name(name)
        if name in (RUN_FILE, METRICS_FILE, PROGRESS_FILE, LOG_FILE, HEARTBEAT_FILE):
            raise ValueError(f"{name!r} is reserved for the run folder itself")
        atomic_write_text(self.path / name, text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN/inf; readers turn null back into NaN
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def neutral_argv(argv: Sequence[str], project_dir: Path) -> list[str]:
    """The command line as a run records it, without this machine's folders.

    A run folder is shared (exported, shipped as a sample), so it must not carry
    a developer's absolute paths: the program becomes ``workbench``, a path
    inside the project becomes relative to it (``.`` for the project itself), a
    path under the home folder starts with ``~``, and any other absolute path
    keeps only its file name.
    """
    out = ["workbench"] if argv else []
    for arg in list(argv)[1:]:
        path = Path(arg)
        if not path.is_absolute():
            out.append(arg)
            continue
        for base, prefix in ((project_dir, ""), (Path.home(), "~/")):
            try:
                rel = path.resolve().relative_to(Path(base).resolve()).as_posix()
            except (ValueError, OSError):
                continue
            out.append(prefix + rel if prefix else rel)
            break
        else:
            out.append(path.name)
    return out


#: Most characters in a run's note, and in each of its tags.
MAX_NOTE, MAX_TAG = 2000, 40


def set_run_notes(run: Run, *, note: str | None = None, tags: Sequence[str] | None = None) -> None:
    """Set a run's note and/or tags in ``[run]`` of its ``run.toml`` (atomically).

    Tags are short words (letters, digits, ``-_.:``); they are stored sorted and
    without repeats. ``None`` leaves that field as it is; an empty note or tag
    list removes it.

    Raises:
        ProjectError: if the run is still running (its writer owns ``run.toml``), a
            tag is not a short word, or the note is too long.
        RunFolderError: if ``run.toml`` cannot be read.
    """
    doc = run.document()
    info = doc["run"]
    if effective_status(info, run.path) == "running":
        raise ProjectError(f"run {run.id} is still running; add its note or tags when it ends")
    if note is not None:
        if len(note) > MAX_NOTE:
            raise ProjectError(f"a note is at most {MAX_NOTE} characters; this one has {len(note)}")
        if note.strip():
            info["note"] = note.strip()
        else:
            info.pop("note", None)
    if tags is not None:
        clean = sorted({t.strip() for t in tags if t.strip()})
        for tag in clean:
            if len(tag) > MAX_TAG or not re.fullmatch(r"[\w.:-]+", tag):
                raise ProjectError(
                    f"tag {tag!r} is not allowed: a tag is one word of at most {MAX_TAG} "
                    "letters, digits or - _ . :"
                )
        if clean:
            info["tags"] = clean
        else:
            info.pop("tags", None)
    atomic_write_toml(run.path / RUN_FILE, doc)


def remove_run(run: Run) -> None:
    """Delete a run folder for good.

    The folder is first renamed to a hidden name (readers skip it at once, so
    no one sees a half-deleted run), then removed.

    Raises:
        ProjectError: if the run is still running (cancel it first).
    """
    try:
        info = run.info
    except RunFolderError:
        info = {}
    if info and effective_status(info, run.path) == "running":
        raise ProjectError(f"run {run.id} is still running; cancel it before removing it")
    trash = run.path.with_name(f".removing-{run.id}-{secrets.token_hex(4)}")
    run.path.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)


def remove_run_folder(path: Path) -> None:
    """Delete a run folder (used to clean up failed imports)."""
    shutil.rmtree(path, ignore_errors=True)


def iter_run_files(path: Path) -> Iterator[Path]:
    """Every regular file of a run folder, relative paths in sorted order (temp files skipped)."""
    for p in sorted(path.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            yield p.relative_to(path)
