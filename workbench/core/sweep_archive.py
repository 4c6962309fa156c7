"""Exporting a sweep, all its runs, as one archive; and importing it back.

A sweep archive is a ``.tar.gz`` holding ``SWEEP.toml`` (the sweep's ``sweep.toml``) and one
run archive per run, ``runs/<run id>.tar.gz``, each exactly what ``workbench export`` writes, so
each run is checked against its own sha256 manifest on import by
:func:`workbench.core.archive.import_run`. The outer archive is read member by member: only
those two kinds of regular file, with sizes capped, are accepted, and nothing is written
outside a staging folder, which is removed whatever happens.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tarfile
import tempfile
from pathlib import Path

from workbench.core.archive import ImportLimits, export_run, import_run
from workbench.core.atomic import atomic_write_with, read_toml
from workbench.core.errors import ArchiveError
from workbench.core.runs import Project
from workbench.core.sweep import SWEEP_FILE, SWEEPS_DIR, Sweep, _load, runs_of

__all__ = ["SWEEP_MEMBER", "export_sweep", "import_sweep", "is_sweep_archive"]

SWEEP_MEMBER = "SWEEP.toml"
_RUN_MEMBER = re.compile(r"^runs/([0-9A-Za-z][0-9A-Za-z._-]{0,80})\.tar\.gz$")


def export_sweep(
    project: Project, sweep: Sweep, out: Path | None = None, *, force: bool = False
) -> Path:
    """Write the sweep and every run it produced as one ``.tar.gz``; return its path.

    Raises:
        ArchiveError: if ``out`` exists (without ``force``) or its folder does not exist.
    """
    out = Path(out) if out is not None else Path.cwd() / f"{sweep.id}.tar.gz"
    if out.exists() and not force:
        raise ArchiveError(f"{out} already exists; choose another name, or --force replaces it")
    if not out.parent.is_dir():
        raise ArchiveError(f"folder {out.parent} does not exist; create it first")
    with tempfile.TemporaryDirectory(prefix="workbench-sweep-") as tmp:
        inner = []
        for _, run in runs_of(project, sweep):
            if run is not None:
                inner.append(export_run(run, Path(tmp) / f"{run.id}.tar.gz"))

        def write(path: Path) -> None:
            with tarfile.open(path, "w:gz") as tar:
                tar.add(sweep.path / SWEEP_FILE, arcname=SWEEP_MEMBER)
                for archive in inner:
                    tar.add(archive, arcname=f"runs/{archive.name}")

        atomic_write_with(out, write)
    return out


def is_sweep_archive(archive: Path) -> bool:
    """True when ``archive`` is a readable tar whose first member is ``SWEEP.toml``."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            first = tar.next()
            return first is not None and first.name == SWEEP_MEMBER
    except (tarfile.TarError, OSError, EOFError):
        return False


def import_sweep(
    project: Project, archive: Path, limits: ImportLimits | None = None, *, as_new: bool = False
) -> Sweep:
    """Import a sweep archive: each run (checked), then the sweep with its run ids mapped.

    Raises:
        ArchiveError: for an unsafe or malformed archive, or a sweep the project already has
            (without ``as_new``). Runs imported before a failure are removed again.
    """
    limits = limits or ImportLimits()
    staging = Path(tempfile.mkdtemp(prefix="workbench-sweep-import-"))
    imported: list[Path] = []
    try:
        sweep_file, runs = _extract(Path(archive), staging, limits)
        data = read_toml(sweep_file)
        sweep_id = str(data.get("sweep", {}).get("id", ""))
        if not re.fullmatch(r"sw-[0-9A-Za-z-]{1,40}", sweep_id):
            raise ArchiveError(f"{archive}: SWEEP.toml has no valid sweep id")
        target_id = sweep_id
        existing = project.path / SWEEPS_DIR / sweep_id
        if existing.exists():
            if not as_new:
                raise ArchiveError(
                    f"sweep {sweep_id} is already in this project; --as-new imports a copy"
                )
            target_id = f"{sweep_id}-{secrets.token_hex(2)}"
        id_map = {}
        for old_id, path in runs.items():
            run = import_run(project, path, limits, as_new=True)
            imported.append(run.path)
            id_map[old_id] = run.id
        folder = project.path / SWEEPS_DIR / target_id
        folder.mkdir(parents=True)
        shutil.copyfile(sweep_file, folder / SWEEP_FILE)
        sweep = _load(folder)
        sweep.id = target_id
        for cell in sweep.cells:
            cell.run = id_map.get(cell.run, "")
            if not cell.run and cell.state == "completed":
                cell.state = "pending"  # its run was not in the archive
        sweep.save()
        for new in id_map.values():  # the runs now belong to the imported sweep id
            _retag(project, new, target_id)
        return sweep
    except (tarfile.TarError, OSError, EOFError, ValueError, KeyError) as err:
        for path in imported:
            shutil.rmtree(path, ignore_errors=True)
        raise ArchiveError(f"{archive} is not a readable workbench sweep archive: {err}") from None
    except ArchiveError:
        for path in imported:
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _retag(project: Project, run_id: str, sweep_id: str) -> None:
    from workbench.core.atomic import atomic_write_toml

    file = project.runs_dir / run_id / "run.toml"
    doc = read_toml(file)
    doc["run"]["sweep"] = sweep_id
    atomic_write_toml(file, doc)


def _extract(archive: Path, staging: Path, limits: ImportLimits) -> tuple[Path, dict[str, Path]]:
    """Extract ``SWEEP.toml`` and the run archives into ``staging``, refusing anything else."""
    if not archive.is_file():
        raise ArchiveError(f"{archive} does not exist or is not a file")
    sweep_file: Path | None = None
    runs: dict[str, Path] = {}
    total = 0
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            match = _RUN_MEMBER.match(member.name)
            if not member.isfile() or (member.name != SWEEP_MEMBER and match is None):
                raise ArchiveError(
                    f"{archive}: unexpected member {member.name!r}; a sweep archive holds only "
                    "SWEEP.toml and runs/<id>.tar.gz"
                )
            total += member.size
            if member.size > limits.max_file_bytes or total > limits.max_total_bytes:
                raise ArchiveError(f"{archive}: {member.name} exceeds the import size limits")
            if len(runs) >= limits.max_files:
                raise ArchiveError(f"{archive}: more than {limits.max_files} runs")
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has contents
            name = "sweep.toml" if match is None else f"{match.group(1)}.tar.gz"
            dest = staging / name  # a fixed name or a checked id: never outside staging
            with open(dest, "wb") as fh:
                shutil.copyfileobj(source, fh)
            if match is None:
                sweep_file = dest
            else:
                runs[match.group(1)] = dest
    if sweep_file is None:
        raise ArchiveError(f"{archive} has no SWEEP.toml: it is not a sweep archive")
    return sweep_file, runs
