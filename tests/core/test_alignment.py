"""Weight matching and activation matching: exact recovery, symmetry, optimality, batching."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from workbench.core.alignment import (
    activation_correlations,
    activation_matching,
    solve_assignments,
    weight_matching,
    weight_matching_costs,
)
from workbench.core.barriers import alpha_grid, barrier, path_losses
from workbench.core.ensemble import TrainConfig, init_ensemble, train_ensemble
from workbench.core.models.mlp import EnsembleMLP, init_mlp
from workbench.core.symmetry import invert_permutations, permute_hidden, random_permutations
from workbench.core.tasks import all_inputs, make_task

X = all_inputs(5)
Y = make_task("first-bit", 5).targets.float().unsqueeze(1)


@pytest.fixture(scope="module")
def trained() -> EnsembleMLP:
    torch.set_num_threads(1)
    cfg = TrainConfig(widths=(16, 16), steps=600, lr=1e-2)
    model = init_ensemble(cfg, range(10), 5, 1)
    train_ensemble(model, X, Y, cfg)
    return model


def pairs_of(model: EnsembleMLP) -> tuple[EnsembleMLP, EnsembleMLP]:
    i, j = np.triu_indices(model.n_seeds, 1)
    return model.select(i.tolist()), model.select(j.tolist())


@pytest.mark.parametrize("method", ["weight", "activation"])
def test_a_random_permutation_of_a_trained_net_is_recovered_exactly(
    trained: EnsembleMLP, method: str
) -> None:
    perms = random_permutations(trained, torch.Generator().manual_seed(0))
    shuffled = permute_hidden(trained, perms)
    if method == "weight":
        found = weight_matching(trained, shuffled).perms
    else:
        found = activation_matching(trained, shuffled, X).perms
    for got, want in zip(found, invert_permutations(perms), strict=True):
        assert torch.equal(got, want)
    back = permute_hidden(shuffled, found)
    assert torch.equal(back.params, trained.params)
    alphas = alpha_grid(11)
    b, _ = barrier(path_losses(trained, back, X, Y, alphas, "mse"), alphas)
    assert np.abs(b).max() < 1e-6  # 0 to float error


@pytest.mark.parametrize("method", ["weight", "activation"])
def test_aligned_nets_compute_what_they_computed(trained: EnsembleMLP, method: str) -> None:
    a, b = pairs_of(trained)
    res = weight_matching(a, b) if method == "weight" else activation_matching(a, b, X)
    aligned = permute_hidden(b, res.perms)
    assert not torch.equal(aligned.params, b.params)
    torch.testing.assert_close(aligned(X), b(X), rtol=0, atol=1e-5)


def test_cost_matrices_equal_the_definition_entry_by_entry() -> None:
    a, b = (
        init_mlp((3, 4, 5, 2), range(2), dtype=torch.float64),
        init_mlp((3, 4, 5, 2), range(2, 4), dtype=torch.float64),
    )
    perms = random_permutations(a, torch.Generator().manual_seed(1))
    wa = [layer.weight for layer in a.layers]
    ba = [layer.bias for layer in a.layers]
    wb = [layer.weight for layer in b.layers]
    bb = [layer.bias for layer in b.layers]
    cost = weight_matching_costs(wa, ba, wb, bb, perms, 1)  # second hidden layer
    p, (p1, p2) = 1, perms
    for i, j in itertools.product(range(5), range(5)):
        # incoming weights with B's inputs in A's order, bias, outgoing weights in A's order
        want = (wa[1][p, i] @ wb[1][p, j][p1[p]] + ba[1][p, i] * bb[1][p, j]
                + wa[2][p, :, i] @ wb[2][p, :, j])  # fmt: skip
        torch.testing.assert_close(cost[p, i, j], want)
    del p2


def test_one_hidden_layer_weight_matching_is_the_brute_force_optimum() -> None:
    a = init_mlp((3, 5, 2), range(6), dtype=torch.float64)
    b = init_mlp((3, 5, 2), range(6, 12), dtype=torch.float64)
    res = weight_matching(a, b, init="identity")
    for p in range(6):
        best = max(
            sum(float((la.weight[p] * lb.weight[0]).sum() + (la.bias[p] * lb.bias[0]).sum())
                for la, lb in zip(a.layers, permute_hidden(
                    b.select([p]), [torch.tensor([perm])]).layers, strict=True))
            for perm in itertools.permutations(range(5))
        )  # fmt: skip
        assert res.objective[p] == pytest.approx(best, rel=1e-12)


def test_weight_matching_stops_where_no_single_layer_change_improves() -> None:
    a = init_mlp((3, 4, 4, 1), range(5), dtype=torch.float64)
    b = init_mlp((3, 4, 4, 1), range(5, 10), dtype=torch.float64)
    res = weight_matching(a, b)
    assert res.converged.all()

    def objective(p: int, perms: list[torch.Tensor]) -> float:
        aligned = permute_hidden(b.select([p]), perms)
        return sum(float((la.weight[p] * lb.weight[0]).sum() + (la.bias[p] * lb.bias[0]).sum())
                   for la, lb in zip(a.layers, aligned.layers, strict=True))  # fmt: skip

    for p in range(5):
        found = [q[p : p + 1] for q in res.perms]
        here = objective(p, found)
        assert here == pytest.approx(res.objective[p], rel=1e-12)
        for layer in range(2):  # no permutation of one layer, the other fixed, is better
            for perm in itertools.permutations(range(4)):
                trial = list(found)
                trial[layer] = torch.tensor([perm])
                assert objective(p, trial) <= here + 1e-9


def test_forward_start_is_never_worse_than_the_identity_start(trained: EnsembleMLP) -> None:
    a, b = pairs_of(trained)
    forward, identity = weight_matching(a, b), weight_matching(a, b, init="identity")
    assert np.mean(forward.objective) >= np.mean(identity.objective) - 1e-9
    with pytest.raises(ValueError, match="init"):
        weight_matching(a, b, init="random")


def test_activation_correlations_equal_numpy_corrcoef(trained: EnsembleMLP) -> None:
    a, b = pairs_of(trained)
    corr = activation_correlations(a, b, X)
    post_a = [torch.relu(X @ a.layers[0].weight[0].T + a.layers[0].bias[0])]
    post_b = [torch.relu(X @ b.layers[0].weight[0].T + b.layers[0].bias[0])]
    za, zb = post_a[0].double().numpy(), post_b[0].double().numpy()
    live_a, live_b = za.std(0) > 1e-9, zb.std(0) > 1e-9
    full = np.corrcoef(za[:, live_a].T, zb[:, live_b].T)[: live_a.sum(), live_a.sum() :]
    np.testing.assert_allclose(corr[0][0].numpy()[np.ix_(live_a, live_b)], full, atol=1e-5)
    assert np.all(corr[0][0].numpy()[~live_a] == 0)  # dead units correlate 0


def test_solve_assignments_is_the_brute_force_maximum() -> None:
    rng = np.random.default_rng(0)
    costs = rng.normal(size=(20, 5, 5))
    perms = solve_assignments(costs)
    for c, perm in zip(costs, perms, strict=True):
        best = max(sum(c[i, q[i]] for i in range(5)) for q in itertools.permutations(range(5)))
        assert sum(c[i, perm[i]] for i in range(5)) == pytest.approx(best)


def test_mismatched_pairs_are_rejected() -> None:
    a = init_mlp((3, 4, 1), range(2))
    with pytest.raises(ValueError, match="share layer sizes"):
        weight_matching(a, init_mlp((3, 5, 1), range(2)))
