"""The ``toy-tasks`` lab: do networks trained on simple functions keep less information?

Reproduces and extends the seed sprint's study (seed 000): ensembles of small MLPs
trained on 5-bit boolean tasks, a simple one (return the first bit) and a complex
one (a random but fixed lookup table). For every layer of every network it measures
the entropy and the MI with the input, exactly over all 2^n inputs; it compares
networks by the information ratio IR = I / H(joint), Sim and a normalised
similarity; and it reruns the comparison over the sprint's arbitrary choices (the
tolerance that decides when two activations are "the same" and the loss below
which a network counts as trained) to show whether a conclusion survives them.

Modules: :mod:`workbench.core.tasks` (task definitions, shared with other labs), :mod:`.config`, :mod:`.analysis` (pure
measures over codes), :mod:`.steps` (the lab steps) and :mod:`.report` (Markdown).
"""

from __future__ import annotations

from workbench.core.lab import Lab, Step, View

from . import steps
from .config import ToyTasksConfig

__all__ = ["LAB", "ToyTasksConfig"]

LAB: Lab[ToyTasksConfig] = Lab(
    name="toy-tasks",
    title="Toy tasks: simple vs complex functions",
    description=(
        "Trains one seed ensemble per boolean task (by default the sprint's first-bit and "
        "random-lookup tasks on 5 bits) and asks how much information each layer keeps: "
        "its entropy and MI with the input, exact over all 2^n inputs; how alike the "
        "corresponding layers of different networks are (information ratio, Sim, "
        "normalised similarity); and whether the answer survives the arbitrary choices of "
        "tolerance and 'trained' threshold."
    ),
    config_cls=ToyTasksConfig,
    steps=(
        Step(
            "train",
            "Train the ensembles",
            "Trains `seeds` networks per task as one batched model each (`optimizer`, `lr`, "
            "`loss`), every network from its own seed. A network whose loss falls below "
            "`loss_threshold` counts as trained and stops; one whose loss becomes NaN or "
            "infinite is flagged and stops. Each network's weights are also kept from the "
            "moment its loss first fell below each of `trained_thresholds`, for the "
            "robustness step. The loss of every network is logged live, with the IR between "
            "a few networks' last hidden layers.",
            steps.train,
            produces=("checkpoints/<task>", "<task>/train/*", "metrics: loss, live IR"),
            views=(View("curve", "Median training loss", "*/train/loss_median", "report", "loss"),),
        ),
        Step(
            "information",
            "Information per layer",
            "Discretizes every layer of every trained network on all 2^n inputs (two "
            "inputs share a code when their activations agree within `tol`) and computes "
            "its entropy H(layer) and its MI with the input, in bits. The inputs are "
            "uniform and each layer is a function of the input, so I(X; layer) = H(layer) "
            "exactly.",
            steps.information,
            produces=("<task>/entropy", "<task>/mi_input", "<task>/entropy/*"),
            views=(
                View("curve", "Mean entropy per layer", "entropy/mean_by_layer", "layer", "bits"),
            ),
        ),
        Step(
            "ir",
            "Information ratio between layers",
            "IR(x, y) = I(x; y) / H(x, y) is 1 exactly when two layers partition the inputs "
            "the same way. Computed between corresponding layers of every pair of networks "
            "of a task (seed × seed matrices), and as layer × layer matrices within a "
            "network and across networks and tasks.",
            steps.ir,
            produces=("<task>/ir_seed_seed/*", "<task>/ir_layer_layer/*", "across/*"),
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
            "similarity (each layer matched to its best partner, 1 exactly when both "
            "networks hold the same partitions), for every pair of networks within each "
            "task and across tasks.",
            steps.similarity,
            produces=("<task>/sim", "<task>/normalized_similarity", "across/*/sim"),
            views=(
                View("heatmap", "Normalised similarity", "*/normalized_similarity", "seed", "seed"),
            ),
        ),
        Step(
            "robustness",
            "Robustness to the arbitrary choices",
            "Reruns the entropy comparison between tasks at every tolerance in `tol_sweep` "
            "and every threshold in `trained_thresholds`, so you can see whether a "
            "conclusion survives the choices the sprint made arbitrarily.",
            steps.robustness,
            produces=("robustness/*",),
            views=(
                View(
                    "heatmap",
                    "Entropy difference across settings (bits)",
                    "robustness/*/difference/layer*",
                    "tol",
                    "trained threshold",
                ),
            ),
        ),
        Step(
            "summary",
            "Summary",
            "Compares the tasks layer by layer: mean and standard deviation across networks, "
            "a permutation-test p-value, and a plain statement of what the data supports "
            "and how robust it is.",
            steps.summary,
            produces=("summary.md", "compare/*", "summary/finding"),
            views=(View("text", "Summary", "summary.md"), View("table", "Comparison", "compare/")),
        ),
    ),
    live_metrics=(steps.LIVE_IR,),
    headline="summary/finding",
)
