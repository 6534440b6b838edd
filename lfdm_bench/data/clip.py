"""The one clip interface of every dataset: :class:`Clip` (one video) and :class:`ClipBatch` (a collated batch).

A clip is a video tensor plus everything needed to condition, group and trace it:

- ``video``: ``[T, 3, H, W]``, float32 in ``[0, 1]`` (or uint8 in ``[0, 255]`` when asked for);
- ``subject``, ``class_index``, ``class_name``, ``text`` (the condition), ``path`` (the source video);
- ``indices``: the source frame index of each output frame (after a time flip, in output order);
- ``n_padded``: how many trailing frames repeat the last real frame because the video was too short.

:func:`collate` stacks clips into a :class:`ClipBatch` with ``video`` ``[B, T, 3, H, W]``; pass it as
``collate_fn`` to a ``torch.utils.data.DataLoader``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch


@dataclass
class Clip:
    """One clip of one video.

    Attributes:
        video: ``[T, 3, H, W]`` float32 in ``[0, 1]`` or uint8 in ``[0, 255]``.
        subject: subject identifier (splits are by subject).
        class_index: index into the dataset's class list.
        text: condition text (LFDM: the class name or description, verbatim).
        path: source video file or frame folder.
        indices: source frame index of each of the ``T`` output frames.
        n_padded: number of frames padded by repeating the last frame (0 when the video was long enough).
        class_name: the class name (e.g. ``happiness``, ``a21``).
        take: take / trial / repetition identifier.
        hflipped: whether the frames were mirrored left-right (augmentation).
        time_flipped: whether the frames were reversed in time (augmentation).
    """

    video: torch.Tensor
    subject: str
    class_index: int
    text: str
    path: str
    indices: list[int]
    n_padded: int = 0
    class_name: str = ""
    take: str = ""
    hflipped: bool = False
    time_flipped: bool = False

    def __post_init__(self) -> None:
        v = self.video
        if not isinstance(v, torch.Tensor) or v.ndim != 4 or v.shape[1] != 3:
            shape = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise ValueError(f"Clip {self.path}: video must be a tensor [T, 3, H, W], got {shape}")
        if v.dtype not in (torch.float32, torch.uint8):
            raise ValueError(f"Clip {self.path}: video dtype must be float32 or uint8, got {v.dtype}")
        if len(self.indices) != v.shape[0]:
            raise ValueError(f"Clip {self.path}: {len(self.indices)} frame indices for {v.shape[0]} frames")

    @property
    def n_frames(self) -> int:
        return int(self.video.shape[0])


@dataclass
class ClipBatch:
    """A batch of clips.

    Attributes:
        video: ``[B, T, 3, H, W]`` float32 ``[0, 1]`` or uint8.
        class_index: int64 ``[B]``.
        indices: int64 ``[B, T]`` source frame indices.
        n_padded: int64 ``[B]``.
        subject, text, path, class_name, take: lists of length ``B``.
    """

    video: torch.Tensor
    class_index: torch.Tensor
    indices: torch.Tensor
    n_padded: torch.Tensor
    subject: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    path: list[str] = field(default_factory=list)
    class_name: list[str] = field(default_factory=list)
    take: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.video.shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "ClipBatch":
        """A copy with the tensors moved to ``device`` (lists are shared)."""
        return ClipBatch(
            video=self.video.to(device, non_blocking=non_blocking),
            class_index=self.class_index.to(device, non_blocking=non_blocking),
            indices=self.indices.to(device, non_blocking=non_blocking),
            n_padded=self.n_padded.to(device, non_blocking=non_blocking),
            subject=self.subject, text=self.text, path=self.path, class_name=self.class_name, take=self.take,
        )

    def pin_memory(self) -> "ClipBatch":
        """Called by ``DataLoader(pin_memory=True)``."""
        self.video = self.video.pin_memory()
        self.class_index = self.class_index.pin_memory()
        self.indices = self.indices.pin_memory()
        self.n_padded = self.n_padded.pin_memory()
        return self


def collate(clips: Sequence[Clip]) -> ClipBatch:
    """Stack clips of identical shape and dtype into a :class:`ClipBatch` (``video`` ``[B, T, 3, H, W]``)."""
    if len(clips) == 0:
        raise ValueError("collate needs at least one clip")
    shapes = {(tuple(c.video.shape), c.video.dtype) for c in clips}
    if len(shapes) != 1:
        detail = ", ".join(f"{c.path}: {tuple(c.video.shape)} {c.video.dtype}" for c in clips[:4])
        raise ValueError(
            f"cannot batch clips of different shapes or dtypes ({detail}); "
            "use one n_frames and one size for the whole dataset"
        )
    return ClipBatch(
        video=torch.stack([c.video for c in clips]),
        class_index=torch.tensor([c.class_index for c in clips], dtype=torch.int64),
        indices=torch.tensor([list(c.indices) for c in clips], dtype=torch.int64),
        n_padded=torch.tensor([c.n_padded for c in clips], dtype=torch.int64),
        subject=[c.subject for c in clips],
        text=[c.text for c in clips],
        path=[c.path for c in clips],
        class_name=[c.class_name for c in clips],
        take=[c.take for c in clips],
    )
