"""Every path-dependence verdict: a planted null is rejected at most at the nominal rate, a
planted effect is detected — on synthetic numbers and on real nets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench.core.barriers import alpha_grid
from workbench.core.ensemble import TrainConfig, init_ensemble, train_ensemble
from workbench.core.models.mlp import EnsembleMLP
from workbench.core.symmetry import permute_hidden, random_permutations
from workbench.core.tasks import all_inputs, make_task
from workbench_labs.path_dependence.analysis import (
    agreement_decision,
    alignment_decision,
    compare_pairs,
    disjoint_pairs,
    lmc_fraction,
    pair_set,
    seed_matrix,
    width_decision,
)

REPS = 200
#: Upper limit of the rejection rate under the null: nominal 5% plus three binomial SEs.
RATE_LIMIT = 0.05 + 3 * math.sqrt(0.05 * 0.95 / REPS)


def test_alignment_planted_null_rejects_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(0)
    hits = 0
    for k in range(REPS):
        before = rng.gamma(2.0, 0.1, size=12)
        after = rng.gamma(2.0, 0.1, size=12)  # alignment does nothing: same distribution
        _, verdicts = alignment_decision({"g/weight": before - after}, alpha=0.05,
                                         n_permutations=199, seed=k)  # fmt: skip
        hits += verdicts["g/weight"].word == "supported"
    assert hits / REPS <= RATE_LIMIT


def test_alignment_planted_effect_is_supported() -> None:
    rng = np.random.default_rng(1)
    before = rng.gamma(2.0, 0.1, size=12)
    _, verdicts = alignment_decision(
        {"g/weight": before - 0.2 * before, "g/activation": before - before}, alpha=0.05,
        n_permutations=999,
    )  # fmt: skip
    assert verdicts["g/weight"].word == "supported"
    assert verdicts["g/activation"].word == "not testable"  # nothing changed: no test


def test_alignment_with_too_few_pairs_is_not_testable() -> None:
    _, verdicts = alignment_decision({"g/weight": np.ones(4)}, alpha=0.05, n_permutations=999)
    assert verdicts["g/weight"].word == "not testable"
    assert "smallest attainable p" in verdicts["g/weight"].reason


def test_width_planted_null_and_effect() -> None:
    rng = np.random.default_rng(2)
    widths = np.repeat([4.0, 8.0, 16.0, 32.0], 6)
    hits = 0
    for k in range(REPS):
        _, v = width_decision({"weight": widths}, {"weight": rng.random(widths.size)},
                              alpha=0.05, n_permutations=199, seed=k)  # fmt: skip
        hits += v["weight"].word != "not established"
    assert hits / REPS <= RATE_LIMIT
    falling = 1.0 / widths + rng.normal(0, 0.02, widths.size)
    _, v = width_decision({"weight": widths}, {"weight": falling}, alpha=0.05, n_permutations=999)
    assert v["weight"].word == "supported" and v["weight"].effect > 0.5
    _, v = width_decision({"weight": widths}, {"weight": 1 - falling}, alpha=0.05,
                          n_permutations=999)  # fmt: skip
    assert v["weight"].word == "refuted"


def test_agreement_planted_null_and_effect() -> None:
    rng = np.random.default_rng(3)
    hits = 0
    for k in range(REPS):
        parts = {"g/barrier~ir": (rng.integers(0, 3, 30), rng.integers(0, 3, 30))}
        _, v, _ = agreement_decision(parts, alpha=0.05, n_permutations=199, seed=k)
        hits += v.word == "supported"
    assert hits / REPS <= RATE_LIMIT
    a = rng.integers(0, 3, 30)
    b = np.where(rng.random(30) < 0.85, a, rng.integers(0, 3, 30))
    _, v, aris = agreement_decision({"g/barrier~ir": (a, b)}, alpha=0.05, n_permutations=999)
    assert v.word == "supported" and aris["g/barrier~ir"] > 0.3
    _, v, _ = agreement_decision({}, alpha=0.05, n_permutations=99, why_not="no labels")
    assert v.word == "not testable" and v.reason == "no labels"


# --- on real nets ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nets() -> tuple[EnsembleMLP, torch.Tensor, torch.Tensor]:
    torch.set_num_threads(1)
    x = all_inputs(5)
    y = make_task("first-bit", 5).targets.float().unsqueeze(1)
    cfg = TrainConfig(widths=(12, 12), steps=600, lr=1e-2)
    model = init_ensemble(cfg, range(14), 5, 1)
    train_ensemble(model, x, y, cfg)
    return model, x, y


def test_planted_effect_on_nets_permuted_copies_are_realigned(
    nets: tuple[EnsembleMLP, torch.Tensor, torch.Tensor],
) -> None:
    # Each B is a random permutation of its A: one net, two orderings. Aligning must remove the
    # barrier entirely, and the verdict must say so.
    model, x, y = nets
    half = 7
    a = model.select(list(range(half)))
    shuffled = permute_hidden(a, random_permutations(a, torch.Generator().manual_seed(5)))
    both = EnsembleMLP(torch.cat([a.params, shuffled.params]), a.sizes, a.activation)
    pairs = np.stack([np.arange(half), np.arange(half) + half], axis=1)
    alphas = alpha_grid(9)
    res = compare_pairs(both, pairs, x, y, "mse", alphas, methods=("weight", "activation"),
                        normalization="relu-scale")  # fmt: skip
    assert np.median(res["none"].barriers) > 0.01
    for method in ("weight", "activation"):
        assert np.abs(res[method].barriers).max() < 1e-6
    reductions = {
        f"g/{m}": res["none"].barriers - res[m].barriers for m in ("weight", "activation")
    }
    _, verdicts = alignment_decision(reductions, alpha=0.05, n_permutations=999)
    assert all(v.word == "supported" for v in verdicts.values())


def test_planted_null_on_nets_a_net_with_itself_has_no_barrier(
    nets: tuple[EnsembleMLP, torch.Tensor, torch.Tensor],
) -> None:
    model, x, y = nets
    both = EnsembleMLP(torch.cat([model.params, model.params]), model.sizes, model.activation)
    n = model.n_seeds
    pairs = np.stack([np.arange(n), np.arange(n) + n], axis=1)
    res = compare_pairs(both, pairs, x, y, "mse", alpha_grid(9), methods=("weight",),
                        normalization="none")  # fmt: skip
    assert np.abs(res["none"].barriers).max() < 1e-6
    _, verdicts = alignment_decision({"g/weight": res["none"].barriers - res["weight"].barriers},
                                     alpha=0.05, n_permutations=999)  # fmt: skip
    assert verdicts["g/weight"].word != "supported"


def test_pair_bookkeeping() -> None:
    assert disjoint_pairs(7).tolist() == [[0, 1], [2, 3], [4, 5]]
    pairs, rows = pair_set(10, 5, seed=0)
    assert np.array_equal(pairs[rows], disjoint_pairs(10))
    assert len({tuple(p) for p in pairs}) == len(pairs)
    m = seed_matrix(3, np.array([[0, 1], [1, 2]]), np.array([0.5, 0.25]))
    assert m[1, 0] == 0.5 and m[2, 1] == 0.25 and math.isnan(m[0, 2]) and m[1, 1] == 0
    assert lmc_fraction(np.array([0.0, 0.02, 0.2]), [0.01, 0.1, 1.0]).tolist() == pytest.approx(
        [1 / 3, 2 / 3, 1.0]
    )


def test_live_line_shows_matching_progress() -> None:
    from workbench.tui.follow import RunSnapshot
    from workbench.tui.screens.live import stats_text

    snap = RunSnapshot("r", status="running", done=256, total=552,
                       info={"pairs_done": 256, "median_barrier": 0.01234})  # fmt: skip
    line = stats_text(snap)
    assert "pairs done 256" in line and "median barrier 0.01234" in line


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_pipeline_gives_the_same_barriers_on_cuda(
    nets: tuple[EnsembleMLP, torch.Tensor, torch.Tensor],
) -> None:
    model, x, y = nets
    pairs, _ = pair_set(model.n_seeds, 0, 0)
    alphas = alpha_grid(9)
    kw = {"methods": ("weight", "activation"), "normalization": "relu-scale"}
    cpu = compare_pairs(model, pairs, x, y, "mse", alphas, **kw)  # type: ignore[arg-type]
    gpu = compare_pairs(model.to("cuda"), pairs, x.cuda(), y.cuda(), "mse", alphas, **kw)  # type: ignore[arg-type]
    for name, res in cpu.items():
        np.testing.assert_allclose(gpu[name].barriers, res.barriers, atol=1e-5)
