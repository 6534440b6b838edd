"""Benchmark the 3D U-Net denoiser: one training step (diffusion loss, backward, Adam) and DDIM-10 sampling.

Prints seconds per iteration, parameters, FLOPs (FlopCounterMode), peak GPU memory and the machine, one line per
latent size, plus one JSON line per result (``--json``). Defaults are the CPU anchor of
shared/reference/performance.md: dim 32, mults (1, 2, 4), LFDM conditioning (z0 256 channels, 768-d text),
batch 8, 16 frames, 8x8 and 16x16 latents (official-style network: 0.65 s and 7.2 s per training step on the
2-core CPU). On CUDA the step runs under bf16 autocast with channels_last_3d (``--no-amp``/``--no-channels-last``
to turn off).

    python scripts/bench_unet.py                                  # CPU anchor
    python scripts/bench_unet.py --device cuda --dim 64 --mults 1 2 4 8 --batch 5 --frames 40 --sizes 32
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from lfdm_bench.diffusion.gaussian import GaussianDiffusion
from lfdm_bench.diffusion.schedule import DiffusionConfig
from lfdm_bench.models.unet3d import UNet3D, UNet3DConfig

CPU_ANCHORS_S = {8: 0.65, 16: 7.2}  # official-style U-Net, dim 32, mults (1,2,4), batch 8, 16 frames, 2-core CPU


def machine_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads (torch {torch.__version__})"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, warmup: int, iters: int) -> tuple[list[float], list[float]]:
    """Wall-clock and process CPU seconds of each of ``iters`` calls after ``warmup`` calls. On a shared CPU the
    CPU seconds (summed over threads) are the less load-dependent figure."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(iters):
        sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        sync(device)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def bench_size(args, size: int, device: torch.device) -> dict:
    cfg = UNet3DConfig(
        in_channels=args.channels, out_channels=args.channels, cond_channels=args.cond_channels,
        out_heads=(2, 1) if args.channels == 3 else (), dim=args.dim, dim_mults=tuple(args.mults),
        attn_heads=args.heads, attn_dim_head=32, text_dim=args.text_dim,
    )
    torch.manual_seed(0)
    model = UNet3D(cfg).to(device)
    gd = GaussianDiffusion(DiffusionConfig()).to(device)
    amp = device.type == "cuda" and not args.no_amp
    channels_last = (device.type == "cuda" and not args.no_channels_last) or args.channels_last
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=2e-4, betas=(0.9, 0.99))
    B, T = args.batch, args.frames
    x0 = torch.randn(B, cfg.in_channels, T, size, size, device=device).contiguous(memory_format=fmt)
    cond = torch.randn(B, cfg.cond_channels, size, size, device=device) if cfg.cond_channels else None
    if cond is not None and args.cond_per_frame:  # the official cost: z0 repeated over frames before the conv
        cond = cond[:, :, None].repeat(1, 1, T, 1, 1).contiguous(memory_format=fmt)
    text = torch.randn(B, cfg.text_dim, device=device) if cfg.text_dim else None
    gen = torch.Generator(device).manual_seed(0)

    def train_step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = gd.training_loss(model, x0, cond_image=cond, text_emb=text, generator=gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sample(scale: float):
        def run():
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                gd.sample(model, tuple(x0.shape), cond_image=cond, text_emb=text, guidance_scale=scale,
                          sampler="ddim", steps=10, eta=1.0, generator=gen, device=device)
        return run

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    train_s, train_cpu = timed(train_step, device, args.warmup, args.iters)
    peak_train = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    model.eval()
    sample_s, sample_cpu = timed(sample(1.0), device, args.sample_warmup, args.sample_iters)
    sample_g_s = None
    if args.guided and cfg.text_dim:
        sample_g_s, _ = timed(sample(1.5), device, args.sample_warmup, args.sample_iters)
    fwd = model.flops_per_forward(tuple(x0.shape))
    train_flops = model.flops_per_forward(tuple(x0.shape), backward=True)
    med = statistics.median(train_s)
    return dict(
        size=size, batch=B, frames=T, dim=args.dim, mults=list(args.mults), params=model.num_parameters(),
        device=str(device), amp_bf16=amp, channels_last=channels_last, cond_per_frame=args.cond_per_frame,
        train_s_per_it=med, train_s_all=[round(t, 4) for t in train_s],
        train_cpu_s_per_it=statistics.median(train_cpu) if device.type == "cpu" else None,
        sample_ddim10_s=statistics.median(sample_s),
        sample_ddim10_cpu_s=statistics.median(sample_cpu) if device.type == "cpu" else None,
        sample_ddim10_guided_s=statistics.median(sample_g_s) if sample_g_s else None,
        fwd_gflop=fwd / 1e9, train_tflop_per_step=train_flops / 1e12, achieved_tflops=train_flops / med / 1e12,
        peak_train_gib=peak_train, threads=torch.get_num_threads(),
    )


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--mults", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--heads", type=int, default=8, help="attention heads (x 32 channels each)")
    p.add_argument("--channels", type=int, default=3, help="diffused channels (3 = flow + occlusion, two heads)")
    p.add_argument("--cond-channels", type=int, default=256)
    p.add_argument("--text-dim", type=int, default=768)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--sizes", type=int, nargs="+", default=[8, 16], metavar="S", help="latent sizes S x S")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--sample-warmup", type=int, default=0)
    p.add_argument("--sample-iters", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch default)")
    p.add_argument("--guided", action="store_true", help="also time guided sampling (scale 1.5)")
    p.add_argument("--cond-per-frame", action="store_true",
                   help="feed z0 repeated over frames (the official code's cost) instead of once per video")
    p.add_argument("--channels-last", action="store_true", help="channels_last_3d on CPU too")
    p.add_argument("--no-amp", action="store_true")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--json", action="store_true", help="also print one JSON line per result")
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    print(f"machine: {machine_name(device)}")
    if hasattr(os, "getloadavg"):
        print(f"load average before: {os.getloadavg()[0]:.2f} (1 min)")
    for size in args.sizes:
        r = bench_size(args, size, device)
        anchor = CPU_ANCHORS_S.get(size) if device.type == "cpu" else None
        vs = f" (anchor {anchor:.2f} s: x{anchor / r['train_s_per_it']:.2f})" if anchor else ""
        mem = f", peak {r['peak_train_gib']:.2f} GiB" if r["peak_train_gib"] is not None else ""
        guided = f", guided {r['sample_ddim10_guided_s']:.3f} s" if r["sample_ddim10_guided_s"] else ""
        cpu = f" (CPU time {r['train_cpu_s_per_it']:.3f} s)" if r["train_cpu_s_per_it"] is not None else ""
        print(
            f"{size}x{size} B={r['batch']} T={r['frames']} params={r['params'] / 1e6:.2f}M: "
            f"train {r['train_s_per_it']:.3f} s/it{cpu}{vs} {r['train_s_all']}, "
            f"DDIM-10 {r['sample_ddim10_s']:.3f} s/batch{guided}{mem}; "
            f"fwd {r['fwd_gflop']:.2f} GFLOP, train {r['train_tflop_per_step']:.4f} TFLOP/step = "
            f"{r['achieved_tflops']:.3f} TFLOP/s"
        )
        if args.json:
            print(json.dumps(r))
    if hasattr(os, "getloadavg"):
        print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
