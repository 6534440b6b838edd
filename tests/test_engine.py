"""The training engine: loss falls, and interrupted + resumed training ends at the same weights."""

import torch
from torch import nn

from lfdm_bench.runs import Run
from lfdm_bench.checkpoints import load_checkpoint
from lfdm_bench.training.engine import StepBatchSampler, TrainConfig, Trainer


class Noisy(torch.utils.data.Dataset):
    """y = x @ w + noise, where x and the noise depend on the per-item seed (like random clip sampling)."""

    def __init__(self, n=64):
        self.n = n
        self.w = torch.arange(1.0, 5.0)

    def __len__(self):
        return self.n

    def __getitem__(self, item):
        i, seed = item
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(4, generator=g) + i * 0.01
        return x, (x @ self.w + 0.01 * torch.randn((), generator=g)).reshape(1)


def collate(items):
    return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])


def loss_fn(model, batch):
    x, y = batch
    h = nn.functional.dropout(model[1](model[0](x)), 0.1)  # uses the global RNG: resume must restore it
    loss = nn.functional.mse_loss(model[2](h), y)
    return loss, {"mse": float(loss)}


def _trainer(root, steps=60, **kw):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
    cfg = TrainConfig(steps=steps, batch_size=8, lr=3e-2, log_every=5, ckpt_every=7, lr_decay_at=(0.5,), ema_decay=0.9, seed=3, **kw)
    return Trainer(Run.create(root), "toy", model, loss_fn, Noisy(), collate, cfg, model_config={"a": 1}, progress=False)


def test_loss_falls(tmp_path):
    out = _trainer(tmp_path / "a").fit()
    h = out["losses"]
    assert sum(h[-5:]) / 5 < 0.2 * sum(h[:5]) / 5


def test_resume_matches_uninterrupted(tmp_path):
    full = _trainer(tmp_path / "full")
    full.fit()
    part = _trainer(tmp_path / "part")
    part.fit(stop_at=17)  # "killed" after step 17: the last checkpoint holds step 17
    assert load_checkpoint(tmp_path / "part/checkpoints/toy/last.pt")["step"] == 17
    resumed = _trainer(tmp_path / "part")  # a fresh process: new model, resumes from the checkpoint
    resumed.fit()
    a, b = full.model.state_dict(), resumed.model.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    ea, eb = full.ema.shadow.state_dict(), resumed.ema.shadow.state_dict()
    for k in ea:
        torch.testing.assert_close(ea[k], eb[k], rtol=1e-5, atol=1e-6)
    rows = (tmp_path / "part/logs/toy.csv").read_text().strip().splitlines()
    steps = [int(r.split(",")[0]) for r in rows[1:]]
    assert steps == sorted(set(steps)) and steps[-1] == 60  # no duplicated rows after the resume
    ck = load_checkpoint(tmp_path / "part/checkpoints/toy/last.pt")
    assert ck["finished"] and ck["model_config"] == {"a": 1}
    assert resumed.fit()["steps"] == 60  # a finished stage is not retrained


def test_sampler_is_a_function_of_step():
    a = StepBatchSampler(10, 4, 20, seed=1)
    b = StepBatchSampler(10, 4, 20, seed=1, start=5)
    assert list(a)[5:] == list(b)
    assert a.batch_for_step(3) != StepBatchSampler(10, 4, 20, seed=2).batch_for_step(3)
