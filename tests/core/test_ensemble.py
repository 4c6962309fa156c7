"""The seed-ensemble engine against per-seed nn.Modules, torch.optim and closed forms."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from workbench.core.ensemble import (
    EnsembleMLP,
    TrainConfig,
    TrainProgress,
    ensemble_from_state_dict,
    init_ensemble,
    layer_activations,
    load_checkpoint,
    per_seed_loss,
    save_checkpoint,
    train_ensemble,
)
from workbench.core.errors import ConfigError
from workbench.core.models.mlp import backward, forward_with_cache, init_mlp
from workbench.core.optim import BatchedAdam, BatchedSGD

N_BITS = 5


def all_inputs(n_bits: int = N_BITS) -> torch.Tensor:
    """Every bit string, (2^n, n), MSB first."""
    codes = torch.arange(2**n_bits)
    return ((codes.unsqueeze(1) >> torch.arange(n_bits - 1, -1, -1)) & 1).float()


def first_bit() -> tuple[torch.Tensor, torch.Tensor]:
    x = all_inputs()
    return x, x[:, :1].clone()


def as_module(model: EnsembleMLP, seed_row: int) -> nn.Sequential:
    """Seed ``seed_row`` of the ensemble as a plain nn.Sequential (a copy)."""
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[model.activation]
    layers: list[nn.Module] = []
    for i, layer in enumerate(model.layers):
        lin = nn.Linear(layer.weight.shape[2], layer.weight.shape[1], dtype=model.dtype)
        with torch.no_grad():
            lin.weight.copy_(layer.weight[seed_row])
            lin.bias.copy_(layer.bias[seed_row])
        layers.append(lin)
        if i < model.n_layers - 1:
            layers.append(act())
    return nn.Sequential(*layers)


# --- initialisation ---------------------------------------------------------------------------


def test_seed_init_does_not_depend_on_the_batch() -> None:
    big = init_mlp((5, 7, 3, 1), seeds=range(50))
    alone = init_mlp((5, 7, 3, 1), seeds=[37])
    reordered = init_mlp((5, 7, 3, 1), seeds=[37, 2, 11])
    assert torch.equal(big.params[37], alone.params[0])
    assert torch.equal(big.params[37], reordered.params[0])
    assert torch.equal(big.params[11], reordered.params[2])
    assert not torch.equal(big.params[0], big.params[1])
    assert alone.seeds == (37,)


def test_init_is_uniform_with_the_nn_linear_bound() -> None:
    # nn.Linear's default: U(-1/sqrt(d_in), 1/sqrt(d_in)) for weights and biases.
    model = init_mlp((9, 4, 1), seeds=range(400), dtype=torch.float64)
    w = model.layers[0].weight.flatten().numpy()
    bound = 1.0 / 3.0
    assert np.abs(w).max() <= bound
    ks = stats.kstest(w, stats.uniform(loc=-bound, scale=2 * bound).cdf)
    assert ks.pvalue > 1e-3
    b2 = model.layers[1].bias.flatten().numpy()
    assert np.abs(b2).max() <= 0.5  # layer 2 has d_in = 4
    assert np.abs(b2).max() > 0.45


def test_bad_model_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="seeds"):
        init_mlp((5, 1), seeds=[])
    with pytest.raises(ValueError, match="activation"):
        init_mlp((5, 1), seeds=[0], activation="sigmoid")
    with pytest.raises(ValueError, match="sizes"):
        init_mlp((5,), seeds=[0])
    model = init_mlp((5, 3, 1), seeds=range(4))
    with pytest.raises(ValueError, match=r"x must be \(batch, 5\)"):
        model(torch.zeros(3, 4))


# --- forward, activations, gradients ------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_forward_matches_one_module_per_seed(activation: str) -> None:
    model = init_mlp((5, 8, 6, 2), seeds=range(6), activation=activation, dtype=torch.float64)
    x = all_inputs().double()
    out = model(x)
    assert out.shape == (6, 32, 2)
    for s in range(6):
        torch.testing.assert_close(out[s], as_module(model, s)(x), rtol=0, atol=1e-12)
    # A (seed, batch, d_in) input gives each seed its own data.
    xs = torch.randn(6, 10, 5, dtype=torch.float64)
    out = model(xs)
    for s in range(6):
        torch.testing.assert_close(out[s], as_module(model, s)(xs[s]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_layer_activations_pre_and_post(activation: str) -> None:
    model = init_mlp((5, 8, 6, 2), seeds=range(3), activation=activation)
    x = all_inputs()
    acts = layer_activations(model, x)
    assert [a.pre.shape for a in acts] == [(3, 32, 8), (3, 32, 6), (3, 32, 2)]
    phi = {"relu": torch.relu, "tanh": torch.tanh, "gelu": nn.functional.gelu}[activation]
    for a in acts[:-1]:
        torch.testing.assert_close(a.post, phi(a.pre))
    assert acts[-1].post is acts[-1].pre  # the output layer is linear
    torch.testing.assert_close(acts[-1].post, model(x))
    # pre of layer l+1 is post of layer l times W plus b.
    w, b = model.layers[1].weight, model.layers[1].bias
    torch.testing.assert_close(acts[1].pre, acts[0].post @ w.transpose(1, 2) + b[:, None])


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
@pytest.mark.parametrize("loss", ["mse", "bce-with-logits"])
@pytest.mark.parametrize("shared_x", [True, False])
@pytest.mark.parametrize(
    "sizes",
    [(5, 7, 4, 3), (1, 4, 1), (3, 1, 6, 2)],  # wide, narrow and width-1 layers take other paths
)
def test_gradients_equal_per_seed_autograd(
    activation: str, loss: str, shared_x: bool, sizes: tuple[int, ...]
) -> None:
    gen = torch.Generator().manual_seed(0)
    model = init_mlp(sizes, seeds=range(5), activation=activation, dtype=torch.float64)
    d_in, d_out = sizes[0], sizes[-1]
    x = torch.randn((20, d_in) if shared_x else (5, 20, d_in), generator=gen, dtype=torch.float64)
    y = torch.rand(20, d_out, generator=gen, dtype=torch.float64)
    cache = forward_with_cache(model, x)
    value, grad_out = per_seed_loss(cache.output, y, loss)
    grad = backward(model, cache, grad_out)
    for s in range(5):
        net = as_module(model, s)
        out = net(x if shared_x else x[s])
        if loss == "mse":
            reference = nn.functional.mse_loss(out, y)
        else:
            reference = nn.functional.binary_cross_entropy_with_logits(out, y)
        torch.autograd.backward(reference)
        assert value[s].item() == pytest.approx(reference.item(), rel=1e-12)
        grads = [p.grad for p in net.parameters()]  # W1, b1, W2, ...
        expected = torch.cat([g.flatten() for g in grads if g is not None])
        torch.testing.assert_close(grad[s], expected, rtol=1e-10, atol=1e-12)


# --- optimisers ---------------------------------------------------------------------------------


def test_batched_adam_matches_torch_adam_per_seed() -> None:
    gen = torch.Generator().manual_seed(1)
    start = [
        torch.randn(4, 10, generator=gen, dtype=torch.float64),
        torch.randn(4, 3, 2, generator=gen, dtype=torch.float64),
    ]
    grads = [
        torch.randn(6, 4, 10, generator=gen, dtype=torch.float64),
        torch.randn(6, 4, 3, 2, generator=gen, dtype=torch.float64),
    ]
    params = [p.clone() for p in start]
    # Seed 2 stops after step 3 (select drops it): the others must carry on with
    # their own state, each equal to torch.optim.Adam on that seed alone.
    opt = BatchedAdam(params, lr=0.05, betas=(0.8, 0.95), eps=1e-6)
    keep = torch.tensor([0, 1, 3])
    frozen = None
    for k in range(6):
        if k == 3:
            frozen = [p[2].clone() for p in opt.params]
            opt.select([p.index_select(0, keep) for p in opt.params], keep)
        rows = slice(None) if k < 3 else keep
        opt.step([g[k][rows] for g in grads])
    assert opt.steps_taken == 6
    for row, s in enumerate([0, 1, 2, 3]):
        ps = [torch.nn.Parameter(p[s].clone()) for p in start]
        ref = torch.optim.Adam(ps, lr=0.05, betas=(0.8, 0.95), eps=1e-6)
        for k in range(6 if s != 2 else 3):
            for p, g in zip(ps, grads, strict=True):
                p.grad = g[k, s].clone()
            ref.step()
        got = frozen if s == 2 else [p[[0, 1, None, 2][row]] for p in opt.params]
        assert got is not None
        for a, b in zip(got, ps, strict=True):
            torch.testing.assert_close(a, b.detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_batched_sgd_matches_torch_sgd(momentum: float) -> None:
    gen = torch.Generator().manual_seed(2)
    start = torch.randn(3, 8, generator=gen, dtype=torch.float64)
    grads = torch.randn(5, 3, 8, generator=gen, dtype=torch.float64)
    params = start.clone()
    opt = BatchedSGD([params], lr=0.1, momentum=momentum)
    keep = torch.tensor([0, 2])
    for k, g in enumerate(grads):
        if k == 2:  # seed 1 stops after two steps
            opt.select([opt.params[0].index_select(0, keep)], keep)
        opt.step([g if k < 2 else g[keep]])
    for s in range(3):
        p = torch.nn.Parameter(start[s].clone())
        ref = torch.optim.SGD([p], lr=0.1, momentum=momentum)
        for g in grads[: 5 if s != 1 else 2]:
            p.grad = g[s].clone()
            ref.step()
        got = params[1] if s == 1 else opt.params[0][[0, None, 1][s]]
        torch.testing.assert_close(got, p.detach(), rtol=1e-12, atol=1e-12)


def test_optimizers_reject_bad_parameters() -> None:
    with pytest.raises(ValueError, match="one seed count"):
        BatchedAdam([torch.zeros(3, 2), torch.zeros(4)], lr=0.1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        BatchedSGD([torch.zeros(3, 2)], lr=0.0)


# --- training -----------------------------------------------------------------------------------


def test_seed_k_in_a_200_seed_batch_matches_seed_k_trained_alone() -> None:
    x, y = first_bit()
    config = TrainConfig(widths=(16, 16), steps=80, lr=1e-2)
    batch = init_ensemble(config, range(200), N_BITS, 1)
    train_ensemble(batch, x, y, config)
    for k in (0, 57, 199):
        alone = init_ensemble(config, [k], N_BITS, 1)
        train_ensemble(alone, x, y, config)
        torch.testing.assert_close(batch.params[k], alone.params[0], rtol=1e-4, atol=1e-5)


def test_minibatch_order_is_shared_so_seeds_match_alone_too() -> None:
    x, y = first_bit()
    config = TrainConfig(widths=(8,), steps=40, batch_size=7, optimizer="sgd", lr=0.1, data_seed=4)
    batch = init_ensemble(config, range(30), N_BITS, 1)
    train_ensemble(batch, x, y, config)
    alone = init_ensemble(config, [12], N_BITS, 1)
    train_ensemble(alone, x, y, config)
    torch.testing.assert_close(batch.params[12], alone.params[0], rtol=1e-5, atol=1e-6)
    # A different data seed gives different batches, hence different weights.
    other = init_ensemble(config, [12], N_BITS, 1)
    train_ensemble(other, x, y, TrainConfig(**{**vars(config), "data_seed": 5}))
    assert not torch.allclose(other.params[0], alone.params[0])


def test_threshold_zero_trains_every_seed_for_every_step() -> None:
    x, y = first_bit()
    config = TrainConfig(widths=(8, 8), steps=120, loss_threshold=0.0, log_every=50)
    result = train_ensemble(init_ensemble(config, range(10), N_BITS, 1), x, y, config)
    assert result.steps_run == 120
    assert (result.steps_trained == 120).all()
    assert not result.converged.any()
    assert result.history_steps.tolist() == [50, 100, 120]
    assert result.loss_history.shape == (3, 10)


def test_a_converged_seed_keeps_the_weights_that_met_the_threshold() -> None:
    x, y = first_bit()
    config = TrainConfig(widths=(16, 16), steps=400, loss_threshold=1e-3, log_every=25)
    model = init_ensemble(config, range(12), N_BITS, 1)
    result = train_ensemble(model, x, y, config)
    done = np.flatnonzero(result.converged)
    assert len(done) >= 6, "first-bit should be learnt to 1e-3 by most seeds in 400 steps"
    assert (result.final_loss[done] < 1e-3).all()
    assert (result.steps_trained[done] < 400).all()
    # Training seed k alone, without a threshold, for exactly its steps_trained
    # steps reproduces its frozen weights: freezing stopped it right there.
    for k in done[:3]:
        alone = init_ensemble(config, [int(k)], N_BITS, 1)
        steps = int(result.steps_trained[k])
        train_ensemble(alone, x, y, TrainConfig(widths=(16, 16), steps=steps))
        torch.testing.assert_close(model.params[k], alone.params[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("poison", [float("nan"), 1e30])
def test_a_diverging_seed_is_flagged_and_frozen_while_others_train(poison: float) -> None:
    x, y = first_bit()
    config = TrainConfig(widths=(8, 8), steps=60, log_every=20)
    model = init_ensemble(config, range(4), N_BITS, 1)
    with torch.no_grad():
        model.layers[1].weight[2].fill_(poison)  # seed 2's hidden layer blows up
    poisoned = model.params[2].clone()
    clean = init_ensemble(config, [0, 1, 3], N_BITS, 1)
    result = train_ensemble(model, x, y, config)
    train_ensemble(clean, x, y, config)
    assert result.diverged.tolist() == [False, False, True, False]
    assert result.steps_trained.tolist() == [60, 60, 0, 60]
    torch.testing.assert_close(model.params[2], poisoned, equal_nan=True, rtol=0, atol=0)
    torch.testing.assert_close(model.params[[0, 1, 3]], clean.params, rtol=1e-5, atol=1e-6)
    assert np.isfinite(result.final_loss[[0, 1, 3]]).all()


def test_a_seed_whose_gradient_overflows_is_flagged_even_with_a_finite_loss() -> None:
    # bce on logits ~1e22 is finite (~1e22), but the output weights' gradient is
    # ~1e20, whose square overflows float32: Adam's v would become inf and the
    # seed would stall silently. The squared-gradient-norm check flags it instead.
    x, y = first_bit()
    config = TrainConfig(widths=(8,), steps=20, loss="bce-with-logits")
    model = init_ensemble(config, range(3), N_BITS, 1)
    with torch.no_grad():
        model.layers[0].weight[1].fill_(1e21)
    before = model.params[1].clone()
    result = train_ensemble(model, x, y, config)
    assert np.isfinite(result.final_loss[1]) and result.final_loss[1] > 1e15
    assert result.diverged.tolist() == [False, True, False]
    assert torch.equal(model.params[1], before)


def test_progress_reaches_the_callback_and_an_exception_cancels() -> None:
    x, y = first_bit()
    config = TrainConfig(widths=(8,), steps=100, log_every=30, loss_threshold=1e-9)
    reports: list[TrainProgress] = []
    train_ensemble(
        init_ensemble(config, range(3), N_BITS, 1), x, y, config, callback=reports.append
    )
    assert [r.step for r in reports] == [30, 60, 90, 100]
    assert all(r.total_steps == 100 and r.loss.shape == (3,) for r in reports)
    assert reports[-1].done and not reports[0].done
    assert all(r.steps_per_second > 0 for r in reports)

    class Stop(Exception):
        pass

    def stop_at_60(p: TrainProgress) -> None:
        if p.step >= 60:
            raise Stop

    model = init_ensemble(config, range(3), N_BITS, 1)
    with pytest.raises(Stop):
        train_ensemble(model, x, y, config, callback=stop_at_60)
    # The model keeps the weights the report at step 60 described.
    ref = init_ensemble(config, range(3), N_BITS, 1)
    train_ensemble(ref, x, y, TrainConfig(widths=(8,), steps=60))
    torch.testing.assert_close(model.params, ref.params)


def test_training_stops_early_once_every_seed_is_frozen() -> None:
    x, y = first_bit()
    config = TrainConfig(widths=(16, 16), steps=5000, loss_threshold=0.3, log_every=10)
    result = train_ensemble(init_ensemble(config, range(5), N_BITS, 1), x, y, config)
    assert result.converged.all()
    assert result.steps_run < 5000
    assert result.history_steps[-1] == result.steps_run
    assert len(set(result.history_steps.tolist())) == len(result.history_steps)


def test_first_bit_is_learnt_with_bce_and_sgd() -> None:
    x, y = first_bit()
    config = TrainConfig(
        widths=(16,), steps=150, optimizer="sgd", lr=0.5, momentum=0.9, loss="bce-with-logits"
    )
    model = init_ensemble(config, range(8), N_BITS, 1)
    result = train_ensemble(model, x, y, config)
    assert (result.final_loss < 0.05).all()
    predicted = (model(x) > 0).float()
    assert torch.equal(predicted, y.expand(8, -1, -1))


# --- checkpoints and config ---------------------------------------------------------------------


def test_checkpoint_round_trip_holds_all_seeds(tmp_path: Path) -> None:
    model = init_mlp((5, 6, 1), seeds=[3, 9, 4], activation="tanh")
    path = tmp_path / "ens.safetensors"
    save_checkpoint(model, path)
    back = load_checkpoint(path)
    assert back.seeds == (3, 9, 4) and back.activation == "tanh" and back.sizes == (5, 6, 1)
    assert torch.equal(back.params, model.params)
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    assert sorted(tensors) == [
        "layers.0.bias",
        "layers.0.weight",
        "layers.1.bias",
        "layers.1.weight",
    ]
    assert tensors["layers.0.weight"].shape == (3, 6, 5)
    again = ensemble_from_state_dict(tensors, "tanh")
    assert torch.equal(again.params, model.params)
    with pytest.raises(ValueError, match=r"missing \['layers.1.bias'\]"):
        ensemble_from_state_dict({k: v for k, v in tensors.items() if k != "layers.1.bias"}, "tanh")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("lr", -1.0, "> 0"),
        ("activation", "sigmoid", "relu, tanh, gelu"),
        ("optimizer", "rmsprop", "adam, sgd"),
        ("loss", "hinge", "mse, bce-with-logits"),
        ("widths", (), "integers >= 1"),
        ("batch_size", 0, ">= 1"),
        ("loss_threshold", -1e-3, ">= 0"),
        ("log_every", 0, ">= 1"),
    ],
)
def test_bad_training_config_names_key_and_allowed_values(
    field: str, value: object, words: str
) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        TrainConfig(**{field: value})  # type: ignore[arg-type]
    assert info.value.key == field


def test_bad_data_shapes_are_explained() -> None:
    config = TrainConfig(widths=(4,), steps=1)
    model = init_ensemble(config, range(2), N_BITS, 1)
    with pytest.raises(ValueError, match=r"y must be \(n, 1\)"):
        train_ensemble(model, all_inputs(), torch.zeros(32, 2), config)
    with pytest.raises(ValueError, match="same non-zero number of examples"):
        train_ensemble(model, all_inputs(), torch.zeros(31, 1), config)


def test_loss_values_match_their_closed_forms() -> None:
    out = torch.tensor([[[0.0], [2.0]]])  # one seed, two examples
    y = torch.tensor([[1.0], [1.0]])
    mse, grad = per_seed_loss(out, y, "mse")
    assert mse.item() == pytest.approx(1.0)  # ((0-1)^2 + (2-1)^2) / 2
    assert grad.flatten().tolist() == pytest.approx([-1.0, 1.0])  # 2 (ŷ - y) / 2
    bce, grad = per_seed_loss(out, y, "bce-with-logits")
    expected = (math.log(2.0) + math.log1p(math.exp(-2.0))) / 2  # -log σ(0), -log σ(2)
    assert bce.item() == pytest.approx(expected)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_training_matches_cpu() -> None:
    x, y = first_bit()
    config = TrainConfig(widths=(16, 16), steps=50)
    cpu = init_ensemble(config, range(20), N_BITS, 1)
    gpu = init_ensemble(config, range(20), N_BITS, 1, device="cuda")
    assert torch.equal(cpu.params, gpu.params.cpu())
    train_ensemble(cpu, x, y, config)
    train_ensemble(gpu, x.cuda(), y.cuda(), config)
    torch.testing.assert_close(gpu.params.cpu(), cpu.params, rtol=1e-3, atol=1e-4)
