"""Singular values of position-to-position Jacobians of a causal sequence map, with torch.func.

For a causal map ``f: x ↦ y`` on sequences, ``x: (seq, d_in) -> y: (seq, d_out)``, the
block of its Jacobian that links input position ``t - k`` to output position ``t`` is

    J_k = ∂ y_t / ∂ x_{t-k}            (d_out, d_in),   k = 0, 1, 2, ... (the offset)

Its singular values σ_1 ≥ σ_2 ≥ ... say how many independent directions of a small
change at token ``t - k`` reach token ``t``, and with what gain: a few large σ mean
a few channels, a slow fall-off means many (the "scarce channels" versus "scarce
modules" question of the GPT-2 residual-stream lab).

Two ways to get them:

* exact: one reverse-mode pass per output direction (``vmap`` over ``vjp``), which
  gives row ``i`` of ``J_k`` for *every* offset at once, so all offsets cost
  ``d_out`` backward passes together;
* top ``k`` (bounded width, for d = 768 and beyond): randomized subspace iteration
  (Halko, Martinsson & Tropp 2011, "Finding structure with randomness", Alg. 4.4)
  with ``vmap`` over ``jvp`` for ``J Ω`` and over ``vjp`` for ``Qᵀ J``; it costs
  about ``(2 q + 2)(k + p)`` passes per offset for ``q`` power iterations and ``p``
  oversampling, and its error falls like (σ_{k+p+1} / σ_k)^{2q+1}.

Forward-mode ``jvp`` through attention needs the plain (eager) attention on CPU; see
:func:`workbench.core.models.gpt2.eager_attention`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.func import jvp, vjp, vmap

__all__ = ["jacobian_blocks", "jacobian_singular_values"]


def _check(x: Tensor, out_position: int, offsets: Sequence[int]) -> None:
    if x.ndim != 2:
        raise ValueError(f"x must be (seq, d_in), got shape {tuple(x.shape)}")
    seq = x.shape[0]
    if not 0 <= out_position < seq:
        raise ValueError(f"out_position must be in [0, {seq}), got {out_position}")
    if not offsets:
        raise ValueError("offsets must name at least one offset k >= 0")
    bad = [k for k in offsets if k < 0 or k > out_position]
    if bad:
        raise ValueError(
            f"offsets {bad} are not allowed: each offset k must satisfy 0 <= k <= out_position "
            f"= {out_position} (the input position t - k must exist)"
        )


def jacobian_blocks(
    fn: Callable[[Tensor], Tensor],
    x: Tensor,
    out_position: int,
    offsets: Sequence[int],
    *,
    chunk_size: int | None = 64,
) -> Tensor:
    """Exact Jacobian blocks ``J_k = ∂ fn(x)_t / ∂ x_{t-k}`` for each offset ``k``.

    ``fn`` must be causal (output ``t`` depends on inputs ``<= t`` only), because the
    sequence is cut after ``t`` to save work.

    Args:
        fn: ``(seq, d_in) -> (seq, d_out)``, built from torch operations.
        x: ``(seq, d_in)`` point at which to differentiate.
        out_position: Output position ``t``.
        offsets: Offsets ``k``; input position ``t - k``.
        chunk_size: Reverse passes batched together by ``vmap`` (memory bound).

    Returns:
        ``(n_offsets, d_out, d_in)`` Jacobian blocks.
    """
    _check(x, out_position, offsets)
    t = out_position
    x = x[: t + 1].detach()
    # An outer no_grad stops ordinary autograd from also recording a graph back to the
    # model's parameters; torch.func transforms ignore it and still differentiate in x.
    with torch.no_grad():
        return _blocks(fn, x, t, offsets, chunk_size)


def _blocks(
    fn: Callable[[Tensor], Tensor],
    x: Tensor,
    t: int,
    offsets: Sequence[int],
    chunk_size: int | None,
) -> Tensor:
    y, pullback = vjp(fn, x)[:2]  # y: (t + 1, d_out)
    d_out = y.shape[-1]
    # 1. One cotangent per output unit i, placed at position t.
    cotangents = torch.zeros((d_out, *y.shape), dtype=y.dtype, device=y.device)
    unit = torch.arange(d_out, device=y.device)
    cotangents[unit, t, unit] = 1.0
    # 2. Row i of every block at once: (d_out, t + 1, d_in).
    rows: Tensor = vmap(pullback, chunk_size=chunk_size)(cotangents)[0]
    # 3. Pick the input positions t - k.
    index = torch.tensor([t - k for k in offsets], device=x.device)
    return rows[:, index, :].permute(1, 0, 2)  # (n_offsets, d_out, d_in)


def jacobian_singular_values(
    fn: Callable[[Tensor], Tensor],
    x: Tensor,
    out_position: int,
    offsets: Sequence[int],
    *,
    top_k: int | None = None,
    oversample: int = 8,
    power_iterations: int = 2,
    generator: torch.Generator | None = None,
    chunk_size: int | None = 64,
) -> Tensor:
    """Singular values of ``J_k = ∂ fn(x)_t / ∂ x_{t-k}`` for each offset ``k``, descending.

    Args:
        fn: Causal map ``(seq, d_in) -> (seq, d_out)``.
        x: ``(seq, d_in)``.
        out_position: Output position ``t``.
        offsets: Offsets ``k >= 0``.
        top_k: ``None`` for every singular value (exact, ``d_out`` reverse passes);
            an integer for the largest ``top_k`` only, by randomized subspace iteration
            (bounded width: cost grows with ``top_k``, not with ``d``).
        oversample: Extra random directions ``p`` for the randomized method.
        power_iterations: Subspace iterations ``q`` for the randomized method.
        generator: Generator for the random test matrix Ω (CPU); a fixed seed gives
            the same result on every device.
        chunk_size: Passes batched together by ``vmap``.

    Returns:
        ``(n_offsets, r)`` float64 singular values, ``r = min(d_out, d_in)`` when exact,
        else ``min(top_k, d_out, d_in)``.
    """
    _check(x, out_position, offsets)
    if top_k is None:
        blocks = jacobian_blocks(fn, x, out_position, offsets, chunk_size=chunk_size)
        singular: Tensor = torch.linalg.svdvals(blocks.double())
        return singular
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None (all singular values), got {top_k}")
    if oversample < 0 or power_iterations < 0:
        raise ValueError("oversample and power_iterations must be >= 0")
    t = out_position
    x = x[: t + 1].detach()
    with torch.no_grad():  # see jacobian_blocks
        return _top_singular_values(
            fn, x, t, offsets, top_k, oversample, power_iterations, generator
        )


def _top_singular_values(
    fn: Callable[[Tensor], Tensor],
    x: Tensor,
    t: int,
    offsets: Sequence[int],
    top_k: int,
    oversample: int,
    power_iterations: int,
    generator: torch.Generator | None,
) -> Tensor:
    y, pullback = vjp(fn, x)[:2]
    d_in, d_out = x.shape[-1], y.shape[-1]
    rank = min(top_k, d_in, d_out)
    width = min(rank + oversample, d_in, d_out)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    values = []
    for k in offsets:
        omega = torch.randn((d_in, width), generator=gen, dtype=torch.float64)
        omega = omega.to(device=x.device, dtype=x.dtype)
        sketch = _randomized_block_svdvals(fn, x, pullback, t, t - k, omega, power_iterations)
        values.append(sketch[:rank])
    return torch.stack(values)


def _randomized_block_svdvals(
    fn: Callable[[Tensor], Tensor],
    x: Tensor,
    pullback: Callable[[Tensor], tuple[Tensor]],
    t: int,
    s: int,
    omega: Tensor,
    power_iterations: int,
) -> Tensor:
    """Halko et al. (2011) Alg. 4.4 on the block J = ∂y_t/∂x_s, touched only through J·V, Uᵀ·J."""

    def apply_j(v: Tensor) -> Tensor:  # v: (d_in, l) -> J v: (d_out, l)
        tangents = torch.zeros((v.shape[1], *x.shape), dtype=x.dtype, device=x.device)
        tangents[:, s, :] = v.T

        def push(tangent: Tensor) -> Tensor:
            tangent_out: Tensor = jvp(fn, (x,), (tangent,))[1]
            return tangent_out[t]

        pushed: Tensor = vmap(push)(tangents)  # (l, d_out)
        return pushed.T

    def apply_jt(u: Tensor) -> Tensor:  # u: (d_out, l) -> Jᵀ u: (d_in, l)
        cotangents = torch.zeros((u.shape[1], t + 1, u.shape[0]), dtype=x.dtype, device=x.device)
        cotangents[:, t, :] = u.T
        rows: Tensor = vmap(pullback)(cotangents)[0]  # (l, t + 1, d_in)
        return rows[:, s, :].T

    # 1. Range of J from random directions, 2. sharpened by q subspace iterations,
    #    re-orthonormalising each time to keep the small directions from washing out.
    q, _ = torch.linalg.qr(apply_j(omega))
    for _ in range(power_iterations):
        z, _ = torch.linalg.qr(apply_jt(q))
        q, _ = torch.linalg.qr(apply_j(z))
    # 3. B = Qᵀ J has the top singular values of J (up to the sketch error).
    b = apply_jt(q).T  # (l, d_in)
    singular: Tensor = torch.linalg.svdvals(b.double())
    return singular
