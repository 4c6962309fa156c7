"""The channels lab's config: the sweep, the dropout channel, the estimators and the tests."""

from __future__ import annotations

import math
from dataclasses import dataclass

from workbench.core.config import option
from workbench.core.errors import ConfigError
from workbench.core.tasks import BUILTIN_TASKS

__all__ = ["MAP_ACTIVATIONS", "ChannelsConfig"]

#: Activations of the scarce-channels sweep; leaky-relu is the invertible one.
MAP_ACTIVATIONS = ("relu", "tanh", "leaky-relu", "linear")


@dataclass(frozen=True)
class ChannelsConfig:
    """Config of the ``channels`` lab."""

    # --- the scarce-channels sweep (binary inputs, exact) ---------------------------------------
    n_bits: int = option(
        8, help="input bits: all 2^n_bits inputs, uniform, H(X) = n_bits", unit="bits", ge=2, le=10
    )
    widths: tuple[int, ...] = option(
        (2, 4, 8, 16, 32),
        help="hidden widths to sweep, from a bottleneck to wider than the input",
        unit="units",
        ge=1,
        le=512,
        min_len=1,
        max_len=12,
    )
    depths: tuple[int, ...] = option(
        (1, 2, 4),
        help="hidden-layer counts to sweep",
        unit="layers",
        ge=1,
        le=16,
        min_len=1,
        max_len=8,
    )
    activations: tuple[str, ...] = option(
        ("relu", "tanh", "leaky-relu"),
        help="hidden nonlinearities to sweep (leaky-relu is invertible, slope 0.01)",
        choices=MAP_ACTIVATIONS,
        min_len=1,
        max_len=4,
    )
    init_scales: tuple[float, ...] = option(
        (0.5, 1.0, 2.0),
        help="init scales to sweep: every weight is the nn.Linear default U(±1/√fan_in) times this",
        gt=0,
        le=100,
        min_len=1,
        max_len=8,
    )
    seeds: int = option(
        16,
        help="networks per cell of the sweep (16 make the exact sign-flip "
        "test fine enough for Holm over the map)",
        unit="networks",
        ge=4,
        le=4096,
    )
    seed: int = option(
        0,
        help="first seed; every cell of the sweep reuses seeds seed .. seed + "
        "seeds - 1, so cells differ only in architecture",
        ge=0,
    )
    resolution: float = option(
        1e-2,
        help="two inputs give the same layer code when their activations, in units of the "
        "layer's standard deviation, differ by at most this per unit (0: exact float equality)",
        ge=0,
        le=10,
    )
    resolution_sweep: tuple[float, ...] = option(
        (0.0, 1e-4, 1e-3, 1e-2, 1e-1),
        help="robustness: resolutions to redo the map at",
        ge=0,
        le=10,
        min_len=1,
        max_len=12,
    )
    scarce_fraction: float = option(
        0.5,
        help="a layer is in the scarce-channels regime when I(X; layer) < this × H(X)",
        gt=0,
        lt=1,
    )
    scarce_fraction_sweep: tuple[float, ...] = option(
        (0.1, 0.25, 0.5, 0.75, 0.9),
        help="robustness: thresholds to redo the verdict at",
        gt=0,
        lt=1,
        min_len=1,
        max_len=12,
    )
    task: str = option(
        "random-lookup",
        help="task the trained nets learn (one output bit)",
        choices=tuple(BUILTIN_TASKS),
    )
    task_seed: int = option(0, help="seed of the random-lookup table", ge=0)
    train_steps: int = option(
        400, help="full-batch Adam steps for the trained nets (scale 1 cells)", unit="steps", ge=1
    )
    lr: float = option(
        1e-2, help="learning rate of the trained nets and the dropout codes", gt=0, le=1
    )
    power_law_r2: float = option(
        0.9,
        help="the entropy bound is judged on layers whose log-log spectrum fit has r² of at "
        "least this (the theorem assumes a power law)",
        ge=0,
        le=1,
    )
    # --- Gaussian inputs (linear: exact; nonlinear: KSG and MINE) -------------------------------
    gaussian_dim: int = option(4, help="dimension of the Gaussian input N(0, I)", ge=1, le=32)
    gaussian_widths: tuple[int, ...] = option(
        (2, 8), help="widths of the Gaussian sweep", ge=1, le=128, min_len=1, max_len=8
    )
    gaussian_seeds: int = option(2, help="networks per Gaussian cell", ge=1, le=64)
    gaussian_samples: int = option(2000, help="samples of X per Gaussian net", ge=200, le=100_000)
    noise: float = option(
        1.0,
        help="the layer is read through Gaussian noise of this × its standard deviation, "
        "so its MI with a continuous X is finite (at 1 the input itself keeps d/2 bits, where "
        "KSG and MINE are accurate)",
        gt=0,
        le=10,
    )
    # MINE's settings were measured on the exact linear cells (see labs/channels/gaussian.py):
    # at lr 3e-3 and batch 256 the error stops improving by about 300 steps.
    mine_steps: int = option(300, help="MINE steps per estimator", unit="steps", ge=1)
    mine_lr: float = option(3e-3, help="MINE's Adam learning rate", gt=0, le=1)
    mine_batch: int = option(
        256, help="joint pairs per MINE step (as many marginal pairs)", ge=2, le=100_000
    )
    mine_estimators: int = option(
        2,
        help="MINE estimators per problem (on the linear cells 2 err as 4 do, -0.06 and -0.23 "
        "bits at widths 2 and 8 against -0.08 and -0.21, at about half the cost)",
        ge=2,
        le=64,
    )
    # --- the dropout channel --------------------------------------------------------------------
    dropout_rates: tuple[float, ...] = option(
        (0.0, 0.1, 0.2, 0.3, 0.5, 0.7),
        help="dropout rates D of the code layer",
        ge=0,
        lt=1,
        min_len=1,
        max_len=16,
    )
    code_units: int = option(3, help="units m of the code layer", ge=1, le=10)
    code_levels: int = option(
        4,
        help="levels per code unit (even, so 0 is never a level and dropout is an erasure)",
        ge=2,
        le=16,
    )
    dropout_seeds: int = option(12, help="networks per dropout rate", ge=4, le=4096)
    dropout_steps: int = option(1000, help="Adam steps of the dropout codes", ge=1)
    dropout_hidden: int = option(32, help="hidden width of the encoder and decoder", ge=1, le=512)
    capacity_tolerance: float = option(
        0.05,
        help="a net reaches capacity when I ≥ (1 - this) × the capacity (1-D)·m·log2 L",
        gt=0,
        lt=1,
    )
    capacity_tolerance_sweep: tuple[float, ...] = option(
        (0.01, 0.02, 0.05, 0.1, 0.2),
        help="robustness: tolerances to redo the verdict at",
        gt=0,
        lt=1,
        min_len=1,
        max_len=12,
    )
    # --- the tests ------------------------------------------------------------------------------
    alpha: float = option(
        0.05, help="family-wise error rate of each Holm-corrected family", gt=0, lt=1
    )
    n_permutations: int = option(
        4000,
        help="random sign flips / permutations per test when exact enumeration is too large",
        ge=99,
        le=1_000_000,
    )

    def seed_range(self) -> tuple[int, int]:
        """``(first, count)`` of the seeds the run uses (the largest of its ensembles)."""
        return self.seed, max(self.seeds, self.dropout_seeds, self.gaussian_seeds)

    def __post_init__(self) -> None:
        if self.code_levels % 2:
            raise ConfigError(
                "code_levels",
                self.code_levels,
                "an even integer >= 2 (so 0 is "
                "never a level and a dropped unit is told apart from a kept one)",
            )
        bits = self.code_units * math.log2(self.code_levels)
        if bits > self.n_bits + 1e-9:
            most = self.n_bits / math.log2(self.code_levels)
            raise ConfigError(
                "code_units",
                self.code_units,
                f"at most n_bits / log2(code_levels) = {most:g}"
                f" units, so the code layer (m·log2 L = {bits:g} bits), not the input, limits "
                "the information",
            )
