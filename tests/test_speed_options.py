"""The GPU speed levers, checked on the CPU against the plain path: fused SDPA attention vs an einsum reference,
a DDIM loop that reads nothing back to the host, bf16 sampling with fp32 updates, channels_last and
torch.compile in the training engine, per-process devices under a launcher."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lfdm_bench.models.unet3d import Attention
from lfdm_bench.runs import Run
from lfdm_bench.training.engine import TrainConfig, Trainer, to_channels_last
from lfdm_bench.training.items import TensorItems, stack_collate
from lfdm_bench.utils.device import autocast_dtype, pick_device
from helpers import einsum_attention, tiny_dm

pytestmark = pytest.mark.usefixtures("one_thread_per_module")


# ------------------------------------------------------------------------------------------- fused attention


@pytest.mark.parametrize("over,rotary", [("time", 8), ("time", 0), ("space", 0)])
def test_sdpa_attention_equals_einsum_reference(over, rotary):
    torch.manual_seed(0)
    att = Attention(16, heads=2, dim_head=8, over=over, rotary_dim=rotary).eval()
    x = torch.randn(2, 16, 5, 4, 3)  # [B, C, T, H, W]
    L = 5 if over == "time" else 12
    bias = torch.randn(2, L, L) if over == "time" else None
    with torch.no_grad():
        fused, ref = att(x, bias), einsum_attention(att, x, bias)
    assert (fused - ref).abs().max() < 1e-5
    assert (fused - x).abs().max() > 1e-2  # the attention branch contributes


# ------------------------------------------------------------------------------------------------ sampling


class HostReadGuard:
    """Raises on any Python-level read of a tensor to the host (``item``, ``tolist``, ``cpu``, ``numpy``, ``bool``,
    ``float``, ``int``) once :meth:`arm` was called: on CUDA each of those would wait for the GPU."""

    NAMES = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__")

    def __init__(self, monkeypatch):
        self.armed = False
        for name in self.NAMES:
            original = getattr(torch.Tensor, name)

            def guarded(t, *a, _name=name, _orig=original, **kw):
                if self.armed:
                    raise AssertionError(f"tensor.{_name}() inside the sampling loop")
                return _orig(t, *a, **kw)

            monkeypatch.setattr(torch.Tensor, name, guarded)

    def arm(self, fn):
        """Wrap a denoiser: the guard is armed from its first call on (after the sampler's set-up)."""
        def wrapped(*a, **kw):
            self.armed = True
            return fn(*a, **kw)
        return wrapped


@pytest.mark.parametrize("guidance", [1.0, 1.5])
def test_ddim_loop_reads_nothing_back_to_the_host(monkeypatch, guidance):
    dm = tiny_dm().eval()
    cond, cls = torch.randn(2, 2, 8, 8), torch.tensor([0, 2])
    kw = dict(guidance_scale=guidance, sampler="ddim", steps=4, eta=1.0, generator=torch.Generator().manual_seed(0),
              noise=torch.randn(2, 3, 3, 8, 8))
    reference = dm.diffusion.sample(dm.unet, (2, 3, 3, 8, 8), cond_image=cond, text_emb=dm.text(cls), **kw)
    guard = HostReadGuard(monkeypatch)
    kw["generator"] = torch.Generator().manual_seed(0)
    out = dm.diffusion.sample(guard.arm(dm.unet), (2, 3, 3, 8, 8), cond_image=cond, text_emb=dm.text(cls), **kw)
    guard.armed = False
    assert torch.equal(out.sample, reference.sample)


def test_bf16_sampling_keeps_fp32_updates_and_fp32_path_is_unchanged():
    dm = tiny_dm().eval()
    cond, cls, noise = torch.randn(2, 2, 8, 8), torch.tensor([0, 1]), torch.randn(2, 3, 3, 8, 8)
    kw = dict(steps=4, eta=0.0, guidance=1.5, noise=noise)
    plain = dm.diffusion.sample(dm.unet, (2, 3, 3, 8, 8), cond_image=cond, text_emb=dm.text(cls),
                                guidance_scale=1.5, steps=4, eta=0.0, noise=noise).sample
    fp32 = dm.sample(cond, cls, 3, precision="fp32", **kw).sample
    assert torch.equal(fp32, plain)
    calls = []
    dm.unet.register_forward_hook(lambda m, a, out: calls.append(out.dtype))
    bf16 = dm.sample(cond, cls, 3, precision="bf16", **kw).sample
    assert set(calls) == {torch.bfloat16} and bf16.dtype == torch.float32
    err = (bf16 - fp32).abs().max().item()
    assert 0 < err < 0.1, err  # bf16 network outputs, not bf16 samples
    assert autocast_dtype("auto", "cpu") is None and autocast_dtype("auto", "cuda") == torch.bfloat16
    with pytest.raises(ValueError, match="sample.precision"):
        dm.sample(cond, cls, 3, precision="fp16", **kw)


# ---------------------------------------------------------------------------------------------- the engine


def _dm_trainer(root, **cfg_kw) -> Trainer:
    model = tiny_dm(seed=1)
    g = torch.Generator().manual_seed(5)
    data = TensorItems({"x0": torch.tanh(torch.randn(8, 3, 2, 8, 8, generator=g)),
                        "cond": torch.randn(8, 2, 8, 8, generator=g), "cls": torch.arange(8) % 3})
    cfg = TrainConfig(steps=4, batch_size=4, lr=1e-3, log_every=1, ckpt_every=100, seed=2, mixed_precision="no",
                      **cfg_kw)

    def loss_fn(m, batch):
        return m(batch["x0"], batch["cond"], batch["cls"]), {}

    torch.manual_seed(0)
    return Trainer(Run.create(root), "dm", model, loss_fn, data, stack_collate, cfg, progress=False,
                   compile_modules=[model.unet])


def test_channels_last_training_equals_contiguous(tmp_path):
    plain, cl = _dm_trainer(tmp_path / "plain"), _dm_trainer(tmp_path / "cl", channels_last=True)
    conv = cl.model.unet.init_conv.weight
    assert conv.is_contiguous(memory_format=torch.channels_last_3d) and not conv.is_contiguous()
    torch.manual_seed(7)  # the loss draws t and the noise from the global RNG
    a = plain.fit()["losses"]
    torch.manual_seed(7)
    b = cl.fit()["losses"]
    assert len(a) == 4 and max(abs(x - y) for x, y in zip(a, b)) < 1e-5 * max(a)
    for (k, v), w in zip(plain.model.state_dict().items(), cl.model.state_dict().values()):
        torch.testing.assert_close(w, v, rtol=1e-4, atol=1e-5, msg=k)


def test_channels_last_mixed_2d_and_3d_model():
    m = to_channels_last(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv3d(4, 4, 1), nn.Linear(2, 2)))
    assert m[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert m[1].weight.is_contiguous(memory_format=torch.channels_last_3d)


def _compiled_vs_eager(tmp_path):
    """Losses of 3 engine steps on a tiny model, eager and with ``train.compile`` (+ the compiled trainer)."""
    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

        def forward(self, x, y):
            return nn.functional.mse_loss(self.net(x), y)

    def trainer(root, compile_):
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(1)
        x = torch.randn(16, 4, generator=g)
        data = TensorItems({"x": x, "y": x.sum(1, keepdim=True)})
        cfg = TrainConfig(steps=3, batch_size=4, lr=1e-2, log_every=1, ckpt_every=100, compile=compile_)
        return Trainer(Run.create(root), "toy", Toy(), lambda m, b: (m(b["x"], b["y"]), {}), data, stack_collate,
                       cfg, progress=False)

    eager = trainer(tmp_path / "eager", False).fit()["losses"]
    compiled_trainer = trainer(tmp_path / "compiled", True)
    return eager, compiled_trainer.fit()["losses"], compiled_trainer


@pytest.mark.e2e  # a trained model, shipped weights on videos or a whole network pass: the full suite runs it
def test_compile_option_traces_the_model(tmp_path, monkeypatch):
    """``train.compile`` compiles the model in place (dynamo's graph capture with the eager backend: fast)."""
    compile_ = nn.Module.compile
    compiled_modules = []

    def eager_backend(self, *a, **kw):
        compiled_modules.append(type(self).__name__)
        return compile_(self, backend="eager")

    monkeypatch.setattr(nn.Module, "compile", eager_backend)
    torch._dynamo.reset()
    eager, compiled, trainer = _compiled_vs_eager(tmp_path)
    assert compiled_modules == ["Toy"] and trainer.model._compiled_call_impl is not None
    assert max(abs(a - b) for a, b in zip(eager, compiled)) < 1e-6
    assert all("_orig_mod" not in k for k in trainer.model.state_dict())  # checkpoints keep their keys


@pytest.mark.slow
def test_compiled_training_equals_eager(tmp_path):
    """torch.compile with inductor (~40 s on 2 cores); skipped where inductor cannot build (no C++ toolchain)."""
    torch._dynamo.reset()
    try:
        eager, compiled, _ = _compiled_vs_eager(tmp_path)
    except Exception as e:  # noqa: BLE001 -- no C++ toolchain or an unsupported platform for inductor
        pytest.skip(f"torch.compile does not work on this machine: {type(e).__name__}: {str(e)[:200]}")
    assert max(abs(a - b) for a, b in zip(eager, compiled)) < 1e-5


def test_video_diffusion_forward_is_its_loss():
    dm = tiny_dm()
    x0, cond, cls = torch.randn(2, 3, 2, 8, 8), torch.randn(2, 2, 8, 8), torch.tensor([0, 1])
    torch.manual_seed(3)
    a = dm(x0, cond, cls)
    torch.manual_seed(3)
    assert torch.equal(a, dm.loss(x0, cond, cls))


def test_launcher_devices_and_ranks(monkeypatch):
    from lfdm_bench.utils import dist

    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert dist.world_size() == 4 and dist.rank() == 3 and not dist.is_main_process()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda", 1) == pick_device("cuda")
    assert pick_device("cuda:0") == torch.device("cuda", 0) and pick_device("cpu") == torch.device("cpu")
    monkeypatch.delenv("LOCAL_RANK")
    assert pick_device("auto") == torch.device("cuda")


def _count_host_reads(monkeypatch) -> list[str]:
    """Names of the Python-level reads of a tensor value to the host (each one waits for the GPU on CUDA), except
    torch.optim's reads of its step counters and the data loader's base seed (CPU tensors on every device)."""
    import sys

    seen: list[str] = []
    for name in ("item", "tolist", "numpy", "__bool__", "__float__"):
        original = getattr(torch.Tensor, name)

        def counted(t, *a, _name=name, _orig=original, **kw):
            caller = sys._getframe(1).f_code.co_filename.replace("\\", "/")
            if "torch/optim/" not in caller and "torch/utils/data/" not in caller:
                seen.append(_name)
            return _orig(t, *a, **kw)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return seen


def test_engine_reads_the_loss_back_once_per_step(tmp_path, monkeypatch):
    """The loss's finiteness check and its history share one read; the gradient norm and the loss function's logs
    (tensors) are read only for the log rows: 6 steps, a row every 3 -> 6 + 2 reads (was 3 per step)."""
    model = tiny_dm(seed=1)
    g = torch.Generator().manual_seed(5)
    data = TensorItems({"x0": torch.tanh(torch.randn(8, 3, 2, 8, 8, generator=g)),
                        "cond": torch.randn(8, 2, 8, 8, generator=g), "cls": torch.arange(8) % 3})
    cfg = TrainConfig(steps=6, batch_size=4, lr=1e-3, log_every=3, ckpt_every=100, seed=2, mixed_precision="no")

    def loss_fn(m, batch):
        loss = m(batch["x0"], batch["cond"], batch["cls"])
        return loss, {"half": (loss / 2).detach()}

    trainer = Trainer(Run.create(tmp_path), "dm", model, loss_fn, data, stack_collate, cfg, progress=False)
    reads = _count_host_reads(monkeypatch)
    out = trainer.fit()
    monkeypatch.undo()
    assert len(out["losses"]) == 6
    assert reads.count("__float__") == 6 + 2 * 2 and len(reads) == reads.count("__float__"), reads
    rows = (tmp_path / "logs" / "dm.csv").read_text().splitlines()
    header, last = rows[0].split(","), dict(zip(rows[0].split(","), rows[-1].split(",")))
    assert "half" in header and abs(float(last["half"]) - out["losses"][-1] / 2) < 1e-6
    assert float(last["grad_norm"]) > 0


def test_non_finite_loss_stops_before_the_update(tmp_path):
    """A NaN loss at step 3: FloatingPointError naming it, and the checkpoint holds the weights after step 2 (the
    optimizer never applied the NaN step)."""
    from lfdm_bench.checkpoints import load_checkpoint

    model = nn.Linear(3, 1)
    x = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    data = TensorItems({"x": x, "y": x.sum(1, keepdim=True)})
    calls = []

    def loss_fn(m, batch):
        calls.append(1)
        loss = nn.functional.mse_loss(m(batch["x"]), batch["y"])
        return (loss * float("nan") if len(calls) == 3 else loss), {}

    cfg = TrainConfig(steps=5, batch_size=4, lr=1e-2, log_every=1, ckpt_every=100, mixed_precision="no")
    trainer = Trainer(Run.create(tmp_path), "toy", model, loss_fn, data, stack_collate, cfg, progress=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(FloatingPointError, match="loss is nan at step 2"):
        trainer.fit()
    ck = load_checkpoint(tmp_path / "checkpoints" / "toy" / "last.pt")
    assert ck["step"] == 2 and not ck["finished"]
    for k, v in ck["model"].items():
        assert torch.isfinite(v).all() and torch.equal(v, model.state_dict()[k]) and not torch.equal(v, before[k])
