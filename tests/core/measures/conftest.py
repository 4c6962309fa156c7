"""Shared settings for the measures tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_torch_thread() -> Iterator[None]:
    """Run each measures test on one intra-op thread, then restore the setting.

    These tests use small tensors, where threading gains nothing; and when other processes
    compete for the cores (CI on 2 cores, parallel workers), each multi-threaded op can wait a
    full scheduler time slice for its second thread, making tiny ops ~100x slower.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
