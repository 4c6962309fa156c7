"""The toy-tasks lab's config: tasks, ensembles, training and the robustness sweep."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.core.config import option
from workbench.core.ensemble import ACTIVATIONS, LOSSES, OPTIMIZERS
from workbench.core.errors import ConfigError

from workbench.core.tasks import check_task_names, check_truth_table

__all__ = ["ToyTasksConfig"]


@dataclass(frozen=True)
class ToyTasksConfig:
    """Config of the ``toy-tasks`` lab."""

    tasks: tuple[str, ...] = option(
        ("first-bit", "random-lookup"),
        help="tasks to train, each as its own ensemble: first-bit, random-lookup, parity, "
        "majority or a name from truth_tables",
        min_len=1,
        max_len=16,
    )
    # option() turns a dict default into a per-instance default_factory, so no config
    # shares a mutable dict.
    truth_tables: dict[str, str] = option(
        {},
        help="custom tasks: name = a string of 2^n_bits characters 0/1, the output for "
        "inputs 0, 1, ... with the first bit most significant",
    )
    n_bits: int = option(5, help="input bits; every one of the 2^n inputs is used", ge=1, le=10)
    task_seed: int = option(0, help="seed of the random-lookup table", ge=0)
    seeds: int = option(200, help="networks per task", unit="networks", ge=2, le=100_000)
    seed: int = option(
        0,
        help="first seed; task i (0-based) trains seeds seed + i·seeds ... seed + (i+1)·seeds - 1, "
        "so the tasks' ensembles are independent samples",
        ge=0,
    )
    widths: tuple[int, ...] = option(
        (16, 16, 16), help="hidden-layer widths", unit="units", ge=1, le=4096, min_len=1
    )
    activation: str = option("relu", help="hidden-layer nonlinearity", choices=ACTIVATIONS)
    optimizer: str = option("adam", help="optimiser (one per seed)", choices=OPTIMIZERS)
    lr: float = option(1e-2, help="learning rate", gt=0, le=10)
    steps: int = option(5000, help="training steps at most", unit="steps", ge=1)
    batch_size: int = option(
        0, help="minibatch size; 0 trains on all 2^n inputs every step", unit="inputs", ge=0
    )
    loss: str = option("mse", help="training loss on the 0/1 targets", choices=LOSSES)
    loss_threshold: float = option(
        1e-7,
        help="a network whose loss is below this counts as trained and stops training; "
        "0 trains every network for all steps",
        ge=0,
    )
    trained_thresholds: tuple[float, ...] = option(
        (1e-3, 1e-5, 1e-7),
        help="robustness: thresholds for 'trained'; each network is analysed as it was "
        "when its loss first fell below each (each >= loss_threshold)",
        gt=0,
        min_len=1,
        max_len=12,
    )
    tol: float = option(
        1e-5,
        help="two activation vectors are the same when their mean |difference| per unit "
        "is at most this (the sprint's 1e-5)",
        ge=0,
    )
    tol_sweep: tuple[float, ...] = option(
        (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2),
        help="robustness: tolerances to rerun the measures with",
        ge=0,
        min_len=1,
        max_len=24,
    )
    pair_seeds: int = option(
        200,
        help="seed-pair measures (IR, Sim) use the first this many trained networks per task",
        unit="networks",
        ge=2,
        le=2000,
    )
    n_permutations: int = option(
        2000, help="permutations per task-comparison test", ge=99, le=1_000_000
    )
    alpha: float = option(
        0.05,
        help="significance level of the task comparison, Bonferroni-corrected over layers",
        gt=0,
        lt=1,
    )
    data_seed: int = option(0, help="seed of the minibatch order (shared by all seeds)", ge=0)
    log_every: int = option(
        50,
        help="log every network's loss every this many steps (at most every 5 steps)",
        unit="steps",
        ge=1,
    )

    def seed_range(self) -> tuple[int, int]:
        """``(first, count)`` of every seed the run trains: one block of ``seeds`` per task."""
        return self.seed, self.seeds * len(self.tasks)

    def __post_init__(self) -> None:
        for name, table in self.truth_tables.items():
            check_truth_table(name, table, self.n_bits)
        check_task_names(self.tasks, self.truth_tables)
        if self.batch_size > 2**self.n_bits:
            raise ConfigError(
                "batch_size",
                self.batch_size,
                f"0 (full batch) or at most 2^n_bits = {2**self.n_bits}",
            )
        below = [t for t in self.trained_thresholds if t < self.loss_threshold]
        if below:
            raise ConfigError(
                "trained_thresholds",
                list(self.trained_thresholds),
                f"thresholds >= loss_threshold = {self.loss_threshold:g} (training stops there, "
                f"so {below} can never be reached); lower loss_threshold or drop them",
            )
