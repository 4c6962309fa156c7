"""Metrics as column chunks beside a small JSONL: the same columns as the JSON path, smaller."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workbench.core.metrics_store import CHUNK_MIN, merge_columns, split_records
from workbench.core.runs import Run, RunWriter, records_to_columns


def make_writer(tmp_path: Path) -> RunWriter:
    writer = RunWriter.create(
        tmp_path / "run", run_id="20260101-000000-000-abcd", lab="t", config={},
        device="cpu", seeds=(0, 300),
    )  # fmt: skip
    return writer


def logged(step: int, n_seeds: int, task: str = "a") -> list[dict[str, Any]]:
    rng = np.random.default_rng(step)
    recs: list[dict[str, Any]] = [
        {"step": step, "task": task, "seed": s, "loss": float(rng.random())} for s in range(n_seeds)
    ]
    recs[3]["loss"] = float("nan")  # a diverged seed: NaN, stored as JSON null before
    recs.append({"step": step, "task": task, "live/ir": 0.25 * step})
    return recs


def as_json_columns(records: list[dict[str, Any]], **match: Any) -> dict[str, np.ndarray]:
    """The peer: what the all-JSON store returned (JSON turns NaN into null)."""
    back = [
        json.loads(json.dumps({k: (None if v != v else v) for k, v in r.items()})) for r in records
    ]
    back = [r for r in back if all(r.get(k) == v for k, v in match.items())]
    return records_to_columns(back)


def assert_same_columns(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want)
    for key in want:
        assert got[key].dtype.kind == want[key].dtype.kind, key
        if want[key].dtype.kind == "f":
            np.testing.assert_array_equal(got[key], want[key])  # NaN == NaN here
        else:
            assert got[key].tolist() == want[key].tolist(), key


def test_metrics_equal_the_json_peer_for_mixed_records(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    records: list[dict[str, Any]] = []
    for step, n in ((0, 200), (10, 200), (20, 5)):  # 5 seeds: too few for a chunk
        for task in ("a", "b"):
            batch = logged(step, n, task)
            writer.append_metrics(batch)
            records += batch
    writer.append_metrics([{"step": 30, "flag": True}])  # bools stay JSON text, as before
    records.append({"step": 30, "flag": True})
    run = Run(writer.path)
    assert_same_columns(run.metrics(), as_json_columns(records))
    assert_same_columns(run.metrics(task="b"), as_json_columns(records, task="b"))
    assert_same_columns(run.metrics(seed=7, task="a"), as_json_columns(records, seed=7, task="a"))
    assert run.metrics(task="nope") == {} or len(run.metrics(task="nope")["step"]) == 0
    # Incremental reading gives the records back one by one, NaN as None (as JSON did).
    back, offset = run.metric_records()
    assert len(back) == len(records) and back[3]["loss"] is None
    assert back[0] == {"step": 0, "task": "a", "seed": 0, "loss": records[0]["loss"]}
    writer.append_metrics(logged(40, 50))
    more, _ = run.metric_records(offset)
    assert [r.get("seed") for r in more[:3]] == [0, 1, 2] and len(more) == 51
    writer.close()


def test_the_jsonl_does_not_grow_per_seed(tmp_path: Path) -> None:
    sizes = {}
    for n_seeds in (100, 2000):
        writer = RunWriter.create(
            tmp_path / f"run{n_seeds}", run_id="20260101-000000-000-abcd", lab="t",
            config={}, device="cpu", seeds=(0, n_seeds),
        )  # fmt: skip
        for step in range(10):
            writer.append_metrics(logged(step, n_seeds))
        writer.close()
        sizes[n_seeds] = (writer.path / "metrics.jsonl").stat().st_size
        assert len(Run(writer.path).metrics()["loss"]) == 10 * (n_seeds + 1)
    # Two lines per logged step whatever the seed count (only the record counts' digits
    # and the aggregates' digits differ), against ~70 bytes per seed as JSON text.
    assert sizes[2000] - sizes[100] < 10 * 40
    assert sizes[2000] < 10 * 400


def test_an_orphan_chunk_and_a_partial_line_are_ignored(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    writer.append_metrics(logged(0, 40))
    # A kill -9 between writing a chunk and appending its line leaves an orphan chunk;
    # one mid-line leaves a partial line. Neither is read.
    (writer.path / "metrics" / "00000099.npz").write_bytes(b"garbage")
    with open(writer.path / "metrics.jsonl", "a") as fh:
        fh.write('{"_chunk": "metrics/000')
    run = Run(writer.path)
    assert len(run.metrics()["loss"]) == 41
    assert len(run.metric_records()[0]) == 41


def test_split_keeps_order_and_only_chunks_long_plain_runs() -> None:
    recs: list[dict[str, Any]] = [{"s": i, "v": 0.5} for i in range(CHUNK_MIN)]
    recs += [{"x": 1}, {"s": 1, "v": [1, 2]}]
    parts = split_records(recs)
    assert [c is None for c, _ in parts] == [False, True]
    assert parts[0][0] is not None and parts[0][0]["s"].dtype == np.int64
    assert parts[1][1] == recs[CHUNK_MIN:]
    short = split_records(recs[: CHUNK_MIN - 1])
    assert len(short) == 1 and short[0][0] is None


def test_merge_fills_missing_keys_like_records_to_columns() -> None:
    a = records_to_columns([{"step": 1, "loss": 0.5}])
    b = {"step": np.array([2, 3]), "seed": np.array([0, 1])}
    merged = merge_columns([a, b])
    want = records_to_columns(
        [{"step": 1, "loss": 0.5}, {"step": 2, "seed": 0}, {"step": 3, "seed": 1}]
    )
    assert_same_columns(merged, want)
    assert math.isnan(merged["seed"][0])


WRITER = """
import sys
from pathlib import Path
from workbench.core.runs import RunWriter
w = RunWriter.create(Path(sys.argv[1]), run_id="20260101-000000-000-abcd", lab="t", config={},
                     device="cpu", seeds=(0, 500))
step = 0
while True:
    w.append_metrics([{"step": step, "seed": s, "loss": 0.1 * s} for s in range(500)])
    w.save_array("live", __import__("numpy").zeros(3))
    step += 1
"""


@pytest.mark.slow
def test_a_writer_killed_with_sigkill_leaves_readable_metrics(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "run")])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(list((tmp_path / "run" / "metrics").glob("*.npz"))) >= 20:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    metrics = Run(tmp_path / "run").metrics()
    n = len(metrics["loss"])
    # The 20th chunk file may not have its metrics.jsonl line yet when the kill lands (a chunk
    # is written before the line naming it), so at least 19 whole chunks are readable.
    assert n >= 19 * 500 and n % 500 == 0  # whole chunks only
    np.testing.assert_array_equal(metrics["loss"][:500], 0.1 * np.arange(500))
    assert Run(tmp_path / "run").array("live").shape == (3,)


def test_each_chunk_line_carries_the_aggregates(tmp_path: Path) -> None:
    writer = make_writer(tmp_path)
    records = logged(20, 101)[:-1]  # 101 seeds, seed 3's loss NaN
    writer.append_metrics(records)
    writer.close()
    (line,) = [json.loads(x) for x in (writer.path / "metrics.jsonl").read_text().splitlines()]
    summary = line["_summary"]
    assert summary["step"] == 20 and summary["task"] == "a" and line["_records"] == 101
    finite = np.array([r["loss"] for r in records if not math.isnan(r["loss"])])
    assert summary["loss"]["non_finite"] == 1
    assert summary["loss"]["median"] == pytest.approx(float(np.median(finite)))
    assert summary["loss"]["q10"] == pytest.approx(float(np.quantile(finite, 0.1)))
    assert "seed" not in summary  # not constant, not a float: no aggregate
