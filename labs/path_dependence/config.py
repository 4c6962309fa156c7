"""The path-dependence lab's config: which nets, how to align them, and the sweeps."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.core.choices import ACTIVATIONS, LOSSES
from workbench.core.choices import BARRIER_DEFINITIONS as DEFINITIONS
from workbench.core.config import option
from workbench.core.errors import ConfigError
from workbench.core.tasks import check_task_names, check_truth_table

__all__ = ["METHODS", "NORMALIZE_CHOICES", "SOURCE_LABS", "PathDependenceConfig"]

METHODS = ("weight", "activation")
"""Alignment methods: weight matching and activation matching."""

NORMALIZE_CHOICES = ("auto", "none", "relu-scale", "tanh-sign")

SOURCE_LABS = ("toy-tasks", "fuzzy-xor", "basin")
"""Labs whose runs can be a ``from_run`` source."""


@dataclass(frozen=True)
class PathDependenceConfig:
    """Config of the ``path-dependence`` lab."""

    from_run: str = option(
        "",
        help="a toy-tasks, fuzzy-xor or basin run (id, unique prefix or latest) whose trained "
        "nets to compare; empty trains the lab's own ensembles on `tasks`",
    )
    tasks: tuple[str, ...] = option(
        ("first-bit", "random-lookup"),
        help="own training only: boolean tasks, one ensemble each (first-bit, random-lookup, "
        "parity, majority or a name from truth_tables)",
        min_len=1,
        max_len=8,
    )
    truth_tables: dict[str, str] = option(
        {}, help="own training only: custom tasks, name = string of 2^n_bits characters 0/1"
    )
    n_bits: int = option(5, help="own training only: input bits (all 2^n inputs)", ge=1, le=10)
    task_seed: int = option(0, help="seed of the random-lookup table", ge=0)
    seeds: int = option(24, help="own training: nets per task", unit="networks", ge=2, le=2000)
    seed: int = option(
        0,
        help="first seed; task i trains seed + i·seeds ..., then each width of the sweep its "
        "own block of width_seeds",
        ge=0,
    )
    widths: tuple[int, ...] = option(
        (16, 16), help="own training: hidden-layer widths", unit="units", ge=1, le=1024, min_len=1
    )
    activation: str = option("relu", help="own training: hidden nonlinearity", choices=ACTIVATIONS)
    loss: str = option("mse", help="own training: loss on the 0/1 targets", choices=LOSSES)
    lr: float = option(1e-2, help="Adam learning rate (own training and the width sweep)", gt=0)
    steps: int = option(2000, help="Adam steps at most", unit="steps", ge=1)
    loss_threshold: float = option(
        1e-4,
        help="a net whose training loss falls below this is trained and stops; only trained "
        "nets are compared (a source run's own 'trained' flags are used for its nets)",
        gt=0,
    )
    max_pairs: int = option(
        0,
        help="pairs of nets per ensemble: 0 for all, else a random sample of this many (plus "
        "the disjoint pairs the tests use)",
        unit="pairs",
        ge=0,
    )
    n_alphas: int = option(
        25, help="points on the linear path, both endpoints included", ge=3, le=1001
    )
    barrier_definition: str = option(
        "interpolated",
        help="interpolated: max_α L(θ_α) − [(1−α)L_A + αL_B]; max-endpoint: max_α L(θ_α) − "
        "max(L_A, L_B)",
        choices=DEFINITIONS,
    )
    methods: tuple[str, ...] = option(
        METHODS, help="alignment methods: weight and/or activation matching", min_len=1
    )
    normalize: str = option(
        "auto",
        help="remove a rescaling symmetry before matching: auto = relu-scale for relu nets, "
        "tanh-sign for tanh nets, none otherwise",
        choices=NORMALIZE_CHOICES,
    )
    max_sweeps: int = option(
        100, help="weight matching: coordinate-descent sweeps at most", ge=1, le=10_000
    )
    lmc_threshold: float = option(
        0.01,
        help="a pair is linearly mode connected when its barrier is below this; also the cut "
        "height of the barrier clustering",
        unit="loss",
        gt=0,
    )
    lmc_sweep: tuple[float, ...] = option(
        (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1),
        help="thresholds to recompute the connected fraction and the clusters at",
        unit="loss",
        gt=0,
        min_len=1,
        max_len=24,
    )
    width_sweep: tuple[int, ...] = option(
        (4, 8, 16, 32, 64),
        help="width sweep: every hidden layer this wide, trained on the first ensemble's data "
        "(empty: no sweep)",
        unit="units",
        ge=1,
        le=1024,
        max_len=12,
    )
    width_seeds: int = option(
        16, help="nets trained per width of the sweep", unit="networks", ge=2, le=1000
    )
    tol: float = option(
        1e-5,
        help="IR similarity: activations within this mean |difference| per unit are the same "
        "(as toy-tasks), used when the source saved no IR similarity",
        ge=0,
    )
    n_permutations: int = option(2000, help="permutations per test", ge=99, le=1_000_000)
    alpha: float = option(0.05, help="family-wise error rate of each verdict (Holm)", gt=0, lt=1)
    data_seed: int = option(0, help="seed of the minibatch order and the pair sample", ge=0)
    log_every: int = option(50, help="log every net's loss every this many steps", ge=1)

    def seed_range(self) -> tuple[int, int]:
        """``(first, count)``: one block of ``seeds`` per task, then one per swept width."""
        own = 0 if self.from_run else self.seeds * len(self.tasks)
        return self.seed, own + self.width_seeds * len(self.width_sweep)

    def __post_init__(self) -> None:
        for name, table in self.truth_tables.items():
            check_truth_table(name, table, self.n_bits)
        check_task_names(self.tasks, self.truth_tables)
        bad = [m for m in self.methods if m not in METHODS]
        if bad or len(set(self.methods)) != len(self.methods):
            raise ConfigError("methods", list(self.methods), f"distinct names from {list(METHODS)}")
        if self.normalize == "relu-scale" and self.activation != "relu" and not self.from_run:
            raise ConfigError(
                "normalize", self.normalize, "relu-scale only for relu nets (or auto)"
            )
        if self.normalize == "tanh-sign" and self.activation != "tanh" and not self.from_run:
            raise ConfigError("normalize", self.normalize, "tanh-sign only for tanh nets (or auto)")

    def normalization(self, activation: str) -> str:
        """The symmetry to remove for nets with ``activation``."""
        if self.normalize != "auto":
            return self.normalize
        return {"relu": "relu-scale", "tanh": "tanh-sign"}.get(activation, "none")
