"""Fuzzy logic and the hand-coded reference networks of the fuzzy-XOR lab are exact."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench_labs.fuzzy_xor.fuzzy import (
    BOOLEAN_FUNCTIONS,
    fuzzy_and,
    fuzzy_not,
    fuzzy_or,
    fuzzy_xor,
    unit_square_grid,
    xor_piecewise,
)
from workbench_labs.fuzzy_xor.neurons import ablation_effect, hidden_activations, neuron_names
from workbench_labs.fuzzy_xor.references import permute_and_rescale_hidden, reference_networks

REFERENCES = reference_networks()
unit = st.floats(0.0, 1.0, allow_nan=False)


def _random_points(n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, generator=gen, dtype=torch.float64)


def _check_points() -> torch.Tensor:
    return torch.cat([unit_square_grid(101), _random_points(5000)])


# --- fuzzy logic ----------------------------------------------------------------------------


def test_boolean_functions_reduce_to_their_truth_tables_on_the_corners() -> None:
    corners = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    tables = set()
    for f in BOOLEAN_FUNCTIONS:
        values = f.function(corners[:, 0], corners[:, 1])
        assert values.tolist() == [float(v) for v in f.truth_table], f.name
        tables.add(f.truth_table)
    assert tables == set(itertools.product((0, 1), repeat=4))  # all 16, each once


def test_boolean_functions_stay_in_the_unit_interval() -> None:
    g = unit_square_grid(51)
    for f in BOOLEAN_FUNCTIONS:
        values = f.function(g[:, 0], g[:, 1])
        assert values.shape == (51 * 51,)
        assert float(values.min()) >= 0.0 and float(values.max()) <= 1.0, f.name


@settings(max_examples=200, deadline=None)
@given(unit, unit)
def test_fuzzy_identities(a_value: float, b_value: float) -> None:
    a = torch.tensor(a_value, dtype=torch.float64)
    b = torch.tensor(b_value, dtype=torch.float64)
    # De Morgan holds for the Zadeh connectives.
    assert torch.equal(fuzzy_not(fuzzy_and(a, b)), fuzzy_or(fuzzy_not(a), fuzzy_not(b)))
    # The ReLU identities the constructions are built from.
    assert float(fuzzy_or(a, b)) == pytest.approx(float(a + torch.relu(b - a)), abs=1e-15)
    assert float(fuzzy_and(a, b)) == pytest.approx(float(a - torch.relu(a - b)), abs=1e-15)
    # XOR written with absolute values; and the (a AND NOT b) OR (NOT a AND b) form.
    assert float(fuzzy_xor(a, b)) == pytest.approx(float(xor_piecewise(a, b)), abs=1e-15)
    other = fuzzy_or(fuzzy_and(a, fuzzy_not(b)), fuzzy_and(fuzzy_not(a), b))
    assert float(fuzzy_xor(a, b)) == pytest.approx(float(other), abs=1e-15)


def test_xor_closed_form_on_the_four_triangles() -> None:
    # Below the anti-diagonal XOR = max(a, b); above it, 1 − min(a, b).
    g = _random_points(2000)
    a, b = g[:, 0], g[:, 1]
    expected = torch.where(a + b <= 1, torch.maximum(a, b), 1 - torch.minimum(a, b))
    assert torch.allclose(fuzzy_xor(a, b), expected, rtol=0, atol=1e-15)


def test_grid_includes_corners_and_rejects_a_single_point() -> None:
    g = unit_square_grid(3)
    assert g.shape == (9, 2)
    assert {tuple(p) for p in g.tolist()} >= {(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)}
    with pytest.raises(ValueError, match="grid side must be >= 2"):
        unit_square_grid(1)


# --- reference networks ---------------------------------------------------------------------


def test_there_are_at_least_three_distinct_constructions() -> None:
    names = [net.name for net in REFERENCES]
    assert len(set(names)) == len(names) >= 3
    neuron_sets = {frozenset(n.label for n in net.hidden_neurons) for net in REFERENCES}
    assert len(neuron_sets) == len(REFERENCES)
    for expected in ("or-nand", "and-not-or", "abs-diff"):
        assert expected in names


@pytest.mark.parametrize("net", REFERENCES, ids=lambda n: n.name)
def test_reference_computes_xor_exactly_in_float64(net) -> None:  # type: ignore[no-untyped-def]
    x = _check_points()
    out = net.model()(x)[0, :, 0]
    assert float((out - fuzzy_xor(x[:, 0], x[:, 1])).abs().max()) <= 1e-12


@pytest.mark.parametrize("net", REFERENCES, ids=lambda n: n.name)
def test_reference_computes_xor_to_float32_precision(net) -> None:  # type: ignore[no-untyped-def]
    model = net.model()
    model32 = type(model)(model.params.float(), model.sizes, model.activation)
    x = _check_points()
    out = model32(x.float())[0, :, 0].double()
    assert float((out - fuzzy_xor(x[:, 0], x[:, 1])).abs().max()) <= 1e-6


@pytest.mark.parametrize("net", REFERENCES, ids=lambda n: n.name)
def test_every_reference_neuron_computes_its_label(net) -> None:  # type: ignore[no-untyped-def]
    x = _check_points()
    acts = hidden_activations(net.model(), x)[0]  # (n, n_hidden)
    assert acts.shape[1] == len(net.hidden_neurons) == sum(net.widths)
    for column, neuron in enumerate(net.hidden_neurons):
        closed = neuron.function(x[:, 0], x[:, 1])
        error = float((acts[:, column] - closed).abs().max())
        assert error <= 1e-12, f"{net.name} neuron {column} ({neuron.label}): {error}"


@pytest.mark.parametrize("net", REFERENCES, ids=lambda n: n.name)
def test_every_reference_neuron_is_used(net) -> None:  # type: ignore[no-untyped-def]
    # Mean-ablating any neuron changes the output: no decorative units.
    effect = ablation_effect(net.model(), unit_square_grid(41))
    assert effect.shape == (1, sum(net.widths))
    assert float(effect.min()) > 0.05


def test_ablation_effect_matches_a_hand_computation_for_one_layer() -> None:
    # Output = w·h + c, so ablating unit u changes it by w_u (h_u − mean h_u):
    # the effect is |w_u| · std(h_u).
    net = next(n for n in REFERENCES if n.name == "four-creases")
    model = net.model()
    g = unit_square_grid(31)
    h = hidden_activations(model, g)[0]
    w_out = model.layers[-1].weight[0, 0]
    expected = w_out.abs() * h.std(dim=0, unbiased=False)
    assert torch.allclose(ablation_effect(model, g)[0], expected, atol=1e-12)


@pytest.mark.parametrize("net", REFERENCES, ids=lambda n: n.name)
def test_permuting_and_rescaling_hidden_neurons_keeps_the_function(net) -> None:  # type: ignore[no-untyped-def]
    model = net.model()
    gen = torch.Generator().manual_seed(3)
    perms = [torch.randperm(w, generator=gen) for w in net.widths]
    scales = [torch.rand(w, generator=gen, dtype=torch.float64) * 4 + 0.25 for w in net.widths]
    moved = permute_and_rescale_hidden(model, perms, scales)
    x = _check_points()
    assert torch.allclose(moved(x), model(x), rtol=0, atol=1e-12)
    # New unit j of each layer is old unit perm[j], scaled by scale[j].
    old = hidden_activations(model, x)[0]
    new = hidden_activations(moved, x)[0]
    offset = 0
    for perm, scale in zip(perms, scales, strict=True):
        width = len(perm)
        expected = old[:, offset + perm] * scale
        assert torch.allclose(new[:, offset : offset + width], expected, rtol=1e-12, atol=1e-12)
        offset += width


def test_permute_and_rescale_rejects_bad_arguments() -> None:
    model = REFERENCES[0].model()
    widths = REFERENCES[0].widths
    good_perms = [torch.arange(w) for w in widths]
    with pytest.raises(ValueError, match="must be > 0"):
        permute_and_rescale_hidden(model, good_perms, [-torch.ones(w) for w in widths])
    with pytest.raises(ValueError, match="must reorder"):
        bad = [torch.zeros(w, dtype=torch.long) for w in widths]
        permute_and_rescale_hidden(model, bad, [torch.ones(w) for w in widths])
    with pytest.raises(ValueError, match="one permutation and one scale"):
        permute_and_rescale_hidden(model, good_perms[:1], [torch.ones(widths[0])])


def test_neuron_names_follow_the_hidden_layers() -> None:
    assert neuron_names((2, 3, 2, 1)) == ["L1.0", "L1.1", "L1.2", "L2.0", "L2.1"]
    assert len(neuron_names(REFERENCES[0].model().sizes)) == sum(REFERENCES[0].widths)


def test_reference_weights_are_stored_in_the_ensemble_format() -> None:
    for net in REFERENCES:
        model = net.model()
        assert model.n_seeds == 1 and model.activation == "relu"
        assert model.sizes == (2, *net.widths, 1)
        for layer, (weight, bias) in zip(model.layers, net.layers, strict=True):
            assert layer.weight.shape == weight.shape and layer.bias.shape == bias.shape
            assert np.array_equal(layer.weight.numpy(), weight.numpy())
