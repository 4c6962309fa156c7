"""Which nets the lab compares: its own ensembles, or the trained nets of a source run.

Each ensemble becomes a :class:`Group`: the trained nets, the data and loss they were trained
on (the barrier is measured on exactly that loss), and whatever other notion of "the same
thing" the source saved for them (fuzzy-xor's strategy labels, toy-tasks' IR similarity).
A source run is read through :mod:`workbench.core.from_run` and its saved arrays, never by
importing the other lab.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from workbench.core.errors import ConfigError
from workbench.core.from_run import SourceRun, load_from_run
from workbench.core.models.mlp import EnsembleMLP
from workbench.core.runs import Project, Run
from workbench.core.tasks import all_inputs

from .config import SOURCE_LABS, PathDependenceConfig

__all__ = ["Group", "check_source", "fuzzy_xor_data", "groups_from_run"]

#: Arrays a fuzzy-xor run may keep its per-net strategy labels in (read defensively: the lab
#: is being reworked), and the IR-similarity arrays of a toy-tasks run.
STRATEGY_ARRAYS = ("strategy/label", "strategy/labels")
IR_ARRAYS = ("{task}/normalized_similarity",)


@dataclass
class Group:
    """One ensemble to compare.

    Attributes:
        name: ``first-bit``, ``ensemble`` ...
        model: The trained nets only, ``seed`` first.
        x: ``(n, d_in)`` training inputs.
        y: ``(n, d_out)`` training targets.
        loss: The training loss (``mse`` or ``bce-with-logits``).
        strategy: ``(seed,)`` labels from the source (fuzzy-xor strategies), if any.
        strategy_names: Names of the strategy codes, if known.
        similarity: ``(seed, seed)`` IR similarity read from the source, if any.
        codes_ok: The inputs are all boolean inputs, so IR similarity can be computed.
    """

    name: str
    model: EnsembleMLP
    x: torch.Tensor
    y: torch.Tensor
    loss: str
    strategy: npt.NDArray[np.int64] | None = None
    strategy_names: list[str] = field(default_factory=list)
    similarity: npt.NDArray[np.float64] | None = None
    codes_ok: bool = False


def fuzzy_xor_data(config: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """A fuzzy-xor run's training data, rebuilt from its ``[config]``.

    The fuzzy-xor lab draws ``samples`` points uniformly from [0, 1]² with a generator seeded by
    ``data_seed`` (float64) and trains on XOR(a, b) = min(max(a, b), 1 − min(a, b)).
    """
    gen = torch.Generator().manual_seed(int(config.get("data_seed", 0)))
    x = torch.rand(int(config.get("samples", 512)), 2, generator=gen, dtype=torch.float64)
    a, b = x[:, 0], x[:, 1]
    y = torch.minimum(torch.maximum(a, b), 1 - torch.minimum(a, b)).unsqueeze(1)
    return x, y


def _array(run: Run, names: tuple[str, ...]) -> np.ndarray[Any, Any] | None:
    available = set(run.array_names())
    for name in names:
        if name in available:
            return np.asarray(run.array(name))
    return None


def _strategy_names(run: Run, name: str) -> list[str]:
    labels = run.array_meta(name).get("labels", {})
    for key in ("strategy", "construction"):
        if isinstance(labels, dict) and key in labels:
            return [str(s) for s in labels[key]]
    return []


def check_source(cfg: PathDependenceConfig, project: Project) -> SourceRun:
    """Load the source run, or raise :class:`ConfigError` naming ``from_run``.

    Missing runs, runs of other labs, runs without checkpoints and ensembles of different
    architectures are rejected by :func:`load_from_run`; here also sources whose training data
    cannot be rebuilt, sources with fewer than two trained nets, and a normalisation that is not
    a symmetry of the source's nets.
    """
    source = load_from_run(project, cfg.from_run, labs=SOURCE_LABS)
    for ens in source.ensembles.values():
        if ens.targets is None and source.lab != "fuzzy-xor":
            raise ConfigError(
                "from_run", cfg.from_run, "a run whose training data can be rebuilt (targets)"
            )
        if int(ens.trained.sum()) < 2:
            raise ConfigError(
                "from_run",
                cfg.from_run,
                f"a run with at least 2 trained nets per ensemble; {ens.name} has "
                f"{int(ens.trained.sum())}",
            )
        activation = ens.model.activation
        wanted = cfg.normalization(activation)
        if wanted != "none" and wanted != {"relu": "relu-scale", "tanh": "tanh-sign"}.get(
            activation
        ):
            raise ConfigError(
                "normalize", cfg.normalize, f"auto or none for the source's {activation} nets"
            )
    return source


def groups_from_run(
    cfg: PathDependenceConfig, project: Project, device: torch.device
) -> tuple[list[Group], SourceRun]:
    """The trained nets of every ensemble of the source run, with their data and labels."""
    source = check_source(cfg, project)
    groups = []
    for name, ens in source.ensembles.items():
        keep = np.flatnonzero(ens.trained)
        model = ens.model.select(keep.tolist()).to(device)
        if ens.targets is not None:
            n_bits = int(ens.targets.size).bit_length() - 1
            x = all_inputs(n_bits).to(device, model.dtype)
            y = torch.as_tensor(ens.targets, dtype=model.dtype, device=device).unsqueeze(1)
            codes_ok = True
        else:
            fx, fy = fuzzy_xor_data(source.config)
            x, y = fx.to(device, model.dtype), fy.to(device, model.dtype)
            codes_ok = False
        group = Group(name, model, x, y, str(source.config.get("loss", "mse")), codes_ok=codes_ok)
        labels = _array(source.run, STRATEGY_ARRAYS)
        if labels is not None and labels.reshape(-1).shape == ens.trained.shape:
            group.strategy = labels.reshape(-1).astype(np.int64)[keep]
            group.strategy_names = _strategy_names(source.run, STRATEGY_ARRAYS[0])
        group.similarity = _source_similarity(source.run, name, model.seeds)
        groups.append(group)
    return groups, source


def _source_similarity(
    run: Run, name: str, seeds: tuple[int, ...]
) -> npt.NDArray[np.float64] | None:
    """The source's seed × seed IR similarity restricted to ``seeds``, if it saved one."""
    sim = _array(run, tuple(n.format(task=name) for n in IR_ARRAYS))
    rows = _array(run, (f"{name}/trained_seeds",))
    if sim is None or rows is None or sim.ndim != 2 or sim.shape[0] != rows.size:
        return None
    where = {int(s): i for i, s in enumerate(rows.reshape(-1))}
    if not all(s in where for s in seeds):
        return None
    index = np.array([where[s] for s in seeds])
    out: npt.NDArray[np.float64] = np.asarray(sim, dtype=np.float64)[np.ix_(index, index)]
    return out
