"""Throughput of the I3D detector (``i3d-random`` weights) on 16x224x224 clips, in clips per second.

Times the detector forward pass on inputs already in I3D format (float [B, 3, T, 224, 224] in [-1, 1]):
fp32 on CPU in the default layout and in channels_last_3d (the FeatureExtractor's choice on every device); on CUDA
(if present) bf16 autocast with channels_last_3d, the FeatureExtractor's default there, and fp32 for comparison. Prints the machine (platform, CPU count, GPU name) with each figure.

    python scripts/bench_i3d.py --clips 8 --batch-size 4 --device cpu
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from metrics.i3d import build_random_i3d  # noqa: E402


def machine_description(device: torch.device) -> str:
    cpu = f"{platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, " \
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}"
    if device.type == "cuda":
        return f"{cpu}; GPU {torch.cuda.get_device_name(device)}"
    return cpu


def bench(device: torch.device, clips: int, batch_size: int, frames: int, bf16: bool, warmup: int,
          channels_last: bool = True) -> float:
    """Clips per second of the detector forward on ``device``; ``clips`` clips in batches of ``batch_size``."""
    model = build_random_i3d().to(device)
    cuda = device.type == "cuda"
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = (torch.rand(batch_size, 3, frames, 224, 224, generator=gen) * 2 - 1).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    n_batches = max(1, -(-clips // batch_size))

    def run(n: int) -> None:
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            for _ in range(n):
                model(x)
        if cuda:
            torch.cuda.synchronize(device)

    run(warmup)
    start = time.perf_counter()
    run(n_batches)
    return n_batches * batch_size / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--clips", type=int, default=8, help="clips timed per setting (rounded up to batches)")
    parser.add_argument("--batch-size", type=int, default=4, help="clips per forward pass")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip (>= 9)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed warm-up batches per setting")
    parser.add_argument("--device", choices=["all", "cpu", "cuda"], default="all",
                        help="'all': CPU, plus CUDA when available")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.frames < 9:
        parser.error("--frames must be >= 9 (I3D needs at least 9 frames)")
    if args.threads:
        torch.set_num_threads(args.threads)

    settings: list[tuple[torch.device, bool, bool]] = []  # (device, bf16, channels_last_3d)
    if args.device in ("all", "cpu"):
        settings += [(torch.device("cpu"), False, False), (torch.device("cpu"), False, True)]
    if args.device in ("all", "cuda"):
        if torch.cuda.is_available():
            settings += [(torch.device("cuda"), True, True), (torch.device("cuda"), False, True)]
        elif args.device == "cuda":
            parser.error("--device cuda: no CUDA device is available")
    for device, bf16, channels_last in settings:
        rate = bench(device, args.clips, args.batch_size, args.frames, bf16, args.warmup, channels_last)
        mode = ("bf16 autocast" if bf16 else "fp32") + (" + channels_last_3d" if channels_last else "")
        print(f"i3d-random {args.frames}x224x224, batch {args.batch_size}, {device.type} {mode}: "
              f"{rate:.2f} clips/s  [{machine_description(device)}]", flush=True)


if __name__ == "__main__":
    main()
