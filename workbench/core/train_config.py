"""What a seed-ensemble training run is asked to do and what it reports.

:class:`TrainConfig` (validated when built: each bad value is one :class:`ConfigError`
naming the key, the value and what is allowed), :class:`TrainProgress` (the snapshot the
progress callback receives) and :class:`TrainResult` (each seed's outcome). They hold no
tensors and import no torch, so a config, a notebook or a sweep can build and read them
cheaply; :mod:`workbench.core.ensemble` trains with them and re-exports them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workbench.core.choices import ACTIVATIONS, LOSSES, OPTIMIZERS
from workbench.core.errors import ConfigError

__all__ = ["ProgressCallback", "TrainConfig", "TrainProgress", "TrainResult"]


@dataclass(frozen=True)
class TrainConfig:
    """How to build and train a seed ensemble.

    Attributes:
        widths: Hidden-layer widths (input and output widths come from the data).
        activation: Hidden nonlinearity, one of ``relu``, ``tanh``, ``gelu``.
        optimizer: ``adam`` or ``sgd``.
        lr: Learning rate (> 0).
        steps: Optimiser steps (>= 0).
        batch_size: Examples per step; ``None`` (or >= the data size) is full batch.
        loss: ``mse`` or ``bce-with-logits``.
        loss_threshold: A seed whose loss falls below this is "trained" and frozen;
            0 trains every seed for all steps (no loss is below 0).
        log_every: Report progress every this many steps (>= 1), and at the end.
        data_seed: Seeds the minibatch order shared by all seeds.
        momentum: SGD momentum in [0, 1).
        betas: Adam (β₁, β₂).
        eps: Adam ε.
    """

    widths: tuple[int, ...] = (16, 16, 16)
    activation: str = "relu"
    optimizer: str = "adam"
    lr: float = 1e-2
    steps: int = 1000
    batch_size: int | None = None
    loss: str = "mse"
    loss_threshold: float = 0.0
    log_every: int = 50
    data_seed: int = 0
    momentum: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if not self.widths or any(int(w) < 1 for w in self.widths):
            raise ConfigError("widths", list(self.widths), "a non-empty list of integers >= 1")
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("loss", self.loss, LOSSES)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError("lr", self.lr, "a finite number > 0")
        if self.steps < 0:
            raise ConfigError("steps", self.steps, "an integer >= 0")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(
                "batch_size", self.batch_size, "an integer >= 1, or none for full batch"
            )
        if not self.loss_threshold >= 0:
            raise ConfigError("loss_threshold", self.loss_threshold, "a number >= 0")
        if self.log_every < 1:
            raise ConfigError("log_every", self.log_every, "an integer >= 1")
        if self.data_seed < 0:
            raise ConfigError("data_seed", self.data_seed, "an integer >= 0")
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError("momentum", self.momentum, "a number in [0, 1)")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError("betas", list(self.betas), "two numbers, each in [0, 1)")
        if not self.eps > 0:
            raise ConfigError("eps", self.eps, "a number > 0")


@dataclass(frozen=True)
class TrainProgress:
    """A snapshot of training, sent to the progress callback.

    Attributes:
        step: Optimiser steps done so far; the model holds the parameters after
            exactly this many updates while the callback runs.
        total_steps: Steps the run was asked for (training may stop earlier once
            every seed is frozen).
        loss: ``(seed,)`` each seed's loss at ``step`` (on the current minibatch;
            on the full data in full-batch mode and in the final report).
        converged: ``(seed,)`` bool, loss fell below ``loss_threshold``.
        diverged: ``(seed,)`` bool, loss or squared gradient norm became NaN or infinite.
        steps_per_second: Batched steps per second since the previous report (each
            step advances every active seed).
    """

    step: int
    total_steps: int
    loss: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    steps_per_second: float

    @property
    def done(self) -> bool:
        """True for the final report."""
        return self.step >= self.total_steps or not bool(np.any(~(self.converged | self.diverged)))


ProgressCallback = Callable[[TrainProgress], None]
"""Receives every progress report; raise from it to cancel training."""


@dataclass(frozen=True)
class TrainResult:
    """What a finished training run tells about each seed.

    Attributes:
        final_loss: ``(seed,)`` loss on the full data after training.
        converged: ``(seed,)`` bool, final loss below ``loss_threshold``.
        diverged: ``(seed,)`` bool, loss became NaN or infinite at some step.
        steps_trained: ``(seed,)`` optimiser updates each seed received.
        loss_history: ``(n_reports, seed)`` loss at each progress report.
        history_steps: ``(n_reports,)`` the step of each report.
        steps_run: Batched steps executed (< ``steps`` if all seeds froze early).
        seconds: Wall time of the training loop.
    """

    final_loss: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    steps_trained: np.ndarray
    loss_history: np.ndarray
    history_steps: np.ndarray
    steps_run: int
    seconds: float


def _check_choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(key, value, "one of " + ", ".join(allowed))
