"""Issue 13, item 10: no litter. Temporary files of a killed atomic write are removed by the next write of the same
file (and when training resumes); feature-cache names keep the dataset's name; progress written to a file or a CI
log is a plain line now and then, not carriage-return frames."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest

from metrics.feature_cache import FeatureCache, cache_prefix
from lfdm_bench.utils.io import atomic_torch_save, atomic_write_text, stale_temp_files
from lfdm_bench.utils.progress import LineProgress, progress_bar

ROOT = Path(__file__).resolve().parent.parent


def _leftover(folder: Path, name: str, age_s: float = 30 * 86400.0) -> Path:
    p = folder / f".{name}.k3x_9qzz.tmp"  # mkstemp's pattern: 8 characters of [a-z0-9_]
    p.write_bytes(b"half a checkpoint")
    old = time.time() - age_s  # older than this (test) process: a killed earlier one left it
    os.utime(p, (old, old))
    return p


def test_next_atomic_write_removes_leftovers_of_a_killed_one(tmp_path):
    stale = _leftover(tmp_path, "last.pt")
    other = _leftover(tmp_path, "state.json")  # another target's leftover: not this write's business
    fresh = tmp_path / ".last.pt.abcdefgh.tmp"  # a write in flight of this process (newer than its start)
    fresh.write_bytes(b"")
    mine = tmp_path / ".last.pt.notes.txt"  # not of the pattern
    mine.write_text("keep")
    assert stale_temp_files(tmp_path / "last.pt") == [stale]
    atomic_torch_save({"step": 1}, tmp_path / "last.pt")
    assert not stale.exists() and other.exists() and fresh.exists() and mine.exists()
    atomic_write_text(tmp_path / "state.json", "{}")
    assert not other.exists()


def test_training_resume_removes_leftover_checkpoint_writes(tmp_path):
    import torch

    from lfdm_bench.runs import Run
    from lfdm_bench.training.engine import TrainConfig, Trainer

    run = Run.create(tmp_path / "run")
    folder = run.checkpoints / "toy"
    folder.mkdir(parents=True)
    stale = _leftover(folder, "last.pt")
    model = torch.nn.Linear(2, 1)
    trainer = Trainer(run, "toy", model, lambda m, b: m(b).pow(2).mean(), torch.utils.data.TensorDataset(
        torch.zeros(4, 2)), None, TrainConfig(steps=1, batch_size=2), progress=False)
    assert trainer.try_resume() is False and not stale.exists()


def test_cache_file_names_keep_the_dataset_name(tmp_path):
    cache = FeatureCache(tmp_path)
    assert cache.path({"dataset": "synth-faces"}).name.startswith("synth-faces-")
    long_manifest = "/very/long/path/to/the/cache/of/datasets/synth-faces-65b4aa17c0d3e9f1/manifest.csv"
    name = cache.path({"dataset": long_manifest}).name
    assert name.startswith("synth-faces-65b4aa17c0d3e9f1-manifest-"), name  # lost its first letter(s) before
    assert cache_prefix("a" * 60) == "a" * 40


def test_progress_to_a_file_is_plain_lines(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    out = io.StringIO()
    bar = progress_bar(total=100, desc="train", unit="step", file=out, interval=30, dynamic_ncols=True)
    assert isinstance(bar, LineProgress)
    for _ in range(100):
        clock[0] += 1.0  # one step a second: a line every 30 s
        bar.update(1)
        bar.set_postfix(loss="0.5")
    bar.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 4  # at 30, 60, 90 s and the last one
    assert lines[0] == "train: 30/100 step (30%), 00:30, 1.00 step/s, loss=0.5"
    assert lines[-1].startswith("train: 100/100 step (100%), 01:40")


def test_progress_on_a_terminal_is_tqdm():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    from tqdm.auto import tqdm

    bar = progress_bar(range(3), desc="x", file=Tty())
    assert isinstance(bar, tqdm)
    assert list(bar) == [0, 1, 2]
    assert isinstance(progress_bar(range(3), disable=True, file=Tty()), LineProgress)


def test_every_progress_bar_goes_through_progress_bar():
    """No module but lfdm_bench/utils/progress.py uses tqdm directly (its bars fill logs with frames)."""
    offenders = []
    for folder in ("lfdm_bench", "metrics", "baselines", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "progress.py" and path.parent.name == "utils":
                continue
            if re.search(r"^\s*(from tqdm|import tqdm)", path.read_text(), re.M):
                offenders.append(str(path.relative_to(ROOT)))
    assert (ROOT / "cli.py").read_text().count("tqdm") == 0
    assert offenders == []


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_cli_progress_without_terminal_has_no_carriage_returns(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cli import main

    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    r = CliRunner().invoke(main, ["data", "make", "synth-faces", "--size", "32", "--frames", "8", "--subjects", "2",
                                  "--takes", "1"])
    assert r.exit_code == 0, r.output
    assert "\r" not in r.output
    assert re.search(r"^generating synth-faces: 14/14 video \(100%\), \d\d:\d\d", r.output, re.M), r.output
