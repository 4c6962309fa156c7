"""Step 4: "the same thing", three ways — barrier clusters, IR-similarity clusters, strategies.

1. **Barrier.** Nets are clustered by their aligned barrier (average linkage, cut at
   ``lmc_threshold``: within a cluster, nets are on average linearly mode connected).
2. **Information.** Nets are clustered by toy-tasks' normalised IR similarity (read from the
   source run, or computed here with the same measure for boolean-task nets), average linkage
   on ``1 − similarity`` cut into as many clusters as the barrier gave, so the two partitions
   are compared at the same granularity without a second arbitrary height.
3. **Mechanism.** fuzzy-xor's strategy label of each net, where the source has one.

Each pair of partitions of the same nets is compared by the adjusted Rand index with a
permutation null; the family is Holm-corrected, and the verdict says whether any two notions
agree beyond chance. The ARI is also recomputed at every threshold of ``lmc_sweep``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.core.lab import RunContext
from workbench.core.measures.clustering import Clusters, adjusted_rand_index, average_linkage
from workbench.core.models.mlp import layer_activations
from workbench.measures import discretize_batch, normalized_similarity_matrix

from .analysis import agreement_decision
from .config import PathDependenceConfig
from .sources import Group
from .steps import clustering_method, put

__all__ = ["ir_similarity", "same_thing"]

IntArray = npt.NDArray[np.int64]


def ir_similarity(group: Group, tol: float) -> npt.NDArray[np.float64]:
    """Normalised IR similarity of every pair of nets, every layer discretized at ``tol``.

    The toy-tasks definition: layer codes over all inputs (:func:`discretize_batch`), then
    :func:`normalized_similarity_matrix` (each layer matched with its best partner, 1 when both
    nets partition the inputs the same way in every layer).
    """
    posts = [layer.post for layer in layer_activations(group.model, group.x)]
    codes = np.stack([discretize_batch(p, tol) for p in posts], axis=1)  # (seed, layer, input)
    return normalized_similarity_matrix(codes)


def _partitions(
    cfg: PathDependenceConfig, g: Group, barrier_clusters: Clusters, ctx: RunContext
) -> tuple[dict[str, IntArray], Clusters | None]:
    """Every notion's labels of the nets, and the IR dendrogram (for the sweep)."""
    labels: dict[str, IntArray] = {"barrier": barrier_clusters.labels}
    similarity = g.similarity
    source = "source run"
    if similarity is None and g.codes_ok:
        similarity, source = ir_similarity(g, cfg.tol), "computed here"
    ir = None
    if similarity is not None:
        ir = average_linkage(1.0 - similarity, k=barrier_clusters.n_clusters)
        labels["ir"] = ir.labels
        order = barrier_clusters.order
        seeds = [str(s) for s in g.model.seeds]
        ctx.save_array(
            f"{g.name}/ir_similarity", similarity[np.ix_(order, order)], axes=("seed", "seed_b"),
            labels={"seed": [f"s{seeds[i]}" for i in order], "seed_b": [seeds[i] for i in order]},
            description=f"normalised IR similarity ({source}), barrier-cluster order",
        )  # fmt: skip
        ctx.save_array(f"{g.name}/clusters/ir", ir.labels, axes=("seed",))
        put(ctx, {f"{g.name}/ir_similarity/source": source})
    if g.strategy is not None:
        labels["strategy"] = g.strategy
    return labels, ir


def _sweep(
    cfg: PathDependenceConfig, clusters: Clusters, labels: dict[str, IntArray], ir: Clusters | None
) -> tuple[list[str], npt.NDArray[np.float64]]:
    """ARI of the barrier clusters cut at each height with the other partitions.

    The IR dendrogram is re-cut into as many clusters as the barrier cut gives at each height.
    """
    others = [k for k in labels if k != "barrier"]
    out = np.full((len(others), len(cfg.lmc_sweep)), np.nan)
    for j, height in enumerate(cfg.lmc_sweep):
        cut = clusters.cut(height)
        k = int(np.unique(cut).size)
        for i, other in enumerate(others):
            target = ir.into(k) if other == "ir" and ir is not None else labels[other]
            out[i, j] = adjusted_rand_index(cut, target)
    return [f"barrier~{o}" for o in others], out


def same_thing(ctx: RunContext) -> None:
    """Cluster the nets three ways and test whether the partitions agree."""
    cfg: PathDependenceConfig = ctx.config
    groups: list[Group] = ctx.state["groups"]
    method = clustering_method(cfg.methods)
    partitions: dict[str, tuple[IntArray, IntArray]] = {}
    why: list[str] = []
    for g in groups:
        matrix: Any = ctx.state.get("barrier_matrix", {}).get(g.name)
        if matrix is None:
            why.append(f"{g.name}: pairs were sampled (max_pairs), so no full barrier matrix")
            continue
        clusters = average_linkage(matrix, height=cfg.lmc_threshold)
        labels, ir = _partitions(cfg, g, clusters, ctx)
        names = list(labels)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                partitions[f"{g.name}/{a}~{b}"] = (labels[a], labels[b])
        put(ctx, {f"{g.name}/clusters/barrier/count": clusters.n_clusters,
                  f"{g.name}/clusters/method": method})  # fmt: skip
        if len(labels) > 1:
            names, sweep = _sweep(cfg, clusters, labels, ir)
            ctx.save_array(
                f"{g.name}/agreement/ari_sweep", sweep, axes=("comparison", "threshold"),
                labels={"comparison": names, "threshold": [f"{t:g}" for t in cfg.lmc_sweep]},
                description="ARI of the barrier clusters cut at each threshold with the others",
            )  # fmt: skip
        else:
            why.append(f"{g.name}: no second notion of 'the same thing' (no IR, no strategies)")
    family, verdict, aris = agreement_decision(
        partitions, alpha=cfg.alpha, n_permutations=cfg.n_permutations, seed=cfg.data_seed,
        why_not="; ".join(why),
    )  # fmt: skip
    put(ctx, family.as_results("same/tests"))
    put(ctx, {f"same/{k}/ari": v for k, v in aris.items()})
    put(ctx, verdict.as_results("same"))
    ctx.state["same_verdict"] = verdict
