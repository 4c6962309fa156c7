"""Analysis pieces of the GPT-2 lab against closed forms, and the shipped checkpoint."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import digamma

from workbench.core.models.gpt2 import load_pretrained
from workbench_labs.gpt2_residual_mi.analysis import (
    extrapolate_to_infinite_tokens,
    jacobian_measures,
    layer_mi_matrices,
    spectrum_measures,
)
from workbench_labs.gpt2_residual_mi.make_checkpoint import (
    CHECKPOINT_DIR,
    TrainingRecipe,
    train_offline_model,
    unigram_entropy_bits,
    write_checkpoint,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _log_det_bias(d: int, n: int) -> float:
    """E[ln|S|] - ln|Σ| for a Wishart sample covariance (n - 1 degrees of freedom)."""
    return float(sum(digamma((n - i) / 2) for i in range(1, d + 1)) + d * math.log(2 / (n - 1)))


def test_layer_matrices_match_the_log_determinant_formula() -> None:
    """MI = ½[ln|Σa| + ln|Σb| - ln|Σab| - b(d) - b(d) + b(2d)] / ln 2, from numpy's slogdet."""
    n_hooks, d, n = 3, 2, 500
    g = np.random.default_rng(0)
    root = g.normal(size=(2 * n_hooks * d, 2 * n_hooks * d))
    cov = root @ root.T / root.shape[0] + np.eye(root.shape[0])
    out, ridged = layer_mi_matrices(torch.from_numpy(cov), n, n_hooks, d)
    assert ridged == {"trained": 0, "twin": 0, "cross": 0}

    def expected(i: int, j: int) -> float:
        idx = [*range(i * d, i * d + d), *range(j * d, j * d + d)]
        sub = cov[np.ix_(idx, idx)]
        ld = [np.linalg.slogdet(m)[1] for m in (sub[:d, :d], sub[d:, d:], sub)]
        bias = 2 * _log_det_bias(d, n) - _log_det_bias(2 * d, n)
        return 0.5 * (ld[0] + ld[1] - ld[2] - bias) / math.log(2)

    for a in range(n_hooks):
        for b in range(n_hooks):
            assert out["cross"][a, b] == pytest.approx(expected(a, n_hooks + b), rel=1e-9)
            if a != b:
                assert out["trained"][a, b] == pytest.approx(expected(a, b), rel=1e-9)
                assert out["twin"][a, b] == pytest.approx(
                    expected(n_hooks + a, n_hooks + b), rel=1e-9
                )
    assert np.isnan(out["trained"][1, 1])
    np.testing.assert_array_equal(out["twin"], out["twin"].T)


def test_singular_layer_cells_are_nan_and_counted() -> None:
    """Twin hook 0 an exact copy of trained hook 0: that cell's covariance is singular, so
    its MI is unbounded and the matrix leaves it NaN rather than print a ridge's number."""
    n_hooks, d, n = 2, 2, 400
    g = np.random.default_rng(1)
    z = g.normal(size=(n, 2 * n_hooks * d))
    z[:, 2 * d : 3 * d] = z[:, 0:d]  # twin hook 0 == trained hook 0
    cov = torch.from_numpy(np.cov(z, rowvar=False))
    out, ridged = layer_mi_matrices(cov, n, n_hooks, d)
    assert np.isnan(out["cross"][0, 0]) and ridged["cross"] == 1
    assert np.isfinite(out["cross"][1, 1]) and np.isfinite(out["cross"][0, 1])


def test_spectrum_measures_on_known_spectra() -> None:
    flat = spectrum_measures(np.ones(50))
    assert flat["participation_ratio"] == pytest.approx(50)
    assert flat["effective_rank"] == pytest.approx(50)
    assert flat["top3_share"] == pytest.approx(3 / 50)
    power = spectrum_measures(np.arange(1, 101, dtype=float) ** -1.5)
    assert power["alpha"] == pytest.approx(1.5)
    assert power["alpha_r2"] == pytest.approx(1.0)
    one = spectrum_measures(np.r_[100.0, np.full(20, 1e-3)])
    assert one["top3_share"] > 0.99 and one["participation_ratio"] < 1.1


def test_jacobian_measures() -> None:
    sv = np.array([[2.0, 2.0, 2.0, 2.0], [3.0, 0.0, 0.0, 0.0]])
    m = jacobian_measures(sv)
    assert m["sigma_max"] == pytest.approx(2.5)
    assert m["participation_ratio"] == pytest.approx((4 + 1) / 2)
    assert m["effective_rank"] == pytest.approx((4 + 1) / 2)
    assert m["sigma_max_sd"] == pytest.approx(np.std([2.0, 3.0], ddof=1))
    assert m["rank_above_floor"] == pytest.approx((4 + 4) / 2)  # no floor: every σ counts
    # A floor of 1e-3 σ_max drops the tiny tail: a map that is rank 1 up to 1e-6 counts as 1.
    tail = np.array([[1.0, 1e-6, 1e-6, 1e-6]])
    assert jacobian_measures(tail, 1e-3)["rank_above_floor"] == 1
    assert jacobian_measures(tail, 1e-3)["effective_rank"] == pytest.approx(1.0)
    assert jacobian_measures(tail)["effective_rank"] > 1.0


def test_extrapolation_recovers_the_intercept() -> None:
    n = np.array([500, 1000, 2000, 4000, 8000])
    assert extrapolate_to_infinite_tokens(n, 40.0 + 3000.0 / n) == pytest.approx(40.0)
    assert math.isnan(extrapolate_to_infinite_tokens([100], [1.0]))


def test_unigram_entropy() -> None:
    assert unigram_entropy_bits(np.arange(256).repeat(3)) == pytest.approx(8.0)
    assert unigram_entropy_bits(np.array([7, 7, 7])) == pytest.approx(0.0)


def test_make_checkpoint_writes_a_loadable_folder(tmp_path: Path) -> None:
    recipe = TrainingRecipe(
        n_layer=1,
        n_embd=16,
        n_head=2,
        n_ctx=16,
        steps=3,
        batch_size=2,
        warmup_steps=1,
        eval_sequences=2,
    )
    model, summary = train_offline_model(recipe)
    write_checkpoint(model, tmp_path, recipe, summary, seconds=1.0)
    assert {p.name for p in tmp_path.iterdir()} == {
        "config.json",
        "model.safetensors",
        "training.toml",
    }
    loaded = load_pretrained(tmp_path, "cpu")
    for a, b in zip(model.parameters(), loaded.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    record = tomllib.loads((tmp_path / "training.toml").read_text())
    assert record["recipe"]["steps"] == 3
    assert math.isfinite(record["heldout_loss_bits"])


def test_learning_rate_schedule() -> None:
    recipe = TrainingRecipe(steps=100, warmup_steps=10, lr=1.0, min_lr_ratio=0.1)
    assert recipe.learning_rate(0) == pytest.approx(0.1)
    assert recipe.learning_rate(9) == pytest.approx(1.0)
    assert recipe.learning_rate(10) == pytest.approx(1.0)
    assert recipe.learning_rate(99) == pytest.approx(0.1, abs=1e-3)


@pytest.mark.skipif(
    not (CHECKPOINT_DIR / "model.safetensors").is_file(), reason="checkpoint not made yet"
)
def test_shipped_checkpoint_is_small_trained_and_as_recorded() -> None:
    """≤ 10 MB of safetensors, beats the context-free baseline, and its recorded held-out loss
    is what the shipped weights give on the recorded held-out sequences."""
    from workbench_labs.gpt2_residual_mi.corpus import GrammarCorpus

    assert (CHECKPOINT_DIR / "model.safetensors").stat().st_size <= 10_000_000
    record = tomllib.loads((CHECKPOINT_DIR / "training.toml").read_text())
    assert record["heldout_loss_bits"] < 0.5 * record["heldout_unigram_entropy_bits"]
    recipe = TrainingRecipe(**record["recipe"])
    model = load_pretrained(CHECKPOINT_DIR, "cpu")
    corpus = GrammarCorpus(recipe.eval_seed, recipe.n_ctx)
    ids = torch.from_numpy(np.stack([corpus.sequence(i) for i in range(recipe.eval_sequences)]))
    with torch.no_grad():
        loss_bits = float(model(input_ids=ids, labels=ids).loss) / math.log(2)
    assert loss_bits == pytest.approx(record["heldout_loss_bits"], rel=1e-4)
