"""Atomic file writes: write a temporary file beside the target, then rename.

A reader, or a process killed with ``kill -9`` at any moment, sees either the
old file or the new one, never half of either (POSIX ``rename`` is atomic
within one file system).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import tomli_w

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_toml",
    "atomic_write_with",
    "read_toml",
]


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_toml(path: Path, data: Mapping[str, Any]) -> None:
    """Replace ``path`` with ``data`` serialised as TOML, atomically."""
    atomic_write_bytes(path, tomli_w.dumps(dict(data), multiline_strings=True).encode("utf-8"))


def atomic_write_with(path: Path, write: Callable[[Path], None]) -> None:
    """Let ``write`` fill a temporary path (for libraries that want a file name)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file (errors propagate; callers turn them into user errors)."""
    data: dict[str, Any] = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    return data


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform lets you open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
