"""Checkpoints are self-sufficient: sampling a trained run needs nothing but its checkpoints.

Sampling after ``config.yaml`` and ``run.json`` were deleted writes byte-identical videos (LFDM and LDM); the flow
codec comes from the checkpointed config, and a displacement-trained DM is decoded as displacements; a checkpoint
from before the run record was stored falls back to ``config.yaml`` and, without it, says what is missing.
"""

import pytest
import torch

from bench.generators import open_trained_run
from lfdm_bench.checkpoints import load_checkpoint, run_record
from lfdm_bench.config import load_config, resolve_config_path
from lfdm_bench.data.records import read_manifest
from lfdm_bench.kinds import RECORD_STAGES
from lfdm_bench.utils.io import atomic_torch_save

OVERRIDES = ["lfae.train.steps=2", "dm.train.steps=2", "data.n_frames=10", "dm.flow_target.kind=displacement",
             "dm.diffusion.dynamic_threshold=null"]
LDM_OVERRIDES = ["ae.train.steps=2", "dm.train.steps=2", "data.n_frames=10"]

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("one_thread_per_module")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny LFDM run (displacement flow target) and a tiny LDM run, trained 2 + 2 steps, with a private cache."""
    from baselines.ldm.config import load_ldm_config
    from baselines.ldm.train import open_ldm_run, train_ldm_run
    from lfdm_bench.lfdm.config import LFDMConfig
    from lfdm_bench.lfdm.train import open_lfdm_run, train_lfdm_run

    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("self-sufficient")
    mp.setenv("LFDM_BENCH_CACHE", str(root / "cache"))
    cfg = load_config(LFDMConfig, resolve_config_path("tiny"), OVERRIDES)
    lfdm = open_lfdm_run(cfg, root / "lfdm", "tiny", OVERRIDES)
    train_lfdm_run(cfg, lfdm, "all", progress=False)
    lcfg = load_ldm_config("ldm-tiny", LDM_OVERRIDES)
    ldm = open_ldm_run(lcfg, root / "ldm", "ldm-tiny", LDM_OVERRIDES)
    train_ldm_run(lcfg, ldm, "all", progress=False)
    yield {"lfdm": lfdm.root, "ldm": ldm.root}
    mp.undo()


def _videos(manifest) -> dict[str, bytes]:
    return {r.take: open(r.path, "rb").read() for r in read_manifest(manifest)}


def _pixel_diff(a, b) -> list:
    from lfdm_bench.data.video_io import read_video

    ra, rb = ({r.take: r.path for r in read_manifest(m)} for m in (a, b))
    return [int(abs(read_video(ra[k]).astype(int) - read_video(rb[k]).astype(int)).max()) for k in ra]


@pytest.mark.parametrize("model", ["lfdm", "ldm"])
def test_sampling_without_config_yaml_gives_identical_videos(runs, model):
    run = runs[model]
    m1 = open_trained_run(run).sample("test", out=run / "samples" / "with-yaml", progress=False)
    before = _videos(m1)
    (run / "config.yaml").unlink()
    (run / "run.json").unlink()
    trained = open_trained_run(run)
    assert trained.model == model and trained.config.data.n_frames == 10
    m2 = trained.sample("test", out=run / "samples" / "without-yaml", progress=False)
    after = _videos(m2)
    assert len(before) == 14 and after.keys() == before.keys()
    assert all(after[k] == before[k] for k in before), f"videos differ once config.yaml is gone {_pixel_diff(m1, m2)}"


def test_flow_codec_comes_from_the_checkpoint(runs):
    """The DM checkpoint names the displacement target; decoding its output as grids would give other motion."""
    from lfdm_bench.lfdm.load import flow_codec, lfdm_config
    from lfdm_bench.training.trained_models import load_dm, load_lfae
    from lfdm_bench.lfdm.sample import lfdm_generator
    from lfdm_bench.models.flow_target import FlowTargetCodec, FlowTargetConfig
    from lfdm_bench.runs import Run
    from lfdm_bench.sampling.eval_set import EvalSource

    run = Run(runs["lfdm"])
    ck = load_checkpoint(run.checkpoints / "dm" / "last.pt")
    assert ck["run"]["model"] == "lfdm" and ck["run"]["config"]["dm"]["flow_target"]["kind"] == "displacement"
    cfg = lfdm_config(run)
    lfae, dm = load_lfae(run), load_dm(run)
    with pytest.raises(TypeError, match="codec"):
        lfdm_generator(lfae, dm, 10)  # no silent default
    rec = read_manifest(next((run.root / "samples").glob("*/manifest.csv")))[0]
    src = [EvalSource("x", rec, 0, rec.class_name, rec.text, 3)]
    image = torch.rand(1, 3, 32, 32)
    right = lfdm_generator(lfae, dm, 10, codec=flow_codec(cfg))(image, src)
    wrong = lfdm_generator(lfae, dm, 10, codec=FlowTargetCodec(FlowTargetConfig(kind="grid")))(image, src)
    assert right.shape == (1, 10, 3, 32, 32) and not torch.allclose(right, wrong)


def test_legacy_checkpoint_without_run_record(runs, tmp_path):
    """A checkpoint written before the run record falls back to config.yaml; with that gone the error says what is
    missing and how to fix it."""
    import shutil

    from lfdm_bench.config import dump_yaml
    from lfdm_bench.lfdm.config import LFDMConfig

    run = tmp_path / "legacy"
    shutil.copytree(runs["lfdm"], run, ignore=shutil.ignore_patterns("samples", "cache"))
    for stage in RECORD_STAGES:
        path = run / "checkpoints" / stage / "last.pt"
        if path.is_file():
            ck = load_checkpoint(path)
            del ck["run"]
            atomic_torch_save(ck, path)
    with pytest.raises(FileNotFoundError, match="config.yaml is missing; restore the run's config.yaml"):
        run_record(run)
    cfg = load_config(LFDMConfig, resolve_config_path("tiny"), OVERRIDES)
    (run / "config.yaml").write_text(dump_yaml(cfg))
    record = run_record(run)
    assert record.model == "lfdm" and "legacy checkpoint" in record.source
    assert open_trained_run(run).config == cfg
