"""Strategy scores, classification, clustering and activation maximisation (fuzzy-XOR lab)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch

from workbench.core.ensemble import EnsembleMLP, init_ensemble
from workbench.core.ensemble import TrainConfig as EnsembleTrainConfig
from workbench_labs.fuzzy_xor.candidates import build_candidate_library, candidate_functions
from workbench_labs.fuzzy_xor.fuzzy import unit_square_grid
from workbench_labs.fuzzy_xor.matching import affine_span_r2, match_neurons
from workbench_labs.fuzzy_xor.maximisation import (
    MaximisingInputs,
    ReferenceUnits,
    distinct_reference_units,
    maximise_activations,
    reference_unit_activations,
    response_matrix,
)
from workbench_labs.fuzzy_xor.neurons import ablation_effect, hidden_activations
from workbench_labs.fuzzy_xor.references import (
    ReferenceNetwork,
    permute_and_rescale_hidden,
    reference_networks,
)
from workbench_labs.fuzzy_xor.strategies import (
    NONE,
    NONE_CODE,
    UNCONVERGED,
    UNCONVERGED_CODE,
    StrategyScores,
    classify_strategies,
    cluster_profiles,
    construction_signatures,
    informative_neurons,
    match_profiles,
    score_strategies,
    strategy_counts,
    strategy_names,
)

REFERENCES = reference_networks()
BY_NAME = {net.name: net for net in REFERENCES}
GRID = unit_square_grid(25)
SIGNATURES = construction_signatures(REFERENCES, GRID)
LIBRARY = build_candidate_library(candidate_functions(REFERENCES), GRID)
THRESHOLD = 0.9


def _scores(model: EnsembleMLP) -> tuple[StrategyScores, torch.Tensor]:
    """The lab's pipeline from a model to its strategy scores."""
    acts = hidden_activations(model, GRID.to(model.dtype))
    constant = match_neurons(acts, LIBRARY.values).constant
    informative = informative_neurons(
        constant,
        affine_span_r2(acts, GRID),
        ablation_effect(model, GRID.to(model.dtype)),
        affine_threshold=0.99,
        relevance=0.01,
    )
    return score_strategies(acts, informative, SIGNATURES), informative


def _stack(nets: Sequence[ReferenceNetwork]) -> EnsembleMLP:
    """Several same-architecture references as one multi-seed ensemble."""
    models = [net.model() for net in nets]
    return EnsembleMLP(torch.cat([m.params for m in models]), models[0].sizes, "relu")


def _shuffle(model: EnsembleMLP, seed: int) -> EnsembleMLP:
    """Permute hidden neurons and rescale each seed's neurons by its own factors c > 0."""
    gen = torch.Generator().manual_seed(seed)
    widths = model.sizes[1:-1]
    perms = [torch.randperm(w, generator=gen) for w in widths]
    scales = [
        0.1 + 5 * torch.rand(model.n_seeds, w, generator=gen, dtype=torch.float64) for w in widths
    ]
    moved: EnsembleMLP = permute_and_rescale_hidden(model, perms, scales)
    return moved


def test_signatures_leave_out_affine_neurons() -> None:
    by_name = {sig.name: sig for sig in SIGNATURES}
    assert by_name["two-creases-ab-and"].labels == ("a ⊖ b", "T_L(a,b)")
    assert set(by_name["four-creases"].labels) == {"a ⊖ b", "b ⊖ a", "T_L(a,b)", "NOR_L(a,b)"}
    assert set(by_name["or-nand"].labels) == {"b ⊖ a", "a ⊖ b", "OR", "NAND", "T_L(a,b)"}
    assert all("a" not in sig.labels and "b" not in sig.labels for sig in SIGNATURES)
    assert len({frozenset(sig.labels) for sig in SIGNATURES}) == len(SIGNATURES)


@pytest.mark.parametrize("net", REFERENCES, ids=lambda n: n.name)
def test_each_reference_is_classified_as_itself(net: ReferenceNetwork) -> None:
    scores, _ = _scores(net.model())
    index = scores.names.index(net.name)
    assert scores.score[0, index] == pytest.approx(1.0, abs=1e-9)
    assert scores.coverage[0, index] == pytest.approx(1.0, abs=1e-9)
    assert scores.purity[0, index] == pytest.approx(1.0, abs=1e-9)
    others = np.delete(scores.score[0], index)
    assert others.max() < 1.0 - 1e-3  # strictly the best
    codes = classify_strategies(scores, np.array([True]), threshold=THRESHOLD)
    assert strategy_names(codes, scores.names) == [net.name]


@pytest.mark.parametrize("net", REFERENCES, ids=lambda n: n.name)
def test_permuted_and_rescaled_reference_is_classified_as_its_construction(
    net: ReferenceNetwork,
) -> None:
    shuffled = _shuffle(net.model(), seed=7)
    scores, _ = _scores(shuffled)
    codes = classify_strategies(scores, np.array([True]), threshold=THRESHOLD)
    assert strategy_names(codes, scores.names) == [net.name]
    assert scores.score[0].max() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("prefix", ["two-creases", "three-creases"])
def test_a_batch_of_shuffled_references_is_classified_seed_by_seed(prefix: str) -> None:
    # Same-architecture references stacked as seeds of one ensemble, each seed shuffled
    # with its own scales: classification runs batched and keeps every seed apart.
    nets = [net for net in REFERENCES if net.name.startswith(prefix)]
    model = _shuffle(_stack(nets), seed=11)
    scores, _ = _scores(model)
    codes = classify_strategies(scores, np.ones(len(nets), dtype=bool), threshold=THRESHOLD)
    assert strategy_names(codes, scores.names) == [net.name for net in nets]
    # The assignment points each signature function at a neuron computing it.
    acts = hidden_activations(model, GRID)
    for s, net in enumerate(nets):
        c = scores.names.index(net.name)
        sig = SIGNATURES[c]
        for i, unit in enumerate(scores.assignment[c][s]):
            corr = np.corrcoef(acts[s, :, unit].numpy(), sig.values[i].numpy())[0, 1]
            assert corr == pytest.approx(1.0, abs=1e-9)


def test_coverage_and_purity_of_a_nested_signature_have_closed_forms() -> None:
    # A two-crease network against four-creases: both of its informative neurons are
    # four-creases functions (purity 1) but it covers only 2 of the 4 (coverage 1/2),
    # so the score is 2·(1/2)·1 / (1/2 + 1) = 2/3.
    scores, informative = _scores(BY_NAME["two-creases-ab-and"].model())
    assert int(informative.sum()) == 2
    c = scores.names.index("four-creases")
    assert scores.coverage[0, c] == pytest.approx(0.5, abs=1e-9)
    assert scores.purity[0, c] == pytest.approx(1.0, abs=1e-9)
    assert scores.score[0, c] == pytest.approx(2 / 3, abs=1e-9)
    assert sorted(scores.assignment[c][0].tolist()).count(-1) == 2


def test_scores_are_invariant_to_relu_symmetries() -> None:
    model = _stack([net for net in REFERENCES if net.name.startswith("two-creases")])
    base, _ = _scores(model)
    moved, _ = _scores(_shuffle(model, seed=5))
    assert np.allclose(base.score, moved.score, atol=1e-9)
    assert np.allclose(base.coverage, moved.coverage, atol=1e-9)


def test_untrained_networks_fit_no_construction_and_unconverged_ones_are_counted() -> None:
    config = EnsembleTrainConfig(widths=(16,), activation="relu")
    model = init_ensemble(config, range(6), d_in=2, d_out=1, dtype=torch.float64)
    scores, _ = _scores(model)
    assert scores.score.max() < THRESHOLD
    converged = np.array([True, True, True, False, False, True])
    codes = classify_strategies(scores, converged, threshold=THRESHOLD)
    assert codes.tolist() == [NONE_CODE] * 3 + [UNCONVERGED_CODE] * 2 + [NONE_CODE]
    counts = strategy_counts(codes, scores.names)
    assert counts[NONE] == 4 and counts[UNCONVERGED] == 2
    assert sum(counts.values()) == 6
    assert set(counts) == {*scores.names, NONE, UNCONVERGED}


def test_score_strategies_rejects_a_mismatched_mask() -> None:
    acts = hidden_activations(BY_NAME["four-creases"].model(), GRID)
    with pytest.raises(ValueError, match="informative must be"):
        score_strategies(acts, torch.ones(1, 3, dtype=torch.bool), SIGNATURES)


def test_match_profiles_take_the_best_informative_neuron() -> None:
    r2 = torch.tensor([[[0.2, 0.9], [0.8, 0.1], [1.0, 1.0]]], dtype=torch.float64)
    informative = torch.tensor([[True, True, False]])
    assert match_profiles(r2, informative).tolist() == [[0.8, 0.9]]
    shuffled = match_profiles(r2[:, [1, 0, 2]], informative[:, [1, 0, 2]])
    assert shuffled.tolist() == [[0.8, 0.9]]


def test_clustering_recovers_planted_groups_ordered_by_size() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    group = np.array([1] * 3 + [0] * 6 + [2] * 2 + [0])
    profiles = centres[group] + 0.01 * rng.standard_normal((group.size, 4))
    include = np.ones(group.size, dtype=bool)
    include[-1] = False
    clusters = cluster_profiles(profiles, include, max_distance=0.1)
    assert clusters[-1] == 0
    # Group 0 (6 kept) is cluster 1, group 1 (3) is cluster 2, group 2 (2) is cluster 3.
    assert clusters[:-1].tolist() == [{0: 1, 1: 2, 2: 3}[g] for g in group[:-1]]
    # Cutting above the between-group distances merges everything.
    assert set(cluster_profiles(profiles, include, max_distance=1.0)[:-1]) == {1}


def test_clustering_edge_cases() -> None:
    profiles = np.zeros((3, 2))
    assert cluster_profiles(profiles, np.zeros(3, dtype=bool), max_distance=0.1).tolist() == [
        0,
        0,
        0,
    ]
    one = np.array([False, True, False])
    assert cluster_profiles(profiles, one, max_distance=0.1).tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="max_distance"):
        cluster_profiles(profiles, one, max_distance=-1.0)
    with pytest.raises(ValueError, match="include must be"):
        cluster_profiles(profiles, np.ones(2, dtype=bool), max_distance=0.1)


# --- activation maximisation ----------------------------------------------------------------


@pytest.fixture(scope="module")
def maximised() -> tuple[ReferenceUnits, MaximisingInputs]:
    units = distinct_reference_units(REFERENCES)
    found = maximise_activations(
        reference_unit_activations(REFERENCES, units),
        len(units.labels),
        restarts=16,
        steps=100,
        step_size=0.05,
        keep_tol=0.01,
        generator=torch.Generator().manual_seed(0),
    )
    return units, found


def test_distinct_reference_units_cover_every_label_once() -> None:
    units = distinct_reference_units(REFERENCES)
    labels = {n.label for net in REFERENCES for n in net.hidden_neurons}
    assert set(units.labels) == labels and len(units.labels) == len(labels)
    for label, n, column in zip(units.labels, units.networks, units.columns, strict=True):
        assert REFERENCES[n].hidden_neurons[column].label == label


def test_maximisation_reaches_the_maximum_a_dense_grid_finds(
    maximised: tuple[ReferenceUnits, MaximisingInputs],
) -> None:
    units, found = maximised
    dense = unit_square_grid(201)
    peak = reference_unit_activations(REFERENCES, units)(dense).max(dim=0).values
    assert torch.allclose(found.best, peak, atol=1e-3)
    assert bool(found.keep.any(dim=1).all())
    assert float(found.points.min()) >= 0.0 and float(found.points.max()) <= 1.0
    # Known maximisers: a ⊖ b peaks only at (1, 0) and T_L only at (1, 1).
    for label, corner in (("a ⊖ b", (1.0, 0.0)), ("T_L(a,b)", (1.0, 1.0))):
        i = units.labels.index(label)
        kept = found.points[i][found.keep[i]]
        assert torch.allclose(kept, torch.tensor(corner, dtype=torch.float64), atol=1e-2)


def test_maximisation_without_steps_returns_the_random_starts() -> None:
    units = distinct_reference_units(REFERENCES)
    gen = torch.Generator().manual_seed(1)
    expected = torch.rand((len(units.labels), 3, 2), generator=gen, dtype=torch.float64)
    found = maximise_activations(
        reference_unit_activations(REFERENCES, units),
        len(units.labels),
        restarts=3,
        steps=0,
        step_size=0.1,
        keep_tol=0.0,
        generator=torch.Generator().manual_seed(1),
    )
    assert torch.equal(found.points, expected)
    with pytest.raises(ValueError, match="restarts"):
        maximise_activations(
            lambda x: x,
            2,
            restarts=0,
            steps=1,
            step_size=0.1,
            keep_tol=0.0,
            generator=torch.Generator(),
        )


def test_response_matrix_is_the_z_score_at_the_maximisers(
    maximised: tuple[ReferenceUnits, MaximisingInputs],
) -> None:
    # "Trained" network = the four-creases reference; its neuron a ⊖ b responds to the
    # maximisers of reference a ⊖ b with z = (max − mean) / std over the grid.
    units, found = maximised
    model = BY_NAME["four-creases"].model()
    n_ref, n_restarts, _ = found.points.shape
    at_max = hidden_activations(model, found.points.reshape(-1, 2))
    at_max = at_max.reshape(1, n_ref, n_restarts, -1)
    grid_acts = hidden_activations(model, GRID)
    response = response_matrix(at_max, found.keep, grid_acts)
    assert response.shape == (1, n_ref, 4)
    row = units.labels.index("a ⊖ b")
    column = 0  # four-creases' first neuron computes a ⊖ b
    values = grid_acts[0, :, column].numpy()
    kept = at_max[0, row, found.keep[row], column].numpy()
    expected = ((kept - values.mean()) / values.std()).mean()
    assert float(response[0, row, column]) == pytest.approx(expected, rel=1e-12)
    assert float(response[0, row, column]) == pytest.approx(
        (1.0 - values.mean()) / values.std(), abs=1e-2
    )


def test_response_matrix_gives_constant_neurons_zero_and_checks_shapes() -> None:
    grid_acts = torch.zeros(2, GRID.shape[0], 3, dtype=torch.float64)
    grid_acts[:, :, 1] = GRID[:, 0]
    at_max = torch.ones(2, 4, 5, 3, dtype=torch.float64)
    keep = torch.ones(4, 5, dtype=torch.bool)
    response = response_matrix(at_max, keep, grid_acts)
    assert float(response[:, :, [0, 2]].abs().max()) == 0.0
    expected = (1.0 - GRID[:, 0].mean()) / GRID[:, 0].std(unbiased=False)
    assert torch.allclose(response[:, :, 1], expected.expand(2, 4))
    with pytest.raises(ValueError, match="keep must be"):
        response_matrix(at_max, keep[:, :2], grid_acts)
    with pytest.raises(ValueError, match="grid_acts must be"):
        response_matrix(at_max, keep, grid_acts[:1])
