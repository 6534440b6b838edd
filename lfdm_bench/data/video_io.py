"""Reading and writing videos: decord for mp4/avi, PIL for GIFs and frame folders; mp4 (libx264), GIF and PNG grids.

Every reader returns ``uint8`` frames ``[T, H, W, 3]`` (RGB) as a numpy array; grayscale and RGBA inputs are
converted to RGB. Every failure raises :class:`BadVideoError` naming the path and what was wrong.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from lfdm_bench.utils.io import atomic_save

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")

# libx264 settings that make an encoded mp4 a function of its frames alone (same frames -> same file on a machine):
# - ``mbtree=0``: libx264 core 165 (the build in the PyAV 18 wheels) reads uninitialised memory in its AVX-512
#   macroblock-tree code, so on AVX-512 CPUs the same frames encoded differently from run to run (up to 14/255 per
#   pixel on 32 px clips, enough to move FVD in the 4th digit). Lossless coding (crf 0) has no macroblock tree.
# - one encoder thread: x264's automatic thread count follows the machine's core count (slice threads from 64 px
#   up), and the encoded video changes with it.
X264_PARAMS = "mbtree=0"
X264_THREADS = 1


class BadVideoError(ValueError):
    """A video (file or frame folder) that cannot be used; the message names the path and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def _to_rgb(frame: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """[H, W] / [H, W, 1] / [H, W, 3] / [H, W, 4] uint8 -> [H, W, 3] uint8."""
    if frame.ndim == 2:
        frame = frame[..., None]
    if frame.ndim != 3 or frame.shape[-1] not in (1, 3, 4):
        raise BadVideoError(path, f"unsupported frame shape {frame.shape}; expected gray, RGB or RGBA")
    if frame.shape[-1] == 1:
        frame = np.repeat(frame, 3, axis=-1)
    elif frame.shape[-1] == 4:
        frame = frame[..., :3]
    return np.ascontiguousarray(frame)


def natural_key(name: str) -> tuple:
    """Sort key of a name (or relative path) in natural order: digit runs compare as numbers (``f2`` < ``f10``), then
    the plain name breaks ties (``f01`` vs ``f1``)."""
    parts = tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t)
    return parts, name


def list_frame_files(folder: str | os.PathLike) -> list[Path]:
    """Image files of a frame folder in natural order (``f2`` before ``f10``; zero-padded names keep their plain
    sorted order), ties broken by the plain name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadVideoError(folder, "frame folder does not exist")
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS), key=lambda p: natural_key(p.name))
    if not files:
        raise BadVideoError(folder, f"frame folder holds no images ({', '.join(IMAGE_EXTS)})")
    return files


def count_frames(path: str | os.PathLike) -> int:
    """Number of frames without decoding them all (where the format allows)."""
    path = Path(path)
    if path.is_dir():
        return len(list_frame_files(path))
    if not path.exists():
        raise BadVideoError(path, "file does not exist")
    suffix = path.suffix.lower()
    if suffix == ".gif":
        from PIL import Image

        try:
            with Image.open(path) as im:
                if b"frame_ms=" not in (im.info.get("comment") or b""):
                    return int(getattr(im, "n_frames", 1))
        except Exception as e:  # PIL raises many types
            raise BadVideoError(path, f"unreadable GIF ({e})") from e
        return len(_read_gif(path))
    return len(_decord_reader(path))


def _decord_reader(path: Path):
    try:
        import decord
    except ImportError as e:  # pragma: no cover - dependency declared in pyproject
        raise ImportError("decord is needed to read mp4/avi videos: pip install decord") from e
    if path.stat().st_size == 0:
        raise BadVideoError(path, "empty file")
    try:
        vr = decord.VideoReader(str(path), num_threads=1)
    except Exception as e:
        raise BadVideoError(path, f"unreadable or corrupt video ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from e
    if len(vr) == 0:
        raise BadVideoError(path, "video has no frames")
    return vr


def read_video(path: str | os.PathLike, indices: Sequence[int] | None = None) -> np.ndarray:
    """Read frames (all, or those at ``indices``) of a video file or frame folder -> uint8 ``[T, H, W, 3]``."""
    path = Path(path)
    if path.is_dir():
        files = list_frame_files(path)
        idx = range(len(files)) if indices is None else indices
        return np.stack([_read_image(files[_check_index(i, len(files), path)]) for i in idx])
    if not path.exists():
        raise BadVideoError(path, "file does not exist")
    suffix = path.suffix.lower()
    if suffix == ".gif":
        frames = _read_gif(path)
        if indices is not None:
            frames = frames[[_check_index(i, len(frames), path) for i in indices]]
        return frames
    if suffix in IMAGE_EXTS:
        raise BadVideoError(path, "is a single image, not a video; give its folder for a frame-folder video")
    vr = _decord_reader(path)
    n = len(vr)
    idx = list(range(n)) if indices is None else [_check_index(i, n, path) for i in indices]
    uniq = sorted(set(idx))  # decord decodes only the frames it is asked for
    try:
        batch = vr.get_batch(uniq).asnumpy()
        if batch.ndim != 4 or batch.shape[0] != len(uniq):
            raise RuntimeError(f"decord returned shape {batch.shape}")
    except Exception as e:
        # decord 0.6 mis-decodes some frame widths (8, 12, 16, 24, 48 px): decode those files with PyAV instead.
        batch = _read_av(path, uniq, first_error=e)
    pos = {j: k for k, j in enumerate(uniq)}
    frames = batch[[pos[i] for i in idx]]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        frames = np.stack([_to_rgb(f, path) for f in frames])
    return frames


def _read_av(path: Path, indices: Sequence[int], first_error: Exception | None = None) -> np.ndarray:
    """Decode frames ``indices`` (sorted, unique) with PyAV -> uint8 ``[len(indices), H, W, 3]``."""
    import av

    wanted, out = set(indices), {}
    try:
        with av.open(str(path)) as container:
            for k, frame in enumerate(container.decode(video=0)):
                if k in wanted:
                    out[k] = frame.to_ndarray(format="rgb24")
                if len(out) == len(wanted):
                    break
    except Exception as e:
        reason = f"decoding failed, the file may be truncated ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        raise BadVideoError(path, reason) from (first_error or e)
    missing = [i for i in indices if i not in out]
    if missing:
        raise BadVideoError(path, f"decoding failed at frame {missing[0]}: the file may be truncated")
    return np.stack([out[i] for i in indices])


def _check_index(i: int, n: int, path: Path) -> int:
    if not 0 <= int(i) < n:
        raise BadVideoError(path, f"frame index {i} out of range: the video has {n} frames")
    return int(i)


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("RGB", "L", "RGBA", "LA"):
                im = im.convert("RGB")
            arr = np.asarray(im)
    except Exception as e:
        raise BadVideoError(path, f"unreadable image ({e})") from e
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[-1] == 2:  # LA
        arr = arr[..., :1]
    return _to_rgb(arr, path)


def check_frame_folder(folder: str | os.PathLike) -> int:
    """Check that every image of a frame folder can be decoded, cheaply: JPEGs are decoded at 1/8 scale (the whole
    compressed stream is still read, so truncated or garbage files fail), other images in full. Returns the number
    of frames; a bad image raises :class:`BadVideoError` naming that image."""
    from PIL import Image

    files = list_frame_files(folder)
    for f in files:
        try:
            with Image.open(f) as im:
                if im.format == "JPEG":
                    im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
                im.load()
        except Exception as e:
            raise BadVideoError(f, f"unreadable image ({' '.join(str(e).split())[:200]})") from e
    return len(files)


def _read_gif(path: Path) -> np.ndarray:
    from PIL import Image, ImageSequence

    try:
        with Image.open(path) as im:
            comment = im.info.get("comment", b"")
            frames, durations = [], []
            for f in ImageSequence.Iterator(im):
                frames.append(np.asarray(f.convert("RGB")))
                durations.append(int(f.info.get("duration", 0) or 0))
    except Exception as e:
        raise BadVideoError(path, f"unreadable GIF ({e})") from e
    if not frames:
        raise BadVideoError(path, "GIF has no frames")
    # Pillow merges identical consecutive frames into one of longer duration; our writer records the frame
    # duration in the comment so the original frame count is restored here.
    m = re.search(rb"frame_ms=(\d+)", comment if isinstance(comment, bytes) else comment.encode())
    if m and int(m.group(1)) > 0:
        base = int(m.group(1))
        repeats = [max(1, round(d / base)) for d in durations]
        return np.repeat(np.stack(frames), repeats, axis=0)
    return np.stack(frames)


def to_uint8_frames(video) -> np.ndarray:
    """Float [0, 1] or uint8, layout ``[T, H, W, 3]`` or ``[T, 3, H, W]`` (numpy or torch) -> contiguous numpy uint8
    ``[T, H, W, 3]`` (channels last), the frames writers and grids take; rounding as
    :func:`lfdm_bench.data.transforms.to_uint8_tensor`, which keeps a tensor's layout."""
    torch = sys.modules.get("torch")  # a tensor means torch is loaded; importing it here cost seconds per process
    if torch is not None and isinstance(video, torch.Tensor):
        video = video.detach().cpu().numpy()
    video = np.asarray(video)
    if video.ndim != 4:
        raise ValueError(f"expected a video [T, H, W, 3] or [T, 3, H, W], got shape {video.shape}")
    if video.shape[-1] != 3 and video.shape[1] == 3:
        video = video.transpose(0, 2, 3, 1)
    if video.shape[-1] != 3:
        raise ValueError(f"expected 3 colour channels, got shape {video.shape}")
    if video.dtype != np.uint8:
        video = np.clip(np.rint(video.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(video)


def write_mp4(path: str | os.PathLike, video, fps: int = 10, crf: int = 0) -> None:
    """Write an H.264 mp4, yuv444p, lossless by default (``crf=0``: only the RGB <-> YUV rounding remains).

    Lossless is the default so that a generated video is evaluated as generated, like the embedded datasets' real
    videos: lossy coding (``crf`` > 0) adds codec noise that a motion-sensitive detector scores, e.g. a one-frame
    blip of up to 9/255 in otherwise still videos at ``crf=10``.

    ``video``: uint8 or float [0, 1], ``[T, H, W, 3]`` or ``[T, 3, H, W]``. H and W must be even for yuv420p;
    with yuv444p any size works. Written atomically. The same frames give the same file on every run
    (:data:`X264_PARAMS`, :data:`X264_THREADS`).
    """
    import av

    frames = to_uint8_frames(video)

    def w(tmp: str) -> None:
        with av.open(tmp, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv444p"
            stream.options = {"crf": str(crf), "preset": "fast", "x264-params": X264_PARAMS}
            stream.codec_context.thread_count = X264_THREADS  # also keeps the RGB -> YUV conversion on one thread
            for f in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    atomic_save(path, w)


def write_gif(path: str | os.PathLike, video, fps: int = 10) -> None:
    """Write an animated GIF (looping). ``video`` as in :func:`write_mp4`. Written atomically."""
    from PIL import Image

    frames = to_uint8_frames(video)
    images = [Image.fromarray(f) for f in frames]
    frame_ms = max(1, int(round(1000 / fps)))

    def w(tmp: str) -> None:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0,
                       comment=f"lfdm-bench frame_ms={frame_ms}")

    atomic_save(path, w)


def make_grid(videos: np.ndarray, nrow: int, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile ``N`` videos uint8 ``[N, T, H, W, 3]`` into one video ``[T, H', W', 3]`` with ``nrow`` per row."""
    videos = np.asarray(videos)
    if videos.ndim != 5:
        raise ValueError(f"expected videos [N, T, H, W, 3], got shape {videos.shape}")
    n, t, h, w, c = videos.shape
    ncol = max(1, int(nrow))
    nrows = (n + ncol - 1) // ncol
    grid = np.full((t, nrows * (h + pad) + pad, ncol * (w + pad) + pad, c), pad_value, dtype=videos.dtype)
    for k in range(n):
        r, q = divmod(k, ncol)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[:, y:y + h, x:x + w] = videos[k]
    return grid


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write one uint8 image ``[H, W, 3]`` as PNG, atomically."""
    from PIL import Image

    img = Image.fromarray(np.asarray(image, dtype=np.uint8))
    atomic_save(path, lambda tmp: img.save(tmp, format="PNG"))
