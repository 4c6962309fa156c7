"""The help screen (F1 or ?): every key that works here, then what each screen is for."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown, Static

__all__ = ["HelpScreen", "keys_table"]

GUIDE = """\
## The screens

- **Project home**: the runs of this project; open, follow live, compare, export, import;
  start a new run from a lab; open another project or the sample project.
- **Lab stepper**: configure a lab (checked as you type), run it, read each step's
  explanation and results, down to the conclusion.
- **Live training**: loss curves of every seed (median and spread for many), progress,
  converged/diverged seeds, ETA, and the lab's live measure. It follows the run folder,
  so runs started from the CLI or another terminal show up too.
- **Run detail**: summary, config, results, metrics, arrays and log of one run.
- **Heatmap / plot**: one array; arrows move the selected cell and show its exact value.
- **Compare**: two or more runs side by side.

**ctrl+p** opens the command palette (every action, and the theme); **ctrl+q** quits.
Under `NO_COLOR`, heatmaps switch to numbers and block characters.
"""


def keys_table(screen: Screen[Any], app: App[Any]) -> Table:
    """The keys active on ``screen``: the screen's and the app's, then the focused widget's."""
    own: list[tuple[bool, str, str]] = []
    widget: list[tuple[bool, str, str]] = []
    seen: set[tuple[int, str]] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description or (id(active.node), binding.action) in seen:
            continue
        seen.add((id(active.node), binding.action))
        shown = binding.key_display or app.get_key_display(binding) or key
        # Footer keys first: they are the screen's own; tab, copy and the like follow.
        entry = (not binding.show, shown, binding.tooltip or binding.description)
        (own if active.node is screen or active.node is app else widget).append(entry)
    own.sort(key=lambda e: e[0])
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", min_width=10)
    table.add_column()
    table.add_row(Text("Keys on this screen", style="bold underline"), "")
    for _, key, description in own:
        table.add_row(key, description)
    if widget:
        table.add_row("", "")
        table.add_row(Text("In the focused panel", style="bold underline"), "")
        for _, key, description in widget:
            table.add_row(key, description)
    return table


class HelpScreen(ModalScreen[None]):
    """The keys of the screen underneath, and a short guide."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1,question_mark", "close", "Close help"),
    ]

    def __init__(self, keys: Table) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        """Keys, guide, closing hint."""
        with Vertical(classes="dialog dialog-wide"):
            with VerticalScroll():
                yield Static(self.keys, id="help-keys")
                yield Markdown(GUIDE)
            yield Static("escape / F1 / ? to close", classes="dialog-hint")

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
