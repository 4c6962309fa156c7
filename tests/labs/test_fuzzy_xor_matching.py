"""Candidate library and affine-R² matching of the fuzzy-XOR lab."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.linear_model import LinearRegression

from workbench_labs.fuzzy_xor.candidates import build_candidate_library, candidate_functions
from workbench_labs.fuzzy_xor.fuzzy import BOOLEAN_FUNCTIONS, unit_square_grid
from workbench_labs.fuzzy_xor.matching import (
    affine_r2,
    affine_span_r2,
    constant_neurons,
    match_neurons,
)
from workbench_labs.fuzzy_xor.neurons import hidden_activations
from workbench_labs.fuzzy_xor.references import reference_networks

REFERENCES = reference_networks()
GRID = unit_square_grid(21)
LIBRARY = build_candidate_library(candidate_functions(REFERENCES), GRID)


def test_complementary_boolean_functions_form_eight_classes() -> None:
    # f and NOT f = 1 − f are affine images of each other, and no other two of the 16
    # are: so the 16 fuzzy boolean functions make exactly 8 classes.
    library = build_candidate_library([(f.name, f.function) for f in BOOLEAN_FUNCTIONS], GRID)
    assert len(library) == 8
    for f in BOOLEAN_FUNCTIONS:
        complement = next(
            g for g in BOOLEAN_FUNCTIONS if g.truth_table == tuple(1 - v for v in f.truth_table)
        )
        assert library.index(f.name) == library.index(complement.name)
    assert library.index("FALSE") == library.index("TRUE")


def test_library_holds_booleans_and_every_reference_function_once() -> None:
    members = [name for group in LIBRARY.aliases for name in group]
    assert len(members) == len(set(members))
    labels = {n.label for net in REFERENCES for n in net.hidden_neurons}
    assert labels <= set(members)
    assert {f.name for f in BOOLEAN_FUNCTIONS} <= set(members)
    assert LIBRARY.values.shape == (len(LIBRARY), GRID.shape[0])
    # Class representatives are pairwise distinguishable: corr² < 1.
    r2 = affine_r2(LIBRARY.values.T.unsqueeze(0), LIBRARY.values)[0]
    off_diagonal = r2 - torch.diag(torch.diag(r2))
    assert float(off_diagonal.max()) < 1 - 1e-6
    with pytest.raises(KeyError, match="no candidate function 'MAYBE'"):
        LIBRARY.index("MAYBE")


def test_library_rejects_bad_input() -> None:
    f = BOOLEAN_FUNCTIONS[1]
    with pytest.raises(ValueError, match="unique"):
        build_candidate_library([(f.name, f.function), (f.name, f.function)], GRID)
    with pytest.raises(ValueError, match="at least one"):
        build_candidate_library([], GRID)
    with pytest.raises(ValueError, match=r"\(n_points, 2\)"):
        build_candidate_library([(f.name, f.function)], GRID[:, :1])


def test_affine_r2_is_the_squared_pearson_correlation() -> None:
    gen = torch.Generator().manual_seed(0)
    acts = torch.rand(3, GRID.shape[0], 5, generator=gen, dtype=torch.float64) ** 2
    r2 = affine_r2(acts, LIBRARY.values)
    values = LIBRARY.values.numpy()
    for s in range(3):
        for u in range(5):
            for c in range(1, len(LIBRARY)):  # class 0 is the constants
                expected = stats.pearsonr(acts[s, :, u].numpy(), values[c]).statistic ** 2
                assert float(r2[s, u, c]) == pytest.approx(expected, abs=1e-12)


def test_affine_r2_is_the_fraction_of_variance_explained_by_least_squares() -> None:
    gen = torch.Generator().manual_seed(1)
    y = torch.rand(GRID.shape[0], generator=gen, dtype=torch.float64)
    f = LIBRARY.values[LIBRARY.index("OR")]
    design = np.stack([f.numpy(), np.ones_like(f.numpy())], axis=1)
    coef, *_ = np.linalg.lstsq(design, y.numpy(), rcond=None)
    residual = y.numpy() - design @ coef
    expected = 1 - (residual**2).sum() / ((y.numpy() - y.numpy().mean()) ** 2).sum()
    got = affine_r2(y.view(1, -1, 1), f.view(1, -1))[0, 0, 0]
    assert float(got) == pytest.approx(expected, abs=1e-12)


def test_affine_r2_is_invariant_to_affine_maps_of_the_neuron() -> None:
    gen = torch.Generator().manual_seed(2)
    y = torch.rand(1, GRID.shape[0], 4, generator=gen, dtype=torch.float64)
    scale = torch.tensor([3.0, -0.5, 1e-3, 70.0], dtype=torch.float64)
    moved = y * scale + 5.0
    assert torch.allclose(
        affine_r2(moved, LIBRARY.values), affine_r2(y, LIBRARY.values), atol=1e-10
    )


def test_planted_functions_are_recovered_with_their_variance_explained() -> None:
    # Fake neurons α·f + β + small noise, for random candidates f, several seeds at once.
    gen = torch.Generator().manual_seed(4)
    n_seeds, n_units, n_points = 5, 7, GRID.shape[0]
    planted = torch.randint(1, len(LIBRARY), (n_seeds, n_units), generator=gen)  # skip constants
    alpha = (torch.rand(n_seeds, n_units, generator=gen, dtype=torch.float64) + 0.2) * torch.where(
        torch.rand(n_seeds, n_units, generator=gen) < 0.5, -1.0, 1.0
    ).double()
    beta = torch.randn(n_seeds, n_units, generator=gen, dtype=torch.float64)
    values = LIBRARY.values[planted]  # (seed, unit, point)
    noise = 1e-3 * torch.randn(n_seeds, n_units, n_points, generator=gen, dtype=torch.float64)
    acts = (alpha[..., None] * values + beta[..., None] + noise).transpose(1, 2)
    found = match_neurons(acts, LIBRARY.values, top_k=3)
    assert torch.equal(found.top_index[:, :, 0], planted)
    assert float(found.top_r2[:, :, 0].min()) > 0.999
    # The reported R² is the fraction of variance the candidate explains; its expected
    # value is var(signal) / (var(signal) + σ²), σ = 1e-3 the noise level.
    signal = (alpha[..., None] * values).var(dim=2, unbiased=False)
    expected = signal / (signal + 1e-6)
    assert torch.allclose(found.top_r2[:, :, 0], expected, atol=5e-5)
    assert bool((found.top_r2[:, :, 0] >= found.top_r2[:, :, 1]).all())


def test_constant_neurons_match_only_the_constant_class() -> None:
    acts = torch.zeros(2, GRID.shape[0], 3, dtype=torch.float64)
    acts[:, :, 1] = 2.5  # active everywhere, but constant
    acts[0, :, 2] = GRID[:, 0]  # a, not constant
    assert constant_neurons(acts).tolist() == [[True, True, False], [True, True, True]]
    r2 = affine_r2(acts, LIBRARY.values)
    constant_class = LIBRARY.index("FALSE")
    assert float(r2[:, :2, constant_class].min()) == 1.0
    others = [c for c in range(len(LIBRARY)) if c != constant_class]
    assert float(r2[:, :2, others].max()) == 0.0
    assert float(r2[0, 2, LIBRARY.index("a")]) == pytest.approx(1.0, abs=1e-12)
    assert float(r2[0, 2, constant_class]) == 0.0


def test_affine_span_r2_agrees_with_sklearn() -> None:
    gen = torch.Generator().manual_seed(5)
    acts = torch.rand(2, GRID.shape[0], 3, generator=gen, dtype=torch.float64) ** 3
    acts[1, :, 0] = 0.3 * GRID[:, 0] - 2 * GRID[:, 1] + 1  # exactly affine
    got = affine_span_r2(acts, GRID)
    for s in range(2):
        for u in range(3):
            y = acts[s, :, u].numpy()
            expected = LinearRegression().fit(GRID.numpy(), y).score(GRID.numpy(), y)
            assert float(got[s, u]) == pytest.approx(expected, abs=1e-10)
    assert float(got[1, 0]) == pytest.approx(1.0, abs=1e-12)


def test_reference_neurons_match_their_own_labels() -> None:
    # The same matching code reads reference networks: each neuron's best class holds
    # its label, with R² = 1.
    for net in REFERENCES:
        acts = hidden_activations(net.model(), GRID)
        found = match_neurons(acts, LIBRARY.values, top_k=1)
        for u, neuron in enumerate(net.hidden_neurons):
            assert int(found.top_index[0, u, 0]) == LIBRARY.index(neuron.label), neuron.label
            assert float(found.top_r2[0, u, 0]) == pytest.approx(1.0, abs=1e-12)


def test_matching_rejects_bad_shapes() -> None:
    acts = torch.zeros(1, GRID.shape[0], 2)
    with pytest.raises(ValueError, match="top_k"):
        match_neurons(acts, LIBRARY.values, top_k=0)
    with pytest.raises(ValueError, match="acts must be"):
        affine_r2(acts[0], LIBRARY.values)
    with pytest.raises(ValueError, match="candidates must be"):
        affine_r2(acts, LIBRARY.values[:, :5])
