"""The ``channels`` lab: scarce channels at init, dropout capacity and power-law spectra.

Tests three claims where the information is known (issue 16): the hypothesis of seed 002 that a
randomly initialised net throws away almost all information ("scarce channels"), with the
commenter's counter-example of a square invertible net; the dropout-capacity theorem of seed 003
(capacity (1-D)·C); and 003's entropy bound for power-law spectra, beside 002's claim that
Jacobian and covariance spectra give the same picture. Binary inputs make every MI exact;
Gaussian inputs make it exact for linear nets and test KSG and MINE on the nonlinear ones.

Modules: :mod:`.config`, :mod:`.nets` (ensembles, exact layer MI, Jacobians), :mod:`.dropout`
(the dropout channel), :mod:`.gaussian`, :mod:`.spectra` (α, the bound), :mod:`.stats`
(sign-flip tests), :mod:`.verdicts`, :mod:`.steps` and :mod:`.report` (summary).
"""

from __future__ import annotations

from workbench.core.lab import Lab, LazyStep, Step, View

from .config import ChannelsConfig

__all__ = ["LAB", "QUICK", "ChannelsConfig"]

QUICK = {
    "n_bits": 6,
    "widths": [2, 6, 12],
    "depths": [1, 3],
    "activations": ["relu", "leaky-relu"],
    "init_scales": [1.0, 2.0],
    "seeds": 8,
    "resolution_sweep": [0.0, 1e-2],
    "scarce_fraction_sweep": [0.5],
    "train_steps": 200,
    "gaussian_widths": [2, 8],
    "gaussian_seeds": 1,
    "gaussian_samples": 500,
    "mine_steps": 60,
    "mine_estimators": 2,
    "dropout_rates": [0.0, 0.3, 0.6],
    "code_units": 2,
    "dropout_seeds": 8,
    "dropout_steps": 300,
    "dropout_hidden": 16,
    "capacity_tolerance_sweep": [0.05, 0.2],
    "n_permutations": 999,
}

LAB: Lab[ChannelsConfig] = Lab(
    name="channels",
    title="Channels: scarce channels, dropout capacity, spectra",
    description=(
        "Is a randomly initialised net in a 'scarce channels' regime (seed 002), or does a square "
        "invertible net pass all its input (the commenter)? Do nets trained through dropout reach "
        "the capacity (1-D)·C (seed 003)? Does 003's power-law entropy bound hold, and do "
        "Jacobian and covariance spectra agree? Exact MI over all 2^n binary inputs, exact "
        "Gaussian MI for linear nets, KSG and MINE for the rest; seed ensembles, sign-flip and "
        "permutation tests, Holm within each family."
    ),
    config_cls=ChannelsConfig,
    steps=(
        Step(
            "init-map",
            "Information at init",
            "For every cell of the sweep (activation × init scale × depth × width) builds "
            "`seeds` nets and measures I(X; layer) = H(layer) for every hidden layer over all "
            "2^n_bits inputs, at `resolution` (in layer standard deviations) and at each of "
            "`resolution_sweep`. Also the commenter's square leaky-relu net.",
            LazyStep(".steps:init_map", __name__),
            produces=("map/<act>/init/scale<g>", "invertible/*"),
            views=(
                View(
                    "heatmap",
                    "I/H(X) at init, last hidden layer",
                    "map/*/init/scale1",
                    "width",
                    "depth",
                ),
            ),
        ),
        Step(
            "train",
            "Information after training",
            "Trains the scale-1 cells on `task` (full batch, Adam) and measures the same "
            "information after training; keeps covariance and Jacobian spectra before and after.",
            LazyStep(".steps:trained_map", __name__),
            produces=("map/<act>/init_vs_trained",),
            views=(
                View(
                    "heatmap",
                    "I/H(X): init (i) | trained (t)",
                    "map/*/init_vs_trained",
                    "width",
                    "depth",
                ),
            ),
        ),
        Step(
            "gaussian",
            "Gaussian inputs",
            "X ~ N(0, I): the last hidden layer read through relative noise `noise`; exact MI for "
            "linear nets, KSG and MINE (batched estimators) for all, as a share of the input's "
            "own information at that noise, at init and after training on a fixed random "
            "teacher's sign; each estimator's bias is measured on the exact linear cells.",
            LazyStep(".steps:gaussian", __name__),
            produces=(
                "gaussian/<act>/{exact,ksg,mine}",
                "gaussian/<act>/<kind>_init_vs_trained",
                "gaussian/bias",
                "gaussian/linear/*",
            ),
            views=(
                View("heatmap", "Gaussian I/reference (KSG)", "gaussian/*/ksg", "width", "depth"),
                View(
                    "heatmap",
                    "Gaussian I/reference: init (i) | trained (t)",
                    "gaussian/*_init_vs_trained",
                    "width",
                    "depth",
                ),
                View(
                    "heatmap",
                    "Estimator bias on linear nets (bits)",
                    "gaussian/bias",
                    "width",
                    "estimator",
                ),
            ),
        ),
        Step(
            "dropout",
            "Dropout capacity",
            "Trains codes of `code_units` units with `code_levels` levels through dropout at "
            "each rate (all rates one batched model) to reconstruct the input, then sums the "
            "exact I(X; dropout(code)) over every kept-unit pattern, beside (1-D)·m·log2 L and "
            "the theorem's lower bounds.",
            LazyStep(".steps:dropout_channel", __name__),
            produces=("dropout/capacity_curve", "dropout/information"),
            views=(
                View(
                    "curve",
                    "Bits across dropout against the rate D",
                    "dropout/capacity_curve",
                    "rate",
                    "bits",
                ),
            ),
        ),
        Step(
            "spectra",
            "Spectra",
            "Covariance spectra and E[JJᵀ] spectra of the widest, deepest trained cell per "
            "activation, at init and trained; α of every layer (power-law fit) for the bound.",
            LazyStep(".steps:spectra", __name__),
            produces=("spectra/<act>/<when>/{covariance,jacobian}/layer<l>",),
            views=(
                View("spectrum", "Covariance spectrum", "spectra/*/covariance/*"),
                View("spectrum", "Jacobian E[JJᵀ] spectrum", "spectra/*/jacobian/*"),
            ),
        ),
        Step(
            "summary",
            "Verdicts",
            "Every claim's verdict with its test family (Holm), the scarce-channels map, the "
            "sweeps over resolution, threshold and tolerance, and summary.md.",
            LazyStep(".report:summary", __name__),
            produces=("summary.md", "verdict/*", "robustness/*", "map/<act>/verdict/*"),
            views=(
                View("text", "Summary", "summary.md"),
                View(
                    "heatmap",
                    "Scarce (+1) / abundant (-1) cells",
                    "map/*/verdict/scale1",
                    "width",
                    "depth",
                ),
                View(
                    "heatmap",
                    "Share of cells scarce",
                    "robustness/scarce_cells",
                    "threshold",
                    "resolution",
                ),
                View("table", "Verdicts", "verdict/"),
            ),
        ),
    ),
    headline="summary/finding",
    presets={"quick": QUICK},
)
