"""Frozen seeds cost nothing and change nothing: compaction against per-seed training.

A seed's trajectory must not depend on which other seeds train beside it, nor on
when they freeze and are packed away. On one thread every kernel treats a row
alike whatever its neighbours, so these checks are exact (``torch.equal``); on
more threads the float reductions may be split differently, see test_threads.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from workbench.core.ensemble import TrainConfig, init_ensemble, train_ensemble
from workbench.core.optim import BatchedAdam
from workbench.core.trainer import DEAD_FRACTION, WorkingSet

N_BITS = 5


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    from workbench.core.threads import set_threads

    set_threads(1)
    yield
    set_threads(None)
    torch.set_num_threads(before)


def first_bit() -> tuple[torch.Tensor, torch.Tensor]:
    codes = torch.arange(2**N_BITS)
    x = ((codes.unsqueeze(1) >> torch.arange(N_BITS - 1, -1, -1)) & 1).float()
    return x, x[:, :1].clone()


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
@pytest.mark.parametrize("batch_size", [None, 7])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_every_seed_equals_itself_trained_alone_bit_for_bit(
    activation: str, batch_size: int | None, optimizer: str
) -> None:
    x, y = first_bit()
    config = TrainConfig(
        widths=(16, 16),
        steps=250,
        loss_threshold=2e-3,
        log_every=25,
        activation=activation,
        batch_size=batch_size,
        optimizer=optimizer,
        lr=1e-2 if optimizer == "adam" else 0.3,
        momentum=0.0 if optimizer == "adam" else 0.9,
    )
    model = init_ensemble(config, range(24), N_BITS, 1)
    result = train_ensemble(model, x, y, config)
    # Seeds froze at different steps, so rows were packed away mid-run.
    assert len(set(result.steps_trained.tolist())) > 3
    for k in range(0, 24, 5):
        alone = init_ensemble(config, [k], N_BITS, 1)
        one = train_ensemble(alone, x, y, config)
        assert torch.equal(model.params[k], alone.params[0]), k
        assert one.steps_trained[0] == result.steps_trained[k]
        assert one.converged[0] == result.converged[k]


def test_a_frozen_seed_equals_the_seed_trained_for_exactly_its_steps() -> None:
    x, y = first_bit()
    config = TrainConfig(widths=(16, 16), steps=400, loss_threshold=1e-3, log_every=25)
    model = init_ensemble(config, range(30), N_BITS, 1)
    result = train_ensemble(model, x, y, config)
    done = np.flatnonzero(result.converged)
    assert len(done) >= 20
    for k in done[:4]:
        alone = init_ensemble(config, [int(k)], N_BITS, 1)
        steps = int(result.steps_trained[k])
        train_ensemble(alone, x, y, TrainConfig(widths=(16, 16), steps=steps))
        assert torch.equal(model.params[k], alone.params[0])


def test_per_seed_data_follows_its_seed_through_compaction() -> None:
    # x: (seed, n, d_in): each seed its own inputs (here, its own input permutation).
    x, y = first_bit()
    gen = torch.Generator().manual_seed(0)
    perms = torch.stack([torch.randperm(32, generator=gen) for _ in range(12)])
    xs, ys = x[perms], y[perms]
    config = TrainConfig(widths=(8, 8), steps=300, loss_threshold=5e-3, log_every=20)
    model = init_ensemble(config, range(12), N_BITS, 1)
    result = train_ensemble(model, xs, ys, config)
    assert len(set(result.steps_trained.tolist())) > 2
    for k in (0, 5, 11):
        alone = init_ensemble(config, [k], N_BITS, 1)
        train_ensemble(alone, xs[k : k + 1], ys[k : k + 1], config)
        assert torch.equal(model.params[k], alone.params[0])


def test_compaction_drops_dead_rows_so_frozen_seeds_cost_nothing() -> None:
    x, y = first_bit()
    model = init_ensemble(TrainConfig(widths=(8,)), range(40), N_BITS, 1)
    work = WorkingSet(
        model, x, y, optimizer="adam", lr=1e-2, momentum=0.0, betas=(0.9, 0.999), eps=1e-8
    )
    loss, finite = work.step(None, "mse")
    assert loss.shape == (40,) and bool(finite.all())
    # Freezing 4 rows (10%, under the 1/8 bound) keeps them as dead rows ...
    work.freeze(torch.arange(4))
    assert (work.n_rows, work.n_live, work.n_dead) == (40, 36, 4)
    assert DEAD_FRACTION * 40 >= 4
    # ... and 24 more (70% frozen in all) packs them away: the step is 12 rows wide.
    work.freeze(torch.arange(4, 28))
    assert (work.n_rows, work.n_live) == (12, 12)
    assert work.rows.tolist() == list(range(28, 40))
    loss, _ = work.step(None, "mse")
    assert loss.shape == (12,) and work.grads[0].shape[0] == 12


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
@pytest.mark.parametrize("loss", ["mse", "bce-with-logits"])
@pytest.mark.parametrize("shared_x", [True, False])
@pytest.mark.parametrize("sizes", [(5, 7, 4, 3), (1, 4, 1), (3, 1, 6, 2), (5, 16, 16, 1)])
def test_working_set_gradients_equal_the_reference_backward(
    activation: str, loss: str, shared_x: bool, sizes: tuple[int, ...]
) -> None:
    # The reference, mlp.backward, is itself checked against per-seed autograd
    # (tests/core/test_ensemble.py); narrow, width-1 and padded layers take other paths.
    from workbench.core.ensemble import per_seed_loss
    from workbench.core.models.mlp import backward, forward_with_cache, init_mlp

    gen = torch.Generator().manual_seed(0)
    model = init_mlp(sizes, seeds=range(6), activation=activation, dtype=torch.float64)
    d_in, d_out = sizes[0], sizes[-1]
    x = torch.randn((20, d_in) if shared_x else (6, 20, d_in), generator=gen, dtype=torch.float64)
    y = torch.rand(20, d_out, generator=gen, dtype=torch.float64)
    if not shared_x:
        y = y.expand(6, -1, -1).contiguous()
    cache = forward_with_cache(model, x)
    want_loss, grad_out = per_seed_loss(cache.output, y, loss)
    want = backward(model, cache, grad_out)
    work = WorkingSet(
        model, x, y, optimizer="sgd", lr=0.1, momentum=0.0, betas=(0.9, 0.999), eps=1e-8
    )
    for _ in range(2):  # the second step reuses every kept buffer
        got_loss, finite = work.step(None, loss)
        got = torch.cat([g.reshape(6, -1) for g in work.grads], dim=1)
        torch.testing.assert_close(got_loss, want_loss, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
        assert bool(finite.all())


@pytest.mark.parametrize("chunk_bytes", [1, 40, 1 << 22])
@pytest.mark.parametrize("shape", [(50,), (50, 3), (50, 4, 5)])
def test_compact_rows_in_place_equals_index_select(
    chunk_bytes: int, shape: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of 1 row, a few rows and every row: the in-place front-to-back copy must
    # never read a row it has already overwritten.
    from workbench.core import optim

    monkeypatch.setattr(optim, "_COMPACT_CHUNK_BYTES", chunk_bytes)
    gen = torch.Generator().manual_seed(1)
    for trial in range(20):
        t = torch.randn(shape, generator=gen)
        keep = torch.nonzero(torch.rand(shape[0], generator=gen) < trial / 20).squeeze(1)
        want = t.index_select(0, keep)
        pointer = t.data_ptr()
        got = optim.compact_rows(t, keep)
        assert torch.equal(got, want)
        assert got.is_contiguous()
        assert got.data_ptr() == pointer or len(keep) == 0  # (an empty view has no pointer)


def test_compaction_reuses_the_working_sets_memory() -> None:
    # Fresh parameter-sized memory costs 1-2 s per GB of page faults on the VMs this
    # runs on: compaction packs parameters, gradients and Adam moments in place.
    x, y = first_bit()
    model = init_ensemble(TrainConfig(widths=(8,)), range(40), N_BITS, 1)
    work = WorkingSet(
        model, x, y, optimizer="adam", lr=1e-2, momentum=0.0, betas=(0.9, 0.999), eps=1e-8
    )
    work.step(None, "mse")
    work.update()
    opt = work.optimizer
    assert isinstance(opt, BatchedAdam)
    before = [t.data_ptr() for t in (*work.params, *work.grads, *opt.exp_avg, *opt.exp_avg_sq)]
    moments = [m[10:].clone() for m in opt.exp_avg_sq]
    work.freeze(torch.arange(10))
    assert work.n_rows == 30
    after = [t.data_ptr() for t in (*work.params, *work.grads, *opt.exp_avg, *opt.exp_avg_sq)]
    assert after == before
    assert all(torch.equal(m, want) for m, want in zip(opt.exp_avg_sq, moments, strict=True))
