"""The streamed path's fast pieces against the straightforward formulas, at float64 tolerance.

``add_scatter_`` (upper row strips, 2-D and batched), the group-padded fold of
``GroupedMoments`` and the one-reduction finite check of ``as_float``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.core.measures._arrays import as_float
from workbench.core.measures._grouped import GroupedMoments
from workbench.core.measures._moments import add_scatter_, mirror_blocks_, tile_edges


def _blocks(
    dims: tuple[int, ...], n: int, seed: int, lead: tuple[int, ...] = ()
) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(*lead, n, d, generator=gen, dtype=torch.float64) * (k + 1) + 3.0
        for k, d in enumerate(dims)
    ]


@pytest.mark.parametrize("dims", [(1,), (7, 5), (40, 1), (13, 11, 6)])
@pytest.mark.parametrize("tile", [1, 3, 4, 192])
def test_upper_strips_equal_the_full_product(dims: tuple[int, ...], tile: int) -> None:
    blocks = _blocks(dims, 37, seed=len(dims) + tile)
    z = torch.cat(blocks, dim=1)
    edges = tile_edges(list(dims), tile)
    # Start from a full symmetric matrix, as merge_from leaves it: its lower tiles must survive
    # as the mirror of its upper ones.
    start = torch.randn(z.shape[1], z.shape[1], dtype=torch.float64)
    start = start + start.T
    m2 = start.clone()
    add_scatter_(m2, blocks, edges)
    add_scatter_(m2, blocks, edges)  # accumulates
    expected = start + 2.0 * (z.T @ z)
    got = mirror_blocks_(m2, edges)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("tile", [2, 5, 192])
def test_batched_strips_equal_one_product_per_group(tile: int) -> None:
    dims = (6, 9)
    blocks = _blocks(dims, 11, seed=tile, lead=(3,))  # (G=3, n, d_k)
    edges = tile_edges(list(dims), tile)
    m2 = torch.zeros(3, 15, 15, dtype=torch.float64)
    add_scatter_(m2, blocks, edges)
    mirror_blocks_(m2, edges)
    z = torch.cat(blocks, dim=2)  # (G, n, D)
    for g in range(3):
        np.testing.assert_allclose(m2[g].numpy(), (z[g].T @ z[g]).numpy(), rtol=1e-12)


def test_group_fold_equals_numpy_per_group_moments() -> None:
    """Uneven groups, a group missing from one batch and one group left empty throughout."""
    rng = np.random.default_rng(3)
    n_groups, dims = 5, [4, 3]
    acc = GroupedMoments(dims, n_groups, None)
    rows, labels = [], []
    for size, allowed in ((50, [0, 1, 2, 3]), (1, [2]), (29, [0, 3])):  # group 4 never seen
        z = rng.normal(size=(size, 7)) * [1, 5, 0.1, 2, 3, 1, 9] + 1e3  # far from zero
        g = rng.choice(allowed, size=size)
        acc.update([torch.from_numpy(z[:, :4]), torch.from_numpy(z[:, 4:])], torch.from_numpy(g))
        rows.append(z)
        labels.append(g)
    z_all, g_all = np.vstack(rows), np.concatenate(labels)
    for g in range(n_groups):
        part = z_all[g_all == g]
        moments = acc.group(g)
        assert moments.n == len(part)
        if len(part) == 0:
            assert float(moments.m2.abs().max()) == 0.0
            continue
        centred = part - part.mean(axis=0)
        np.testing.assert_allclose(moments.mean.numpy(), part.mean(axis=0), rtol=1e-13)
        np.testing.assert_allclose(moments.m2.numpy(), centred.T @ centred, rtol=1e-9, atol=1e-9)
    total = acc.total()
    centred = z_all - z_all.mean(axis=0)
    np.testing.assert_allclose(total.m2.numpy(), centred.T @ centred, rtol=1e-9, atol=1e-9)


def test_finite_check_names_nan_and_inf_and_passes_an_overflowing_sum() -> None:
    x = np.ones((6, 3))
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match="1 NaN and 0 infinite"):
        as_float(x, "x")
    x[1, 2] = np.inf
    x[4, 0] = -np.inf  # inf - inf: the sum is NaN, still caught
    with pytest.raises(ValueError, match="0 NaN and 2 infinite"):
        as_float(x, "x")
    big = np.full((4, 2), 1e308)  # finite entries whose sum overflows to inf
    assert torch.equal(as_float(big, "x"), torch.from_numpy(big))
