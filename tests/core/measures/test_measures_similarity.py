"""Network similarity from layer codes: the sprint's Sim and the normalised variant."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.measures import (
    discretize,
    information_ratio,
    information_ratio_matrix,
    normalized_similarity,
    similarity,
)

FIVE_BITS = np.array([[(i >> k) & 1 for k in range(5)] for i in range(32)], dtype=np.float64)
IDENTITY = discretize(FIVE_BITS)
FIRST_BIT = discretize(FIVE_BITS[:, :1])
SECOND_BIT = discretize(FIVE_BITS[:, 1:2])

networks = st.integers(2, 12).flatmap(
    lambda n: st.tuples(
        st.lists(st.lists(st.integers(0, 3), min_size=n, max_size=n), min_size=1, max_size=4),
        st.lists(st.lists(st.integers(0, 3), min_size=n, max_size=n), min_size=1, max_size=4),
    )
)


def test_sim_is_the_mean_information_ratio_over_layer_pairs() -> None:
    x, y = [IDENTITY, FIRST_BIT], [FIRST_BIT, SECOND_BIT, IDENTITY]
    expected = np.mean([information_ratio(a, b) for a in x for b in y])
    assert similarity(x, y) == pytest.approx(expected, abs=1e-12)


def test_closed_form_example() -> None:
    # IR(identity, first bit) = 0.2, IR(first bit, first bit) = 1.
    x, y = [IDENTITY, FIRST_BIT], [FIRST_BIT]
    assert similarity(x, y) == pytest.approx(0.6, abs=1e-12)
    # Best matches: rows (0.2, 1) -> 0.6, column (1) -> 1; average 0.8.
    assert normalized_similarity(x, y) == pytest.approx(0.8, abs=1e-12)


def test_sim_is_not_maximal_at_self_comparison_but_the_normalised_one_is() -> None:
    # The sprint's observation: two independent layers make Sim(X, X) = 1/2 ...
    x = [FIRST_BIT, SECOND_BIT]
    y = [FIRST_BIT]
    assert similarity(x, x) == pytest.approx(0.5, abs=1e-12)
    # ... while a one-layer network scores Sim(Y, Y) = 1 and Sim(X, Y) = 0.5 = Sim(X, X).
    assert similarity(x, y) == pytest.approx(similarity(x, x), abs=1e-12)
    assert normalized_similarity(x, x) == 1.0
    assert normalized_similarity(x, y) < 1.0


@settings(max_examples=60, deadline=None, database=None)
@given(networks)
def test_normalised_similarity_is_at_most_one_symmetric_and_one_at_self(pair) -> None:  # type: ignore[no-untyped-def]
    x, y = np.array(pair[0]), np.array(pair[1])
    value = normalized_similarity(x, y)
    assert -1e-12 <= value <= 1.0 + 1e-12
    assert value == pytest.approx(normalized_similarity(y, x), abs=1e-12)
    assert normalized_similarity(x, x) == pytest.approx(1.0, abs=1e-12)
    assert normalized_similarity(x, x[::-1]) == pytest.approx(1.0, abs=1e-12)


def test_cosine_normalisation_can_exceed_one() -> None:
    # Why normalized_similarity is a best-match score and not Sim/sqrt(Sim·Sim): IR is not a
    # positive semi-definite kernel, and for these two 16-layer networks on 6 inputs the
    # cosine-style ratio exceeds 1 (found by searching over all partitions of 6 samples).
    x = [
        [0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1], [0, 0, 1, 2, 2, 3], [0, 0, 1, 2, 2, 3],
        [0, 1, 0, 0, 1, 1], [0, 1, 0, 1, 1, 0], [0, 1, 0, 1, 2, 2], [0, 1, 1, 0, 1, 0],
        [0, 1, 1, 0, 1, 0], [0, 1, 1, 1, 2, 3], [0, 1, 2, 0, 1, 3], [0, 1, 2, 0, 2, 1],
        [0, 1, 2, 1, 0, 2], [0, 1, 2, 1, 0, 2], [0, 1, 2, 1, 2, 1], [0, 1, 2, 2, 0, 1],
    ]  # fmt: skip
    y = [[0, 0, 1, 0, 0, 2]] * 2 + [[0, 1, 1, 1, 2, 1]] * 2 + [[0, 1, 2, 3, 4, 5]] * 12
    cosine = similarity(x, y) / np.sqrt(similarity(x, x) * similarity(y, y))
    assert cosine > 1.005
    assert normalized_similarity(x, y) <= 1.0
    assert np.linalg.eigvalsh(information_ratio_matrix(x + y)).min() < 0


def test_mismatched_inputs_raise() -> None:
    with pytest.raises(ValueError, match="samples"):
        similarity([IDENTITY], [IDENTITY[:16]])
