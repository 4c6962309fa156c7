"""Sharing runs: export a run folder as ``.tar.gz``; import one safely.

An archive holds ``MANIFEST.toml`` (format version, run id, and the sha256 and
size of every file) followed by the run's files under ``<run-id>/``.

Import trusts nothing in the archive. It refuses absolute paths, ``..``,
links, devices and any member that is not a regular file or folder; it caps
the number of files, the size of each and their total (zip/tar bombs); it
checks every file against the manifest and refuses files the manifest does not
list. It extracts into a hidden staging folder inside the project's ``runs/``
and renames that into place only when everything checked out, so a refused
import writes nothing outside its target and leaves no partial run. A run id
that already exists gets a new id: import never overwrites.

Importing the same archive twice is refused: a run that came from an archive
records the sha256 of its manifest (``[run].import_manifest_sha256``), and a run
with the archive's id whose files match the manifest is the same run. With
``as_new=True`` the copy is imported anyway, under a new id.

Export never overwrites a file unless asked (``force``) and never creates
folders unless asked (``make_dirs``): a typo in ``-o`` must not go unnoticed.
"""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
import shutil
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

import tomli_w

from workbench.core.atomic import atomic_write_toml, atomic_write_with, read_toml
from workbench.core.errors import ArchiveError
from workbench.core.runs import RUN_FILE, Project, Run, iter_run_files, new_run_id

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["ImportLimits", "export_run", "import_run"]

MANIFEST = "MANIFEST.toml"
FORMAT = "workbench-run/1"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportLimits:
    """Caps that make a hostile archive fail early instead of filling the disk."""

    max_files: int = 10_000
    max_file_bytes: int = 4 * 1024**3
    max_total_bytes: int = 16 * 1024**3


def export_run(
    run: Run, out: Path | None = None, *, force: bool = False, make_dirs: bool = False
) -> Path:
    """Write ``run`` as a ``.tar.gz`` with a sha256 manifest; return the archive path.

    Args:
        run: The run to export (any status; a live run is exported as it is now).
        out: Archive path; defaults to ``<run-id>.tar.gz`` in the working directory.
        force: Replace an existing file at ``out``.
        make_dirs: Create ``out``'s missing parent folders.

    Raises:
        ArchiveError: if ``out`` exists (without ``force``), is a folder, or its folder
            does not exist (without ``make_dirs``).
    """
    run.document()  # refuse to export a folder that is not a readable run
    out = Path(out) if out is not None else Path.cwd() / f"{run.id}.tar.gz"
    if out.is_dir():
        raise ArchiveError(f"{out} is a folder; give a file name such as {out / run.id}.tar.gz")
    if out.exists() and not force:
        raise ArchiveError(f"{out} already exists; choose another name, or --force replaces it")
    if not out.parent.is_dir():
        if not make_dirs:
            raise ArchiveError(
                f"folder {out.parent} does not exist; create it first, or --parents creates it"
            )
        out.parent.mkdir(parents=True, exist_ok=True)
    files = list(iter_run_files(run.path))
    digests: dict[str, dict[str, Any]] = {}
    for rel in files:
        digest, size = _sha256_file(run.path / rel)
        digests[rel.as_posix()] = {"sha256": digest, "size": size}
    manifest = {"format": FORMAT, "run_id": run.id, "files": digests}
    manifest_bytes = tomli_w.dumps(manifest).encode("utf-8")

    def write(tmp: Path) -> None:
        with tarfile.open(tmp, "w:gz") as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(manifest_bytes)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(manifest_bytes))
            for rel in files:
                src = run.path / rel
                info = tarfile.TarInfo(f"{run.id}/{rel.as_posix()}")
                info.size = digests[rel.as_posix()]["size"]
                info.mode = 0o644
                info.mtime = int(src.stat().st_mtime)
                with open(src, "rb") as fh:
                    tar.addfile(info, _ExactReader(fh, info.size))

    atomic_write_with(out, write)
    return out


def import_run(
    project: Project,
    archive: Path,
    limits: ImportLimits | None = None,
    *,
    as_new: bool = False,
) -> Run:
    """Import an exported run into ``project``; return the new run.

    Args:
        project: Where the run goes.
        archive: A ``.tar.gz`` made by :func:`export_run`.
        limits: Caps on files and sizes.
        as_new: Import even when the project already holds this run (under a new id).

    Raises:
        ArchiveError: if the archive is unreadable, unsafe, does not match its
            manifest, or is already in the project (without ``as_new``). Nothing is
            left behind in that case.
    """
    limits = limits or ImportLimits()
    archive = Path(archive)
    if not archive.is_file():
        raise ArchiveError(f"{archive} does not exist or is not a file")
    project.runs_dir.mkdir(parents=True, exist_ok=True)
    staging = project.runs_dir / f".import-{secrets.token_hex(6)}"
    staging.mkdir()
    try:
        run_id, manifest_sha, files = _extract_checked(archive, staging, limits)
        if not as_new:
            same = _already_imported(project, run_id, manifest_sha, files)
            if same is not None:
                raise ArchiveError(
                    f"{archive} is already in this project as run {same} (same run id and "
                    "checksums); --as-new imports another copy under a new id"
                )
        return _place(project, staging, run_id, manifest_sha)
    except ArchiveError:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError) as err:
        raise ArchiveError(f"{archive} is not a readable workbench run archive: {err}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- internals ----------------------------------------------------------------------------


def _extract_checked(
    archive: Path, staging: Path, limits: ImportLimits
) -> tuple[str, str, dict[str, Any]]:
    """Stream members into ``staging``, checking each.

    Returns:
        The archived run id, the sha256 of the manifest, and its ``files`` table.
    """
    manifest: dict[str, Any] | None = None
    manifest_sha = ""
    run_id = ""
    seen: dict[str, str] = {}
    total = 0
    # Streaming mode ("r|gz") reads members in order and never seeks, so a huge
    # archive is checked as it is read rather than indexed up front.
    with tarfile.open(archive, "r|gz") as tar:
        for count, member in enumerate(tar, start=1):
            if count > limits.max_files + 1:
                raise ArchiveError(f"archive has more than {limits.max_files} files")
            name = member.name
            _check_member_name(name)
            if member.isdir():
                continue
            if not member.isfile():
                raise ArchiveError(
                    f"archive member {name!r} is a link, device or other special file; "
                    "only regular files are allowed"
                )
            if member.size > limits.max_file_bytes:
                raise ArchiveError(
                    f"archive member {name!r} is {member.size} bytes, over the limit of "
                    f"{limits.max_file_bytes}"
                )
            total += member.size
            if total > limits.max_total_bytes:
                raise ArchiveError(f"archive holds more than {limits.max_total_bytes} bytes")
            src = tar.extractfile(member)
            if src is None:
                raise ArchiveError(f"archive member {name!r} cannot be read")
            if name == MANIFEST:
                if manifest is not None:
                    raise ArchiveError("archive has two manifests")
                data = src.read(1024**2 + 1)
                manifest = _parse_manifest(data)
                manifest_sha = hashlib.sha256(data).hexdigest()
                run_id = str(manifest["run_id"])
                continue
            if manifest is None:
                raise ArchiveError(f"archive must start with {MANIFEST}; found {name!r} first")
            parts = PurePosixPath(name).parts
            if parts[0] != run_id or len(parts) < 2:
                raise ArchiveError(f"archive member {name!r} is outside the run folder {run_id!r}/")
            rel = "/".join(parts[1:])
            if rel in seen:
                raise ArchiveError(f"archive lists {rel!r} twice")
            dest = staging.joinpath(*parts[1:])
            if staging.resolve() not in dest.resolve().parents:
                raise ArchiveError(f"archive member {name!r} would be written outside the target")
            dest.parent.mkdir(parents=True, exist_ok=True)
            seen[rel] = _copy_limited(src, dest, member.size)
    if manifest is None:
        raise ArchiveError(f"archive has no {MANIFEST}; it was not made by `workbench export`")
    expected = manifest["files"]
    missing = sorted(set(expected) - set(seen))
    extra = sorted(set(seen) - set(expected))
    if missing or extra:
        raise ArchiveError(
            f"archive does not match its manifest: missing {missing[:5]}, unlisted {extra[:5]}"
        )
    for rel, digest in seen.items():
        if digest != expected[rel]["sha256"]:
            raise ArchiveError(f"file {rel!r} fails its sha256 check: the archive is corrupt")
    if RUN_FILE not in seen:
        raise ArchiveError(f"archive has no {RUN_FILE}")
    return run_id, manifest_sha, expected


def _check_member_name(name: str) -> None:
    path = PurePosixPath(name)
    if name.startswith(("/", "\\")) or path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"archive member {name!r} has an absolute path")
    if ".." in path.parts or "\\" in name:
        raise ArchiveError(f"archive member {name!r} tries to leave the target folder")
    if not name or any(part.startswith(".") and part not in (".",) for part in path.parts[1:-1]):
        raise ArchiveError(f"archive member {name!r} has a hidden folder")


def _parse_manifest(data: bytes) -> dict[str, Any]:
    if len(data) > 1024**2:
        raise ArchiveError(f"{MANIFEST} is larger than 1 MiB")
    try:
        manifest: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ArchiveError(f"{MANIFEST} is not valid TOML: {err}") from None
    if manifest.get("format") != FORMAT:
        raise ArchiveError(f"{MANIFEST} has format {manifest.get('format')!r}; expected {FORMAT!r}")
    run_id = manifest.get("run_id")
    files = manifest.get("files")
    if not isinstance(run_id, str) or not run_id or "/" in run_id or run_id.startswith("."):
        raise ArchiveError(f"{MANIFEST} has an invalid run_id {run_id!r}")
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("sha256"), str) for v in files.values()
    ):
        raise ArchiveError(f"{MANIFEST} has no valid [files] table")
    return manifest


def _copy_limited(src: IO[bytes], dest: Path, size: int) -> str:
    """Copy exactly ``size`` bytes (never more than the header promised); return sha256."""
    digest = hashlib.sha256()
    remaining = size
    with open(dest, "xb") as out:
        while remaining > 0:
            chunk = src.read(min(1 << 20, remaining))
            if not chunk:
                raise ArchiveError(f"archive member for {dest.name!r} is truncated")
            digest.update(chunk)
            out.write(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def _already_imported(
    project: Project, run_id: str, manifest_sha: str, files: dict[str, Any]
) -> str | None:
    """The id of a run in ``project`` that is this archive's run, if there is one.

    Either a run imported from an archive with the same manifest sha256, or the
    run with the archive's id whose files (other than ``run.toml``, which an import
    rewrites) have the manifest's sizes and sha256 sums.
    """
    for run in project.runs():
        try:
            info = run.info
        except Exception:  # an unreadable folder is not a match
            continue
        if info.get("import_manifest_sha256") == manifest_sha:
            return run.id
    candidate = project.runs_dir / run_id
    if not (candidate / RUN_FILE).is_file():
        return None
    for rel, entry in files.items():
        if rel == RUN_FILE:
            continue
        path = candidate / rel
        if not path.is_file() or path.stat().st_size != entry.get("size"):
            return None
        if _sha256_file(path)[0] != entry["sha256"]:
            return None
    return run_id


def _place(project: Project, staging: Path, run_id: str, manifest_sha: str = "") -> Run:
    """Move the checked staging folder to ``runs/<id>``, choosing a new id on collision."""
    doc = read_toml(staging / RUN_FILE)
    run_table = doc.get("run")
    if not isinstance(run_table, dict):
        raise ArchiveError(f"the archived {RUN_FILE} has no [run] table")
    final_id = run_id
    target = project.runs_dir / final_id
    changed: dict[str, Any] = {}
    if target.exists() or not _valid_id(run_id):
        final_id = new_run_id()
        target = project.runs_dir / final_id
        changed["imported_as_new_id"] = True
    if run_table.get("status") == "running":
        # The process that wrote it is on another machine or gone: it cannot resume here.
        changed["status"] = "interrupted"
    if manifest_sha:
        changed["import_manifest_sha256"] = manifest_sha
    if changed or final_id != run_table.get("id"):
        run_table.update(changed)
        run_table.setdefault("original_id", run_id)
        run_table["id"] = final_id
        atomic_write_toml(staging / RUN_FILE, doc)
    for _ in range(100):
        try:
            # rename() onto an existing empty dir would succeed on POSIX; check first.
            if target.exists():
                raise FileExistsError(target)
            staging.rename(target)
            break
        except FileExistsError:
            final_id = new_run_id()
            target = project.runs_dir / final_id
            run_table["id"] = final_id
            atomic_write_toml(staging / RUN_FILE, doc)
    else:  # pragma: no cover - 100 collisions in a row
        raise ArchiveError("could not find a free run id for the import")
    log.info("imported run %s as %s", run_id, final_id)
    return Run(target)


def _valid_id(run_id: str) -> bool:
    return bool(run_id) and all(c.isalnum() or c in "-_." for c in run_id)


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class _ExactReader(io.RawIOBase):
    """Reads at most ``size`` bytes, so a file growing during export cannot corrupt the tar."""

    def __init__(self, fh: IO[bytes], size: int) -> None:
        self._fh = fh
        self._left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n < 0 else min(n, self._left)
        data = self._fh.read(n)
        self._left -= len(data)
        return data
