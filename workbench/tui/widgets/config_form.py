"""A config form built from a lab's typed config, validated as you type.

Every field is parsed and checked with :func:`workbench.core.config.validate_field`,
the same function behind ``--set key=value``, so a bad value gets the CLI's
exact message under the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Static

from workbench.core.config import (
    FieldSpec,
    build_config,
    config_fields,
    toml_value_text,
    validate_field,
)
from workbench.core.errors import ConfigError

__all__ = ["ConfigForm", "toml_text"]


def toml_text(value: Any) -> str:
    """A value written as the TOML a user would type (see
    :func:`workbench.core.config.toml_value_text`, which the CLI uses too)."""
    return toml_value_text(value)


def _field_text(value: Any) -> str:
    return "" if value is None else toml_text(value)


def _toml_key(key: str) -> str:
    """A bare key when TOML allows one, else a quoted key."""
    if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key):
        return key
    return toml_text(key)


class ConfigForm(VerticalScroll):
    """One row per config field: name, input, unit and help, and an error line.

    Args:
        config_cls: The lab's frozen config dataclass.
        values: Starting values (e.g. a previous run's config); others take defaults.
    """

    DEFAULT_CSS = """
    ConfigForm {
        height: auto;
    }
    ConfigForm .field-row {
        height: 1;
    }
    ConfigForm .field-row:focus-within {
        background: $primary 20%;
    }
    ConfigForm .field-name {
        width: auto;
        min-width: 18;
        padding-right: 1;
        text-style: bold;
    }
    ConfigForm .field-row:focus-within .field-name {
        color: $accent;
        text-style: bold reverse;
    }
    ConfigForm Input {
        width: 1fr;
        padding: 0 1;
        background: $boost;
    }
    ConfigForm Input:focus {
        background: $primary 30%;
    }
    ConfigForm Input.-invalid {
        background: $error 40%;
    }
    ConfigForm .field-help {
        color: $text-muted;
        padding-left: 2;
    }
    ConfigForm .field-error {
        color: $error;
        padding-left: 2;
        display: none;
    }
    ConfigForm .field-error.-shown {
        display: block;
    }
    """

    class Validity(Message):
        """The form became valid or invalid."""

        def __init__(self, form: ConfigForm, errors: dict[str, str]) -> None:
            super().__init__()
            self.form = form
            self.errors = errors

    def __init__(
        self,
        config_cls: type[Any],
        values: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.config_cls = config_cls
        self.fields: list[FieldSpec] = config_fields(config_cls)
        self._start = dict(values or {})
        self.errors: dict[str, str] = {}
        #: The texts the fields were last loaded with (edits are measured against them).
        self.loaded_texts: dict[str, str] = {
            spec.name: _field_text(self._start.get(spec.name, spec.default)) for spec in self.fields
        }

    def compose(self) -> ComposeResult:
        """One row per field, in declaration order."""
        for spec in self.fields:
            unit = f" [{spec.unit}]" if spec.unit else ""
            with Horizontal(classes="field-row"):
                yield Label(spec.name, classes="field-name", markup=False)
                yield Input(
                    value=self.loaded_texts[spec.name], id=f"field-{spec.name}", compact=True
                )
            yield Static(f"{spec.help}{unit} · {spec.allowed}", classes="field-help", markup=False)
            yield Static("", id=f"error-{spec.name}", classes="field-error", markup=False)

    def on_input_changed(self, event: Input.Changed) -> None:
        """Validate the field that changed and show or clear its message."""
        if event.input.id is None or not event.input.id.startswith("field-"):
            return
        key = event.input.id.removeprefix("field-")
        self._check(key, event.value)
        self.post_message(self.Validity(self, dict(self.errors)))

    def _check(self, key: str, text: str) -> Any:
        error = self.query_one(f"#error-{key}", Static)
        field_input = self.query_one(f"#field-{key}", Input)
        if not text.strip():  # an empty field takes the default (see values())
            self.errors.pop(key, None)
            default = next(s.default for s in self.fields if s.name == key)
            error.update(f"empty: the default {_field_text(default) or '(none)'} is used")
            error.add_class("-shown")
            field_input.remove_class("-invalid")
            return None
        try:
            value = validate_field(self.config_cls, key, text)
        except ConfigError as err:
            self.errors[key] = str(err)
            error.update(str(err))
            error.add_class("-shown")
            field_input.add_class("-invalid")
            return None
        self.errors.pop(key, None)
        error.update("")
        error.remove_class("-shown")
        field_input.remove_class("-invalid")
        return value

    def load(self, values: Mapping[str, Any]) -> None:
        """Fill every field from ``values`` (a preset, say); fields not given take defaults."""
        self.loaded_texts = {
            spec.name: _field_text(values.get(spec.name, spec.default)) for spec in self.fields
        }
        for name, text in self.loaded_texts.items():
            self.query_one(f"#field-{name}", Input).value = text

    @property
    def edited(self) -> bool:
        """Whether any field differs from what it was loaded with."""
        return self.texts() != self.loaded_texts

    def texts(self) -> dict[str, str]:
        """The text typed in each field."""
        return {
            spec.name: self.query_one(f"#field-{spec.name}", Input).value for spec in self.fields
        }

    def values(self) -> dict[str, Any]:
        """Every field parsed and validated.

        Raises:
            ConfigError: for the first invalid field (its message is also shown under it).
        """
        out: dict[str, Any] = {}
        first: ConfigError | None = None
        for key, text in self.texts().items():
            if not text.strip():
                continue  # an empty field takes the default
            try:
                out[key] = validate_field(self.config_cls, key, text)
            except ConfigError as err:
                self._check(key, text)
                first = first or err
        if first is not None:
            raise first
        return out

    def build(self) -> Any:
        """The validated config object (field and cross-field checks).

        Raises:
            ConfigError: naming the key and what is allowed; shown under the field too.
        """
        values = self.values()
        try:
            return build_config(self.config_cls, values)
        except ConfigError as err:
            if err.key in {spec.name for spec in self.fields}:
                error = self.query_one(f"#error-{err.key}", Static)
                error.update(str(err))
                error.add_class("-shown")
            raise

    def focus_field(self, key: str) -> None:
        """Move focus to a field (after an error)."""
        self.query_one(f"#field-{key}", Input).focus()

    def focus_first(self) -> None:
        """Focus the first field."""
        if self.fields:
            self.focus_field(self.fields[0].name)
