"""Several processes (gloo on the CPU, through accelerate as under ``accelerate launch``) compute what one process
computes: FVD features and statistics gathered across processes, and the training engine with DDP.

One 2-process job (tests/dist_worker.py) is started once for the module; each test compares its results with the
single-process computation in this process.
"""

import socket

import numpy as np
import pytest
import torch

import dist_worker as W
from lfdm_bench.checkpoints import load_checkpoint
from metrics.distributed import gather_features, gather_stats, shard
from metrics.fvd import fvd_from_stats


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    torch.multiprocessing.start_processes(W.worker, args=(2, _free_port(), str(out)), nprocs=2, join=True,
                                          start_method="spawn")
    return out, [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]


def test_shards_cover_every_index_once():
    for n in (0, 1, 5, 11):
        for world in (1, 2, 3):
            parts = [shard(n, r, world) for r in range(world)]
            assert [i for p in parts for i in p] == list(range(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1
    with pytest.raises(ValueError, match="outside"):
        shard(4, 2, 2)


def test_single_process_gather_is_the_identity():
    feats, stats = W.local_stats(W.videos(5, 0), range(5))
    assert gather_features(feats) is not feats and np.array_equal(gather_features(feats), feats)
    merged = gather_stats(stats)
    assert merged.n == 5 and np.array_equal(merged.cov(), stats.cov())


@pytest.mark.e2e
def test_gathered_features_and_stats_equal_one_process(job):
    _, ranks = job
    assert [r["rank"] for r in ranks] == [0, 1] and ranks[0]["world"] == 2
    assert ranks[0]["a_shard"] == (0, 6) and ranks[1]["a_shard"] == (6, 11)  # uneven shards
    single = {}
    for name, n, seed in (("a", W.N_A, 0), ("b", W.N_B, 1)):
        feats, stats = W.local_stats(W.videos(n, seed), range(n))
        single[name] = stats
        for r in ranks:
            assert np.array_equal(r[f"{name}_features"], feats)  # exact: the same array in the same order
            n_r, mean, cov = r[f"{name}_stats"]
            assert n_r == n
            np.testing.assert_allclose(mean, stats.mean(), rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(cov, stats.cov(1), rtol=1e-12, atol=1e-15)
    # FVD of the gathered statistics = FVD of one process (an FVD of per-process FVDs would not be)
    from metrics.fvd import FeatureStats, frechet_distance

    fvd_one = fvd_from_stats(single["a"], single["b"])
    (_, ma, ca), (_, mb, cb) = ranks[1]["a_stats"], ranks[1]["b_stats"]
    assert abs(frechet_distance(ma, ca, mb, cb) - fvd_one) <= 1e-12 * max(1.0, fvd_one)
    full_a = FeatureStats().update(ranks[0]["a_features"])
    full_b = FeatureStats().update(ranks[0]["b_features"])
    assert abs(fvd_from_stats(full_a, full_b) - fvd_one) <= 1e-12 * max(1.0, fvd_one)


@pytest.mark.e2e
def test_engine_two_processes_equal_one(job, tmp_path):
    out, ranks = job
    assert ranks[0]["ddp"] == "DistributedDataParallel"
    for k, v in ranks[0]["params"].items():  # DDP keeps the processes' weights identical
        assert torch.equal(v, ranks[1]["params"][k])
    ck = load_checkpoint(out / "run/checkpoints/toy/last.pt")  # written by process 0 alone, at the last step
    assert ck["step"] == 12 and ck["finished"]
    one = W.train_toy(str(tmp_path / "one")).model.state_dict()
    for k, v in one.items():  # each process took half of every step's batch; DDP averaged the gradients
        torch.testing.assert_close(ranks[0]["params"][k], v, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ck["model"][k], v, rtol=1e-5, atol=1e-6)
    log = (out / "run/logs/toy.csv").read_text().splitlines()
    assert len(log) == 1 + 3  # one writer: a header and the rows of steps 4, 8, 12


def test_each_process_takes_its_slice_of_every_step():
    from lfdm_bench.training.engine import StepBatchSampler

    one = list(StepBatchSampler(10, 6, 4, seed=1, start=1))
    parts = [list(StepBatchSampler(10, 6, 4, seed=1, start=1, rank=r, world=3)) for r in range(3)]
    assert [sum((p[s] for p in parts), []) for s in range(3)] == one
    assert all(len(b) == 2 for p in parts for b in p)
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        StepBatchSampler(10, 6, 4, world=4)


@pytest.mark.e2e
@pytest.mark.slow
def test_accelerate_launch_of_the_train_command(tmp_path):
    """README's multi-GPU line on the CPU: ``accelerate launch --multi_gpu --num_processes 2 -m lfdm_bench train``
    (2 processes, gloo) trains both stages, one process writes and prints (~20 s)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    launcher = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
                           str(_free_port()), "-m", "lfdm_bench", "train", "--config", "tiny", "--out",
                           str(tmp_path / "run"), "--no-progress"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run directory:") == 1 and proc.stdout.count("LFAE reconstruction") == 1
    for stage in ("lfae", "dm"):
        ck = load_checkpoint(tmp_path / "run" / "checkpoints" / stage / "last.pt")
        assert ck["finished"] and ck["step"] == 6
        rows = (tmp_path / "run" / "logs" / f"{stage}.csv").read_text().splitlines()
        assert len(rows) == 1 + 3  # one writer: steps 2, 4, 6
    assert "world=2" in (tmp_path / "run" / "logs" / "run.log").read_text()
