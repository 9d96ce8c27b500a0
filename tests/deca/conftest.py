"""The DECA tests run their torch ops on one thread (restored afterwards): their tiny batches gain nothing from
more, and on the shared 2-core machine extra threads only contend with the other jobs."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
