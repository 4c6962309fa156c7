"""Config validation: one clear message naming the key, the value and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.fixtures.counting_lab import LAB, CountingConfig
from workbench.core.config import (
    ConfigFileError,
    build_config,
    config_fields,
    config_to_dict,
    load_config_file,
    option,
    parse_override,
    parse_value,
    validate_field,
)
from workbench.core.errors import ConfigError


def test_defaults_are_written_out_in_full() -> None:
    cfg = build_config(CountingConfig)
    assert config_to_dict(cfg) == {
        "seeds": 3,
        "seed": 0,
        "steps": 5,
        "sleep": 0.0,
        "fail_at": -1,
        "mode": "sum",
        "widths": [4, 4],
    }


def test_round_trip_through_dict_gives_the_same_config() -> None:
    cfg = build_config(CountingConfig, {"widths": [8, 2, 1], "mode": "max", "sleep": 1})
    assert build_config(CountingConfig, config_to_dict(cfg)) == cfg
    assert cfg.widths == (8, 2, 1) and isinstance(cfg.sleep, float)


@pytest.mark.parametrize(
    ("values", "key", "fragment"),
    [
        ({"steps": 0}, "steps", "an integer >= 1"),
        ({"steps": "many"}, "steps", "an integer"),
        ({"steps": 2.5}, "steps", "an integer"),
        ({"steps": True}, "steps", "an integer"),
        ({"sleep": -1.0}, "sleep", ">= 0"),
        ({"sleep": float("nan")}, "sleep", ">= 0"),
        ({"mode": "mean"}, "mode", "one of sum, max"),
        ({"widths": []}, "widths", "with 1..any items"),
        ({"widths": [4, 0]}, "widths", "each >= 1"),
        ({"widths": 4}, "widths", "a list of integers"),
        ({"stepz": 3}, "stepz", "did you mean 'steps'"),
        ({"steps": 3, "fail_at": 5}, "fail_at", "must be < steps (3)"),
    ],
)
def test_bad_values_name_key_value_and_allowed(values: dict, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_config(CountingConfig, values, source="my.toml")
    err = info.value
    assert err.key == key
    message = str(err)
    assert f"'{key}'" in message and fragment in message and "my.toml" in message


def test_whole_float_is_accepted_for_an_integer() -> None:
    assert build_config(CountingConfig, {"steps": 1e3}).steps == 1000


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[16, 16]", [16, 16]),
        ('["first-bit"]', ["first-bit"]),
        ("1e-3", 1e-3),
        ("true", True),
        ("tanh", "tanh"),
        ('"tanh"', "tanh"),
        ("{ a = 1 }", {"a": 1}),
    ],
)
def test_parse_value_reads_toml_and_bare_words(text: str, value: object) -> None:
    assert parse_value(text) == value


def test_parse_override_errors() -> None:
    assert parse_override("widths=[16,16]") == ("widths", [16, 16])
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("widths")
    with pytest.raises(ConfigError, match="'widths'"):
        parse_override("widths=[16,")


def test_config_file_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = [\n")
    with pytest.raises(ConfigFileError, match="not valid TOML"):
        load_config_file(bad)
    with pytest.raises(ConfigFileError, match="does not exist"):
        load_config_file(tmp_path / "missing.toml")
    run_like = tmp_path / "run.toml"
    run_like.write_text('[run]\nid = "x"\n[config]\nsteps = 7\n')
    assert load_config_file(run_like) == {"steps": 7}


def test_validate_field_gives_the_cli_message() -> None:
    assert validate_field(CountingConfig, "widths", "[2, 3]") == (2, 3)
    with pytest.raises(ConfigError) as info:
        validate_field(CountingConfig, "steps", "0")
    with pytest.raises(ConfigError) as cli_info:
        LAB.make_config({"steps": 0})
    assert str(info.value) == str(cli_info.value)


def test_fields_describe_help_unit_and_allowed() -> None:
    specs = {s.name: s for s in config_fields(CountingConfig)}
    assert specs["steps"].unit == "steps"
    assert specs["steps"].allowed == "an integer >= 1"
    assert specs["mode"].allowed == "one of sum, max"
    assert specs["widths"].type_label == "list of integer"


def test_mutable_defaults_are_not_shared() -> None:
    @dataclass(frozen=True)
    class WithTable:
        tables: dict[str, str] = option({"a": "01"}, help="truth tables")

    one, two = build_config(WithTable), build_config(WithTable)
    one.tables["b"] = "10"
    assert two.tables == {"a": "01"}
    with pytest.raises(ConfigError, match="a table of strings"):
        build_config(WithTable, {"tables": {"x": 1}})
