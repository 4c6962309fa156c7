"""What a finished lab step produced, as its views describe: tables, texts, array lists."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Label, Markdown, OptionList, Static
from textual.widgets.option_list import Option

from workbench.core.errors import WorkbenchError
from workbench.core.lab import Step, View
from workbench.core.runs import Run
from workbench.render.views import matching_arrays

__all__ = ["ResultsTable", "StepResults"]

ICONS = {"heatmap": "▦", "spectrum": "╲", "curve": "∿"}


class ResultsTable(DataTable[Any]):
    """Headline results (``[results]``) whose keys start with a prefix."""

    def __init__(self, results: dict[str, Any], prefix: str = "", **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.results = {k: v for k, v in results.items() if k.startswith(prefix)}

    def on_mount(self) -> None:
        """Fill the table."""
        self.add_columns("result", "value")
        for key, value in self.results.items():
            shown = f"{value:.6g}" if isinstance(value, float) else str(value)
            self.add_row(key, shown, key=key)


class StepResults(Vertical):
    """The views of one step of a run."""

    DEFAULT_CSS = """
    StepResults {
        height: auto;
    }
    StepResults OptionList {
        height: auto;
        max-height: 8;
    }
    StepResults ResultsTable {
        height: auto;
        max-height: 12;
    }
    StepResults Markdown {
        height: auto;
    }
    """

    class OpenArray(Message):
        """The user chose an array to look at."""

        def __init__(self, run: Run, items: list[tuple[str, View]], index: int) -> None:
            super().__init__()
            self.run = run
            self.items = items
            self.index = index

    def __init__(self, run: Run, step: Step, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run = run
        self.step = step
        self.items: list[tuple[str, View]] = []

    def compose(self) -> ComposeResult:
        """One block per view."""
        if not self.step.views:
            yield Static("This step has no views; its outputs are in the run detail (d).")
            return
        try:
            results = self.run.results
        except WorkbenchError as err:
            yield Static(f"cannot read results: {err}", classes="error-panel")
            return
        options = []
        for view in self.step.views:
            if view.kind == "table":
                yield Label(view.title, classes="view-title")
                yield ResultsTable(results, view.source)
            elif view.kind == "text":
                text = self.run.text(view.source)
                yield Label(view.title, classes="view-title")
                yield Markdown(text or "*(not written)*")
            else:
                for name in matching_arrays(self.run, view):
                    options.append(
                        Option(
                            f"{ICONS.get(view.kind, '·')} {view.title}: {name}",
                            id=str(len(self.items)),
                        )
                    )
                    self.items.append((name, view))
        if options:
            yield Label("Arrays (enter to view)", classes="view-title")
            yield OptionList(*options, id=f"step-arrays-{self.step.key}")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Open the chosen array."""
        event.stop()
        if event.option.id is not None:
            self.post_message(self.OpenArray(self.run, self.items, int(event.option.id)))
