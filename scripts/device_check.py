"""The prepared GPU device check: CUDA tests, then the paper-scale figures of shared/reference/performance.md.

One run (at most ``--budget`` seconds, 480 by default) that

1. runs the CUDA-marked tests (``pytest -m cuda``) in a subprocess;
2. builds the ``paper-mug`` models from the config (random weights, random 128x128x40 videos, batch 5) and
   measures, each as the median of timed iterations after warm-up, with peak CUDA memory:
   the full DM training step (the frozen LFAE computes the flow targets and z0 of the whole clip in one batched
   call, then diffusion loss, backward, gradient clipping, Adam -- the engine's step), the DM-only step on
   precomputed targets (fp32, bf16, bf16 + channels_last_3d, and compiled; the row of the table is the config's
   setting: bf16 autocast on CUDA, ``train.channels_last``), DDIM-10 sampling of a batch of videos
   incl. encoding and LFAE decoding (guidance 1 and 1.5, through the generator ``lfdm-bench sample`` uses), the
   LFAE training step (the engine's loss function), and I3D features per second at 16x224x224 in fp32 and bf16
   with the FVD between two clip sets under each precision;
3. writes one JSON (machine, torch / CUDA / cuDNN versions, settings, every figure; rewritten after every section,
   so a run that dies keeps what it measured) and prints a table beside the anchors with the ratio of each row.

Every section has its own time budget (``SECTIONS``), cut to what is left of the global one: an alarm stops a
section that runs over (recorded as ``timeout``), a failing section is recorded as ``error`` with its message,
and the next section runs either way. Timed loops stop early (after at least one timed iteration) when the
section's budget runs low.

    python scripts/device_check.py --out device_check.json            # on the GPU machine (~7 min)
    python scripts/device_check.py --tiny --device cpu --out /tmp/dc.json   # CPU smoke run (< 1 min)

``--tiny``: every section on the ``tiny`` config's models (32x32, 8 frames, batch 2; I3D on 2 clips of 9 frames
per set), figures that exercise the code and are not comparable with the anchors.

On a CPU without native bf16 (:func:`lfdm_bench.utils.device.cpu_bf16_native`: no ``avx512_bf16`` / ``amx_bf16``,
or oneDNN capped below it by ``ONEDNN_MAX_CPU_ISA``, e.g. ``AVX2``) torch emulates bf16 autocast, hundreds of times
slower than fp32: the bf16 figures (``dm_step_bf16``, ``dm_step_cl``, ``i3d_bf16``, ``i3d_fvd_rel_diff``) are then
not measured but recorded as ``{"value": null, "status": "skipped", "reason": ...}``, with a note on their section.
``--no-time-limits``: no budget stops a section or a timed loop (times are still measured and reported); the tests
run the check so, since a budget met or missed says how fast the machine is, not whether the code works.

The anchors, section budgets, guarded sections (:class:`Check`) and the table are in ``device_check_harness.py``
beside this file; the sections (what is built and timed) and ``main`` are here."""

from __future__ import annotations

import argparse
import math
import re
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lfdm_bench.utils.params import count_params  # noqa: E402

# the harness (anchors, budgets, guarded sections, the table): scripts/device_check_harness.py
sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when loaded from its file (the tests)
from device_check_harness import (  # noqa: E402, F401  (ANCHORS, VARIANTS, SectionTimeout, table_rows: read
    ANCHORS, SECTIONS, VARIANTS, Check, SectionTimeout, print_table, release, sync, table_rows,  # via this module)
)


def measure(fn, device: torch.device, deadline: float, warmup: int, iters: int) -> dict:
    """Median wall seconds of ``fn()`` over up to ``iters`` timed calls after ``warmup`` calls (synchronised), and
    the peak CUDA memory (GiB) of the timed calls. Cuts the warm-up short (after one call) when the time left
    before ``deadline`` is under three calls, and the timed calls (after one) when it is under two."""
    done = 0
    for _ in range(warmup):
        t = time.perf_counter()
        fn()
        sync(device)
        done += 1
        if deadline - time.monotonic() < 3 * (time.perf_counter() - t):
            break
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times: list[float] = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
        if deadline - time.monotonic() < 2 * max(times):
            break
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"median_s": statistics.median(times), "iters": len(times), "warmup": done,
            "times_s": [round(x, 5) for x in times], "peak_gib": None if peak is None else round(peak, 3)}


# ------------------------------------------------------------------------------------------------ sections
def run_tests(check: Check, deadline: float, paths: list[str]):
    """``pytest -m cuda`` in a subprocess: counts of passed / failed / skipped and the failures' names."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "-rfEs", *paths]
    left = deadline - time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          timeout=max(1.0, left) if math.isfinite(left) else None)
    lines = proc.stdout.strip().splitlines()
    summary = lines[-1] if lines else proc.stderr.strip()[-300:]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|errors?|deselected)", summary)}
    failures = [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))]
    check.result["tests"] = {"command": " ".join(cmd[1:]), "returncode": proc.returncode, "summary": summary,
                             "counts": counts, "failures": failures}
    if proc.returncode not in (0, 5):  # 5: nothing collected
        raise RuntimeError(f"CUDA tests failed: {summary}")
    return summary


def build_models(check: Check, deadline: float, config: str, overrides: list[str], channels_last: bool | None):
    from lfdm_bench.lfdm.config import load_lfdm_config
    from lfdm_bench.lfdm.train import build_dm
    from lfdm_bench.models.flow_target import FlowTargetCodec
    from lfdm_bench.models.lfae.lfae import LFAE
    from lfdm_bench.text import ClassEmbeddingTable

    cfg = load_lfdm_config(config, overrides)
    dev, s = check.device, check.state
    n_classes = 6
    text_dim = {"bert": 768, "minilm": 384}.get(cfg.dm.text.kind, n_classes)
    g = torch.Generator().manual_seed(0)
    texts = [f"class {i}" for i in range(n_classes)]
    table = ClassEmbeddingTable(torch.randn(n_classes, text_dim, generator=g), texts)
    torch.manual_seed(0)
    s.cfg, s.codec = cfg, FlowTargetCodec(cfg.dm.flow_target)
    s.lfae = LFAE(cfg.lfae.model).to(dev).eval().requires_grad_(False)  # frozen stage 1
    s.dm = build_dm(cfg, texts, cfg.lfae.model, table).to(dev)  # random class embeddings of the encoder's width
    s.channels_last = cfg.dm.train.channels_last if channels_last is None else channels_last
    check.result["settings"]["channels_last"] = s.channels_last
    b, t, size = s.batch, cfg.data.n_frames, cfg.data.size
    s.video = torch.rand(b, 3, t, size, size, generator=g).to(dev)  # [B, 3, T, H, W] in [0, 1]
    s.cls = torch.arange(b, device=dev) % n_classes
    with torch.no_grad(), torch.autocast(dev.type, torch.bfloat16, enabled=dev.type == "cuda"):
        s.target = s.codec.encode(s.lfae.dm_target_from_video(s.video)).float()  # [B, 3, T, h, w]
        s.z0 = s.lfae.encode(s.video[:, :, 0]).z.float()  # [B, C_z, h, w]
    params = {"dm_unet": count_params(s.dm.unet), "lfae": count_params(s.lfae)}
    check.result["models"] = {"config": config, "overrides": overrides, "params": params, "batch": b, "frames": t,
                              "size": size, "latent": cfg.lfae.model.latent_size, "text_dim": text_dim,
                              "dm_unet": {"dim": cfg.dm.unet.dim, "dim_mults": list(cfg.dm.unet.dim_mults)}}
    return f"DM U-Net {params['dm_unet'] / 1e6:.1f}M, LFAE {params['lfae'] / 1e6:.1f}M parameters"


def dm_train_step(check: Check, precision: str, full: bool):
    """One step as the engine runs it: autocast(loss_fn), zero_grad, backward, gradient clipping, Adam, EMA."""
    s, dev = check.state, check.device
    opt = s.opt
    bf16 = precision == "bf16"

    def step():
        with torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
            if full:  # the frozen LFAE computes the whole clip's targets in one batched call (no_grad)
                with torch.no_grad():
                    target = s.codec.encode(s.lfae.dm_target_from_video(s.video))
                    z0 = s.lfae.encode(s.video[:, :, 0]).z
            else:
                target, z0 = s.target, s.z0
            loss = s.dm(target.float(), z0.float(), s.cls)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if s.cfg.dm.train.grad_clip:
            torch.nn.utils.clip_grad_norm_(s.dm.parameters(), s.cfg.dm.train.grad_clip)
        assert math.isfinite(float(loss.detach()))  # the engine's one host read per step
        opt.step()
        if s.ema is not None:  # dm.train.ema_decay (none in the paper's configs)
            s.ema.update(s.dm)

    return step


def _ensure_optimizer(check: Check) -> SimpleNamespace:  # and the DM in train mode; -> the state
    from lfdm_bench.training.engine import EMA

    s = check.state
    s.dm.train()
    if getattr(s, "opt", None) is None:
        tc = s.cfg.dm.train
        s.opt = torch.optim.Adam([p for p in s.dm.parameters() if p.requires_grad], lr=tc.lr, betas=tc.betas,
                                 weight_decay=tc.weight_decay)
        s.ema = EMA(s.dm, tc.ema_decay) if tc.ema_decay else None
    return s


def set_layout(model: torch.nn.Module, channels_last: bool) -> None:
    """Weights in channels_last(_3d) or back in the default contiguous layout (values unchanged)."""
    from lfdm_bench.training.engine import to_channels_last

    if channels_last:
        to_channels_last(model)
    else:
        for t in [*model.parameters(), *model.buffers()]:
            t.data = t.data.contiguous()


def section_dm_step(check: Check, deadline: float):
    """fp32, bf16 and bf16 + channels_last_3d; ``dm_step`` is the configured variant (``train.mixed_precision``
    auto and ``dm.train.channels_last``), the models are left in the configured layout."""
    s = _ensure_optimizer(check)
    w, n = s.warmup, s.iters
    variants = [("dm_step_fp32", "fp32", False), ("dm_step_bf16", "bf16", False), ("dm_step_cl", "bf16", True)]
    for key, _, _ in variants[1:] if s.bf16_skip else []:
        check.skip(key, s.bf16_skip)
    variants = variants[:1] if s.bf16_skip else variants
    per_variant = (deadline - time.monotonic()) / len(variants)
    for key, precision, cl in variants:
        set_layout(s.dm, cl)
        m = measure(dm_train_step(check, precision, False), check.device,
                    min(deadline, time.monotonic() + per_variant), w, n)
        check.figure(key, m["median_s"], precision=precision, channels_last=cl, **m)
        if (precision, cl) == (s.precision, s.channels_last):
            check.figure("dm_step", m["median_s"], precision=precision, channels_last=cl, **m)
            check.figure("dm_step_mem", m["peak_gib"])
        check.save()
    set_layout(s.dm, s.channels_last)  # the engine converts the trained network only (the frozen LFAE stays)
    return f"bf16 variants skipped: {s.bf16_skip}" if s.bf16_skip else None


def section_dm_full_step(check: Check, deadline: float):
    s = _ensure_optimizer(check)
    m = measure(dm_train_step(check, s.precision, True), check.device, deadline, s.warmup, s.iters)
    check.figure("dm_full_step", m["median_s"], precision=s.precision, channels_last=s.channels_last, **m)
    check.figure("dm_full_step_mem", m["peak_gib"])


def section_sampling(check: Check, deadline: float):
    """DDIM-10 (eta 1) through ``lfdm_generator``: z0 encoding, sampling, LFAE decoding of every frame."""
    from lfdm_bench.lfdm.sample import lfdm_generator

    s, dev, b = check.state, check.device, check.state.sample_batch
    s.dm.eval()
    images = torch.rand(b, 3, s.cfg.data.size, s.cfg.data.size, generator=torch.Generator().manual_seed(1)).to(dev)
    sources = [SimpleNamespace(class_index=i % 6, seed=1000 + i) for i in range(b)]
    times = {}
    for key, guidance in (("ddim10", 1.0), ("ddim10_guided", 1.5)):
        stats: dict = {}
        gen = lfdm_generator(s.lfae, s.dm, s.cfg.data.n_frames, codec=s.codec, sampler="ddim", steps=10, eta=1.0,
                             guidance=guidance, stats=stats, precision=s.precision)
        half = min(deadline, time.monotonic() + (deadline - time.monotonic()) / (2 if key == "ddim10" else 1))

        def batch(gen=gen):
            with torch.no_grad():  # as generate_eval_samples runs it
                return gen(images, sources)

        m = measure(batch, dev, half, s.warmup, s.iters)
        times[key] = m["median_s"] / b
        check.figure(key, times[key], batch=b, guidance=guidance, nfe=stats.get("nfe"), precision=s.precision,
                     seconds_per_batch=m["median_s"], **{k: v for k, v in m.items() if k != "median_s"})
        if key == "ddim10":
            check.figure("ddim10_mem", m["peak_gib"])
        check.save()
    check.figure("guided_over_unguided", times["ddim10_guided"] / times["ddim10"])


def section_lfae_step(check: Check, deadline: float):
    """The LFAE training step with the engine's loss function (stage 1 of ``lfdm-bench train``)."""
    from lfdm_bench.lfdm.train import lfae_loss_fn
    from lfdm_bench.models.lfae.lfae import LFAE

    s, dev = check.state, check.device
    torch.manual_seed(0)
    model = LFAE(s.cfg.lfae.model).to(dev).train()
    set_layout(model, s.cfg.lfae.train.channels_last if s.channels_forced is None else s.channels_forced)
    tc = s.cfg.lfae.train
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr, betas=tc.betas, weight_decay=tc.weight_decay)
    loss_fn = lfae_loss_fn(s.cfg)
    b, size = s.lfae_batch or tc.batch_size, s.cfg.data.size
    bf16 = s.precision == "bf16"
    note = None
    while True:
        g = torch.Generator().manual_seed(2)
        batch = tuple(torch.rand(b, 3, size, size, generator=g).to(dev) for _ in range(2))  # source, driving

        def step():
            with torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
                loss, _ = loss_fn(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if tc.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            assert math.isfinite(float(loss.detach()))  # the engine's one host read per step
            opt.step()

        try:
            m = measure(step, dev, deadline, s.warmup, s.iters)
            break
        except torch.OutOfMemoryError:
            if b < 2:
                raise
            note, batch = f"batch {b} ran out of memory; measured at batch {b // 2}", None
            opt.zero_grad(set_to_none=True)
            release(dev)
            b //= 2
    check.figure("lfae_step", m["median_s"], batch=b, precision=s.precision, **m)
    check.figure("lfae_step_mem", m["peak_gib"], batch=b)
    return note


def i3d_clips(which: int, start: int, n: int, frames: int) -> torch.Tensor:
    """Clips ``start..start+n`` of set ``which`` in I3D format ``[n, 3, frames, 224, 224]`` in [-1, 1] (each clip
    from its own seed): coarse patterns drifting right (set 0), finer ones drifting down, brighter (set 1), so the
    FVD between the sets is large and stable."""
    cells, (dy, dx), offset = ((7, (0, 1), 0.0), (14, (1, 0), 0.2))[which]
    base = torch.stack([torch.rand(3, cells, cells, generator=torch.Generator().manual_seed(10_000 * which + i))
                        for i in range(start, start + n)]) * 2 - 1
    up = torch.nn.functional.interpolate(base, size=(256, 256), mode="bilinear", align_corners=False)
    video = [up[:, :, 16 + dy * t:240 + dy * t, 16 + dx * t:240 + dx * t] for t in range(frames)]
    return (torch.stack(video, dim=2) * 0.8 + offset).clamp(-1, 1)


def section_i3d(check: Check, deadline: float):
    """I3D (random weights) through the FeatureExtractor (channels_last_3d; 224x224 input): clips/s in fp32 and
    bf16 (median batch time, the first batch of each precision being the warm-up) and the FVD between the two sets
    under each precision. Batch by batch, both precisions on the same clips, until the sets or the time run out.
    bf16 is skipped (and recorded so) on a CPU without native bf16."""
    from metrics.detector import FeatureExtractor
    from metrics.fvd import SmallSampleWarning, fvd_from_features
    from metrics.i3d import build_random_i3d

    s, dev, bs = check.state, check.device, check.state.i3d_batch
    model = build_random_i3d()  # shared by both extractors (fp32: TF32 off on CUDA; bf16: autocast)
    precisions = ("fp32",) if s.bf16_skip else ("fp32", "bf16")
    extractors = {p: FeatureExtractor(model, device=dev, precision=p, batch_size=bs) for p in precisions}
    feats = {p: ([], []) for p in extractors}
    times: dict[str, list[float]] = {p: [] for p in feats}
    done = 0
    while done < s.i3d_clips:
        n, round_start = min(bs, s.i3d_clips - done), time.monotonic()
        for which in (0, 1):
            x = ((i3d_clips(which, done, n, s.i3d_frames) + 1) / 2).to(dev)  # [n, 3, T, 224, 224] in [0, 1]
            for precision, (fa, fb) in feats.items():
                sync(dev)
                t = time.perf_counter()
                (fa, fb)[which].append(extractors[precision](x, layout="BCTHW"))  # returns after the batch
                times[precision].append((time.perf_counter() - t) / n)
        done += n
        if deadline - time.monotonic() < 3 * (time.monotonic() - round_start):
            break
    fvd: dict[str, float] = {}
    for precision, sets in feats.items():
        with warnings.catch_warnings():  # --tiny: a handful of clips per set
            warnings.simplefilter("ignore", SmallSampleWarning)
            fvd[precision] = fvd_from_features(*(np.concatenate(f) for f in sets))
        timed = times[precision][1:] or times[precision]
        check.figure(f"i3d_{precision}", 1.0 / statistics.median(timed), batch=bs, frames=s.i3d_frames,
                     clips_per_set=done, fvd=fvd[precision], timed_batches=len(timed))
    default = "fp32"  # the FeatureExtractor's default on every device (bf16 only when asked; issue 15)
    check.figure("i3d", check.result["figures"][f"i3d_{default}"]["value"], precision=default)
    notes = [] if done == s.i3d_clips else [f"time ran out after {done} of {s.i3d_clips} clips per set"]
    if s.bf16_skip:
        check.skip("i3d_bf16", s.bf16_skip)
        check.skip("i3d_fvd_rel_diff", s.bf16_skip)
        notes.append(f"bf16 skipped: {s.bf16_skip}")
    else:
        check.figure("i3d_fvd_rel_diff", 100 * abs(fvd["bf16"] - fvd["fp32"]) / max(abs(fvd["fp32"]), 1e-12),
                     fvd_fp32=fvd["fp32"], fvd_bf16=fvd["bf16"], clips_per_set=done, detector="i3d-random")
    return "; ".join(notes) or None


def section_compile(check: Check, deadline: float):
    """The DM-only step with the U-Net compiled (``train.compile``: ``nn.Module.compile``), bf16."""
    s = _ensure_optimizer(check)
    s.dm.unet.compile()
    m = measure(dm_train_step(check, "bf16" if check.device.type == "cuda" else s.precision, False), check.device,
                deadline, max(2, s.warmup), s.iters)
    check.figure("dm_step_compiled", m["median_s"], compile_warmup_included=False, **m)


# ------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="device_check.json", help="the JSON written (after every section)")
    p.add_argument("--device", default="auto", help="auto | cuda | cuda:N | cpu")
    p.add_argument("--tiny", action="store_true", help="the tiny config's models: a CPU smoke run in < 1 minute")
    p.add_argument("--budget", type=float, default=480.0, help="seconds for the whole run (default 480 = 8 min)")
    p.add_argument("--no-time-limits", dest="time_limits", action="store_false",
                   help="no budget stops a section or a timed loop (times are still measured and reported)")
    p.add_argument("--config", default=None, help="LFDM config (default paper-mug; tiny with --tiny)")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    p.add_argument("--batch", type=int, default=None, help="DM training batch (default 5 = the anchors'; tiny 2)")
    p.add_argument("--sample-batch", type=int, default=None, help="videos per sampling batch (default 10; tiny 2)")
    p.add_argument("--lfae-batch", type=int, default=None, help="LFAE batch (default the config's; tiny 2)")
    p.add_argument("--channels-last", dest="channels_last", action="store_true", default=None,
                   help="channels_last_3d weights in every section (default: the config's train.channels_last)")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--compile", dest="compile", action="store_true", default=None,
                   help="run the compiled DM-step section (default: on, off with --tiny)")
    p.add_argument("--no-compile", dest="compile", action="store_false")
    p.add_argument("--no-tests", dest="tests", action="store_false", help="skip the CUDA-marked tests")
    p.add_argument("--tests-path", nargs="*", default=None, help="what pytest -m cuda collects (default tests)")
    p.add_argument("--sections", nargs="*", default=None, help=f"only these of {', '.join(SECTIONS)}")
    a = p.parse_args(argv)

    from lfdm_bench.utils.device import cpu_bf16_native, pick_device

    device = pick_device(a.device)
    tiny = a.tiny
    a.compile = not tiny if a.compile is None else a.compile
    budget = a.budget if a.time_limits else math.inf
    bf16_native, bf16_why = cpu_bf16_native() if device.type == "cpu" else (True, "CUDA")
    settings = {"tiny": tiny, "budget_s": a.budget if a.time_limits else None, "time_limits": a.time_limits,
                "bf16": {"native": bf16_native, "why": bf16_why}, "channels_last": a.channels_last,
                "compile": a.compile,
                "precision": "bf16" if device.type == "cuda" else "fp32", "argv": sys.argv[1:] if argv is None else argv,
                "cudnn_benchmark": "on in the training sections (as the engine sets it on CUDA), off in sampling and "
                                   "I3D (as lfdm-bench sample / eval run)",
                "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32}
    check = Check(Path(a.out), budget, tiny, device, settings)
    s = check.state
    s.bf16_skip = None if bf16_native else f"no native bf16 on this CPU ({bf16_why}); emulated bf16 is far slower " \
        "than fp32, so it is not measured"
    s.precision, s.channels_forced = settings["precision"], a.channels_last
    s.batch, s.sample_batch = a.batch or (2 if tiny else 5), a.sample_batch or (2 if tiny else 10)
    s.lfae_batch = a.lfae_batch or (2 if tiny else None)  # None: the config's (halved on out-of-memory)
    s.warmup, s.iters = (1, 2) if tiny else (3, 10)
    s.i3d_clips, s.i3d_frames, s.i3d_batch = (2, 9, 2) if tiny else (256, 16, 16)
    settings.update(batch=s.batch, sample_batch=s.sample_batch, lfae_batch=s.lfae_batch, warmup=s.warmup,
                    iters=s.iters, i3d_clips_per_set=s.i3d_clips, i3d_frames=s.i3d_frames, i3d_batch=s.i3d_batch)
    wanted = set(a.sections or SECTIONS)
    config = a.config or ("tiny" if tiny else "paper-mug")
    tests_path = a.tests_path or (["tests/test_cuda.py"] if tiny else ["tests"])

    plan = [("tests", lambda c, d: run_tests(c, d, tests_path), a.tests),
            ("build", lambda c, d: build_models(c, d, config, a.overrides, a.channels_last), True),
            ("dm_step", section_dm_step, True), ("dm_full_step", section_dm_full_step, True),
            ("sampling", section_sampling, True), ("lfae_step", section_lfae_step, True),
            ("i3d", section_i3d, True), ("compile", section_compile, a.compile)]
    needs_models = {"dm_step", "dm_full_step", "sampling", "lfae_step", "compile"}
    for name, fn, enabled in plan:
        if not enabled or name not in wanted:
            check.result["sections"][name] = {"status": "skipped", "reason": "not requested"}
            continue
        if name in needs_models and check.result["sections"].get("build", {}).get("status") != "ok":
            check.result["sections"][name] = {"status": "skipped", "reason": "the models were not built"}
            continue
        check.section(name, fn)
    check.result["table"] = print_table(check.result)
    check.save()
    print(f"wrote {check.out} ({check.result['total_s']:.1f} s)")
    return check.result


if __name__ == "__main__":
    main()
