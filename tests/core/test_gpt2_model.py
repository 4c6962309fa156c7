"""GPT-2 hook points, the seeded random twin and checkpoint loading, on a tiny CPU config."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from workbench.core.models.gpt2 import (
    CheckpointLoadError,
    TokenBatch,
    collect_residual_stream,
    eager_attention,
    embed_tokens,
    gpt2_config,
    hook_name,
    load_pretrained,
    parse_hook_name,
    random_twin,
    resid_post_from_resid_pre0,
    residual_hook_names,
    residual_stream,
)

N_LAYER, D_MODEL, SEQ = 2, 32, 12


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return random_twin(gpt2_config(n_layer=N_LAYER, n_embd=D_MODEL, n_head=4, n_ctx=16), seed=3)


@pytest.fixture(scope="module")
def input_ids() -> torch.Tensor:
    return torch.randint(0, 256, (3, SEQ), generator=torch.Generator().manual_seed(0))


def test_hook_names_follow_transformer_lens_in_depth_order() -> None:
    assert residual_hook_names(2) == (
        "blocks.0.hook_resid_pre",
        "blocks.0.hook_resid_mid",
        "blocks.1.hook_resid_pre",
        "blocks.1.hook_resid_mid",
        "blocks.1.hook_resid_post",
    )
    assert len(residual_hook_names(12)) == 2 * 12 + 1
    for name in residual_hook_names(3):
        assert hook_name(*parse_hook_name(name)) == name


@pytest.mark.parametrize("bad", ["blocks.1.hook_attn_out", "resid_pre", "blocks.x.hook_resid_pre"])
def test_bad_hook_names_say_what_is_allowed(bad: str) -> None:
    with pytest.raises(ValueError, match="hook_resid_pre"):
        parse_hook_name(bad)


def test_hook_shapes(model, input_ids: torch.Tensor) -> None:  # type: ignore[no-untyped-def]
    stream = residual_stream(model, input_ids)
    assert list(stream) == list(residual_hook_names(N_LAYER))
    assert all(v.shape == (3, SEQ, D_MODEL) for v in stream.values())
    positions = torch.tensor([[0, 5], [11, 2], [3, 3]])
    picked = residual_stream(model, input_ids, positions=positions)
    assert all(v.shape == (3, 2, D_MODEL) for v in picked.values())


def test_hooks_match_hidden_states_where_they_coincide(model, input_ids: torch.Tensor) -> None:  # type: ignore[no-untyped-def]
    """resid_pre_i is hidden_states[i]; HF's last entry is ln_f(resid_post), not resid_post."""
    stream = residual_stream(model, input_ids)
    with torch.no_grad():
        hidden = model.transformer(input_ids, output_hidden_states=True).hidden_states
        for i in range(N_LAYER):
            torch.testing.assert_close(stream[f"blocks.{i}.hook_resid_pre"], hidden[i])
        last = stream[f"blocks.{N_LAYER - 1}.hook_resid_post"]
        torch.testing.assert_close(model.transformer.ln_f(last), hidden[N_LAYER])
        assert not torch.allclose(last, hidden[N_LAYER])


def test_resid_mid_is_before_the_mlp(model, input_ids: torch.Tensor) -> None:  # type: ignore[no-untyped-def]
    """resid_pre_{i+1} = resid_mid_i + MLP(ln_2(resid_mid_i)), token by token."""
    stream = residual_stream(model, input_ids)
    with torch.no_grad():
        for i in range(N_LAYER):
            block = model.transformer.h[i]
            mid = stream[f"blocks.{i}.hook_resid_mid"]
            after = mid + block.mlp(block.ln_2(mid))
            nxt = (
                stream[f"blocks.{i + 1}.hook_resid_pre"]
                if i + 1 < N_LAYER
                else stream[f"blocks.{i}.hook_resid_post"]
            )
            torch.testing.assert_close(after, nxt)


def test_positions_pick_the_right_tokens(model, input_ids: torch.Tensor) -> None:  # type: ignore[no-untyped-def]
    full = residual_stream(model, input_ids)
    positions = torch.tensor([[0, 5], [11, 2], [3, 3]])
    picked = residual_stream(model, input_ids, positions=positions)
    for name, acts in picked.items():
        for row in range(3):
            for slot in range(2):
                assert torch.equal(acts[row, slot], full[name][row, positions[row, slot]])


def test_collect_streams_batches_for_each_model(model, input_ids: torch.Tensor) -> None:  # type: ignore[no-untyped-def]
    twin = random_twin(model.config, seed=4)
    positions = torch.tensor([[1, 2], [3, 4], [5, 6]])
    batches = [TokenBatch(input_ids, positions), TokenBatch(input_ids[:2], positions[:2])]
    names = residual_hook_names(N_LAYER)
    seen = list(collect_residual_stream([model, twin], batches, names, "cpu"))
    assert [b.n_tokens for b, _ in seen] == [6, 4]
    first = seen[0][1]
    assert len(first) == 2
    for m, acts in zip((model, twin), first, strict=True):
        expected = residual_stream(m, input_ids, names=names, positions=positions)
        for name in names:
            assert acts[name].shape == (6, D_MODEL)
            # Position-major rows: row slot * batch + sequence.
            position_major = expected[name].transpose(0, 1).reshape(6, D_MODEL)
            torch.testing.assert_close(acts[name], position_major)
            torch.testing.assert_close(acts[name][3 + 2], expected[name][2, 1])


def test_token_batch_checks_shapes() -> None:
    with pytest.raises(ValueError, match="positions"):
        TokenBatch(torch.zeros(2, 5, dtype=torch.long), torch.zeros(3, 1, dtype=torch.long))


def test_twin_is_seeded_by_its_own_generator(model) -> None:  # type: ignore[no-untyped-def]
    state = torch.random.get_rng_state()
    a = random_twin(model.config, seed=11)
    b = random_twin(model.config, seed=11)
    c = random_twin(model.config, seed=12)
    assert torch.equal(state, torch.random.get_rng_state()), "global RNG state must not change"
    pa, pb, pc = (dict(m.named_parameters()) for m in (a, b, c))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert not torch.equal(
        pa["transformer.h.0.attn.c_attn.weight"], pc["transformer.h.0.attn.c_attn.weight"]
    )


def test_twin_follows_the_gpt2_init_scheme() -> None:
    """σ = 0.02 for weights, σ/√(2L) for residual projections, LayerNorm (1, 0), zero biases."""
    config = gpt2_config(n_layer=4, n_embd=64, n_head=4, n_ctx=16)
    twin = random_twin(config, seed=0)
    params = dict(twin.named_parameters())
    sigma = config.initializer_range

    def check_std(name: str, expected: float) -> None:
        w = params[name].detach().double()
        # The sample std of n normal draws has relative standard error 1/sqrt(2n).
        tol = 5 * expected / math.sqrt(2 * w.numel())
        assert abs(float(w.std()) - expected) < tol, name
        assert abs(float(w.mean())) < 5 * expected / math.sqrt(w.numel()), name

    check_std("transformer.wte.weight", sigma)
    check_std("transformer.h.1.attn.c_attn.weight", sigma)
    check_std("transformer.h.2.mlp.c_fc.weight", sigma)
    check_std("transformer.h.3.attn.c_proj.weight", sigma / math.sqrt(2 * 4))
    check_std("transformer.h.0.mlp.c_proj.weight", sigma / math.sqrt(2 * 4))
    assert torch.all(params["transformer.h.0.ln_1.weight"] == 1)
    assert torch.all(params["transformer.ln_f.bias"] == 0)
    assert torch.all(params["transformer.h.2.attn.c_attn.bias"] == 0)
    assert twin.lm_head.weight is twin.transformer.wte.weight  # tied, initialised once


def test_load_from_a_saved_folder(model, input_ids: torch.Tensor, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model.save_pretrained(tmp_path / "ckpt", safe_serialization=True)
    assert (tmp_path / "ckpt" / "model.safetensors").is_file()
    loaded = load_pretrained(tmp_path / "ckpt", "cpu")
    assert not loaded.training
    a, b = residual_stream(model, input_ids), residual_stream(loaded, input_ids)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointLoadError, match="does not exist"):
        load_pretrained(tmp_path / "nowhere", "cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointLoadError, match=r"no config\.json"):
        load_pretrained(tmp_path / "empty", "cpu")


def test_non_gpt2_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CheckpointLoadError, match="GPT-2-family"):
        load_pretrained(tmp_path / "bert", "cpu")


def test_hub_name_offline_says_how_to_use_a_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # no network in tests, ever
    with pytest.raises(CheckpointLoadError, match=r"--set model=") as info:
        load_pretrained("workbench-tests/no-such-gpt2", "cpu")
    assert "HF_HUB_OFFLINE" in str(info.value)
    with pytest.raises(CheckpointLoadError, match="huggingface-cli download"):
        load_pretrained("workbench-tests/no-such-gpt2", "cpu", allow_download=False)


def test_last_resid_post_as_a_function_of_the_first_resid_pre(
    model, input_ids: torch.Tensor
) -> None:  # type: ignore[no-untyped-def]
    stream = residual_stream(model, input_ids)
    with torch.no_grad():
        x0 = embed_tokens(model, input_ids[1])
        torch.testing.assert_close(x0, stream["blocks.0.hook_resid_pre"][1])
        y = resid_post_from_resid_pre0(model, x0)
    torch.testing.assert_close(y, stream[f"blocks.{N_LAYER - 1}.hook_resid_post"][1])


def test_eager_attention_is_restored(model) -> None:  # type: ignore[no-untyped-def]
    before = model.config._attn_implementation
    with eager_attention(model):
        assert model.config._attn_implementation == "eager"
    assert model.config._attn_implementation == before


def test_twin_has_its_own_config(model) -> None:  # type: ignore[no-untyped-def]
    """Switching the twin to eager attention must leave the trained model as it was."""
    twin = random_twin(model.config, seed=1)
    assert twin.config is not model.config
    before = model.config._attn_implementation
    with eager_attention(twin):
        assert model.config._attn_implementation == before
