"""The gpt2-residual-mi path on CUDA equals the CPU path (skipped without a GPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.core.measures.copula import NormalScores
from workbench.core.measures.marginal import StreamingMarginalMoments
from workbench.measures import StreamingJointCovariance

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def test_grouped_accumulator_parts_null_and_copula_agree_with_cpu() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1024, 8))
    y = 0.5 * x + rng.normal(size=(1024, 8))
    groups = np.arange(1024) % 8
    out = {}
    for device in ("cpu", "cuda"):
        acc = StreamingJointCovariance(8, 8, n_groups=8, n_permutations=9, null="parts")
        scores = NormalScores(torch.from_numpy(x[:256]).to(device))
        moments = StreamingMarginalMoments(8)
        for rows in np.split(np.arange(1024), 4):
            tx = torch.from_numpy(x[rows]).to(device)
            acc.update(tx, torch.from_numpy(y[rows]).to(device), groups=groups[rows])
            moments.update(tx)
        out[device] = (
            acc.gaussian_mutual_information(),
            acc.gaussian_mutual_information_interval().low,
            scores.transform(torch.from_numpy(x).to(device)).cpu().numpy(),
            moments.excess_kurtosis(),
            acc.permutation_test().null_mean,
        )
    cpu, cuda = out["cpu"], out["cuda"]
    assert cuda[0] == pytest.approx(cpu[0], rel=1e-9)
    assert cuda[1] == pytest.approx(cpu[1], rel=1e-9)
    np.testing.assert_allclose(cuda[2], cpu[2], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cuda[3], cpu[3], rtol=1e-9)
    # The shuffles come from a CUDA generator, so they differ; both sit near the bias.
    assert abs(cuda[4] - cpu[4]) < 0.05


def test_tiny_lab_run_on_cuda(tmp_path: Path) -> None:
    from workbench.core.models.gpt2 import gpt2_config, random_twin
    from workbench.core.runner import run_lab
    from workbench.core.runs import init_project
    from workbench_labs.gpt2_residual_mi import LAB

    folder = tmp_path / "model"
    random_twin(gpt2_config(n_layer=2, n_embd=32, n_head=4, n_ctx=32), seed=7).save_pretrained(
        folder, safe_serialization=True
    )
    values = {
        "model": str(folder), "n_sequences": 128, "batch_size": 32, "n_groups": 8,
        "n_permutations": 9, "seq_len": 24, "first_position": 4, "positions_per_sequence": 4,
        "jacobian_sequences": 1, "jacobian_offsets": [0, 1], "twin_seeds": 2,
        "ceiling_sequences": 16, "twin_init_scales": [1.0],
    }  # fmt: skip
    runs = {}
    for device in ("cpu", "cuda"):
        project = init_project(tmp_path / f"proj-{device}")
        runs[device] = run_lab(LAB, LAB.make_config(values), project, device=device)
        assert runs[device].status == "completed"
    a, b = runs["cpu"].results, runs["cuda"].results
    for key in ("mi/blocks.1.hook_resid_post", "mi/blocks.1.hook_resid_post/twin_twin",
                "ceiling/bits", "jacobian/trained/offset_1/sigma_max"):  # fmt: skip
        assert b[key] == pytest.approx(a[key], rel=1e-3), key
