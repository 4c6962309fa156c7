"""Small modal dialogs: ask for a path, confirm an action, pick from a list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

__all__ = ["ChoiceScreen", "ConfirmScreen", "PathPrompt"]


class PathPrompt(ModalScreen[str | None]):
    """Ask for a path (or any one line); dismisses with the text, or ``None`` on escape.

    With ``allow_empty``, enter on an empty line dismisses with ``""`` (e.g. "no tags");
    otherwise an empty line counts as a cancel.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, title: str, *, value: str = "", hint: str = "", allow_empty: bool = False
    ) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.hint = hint
        self.allow_empty = allow_empty

    def compose(self) -> ComposeResult:
        """Title, input, hint."""
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(value=self.value, id="prompt-input")
            yield Static(self.hint or "enter to accept · escape to cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Accept the text."""
        event.stop()
        text = event.value.strip()
        self.dismiss(text if text or self.allow_empty else None)

    def action_cancel(self) -> None:
        """Close without a value."""
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; ``y`` or enter confirms, ``n`` or escape declines."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        """The question and the keys."""
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-title", markup=False)
            yield Static("y / enter: yes    n / escape: no", classes="dialog-hint")

    def action_answer(self, yes: bool) -> None:
        """Close with the answer."""
        self.dismiss(yes)


class ChoiceScreen(ModalScreen[str | None]):
    """Pick one item from a list; dismisses with its id, or ``None`` on escape."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, choices: Sequence[tuple[str, str]], *, hint: str = "") -> None:
        """Args: title; choices as ``(id, text)``; a hint line."""
        super().__init__()
        self.title_text = title
        self.choices = list(choices)
        self.hint = hint

    def compose(self) -> ComposeResult:
        """Title and options."""
        with Vertical(classes="dialog dialog-tall"):
            yield Label(self.title_text, classes="dialog-title")
            yield OptionList(*(Option(text, id=key) for key, text in self.choices), id="choices")
            yield Static(self.hint or "enter to choose · escape to cancel", classes="dialog-hint")

    def set_choices(self, choices: Sequence[tuple[str, str]]) -> None:
        """Replace the options' texts (e.g. once slower details are known), keeping the
        highlighted one."""
        options = self.query_one("#choices", OptionList)
        highlighted = options.highlighted
        self.choices = list(choices)
        options.clear_options()
        options.add_options([Option(text, id=key) for key, text in self.choices])
        if highlighted is not None and highlighted < len(self.choices):
            options.highlighted = highlighted

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Accept the highlighted option."""
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        """Close without a choice."""
        self.dismiss(None)
