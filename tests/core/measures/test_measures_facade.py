"""The public facade and numpy/torch parity for every measure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import workbench.core.measures as core
import workbench.measures as measures

ISSUE_NAMES = [
    "discretize",
    "entropy",
    "joint_entropy",
    "mutual_information",
    "information_ratio",
    "information_ratio_matrix",
    "similarity",
    "normalized_similarity",
    "gaussian_entropy",
    "gaussian_mutual_information",
    "permutation_test",
    "bootstrap_interval",
    "jackknife_interval",
    "StreamingCovariance",
    "StreamingJointCovariance",
    "ksg_mutual_information",
    "linear_cka",
    "covariance_spectrum",
    "power_law_exponent",
    "participation_ratio",
    "effective_rank",
]


def test_facade_reexports_everything_from_core() -> None:
    assert sorted(measures.__all__) == sorted(core.__all__)
    for name in core.__all__:
        assert getattr(measures, name) is getattr(core, name)
    assert set(ISSUE_NAMES) <= set(measures.__all__)


def test_every_public_function_documents_itself() -> None:
    for name in measures.__all__:
        assert (getattr(measures, name).__doc__ or "").strip(), name


RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 3))
Y = X @ RNG.normal(size=(3, 2)) + RNG.normal(size=(64, 2))
CODES_A = RNG.integers(0, 4, size=64)
CODES_B = (CODES_A + RNG.integers(0, 2, size=64)) % 4

PARITY: list[tuple[str, Callable[..., Any], tuple[np.ndarray, ...]]] = [
    ("entropy", measures.entropy, (CODES_A,)),
    ("joint_entropy", measures.joint_entropy, (CODES_A, CODES_B)),
    ("mutual_information", measures.mutual_information, (CODES_A, CODES_B)),
    ("information_ratio", measures.information_ratio, (CODES_A, CODES_B)),
    (
        "information_ratio_matrix",
        measures.information_ratio_matrix,
        (np.stack([CODES_A, CODES_B]),),
    ),
    ("discretize", measures.discretize, (np.round(X, 0),)),
    ("gaussian_entropy", measures.gaussian_entropy, (X,)),
    ("gaussian_mutual_information", measures.gaussian_mutual_information, (X, Y)),
    ("ksg_mutual_information", measures.ksg_mutual_information, (X, Y)),
    ("linear_cka", measures.linear_cka, (X, Y)),
    ("covariance_spectrum", measures.covariance_spectrum, (X,)),
    ("participation_ratio", measures.participation_ratio, (np.array([3.0, 2.0, 1.0]),)),
    ("effective_rank", measures.effective_rank, (np.array([3.0, 2.0, 1.0]),)),
]


@pytest.mark.parametrize(("name", "fn", "args"), PARITY, ids=[p[0] for p in PARITY])
def test_numpy_and_torch_inputs_give_equal_answers(
    name: str, fn: Callable[..., Any], args: tuple[np.ndarray, ...]
) -> None:
    from_numpy = fn(*args)
    from_torch = fn(*(torch.from_numpy(a) for a in args))
    assert type(from_numpy) is type(from_torch)
    np.testing.assert_allclose(from_torch, from_numpy, rtol=1e-12, atol=1e-14)
