"""Shared test fixtures.

``one_thread`` / ``one_thread_per_module``: tests of tiny models run with one intra-op thread (more threads only add
synchronisation, which stalls badly on a shared 2-core CPU); modules opt in with
``pytestmark = pytest.mark.usefixtures("one_thread")`` (per test) or ``"one_thread_per_module"`` (once per module,
also covering module-scoped fixtures that come after it).
"""

import contextlib

import pytest
import torch


@contextlib.contextmanager
def _single_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


@pytest.fixture
def one_thread():
    with _single_thread():
        yield


@pytest.fixture(scope="module")
def one_thread_per_module():
    with _single_thread():
        yield
