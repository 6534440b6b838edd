"""Builders shared by the test modules (test modules import from here, never from each other).

- the tiny metric dataset: 4 subjects x 3 motion classes of 12-frame 32x32 mp4s (:func:`make_tiny_dataset`) and a
  cheap deterministic feature function in place of the I3D (:func:`tiny_detector`);
- :func:`use_standin_detector`: a cheap I3D stand-in for end-to-end runs of the benchmark and experiments;
- random I3D weights in the ``i3d_pretrained_400.pt`` layout (:func:`random_state_dict`);
- tiny frame folders and AVI files in the real datasets' layouts (:func:`png_frames`, :func:`write_avi`, :func:`ramp`);
- the CLI runner and its one-error-line check (:func:`cli`, :func:`one_error_line`);
- TF1's legacy bilinear resize written from its source (:func:`tf_resize_bilinear_legacy`);
- a tiny video diffusion model and the einsum attention reference (:func:`tiny_dm`, :func:`einsum_attention`);
- a moving-disc video (:func:`disc_video`);
- an HTML page parser and the report checks (:class:`Page`, :func:`check_numbers_shown`, :func:`check_refs_inside`).
"""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import av
import numpy as np
import torch
from click.testing import CliRunner
from PIL import Image

from cli import main
from lfdm_bench.data.records import VideoRecord, write_manifest
from lfdm_bench.data.video_io import write_mp4
from lfdm_bench.diffusion.schedule import DiffusionConfig
from lfdm_bench.models.unet3d import Attention, UNet3DConfig, _from_tokens, _to_tokens, apply_rotary, rotary_angles
from lfdm_bench.models.video_diffusion import VideoDiffusion, VideoDiffusionConfig
from lfdm_bench.text import ClassEmbeddingTable
from metrics.video_features import FunctionDetector


# ------------------------------------------------------------------------------------------- tiny metric dataset


CLASSES = ["right", "down", "still"]
SUBJECTS = {"s1": "train", "s2": "train", "s3": "test", "s4": "test"}


def render(subject: int, class_index: int, take: int, frames: int = 12, size: int = 32) -> np.ndarray:
    """uint8 [T, H, W, 3]: a square on a subject-coloured background moving right / down / not at all."""
    rng = np.random.default_rng([subject, class_index, take])
    video = np.zeros((frames, size, size, 3), dtype=np.uint8)
    video[:] = np.array([40 + 40 * subject, 90, 160 - 30 * subject], dtype=np.uint8)
    y0, x0 = rng.integers(4, 10, size=2)
    speed = 1.0 + 0.3 * take
    for t in range(frames):
        dx = int(round(speed * t)) if class_index == 0 else 0
        dy = int(round(speed * t)) if class_index == 1 else 0
        y, x = min(y0 + dy, size - 8), min(x0 + dx, size - 8)
        video[t, y:y + 8, x:x + 8] = [250, 250, 40 + 60 * class_index]
    return video


def make_tiny_dataset(folder: Path, takes: int = 2, frames: int = 12) -> Path:
    """Write the tiny dataset (manifest.csv + dataset.json + mp4s); returns the manifest path."""
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for si, (subject, split) in enumerate(SUBJECTS.items()):
        for c, name in enumerate(CLASSES):
            for k in range(takes):
                path = folder / f"{subject}_{name}_{k}.mp4"
                write_mp4(path, render(si, c, k, frames))
                records.append(VideoRecord(path=str(path), subject=subject, class_index=c, class_name=name,
                                           text=f"moves {name}", split=split, take=f"t{k}", n_frames=frames))
    manifest = folder / "manifest.csv"
    write_manifest(records, manifest, relative_to=folder)
    (folder / "dataset.json").write_text(json.dumps({"class_names": CLASSES,
                                                     "class_texts": [f"moves {c}" for c in CLASSES]}))
    return manifest


def tiny_features(videos: torch.Tensor) -> torch.Tensor:
    """[B, T, 3, H, W] -> [B, 12]: mean colour (3), pooled frame-difference energy on a 2x2 grid per time half (8),
    and the mean absolute temporal change (1)."""
    x = videos.double() / 255.0 if videos.dtype == torch.uint8 else videos.double()
    colour = x.mean(dim=(1, 3, 4))  # [B, 3]
    diff = (x[:, 1:] - x[:, :1]).abs().mean(dim=2)  # [B, T-1, H, W]
    t_half = diff.shape[1] // 2
    halves = torch.stack([diff[:, :t_half].mean(1), diff[:, t_half:].mean(1)], 1)  # [B, 2, H, W]
    grid = torch.nn.functional.adaptive_avg_pool2d(halves, 2).reshape(x.shape[0], -1)  # [B, 8]
    change = (x[:, 1:] - x[:, :-1]).abs().mean(dim=(1, 2, 3, 4)).unsqueeze(1)  # [B, 1]
    return torch.cat([colour, grid * 10, change * 10], dim=1)


def tiny_detector(name: str = "tiny") -> FunctionDetector:
    return FunctionDetector(tiny_features, name=name, version="1")


def use_standin_detector(mp) -> None:
    """Make :func:`metrics.evaluate.build_detector` (and the sanity mode's) return the stand-in (``mp``: a
    pytest MonkeyPatch)."""
    from metrics import evaluate, sanity

    def feats(videos):
        v = videos.float() / (255.0 if videos.dtype == torch.uint8 else 1.0)  # [B, T, 3, H, W]
        pooled = torch.nn.functional.adaptive_avg_pool3d(v.transpose(1, 2), (2, 2, 2)).flatten(1)  # [B, 24]
        motion = (v - v[:, :1]).abs().mean(dim=(2, 3, 4))  # [B, T]
        return torch.cat([pooled, motion], 1)

    for module in (evaluate, sanity):
        mp.setattr(module, "build_detector", lambda p: FunctionDetector(feats, "standin-test"))


# --------------------------------------------------------------------------------------------------- I3D weights


KEYS_FILE = Path(__file__).parent / "data" / "i3d_state_dict_keys.txt"


def reference_layout() -> dict[str, tuple[int, ...]]:
    layout = {}
    for line in KEYS_FILE.read_text().splitlines():
        name, shape = line.split("\t")
        layout[name] = tuple(int(s) for s in shape.strip("[]").split(","))
    return layout


def random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, shape in reference_layout().items():
        if name.endswith("conv3d.weight"):
            fan_in = math.prod(shape[1:])
            sd[name] = torch.randn(shape, generator=g) * math.sqrt(2.0 / fan_in)
        elif name.endswith(("running_var", "bn.weight")):
            sd[name] = torch.rand(shape, generator=g) + 0.5
        else:  # bn.bias, running_mean, logits bias
            sd[name] = torch.randn(shape, generator=g) * 0.1
    return sd


# -------------------------------------------------------------------------------------------- real-dataset files


def png_frames(folder: Path, n: int, h: int = 8, w: int = 8, ext: str = "jpg", name=lambda k: f"img_{k:04d}") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        Image.fromarray(np.full((h, w, 3), 30 * k, dtype=np.uint8)).save(folder / f"{name(k)}.{ext}")


def write_avi(path: Path, frames: np.ndarray, fps: int = 20) -> Path:
    """A real AVI container (MJPEG), as UTD-MHAD and NATOPS ship: uint8 [T, H, W, 3]."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="avi") as c:
        s = c.add_stream("mjpeg", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuvj444p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def ramp(t: int, h: int = 20, w: int = 32) -> np.ndarray:
    """Frame k is grey level 10 + 20 k."""
    return np.broadcast_to((10 + 20 * np.arange(t)).astype(np.uint8)[:, None, None, None], (t, h, w, 3)).copy()


# ----------------------------------------------------------------------------------------------------------- CLI


def train_tiny(root: Path, model: str, config: str) -> tuple[Path, dict[str, str], str]:
    """``lfdm-bench train --model MODEL --config CONFIG`` into ``ROOT/run`` (cache in ``ROOT/cache``, one thread), as
    the module-scoped ``trained`` fixtures of the end-to-end tests run it; asserts it succeeded and returns
    ``(run folder, env, output)``."""
    run = root / "run"
    env = {"LFDM_BENCH_CACHE": str(root / "cache")}
    torch.set_num_threads(1)
    args = ["train", "--model", model, "--config", config, "--out", str(run), "--no-progress"]
    r = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return run, env, r.output


def cli(*args: str, **kw):
    return CliRunner().invoke(main, list(args), **kw)


def one_error_line(r, code: int) -> str:
    """The result failed with ``code`` and printed one ``Error:`` line (after click's usage lines), no traceback."""
    assert r.exit_code == code, r.output
    assert isinstance(r.exception, SystemExit), repr(r.exception)  # a handled error, not an escaped exception
    assert "Traceback" not in r.output
    errors = [line for line in r.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, r.output
    return errors[0]


# ---------------------------------------------------------------------------------------------- resize reference


def tf_resize_bilinear_legacy(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF1 ``resize_bilinear(align_corners=False, half_pixel_centers=False)`` of float32 [N, H, W, C], written from
    TF's resize_bilinear_op.cc: per output index ``in = out * (in_size / out_size)`` in float32, lower = floor,
    upper = min(ceil, in_size - 1), lerp = in - floor; ``top + (bottom - top) * y_lerp`` after the x interpolations."""
    n, h, w, c = img.shape

    def axis(n_in: int, n_out: int):
        scale = np.float32(n_in) / np.float32(n_out)
        pos = np.array([np.float32(i) * scale for i in range(n_out)], dtype=np.float32)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(np.ceil(pos).astype(int), n_in - 1)
        return lo, hi, (pos - np.floor(pos)).astype(np.float32)

    y0, y1, ly = axis(h, out_h)
    x0, x1, lx = axis(w, out_w)
    img = img.astype(np.float32)
    tl, tr = img[:, y0][:, :, x0], img[:, y0][:, :, x1]
    bl, br = img[:, y1][:, :, x0], img[:, y1][:, :, x1]
    lx, ly = lx[None, None, :, None], ly[None, :, None, None]
    top = tl + (tr - tl) * lx
    bottom = bl + (br - bl) * lx
    return top + (bottom - top) * ly


# --------------------------------------------------------------------------------------------------- tiny models


def tiny_dm(seed: int = 0, text_dim: int = 4) -> VideoDiffusion:
    torch.manual_seed(seed)
    unet = UNet3DConfig(in_channels=3, out_channels=3, cond_channels=2, out_heads=(2, 1), dim=8, dim_mults=(1, 2),
                        groups=4, attn_heads=2, attn_dim_head=4, text_dim=text_dim, init_kernel_size=3)
    table = ClassEmbeddingTable(torch.randn(3, text_dim), ["a", "b", "c"])
    return VideoDiffusion(VideoDiffusionConfig(unet=unet, diffusion=DiffusionConfig(num_timesteps=100),
                                               class_texts=("a", "b", "c")), table)


def einsum_attention(att: Attention, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The textbook attention the official code writes with einsum: softmax(q k^T / sqrt(d) + bias) v."""
    tok = att.norm(_to_tokens(x, att.over))  # [N, L, C]
    N, L, _ = tok.shape
    q, k, v = att.to_qkv(tok).chunk(3, dim=-1)
    q, k, v = (t.reshape(N, L, att.heads, att.dim_head).transpose(1, 2) for t in (q, k, v))  # [N, h, L, d]
    if att.rotary_dim:
        ang = rotary_angles(L, att.dim_head, att.rotary_dim, x.device)
        q, k = apply_rotary(q, ang), apply_rotary(k, ang)
    scores = torch.einsum("nhid,nhjd->nhij", q, k) / math.sqrt(att.dim_head)
    if bias is not None:
        scores = scores + bias[None]
    out = torch.einsum("nhij,nhjd->nhid", scores.softmax(dim=-1), v)  # [N, h, L, d]
    out = att.to_out(out.transpose(1, 2).reshape(N, L, att.heads * att.dim_head))
    return x + _from_tokens(out, att.over, x.shape)


# ------------------------------------------------------------------------------------------------ sampling


def disc_video(frames: int = 8, size: int = 32, radius: float = 6.0) -> torch.Tensor:
    """A yellow disc moving left to right on a colour gradient: ``[3, T, size, size]`` in [0, 1]."""
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    bg = torch.stack([xs / size * 0.6 + 0.2, ys / size * 0.6 + 0.2, torch.full_like(xs, 0.3)])
    color = torch.tensor([0.95, 0.9, 0.1])[:, None, None]
    out = []
    for i in range(frames):
        cx = size * (0.25 + 0.5 * i / (frames - 1))
        cy = size * (0.5 + 0.125 * math.sin(math.pi * i / (frames - 1)))
        inside = (((xs - cx) ** 2 + (ys - cy) ** 2) <= radius ** 2).float()
        out.append(bg * (1 - inside) + color * inside)
    return torch.stack(out, dim=1)


# ---------------------------------------------------------------------------------------------------- HTML pages


class Page(HTMLParser):
    """Tags, attributes, text and tables (cells with their column's data-keys) of a page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags, self.refs, self.text, self.rows, self.stack = [], [], [], [], []
        self._head, self._row, self._cell, self._in_head = [], None, None, False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag not in ("br", "img", "meta", "link", "input", "hr"):
            self.stack.append(tag)
        for k in ("src", "href"):
            if a.get(k):
                self.refs.append(a[k])
        if tag == "thead":
            self._in_head, self._head = True, []
        elif tag == "tr":
            self._row = {"attrs": a, "cells": []}
        elif tag in ("td", "th"):
            self._cell = {"tag": tag, "keys": a.get("data-keys", ""), "text": ""}

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            (self._head if self._in_head else self._row["cells"]).append(self._cell)
            self._cell = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "tr" and not self._in_head:
            self.rows.append({**self._row, "head": list(self._head)})

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell["text"] += data


def numbers(text: str) -> list[str]:
    return re.findall(r"-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?", text)


def shown(value: float, text: str) -> bool:
    """``value`` (or value x 100, a percentage) is one of the numbers in ``text`` to the digits shown."""
    for n in numbers(text):
        x = float(n.replace(",", ""))
        mantissa, _, exp = n.partition("e")
        decimals = (len(mantissa.split(".")[1]) if "." in mantissa else 0) - int(exp or 0)
        tol = 0.5 * 10.0 ** -decimals + 1e-12
        if abs(x - value) <= tol or abs(x - 100 * value) <= tol:
            return True
    return False


def check_numbers_shown(page: Page, results: dict) -> int:
    """Every number of every method row of results.json appears in that row, in a column whose data-keys name
    it; returns the count checked."""
    n = 0
    for m, splits in results["methods"].items():
        for split, vals in splits.items():
            rows = [r for r in page.rows if r["attrs"].get("data-method") == m and r["attrs"].get("data-split") == split]
            assert len(rows) == 1, (m, split, len(rows))
            row = rows[0]
            heads = row["head"][-len(row["cells"]):]  # a row spanned by the previous one lacks its first cell
            flat = {}
            for k, v in vals.items():
                if isinstance(v, dict):
                    flat.update({(f"{k}.{kk}" if kk not in ("mean",) else k): vv for kk, vv in v.items()})
                else:
                    flat[k] = v
            for k, v in flat.items():
                base = k.replace(".std", "")
                cols = [c for c, h in zip(row["cells"], heads) if base in h["keys"].split() or
                        f"{split}_{base}" in h["keys"].split() or f"gap_{base}" in h["keys"].split()]
                assert cols, f"{m}/{split}: no column shows {k}"
                values = v if isinstance(v, list) else [v]
                for x in values:
                    if x is None:
                        assert "-" in cols[0]["text"], (m, split, k, cols[0]["text"])
                    elif isinstance(x, str):  # a text value (the row's sizes) is shown as it is
                        assert x in cols[0]["text"], (m, split, k, x, cols[0]["text"])
                    else:
                        assert shown(float(x), cols[0]["text"]), (m, split, k, x, cols[0]["text"])
                    n += 1
    return n


def check_refs_inside(page_path: Path, page: Page, folder: Path) -> list[Path]:
    """Every src/href of the page is a relative path to an existing file inside ``folder`` (or an anchor)."""
    from urllib.parse import unquote

    files = []
    for ref in page.refs:
        if ref.startswith("#"):
            continue
        assert "://" not in ref and not ref.startswith("/"), ref
        f = (page_path.parent / unquote(ref)).resolve()
        assert f.is_file(), ref
        f.relative_to(folder.resolve())  # raises when outside
        files.append(f)
    return files
