"""The lab contract's lazy steps and the registry: a lab's definition loads without its steps.

:class:`LazyStep` names a step function by ``"module:function"`` and imports it on first use;
these tests pin its resolution, caching, pickling and error messages, that a broken target
fails before a run folder exists, and that :mod:`workbench.core.choices` (the names configs
import without torch) equals the tuples of the modules that implement them.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

import pytest

from workbench.core.choices import ACTIVATIONS, BARRIER_DEFINITIONS, LOSSES, OPTIMIZERS
from workbench.core.errors import LabNotFoundError, WorkbenchError
from workbench.core.lab import Lab, LazyStep, RunContext, Step, StepNotFoundError
from workbench.core.registry import LabEntry, load_lab
from workbench.core.runs import Project

CALLS: list[Any] = []

#: Not callable: a LazyStep pointing here must say so.
NOT_A_FUNCTION = 3


def record(ctx: Any) -> None:
    """A step function for the tests: remembers what it was called with."""
    CALLS.append(ctx)


class Holder:
    """A dotted target (``Holder.method``) must resolve through the class."""

    @staticmethod
    def method(ctx: Any) -> None:
        CALLS.append(("holder", ctx))


HERE = __name__  # "tests.core.test_lab_contract"


def test_absolute_and_relative_targets_name_the_same_function() -> None:
    absolute = LazyStep(f"{HERE}:record")
    relative = LazyStep(".test_lab_contract:record", package="tests.core")
    assert absolute == relative and hash(absolute) == hash(relative)
    assert relative.target == f"{HERE}:record"
    assert absolute.resolve() is record


def test_calling_runs_the_function_and_the_lookup_is_cached() -> None:
    CALLS.clear()
    step = LazyStep(f"{HERE}:Holder.method")
    step("ctx-1")
    first = step.resolve()
    step("ctx-2")
    assert CALLS == [("holder", "ctx-1"), ("holder", "ctx-2")]
    assert step.resolve() is first  # cached: the same function object every time


def test_pickles_by_name_without_its_cache() -> None:
    step = LazyStep(f"{HERE}:record")
    step.resolve()
    copy = pickle.loads(pickle.dumps(step))
    assert copy == step and copy._function is None  # resolved again in the other process
    assert copy.resolve() is record


@pytest.mark.parametrize("target", ["no_colon", ":record", f"{HERE}:", "a:b:c", ".:x"])
def test_a_malformed_target_is_a_value_error_naming_it(target: str) -> None:
    with pytest.raises(ValueError) as info:
        LazyStep(target, package="tests.core")
    assert str(info.value) == f"step target {target!r} must look like 'package.module:function'"


def test_a_relative_target_needs_its_package() -> None:
    with pytest.raises(ValueError, match=r"needs package=__name__"):
        LazyStep(".steps:train")


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("tests.core.no_such_module:record", "module 'tests.core.no_such_module' cannot be"),
        (f"{HERE}:no_such_function", "has no attribute 'no_such_function'"),
        (f"{HERE}:Holder.missing", "has no attribute 'missing'"),
        (f"{HERE}:NOT_A_FUNCTION", "is not callable (got int)"),
    ],
)
def test_a_missing_target_names_itself_and_is_a_user_error(target: str, says: str) -> None:
    step = LazyStep(target)  # defining it imports nothing, so it cannot fail yet
    with pytest.raises(StepNotFoundError, match=r"^step function ") as info:
        step.resolve()
    assert target in str(info.value) and says in str(info.value)
    # A WorkbenchError: the CLI prints the message and exits 2 rather than a traceback.
    assert isinstance(info.value, WorkbenchError) and isinstance(info.value, LabNotFoundError)


@dataclass(frozen=True)
class _Config:
    seeds: int = 1


def _lab(run: Any) -> Lab[_Config]:
    return Lab(
        name="lazy-demo",
        title="Lazy demo",
        description="",
        config_cls=_Config,
        steps=(Step("a", "A", "", record), Step("b", "B", "", run)),
    )


def test_resolve_steps_finds_a_broken_step_among_good_ones() -> None:
    _lab(LazyStep(f"{HERE}:record")).resolve_steps()
    with pytest.raises(StepNotFoundError, match="no_such_function"):
        _lab(LazyStep(f"{HERE}:no_such_function")).resolve_steps()


def test_a_broken_step_makes_no_run_folder(project: Project) -> None:
    from workbench.core.runner import run_lab

    lab = _lab(LazyStep(f"{HERE}:no_such_function"))
    with pytest.raises(StepNotFoundError):
        run_lab(lab, lab.make_config(), project, device="cpu")
    assert project.runs() == []


def test_a_lazy_step_runs_like_a_plain_one(project: Project) -> None:
    from workbench.core.runner import run_lab

    CALLS.clear()
    lab = _lab(LazyStep(f"{HERE}:Holder.method"))
    run = run_lab(lab, lab.make_config(), project, device="cpu")
    assert run.status == "completed"
    # The plain step got the run's context, then the lazy one the same context.
    assert isinstance(CALLS[0], RunContext) and CALLS[1] == ("holder", CALLS[0])


def test_a_wrong_lab_name_lists_the_labs_and_the_closest() -> None:
    with pytest.raises(LabNotFoundError, match=r"did you mean 'toy-tasks'\?.*Available labs:"):
        load_lab("toy-task")


def test_an_entry_that_is_not_a_lab_is_refused() -> None:
    with pytest.raises(LabNotFoundError, match="is not a workbench Lab"):
        LabEntry("record", f"{HERE}:record").load()


def test_every_choice_a_config_offers_is_implemented() -> None:
    """The names configs validate against (no torch) are the implementations' own names, and
    each one runs: an activation builds and evaluates, an optimiser steps, a loss and a barrier
    definition compute."""
    import numpy as np
    import torch

    from workbench.core import barriers, optim, trainer
    from workbench.core.models import mlp

    assert mlp.ACTIVATIONS is ACTIVATIONS
    assert optim.OPTIMIZERS is OPTIMIZERS
    assert trainer.LOSSES is LOSSES
    assert barriers.DEFINITIONS is BARRIER_DEFINITIONS
    x = torch.randn(5, 3)
    for activation in ACTIVATIONS:
        model = mlp.init_mlp((3, 4, 1), seeds=[0, 1], activation=activation)
        assert torch.isfinite(model.forward(x)).all(), activation
    for name in OPTIMIZERS:
        p = torch.ones(2, 3)
        opt = optim.make_optimizer(name, [p], lr=0.1)
        opt.step([torch.ones_like(p)])
        assert (p < 1).all(), name
    for loss in LOSSES:
        value, grad = trainer.per_seed_loss(torch.zeros(2, 5, 1), torch.ones(5, 1), loss)
        assert value.shape == (2,) and torch.isfinite(grad).all(), loss
    losses = np.array([[1.0, 2.0, 1.0]])
    for definition in BARRIER_DEFINITIONS:
        heights, _ = barriers.barrier(losses, [0.0, 0.5, 1.0], definition)
        assert heights[0] == 1.0, definition
