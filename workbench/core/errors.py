"""Errors a user can act on.

Every error here carries a message that says what was wrong and what is
allowed. The CLI prints the message and exits with code 2; the TUI shows it as
a notification. Anything that is *not* a :class:`WorkbenchError` is a bug.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ArchiveError",
    "ConfigError",
    "DeviceError",
    "LabNotFoundError",
    "ProjectError",
    "RunFolderError",
    "RunNotFoundError",
    "WorkbenchError",
]


class WorkbenchError(Exception):
    """Base class for errors caused by input rather than by a bug."""


class ConfigError(WorkbenchError, ValueError):
    """A config value is unknown, of the wrong type or out of range.

    The message always names the key, the offending value and what is allowed,
    e.g. ``config key 'lr' = -1.0 is not allowed: must be > 0 (learning rate)``.

    Args:
        key: Dotted config key, e.g. ``"lr"``.
        value: The offending value as given.
        allowed: What would be accepted, in words.
        source: Where the value came from (a file path, ``--set``), if known.
    """

    def __init__(self, key: str, value: Any, allowed: str, source: str | None = None) -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        self.source = source
        where = f" (from {source})" if source else ""
        super().__init__(f"config key '{key}' = {_show(value)} is not allowed{where}: {allowed}")


class LabNotFoundError(WorkbenchError):
    """No lab is registered under the requested name."""


class ProjectError(WorkbenchError):
    """A project folder is missing, malformed or cannot be created."""


class RunNotFoundError(WorkbenchError):
    """No run matches the given id or prefix."""


class RunFolderError(WorkbenchError):
    """A run folder exists but cannot be read (malformed or missing run.toml)."""


class ArchiveError(WorkbenchError):
    """An exported run archive is malformed or unsafe to import."""


class DeviceError(WorkbenchError):
    """The requested compute device is not available."""


def _show(value: Any) -> str:
    """Render a value the way the user would have typed it in TOML."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)
