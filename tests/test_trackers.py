"""Training trackers (``train.log_with``): TensorBoard event files hold exactly the CSV log's scalars (also across an
interruption), the preview as an image; unknown or missing trackers fail with a message naming the option."""

import csv
import importlib.util
import math
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from lfdm_bench.config import ConfigError, load_config
from lfdm_bench.lfdm.config import LFDMConfig
from lfdm_bench.runs import Run
from lfdm_bench.training.engine import TrainConfig, Trainer
from lfdm_bench.training.trackers import frame_strip, parse_log_with

HAVE_TB = importlib.util.find_spec("tensorboard") is not None
needs_tb = pytest.mark.skipif(not HAVE_TB, reason="tensorboard not installed (pip install -e '.[tensorboard]')")
PREVIEW = np.random.default_rng(0).integers(0, 256, (6, 10, 14, 3), dtype=np.uint8)  # [T, H, W, 3]


class Linear(torch.utils.data.Dataset):
    def __len__(self):
        return 32

    def __getitem__(self, item):
        i, seed = item
        x = torch.randn(3, generator=torch.Generator().manual_seed(seed))
        return x, x.sum(0, keepdim=True) + 0.01 * i


def collate(items):
    return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])


def loss_fn(model, batch):
    x, y = batch
    mse = nn.functional.mse_loss(model(x), y)
    l1 = nn.functional.l1_loss(model(x), y)
    return mse + 0.1 * l1, {"mse": float(mse.detach()), "l1": float(l1.detach())}


def _trainer(root, **kw):
    torch.manual_seed(0)
    cfg = TrainConfig(steps=12, batch_size=4, lr=1e-2, log_every=2, ckpt_every=3, lr_decay_at=(0.5,), seed=1,
                      grad_clip=None, sample_every=4, log_with="tensorboard", **kw)
    return Trainer(Run.create(root), "toy", nn.Linear(3, 1), loss_fn, Linear(), collate, cfg, progress=False,
                   on_sample=lambda model, step: PREVIEW)


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def _check_scalars_match_csv(root):
    rows = _csv(root / "logs" / "toy.csv")
    acc = _events(root / "logs" / "tensorboard" / "toy")
    tags = set(acc.Tags()["scalars"])
    assert {"loss", "lr", "it_s", "mse", "l1"} <= tags and "grad_norm" not in tags  # NaN (no clipping): left out
    for tag in tags:
        events = acc.Scalars(tag)
        want = [(int(r["step"]), float(r[tag])) for r in rows if not math.isnan(float(r[tag]))]
        assert [e.step for e in events] == [s for s, _ in want], tag  # every row once, no stale steps
        np.testing.assert_allclose([e.value for e in events], [v for _, v in want], rtol=1e-6, err_msg=tag)
    return acc, rows


@needs_tb
def test_tensorboard_scalars_match_csv_and_preview_is_an_image(tmp_path):
    out = _trainer(tmp_path / "run").fit()
    assert out["steps"] == 12
    acc, rows = _check_scalars_match_csv(tmp_path / "run")
    assert [int(r["step"]) for r in rows] == [2, 4, 6, 8, 10, 12]
    lr = {e.step: e.value for e in acc.Scalars("lr")}
    assert lr[4] == pytest.approx(1e-2) and lr[6] == pytest.approx(1e-3)  # the decay at half-way shows
    images = acc.Images("preview")
    assert [e.step for e in images] == [4, 8, 12]  # every sample_every steps and at the end
    strip = frame_strip(PREVIEW)
    assert (images[0].width, images[0].height) == (strip.shape[1], strip.shape[0])


@needs_tb
def test_tensorboard_resume_purges_steps_after_the_checkpoint(tmp_path):
    root = tmp_path / "run"
    _trainer(root).fit(stop_at=4)  # checkpoints at steps 3 and 4
    ck = root / "checkpoints" / "toy" / "last.pt"
    step3 = tmp_path / "step3.pt"
    _trainer(tmp_path / "other").fit(stop_at=3)
    shutil.copy(tmp_path / "other" / "checkpoints" / "toy" / "last.pt", step3)
    _trainer(root).fit(stop_at=8)  # resumes at 4; logs 6, 8
    shutil.copy(step3, ck)  # as if the process had died after step 8 with its last checkpoint at step 3
    _trainer(root).fit()  # resumes at 3: CSV rows and events after step 3 are dropped and written again
    _check_scalars_match_csv(root)


def test_frame_strip_layout():
    video = np.zeros((16, 4, 6, 3), np.uint8)
    video[:, :, :, 0] = np.arange(16)[:, None, None]
    tall = frame_strip(video, max_frames=8, pad=2)  # frames wider than tall: stacked vertically
    assert tall.shape == (8 * 4 + 7 * 2, 6, 3)
    assert tall[0, 0, 0] == 0 and tall[-1, 0, 0] == 15 and tall[4, 0, 0] == 255  # first, last frame, white gap
    wide = frame_strip(video.transpose(0, 2, 1, 3), max_frames=3, pad=1)
    assert wide.shape == (6, 3 * 4 + 2, 3)


def test_log_with_is_validated():
    assert parse_log_with(None) == () and parse_log_with("csv") == ()
    assert parse_log_with("TensorBoard, wandb,tensorboard") == ("tensorboard", "wandb")
    with pytest.raises(ConfigError, match=r"lfae\.train.*unknown tracker.*'tensorbord'.*tensorboard, wandb"):
        load_config(LFDMConfig, None, ["lfae.train.log_with=tensorbord"])


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed")
def test_wandb_missing_is_a_clear_error(tmp_path):
    """The option is accepted by the config; training refuses to start without the package."""
    from cli import main

    assert load_config(LFDMConfig, None, ["dm.train.log_with=wandb"]).dm.train.log_with == "wandb"
    with pytest.raises(ConfigError, match=r"toy: train\.log_with=wandb needs the 'wandb' package.*pip install wandb"):
        Trainer(Run.create(tmp_path / "w"), "toy", nn.Linear(3, 1), loss_fn, Linear(), collate,
                TrainConfig(steps=2, log_with="wandb"), progress=False)
    r = CliRunner().invoke(main, ["train", "--config", "tiny", "--out", str(tmp_path / "cli"), "--no-progress",
                                  "--set", "lfae.train.log_with=wandb"])
    assert r.exit_code == 2 and "needs the 'wandb' package" in r.output, r.output
    assert not list((tmp_path / "cli").rglob("*.pt"))  # refused before any training


@pytest.mark.e2e
@needs_tb
def test_lfdm_training_with_tensorboard(tmp_path, monkeypatch):
    """The CLI option end to end on the tiny LFAE stage: its CSV columns and its preview GIF reach TensorBoard."""
    from cli import main

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    run = tmp_path / "tiny"
    r = CliRunner().invoke(main, ["train", "--config", "tiny", "--stage", "lfae", "--out", str(run), "--no-progress",
                                  "--set", "lfae.train.log_with=tensorboard"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = _csv(run / "logs" / "lfae.csv")
    acc = _events(run / "logs" / "tensorboard" / "lfae")
    for col in rows[0]:
        if col != "step" and not math.isnan(float(rows[0][col])):
            got = [(e.step, e.value) for e in acc.Scalars(col)]
            assert got == [(int(r["step"]), pytest.approx(float(r[col]), rel=1e-6)) for r in rows], col
    assert [e.step for e in acc.Images("preview")] == [6]
    assert (run / "samples" / "progress" / "lfae_step000006.gif").is_file()
