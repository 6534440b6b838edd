"""``ClipDataset``: records -> fixed-length, fixed-size clips, the one torch ``Dataset`` of every data source.

For item ``i`` it samples ``n_frames`` frame indices of record ``i`` (:mod:`lfdm_bench.data.frame_indices`), decodes only
those frames, crops them (LFDM's MHAD / NATOPS boxes), resizes keeping the aspect ratio and zero-pads to
``size x size`` (:mod:`lfdm_bench.data.transforms`), optionally flips them (training augmentation) and returns a
:class:`~lfdm_bench.data.clip.Clip`. Randomness comes from a generator seeded with ``(seed, epoch, i)``, so items
are reproducible whatever the number of DataLoader workers; call :meth:`ClipDataset.set_epoch` to vary them.

Bad input (missing, unreadable or truncated file, empty frame folder, a folder of folders, too few frames with
``min_frames``, a crop box larger than the frames) raises :class:`~lfdm_bench.data.video_io.BadVideoError` naming
the path. With ``skip_bad=True`` (config key ``data.skip_bad``) every record is checked once at construction (frame
count, first and last frame decoded, every image of a frame folder read at reduced scale, crop fits) and the bad ones
are dropped and listed in ``dataset.skipped``; a video file's middle frames are only decoded when used, and a bad one
then raises :class:`~lfdm_bench.data.video_io.BadVideoError` naming the file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from lfdm_bench.data.clip import Clip
from lfdm_bench.data.records import CropBox, VideoRecord
from lfdm_bench.data.frame_indices import check_mode, sample_indices
from lfdm_bench.data.transforms import crop as crop_frames, frames_to_tensor, hflip as hflip_frames
from lfdm_bench.data.transforms import resize_pad, time_flip as time_flip_frames, to_float, to_uint8_tensor
from lfdm_bench.data.video_io import IMAGE_EXTS, BadVideoError, check_frame_folder, count_frames, read_video

log = logging.getLogger(__name__)

DTYPES = ("float", "uint8")


def record_crop(record: VideoRecord) -> CropBox | None:
    """The crop box a loader attached to a record (``params["crop"]``), or ``None``."""
    return CropBox.parse(record.params.get("crop")) if record.params.get("crop") is not None else None


def record_segment(record: VideoRecord) -> tuple[int, int] | None:
    """The ``[start, stop)`` frame range of a record that is a segment of a longer file (``params["segment"]``)."""
    seg = record.params.get("segment")
    if seg is None:
        return None
    start, stop = int(seg[0]), int(seg[1])
    if not 0 <= start < stop:
        raise BadVideoError(record.path, f"invalid segment [{start}, {stop}) in the record's params")
    return start, stop


def _uniform01(rng: np.random.Generator | torch.Generator) -> float:
    """One uniform draw in ``[0, 1)`` from a numpy or torch generator."""
    if isinstance(rng, torch.Generator):
        return float(torch.rand((), generator=rng, dtype=torch.float64))
    return float(rng.random())


def _explain_empty_folder(path: Path, err: BadVideoError) -> BadVideoError:
    """Turn 'holds no images' on a folder of folders into a wrong-layout message."""
    if path.is_dir():
        subdirs = sorted(p.name for p in path.iterdir() if p.is_dir())
        if subdirs:
            return BadVideoError(
                path,
                f"holds no images ({', '.join(IMAGE_EXTS)}) but sub-folders ({', '.join(subdirs[:5])}"
                f"{', ...' if len(subdirs) > 5 else ''}): a frame-folder video must hold its frames directly "
                "(wrong layout, or the record points one level too high)",
            )
    return err


class ClipDataset(Dataset):
    """Fixed-length clips from video records.

    Args:
        records: the videos (e.g. ``DatasetInfo.records`` filtered to one split).
        n_frames: clip length ``T``.
        size: output side (frames resized keeping aspect, zero-padded to ``size x size``); ``None`` keeps the
            native (cropped) resolution.
        sampling: ``uniform`` | ``random`` | ``very_random`` | ``first`` (see :mod:`lfdm_bench.data.frame_indices`).
        crop: ``None`` uses each record's own box (``params["crop"]``, set by the MHAD / NATOPS loaders); a
            :class:`CropBox` / ``(top, bottom, left, right)`` applies that box to every record; ``False`` disables
            cropping.
        dtype: ``float`` (float32 ``[0, 1]``) or ``uint8`` (``[0, 255]``).
        skip_bad: check every record at construction and drop the bad ones (listed in :attr:`skipped`).
        seed: base seed of the per-item generators.
        hflip: probability of mirroring a clip left-right (training augmentation; 0 disables).
        time_flip: probability of reversing a clip in time (training augmentation; 0 disables).
        min_frames: videos with fewer frames are an error (or skipped with ``skip_bad``); ``None``: short videos are
            padded by repeating their last frame and ``Clip.n_padded`` counts the padding.
        antialias: antialiased bilinear resizing when shrinking.
        short_hint: the advice of the error for a video shorter than ``min_frames`` (the caller's own option, e.g.
            eval's ``--frames``; ``{n}`` is replaced by the video's frame count); default: training's ``data.skip_bad``.

    Attributes:
        records: the records kept.
        skipped: ``(path, reason)`` of each record dropped by the ``skip_bad`` scan.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        n_frames: int,
        size: int | None,
        sampling: str = "uniform",
        crop: CropBox | Sequence[int] | Literal[False] | None = None,
        dtype: str = "float",
        skip_bad: bool = False,
        seed: int = 0,
        *,
        hflip: float = 0.0,
        time_flip: float = 0.0,
        min_frames: int | None = None,
        antialias: bool = True,
        short_hint: str | None = None,
    ) -> None:
        if int(n_frames) < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        if size is not None and int(size) < 1:
            raise ValueError(f"size must be >= 1 (or None for native resolution), got {size}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        for name, p in (("hflip", hflip), ("time_flip", time_flip)):
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], got {p}")
        if min_frames is not None and int(min_frames) < 1:
            raise ValueError(f"min_frames must be >= 1 or None, got {min_frames}")
        self.n_frames = int(n_frames)
        self.size = None if size is None else int(size)
        self.sampling = check_mode(sampling)
        self.crop: CropBox | Literal[False] | None = False if crop is False else CropBox.parse(crop)
        self.dtype = dtype
        self.seed = int(seed)
        self.hflip = float(hflip)
        self.time_flip = float(time_flip)
        self.min_frames = None if min_frames is None else int(min_frames)
        self.short_hint = short_hint  # what to do about a video shorter than min_frames (the caller's own option)
        self.antialias = bool(antialias)
        self.epoch = 0
        self.records: list[VideoRecord] = list(records)
        self.skipped: list[tuple[str, str]] = []
        self._n_cache: dict[str, int] = {}
        if skip_bad:
            bad_items = self._scan()
            if bad_items:
                bad_index = {i for i, _, _ in bad_items}
                self.records = [r for i, r in enumerate(self.records) if i not in bad_index]
                self.skipped = bad = [(p, why) for _, p, why in bad_items]
                shown = "; ".join(f"{p}: {why}" for p, why in bad[:3])
                log.warning("ClipDataset skipped %d bad video(s) of %d: %s%s", len(bad), len(bad) + len(self.records),
                            shown, " ..." if len(bad) > 3 else "")

    # ------------------------------------------------------------------ records
    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Change the random clips / flips drawn (same ``(seed, epoch, index)`` -> same clip).

        Call it before iterating a ``DataLoader`` each epoch; with ``persistent_workers=True`` the workers keep the
        copy they started with, so pass the epoch through a sampler or recreate the loader instead.
        """
        self.epoch = int(epoch)

    def crop_for(self, record: VideoRecord) -> CropBox | None:
        """The crop box applied to ``record`` under this dataset's ``crop`` setting."""
        if self.crop is False:
            return None
        return self.crop if self.crop is not None else record_crop(record)

    def frame_count(self, record: VideoRecord) -> int:
        """Number of usable frames of a record (its segment length, its known count, or counted once and cached)."""
        seg = record_segment(record)
        if seg is not None:
            return seg[1] - seg[0]
        if record.path not in self._n_cache:
            if record.n_frames is not None and record.n_frames > 0:
                n = int(record.n_frames)
            else:
                try:
                    n = count_frames(record.path)
                except BadVideoError as e:
                    raise _explain_empty_folder(Path(record.path), e) from e
            self._n_cache[record.path] = n
        return self._n_cache[record.path]

    def _check_length(self, record: VideoRecord, n: int) -> None:
        if n < 1:
            raise BadVideoError(record.path, "video has no frames")
        if self.min_frames is not None and n < self.min_frames:
            raise BadVideoError(
                record.path,
                f"has {n} frames, fewer than the {self.min_frames} frames per clip; {self.short_hint.format(n=n)}" if self.short_hint
                else f"has {n} frames, fewer than min_frames={self.min_frames}; lower min_frames, drop the video, "
                "or skip such videos with data.skip_bad=true (ClipDataset(skip_bad=True))",
            )

    def _read(self, record: VideoRecord, indices: np.ndarray) -> np.ndarray:
        """Decode the frames at ``indices`` (relative to the record's segment) -> uint8 ``[T, H, W, 3]``."""
        seg = record_segment(record)
        offset = seg[0] if seg is not None else 0
        uniq, inverse = np.unique(indices, return_inverse=True)  # decode each distinct frame once (padding repeats)
        try:
            frames = read_video(record.path, (uniq + offset).tolist())
        except BadVideoError as e:
            raise _explain_empty_folder(Path(record.path), e) from e
        return frames[inverse]

    @staticmethod
    def _crop(record: VideoRecord, video: torch.Tensor, box: CropBox) -> torch.Tensor:
        try:
            return crop_frames(video, box)
        except ValueError as e:
            raise BadVideoError(record.path, str(e)) from e

    def scan(self) -> list[tuple[str, str]]:
        """Check every record (frame count, ``min_frames``, first and last frame decodable, crop fits).

        Returns:
            ``(path, reason)`` for each bad record, in record order. Frame counts found are cached.
        """
        return [(p, why) for _, p, why in self._scan()]

    def _scan(self) -> list[tuple[int, str, str]]:
        bad: list[tuple[int, str, str]] = []
        for i, r in enumerate(self.records):
            try:
                n = self.frame_count(r)
                self._check_length(r, n)
                frames = self._read(r, np.array(sorted({0, n - 1}), dtype=np.int64))
                if Path(r.path).is_dir():  # a frame folder: every image, not only the first and last
                    check_frame_folder(r.path)
                box = self.crop_for(r)
                if box is not None:
                    self._crop(r, frames_to_tensor(frames), box)
            except (BadVideoError, ValueError) as e:
                if isinstance(e, BadVideoError):
                    reason = e.reason if e.path == r.path else f"{Path(e.path).name}: {e.reason}"
                else:
                    reason = str(e)
                bad.append((i, r.path, reason))
        return bad

    # ------------------------------------------------------------------ items
    def generator(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch."""
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def __getitem__(self, index: int) -> Clip:
        return self.get(index)

    def get(self, index: int, rng: np.random.Generator | torch.Generator | None = None) -> Clip:
        """Item ``index`` (a :class:`Clip`), drawing randomness from ``rng`` (default :meth:`generator`)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} clips")
        index = index % len(self)
        record = self.records[index]
        rng = self.generator(index) if rng is None else rng
        n = self.frame_count(record)
        self._check_length(record, n)
        sample = sample_indices(n, self.n_frames, self.sampling, rng)
        frames = self._read(record, sample.indices)  # uint8 [T, H, W, 3]

        video = frames_to_tensor(frames)  # uint8 [T, 3, H, W]
        box = self.crop_for(record)
        if box is not None:
            video = self._crop(record, video, box)
        video = resize_pad(video, self.size, self.antialias) if self.size is not None else to_float(video)

        indices = sample.indices.tolist()
        do_hflip = self.hflip > 0 and _uniform01(rng) < self.hflip
        do_tflip = self.time_flip > 0 and _uniform01(rng) < self.time_flip
        if do_hflip:
            video = hflip_frames(video)
        if do_tflip:
            video = time_flip_frames(video)
            indices = indices[::-1]
        if self.dtype == "uint8":
            video = to_uint8_tensor(video)
        return Clip(
            video=video.contiguous(),
            subject=record.subject,
            class_index=record.class_index,
            text=record.text,
            path=record.path,
            indices=indices,
            n_padded=sample.n_padded,
            class_name=record.class_name,
            take=record.take,
            hflipped=bool(do_hflip),
            time_flipped=bool(do_tflip),
        )

    def first_frame(self, index: int) -> torch.Tensor:
        """Frame 0 of record ``index``, cropped, resized and padded like the clips: ``[3, size, size]``."""
        record = self.records[index]
        video = frames_to_tensor(self._read(record, np.zeros(1, dtype=np.int64)))
        box = self.crop_for(record)
        if box is not None:
            video = self._crop(record, video, box)
        video = resize_pad(video, self.size, self.antialias) if self.size is not None else to_float(video)
        return (to_uint8_tensor(video) if self.dtype == "uint8" else video)[0]
