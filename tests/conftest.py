"""Shared test fixtures.

``one_thread`` / ``one_thread_per_module``: tests of tiny models run with one intra-op thread (more threads only add
synchronisation, which stalls badly on a shared 2-core CPU); modules opt in with
``pytestmark = pytest.mark.usefixtures("one_thread")`` (per test) or ``"one_thread_per_module"`` (once per module,
also covering module-scoped fixtures that come after it).

Markers: ``e2e`` marks the end-to-end tests (tiny trainings, bench pipeline runs, CLI runs that train or sample,
subprocess jobs); ``pytest -m "not e2e" -q`` is the fast loop. A ``slow`` test counts as ``e2e`` too, so that the
fast loop's ``-m`` (which replaces the default ``-m 'not slow'``) leaves it out as well.

Shared builders (tiny datasets, detectors, models, writers) are in ``tests/helpers.py``.
"""

import contextlib

import pytest
import torch


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Every ``slow`` test is also ``e2e`` (runs before ``-m`` selects)."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.e2e)


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


@pytest.fixture()
def tiny_eval_set(tmp_path, monkeypatch) -> dict:
    """The tiny 4-subject dataset, a real-clip sample folder of its test split, a private cache, and the tiny
    detector in place of ``build_detector`` (each one built is appended to ``built``)."""
    import metrics.evaluate
    from lfdm_bench.data.registry import get_dataset
    from metrics.sanity import write_real_samples
    from helpers import make_tiny_dataset, tiny_detector

    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    manifest = make_tiny_dataset(tmp_path / "data")
    samples = tmp_path / "samples"
    write_real_samples(get_dataset(str(manifest)), samples, split="test", n_frames=10)
    built = []

    def fake_build(protocol):
        built.append(tiny_detector())
        return built[-1]

    monkeypatch.setattr(metrics.evaluate, "build_detector", fake_build)
    return {"manifest": str(manifest), "samples": samples, "tmp": tmp_path, "built": built}
