"""The config form's text round-trips through the same parser as ``--set``."""

from __future__ import annotations

import pytest

from workbench.core.config import parse_value
from workbench.tui.widgets.config_form import toml_text


@pytest.mark.parametrize(
    "value",
    [
        3,
        1e-3,
        0.0,
        True,
        "tanh",
        'a "quoted" word',
        (16, 16),
        ["first-bit", "parity"],
        {},
        {"xor": "0110", "odd key": "1"},
        (1e-7, 1e-6),
    ],
)
def test_toml_text_round_trips(value: object) -> None:
    expected = list(value) if isinstance(value, tuple) else value
    text = toml_text(value)
    assert "\n" not in text
    assert parse_value(text) == expected
