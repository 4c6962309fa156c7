"""Export/import: checksummed round trips, and hostile archives refused with nothing left behind."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from tests.fixtures.counting_lab import LAB
from workbench.core.archive import ImportLimits, export_run, import_run
from workbench.core.errors import ArchiveError
from workbench.core.runner import run_lab
from workbench.core.runs import Project, init_project


@pytest.fixture
def exported(project: Project, tmp_path: Path) -> tuple[Project, Path, str]:
    run = run_lab(LAB, LAB.make_config({"seeds": 2}), project, device="cpu")
    return project, export_run(run, tmp_path / "run.tar.gz"), run.id


def _listing(project: Project) -> set[str]:
    return {p.relative_to(project.path).as_posix() for p in project.path.rglob("*")}


def test_round_trip_into_another_project(exported, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source, archive, run_id = exported
    other = init_project(tmp_path / "other")
    run = import_run(other, archive)
    assert run.id == run_id
    original = source.run(run_id)
    assert run.results == original.results
    np.testing.assert_array_equal(run.array("noise"), original.array("noise"))
    assert run.status == "completed"


def test_import_never_overwrites(exported) -> None:  # type: ignore[no-untyped-def]
    project, archive, run_id = exported
    before = project.run(run_id).results
    again = import_run(project, archive, as_new=True)
    assert again.id != run_id
    assert again.info["original_id"] == run_id
    assert project.run(run_id).results == before
    assert len(project.runs()) == 2


def test_importing_the_same_archive_twice_is_refused(exported, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Issue 14: a second import silently made a second copy under a new id.
    project, archive, run_id = exported
    with pytest.raises(ArchiveError, match=f"already in this project as run {run_id}.*--as-new"):
        import_run(project, archive)  # the exported run itself is here
    other = init_project(tmp_path / "other")
    first = import_run(other, archive)
    with pytest.raises(ArchiveError, match=f"as run {first.id}"):
        import_run(other, archive)  # found by the manifest checksum it recorded
    assert len(other.runs()) == 1
    assert import_run(other, archive, as_new=True).id != first.id


def test_export_refuses_to_overwrite_or_to_create_folders(exported, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, archive, run_id = exported
    run = project.run(run_id)
    before = archive.read_bytes()
    with pytest.raises(ArchiveError, match=r"already exists.*--force"):
        export_run(run, archive)
    assert archive.read_bytes() == before
    assert export_run(run, archive, force=True) == archive
    missing = tmp_path / "no_such_dir" / "x.tar.gz"
    with pytest.raises(ArchiveError, match=r"does not exist.*--parents"):
        export_run(run, missing)
    assert not missing.parent.exists()
    assert export_run(run, missing, make_dirs=True).is_file()


def test_imported_running_run_becomes_interrupted(project: Project, tmp_path: Path) -> None:
    writer = project.create_run(lab="counting", config={}, device="cpu", seeds=(0, 1))
    archive = export_run(writer, tmp_path / "live.tar.gz")
    writer.close()
    other = init_project(tmp_path / "other")
    assert import_run(other, archive).info["status"] == "interrupted"


# --- hostile archives ------------------------------------------------------------------------


def _manifest(run_id: str, files: dict[str, bytes]) -> bytes:
    import hashlib

    return tomli_w.dumps(
        {
            "format": "workbench-run/1",
            "run_id": run_id,
            "files": {
                k: {"sha256": hashlib.sha256(v).hexdigest(), "size": len(v)}
                for k, v in files.items()
            },
        }
    ).encode()


RUN_TOML = b'[run]\nid = "20260101-000000-000-abcd"\nlab = "counting"\nstatus = "completed"\n'


def _write(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            payload = data.get(info.name)
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return path


def _file(name: str, payload: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    return info, payload


def _archive(tmp_path: Path, extra: list[tarfile.TarInfo], extra_data: dict[str, bytes],
             listed: dict[str, bytes] | None = None) -> Path:  # fmt: skip
    rid = "20260101-000000-000-abcd"
    files = {"run.toml": RUN_TOML, **(listed or {})}
    manifest = _manifest(rid, files)
    members, data = [], {}
    m, payload = _file("MANIFEST.toml", manifest)
    members.append(m)
    data[m.name] = payload
    for rel, content in files.items():
        m, payload = _file(f"{rid}/{rel}", content)
        members.append(m)
        data[m.name] = payload
    members.extend(extra)
    data.update(extra_data)
    return _write(tmp_path / "hostile.tar.gz", members, data)


def _assert_refused(project: Project, archive: Path, match: str, limits: ImportLimits | None = None,
                    outside: Path | None = None) -> None:  # fmt: skip
    before = _listing(project)
    with pytest.raises(ArchiveError, match=match):
        import_run(project, archive, limits)
    assert _listing(project) == before  # no partial run, no staging folder left
    if outside is not None:
        assert not outside.exists()


def test_traversal_is_refused(project: Project, tmp_path: Path) -> None:
    info, payload = _file("20260101-000000-000-abcd/../../evil.txt", b"x")
    archive = _archive(tmp_path, [info], {info.name: payload})
    _assert_refused(project, archive, "leave the target", outside=tmp_path / "evil.txt")


def test_absolute_path_is_refused(project: Project, tmp_path: Path) -> None:
    target = tmp_path / "abs-evil.txt"
    info, payload = _file(str(target), b"x")
    archive = _archive(tmp_path, [info], {info.name: payload})
    _assert_refused(project, archive, "absolute path", outside=target)


@pytest.mark.parametrize(
    "kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE]
)
def test_links_and_devices_are_refused(project: Project, tmp_path: Path, kind: bytes) -> None:
    info = tarfile.TarInfo("20260101-000000-000-abcd/link")
    info.type = kind
    info.linkname = "/etc/passwd"
    archive = _archive(tmp_path, [info], {})
    _assert_refused(project, archive, "only regular files")


def test_size_bomb_is_refused(project: Project, tmp_path: Path) -> None:
    big = b"\0" * 200_000  # compresses to almost nothing
    archive = _archive(tmp_path, [], {}, listed={"arrays/big.npy": big})
    _assert_refused(project, archive, "over the limit", ImportLimits(max_file_bytes=100_000))
    _assert_refused(project, archive, "more than", ImportLimits(max_total_bytes=150_000))


def test_too_many_files_are_refused(project: Project, tmp_path: Path) -> None:
    listed = {f"arrays/a{i}.npy": b"1" for i in range(20)}
    archive = _archive(tmp_path, [], {}, listed=listed)
    _assert_refused(project, archive, "more than 5 files", ImportLimits(max_files=5))


def test_tampered_file_fails_its_checksum(project: Project, tmp_path: Path) -> None:
    rid = "20260101-000000-000-abcd"
    manifest = _manifest(rid, {"run.toml": RUN_TOML})
    members = [
        _file("MANIFEST.toml", manifest),
        _file(f"{rid}/run.toml", RUN_TOML.replace(b"completed", b"completeD")),
    ]
    archive = _write(
        tmp_path / "t.tar.gz", [m for m, _ in members], {m.name: p for m, p in members}
    )
    _assert_refused(project, archive, "sha256")


def test_unlisted_file_is_refused(project: Project, tmp_path: Path) -> None:
    info, payload = _file("20260101-000000-000-abcd/extra.txt", b"surprise")
    archive = _archive(tmp_path, [info], {info.name: payload})
    _assert_refused(project, archive, "unlisted")


def test_missing_manifest_and_garbage_are_refused(project: Project, tmp_path: Path) -> None:
    info, payload = _file("20260101-000000-000-abcd/run.toml", RUN_TOML)
    archive = _write(tmp_path / "nomanifest.tar.gz", [info], {info.name: payload})
    _assert_refused(project, archive, "MANIFEST")
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive at all")
    _assert_refused(project, garbage, "not a readable")
    _assert_refused(project, tmp_path / "missing.tar.gz", "does not exist")


def test_manifest_with_path_in_run_id_is_refused(project: Project, tmp_path: Path) -> None:
    manifest = tomli_w.dumps({"format": "workbench-run/1", "run_id": "../x", "files": {}}).encode()
    m, p = _file("MANIFEST.toml", manifest)
    archive = _write(tmp_path / "m.tar.gz", [m], {m.name: p})
    _assert_refused(project, archive, "invalid run_id")
