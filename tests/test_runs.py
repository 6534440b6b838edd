"""Run directories and atomic writes."""

import json
from pathlib import Path

import pytest

from lfdm_bench.runs import Run, environment
from lfdm_bench.utils.io import atomic_write_text, stable_hash


def test_create_open_and_env(tmp_path):
    run = Run.create(tmp_path / "r", config_yaml="a: 1\n")
    for d in ("logs", "checkpoints", "samples", "metrics"):
        assert (run.root / d).is_dir()
    assert (run.root / "config.yaml").read_text() == "a: 1\n"
    env = json.loads((run.root / "env.json").read_text())
    assert env["runs"][0]["packages"]["torch"]
    run.log("hello")
    Run.create(tmp_path / "r")  # reopening appends a second environment record (a resume)
    env = json.loads((run.root / "env.json").read_text())
    assert len(env["runs"]) == 2
    assert "hello" in (run.root / "logs" / "run.log").read_text()
    assert Run.open(tmp_path / "r").root == run.root


def test_open_non_run_names_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a run directory"):
        Run.open(tmp_path)


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "f.txt"
    atomic_write_text(p, "old")

    import lfdm_bench.utils.io as io_mod

    def boom(src, dst):
        raise OSError("disk died")

    monkeypatch.setattr(io_mod.os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(p, "new")
    assert p.read_text() == "old"
    assert [q.name for q in tmp_path.iterdir()] == ["f.txt"]  # no temp file left behind


def test_stable_hash_is_order_independent():
    assert stable_hash({"a": 1, "b": 2}) == stable_hash({"b": 2, "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})
    assert environment()["cpu_count"] >= 1


def test_model_kinds_and_stages_are_listed_once():
    """lfdm_bench.kinds is the one list of model kinds and stages: run folders, checkpoints, the LDM trainer, the
    generator registry, the benchmark config and ``train --model / --stage`` read it."""
    from lfdm_bench.commands import train
    from baselines.ldm.train import AE_STAGE, STAGES
    from bench.config import GENERATORS as BENCH_GENERATORS
    from bench.generators import GENERATORS
    from lfdm_bench.kinds import MODEL_STAGES, MODELS, RECORD_STAGES, STAGE_CHOICES, train_stages
    from lfdm_bench.runs import open_training_run

    assert MODELS == ("lfdm", "ldm", "vdm", "imaginator")
    assert RECORD_STAGES == ("dm", "lfae", "ae", "gan")  # newest checkpoint first
    assert STAGE_CHOICES == ("lfae", "ae", "dm", "gan", "all") and train_stages("ldm") == ("ae", "dm", "all")
    assert train_stages("vdm") == ("dm", "all")  # VDM (pixel space) has no stage 1
    assert train_stages("imaginator") == ("gan", "all")  # a GAN: one stage
    assert tuple(GENERATORS) == MODELS == BENCH_GENERATORS and (AE_STAGE, *MODEL_STAGES["ldm"][1:], "all") == STAGES
    params = {p.name: p for p in train.params}
    assert tuple(params["model"].type.choices) == MODELS and tuple(params["stage"].type.choices) == STAGE_CHOICES
    with pytest.raises(ValueError, match="model must be one of"):
        open_training_run(Path("unused"), "gan", "a: 1\n")
