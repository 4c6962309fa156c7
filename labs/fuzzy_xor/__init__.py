"""The ``fuzzy-xor`` lab: which way does each trained network compute fuzzy XOR?

From the seed sprint's interpretability idea: train many small ReLU networks on
XOR(a, b) = min(max(a, b), 1 − min(a, b)) over [0, 1]², hand-code exact networks
whose every neuron computes a clean fuzzy-logic function, and use them to read the
trained networks: match each trained neuron to candidate functions, feed the
references' activation maximisers to the trained networks, and classify and
cluster the ensemble by strategy.

Modules: :mod:`.fuzzy` (the logic), :mod:`.references` (exact constructions),
:mod:`.candidates` (the candidate library), :mod:`.matching` (affine-fit R²),
:mod:`.neurons` (hidden activations, ablation), :mod:`.maximisation`,
:mod:`.strategies`, :mod:`.report` (Markdown), :mod:`.steps`, :mod:`.steps_maximise`,
:mod:`.steps_census` and :mod:`.config`.
"""

from __future__ import annotations

from workbench.core.lab import Lab, LazyStep, Step, View

from .config import FuzzyXorConfig

__all__ = ["LAB", "FuzzyXorConfig"]

LAB: Lab[FuzzyXorConfig] = Lab(
    name="fuzzy-xor",
    title="Fuzzy XOR: which way does each network compute it?",
    description=(
        "Trains an ensemble of small ReLU networks on fuzzy XOR "
        "(OR = max, AND = min, NOT = 1 − x) over the unit square, hand-codes exact "
        "reference networks with a labelled function for every neuron, matches every "
        "trained neuron to candidate functions by affine-fit R², runs activation "
        "maximisation on the references, and counts how many distinct strategies the "
        "seeds found — the sprint's question of whether different parameter settings "
        '"do the same thing".'
    ),
    config_cls=FuzzyXorConfig,
    steps=(
        Step(
            "train",
            "Train the ensemble",
            "Trains `seeds` ReLU networks of hidden widths `widths` as one batched model "
            "(Adam, MSE) on `samples` points drawn uniformly from [0, 1]², then evaluates "
            "each on a `grid` × `grid` grid. A network whose grid MSE is below "
            "`converged_mse` has learned XOR.",
            LazyStep(".steps:train", __name__),
            produces=("checkpoints/ensemble", "train/*", "metrics: loss"),
            views=(
                View("curve", "Median training loss", "train/loss_median", "report", "MSE"),
                View("table", "Training", "train/"),
            ),
        ),
        Step(
            "references",
            "Build the reference networks",
            "Hand-codes exact ReLU constructions of XOR, from max(a, b) = a + relu(b − a) "
            "and min(a, b) = a − relu(a − b): through OR and NAND, through "
            "(a AND NOT b) OR (NOT a AND b), through |a − b|, and the nine one-layer "
            "ways of placing creases on the two diagonals. Every neuron is labelled with "
            "the function it computes, and every construction is checked against XOR to "
            "float64 precision.",
            LazyStep(".steps:references", __name__),
            produces=("references.md", "reference/*"),
            views=(
                View("text", "Reference constructions", "references.md"),
                View("table", "Exactness", "reference/"),
            ),
        ),
        Step(
            "match",
            "Match neurons to candidate functions",
            "Scores every trained neuron against the candidate library (the 16 boolean "
            "functions in fuzzy form, which include a, b and the constants, plus every "
            "reference neuron's function) by the R² of the best affine fit α·f + β on the "
            "grid: the fraction of the neuron's variance the candidate explains. "
            "Candidates that are affine images of each other (OR and NOR) are one class.",
            LazyStep(".steps:match", __name__),
            produces=("match/*",),
            views=(
                View("heatmap", "Best R² of each neuron", "match/best_r2", "neuron", "seed"),
                View("heatmap", "Match profiles", "match/profile", "candidate", "seed"),
                View("table", "Matching", "match/"),
            ),
        ),
        Step(
            "maximise",
            "Maximise reference activations",
            "Finds inputs that maximise each distinct reference neuron by batched "
            "projected gradient ascent from `restarts` random starts, feeds them to every "
            "trained network, and records each trained neuron's response as a z-score "
            "against its activations over the grid: the reference-neuron × "
            "trained-neuron response matrix.",
            LazyStep(".steps_maximise:maximise", __name__),
            produces=("maximise/*",),
            views=(
                View(
                    "heatmap",
                    "Response of trained neurons to reference maximisers (z)",
                    "maximise/response_matrix",
                    "trained neuron (seed:neuron)",
                    "reference neuron",
                ),
                View(
                    "heatmap",
                    "Strongest response per network (z)",
                    "maximise/strongest_response",
                    "seed",
                    "reference neuron",
                ),
                View("table", "Maximisation", "maximise/"),
            ),
        ),
        Step(
            "strategies",
            "Classify strategies",
            "Scores each network against each construction (coverage: a one-to-one "
            "assignment of the construction's nonlinear neurons to the network's; purity: "
            "how well the network's informative neurons are explained by the "
            "construction) and labels it with the best construction scoring at least "
            "`fit_threshold`, or `none`. Clusters the converged networks by their match "
            "profiles and counts the strategies, unconverged and unmatched networks "
            "included.",
            LazyStep(".steps_census:strategies", __name__),
            produces=("strategy/*", "matches.md"),
            views=(
                View("heatmap", "Strategy scores", "strategy/score", "construction", "seed"),
                View(
                    "heatmap",
                    "Clusters × strategies",
                    "strategy/cluster_by_strategy",
                    "strategy",
                    "cluster",
                ),
                View("table", "Strategies", "strategy/"),
                View("text", "Neuron matches", "matches.md"),
            ),
        ),
        Step(
            "robustness",
            "Computations and robustness",
            "Groups the constructions into *computations* (two constructions are one computation "
            "when their hidden layers span the same feature spaces up to affine maps, as "
            "relu(x) = x + relu(−x) makes several one-layer constructions), counts units per "
            "crease (redundancy), and reclassifies every network at every combination of "
            "`relevance_sweep`, `affine_sweep` and `fit_sweep`, reporting each strategy's count "
            "range and whether the census is stable. The verdict tests whether a second "
            "computation holds at least `minority_share` of the classified networks at every "
            "setting (exact binomial tests, Holm-corrected).",
            LazyStep(".steps_census:robustness", __name__),
            produces=("computation/*", "redundancy/*", "robustness/*", "verdict/*"),
            views=(
                View(
                    "heatmap",
                    "Computation counts per threshold setting",
                    "robustness/computation_counts",
                    "computation",
                    "setting",
                ),
                View(
                    "heatmap",
                    "Construction counts per threshold setting",
                    "robustness/construction_counts",
                    "construction",
                    "setting",
                ),
                View("curve", "Units per crease", "redundancy/units_per_crease", "seed", "units"),
                View("table", "Verdict", "verdict/"),
            ),
        ),
        Step(
            "summary",
            "Summary",
            "The census in words: strategies and computations, clusters, redundancy, how the "
            "counts move with the thresholds, and the verdict with its reason.",
            LazyStep(".steps_census:summary", __name__),
            produces=("summary.md",),
            views=(View("text", "Summary", "summary.md"),),
        ),
    ),
    headline="summary/finding",
    presets={
        "quick": {"seeds": 24, "steps": 800, "grid": 21, "restarts": 8, "ascent_steps": 60},
        "deep": {"widths": [8, 8], "steps": 4000},
    },
)
