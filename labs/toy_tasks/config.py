"""The toy-tasks lab's config: tasks, ensembles, training and the robustness sweep."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.core.choices import ACTIVATIONS, LOSSES, OPTIMIZERS
from workbench.core.config import option
from workbench.core.errors import ConfigError
from workbench.core.tasks import check_task_names, check_truth_table, expand_tasks

# The grouping rules and tolerance modes, named here (and imported by .grouping) because
# grouping imports torch and this module must not: ``workbench labs`` describes the lab
# without torch.
RULES = ("chained", "leader")
TOL_MODES = ("relative", "absolute")

__all__ = ["ToyTasksConfig", "arch_label", "ensemble_name"]


def arch_label(widths: tuple[int, ...]) -> str:
    """``w32x8x32`` for hidden widths (32, 8, 32)."""
    return "w" + "x".join(str(w) for w in widths)


def ensemble_name(task: str, widths: tuple[int, ...], main: tuple[int, ...]) -> str:
    """Checkpoint/array name of one ensemble: the task for the main architecture, else
    ``<task>_<arch>`` (``first-bit_w32x4x32``), so every name is unique."""
    return task if tuple(widths) == tuple(main) else f"{task}_{arch_label(widths)}"


@dataclass(frozen=True)
class ToyTasksConfig:
    """Config of the ``toy-tasks`` lab."""

    tasks: tuple[str, ...] = option(
        ("first-bit", "random-lookup"),
        help="tasks to train, each as its own ensemble: first-bit, random-lookup, parity, "
        "majority or a name from truth_tables; the claim tested is 'nets of the first task "
        "store less information than nets of the second'",
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
    n_bits: int = option(7, help="input bits; every one of the 2^n inputs is used", ge=2, le=10)
    task_seed: int = option(
        0, help="seed of the random-lookup table (table k of lookup_tables: task_seed + k)", ge=0
    )
    lookup_tables: int = option(
        6,
        help="random-lookup becomes this many random tables (random-lookup.0 ...), one ensemble "
        "each, so inference is over tables; 1 keeps the single table random-lookup",
        unit="tables",
        ge=1,
        le=64,
    )
    seeds: int = option(
        24, help="networks per ensemble (per task, per table)", unit="networks", ge=2, le=100_000
    )
    seed: int = option(
        0,
        help="first seed; task i (0-based) trains seeds seed + i·seeds ... seed + (i+1)·seeds - 1, "
        "so the tasks' ensembles are independent samples",
        ge=0,
    )
    widths: tuple[int, ...] = option(
        (32, 8, 32),
        help="hidden-layer widths (a narrow middle layer is a bottleneck: 2^n >> width)",
        unit="units",
        ge=1,
        le=4096,
        min_len=1,
    )
    widths_sweep: tuple[tuple[int, ...], ...] = option(
        ((32, 4, 32), (32, 16, 32), (32, 8, 8, 32)),
        help="architecture sweep: more hidden-width lists, each trained on every task and "
        "measured the same way (ensembles named <task>_w32x4x32); [] for none",
        max_len=8,
    )
    activation: str = option("relu", help="hidden-layer nonlinearity", choices=ACTIVATIONS)
    optimizer: str = option("adam", help="optimiser (one per seed)", choices=OPTIMIZERS)
    lr: float = option(1e-2, help="learning rate", gt=0, le=10)
    steps: int = option(2000, help="training steps at most", unit="steps", ge=1)
    batch_size: int = option(
        0, help="minibatch size; 0 trains on all 2^n inputs every step", unit="inputs", ge=0
    )
    loss: str = option("mse", help="training loss on the 0/1 targets", choices=LOSSES)
    loss_threshold: float = option(
        1e-4,
        help="a network whose loss is below this counts as trained and stops training; "
        "0 trains every network for all steps",
        ge=0,
    )
    min_trained: int = option(
        8,
        help="an ensemble with fewer trained networks than this is left out, and a claim "
        "without enough trained ensembles reads 'not testable'",
        unit="networks",
        ge=2,
    )
    trained_thresholds: tuple[float, ...] = option(
        (1e-2, 1e-3, 1e-4),
        help="robustness: thresholds for 'trained'; each network is analysed as it was "
        "when its loss first fell below each (each >= loss_threshold)",
        gt=0,
        min_len=1,
        max_len=12,
    )
    tol: float = option(
        1e-2,
        help="two activation vectors are the same when their mean |difference| per unit "
        "is at most this (relative mode: times the layer's mean distance between inputs; "
        "the sprint used 1e-5 absolute)",
        ge=0,
    )
    tol_mode: str = option(
        "relative",
        help="relative: tol is a fraction of each layer's own scale; absolute: tol as is",
        choices=TOL_MODES,
    )
    rule: str = option(
        "chained",
        help="grouping: chained (connected components of 'within tol', order-free) or "
        "leader (the sprint's: within tol of the group's first member)",
        choices=RULES,
    )
    tol_sweep: tuple[float, ...] = option(
        (1e-3, 1e-2, 3e-2, 1e-1),
        help="robustness: tolerances (in tol_mode) to rerun the test with, under both rules",
        ge=0,
        min_len=1,
        max_len=24,
    )
    snapshot_every: int = option(
        100,
        help="measure entropy and MI with the target of every layer every this many steps "
        "(a multiple of 5; 0: never)",
        unit="steps",
        ge=0,
    )
    pair_seeds: int = option(
        200,
        help="seed-pair measures (IR, Sim) use the first this many trained networks per task",
        unit="networks",
        ge=2,
        le=2000,
    )
    n_permutations: int = option(
        9999,
        help="label shuffles per net-level permutation test (drawn once, reused by every "
        "layer and setting)",
        ge=99,
        le=1_000_000,
    )
    alpha: float = option(
        0.05,
        help="family-wise error rate, Holm-corrected over every test the summary reports",
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

    def trained_tasks(self) -> list[str]:
        """The tasks trained, in order: ``random-lookup`` expanded into ``lookup_tables``."""
        return expand_tasks(self.tasks, self.lookup_tables)

    def architectures(self) -> list[tuple[int, ...]]:
        """The main ``widths`` first, then the sweep's other width lists (duplicates dropped)."""
        out = [tuple(self.widths)]
        for w in self.widths_sweep:
            if tuple(w) not in out:
                out.append(tuple(w))
        return out

    def seed_range(self) -> tuple[int, int]:
        """``(first, count)`` of every seed the run trains: one block of ``seeds`` per trained
        task (every architecture reuses its task's block)."""
        return self.seed, self.seeds * len(self.trained_tasks())

    def __post_init__(self) -> None:
        for w in self.widths_sweep:
            if not w or any(not 1 <= int(v) <= 4096 for v in w):
                raise ConfigError(
                    "widths_sweep",
                    [list(x) for x in self.widths_sweep],
                    "a list of non-empty width lists, each width an integer in 1..4096",
                )
        if self.snapshot_every % 5:
            raise ConfigError(
                "snapshot_every",
                self.snapshot_every,
                "0 or a multiple of 5 (the training loop reports every 5 steps)",
            )
        for name, table in self.truth_tables.items():
            check_truth_table(name, table, self.n_bits)
        check_task_names(self.tasks, self.truth_tables)
        check_task_names(self.trained_tasks(), self.truth_tables)
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
