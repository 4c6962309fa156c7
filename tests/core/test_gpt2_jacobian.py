"""Jacobian singular values with torch.func: closed forms, a peer (autograd + numpy SVD), bounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.core.jacobian import jacobian_blocks, jacobian_singular_values
from workbench.core.models.gpt2 import (
    eager_attention,
    embed_tokens,
    gpt2_config,
    random_twin,
    resid_post_from_resid_pre0,
)

SEQ, D = 10, 6
OFFSETS = (0, 1, 2, 4)


def causal_convolution(kernels: torch.Tensor):  # type: ignore[no-untyped-def]
    """y_t = Σ_k A_k x_{t-k}: a causal linear map whose Jacobian blocks are exactly A_k."""

    def fn(x: torch.Tensor) -> torch.Tensor:
        y = torch.zeros(x.shape[0], kernels.shape[1], dtype=x.dtype)
        for k in range(kernels.shape[0]):
            y = y + torch.nn.functional.pad(x[: x.shape[0] - k], (0, 0, k, 0)) @ kernels[k].T
        return y

    return fn


@pytest.fixture
def kernels() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(5, D + 2, D, generator=g, dtype=torch.float64)  # (k, d_out, d_in)


def test_blocks_of_a_causal_linear_map_are_its_kernels(kernels: torch.Tensor) -> None:
    x = torch.randn(SEQ, D, dtype=torch.float64)
    blocks = jacobian_blocks(causal_convolution(kernels), x, SEQ - 1, OFFSETS)
    assert blocks.shape == (len(OFFSETS), D + 2, D)
    for i, k in enumerate(OFFSETS):
        torch.testing.assert_close(blocks[i], kernels[k])


def test_exact_singular_values_match_numpy(kernels: torch.Tensor) -> None:
    x = torch.randn(SEQ, D, dtype=torch.float64)
    sv = jacobian_singular_values(causal_convolution(kernels), x, 7, OFFSETS)
    for i, k in enumerate(OFFSETS):
        np.testing.assert_allclose(sv[i].numpy(), np.linalg.svd(kernels[k].numpy())[1], rtol=1e-10)


def test_randomized_top_k_is_exact_on_a_decaying_spectrum() -> None:
    """With σ_i = 4^-i the sketch error (σ_{k+p+1}/σ_k)^(2q+1) is below float64 precision."""
    d = 40
    g = torch.Generator().manual_seed(2)
    u, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    sigma = 4.0 ** -torch.arange(d, dtype=torch.float64)
    kernel = (u * sigma) @ v.T
    kernels = torch.stack([kernel, 2 * kernel, kernel, kernel, 0.5 * kernel])
    x = torch.randn(SEQ, d, dtype=torch.float64)
    top = jacobian_singular_values(
        causal_convolution(kernels),
        x,
        SEQ - 1,
        (0, 1, 4),
        top_k=5,
        oversample=5,
        generator=torch.Generator().manual_seed(0),
    )
    assert top.shape == (3, 5)
    for row, scale in zip(top, (1.0, 2.0, 0.5), strict=True):
        torch.testing.assert_close(row, scale * sigma[:5], rtol=1e-9, atol=0)


@pytest.fixture(scope="module")
def tiny():  # type: ignore[no-untyped-def]
    model = random_twin(gpt2_config(n_layer=2, n_embd=16, n_head=2, n_ctx=16), seed=0)
    ids = torch.randint(0, 256, (SEQ,), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        x0 = embed_tokens(model, ids)
    return model, x0


def test_gpt2_singular_values_match_a_peer_jacobian(tiny) -> None:  # type: ignore[no-untyped-def]
    """Peer: torch.autograd.functional.jacobian of the whole map, then numpy's SVD."""
    model, x0 = tiny

    def fn(x: torch.Tensor) -> torch.Tensor:
        return resid_post_from_resid_pre0(model, x)

    t = SEQ - 1
    with eager_attention(model):  # vmap has no fast rule for the fused attention's backward
        sv = jacobian_singular_values(fn, x0, t, OFFSETS)
    full = torch.autograd.functional.jacobian(fn, x0).detach().double().numpy()  # (seq, d, seq, d)
    for i, k in enumerate(OFFSETS):
        expected = np.linalg.svd(full[t, :, t - k, :], compute_uv=False)
        np.testing.assert_allclose(sv[i].numpy(), expected, rtol=1e-4, atol=1e-7)
    # Causality: nothing at position t depends on a later position.
    assert np.abs(full[t - 3, :, t - 2 :, :]).max() == 0


def test_gpt2_top_k_never_exceeds_the_exact_values(tiny) -> None:  # type: ignore[no-untyped-def]
    """B = QᵀJ with orthonormal Q, so σ_i(B) ≤ σ_i(J) for every i (interlacing)."""
    model, x0 = tiny

    def fn(x: torch.Tensor) -> torch.Tensor:
        return resid_post_from_resid_pre0(model, x)

    with eager_attention(model):  # forward-mode jvp needs the plain attention on CPU
        exact = jacobian_singular_values(fn, x0, SEQ - 1, OFFSETS)
        top = jacobian_singular_values(
            fn,
            x0,
            SEQ - 1,
            OFFSETS,
            top_k=4,
            oversample=6,
            power_iterations=3,
            generator=torch.Generator().manual_seed(0),
        )
    assert top.shape == (len(OFFSETS), 4)
    assert torch.all(top <= exact[:, :4] * (1 + 1e-5))
    # The largest value is found closely even on this flat random-init spectrum.
    torch.testing.assert_close(top[:, 0], exact[:, 0], rtol=0.02, atol=0)


@pytest.mark.parametrize(
    ("position", "offsets", "match"),
    [(3, (0, 4), "offsets"), (3, (-1,), "offsets"), (SEQ, (0,), "out_position"), (3, (), "offset")],
)
def test_bad_positions_and_offsets_are_refused(
    position: int, offsets: tuple[int, ...], match: str
) -> None:
    fn = causal_convolution(torch.ones(1, 2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=match):
        jacobian_singular_values(fn, torch.zeros(SEQ, 2, dtype=torch.float64), position, offsets)
