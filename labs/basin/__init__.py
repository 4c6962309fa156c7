"""The ``basin`` lab: are simple-function nets in broader basins, and do broader basins store less?

The research prompt behind seed 000 argues that broad peaks induce data compression; seed 001
warns that Hessian eigenvalues alone cannot give a basin's volume and points to the learning
coefficient λ of singular learning theory. This lab measures broadness three ways on the nets
whose compression it also measures (trained here on the shared tasks, or a toy-tasks run's
nets via ``from_run``): the exact Hessian spectrum (trace, top, counts above ε, quadratic
log-volume), the local learning coefficient by batched SGLD (Lau et al., 2023), and a
Monte-Carlo basin volume from radii along random directions. Every run first calibrates the
estimators on known answers. It then tests both claims with Holm-corrected permutation tests.

Modules: :mod:`.config`, :mod:`.nets`, :mod:`.calibration`, :mod:`.curvature`, :mod:`.llc`,
:mod:`.volume`, :mod:`.compression`, :mod:`.analysis` (pure statistics), :mod:`.summary`,
:mod:`.report` and :mod:`.steps`; the estimators live in ``workbench.core`` (``hessian``,
``mlp_hessian``, ``sgld``, ``llc_calibration``, ``basin_volume``, ``mlp_objective``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.core.lab import Lab, LazyStep, Step, View

from .config import BasinConfig

if TYPE_CHECKING:
    from workbench.core.runs import Project

__all__ = ["LAB", "LIVE_LLC", "BasinConfig"]

#: The live metric the llc step logs (``steps.LIVE_LLC``, named here so that the lab's
#: definition does not import torch; tests/labs/test_lab_definitions.py checks they agree).
LIVE_LLC = "live/llc"


def _check(cfg: BasinConfig, project: Project) -> None:
    """Pre-run: a ``from_run`` must be a toy-tasks or basin run with saved checkpoints."""
    from .nets import check_source  # imports torch: only when a run is about to start

    check_source(cfg, project)


LAB: Lab[BasinConfig] = Lab(
    name="basin",
    title="Basin broadness: Hessian, learning coefficient and volume",
    description=(
        "Measures how broad each trained net's basin is, three ways (exact Hessian spectrum "
        "and quadratic volume, local learning coefficient by batched SGLD, Monte-Carlo basin "
        "volume), calibrates each estimator on known answers every run, and asks whether nets "
        "trained on a simple function sit in broader basins than lookup-table nets, and "
        "whether broader basins store less (layer entropy = MI with the input)."
    ),
    config_cls=BasinConfig,
    steps=(
        Step(
            "nets",
            "Nets",
            "Trains `seeds` nets per task (the shared task definitions) on all 2^n inputs, or "
            "loads every ensemble of the `from_run` run. Only nets whose loss fell below "
            "`loss_threshold` are measured: broadness is a property of a minimum.",
            LazyStep(".steps:nets", __name__),
            produces=("checkpoints/<task>", "<task>/train/*", "<task>/nets/*"),
        ),
        Step(
            "calibration",
            "Calibration on known answers",
            "The Hessian against a quadratic's eigenvalues, against autodiff and against finite "
            "differences; λ̂ on a regular model (d/2), normal crossings (¼, ½) and a deep linear "
            "net (Aoyagi's formula); the MC volume on a quadratic with known determinant. Each "
            "value is recorded beside its truth; a miss beyond `calibration_tolerance` is named "
            "in the verdicts.",
            LazyStep(".steps:calibration", __name__),
            produces=("calibration/*",),
            views=(View("table", "Calibration", "calibration/"),),
        ),
        Step(
            "hessian",
            "Hessian spectra",
            "The exact Hessian of the training loss at every net's weights, all nets batched "
            "(or Lanczos Ritz values for big nets); the full spectrum, trace, top eigenvalue, "
            "counts above each ε of `eps_sweep`, and the quadratic log-volume "
            "ln V = ln V_P + (P/2) ln 2(T - L*) - ½ Σ ln max(λ, floor), floored eigenvalues "
            "counted.",
            LazyStep(".steps:hessian", __name__),
            produces=("<task>/hessian/*", "hessian/spectrum/<task>"),
            views=(
                View(
                    "spectrum", "Hessian eigenspectrum (median, 10–90% band)", "hessian/spectrum/*"
                ),
            ),
        ),
        Step(
            "llc",
            "Learning coefficient by SGLD",
            "λ̂ = nβ (E_w[L_n(w)] - L_n(w*)) over the localised tempered posterior, sampled by "
            "SGLD for every task × net × chain at once; chain traces, spread across chains, "
            "split-R̂, negative/diverged flags, and sweeps over ε (step-size calibration), nβ "
            "and γ.",
            LazyStep(".steps:llc", __name__),
            produces=("<task>/llc/*", "llc_sweep/*"),
            views=(View("curve", "Median SGLD loss", "*/llc/trace_median", "trace point", "loss"),),
        ),
        Step(
            "volume",
            "Monte-Carlo basin volume",
            "Along `directions` random directions (uniform on the sphere, per-layer normalised "
            "with `normalize`) the radius where the loss first exceeds T; "
            "ln V = ln V_P + ln mean R^P with a bootstrap interval, for every T of the sweep.",
            LazyStep(".steps:volume", __name__),
            produces=("<task>/volume/*",),
        ),
        Step(
            "compression",
            "Compression",
            "Each layer's entropy over all 2^n inputs after discretizing at `tol` (equal to its "
            "MI with the input, since a layer is a function of the input).",
            LazyStep(".steps:compression", __name__),
            produces=("<task>/entropy",),
            views=(View("heatmap", "Layer entropy (bits)", "*/entropy", "layer", "net"),),
        ),
        Step(
            "summary",
            "Verdicts",
            "Simple against complex on every broadness measure (interval, effect size, "
            "permutation p, Holm), within-task Spearman correlations of broadness with "
            "compression (Holm), the robustness sweep over T, floor, nβ, γ, ε and chains, and "
            "a verdict per claim.",
            LazyStep(".steps:summary", __name__),
            produces=(
                "summary.md",
                "compare/*",
                "correlation/*",
                "robustness/*",
                "verdict/*",
                "scatter/*",
            ),
            views=(
                View("text", "Summary", "summary.md"),
                View(
                    "scatter", "Broadness against compression", "scatter/*", "broadness", "entropy"
                ),
                View("table", "Verdicts", "verdict/"),
            ),
        ),
    ),
    live_metrics=(LIVE_LLC,),
    headline="summary/finding",
    check=_check,
    presets={
        "quick": {
            "seeds": 12,
            "widths": [6, 6],
            "steps": 1500,
            "loss_threshold": 1e-4,
            "draws": 300,
            "burn_in": 60,
            "chains": 4,
            "sweep_seeds": 6,
            "sweep_chains": 2,
            "step_sweep": [1e-5],
            "nbeta_sweep": [100.0],
            "localization_sweep": [10.0],
            "directions": 32,
            "calibration_draws": 1000,
            "n_permutations": 499,
        }
    },
)
