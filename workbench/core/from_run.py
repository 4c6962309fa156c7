"""Loading the nets of another run, so one lab can measure the very nets another lab trained.

A lab whose config has ``from_run = "<run id>"`` (basin, path-dependence, ...) reads that run's
folder: its ``[config]``, its ``checkpoints/*.safetensors`` (tensors only, never unpickled code),
and the small arrays that say which nets trained and on what data. Nothing here imports the
other lab: the run folder is the contract.

What a source run provides, per ensemble checkpoint ``<name>`` (``first-bit``, ``ensemble``):

* ``checkpoints/<name>.safetensors`` with ``layers.{i}.weight: (seed, d_out, d_in)`` and
  ``layers.{i}.bias: (seed, d_out)``;
* optionally ``arrays/<name>/train/trained.npy``, ``(seed,)`` 0/1, the nets that reached the
  source's "trained" threshold (``train/converged.npy`` for a run with one ensemble);
* optionally ``arrays/<name>/train/seeds.npy``, ``(seed,)`` the seed of each net;
* optionally ``arrays/<name>/train/targets.npy``, ``(2^n,)`` the training targets over all
  inputs, for boolean-task runs (otherwise they are rebuilt from the source's config with
  :func:`workbench.core.tasks.make_task`).

Checks that a user can get wrong (a missing run, a run of another lab, a run without
checkpoints) raise :class:`~workbench.core.errors.ConfigError` naming ``from_run``, so the CLI
exits 2 before anything runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from workbench.core.errors import ConfigError, RunFolderError, RunNotFoundError
from workbench.core.runs import Project, Run

if TYPE_CHECKING:
    import torch

    from workbench.core.models.mlp import EnsembleMLP

__all__ = ["SourceEnsemble", "SourceRun", "check_from_run", "load_from_run"]


@dataclass(frozen=True)
class SourceEnsemble:
    """One ensemble of a source run.

    Attributes:
        name: The checkpoint name (``first-bit``, ``ensemble``).
        model: All its nets as one batched model.
        trained: ``(seed,)`` bool, the nets the source counted as trained (all True when the
            source recorded nothing).
        targets: ``(2^n,)`` int64 training targets over all boolean inputs, or None when the
            source is not a boolean-task run.
    """

    name: str
    model: EnsembleMLP
    trained: npt.NDArray[np.bool_]
    targets: npt.NDArray[np.int64] | None

    @property
    def widths(self) -> tuple[int, ...]:
        """Hidden widths of the nets."""
        return tuple(int(s) for s in self.model.sizes[1:-1])


@dataclass(frozen=True)
class SourceRun:
    """A source run and its ensembles, in checkpoint-name order."""

    run: Run
    lab: str
    config: dict[str, Any]
    ensembles: dict[str, SourceEnsemble]


def _ensemble_checkpoints(run: Run) -> list[str]:
    return [
        name
        for name in run.checkpoint_names()
        if (run.path / "checkpoints" / f"{name}.safetensors").stat().st_size > 0
    ]


def check_from_run(
    project: Project, ref: str, *, labs: Sequence[str], key: str = "from_run"
) -> Run:
    """Find ``ref`` in ``project`` and check it can serve as a source.

    Args:
        project: Where to look.
        ref: Run id, unique prefix or ``latest``.
        labs: The lab names whose runs are accepted.
        key: The config key to name in errors.

    Raises:
        ConfigError: The run is missing, of another lab, or has no ensemble checkpoints (an
            interrupted run stops before saving them).
    """
    try:
        run = project.run(ref)
    except RunNotFoundError as err:
        raise ConfigError(key, ref, f"the id of a run in this project ({err})") from None
    try:
        lab = run.lab
        status = run.status
    except RunFolderError as err:
        raise ConfigError(key, ref, f"a readable run folder ({err})") from None
    if lab not in labs:
        raise ConfigError(key, ref, f"a run of {' or '.join(labs)}; run {run.id} is of {lab}")
    if not _ensemble_checkpoints(run):
        raise ConfigError(
            key,
            ref,
            f"a run with saved checkpoints; run {run.id} ({status}) has none — an interrupted "
            "run stops before its training step saves them, so rerun it to completion",
        )
    return run


def _bool_array(run: Run, names: Sequence[str], n: int) -> npt.NDArray[np.bool_]:
    available = set(run.array_names())
    for name in names:
        if name in available:
            mask = np.asarray(run.array(name)).reshape(-1).astype(bool)
            if mask.shape == (n,):
                return mask
    return np.ones(n, dtype=bool)


def _targets(run: Run, name: str, config: dict[str, Any]) -> npt.NDArray[np.int64] | None:
    if f"{name}/train/targets" in set(run.array_names()):
        return np.asarray(run.array(f"{name}/train/targets")).astype(np.int64).reshape(-1)
    if "n_bits" in config and "tasks" in config and name in config["tasks"]:
        from workbench.core.tasks import make_task

        task = make_task(
            name,
            int(config["n_bits"]),
            task_seed=int(config.get("task_seed", 0)),
            truth_tables=dict(config.get("truth_tables", {})),
        )
        return task.targets.numpy().astype(np.int64)
    return None


def _seeds(run: Run, config: dict[str, Any], name: str, n: int) -> list[int]:
    """The nets' seeds: ``<name>/train/seeds`` when the source saved it, else by convention."""
    if f"{name}/train/seeds" in set(run.array_names()):
        saved = np.asarray(run.array(f"{name}/train/seeds")).astype(np.int64).reshape(-1)
        if saved.shape == (n,):
            return [int(s) for s in saved]
    first = int(config.get("seed", 0))
    tasks = list(config.get("tasks", []))
    if name in tasks and isinstance(config.get("seeds"), int):
        first += tasks.index(name) * int(config["seeds"])
    return list(range(first, first + n))


def load_from_run(
    project: Project,
    ref: str,
    *,
    labs: Sequence[str],
    device: torch.device | str = "cpu",
    key: str = "from_run",
    same_architecture: bool = True,
) -> SourceRun:
    """Load every ensemble checkpoint of a source run.

    Args:
        project: Where the run lives.
        ref: Run id, unique prefix or ``latest``.
        labs: Lab names accepted as sources.
        device: Where to put the models.
        key: The config key to name in errors.
        same_architecture: Require every ensemble to have the same layer sizes (a lab that
            compares nets across ensembles needs it). A run whose config names its main
            ``widths`` and that also trained other architectures (an architecture sweep) then
            gives the ensembles of the main ``widths`` only.

    Raises:
        ConfigError: As :func:`check_from_run`, or for a checkpoint that is not an ensemble of
            MLP layers, or ensembles of different architectures.
    """
    from workbench.core.ensemble import ensemble_from_state_dict

    run = check_from_run(project, ref, labs=labs, key=key)
    config = dict(run.config)
    activation = str(config.get("activation", "relu"))
    ensembles: dict[str, SourceEnsemble] = {}
    for name in _ensemble_checkpoints(run):
        tensors = run.checkpoint(name)
        if not any(k.startswith("layers.") for k in tensors):
            continue  # not an ensemble of MLP layers (a GPT-2 checkpoint, say)
        n = int(next(v for k, v in tensors.items() if k.endswith(".weight")).shape[0])
        try:
            model = ensemble_from_state_dict(tensors, activation, _seeds(run, config, name, n))
        except ValueError as err:
            raise ConfigError(key, ref, f"a run whose checkpoints are ensembles ({err})") from None
        trained = _bool_array(run, [f"{name}/train/trained", "train/converged"], n)
        ensembles[name] = SourceEnsemble(
            name, model.to(device), trained, _targets(run, name, config)
        )
    if not ensembles:
        raise ConfigError(key, ref, f"a run with ensemble checkpoints; run {run.id} has none")
    main = tuple(int(w) for w in config.get("widths", ()))
    if same_architecture and main and len({e.widths for e in ensembles.values()}) > 1:
        # A run with an architecture sweep (toy-tasks' widths_sweep, ensembles <task>_w...):
        # the ensembles of its main `widths` are the ones that share an architecture.
        ensembles = {n: e for n, e in ensembles.items() if e.widths == main} or ensembles
    shapes = {name: tuple(e.model.sizes) for name, e in ensembles.items()}
    if same_architecture and len(set(shapes.values())) > 1:
        raise ConfigError(
            key, ref, f"a run whose nets share one architecture; layer sizes differ: {shapes}"
        )
    return SourceRun(run, run.lab, config, ensembles)
