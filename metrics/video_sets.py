"""A set of videos given as a path, for ``lfdm-bench fvd REAL FAKE``: records the evaluation machinery reads.

A set is one of

* a **folder of videos** (``.mp4 .avi .mov .mkv .webm .gif``, found recursively; read by
  :func:`lfdm_bench.data.video_io.read_video`: decord / PyAV, GIFs with PIL);
* a **folder of frame folders**: every folder holding images (``.png .jpg .jpeg .bmp``) is one video, its frames in
  natural order (``f2`` before ``f10``, :func:`lfdm_bench.data.video_io.natural_key`);
* a **.npy / .npz array** ``uint8 [N, T, H, W, 3]`` (an ``.npz`` with one array, or with one named ``videos``): the
  videos are written once, losslessly, as PNG frame folders under ``$LFDM_BENCH_CACHE/array_videos/<content hash>``,
  so they are read by the same reader as every other video (and their cached features stay valid).

Each video becomes a :class:`~lfdm_bench.data.records.VideoRecord` (split ``test``; class and subject ``all`` unless a
grouping names them, :class:`Grouping`). Metadata files (``.json .csv .txt .md .yaml .yml``) and hidden files in a
folder are skipped; any other file is refused, naming it. :func:`check_set` reads frame 0 of every video and counts
its frames, so an empty, corrupt, short or odd-sized video is refused before any feature is computed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from lfdm_bench.data.records import VideoRecord
from lfdm_bench.data.video_io import IMAGE_EXTS, VIDEO_EXTS, count_frames, natural_key, read_video
from lfdm_bench.utils.io import atomic_save
from lfdm_bench.utils.paths import cache_dir

__all__ = ["SET_VIDEO_EXTS", "ARRAY_EXTS", "VideoSet", "Grouping", "read_set", "check_set", "parse_pattern"]

SET_VIDEO_EXTS = tuple(sorted(set(VIDEO_EXTS) | {".gif"}))
ARRAY_EXTS = (".npy", ".npz")
METADATA_EXTS = (".json", ".csv", ".txt", ".md", ".yaml", ".yml")
ALL = "all"  # the class / subject of every video when no grouping names one


@dataclass
class VideoSet:
    """The videos of one set: ``records[i]`` is the video named ``names[i]`` (its path relative to the set's folder,
    or its index in an array); ``kind`` is ``videos``, ``frame folders`` or ``array``."""

    path: Path
    kind: str
    names: list[str]
    records: list[VideoRecord]

    @property
    def label(self) -> str:
        return f"{self.path} ({len(self.records)} {self.kind.replace('frame folders', 'frame-folder videos')})"


@dataclass
class Grouping:
    """How the class and subject of a video are read from its path: a ``--group-by`` pattern (fields ``{class}`` and
    ``{subject}``, glob-like ``*`` / ``?`` / ``**``, matched against the path relative to the set's folder, with or
    without its extension) or a ``--groups`` CSV (columns ``path`` and ``class`` and / or ``subject``; ``path``
    relative to the set's folder, absolute, or an array index)."""

    pattern: str | None = None
    table: dict[str, dict[str, str]] | None = None
    source: str = ""

    @property
    def fields(self) -> set[str]:
        if self.pattern is not None:
            return set(re.findall(r"\{(class|subject)\}", self.pattern))
        rows = next(iter(self.table.values()), {}) if self.table else {}
        return {k for k in ("class", "subject") if k in rows}

    @classmethod
    def from_csv(cls, path: Path) -> "Grouping":
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise ValueError(f"--groups {path}: not UTF-8 text; save it as UTF-8 CSV") from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = [c.strip() for c in reader.fieldnames or []]
        if "path" not in columns or not {"class", "subject"} & set(columns):
            raise ValueError(f"--groups {path}: needs a column 'path' and 'class' and / or 'subject', has {columns}")
        table: dict[str, dict[str, str]] = {}
        for i, row in enumerate(reader):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            if not row.get("path"):
                raise ValueError(f"--groups {path}, row {i + 2}: empty path")
            table[row["path"]] = {k: row[k] for k in ("class", "subject") if k in row}
        if not table:
            raise ValueError(f"--groups {path} lists no videos")
        return cls(table=table, source=f"--groups {path}")

    def labels(self, name: str, absolute: str, where: Path) -> dict[str, str]:
        """``{"class": ..., "subject": ...}`` of the video ``name`` (relative) / ``absolute`` of the set at ``where``;
        a video the grouping does not cover raises ``ValueError`` naming it."""
        if self.pattern is not None:
            rx = parse_pattern(self.pattern)
            for candidate in (name, str(Path(name).with_suffix("")) if Path(name).suffix else None):
                m = rx.fullmatch(candidate) if candidate else None
                if m:
                    return {k: v for k, v in m.groupdict().items() if v is not None}
            raise ValueError(f"{where / name}: its path {name!r} does not match --group-by {self.pattern!r} (matched "
                             f"against the path relative to {where}, with or without the extension)")
        assert self.table is not None
        for key in (name, absolute, str(Path(name).with_suffix(""))):
            if key in self.table:
                return dict(self.table[key])
        raise ValueError(f"{where / name}: not listed in {self.source} (path column: relative to {where}, absolute, or "
                         "an array index)")


def parse_pattern(pattern: str) -> re.Pattern[str]:
    """``'{class}/{subject}_*'`` -> a regex with named groups ``class`` / ``subject`` (``*``: any characters but
    ``/``, ``**``: any, ``?``: one character); an unknown field or a field given twice raises ``ValueError``."""
    out, seen, i = [], set(), 0
    for m in re.finditer(r"\{([^{}]*)\}|\*\*|\*|\?", pattern):
        out.append(re.escape(pattern[i:m.start()]))
        token = m.group(0)
        if token.startswith("{"):
            field = m.group(1)
            if field not in ("class", "subject"):
                raise ValueError(f"--group-by {pattern!r}: unknown field {{{field}}}; the fields are {{class}} and "
                                 "{subject}")
            if field in seen:
                raise ValueError(f"--group-by {pattern!r}: {{{field}}} appears twice")
            seen.add(field)
            out.append(f"(?P<{field}>[^/]+?)")
        else:
            out.append({"**": ".*", "*": "[^/]*", "?": "[^/]"}[token])
        i = m.end()
    out.append(re.escape(pattern[i:]))
    if not seen:
        raise ValueError(f"--group-by {pattern!r} names no field: use {{class}} and / or {{subject}}, e.g. "
                         "'{class}/{subject}_*'")
    return re.compile("".join(out))


def read_set(path: str | Path, role: str, grouping: Grouping | None = None) -> VideoSet:
    """The videos at ``path`` (``role``: ``REAL`` or ``FAKE``, for messages) as records; see the module docstring."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{role} {path} does not exist: give a folder of videos, a folder of frame folders, "
                                "or a .npy / .npz array")
    if path.is_file():
        if path.suffix.lower() not in ARRAY_EXTS:
            raise ValueError(f"{role} {path}: a file must be a .npy / .npz array uint8 [N, T, H, W, 3]; for videos "
                             "give their folder")
        kind, names, files = "array", *_array_videos(path, role)
        base = path
    else:
        kind, names, files = _scan_folder(path, role)
        base = path
    records = []
    for name, file in zip(names, files):
        labels = grouping.labels(name, str(Path(file).resolve()), base) if grouping is not None else {}
        cls, subject = labels.get("class") or ALL, labels.get("subject") or ALL
        records.append(VideoRecord(path=str(Path(file).resolve()), subject=subject, class_index=0, class_name=cls,
                                   text=cls, split="test", take=name))
    return VideoSet(path=path, kind=kind, names=names, records=records)


def _scan_folder(folder: Path, role: str) -> tuple[str, list[str], list[Path]]:
    videos: list[Path] = []
    frame_dirs: list[Path] = []
    for p in sorted(folder.rglob("*"), key=lambda q: natural_key(q.relative_to(folder).as_posix())):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_dir():
            if any(c.is_file() and c.suffix.lower() in IMAGE_EXTS for c in p.iterdir()):
                frame_dirs.append(p)
            continue
        ext = p.suffix.lower()
        if ext in SET_VIDEO_EXTS:
            videos.append(p)
        elif ext in IMAGE_EXTS:
            if p.parent == folder:
                raise ValueError(f"{role} {p}: a single image at the top of the set; frames of one video go in a "
                                 "subfolder of their own (one subfolder per video)")
        elif ext not in METADATA_EXTS:
            raise ValueError(f"{role} {p}: unknown extension {ext or '(none)'!r}; videos are "
                             f"{' '.join(SET_VIDEO_EXTS)}, frames {' '.join(IMAGE_EXTS)} (one subfolder per video)")
    if videos and frame_dirs:
        raise ValueError(f"{role} {folder} mixes video files (e.g. {videos[0]}) and frame folders (e.g. "
                         f"{frame_dirs[0]}); give one kind per set")
    inside = [v for v in videos if any(d in v.parents for d in frame_dirs)]
    if inside:
        raise ValueError(f"{role} {inside[0]}: a video file inside a frame folder")
    if not videos and not frame_dirs:
        raise ValueError(f"{role} {folder} is empty: no videos ({' '.join(SET_VIDEO_EXTS)}) and no frame folders "
                         f"(subfolders of {' '.join(IMAGE_EXTS)} frames)")
    found = videos or frame_dirs
    return ("videos" if videos else "frame folders"), [p.relative_to(folder).as_posix() for p in found], found


def _array_videos(path: Path, role: str) -> tuple[list[str], list[Path]]:
    """The videos of an array file as PNG frame folders in the cache (written once per file content)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    target = cache_dir("array_videos") / f"{_safe(path.stem)}-{digest.hexdigest()[:20]}"
    done = target / "complete.txt"
    if done.is_file():
        n = int(done.read_text().split()[0])
    else:
        array = _load_array(path, role)
        n = len(array)
        from PIL import Image

        for i, video in enumerate(array):
            folder = target / f"{i:06d}"
            folder.mkdir(parents=True, exist_ok=True)
            for t, frame in enumerate(video):
                atomic_save(folder / f"{t:06d}.png", lambda tmp, fr=frame: Image.fromarray(fr).save(tmp, format="PNG"))
        atomic_save(done, lambda tmp: Path(tmp).write_text(f"{n} videos of {path.resolve()}\n"))
    return [str(i) for i in range(n)], [target / f"{i:06d}" for i in range(n)]


def _load_array(path: Path, role: str) -> np.ndarray:
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as data:
                keys = list(data.keys())
                key = keys[0] if len(keys) == 1 else "videos" if "videos" in keys else None
                if key is None:
                    raise ValueError(f"{role} {path}: an .npz must hold one array or one named 'videos', holds "
                                     f"{keys}")
                array = data[key]
        else:
            array = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as e:
        if str(e).startswith(role):
            raise
        raise ValueError(f"{role} {path}: not a readable array ({' '.join(str(e).split())[:200]})") from None
    except (OSError, EOFError) as e:
        raise ValueError(f"{role} {path}: not a readable array ({type(e).__name__}: {e})") from None
    if array.dtype != np.uint8 or array.ndim != 5 or array.shape[-1] != 3:
        raise ValueError(f"{role} {path}: expected uint8 [N, T, H, W, 3], got {array.dtype} {list(array.shape)}; "
                         "convert floats in [0, 1] with (x * 255).round().astype(np.uint8)")
    if array.shape[0] == 0:
        raise ValueError(f"{role} {path} is empty: it holds 0 videos")
    return array


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "array"


def check_set(videos: VideoSet, role: str, n_frames: int, protocol: str) -> list[VideoRecord]:
    """Read frame 0 of every video and count its frames: an unreadable or corrupt video, one shorter than the
    protocol's ``n_frames``, or a frame size other than the set's most common one raises ``ValueError`` naming the
    file. Returns the records with ``n_frames`` set."""
    out, sizes = [], {}
    for r in videos.records:
        n = count_frames(r.path)
        h, w = read_video(r.path, [0])[0].shape[:2]
        if n < n_frames:
            raise ValueError(f"{role} {r.path}: {n} frames, but protocol {protocol} reads clips of {n_frames} frames: "
                             f"pass --frames {max(n, 9)} or fewer (>= 9), or drop the video"
                             if n >= 9 else
                             f"{role} {r.path}: {n} frames, but protocol {protocol} reads clips of {n_frames} frames "
                             "(and the detector needs at least 9): drop the video")
        sizes.setdefault((int(h), int(w)), []).append(r.path)
        out.append(replace(r, n_frames=int(n)))
    if len(sizes) > 1:
        common = max(sizes, key=lambda k: len(sizes[k]))
        odd = next(k for k in sizes if k != common)
        counts = ", ".join(f"{len(v)} at {h}x{w}" for (h, w), v in sorted(sizes.items(), key=lambda kv: -len(kv[1])))
        raise ValueError(f"{role} {sizes[odd][0]}: frames are {odd[0]}x{odd[1]}, most of the set's are "
                         f"{common[0]}x{common[1]} ({counts}); one set is read at one frame size: resize the videos "
                         "alike or split the set")
    return out


def class_list(*sets: Sequence[VideoRecord]) -> list[str]:
    """The sorted class names of the records of all sets (the class list of the evaluation)."""
    return sorted({r.class_name for s in sets for r in s})
