"""The CLI's progress display: one line per lab step that fits an 80-column terminal.

``workbench run`` feeds it run events; ``workbench show RUN --follow`` feeds it
what a :class:`~workbench.tui.follow.RunFollower` reads from the run folder, so
both look the same. Each step gets its own task (a new step never shows the
previous step's count), its title is cut to the width the bar, counts and times
leave, and the live numbers of the step in progress go on a line of their own
under the steps, so they never push the bar or the ETA off screen::

    [1/6] Train the ensembles ━━━━━━━━━━━━━━━━━━━━ 1200/5000 0:00:12 eta 0:00:31
      converged=12 diverged=0 steps_per_second=96.1
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from workbench.core.lab import ProgressEvent, RunEvent, StepFinished, StepStarted

__all__ = ["RunProgress", "info_text"]

#: Cells the bar, the counts and the two times take (with their gaps) at most.
FIXED_CELLS = 20 + 1 + 13 + 1 + 7 + 1 + 3 + 1 + 7 + 1
MIN_LABEL = 16


def info_text(info: Mapping[str, Any]) -> str:
    """``key=value`` pairs of a progress record: floats to 4 significant digits."""
    parts = []
    for key, value in dict(info).items():
        if isinstance(value, bool):
            parts.append(f"{key}={str(value).lower()}")
        elif isinstance(value, float):
            parts.append(f"{key}={value:.4g}")
        elif isinstance(value, (int, str)):
            parts.append(f"{key}={value}")
    return " ".join(parts)


class _LabelColumn(ProgressColumn):
    """The step's title, cut to the room the other columns leave."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def render(self, task: Task) -> Text:
        width = max(MIN_LABEL, self.console.width - FIXED_CELLS)
        return Text(_cut(task.description, width), no_wrap=True, overflow="ellipsis")


class _StepsProgress(Progress):
    """The steps' table, then one line with the live numbers of the step in progress."""

    info = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        if self.info:
            line = _cut("  " + self.info, max(MIN_LABEL, self.console.width - 1))
            yield Text(line, style="dim", no_wrap=True)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


class RunProgress:
    """A progress display for one run: a task per step.

    Args:
        console: Where to draw (stderr in the CLI).
        quiet: Draw nothing.
    """

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.progress = _StepsProgress(
            _LabelColumn(console),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            disable=quiet,
            transient=False,
        )
        self._task: TaskID | None = None
        self._step = ""

    def __enter__(self) -> RunProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def start_step(self, label: str, key: str = "") -> None:
        """A new step: the previous one's line stays as it ended; a fresh task starts."""
        if self._task is not None:
            self.progress.stop_task(self._task)
        self.progress.info = ""
        self._task = self.progress.add_task(label, total=None)
        self._step = key or label

    def advance(self, done: float, total: float, info: Mapping[str, Any]) -> None:
        """Progress within the current step."""
        if self._task is None:
            self.start_step("running")
        assert self._task is not None
        self.progress.info = info_text(info)
        self.progress.update(self._task, completed=done, total=total if total > 0 else None)

    def finish_step(self) -> None:
        """The current step is done: its bar full."""
        if self._task is None:
            return
        task = self.progress.tasks[-1]
        done = task.total if task.total else max(task.completed, 1)
        self.progress.info = ""
        self.progress.update(self._task, completed=done, total=done)

    def on_event(self, event: RunEvent) -> None:
        """Feed one event of a running lab (``run_lab(on_event=...)``)."""
        if isinstance(event, StepStarted):
            self.start_step(f"[{event.index + 1}/{event.n_steps}] {event.title}", event.key)
        elif isinstance(event, ProgressEvent):
            self.advance(event.done, event.total, event.info)
        elif isinstance(event, StepFinished):
            self.finish_step()

    def show(
        self,
        step: str,
        steps: Sequence[tuple[str, str]],
        done: float,
        total: float,
        info: Mapping[str, Any],
    ) -> None:
        """Feed what a run folder says (``workbench show --follow``).

        Args:
            step: Key of the step in progress.
            steps: ``(key, title)`` of the lab's steps, if the lab is known.
            done: Units done in the step.
            total: Units in the step (0 if unknown).
            info: Live numbers.
        """
        if step and step != self._step:
            if self._task is not None:
                self.finish_step()
            keys = [k for k, _ in steps]
            if step in keys:
                i = keys.index(step)
                label = f"[{i + 1}/{len(keys)}] {steps[i][1]}"
            else:
                label = step
            self.start_step(label, step)
        self.advance(done, total, info)
