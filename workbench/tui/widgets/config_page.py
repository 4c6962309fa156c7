"""The stepper's first page: the lab's introduction, a preset picker and the config form.

The whole page scrolls as one (the introduction is never cut), focus starts in
the first field, and a preset fills every field at once (keys a preset does not
name take their defaults). Below the form, a rough time estimate for the
config as typed (see :mod:`workbench.tui.estimate`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Select, Static

from workbench.core.lab import Lab
from workbench.tui.widgets.config_form import ConfigForm
from workbench.tui.widgets.fit_markdown import FitMarkdown

__all__ = ["DEFAULTS", "ConfigPage"]

#: The preset picker's entry for the lab's plain defaults.
DEFAULTS = "(defaults)"


class ConfigPage(VerticalScroll):
    """Title, introduction, preset, form, keys hint and time estimate of one lab.

    Args:
        lab: The lab.
        values: Starting values (a previous run's config), or ``None`` for defaults.
        preset: The preset those values came from, if known.
    """

    DEFAULT_CSS = """
    ConfigPage {
        height: 1fr;
    }
    ConfigPage #lab-description {
        height: auto;
        margin: 0;
    }
    ConfigPage #preset-row {
        height: 1;
        margin-bottom: 1;
    }
    ConfigPage #preset-row Label {
        width: 18;
        text-style: bold;
    }
    ConfigPage #preset {
        width: 30;
    }
    ConfigPage #config-hint, ConfigPage #config-estimate {
        height: auto;
        color: $text-muted;
    }
    """

    def __init__(
        self,
        lab: Lab[Any],
        values: Mapping[str, Any] | None = None,
        *,
        preset: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.lab = lab
        self.values = values
        self.preset = preset if preset in lab.presets else None

    def compose(self) -> ComposeResult:
        """One scrolling column."""
        yield Static(self.lab.title, classes="page-title", markup=False)
        yield FitMarkdown(self.lab.description, id="lab-description")
        if self.lab.presets:
            options = [(DEFAULTS, DEFAULTS)] + [(name, name) for name in self.lab.presets]
            with Horizontal(id="preset-row"):
                yield Label("preset")
                yield Select(
                    options,
                    value=self.preset or DEFAULTS,
                    allow_blank=False,
                    compact=True,
                    id="preset",
                )
        start = self.values
        if start is None and self.preset:
            start = self.lab.preset(self.preset)
        yield ConfigForm(self.lab.config_cls, start, id="config-form")
        yield Static(
            "ctrl+r runs the lab with this config · ctrl+n next page · esc back",
            id="config-hint",
        )
        yield Static("", id="config-estimate", markup=False)

    @property
    def form(self) -> ConfigForm:
        """The config form."""
        return self.query_one("#config-form", ConfigForm)

    def on_select_changed(self, event: Select.Changed) -> None:
        """A preset chosen: fill the form with it."""
        if event.select.id != "preset":
            return
        event.stop()
        name = str(event.value)
        chosen = None if name == DEFAULTS else name
        if chosen == self.preset:
            return  # the picker announcing its first value, or no change
        self.preset = chosen
        values: dict[str, Any] = {}
        if self.preset is not None:
            with contextlib.suppress(Exception):
                values = self.lab.preset(self.preset)
        self.form.load(values)

    def show_estimate(self, text: str) -> None:
        """Show the time estimate line."""
        self.query_one("#config-estimate", Static).update(text)
