"""The same measures on CUDA as on the CPU (skipped without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import workbench.measures as measures

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def test_measures_agree_between_cpu_and_cuda() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 4))
    y = x[:, :2] @ rng.normal(size=(2, 3)) + rng.normal(size=(500, 3))
    codes = rng.integers(0, 5, size=(6, 64))
    acts = np.round(rng.normal(size=(3, 64, 4)), 1)
    cuda = torch.device("cuda")
    xc, yc = torch.from_numpy(x).to(cuda), torch.from_numpy(y).to(cuda)
    pairs = [
        (measures.gaussian_mutual_information(xc, yc), measures.gaussian_mutual_information(x, y)),
        (measures.gaussian_entropy(xc), measures.gaussian_entropy(x)),
        (measures.linear_cka(xc, yc, debiased=True), measures.linear_cka(x, y, debiased=True)),
        (measures.ksg_mutual_information(xc, yc), measures.ksg_mutual_information(x, y)),
        (measures.covariance_spectrum(xc), measures.covariance_spectrum(x)),
        (
            measures.information_ratio_matrix(torch.from_numpy(codes).to(cuda)),
            measures.information_ratio_matrix(codes),
        ),
        (
            measures.discretize_batch(torch.from_numpy(acts).to(cuda), 1e-5),
            measures.discretize_batch(acts, 1e-5),
        ),
    ]
    for on_gpu, on_cpu in pairs:
        np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-9, atol=1e-12)


def test_streaming_accumulates_on_cuda() -> None:
    gen = torch.Generator(device="cuda").manual_seed(0)
    acc = measures.StreamingJointCovariance(8, 8, n_groups=4, n_permutations=10)
    xs, ys = [], []
    for _ in range(5):
        x = torch.randn(1000, 8, generator=gen, device="cuda")
        y = x + torch.randn(1000, 8, generator=gen, device="cuda")
        acc.update(x, y)
        xs.append(x.cpu().numpy())
        ys.append(y.cpu().numpy())
    expected = measures.gaussian_mutual_information(np.vstack(xs), np.vstack(ys))
    assert acc.gaussian_mutual_information() == pytest.approx(expected, rel=1e-9)
    assert acc.permutation_test().p_value == pytest.approx(1 / 11)
    assert acc.gaussian_mutual_information_interval().low < expected
