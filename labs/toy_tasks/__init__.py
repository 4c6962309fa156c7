"""The ``toy-tasks`` lab: do networks trained on simple functions keep less information?

Reproduces and extends the seed sprint's study (``../shared/seeds/000_*``): ensembles of small
MLPs trained on boolean tasks, a simple one (return the first bit) and complex ones (random
but fixed lookup tables, K of them so that inference is over tables). For every layer of every
network it measures the entropy and the MI with the input and the target, exactly over all
2^n inputs, beside the same nets at random init; it records each layer's precision next to the
tolerance, compares networks by the information ratio IR = I / H(joint), Sim and a normalised
similarity, follows the entropy through training, sweeps the architecture, and tests the claim
with Holm-corrected tests whose verdict is supported / refuted / not established / not testable.

Modules: :mod:`workbench.core.tasks` (task definitions, shared), :mod:`.config`,
:mod:`.grouping` (codes with a scale, precision), :mod:`.measure`, :mod:`.analysis` (IR, Sim),
:mod:`.training` (and :mod:`.saving`), :mod:`.steps`, :mod:`.stats` (the tests),
:mod:`.verdicts` (robustness and the verdict) and :mod:`.report` (Markdown).
"""

from __future__ import annotations

from workbench.core.lab import Lab, LazyStep, Step, View

from .config import ToyTasksConfig

__all__ = ["LAB", "PRESETS", "ToyTasksConfig"]

#: ``--preset sprint``: the sprint's 5-bit set-up exactly as this lab ran it before (one table,
#: 200 nets of widths 16-16-16, MSE to 1e-7, absolute tol 1e-5, chained grouping);
#: ``--preset quick``: a smoke run in well under 30 s on 2 CPU cores.
#: The live metric the training step logs (``training.LIVE_IR``, named here so that the lab's
#: definition does not import torch; tests/labs/test_lab_definitions.py checks they agree).
LIVE_IR = "live/ir_last_hidden"

PRESETS: dict[str, dict[str, object]] = {
    "sprint": {
        "n_bits": 5,
        "lookup_tables": 1,
        "seeds": 200,
        "widths": [16, 16, 16],
        "widths_sweep": [],
        "steps": 5000,
        "loss": "mse",
        "loss_threshold": 1e-7,
        "trained_thresholds": [1e-3, 1e-5, 1e-7],
        "min_trained": 8,
        "tol": 1e-5,
        "tol_mode": "absolute",
        "rule": "chained",
        "tol_sweep": [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2],
        "n_permutations": 2000,
    },
    "quick": {
        "n_bits": 5,
        "lookup_tables": 3,
        "seeds": 10,
        "widths": [16, 4, 16],
        "widths_sweep": [[16, 8, 16]],
        "steps": 600,
        "min_trained": 5,
        "trained_thresholds": [1e-2, 1e-4],
        "tol_sweep": [3e-3, 3e-2],
        "snapshot_every": 100,
        "n_permutations": 999,
    },
}

LAB: Lab[ToyTasksConfig] = Lab(
    name="toy-tasks",
    title="Toy tasks: simple vs complex functions",
    description=(
        "Trains one seed ensemble per boolean task (first-bit, and K random lookup tables) and "
        "architecture, and asks whether the simple task's nets store less information: each "
        "layer's entropy and MI with input and target, exact over all 2^n inputs, beside the "
        "random-init baseline and the nets' own precision; how alike the networks are (IR, "
        "Sim); how entropy moves during training; and a Holm-corrected verdict over tables "
        "that survives, or not, the arbitrary choices of tolerance, grouping rule and "
        "'trained' threshold."
    ),
    config_cls=ToyTasksConfig,
    steps=(
        Step(
            "train",
            "Train the ensembles",
            "Trains `seeds` networks per task and lookup table (`lookup_tables` random tables), "
            "for the main `widths` and every architecture in `widths_sweep`, each ensemble as "
            "one batched model. A network whose loss falls below `loss_threshold` counts as "
            "trained and stops. Each network's weights are kept from the moment its loss first "
            "fell below each of `trained_thresholds`, its untrained twin is kept as the "
            "random-init baseline, and every `snapshot_every` steps every layer's entropy and "
            "MI with the target are measured (the compression curve).",
            LazyStep(".training:train", __name__),
            produces=(
                "checkpoints/<task>[_<arch>]",
                "<name>/train/* (trained, targets, ...)",
                "<name>/snapshots/*",
                "metrics: loss, live IR",
            ),
            views=(View("curve", "Median training loss", "*/train/loss_median", "report", "loss"),),
        ),
        Step(
            "information",
            "Information per layer",
            "Groups every layer of every net on all 2^n inputs (two inputs share a code when "
            "their activations agree within `tol`, relative to the layer's scale by default, "
            "by the `rule`), and computes H(layer) = I(X; layer) and I(layer; y) in bits, for "
            "the trained nets and at init. Beside `tol` it records the nets' own precision: "
            "the output residual and float32 resolution, and the closest distinct codes; a "
            "layer whose precision is coarser than `tol` is flagged.",
            LazyStep(".steps:information", __name__),
            produces=(
                "<name>/entropy",
                "<name>/mi_target",
                "<name>/precision/*",
                "<name>/baseline/*",
                "curves/<task>/*",
                "sweep/<task>/entropy",
            ),
            views=(
                View("curve", "Mean entropy per layer", "entropy/mean_by_layer", "layer", "bits"),
                View(
                    "curve",
                    "Entropy against training step",
                    "curves/*/entropy/layer*",
                    "step",
                    "bits",
                ),
                View(
                    "curve",
                    "I(layer; y) against training step",
                    "curves/*/mi_target/layer*",
                    "step",
                    "bits",
                ),
                View(
                    "heatmap",
                    "Entropy against architecture",
                    "sweep/*/entropy",
                    "layer",
                    "architecture",
                ),
            ),
        ),
        Step(
            "ir",
            "Information ratio between layers",
            "IR(x, y) = I(x; y) / H(x, y) is 1 exactly when two layers partition the inputs "
            "the same way. Computed once per ensemble pair between every layer of every pair "
            "of networks (seed × seed matrices per layer, layer × layer means), trained and at "
            "init.",
            LazyStep(".steps:ir", __name__),
            produces=("<name>/ir_seed_seed/*", "<name>/ir_layer_layer/*", "across/*"),
            views=(
                View("heatmap", "IR between networks", "*/ir_seed_seed/layer*", "seed", "seed"),
                View("heatmap", "Layer × layer IR", "*/ir_layer_layer/*", "layer", "layer"),
                View("heatmap", "Layer × layer IR across tasks", "across/*/ir_layer_layer"),
            ),
        ),
        Step(
            "similarity",
            "Network similarity",
            "The sprint's Sim(X, Y), the mean IR over all layer pairs, and the normalised "
            "similarity (each layer matched to its best partner, 1 exactly when both networks "
            "hold the same partitions), read off the IR blocks.",
            LazyStep(".steps:similarity", __name__),
            produces=("<name>/sim", "<name>/normalized_similarity", "across/*/sim"),
            views=(
                View("heatmap", "Normalised similarity", "*/normalized_similarity", "seed", "seed"),
            ),
        ),
        Step(
            "robustness",
            "Robustness to the arbitrary choices",
            "Reruns the claim's test at every 'trained' threshold in `trained_thresholds`, both "
            "grouping rules and every tolerance in `tol_sweep`, with one set of permutations "
            "reused across them.",
            LazyStep(".verdicts:robustness", __name__),
            produces=("robustness/*",),
            views=(
                View(
                    "heatmap",
                    "Claim effect across settings (bits)",
                    "robustness/effect/layer*",
                    "rule and tol",
                    "trained threshold",
                ),
            ),
        ),
        Step(
            "summary",
            "Verdict",
            "Holm-corrects every test the summary reports (per table, over tables, at init and "
            "at every robustness setting) and states the verdict: supported, refuted, not "
            "established or not testable, with its reason, the power analysis and every "
            "arbitrary choice beside the result it shapes.",
            LazyStep(".verdicts:summary", __name__),
            produces=("summary.md", "summary/finding", "summary/tests/*", "summary/power/*"),
            views=(View("text", "Summary", "summary.md"), View("table", "Tests", "summary/")),
        ),
    ),
    live_metrics=(LIVE_IR,),
    headline="summary/finding",
    presets=PRESETS,
)
