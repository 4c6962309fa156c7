"""Loading another run's nets (workbench.core.from_run): what it reads and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.core.ensemble import TrainConfig, init_ensemble
from workbench.core.errors import ConfigError
from workbench.core.from_run import check_from_run, load_from_run
from workbench.core.runs import Project, RunWriter
from workbench.core.tasks import make_task


def _source(
    project: Project, run_id: str, *, lab: str = "toy-tasks", widths: dict[str, tuple[int, ...]]
) -> RunWriter:
    config = {"tasks": list(widths), "n_bits": 3, "seeds": 4, "seed": 100, "activation": "relu"}
    writer = RunWriter.create(
        project.runs_dir / run_id, run_id=run_id, lab=lab, config=config, device="cpu",
        seeds=(100, 4 * len(widths)),
    )  # fmt: skip
    for i, (name, w) in enumerate(widths.items()):
        seeds = range(100 + 10 * i, 104 + 10 * i)
        model = init_ensemble(TrainConfig(widths=w), seeds, d_in=3, d_out=1)
        writer.save_checkpoint(name, model.state_dict())
        writer.save_array(f"{name}/train/trained", np.array([1, 0, 1, 1], np.int8), axes=("seed",))
        writer.save_array(f"{name}/train/seeds", np.array(list(seeds)), axes=("seed",))
    writer.finish("completed")
    return writer


def test_load_reads_models_masks_seeds_and_targets(project: Project) -> None:
    _source(project, "20261201-000000-000-aaaa", widths={"first-bit": (5,), "parity": (5,)})
    source = load_from_run(project, "latest", labs=("toy-tasks",))
    assert list(source.ensembles) == ["first-bit", "parity"]
    parity = source.ensembles["parity"]
    assert list(parity.model.seeds) == [110, 111, 112, 113]  # from train/seeds, not a convention
    assert parity.trained.tolist() == [True, False, True, True]
    expected = make_task("parity", 3).targets.numpy()
    np.testing.assert_array_equal(parity.targets, expected)  # rebuilt from the config
    x = torch.rand(7, 3)
    ckpt = project.run("latest").checkpoint("parity")
    np.testing.assert_allclose(
        parity.model(x)[:, :, 0].detach().numpy(),
        (torch.relu(x @ ckpt["layers.0.weight"].transpose(1, 2) + ckpt["layers.0.bias"][:, None])
         @ ckpt["layers.1.weight"].transpose(1, 2) + ckpt["layers.1.bias"][:, None])[:, :, 0]
        .numpy(),
        rtol=1e-6,
    )  # fmt: skip


def test_refusals_name_from_run(project: Project) -> None:
    with pytest.raises(ConfigError, match="'from_run' = 'nope'"):
        check_from_run(project, "nope", labs=("toy-tasks",))
    _source(project, "20261201-000000-000-bbbb", lab="fuzzy-xor", widths={"ensemble": (4,)})
    with pytest.raises(ConfigError, match=r"a run of toy-tasks; run .* is of fuzzy-xor"):
        check_from_run(project, "20261201-000000-000-bbbb", labs=("toy-tasks",))
    bare = RunWriter.create(
        project.runs_dir / "20261201-000000-000-cccc", run_id="20261201-000000-000-cccc",
        lab="toy-tasks", config={}, device="cpu", seeds=(0, 1),
    )  # fmt: skip
    bare.finish("interrupted")
    with pytest.raises(ConfigError, match="has none"):
        check_from_run(project, "20261201-000000-000-cccc", labs=("toy-tasks",))
    _source(project, "20261201-000000-000-dddd", widths={"first-bit": (5,), "parity": (6,)})
    with pytest.raises(ConfigError, match="share one architecture"):
        load_from_run(project, "20261201-000000-000-dddd", labs=("toy-tasks",))
    loose = load_from_run(
        project, "20261201-000000-000-dddd", labs=("toy-tasks",), same_architecture=False
    )
    assert loose.ensembles["parity"].widths == (6,)
