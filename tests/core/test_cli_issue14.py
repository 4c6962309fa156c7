"""Issue 14 on the command line at 80 columns, in process (fast): each test names its problem."""

from __future__ import annotations

import csv
import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from tests.fixtures.counting_lab import LAB
from workbench.cli import main
from workbench.core.errors import ConfigError
from workbench.core.lab import ProgressEvent, StepFinished, StepStarted
from workbench.core.runner import run_lab
from workbench.core.runs import Project, neutral_argv
from workbench.progress_line import RunProgress
from workbench.render.colors import get_ramp
from workbench.render.export import array_csv, png_bytes
from workbench.render.markdown import fit_tables, table_width
from workbench.tui.estimate import estimate_from


@pytest.fixture(autouse=True)
def _narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def two_runs(project: Project) -> Project:
    for seeds in (2, 3):
        run_lab(LAB, LAB.make_config({"seeds": seeds}), project, device="cpu")
    return project


# --- the progress line ------------------------------------------------------------------------


def test_progress_fits_80_columns_and_each_step_starts_its_own_count() -> None:
    # Issue 14: info fields pushed the bar and ETA off screen, and a later step showed
    # the training step's stale count ("[3/6] Information ratio ━━━ 0/600").
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, force_terminal=False, record=True)
    progress = RunProgress(console)
    with progress:
        progress.on_event(StepStarted(0, "train", "Train the ensembles with a long title", 3))
        info = {"task": "first-bit", "converged": 12, "diverged": 0, "steps_per_second": 96.13}
        progress.on_event(ProgressEvent("train", 300, 600, info))
        # The live numbers go on a line of their own under the steps.
        _table, numbers = list(progress.progress.get_renderables())
        assert "converged=12" in numbers.plain and "steps_per_second=96.13" in numbers.plain
        assert len(numbers.plain) <= 79
        progress.on_event(StepFinished(0, "train", 1.0))
        progress.on_event(StepStarted(1, "ir", "Information ratio between layers", 3))
        tasks = progress.progress.tasks
        assert [t.total for t in tasks] == [600, None]  # the new step's total is unknown
        assert tasks[1].completed == 0
    lines = [line for line in console.export_text().splitlines() if line.strip()]
    assert all(len(line) <= 80 for line in lines), lines
    assert any("eta" in line and "[1/3]" in line for line in lines)


# --- runs, labs, --set --------------------------------------------------------------------------


def test_runs_is_one_line_per_run_at_80_columns(
    two_runs: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "runs", "--project", str(two_runs.path))
    assert code == 0
    rows = [line for line in out.splitlines() if "completed" in line]
    assert len(rows) == 2
    assert all(len(line) <= 80 for line in out.splitlines())
    for run in two_runs.runs():
        assert sum(run.id in line for line in rows) == 1  # the id whole, on its row


def test_read_only_commands_never_create_a_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "new"
    code, _, err = cli(capsys, "runs", "--project", str(target))
    assert code == 2 and "not a workbench project" in err
    assert not target.exists()


def test_set_without_equals_says_expected_key_value(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "config", "counting", "--set", "seeds")
    assert code == 2 and "expected key=value" in err


def test_labs_shows_defaults_as_toml(capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 14: defaults were Python reprs: ('first-bit', ...), (16, 16, 16), 'relu'.
    code, out, _ = cli(capsys, "labs", "counting")
    assert code == 0
    assert "(" not in "".join(line.split("│")[2] for line in out.splitlines() if "│" in line)


# --- rm, tags, export, import ------------------------------------------------------------------


def test_rm_tags_and_filter(two_runs: Project, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = two_runs.runs()
    proj = str(two_runs.path)
    assert (
        cli(capsys, "tag", first.id, "baseline", "v1", "--note", "the first", "--project", proj)[0]
        == 0
    )
    assert first.info["tags"] == ["baseline", "v1"] and first.info["note"] == "the first"
    _, out, _ = cli(capsys, "runs", "--tag", "baseline", "--project", proj)
    assert first.id in out and second.id not in out
    code, _, err = cli(capsys, "tag", first.id, "not a tag!", "--project", proj)
    assert code == 2 and "not allowed" in err
    code, _, err = cli(capsys, "rm", second.id, "--project", proj)  # stdin is not a terminal
    assert code == 2 and "--yes" in err and second.path.exists()
    assert cli(capsys, "rm", second.id, "--yes", "--project", proj)[0] == 0
    assert not second.path.exists() and [r.id for r in two_runs.runs()] == [first.id]


def test_export_refuses_missing_folders_and_overwrites(
    two_runs: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj = str(two_runs.path)
    missing = tmp_path / "nonexistent_dir" / "x.tar.gz"
    code, _, err = cli(capsys, "export", "latest", "-o", str(missing), "--project", proj)
    assert code == 2 and "does not exist" in err and not missing.parent.exists()
    out = tmp_path / "x.tar.gz"
    assert cli(capsys, "export", "latest", "-o", str(out), "--project", proj)[0] == 0
    code, _, err = cli(capsys, "export", "latest", "-o", str(out), "--project", proj)
    assert code == 2 and "--force" in err
    assert cli(capsys, "export", "latest", "-o", str(out), "--force", "--project", proj)[0] == 0
    code, _, err = cli(capsys, "import", str(out), "--project", proj)
    assert code == 2 and "already in this project" in err and "--as-new" in err
    assert len(two_runs.runs()) == 2
    assert cli(capsys, "import", str(out), "--as-new", "--project", proj)[0] == 0
    assert len(two_runs.runs()) == 3


# --- show --array -----------------------------------------------------------------------------


def test_show_array_prints_writes_csv_and_png(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_lab(LAB, LAB.make_config({"seeds": 3}), project, device="cpu")
    name = run.array_names()[0]
    proj = str(project.path)
    code, _, err = cli(capsys, "show", run.id, "--array", "no/such", "--project", proj)
    assert code == 2 and name in err
    code, out, _ = cli(capsys, "show", run.id, "--array", name, "--csv", "-", "--project", proj)
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    arr = np.asarray(run.array(name), dtype=float)
    values = np.array(
        [[float(v) for v in row[-(arr.shape[-1] if arr.ndim > 1 else 1) :]] for row in rows[1:]]
    )
    np.testing.assert_array_equal(values.reshape(arr.shape), arr)  # full precision
    png = tmp_path / "a.png"
    code, _, err = cli(
        capsys, "show", run.id, "--array", name, "--png", str(png), "--project", proj
    )
    if run.array(name).ndim >= 2:
        assert code == 0 and png.read_bytes().startswith(b"\x89PNG")


def test_array_csv_layout_with_labels() -> None:
    text = array_csv(np.array([[1.5, 2.0], [3.0, np.nan]]), ["task", "seed"], {"task": ["a", "b"]})
    assert text.splitlines() == ["task,0,1", "a,1.5,2.0", "b,3.0,nan"]
    cube = array_csv(np.arange(8.0).reshape(2, 2, 2), ["s", "n", "c"])
    assert cube.splitlines()[0] == "s,n,0,1" and cube.splitlines()[-1] == "1,1,6.0,7.0"


def test_png_bytes_decode_to_the_pixels() -> None:
    """A peer decoding of our PNG: parse the chunks, check CRCs, inflate, compare pixels."""
    ramp = get_ramp("viridis")
    rgb = np.array([[ramp.rgb(0.0), ramp.rgb(1.0)], [(255, 0, 0), (0, 0, 255)]], dtype=np.uint8)
    data = png_bytes(rgb)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (width, height, depth, colour) == (2, 2, 8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    lines = [raw[i * 7 : (i + 1) * 7] for i in range(2)]
    assert all(line[0] == 0 for line in lines)
    decoded = np.frombuffer(b"".join(line[1:] for line in lines), dtype=np.uint8).reshape(2, 2, 3)
    np.testing.assert_array_equal(decoded, rgb)


# --- the hub check, argv, markdown, estimates ---------------------------------------------------


def test_a_hub_model_with_no_network_fails_fast_as_bad_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("huggingface_hub")
    import socket

    from workbench.core.models import gpt2

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(ConfigError) as err:
        gpt2.check_hub_model("surely-not-a-cached-model-xyz")
    assert err.value.key == "model" and "point at the folder" in str(err.value)
    gpt2.check_hub_model("offline-default")  # the shipped model needs no network
    gpt2.check_hub_model("./some/folder")  # paths are the loader's business


def test_recorded_argv_names_no_machine_folder(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    argv = ["/opt/x/bin/workbench", "run", "lab", "--project", str(project), "--config",
            "/tmp/workbench-config-1.toml", "--set", "a=1"]  # fmt: skip
    assert neutral_argv(argv, project) == [
        "workbench", "run", "lab", "--project", ".", "--config", "workbench-config-1.toml",
        "--set", "a=1",
    ]  # fmt: skip
    assert neutral_argv([str(Path.home() / "x.py"), str(Path.home() / "d")], project)[1] == "~/d"


def test_wide_markdown_tables_are_stacked_and_narrow_ones_kept() -> None:
    md = (
        "intro\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n\n"
        "| layer | first-bit | verdict |\n|---|---|---|\n"
        "| layer1 | 5.000 | no significant difference |\nend\n"
    )
    assert fit_tables(md, 200) == md
    narrow = fit_tables(md, 30)
    assert "| a | b |" in narrow  # it fits in 30
    assert "- **layer1** · first-bit 5.000 · verdict no significant difference" in narrow
    assert "| layer |" not in narrow and narrow.endswith("end\n")
    assert table_width([["layer", "first-bit"], ["layer1", "5"]]) == 6 + 9 + 3 * 2 + 1


def test_time_estimate_scales_linearly_in_the_integer_keys_that_differ() -> None:
    past = [("r1", {"seeds": 10, "steps": 100, "act": "relu"}, 60.0)]
    same = estimate_from(past, {"seeds": 10, "steps": 100, "act": "relu"})
    assert same is not None and same.seconds == 60.0 and "same config" in same.note
    scaled = estimate_from(past, {"seeds": 20, "steps": 50, "act": "tanh"})
    assert scaled is not None and scaled.seconds == pytest.approx(60.0 * 2 * 0.5)
    assert "seeds, steps" in scaled.note and "act" in scaled.note
    assert estimate_from([], {"seeds": 1}) is None


def test_show_follow_on_a_finished_run_reports_its_status(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_lab(LAB, LAB.make_config({"seeds": 2}), project, device="cpu")
    code, out, _ = cli(capsys, "show", run.id, "--follow", "--project", str(project.path))
    assert code == 0 and f"run {run.id} completed" in out
    code, out, _ = cli(capsys, "live", "latest", "--project", str(project.path))
    assert code == 0 and "completed" in out
