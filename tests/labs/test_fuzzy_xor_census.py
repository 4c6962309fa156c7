"""Computation classes, crease redundancy, the threshold sweep and the census verdict (fuzzy-xor).

Known answers: constructions that differ by relu(x) = x + relu(−x) are one computation, those
whose layers span different feature spaces are not; hand-built ensembles whose strategies are
known are counted exactly; the verdict is checked on planted censuses (null and effect) over
many repeats, and end to end on hand-built ensembles.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.core.ensemble import EnsembleMLP
from workbench_labs.fuzzy_xor.census import census_verdict, sweep_census
from workbench_labs.fuzzy_xor.computations import computation_classes, same_space
from workbench_labs.fuzzy_xor.fuzzy import unit_square_grid
from workbench_labs.fuzzy_xor.matching import affine_span_r2, constant_neurons
from workbench_labs.fuzzy_xor.neurons import ablation_effect, hidden_activations
from workbench_labs.fuzzy_xor.redundancy import crease_census
from workbench_labs.fuzzy_xor.references import permute_and_rescale_hidden, reference_networks
from workbench_labs.fuzzy_xor.steps import layer_results
from workbench_labs.fuzzy_xor.strategies import construction_signatures

REFERENCES = reference_networks()
BY_NAME = {net.name: net for net in REFERENCES}
GRID = unit_square_grid(25)
CLASSES = computation_classes(REFERENCES, GRID)


def test_constructions_that_differ_by_relu_identity_are_one_computation() -> None:
    # four-creases and two-creases-ab-and differ by b ⊖ a = (a ⊖ b) − (a − b) and T_L/NOR_L.
    assert CLASSES.of["four-creases"] == CLASSES.of["two-creases-ab-and"]
    one_layer = [n.name for n in REFERENCES if len(n.widths) == 1]
    assert len({CLASSES.of[name] for name in one_layer}) == 1
    # abs-diff's second layer |a − b|, |a + b − 1| spans the same space as its creases.
    assert CLASSES.of["abs-diff"] == CLASSES.of["four-creases"]


def test_constructions_with_different_feature_spaces_are_different_computations() -> None:
    # or-nand's first layer is creased on a = b alone; no one-layer construction passes there.
    assert CLASSES.of["or-nand"] != CLASSES.of["four-creases"]
    assert CLASSES.of["or-nand"] != CLASSES.of["and-not-or"]
    assert len(CLASSES.names) == 3


def test_same_space_is_a_span_comparison() -> None:
    a, b = GRID[:, 0], GRID[:, 1]
    one = torch.ones_like(a)
    v = torch.stack([one, a, b, torch.relu(a - b)], dim=1)
    w = torch.stack([one, a, b, torch.relu(b - a)], dim=1)  # relu(b−a) = relu(a−b) − (a − b)
    u = torch.stack([one, a, b, torch.relu(a + b - 1)], dim=1)
    assert same_space(v, w)
    assert not same_space(v, u)


def _ensemble(names: list[str], seed: int = 0) -> EnsembleMLP:
    """Symmetry-transformed copies of one-layer references, padded to one width."""
    gen = torch.Generator().manual_seed(seed)
    width = max(BY_NAME[n].widths[0] for n in names)
    weights0, biases0, weights1, biases1 = [], [], [], []
    for name in names:
        model = BY_NAME[name].model()
        d = model.sizes[1]
        perm = torch.randperm(d, generator=gen)
        scale = torch.rand(1, d, generator=gen, dtype=torch.float64) + 0.5
        m = permute_and_rescale_hidden(model, [perm], [scale])
        w0, b0 = m.layers[0].weight[0], m.layers[0].bias[0]
        w1, b1 = m.layers[1].weight[0], m.layers[1].bias[0]
        pad = width - d  # dead units: zero in, zero out
        weights0.append(torch.cat([w0, torch.zeros(pad, 2, dtype=w0.dtype)]))
        biases0.append(torch.cat([b0, -torch.ones(pad, dtype=b0.dtype)]))
        weights1.append(torch.cat([w1, torch.zeros(1, pad, dtype=w1.dtype)], dim=1))
        biases1.append(b1)
    return EnsembleMLP.from_layers(
        [torch.stack(weights0), torch.stack(weights1)],
        [torch.stack(biases0), torch.stack(biases1)],
        "relu",
        list(range(len(names))),
    )


def _sweep(model: EnsembleMLP, **thresholds: list[float]):  # type: ignore[no-untyped-def]
    acts = hidden_activations(model, GRID)
    converged = np.ones(model.n_seeds, dtype=bool)
    return sweep_census(
        acts,
        constant_neurons(acts),
        affine_span_r2(acts, GRID),
        ablation_effect(model, GRID),
        converged,
        construction_signatures(REFERENCES, GRID),
        CLASSES,
        relevance=thresholds.get("relevance", [0.01]),
        affine_threshold=thresholds.get("affine", [0.99]),
        fit_threshold=thresholds.get("fit", [0.9]),
    )


def test_sweep_counts_hand_built_strategies_exactly() -> None:
    names = ["four-creases"] * 3 + ["two-creases-ab-and"] * 2 + ["three-creases-no-nor"]
    sweep = _sweep(_ensemble(names), relevance=[0.005, 0.01], fit=[0.8, 0.9])
    col = {n: i for i, n in enumerate(sweep.constructions)}
    for row in sweep.construction_counts:  # exact constructions: the same at every setting
        assert row[col["four-creases"]] == 3
        assert row[col["two-creases-ab-and"]] == 2
        assert row[col["three-creases-no-nor"]] == 1
        assert row[-1] == 0
    # ... and they are all one computation.
    klass = CLASSES.of["four-creases"]
    assert (sweep.computation_counts[:, klass] == 6).all()
    assert sweep.stable("constructions", 0) and sweep.stable("computations", 0)


def test_crease_census_counts_units_per_line_and_ignores_rescaling() -> None:
    model = _ensemble(["four-creases", "two-creases-ab-and"])
    informative = torch.tensor([[True] * 4, [True, True, True, False]])  # last: padding
    # four-creases: a⊖b, b⊖a share a = b; T_L, NOR_L share a + b = 1: 2 creases, 4 units.
    # two-creases-ab-and: a⊖b, T_L and a pass-through unit, each on its own line.
    census = crease_census(model, informative, crease_tol=1e-6)
    np.testing.assert_array_equal(census.creases, [2, 3])
    np.testing.assert_array_equal(census.units, [4, 3])
    np.testing.assert_array_equal(census.max_per_crease, [2, 1])
    np.testing.assert_allclose(census.redundancy, [2.0, 1.0])
    rescaled = permute_and_rescale_hidden(
        model, [torch.arange(4)], [torch.tensor([[2.0, 3.0, 0.5, 1.5]] * 2)]
    )
    again = crease_census(rescaled, informative, crease_tol=1e-6)
    np.testing.assert_array_equal(again.creases, census.creases)
    np.testing.assert_array_equal(again.max_per_crease, census.max_per_crease)


def test_layer_results_split_matching_by_layer() -> None:
    informative = np.array([[True, False, True], [True, True, False]])
    best = np.array([[1.0, 0.2, 0.5], [0.99, 0.995, 0.1]])
    out = layer_results((2, 2, 1, 1), informative, best, np.array([True, True]), 0.99)
    assert out["match/layer1/informative"] == 3
    assert out["match/layer1/matched_fraction"] == pytest.approx(1.0)
    assert out["match/layer2/informative"] == 1
    assert out["match/layer2/mean_best_r2"] == pytest.approx(0.5)


def _planted_counts(rng: np.random.Generator, share: float, n: int, settings: int) -> np.ndarray:
    """Censuses of n nets at several settings; the same nets, so shares move only a little."""
    k = rng.binomial(n, share)
    rows = []
    for _ in range(settings):
        jitter = int(rng.integers(-1, 2)) if 0 < k < n else 0
        kk = min(max(k + jitter, 0), n)
        rows.append([n - kk, kk, 0])
    return np.array(rows)


def test_census_verdict_planted_null_is_not_supported_at_the_nominal_rate() -> None:
    """True minority share exactly π_min: 'supported' must come out at most at rate α."""
    rng = np.random.default_rng(0)
    supported = 0
    repeats = 400
    for _ in range(repeats):
        counts = _planted_counts(rng, 0.05, 100, 1)
        verdict, _ = census_verdict(counts, minority_share=0.05, alpha=0.05, min_classified=10)
        supported += verdict.word == "supported"
    assert supported / repeats <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / repeats)


def test_census_verdict_detects_planted_effects_both_ways() -> None:
    rng = np.random.default_rng(1)

    def word(share: float, n: int) -> str:
        counts = _planted_counts(rng, share, n, 6)
        return census_verdict(counts, minority_share=0.05, alpha=0.05, min_classified=10)[0].word

    two_ways = [word(0.3, 100) for _ in range(50)]
    assert two_ways.count("supported") >= 48
    one_way = [word(0.0, 150) for _ in range(20)]
    assert set(one_way) == {"refuted"}


def test_census_verdict_not_testable_and_unstable() -> None:
    few = np.array([[3, 1, 5]])
    assert census_verdict(few, minority_share=0.05, alpha=0.05, min_classified=10)[0].word == (
        "not testable"
    )
    # Above π_min at one setting, zero at another: the thresholds decide, so not established.
    mixed = np.array([[70, 30, 0], [100, 0, 0]])
    verdict, family = census_verdict(mixed, minority_share=0.05, alpha=0.05, min_classified=10)
    assert verdict.word == "not established" and "moves with the thresholds" in verdict.reason
    assert family.size == 2


def test_census_verdict_end_to_end_on_hand_built_nets_of_one_computation() -> None:
    """Nine constructions, one computation: the claim of several ways is refuted."""
    one_layer = [n.name for n in REFERENCES if len(n.widths) == 1]
    names = [one_layer[i % len(one_layer)] for i in range(90)]
    sweep = _sweep(_ensemble(names, seed=3), relevance=[0.005, 0.02], fit=[0.8, 0.9])
    assert (sweep.construction_counts[:, :-1] > 0).sum(axis=1).min() >= 8  # many constructions
    verdict, _ = census_verdict(
        sweep.computation_counts, minority_share=0.05, alpha=0.05, min_classified=10
    )
    assert verdict.word == "refuted", verdict.reason
