"""Symmetries of MLP ensembles: permutations, ReLU rescaling and tanh sign flips keep outputs."""

from __future__ import annotations

import pytest
import torch

from workbench.core.models.mlp import EnsembleMLP, init_mlp
from workbench.core.symmetry import (
    compose_permutations,
    identity_permutations,
    invert_permutations,
    normalize,
    normalize_relu_scale,
    normalize_tanh_sign,
    permute_hidden,
    random_permutations,
    rescale_hidden,
)

X = torch.rand(64, 5, generator=torch.Generator().manual_seed(9)) * 2 - 1


def nets(activation: str = "relu", sizes: tuple[int, ...] = (5, 7, 6, 2)) -> EnsembleMLP:
    return init_mlp(sizes, range(12), activation, dtype=torch.float64)


def same_params(a: EnsembleMLP, b: EnsembleMLP, atol: float = 0.0) -> bool:
    return bool(torch.allclose(a.params, b.params, rtol=0, atol=atol))


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_permuting_hidden_units_keeps_every_output(activation: str) -> None:
    m = nets(activation)
    perms = random_permutations(m, torch.Generator().manual_seed(1))
    p = permute_hidden(m, perms)
    assert not same_params(m, p)  # it did move the weights
    torch.testing.assert_close(p(X), m(X), rtol=0, atol=1e-12)


def test_permutation_matches_the_definition_entry_by_entry() -> None:
    m = nets()
    perms = random_permutations(m, torch.Generator().manual_seed(2))
    p = permute_hidden(m, perms)
    s, (p1, p2) = 3, perms
    w1, w2, w3 = (layer.weight[s] for layer in m.layers)
    # W_1' = W_1[π_1], W_2' = W_2[π_2][:, π_1], W_3' = W_3[:, π_2]
    torch.testing.assert_close(p.layers[0].weight[s], w1[p1[s]])
    torch.testing.assert_close(p.layers[0].bias[s], m.layers[0].bias[s][p1[s]])
    torch.testing.assert_close(p.layers[1].weight[s], w2[p2[s]][:, p1[s]])
    torch.testing.assert_close(p.layers[2].weight[s], w3[:, p2[s]])
    torch.testing.assert_close(p.layers[2].bias[s], m.layers[2].bias[s])


def test_inverse_and_composition() -> None:
    m = nets()
    gen = torch.Generator().manual_seed(3)
    first, then = random_permutations(m, gen), random_permutations(m, gen)
    back = permute_hidden(permute_hidden(m, first), invert_permutations(first))
    assert same_params(back, m)
    two_steps = permute_hidden(permute_hidden(m, first), then)
    assert same_params(two_steps, permute_hidden(m, compose_permutations(first, then)))
    assert same_params(permute_hidden(m, identity_permutations(m)), m)


def test_relu_rescaling_keeps_outputs_and_normalisation_undoes_it() -> None:
    m = nets("relu")
    gen = torch.Generator().manual_seed(4)
    scales = [torch.exp(torch.randn(m.n_seeds, d, generator=gen, dtype=torch.float64))
              for d in m.sizes[1:-1]]  # fmt: skip
    r = rescale_hidden(m, scales)
    assert not same_params(r, m, atol=1e-3)
    torch.testing.assert_close(r(X), m(X), rtol=0, atol=1e-12)
    nm, nr = normalize_relu_scale(m), normalize_relu_scale(r)
    assert same_params(nm, nr, atol=1e-12)
    torch.testing.assert_close(nm(X), m(X), rtol=0, atol=1e-12)
    for layer in nm.layers[:-1]:  # every hidden unit's incoming vector has unit norm
        norms = (layer.weight.square().sum(2) + layer.bias.square()).sqrt()
        torch.testing.assert_close(norms, torch.ones_like(norms))


def test_relu_rescaling_is_not_a_symmetry_of_tanh_nets() -> None:
    m = nets("tanh")
    scales = [torch.full((m.n_seeds, d), 2.0, dtype=torch.float64) for d in m.sizes[1:-1]]
    assert (rescale_hidden(m, scales)(X) - m(X)).abs().max() > 1e-3
    with pytest.raises(ValueError, match="relu nets only"):
        normalize_relu_scale(m)


def test_tanh_sign_flips_keep_outputs_and_normalisation_undoes_them() -> None:
    m = nets("tanh")
    gen = torch.Generator().manual_seed(5)
    signs = [torch.randint(0, 2, (m.n_seeds, d), generator=gen).double() * 2 - 1
             for d in m.sizes[1:-1]]  # fmt: skip
    f = rescale_hidden(m, signs)  # c = ±1: negate incoming, bias and outgoing
    torch.testing.assert_close(f(X), m(X), rtol=0, atol=1e-12)
    assert same_params(normalize_tanh_sign(f), normalize_tanh_sign(m))
    n = normalize(m, "tanh-sign")
    assert all(bool((layer.bias >= 0).all()) for layer in n.layers[:-1])
    torch.testing.assert_close(n(X), m(X), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="tanh nets only"):
        normalize_tanh_sign(nets("relu"))


def test_normalize_dispatch() -> None:
    m = nets()
    assert normalize(m, "none") is m
    with pytest.raises(ValueError, match="unknown"):
        normalize(m, "bogus")


def test_bad_permutation_shapes_are_rejected() -> None:
    m = nets()
    with pytest.raises(ValueError, match="one permutation per hidden layer"):
        permute_hidden(m, identity_permutations(m)[:1])
