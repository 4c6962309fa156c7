"""The channels lab end to end on a tiny config, its CLI errors, and its views at 80 columns."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import PYTHON, cli_env
from workbench.core.errors import ConfigError
from workbench.core.runner import run_lab
from workbench.core.runs import Project
from workbench_labs.channels import LAB, QUICK

TINY: dict[str, Any] = {
    **QUICK,
    "n_bits": 4,
    "widths": [2, 4],
    "depths": [1, 2],
    "init_scales": [1.0],
    "seeds": 4,
    "train_steps": 30,
    "gaussian_widths": [2],
    "gaussian_samples": 300,
    "mine_steps": 10,
    "dropout_steps": 40,
    "dropout_seeds": 4,
    "n_permutations": 199,
}


def wb(*args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    env = cli_env() | {"COLUMNS": str(columns)}
    return subprocess.run(
        [PYTHON, "-m", "workbench", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_tiny_run_completes_and_round_trips(project: Project) -> None:
    run = run_lab(LAB, LAB.make_config(TINY), project, device="cpu")
    assert run.status == "completed"
    again = project.run(run.id)
    r = again.results
    for key in (
        "verdict/scarce/verdict",
        "verdict/invertible/verdict",
        "verdict/capacity/verdict",
        "dropout/D=0/bits_mean",
        "gaussian/linear/mine_error_mean",
        "summary/finding",
    ):
        assert key in r, key
    assert r["verdict/invertible/verdict"] == "supported"  # the square leaky-relu net
    assert r["invertible/min_bits_exact"] == 4.0
    assert r["dropout/max_excess_over_capacity"] <= 1e-9  # the theorem's upper bound
    curve = again.array("dropout/capacity_curve")
    assert curve.shape == (5, len(TINY["dropout_rates"]))
    side = again.array("map/relu/init_vs_trained")
    assert side.shape == (2, 4) and np.all((side >= 0) & (side <= 1))
    assert "Verdicts" in (again.path / "summary.md").read_text()


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("dropout_rates", [0.2, 1.0], "< 1"),
        ("dropout_rates", [-0.1], ">= 0"),
        ("widths", [], "1..12 items"),
    ],
)
def test_bad_input_is_one_message_and_exit_2(key: str, value: list[float], allowed: str) -> None:
    with pytest.raises(ConfigError, match=key):
        LAB.make_config({key: value})
    setting = f"{key}=[{', '.join(str(v) for v in value)}]"
    proc = wb("run", "channels", "--set", setting, "--device", "cpu")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    message = (proc.stderr + proc.stdout).strip()
    assert f"'{key}'" in message and allowed in message and len(message.splitlines()) == 1


def test_code_layer_must_not_outgrow_the_input() -> None:
    with pytest.raises(ConfigError, match="code_units"):
        LAB.make_config({"n_bits": 4, "code_units": 3, "code_levels": 4})
    with pytest.raises(ConfigError, match="code_levels"):
        LAB.make_config({"code_levels": 3})


def test_quick_preset_is_valid_and_show_reads_at_80_columns(tmp_path: Path) -> None:
    LAB.make_config(QUICK)
    proj = str(tmp_path / "p")
    assert (
        wb(
            "run",
            "channels",
            "--project",
            proj,
            "--config",
            _write(tmp_path, TINY),
            "--device",
            "cpu",
        ).returncode
        == 0
    )
    shown = wb("show", "latest", "--project", proj, columns=80)
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
    assert "capacity" in shown.stdout
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80


def _write(tmp_path: Path, values: dict[str, Any]) -> str:
    import tomli_w

    path = tmp_path / "tiny.toml"
    path.write_bytes(tomli_w.dumps(values).encode())
    return str(path)
