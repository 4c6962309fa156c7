"""The fuzzy-XOR lab's config: ensemble, data, evaluation grid and analysis thresholds."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.core.config import option
from workbench.core.errors import ConfigError

__all__ = ["FuzzyXorConfig"]


@dataclass(frozen=True)
class FuzzyXorConfig:
    """Config of the ``fuzzy-xor`` lab. Hidden layers are ReLU and the loss is MSE."""

    seeds: int = option(100, help="networks in the ensemble", unit="networks", ge=1, le=100_000)
    seed: int = option(0, help="first seed; network k is initialised from seed + k", ge=0)
    widths: tuple[int, ...] = option(
        (16,), help="hidden-layer widths of every network", unit="units", ge=1, le=1024, min_len=1
    )
    steps: int = option(3000, help="Adam steps", unit="steps", ge=0)
    lr: float = option(1e-2, help="Adam learning rate", gt=0, le=10)
    samples: int = option(
        512, help="training points drawn uniformly from the unit square", unit="points", ge=1
    )
    batch_size: int = option(
        0, help="minibatch size; 0 trains on all samples every step", unit="points", ge=0
    )
    data_seed: int = option(0, help="seed of the training sample and the minibatch order", ge=0)
    grid: int = option(
        41, help="evaluation grid: points per axis of [0,1]², corners included", ge=2, le=1001
    )
    converged_mse: float = option(
        1e-3, help="a network whose MSE on the grid is below this has learned XOR", gt=0
    )
    top_k: int = option(3, help="best-matching candidate functions kept per neuron", ge=1, le=64)
    affine_threshold: float = option(
        0.99, help="a neuron whose best affine fit in (a, b) has R² ≥ this is affine", gt=0, le=1
    )
    relevance: float = option(
        0.01,
        help="a neuron whose mean-ablation changes the output by less than this (RMS) is unused",
        unit="output units",
        ge=0,
    )
    fit_threshold: float = option(
        0.9,
        help="minimum score (harmonic mean of coverage and purity) to follow a construction",
        ge=0,
        le=1,
    )
    cluster_distance: float = option(
        0.1, help="cut height of the match-profile clustering (RMS difference of R²)", ge=0, le=1
    )
    restarts: int = option(
        32, help="random starts per reference neuron in activation maximisation", ge=1, le=4096
    )
    ascent_steps: int = option(200, help="projected gradient-ascent steps", unit="steps", ge=0)
    ascent_step_size: float = option(
        0.05, help="initial gradient-ascent step size", unit="input units", gt=0, le=1
    )
    keep_tol: float = option(
        0.01,
        help="keep maximisation starts whose activation is within this of the best",
        unit="activation units",
        ge=0,
    )
    response_z: float = option(
        1.0,
        help="a trained neuron responds when its z-score at the maximisers is at least this",
        unit="grid std",
    )
    log_every: int = option(50, help="report the live loss every this many steps", ge=1)
    relevance_sweep: tuple[float, ...] = option(
        (0.005, 0.01, 0.02, 0.05),
        help="robustness: relevance values to reclassify every network with",
        unit="output units",
        ge=0,
        min_len=1,
        max_len=16,
    )
    affine_sweep: tuple[float, ...] = option(
        (0.95, 0.99, 0.999),
        help="robustness: affine_threshold values to reclassify with",
        gt=0,
        le=1,
        min_len=1,
        max_len=16,
    )
    fit_sweep: tuple[float, ...] = option(
        (0.8, 0.9, 0.95),
        help="robustness: fit_threshold values to reclassify with",
        ge=0,
        le=1,
        min_len=1,
        max_len=16,
    )
    stable_fraction: float = option(
        0.1,
        help="a census is stable when no count moves by more than this share of the "
        "converged networks across the threshold settings",
        ge=0,
        le=1,
    )
    crease_tol: float = option(
        0.05,
        help="two first-layer units share a crease when their normalised crease lines "
        "(unit normal, offset) differ by at most this",
        gt=0,
        le=1,
    )
    minority_share: float = option(
        0.05,
        help="verdict: a second computation counts when it holds at least this share of the "
        "networks that fit a construction",
        gt=0,
        lt=1,
    )
    min_classified: int = option(
        10,
        help="verdict: fewest networks fitting a construction for the claim to be testable",
        unit="networks",
        ge=1,
    )
    alpha: float = option(
        0.05, help="family-wise error rate of the verdict's tests (Holm)", gt=0, lt=1
    )

    def __post_init__(self) -> None:
        if self.batch_size > self.samples:
            raise ConfigError(
                "batch_size",
                self.batch_size,
                f"must be <= samples ({self.samples}), or 0 for full batch",
            )
