"""The DECA tests run their torch ops on one thread (restored afterwards): their 256 px decoders and tiny
batches gain nothing from a second thread, and on a shared machine the thread contention made them tens of
times slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
