"""The ``path-dependence`` lab: are independently trained nets one basin modulo symmetry?

From the seed review of path dependence (seed 004) and the sprint's question of when two
parameter settings "do the same thing" (seed 000). Permuting hidden units and (for ReLU)
rescaling them leave a net's function unchanged; Ainsworth, Hayase & Srinivasa (2023, "Git
Re-Basin") report that once permutations are corrected, independently trained nets are joined
by a near-zero loss barrier along the straight line between them. This lab measures that for
whole ensembles at once — every pair, before alignment and after weight matching and activation
matching — across widths, and puts the barrier's notion of "the same thing" beside
information-ratio similarity (toy-tasks) and strategy labels (fuzzy-xor).

Modules: :mod:`.config`, :mod:`.sources` (own ensembles or a source run), :mod:`.analysis`
(the batched pipeline and the decisions), :mod:`.steps`, :mod:`.same` (three notions of "the
same thing") and :mod:`.report`. The measures live in core: :mod:`workbench.core.symmetry`,
:mod:`workbench.core.alignment`, :mod:`workbench.core.barriers`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.core.lab import Lab, LazyStep, Step, View

from .config import PathDependenceConfig

if TYPE_CHECKING:
    from workbench.core.runs import Project

__all__ = ["LAB", "LIVE_BARRIER", "PathDependenceConfig"]

#: The live metric the nets step logs (``steps.LIVE_BARRIER``, named here so that the lab's
#: definition does not import torch; tests/labs/test_lab_definitions.py checks they agree).
LIVE_BARRIER = "live/median_barrier"


def _check(cfg: PathDependenceConfig, project: Project) -> None:
    """Pre-run: a ``from_run`` must be a run with trained nets of one architecture."""
    if cfg.from_run:
        from .sources import check_source  # imports torch: only when a run is about to start

        check_source(cfg, project)


LAB: Lab[PathDependenceConfig] = Lab(
    name="path-dependence",
    title="Path dependence: symmetries, alignment and linear mode connectivity",
    description=(
        "Takes an ensemble of trained nets (its own, or a toy-tasks, fuzzy-xor or basin run's "
        "via `from_run`), and for every pair measures the loss barrier on the straight line "
        "between them: as trained, after removing the ReLU-scale or tanh-sign symmetry, and "
        "after permutation alignment by weight matching (Git Re-Basin's coordinate descent "
        "over linear assignments) and by activation matching. Reports barrier heatmaps, "
        "distributions, the connected fraction over thresholds, a width sweep, and whether "
        "nets that are 'the same' by barrier are the same by IR similarity and by strategy."
    ),
    config_cls=PathDependenceConfig,
    steps=(
        Step(
            "nets",
            "Gather the nets",
            "Trains `seeds` nets per task in `tasks` as one batched model each (Adam, `lr`, "
            "`steps`), keeping those whose loss falls below `loss_threshold`; or, with "
            "`from_run`, loads the trained nets of that run and rebuilds the data they were "
            "trained on. The barrier is measured on exactly that training loss.",
            LazyStep(".steps:nets", __name__),
            produces=("checkpoints/<task>", "<g>/seeds", "<g>/data/*", "metrics: loss"),
        ),
        Step(
            "barriers",
            "Barriers before and after alignment",
            "For every pair of nets (or `max_pairs` of them), the barrier "
            "max_α L((1−α)θ_A + αθ_B) − [(1−α)L(θ_A) + αL(θ_B)] on `n_alphas` points: as "
            "trained (`none`), after normalising the rescaling symmetry (`normalized`), and "
            "after each method in `methods`. Weight matching maximises Σ⟨W_A, P W_B Pᵀ⟩ by "
            "coordinate descent over one exact assignment per hidden layer until no "
            "permutation improves; activation matching assigns units by their correlation over "
            "the training inputs. The aligned nets are saved, so every barrier can be "
            "recomputed. A test per method asks whether alignment lowers the barrier.",
            LazyStep(".steps:barriers", __name__),
            produces=("<g>/barrier/*", "<g>/curves/*", "<g>/lmc_fraction", "checkpoints/aligned-*"),
            views=(
                View("heatmap", "Barrier between nets", "*/barrier/*", "seed", "seed"),
                View(
                    "curve", "Loss along the path (median, worst pair)", "*/curves/*", "α", "loss"
                ),
                View("curve", "Barrier quantiles per method", "*/barrier_quantiles", "quantile"),
                View("heatmap", "Connected fraction", "*/lmc_fraction", "threshold", "method"),
                View("heatmap", "Median barrier by α grid", "*/alpha_sweep", "points", "method"),
                View("table", "Alignment tests", "alignment/"),
            ),
        ),
        Step(
            "width",
            "Width sweep",
            "Trains `width_seeds` nets at every width in `width_sweep` on the first ensemble's "
            "data and measures their barriers before and after alignment: the re-basin claim "
            "is that connectivity appears as nets get wider. Spearman's ρ between width and "
            "the aligned barrier of disjoint pairs, with a permutation test.",
            LazyStep(".steps:width", __name__),
            produces=("width/*",),
            views=(
                View("curve", "Median barrier by width", "width/barrier_median", "width", "loss"),
                View("heatmap", "Connected fraction by width", "width/lmc_fraction", "width"),
                View("table", "Width tests", "width/"),
            ),
        ),
        Step(
            "same",
            "The same thing, three ways",
            "Clusters the nets by aligned barrier (average linkage cut at `lmc_threshold`), by "
            "IR similarity (cut into as many clusters) and, for fuzzy-xor sources, takes their "
            "strategy labels; compares every two partitions by the adjusted Rand index with a "
            "permutation null, Holm-corrected, and sweeps the cut over `lmc_sweep`.",
            LazyStep(".same:same_thing", __name__),
            produces=("<g>/clusters/*", "<g>/ir_similarity", "<g>/agreement/*", "same/*"),
            views=(
                View("heatmap", "IR similarity (barrier-cluster order)", "*/ir_similarity"),
                View("heatmap", "ARI over the cut", "*/agreement/ari_sweep", "threshold"),
                View("table", "Agreement", "same/"),
            ),
        ),
        Step(
            "summary",
            "Summary",
            "Barrier statistics per ensemble and method, every verdict with its reason, and "
            "the width sweep.",
            LazyStep(".steps:summary", __name__),
            produces=("summary.md", "summary/finding"),
            views=(View("text", "Summary", "summary.md"),),
        ),
    ),
    live_metrics=(LIVE_BARRIER,),
    headline="summary/finding",
    check=_check,
    presets={
        "quick": {
            "tasks": ["first-bit"],
            "seeds": 14,
            "steps": 800,
            "width_sweep": [8, 32],
            "width_seeds": 6,
            "n_alphas": 11,
            "n_permutations": 499,
        }
    },
)
