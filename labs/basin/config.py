"""The basin lab's config: which nets, and every arbitrary choice of the three broadness measures.

Defaults and their sources (each is also swept, see the ``*_sweep`` keys):

* ``nbeta`` = 1000. Lau et al. (2023) and devinterp default to nβ = n/ln n (Watanabe's WBIC
  temperature); with the n = 32 inputs of a 5-bit task that is 9.2, at which the expected
  loss increase λ/nβ exceeds the loss of a constant guess (0.25) for any λ above ~2, so the
  chains leave the basin. 1000 keeps λ/nβ ≪ 0.25 for λ up to P/2; the sweep includes n/ln n.
* ``localization`` γ = 100: devinterp's examples and Lau et al.'s MNIST experiments.
* ``sgld_step`` ε = 3e-5: stable while ε·(nβ·λ_max + γ)/2 < 1, i.e. for Hessian tops λ_max up
  to ~65 at nβ = 1000 (trained 8-8-8 nets have 10–30); smaller steps had not mixed in 1500
  steps (split-R̂ > 1.15 at 1e-5 in a pilot). The step-size sweep shows where λ̂ stops
  depending on ε (the calibration devinterp's users are asked to do by hand).
* ``chains`` = 8, ``draws`` = 1500, ``burn_in`` = 300: devinterp's tutorials use 4–8 chains of
  a few hundred to 2000 draws; the split-R̂ and the chain sweep say whether it was enough.
* ``threshold`` T = 0.01 (MSE): a loss 25× below a constant guess's, far above the trained
  loss; swept over ``threshold_sweep``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.core.choices import ACTIVATIONS, LOSSES, OPTIMIZERS
from workbench.core.config import option
from workbench.core.errors import ConfigError
from workbench.core.tasks import check_task_names, check_truth_table

if TYPE_CHECKING:  # sgld imports torch; the config imports only names (cheap `workbench labs`)
    from workbench.core.sgld import SGLDSetting

__all__ = ["HESSIAN_METHODS", "BasinConfig"]

HESSIAN_METHODS = ("auto", "dense", "lanczos")


@dataclass(frozen=True)
class BasinConfig:
    """Config of the ``basin`` lab."""

    from_run: str = option(
        "",
        help="measure the nets of this toy-tasks (or basin) run instead of training new ones "
        "(run id, unique prefix or latest); empty trains the ensembles below",
    )
    tasks: tuple[str, ...] = option(
        ("first-bit", "random-lookup"),
        help="tasks to train (ignored with from_run): first-bit, random-lookup, parity, "
        "majority or a name from truth_tables",
        min_len=1,
        max_len=8,
    )
    simple_task: str = option("first-bit", help="the simple function of the comparison")
    complex_task: str = option("random-lookup", help="the lookup-table function it is compared to")
    truth_tables: dict[str, str] = option({}, help="custom tasks: name = a string of 2^n_bits 0/1")
    n_bits: int = option(5, help="input bits; all 2^n inputs are the training set", ge=1, le=8)
    task_seed: int = option(0, help="seed of the random-lookup table", ge=0)
    seeds: int = option(64, help="networks per task", unit="networks", ge=3, le=4096)
    seed: int = option(0, help="first seed; task i trains seeds seed + i·seeds ...", ge=0)
    widths: tuple[int, ...] = option(
        (8, 8, 8), help="hidden-layer widths", unit="units", ge=1, le=512, min_len=1
    )
    activation: str = option("relu", help="hidden nonlinearity", choices=ACTIVATIONS)
    optimizer: str = option("adam", help="optimiser", choices=OPTIMIZERS)
    lr: float = option(1e-2, help="learning rate", gt=0, le=10)
    steps: int = option(4000, help="training steps at most", unit="steps", ge=1)
    loss: str = option("mse", help="training loss (also the L_n of every measure)", choices=LOSSES)
    loss_threshold: float = option(
        1e-5,
        help="a net below this loss counts as trained and stops; only trained nets are measured",
        gt=0,
    )
    hessian: str = option(
        "auto",
        help="dense (exact), lanczos (matrix-free Ritz values) or auto (dense up to "
        "dense_max_params)",
        choices=HESSIAN_METHODS,
    )
    dense_max_params: int = option(
        3000, help="auto uses dense Hessians up to this many parameters", ge=1
    )
    lanczos_steps: int = option(64, help="Lanczos iterations (Ritz values kept)", ge=2, le=2048)
    eps_sweep: tuple[float, ...] = option(
        (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1),
        help="count Hessian eigenvalues above each ε",
        gt=0,
        min_len=1,
        max_len=16,
    )
    eig_floor: float = option(
        1e-4, help="quadratic volume: eigenvalues below this are set to it (and counted)", gt=0
    )
    floor_sweep: tuple[float, ...] = option(
        (1e-6, 1e-4, 1e-2), help="robustness: eigenvalue floors", gt=0, min_len=1, max_len=8
    )
    threshold: float = option(1e-2, help="T, the loss that bounds a basin", unit="loss", gt=0)
    threshold_sweep: tuple[float, ...] = option(
        (1e-3, 1e-2, 1e-1), help="robustness: thresholds T", gt=0, min_len=1, max_len=8
    )
    directions: int = option(
        128, help="random directions per net for the MC volume", ge=8, le=65536
    )
    normalize: bool = option(True, help="MC volume in per-layer RMS-scaled coordinates (ReLU-fair)")
    nbeta: float = option(1000.0, help="nβ, the inverse temperature times n", gt=0)
    localization: float = option(100.0, help="γ, strength of the pull back to w*", ge=0)
    sgld_step: float = option(3e-5, help="ε, the SGLD step size", gt=0)
    chains: int = option(8, help="SGLD chains per net", ge=2, le=256)
    draws: int = option(1500, help="SGLD steps that enter λ̂", unit="steps", ge=10)
    burn_in: int = option(300, help="SGLD steps dropped first", unit="steps", ge=0)
    step_sweep: tuple[float, ...] = option(
        (1e-5, 2e-5, 6e-5, 1.2e-4), help="step-size calibration: other ε", gt=0, max_len=8
    )
    nbeta_sweep: tuple[float, ...] = option(
        (9.23, 100.0, 1e4), help="robustness: other nβ (9.23 = n/ln n for n = 32)", gt=0, max_len=8
    )
    localization_sweep: tuple[float, ...] = option(
        (10.0, 1000.0), help="robustness: other γ", ge=0, max_len=8
    )
    sweep_seeds: int = option(16, help="nets per task in the sweeps", unit="networks", ge=3)
    sweep_chains: int = option(4, help="chains per net in the sweeps", ge=2, le=64)
    tol: float = option(
        1e-5,
        help="compression: activations within this mean |difference| per unit are the same",
        ge=0,
    )
    calibration_draws: int = option(
        6000, help="SGLD steps of each known-answer calibration model", unit="steps", ge=100
    )
    calibration_tolerance: float = option(
        0.1, help="a calibration estimate this far (relative) from its truth is a miss", gt=0, lt=1
    )
    n_permutations: int = option(2000, help="permutations per test", ge=99, le=1_000_000)
    alpha: float = option(0.05, help="family-wise error rate of each claim (Holm)", gt=0, lt=1)
    sgld_seed: int = option(0, help="seed of the SGLD noise and the MC directions", ge=0)
    data_seed: int = option(0, help="seed of the minibatch order (full batch: unused)", ge=0)

    def seed_range(self) -> tuple[int, int]:
        """``(first, count)`` of the seeds trained here (none come from a source run)."""
        return self.seed, self.seeds * len(self.tasks)

    def settings(self) -> SGLDSetting:
        """The main SGLD setting."""
        from workbench.core.sgld import SGLDSetting

        return SGLDSetting(self.sgld_step, self.nbeta, self.localization)

    def __post_init__(self) -> None:
        for name, table in self.truth_tables.items():
            check_truth_table(name, table, self.n_bits)
        if not self.from_run:
            check_task_names(self.tasks, self.truth_tables)
        if self.simple_task == self.complex_task:
            raise ConfigError(
                "complex_task",
                self.complex_task,
                f"a task other than simple_task ({self.simple_task!r})",
            )
        for key, value in (("nbeta", self.nbeta), ("threshold", self.threshold)):
            if not math.isfinite(value):
                raise ConfigError(key, value, "a finite number > 0")
        if self.threshold <= self.loss_threshold:
            raise ConfigError(
                "threshold",
                self.threshold,
                f"a loss T above loss_threshold = {self.loss_threshold:g}: a trained net must "
                "sit inside its basin",
            )
        if self.sweep_chains > self.chains:
            raise ConfigError("sweep_chains", self.sweep_chains, f"at most chains = {self.chains}")
