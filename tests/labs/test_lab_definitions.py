"""Every built-in lab's definition: its lazy steps resolve, and what it names without torch agrees.

A lab's ``__init__`` and ``config`` import neither torch nor scipy (tests/test_import_hygiene.py),
so the live metric keys in ``live_metrics`` are written twice (the steps log them too); these
tests keep both copies equal, check that toy-tasks' grouping implements every rule its config
offers (the config owns the names), and check that every step
function a lab names exists, lives in that lab's package and is the function the step runs.
"""

from __future__ import annotations

import importlib

import pytest

from workbench.core.lab import LazyStep
from workbench.core.registry import available_labs, load_lab

BUILTIN = sorted(n for n, e in available_labs().items() if e.target.startswith("workbench_labs."))


def test_the_six_builtin_labs_are_registered() -> None:
    assert BUILTIN == [
        "basin",
        "channels",
        "fuzzy-xor",
        "gpt2-residual-mi",
        "path-dependence",
        "toy-tasks",
    ]


@pytest.mark.parametrize("name", BUILTIN)
def test_every_step_is_lazy_and_resolves_to_a_function_of_its_lab(name: str) -> None:
    lab = load_lab(name)
    package = available_labs()[name].target.partition(":")[0]
    lab.resolve_steps()
    for step in lab.steps:
        assert isinstance(step.run, LazyStep), f"{name}/{step.key} imports its function eagerly"
        assert step.run.module.startswith(package + "."), step.run.target
        module = importlib.import_module(step.run.module)
        assert step.run.resolve() is getattr(module, step.run.qualname.split(".")[-1])


@pytest.mark.parametrize(
    ("lab_module", "steps_module", "constant"),
    [
        ("workbench_labs.basin", "workbench_labs.basin.steps", "LIVE_LLC"),
        ("workbench_labs.path_dependence", "workbench_labs.path_dependence.steps", "LIVE_BARRIER"),
        ("workbench_labs.toy_tasks", "workbench_labs.toy_tasks.training", "LIVE_IR"),
    ],
)
def test_the_live_metric_a_lab_declares_is_the_one_its_step_logs(
    lab_module: str, steps_module: str, constant: str
) -> None:
    lab = importlib.import_module(lab_module)
    logged = getattr(importlib.import_module(steps_module), constant)
    assert getattr(lab, constant) == logged
    assert logged in lab.LAB.live_metrics


def test_toy_tasks_grouping_implements_every_rule_and_mode_the_config_offers() -> None:
    import torch

    from workbench_labs.toy_tasks import config, grouping

    assert grouping.RULES is config.RULES and grouping.TOL_MODES is config.TOL_MODES
    acts = torch.tensor([[[0.0], [0.05], [1.0], [1.04]]])  # (seed, input, unit): two clusters
    for rule in config.RULES:
        for mode in config.TOL_MODES:
            c = grouping.scaled_codes([acts], 0.1, rule=rule, mode=mode).codes[0, 0].tolist()
            assert c[0] == c[1] != c[2] == c[3], (rule, mode, c)
