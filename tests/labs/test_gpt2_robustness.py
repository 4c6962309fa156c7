"""gpt2-residual-mi's bounds, flags, twin intervals and verdicts on synthetic streams whose
answers are known: the Shannon ceiling, the noise-floor flag, the twin-versus-twin baseline,
and planted-null / planted-effect tests of the verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workbench.core.inference import TestFamily, decide
from workbench_labs.gpt2_residual_mi.ceiling import model_losses, shannon_ceiling
from workbench_labs.gpt2_residual_mi.robustness import HookPass, combine_passes, reduce_pass
from workbench_labs.gpt2_residual_mi.stream import ResidualAccumulators
from workbench_labs.gpt2_residual_mi.verdicts import mi_families, mi_verdicts

LEVEL = 0.95
FRACTIONS = (0.001, 0.01, 0.1)


def _accumulate(
    pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]], d: int, *, groups: int = 8
) -> dict[str, HookPass]:
    """Stream one synthetic hook ("h") per pass in batches of 64 'sequences' x 4 rows."""
    acc = ResidualAccumulators.create(
        ("h",), d, n_groups=groups, n_permutations=19, seed=0, layer_matrix=False,
        device="cpu", null_parts=4, baseline=pairs[0][2] is not None,
    )  # fmt: skip
    x, y, p = pairs[0]
    for rows in np.array_split(np.arange(x.shape[0]), x.shape[0] // 256):
        tx, ty = torch.from_numpy(x[rows]), torch.from_numpy(y[rows])
        partner = None if p is None else {"h": torch.from_numpy(p[rows])}
        acc.update({"h": tx}, {"h": ty}, rows.size // 4, partner=partner)
    return reduce_pass(acc, LEVEL, FRACTIONS)


def _combine(passes: list[HookPass], ceiling_high: float = math.inf):  # type: ignore[no-untyped-def]
    return combine_passes(
        "h", passes, level=LEVEL, noise_fractions=FRACTIONS, noise_flag_fraction=0.01,
        noise_flag_move=0.1, condition_threshold=1e6, ceiling_high=ceiling_high,
    )  # fmt: skip


# --- the Shannon ceiling ------------------------------------------------------------------


def test_ceiling_is_the_prefix_entropy_for_a_known_source() -> None:
    """I.i.d. uniform tokens over V = 4: every loss of the ideal model is 2 bits, so
    C(t) = 2 (t + 1) bits, and the pooled ceiling adds log2 W for the position."""
    losses = np.full((10, 5), 2.0)  # seq_len 6
    c = shannon_ceiling(losses, first_position=2, vocab_size=4, level=0.95)
    np.testing.assert_allclose(c.by_position, [6.0, 8.0, 10.0, 12.0])
    assert c.bits == pytest.approx(math.log2(4) + 9.0)
    assert c.se == 0.0 and c.high == c.bits


def test_model_losses_are_cross_entropy_in_bits() -> None:
    from workbench.core.models.gpt2 import gpt2_config, random_twin

    model = random_twin(gpt2_config(n_layer=1, n_embd=16, n_head=2, n_ctx=16), seed=0)
    ids = torch.randint(0, 256, (3, 10), generator=torch.Generator().manual_seed(0))
    got = model_losses(model, ids)
    logits = model(input_ids=ids).logits.detach().double()
    expected = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, 256), ids[:, 1:].reshape(-1), reduction="none"
    ).reshape(3, 9) / math.log(2)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-10)


def _deterministic_pair(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """A low-entropy source (3 tokens, 4 symbols: H = 6 bits) and two deterministic,
    nearly linear functions of it in 16 dimensions: Shannon MI <= 6 bits, Gaussian MI huge."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 4, size=(n, 3))
    code = rng.normal(size=(4, 3, 16))  # each token's embedding per slot
    x = np.tanh(
        sum(code[tokens[:, s], s] for s in range(3)) + 0.01 * np.sin(tokens @ [1, 5, 25])[:, None]
    )
    y = x + 1e-4 * np.tanh(x @ rng.normal(size=(16, 16)))
    return x, y, 6.0


def test_deterministic_nonlinear_pair_is_flagged_above_the_ceiling() -> None:
    x, y, entropy = _deterministic_pair(4096, 0)
    ceiling = shannon_ceiling(np.full((8, 2), 2.0), first_position=2, vocab_size=4, level=0.95)
    assert ceiling.bits == pytest.approx(entropy)  # one position: log2 1 + 2 + 2 + 2
    result = _combine([_accumulate([(x, y, None)], 16)["h"]], ceiling.high)
    assert result.trained_twin.bits > 10 * entropy
    assert result.flags["above_ceiling"] and ">ceiling" in result.flag_words


def test_pair_below_the_ceiling_is_not_flagged() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4096, 4))
    y = 0.5 * x + rng.normal(size=x.shape)
    result = _combine([_accumulate([(x, y, None)], 4)["h"]], ceiling_high=6.0)
    assert 0 < result.trained_twin.bits < 6.0 and not result.flags["above_ceiling"]


# --- the noise floor ----------------------------------------------------------------------


def test_near_singular_planted_direction_is_flagged_by_the_noise_sweep() -> None:
    """y_1 = x_1 + 1e-4 noise: one direction carries ~13 bits that 1% noise wipes out."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4096, 4))
    y = rng.normal(size=(4096, 4))
    y[:, 0] = x[:, 0] + 1e-4 * rng.normal(size=4096)
    result = _combine([_accumulate([(x, y, None)], 4)["h"]])
    assert result.flags["noise_fragile"] and result.noise_move > 0.5
    assert result.flags["near_singular"]  # κ ≈ 2 / 1e-8


def test_well_conditioned_pair_is_not_flagged() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4096, 4))
    y = 0.7 * x + 0.7 * rng.normal(size=x.shape)
    result = _combine([_accumulate([(x, y, None)], 4)["h"]])
    assert not any(result.flags.values()) and result.noise_move < 0.01


def test_a_singular_pair_is_ridge_set_with_no_interval() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2048, 3))
    result = _combine([_accumulate([(x, x.copy(), None)], 3)["h"]])
    assert result.ridge_set and result.flag_words == ["ridge"]
    assert math.isnan(result.trained_twin.low) and math.isnan(result.trained_twin.high)
    family = mi_families([result], 0.05)["above_zero"]
    assert family.size == 0  # left out of every family


# --- twins, the baseline and the verdicts -------------------------------------------------


def _three_streams(
    rng: np.random.Generator, n: int, shared: float, trained_extra: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """trained, twin and partner all read one input s; the trained stream reads it with
    weight shared + trained_extra, the partner with weight shared (d = 3)."""
    s = rng.normal(size=(n, 3))
    twin = s + rng.normal(size=s.shape)
    trained = (shared + trained_extra) * s + rng.normal(size=s.shape)
    partner = shared * s + rng.normal(size=s.shape)
    return trained, twin, partner


def _hook(rng: np.random.Generator, twins: int, extra: float, n: int = 2048):  # type: ignore[no-untyped-def]
    passes = []
    for _ in range(twins):
        t, r, p = _three_streams(rng, n, 0.5, extra)
        passes.append(_accumulate([(t, r, p)], 3)["h"])
    return _combine(passes)


def test_twin_twin_baseline_interval_covers_its_own_repeat() -> None:
    """Two identically distributed random inits: the baseline interval over 4 twins and the
    tokens covers the estimate of an independent repeat (fresh twins, fresh tokens)."""
    rng = np.random.default_rng(5)
    first, repeat = _hook(rng, 4, 0.0), _hook(rng, 4, 0.0)
    assert first.twin_twin is not None and repeat.twin_twin is not None
    assert first.twin_twin.low <= repeat.twin_twin.bits <= first.twin_twin.high
    assert first.trained_twin.low <= repeat.trained_twin.bits <= first.trained_twin.high
    # With one twin the interval is exactly the token jackknife of that twin.
    one = _hook(rng, 1, 0.0)
    assert (one.trained_twin.low, one.trained_twin.high) == pytest.approx(
        (one.passes[0].point.low, one.passes[0].point.high)
    )


@pytest.mark.slow
def test_baseline_verdict_planted_null_is_rejected_at_about_the_nominal_rate() -> None:
    """Trained and partner read the input equally: "more than the baseline" must not be
    supported more often than α (here 60 replicates, 3 twins each)."""
    rng = np.random.default_rng(6)
    words = []
    for _ in range(60):
        hook = _hook(rng, 3, 0.0, n=1024)
        verdicts = mi_verdicts(mi_families([hook], 0.05), 3)
        words.append(verdicts["above_baseline"].word)
    rate = np.mean([w == "supported" for w in words])
    assert rate <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 60)
    assert set(words) <= {"supported", "refuted", "not established"}


def test_baseline_verdict_planted_effect_is_supported() -> None:
    rng = np.random.default_rng(7)
    hook = _hook(rng, 3, 0.5)
    verdicts = mi_verdicts(mi_families([hook], 0.05), 3)
    assert verdicts["above_baseline"].word == "supported"
    assert verdicts["above_zero"].word == "supported"
    assert hook.difference is not None and hook.difference.bits > 0


def test_jacobian_family_reads_sigma_max_with_holm() -> None:
    from workbench_labs.gpt2_residual_mi.verdicts import jacobian_family, jacobian_verdicts

    rng = np.random.default_rng(8)
    sigma = {
        "trained": {0: rng.normal(5, 1, 16), 1: rng.normal(5, 1, 16)},
        "scale_1": {0: rng.normal(1, 1, 16), 1: rng.normal(1, 1, 16)},  # planted effect
        "scale_4": {0: rng.normal(5, 1, 16), 1: rng.normal(5, 1, 16)},  # planted null
    }
    family = jacobian_family(sigma, [1.0, 4.0], 0.05, n_permutations=999)
    assert [t.name for t in family.tests] == ["scale_1/offset_1", "scale_4/offset_1"]
    verdicts = jacobian_verdicts(family, [1.0, 4.0])
    assert verdicts["1"].word == "supported"
    assert verdicts["4"].word == "not established"
    assert decide("x", TestFamily("empty")).word == "not testable"
