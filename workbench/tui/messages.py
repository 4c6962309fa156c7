"""Messages the TUI's screens and workers exchange.

Workers never touch widgets: they finish their work off the event loop and
``post_message`` one of these, which does not block. Handlers run on the event
loop and update widgets.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from workbench.core.runs import Project, Run
from workbench.tui.follow import RunSnapshot

__all__ = [
    "FollowUpdate",
    "LabChoices",
    "LabLoaded",
    "ProjectChanged",
    "RunsChanged",
    "TaskFailed",
    "TaskFinished",
]


class FollowUpdate(Message):
    """A poll of a followed run folder finished.

    Attributes:
        snapshot: What the folder says now.
    """

    def __init__(self, snapshot: RunSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class ProjectChanged(Message):
    """The app switched to another project."""

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project


class RunsChanged(Message):
    """Runs were added or removed (an import, a new run); tables should refresh."""


class LabLoaded(Message):
    """A lab finished importing in a worker.

    Attributes:
        name: The lab's registry name.
        lab: The loaded :class:`workbench.core.lab.Lab`.
        run: A run to show in the stepper (when opened from a run), if any.
    """

    def __init__(self, name: str, lab: Any, run: Run | None = None) -> None:
        super().__init__()
        self.name = name
        self.lab = lab
        self.run = run


class TaskFinished(Message):
    """A background task (export, import, ...) succeeded.

    Attributes:
        text: What to tell the user.
        result: The task's result, if the receiver needs it.
    """

    def __init__(self, text: str, result: Any = None) -> None:
        super().__init__()
        self.text = text
        self.result = result


class TaskFailed(Message):
    """A background task failed; ``text`` is the user-facing message."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class LabChoices(Message):
    """The labs to choose from, as ``(name, "name — title")``, read in a worker."""

    def __init__(self, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.choices = choices
