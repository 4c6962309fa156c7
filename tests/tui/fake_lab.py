"""A tiny, fast lab for the TUI tests, registered with WORKBENCH_EXTRA_LABS.

It trains nothing: its "losses" follow exp(-step / tau_seed) with a per-seed time
constant from the seed's own generator, so curves, spreads and live panels have
something real to show in well under a second. Set ``delay`` to slow it down so
a test can watch it live and cancel it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from workbench.core.config import option
from workbench.core.lab import Lab, RunContext, Step, View


@dataclass(frozen=True)
class FakeConfig:
    seeds: int = option(4, help="networks per task", unit="networks", ge=1, le=64)
    steps: int = option(200, help="training steps", unit="steps", ge=10)
    lr: float = option(0.01, help="learning rate", gt=0)
    tasks: tuple[str, ...] = option(
        ("first-bit", "parity"), help="tasks", choices=("first-bit", "parity"), min_len=1
    )
    delay: float = option(0.0, help="seconds to sleep per logged step", unit="s", ge=0)
    fail: bool = option(False, help="raise in the analysis step")
    seed: int = option(0, help="first seed", ge=0)


LOG_EVERY = 10


def train(ctx: RunContext) -> None:
    cfg: FakeConfig = ctx.config
    seeds = range(cfg.seed, cfg.seed + cfg.seeds)
    taus = {s: 20.0 + 60.0 * np.random.default_rng(s).random() for s in seeds}
    final = np.zeros((len(cfg.tasks), cfg.seeds))
    started = time.perf_counter()
    for step in range(0, cfg.steps + 1, LOG_EVERY):
        records = []
        for t, task in enumerate(cfg.tasks):
            for i, s in enumerate(seeds):
                loss = float(np.exp(-step / (taus[s] * (t + 1))))
                final[t, i] = loss
                records.append({"step": step, "seed": s, "task": task, "loss": loss})
            ir = 1.0 - float(np.exp(-step / 50.0))
            records.append({"step": step, "task": task, "live/ir_last_hidden": ir})
        ctx.log_metrics(records)
        converged = int((final < 0.05).sum())
        rate = (step + 1) / max(time.perf_counter() - started, 1e-6)
        ctx.progress(step, cfg.steps, converged=converged, diverged=0, steps_per_second=rate)
        if cfg.delay:
            time.sleep(cfg.delay)
    ctx.save_array(
        "train/final_loss",
        final,
        axes=("task", "seed"),
        labels={"task": list(cfg.tasks)},
        description="loss at the last step",
    )
    ctx.set_result("loss/final/mean", float(final.mean()))


def analyse(ctx: RunContext) -> None:
    cfg: FakeConfig = ctx.config
    if cfg.fail:
        raise RuntimeError("the analysis failed on purpose (fail = true)")
    n = cfg.seeds
    idx = np.arange(n)
    ir = 1.0 / (1.0 + np.abs(idx[:, None] - idx[None, :]))
    labels = [str(cfg.seed + i) for i in range(n)]
    ctx.save_array(
        "ir_seed_seed/first-bit",
        ir,
        axes=("seed", "seed"),
        labels={"seed": labels},
        description="information ratio between seeds",
    )
    ranks = np.arange(1, 33, dtype=np.float64)
    ctx.save_array("spectrum/hidden", ranks**-1.2, axes=("rank",), description="eigenvalues")
    ctx.set_results({"first-bit/ir/mean": float(ir.mean()), "first-bit/ir/min": float(ir.min())})
    ctx.write_text(
        "summary.md",
        f"# Conclusion\n\nThe {n} seeds agree: mean IR **{ir.mean():.3f}**.\n",
    )


LAB = Lab(
    name="fake",
    title="Fake lab for TUI tests",
    description="Synthetic losses and a seed × seed matrix, **instantly**.",
    config_cls=FakeConfig,
    steps=(
        Step(
            "train",
            "Train the ensembles",
            "Trains `seeds` networks per task.\n\nLoss falls as exp(-step/τ).",
            train,
            produces=("train/final_loss",),
            views=(View("curve", "Final loss per task", "train/final_loss", x_label="seed"),),
        ),
        Step(
            "analyse",
            "Compare the seeds",
            "Information ratio between every pair of seeds.",
            analyse,
            produces=("ir_seed_seed/*", "spectrum/*"),
            views=(
                View("heatmap", "IR seed × seed", "ir_seed_seed/*", x_label="seed", y_label="seed"),
                View("spectrum", "Hidden eigenspectrum", "spectrum/*"),
                View("table", "IR results", "first-bit/"),
                View("text", "Summary", "summary.md"),
            ),
        ),
    ),
    live_metrics=("live/ir_last_hidden",),
    headline="first-bit/ir/mean",
)
