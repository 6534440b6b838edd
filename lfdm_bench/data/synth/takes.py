"""More takes of an embedded dataset: its own videos plus fresh real takes of the same (subject, class) pairs.

Every video is a pure function of ``(config, subject, class, take)`` (:mod:`lfdm_bench.data.synth.make`) and a
take's motion does not depend on ``n_takes``, so the dataset rendered with ``n_takes + extra`` takes holds the
dataset's own videos as takes ``0..n_takes-1`` (checked: same appearance and motion) and ``extra`` fresh, independent
draws as takes ``n_takes..``: real videos that are not in the dataset, the stand-in for a perfect generator (the
``real_fresh`` calibration row, ``scripts/detector_sanity.py``).

The videos go to the cache folder of ``ensure_synthetic(name, n_takes=n_takes + extra, ...)`` (same files, same
atomic writes), rendering only the requested splits / takes; a later ``ensure_synthetic`` call with those options
completes the folder and keeps what is there.

Frame 0: every take of a subject starts from the same rest pose (synth-faces: every expression control is 0 at frame
0; synth-actions: the figure's rest pose), so frame 0 of a fresh take is the source image the generators get from
the pair's own takes (``tests/test_retrieval.py`` checks it on the decoded videos).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Sequence

from lfdm_bench.data.records import VideoRecord
from lfdm_bench.data.synth.make import (SYNTH_DATASETS, _render_and_write, cache_folder, dataset_records, make_config,
                                        take_motion)
from lfdm_bench.utils.progress import progress_bar


def extended_takes(name: str, extra: int, *, splits: Sequence[str] | None = None, fresh_only: bool = False,
                   root: str | os.PathLike | None = None, progress: bool = True, **overrides) -> list[VideoRecord]:
    """Records of the dataset ``name`` (options ``overrides``) rendered with ``extra`` more takes per pair.

    ``splits``: only the subjects of these splits (default: all); ``fresh_only``: only the new takes (``take_index
    >= n_takes``, ``params["fresh"] = True``). Missing videos are rendered (one process; ~0.08 s per 64 px,
    16-frame video); takes ``< n_takes`` are checked to be the dataset's own takes and fresh takes to differ from
    every one of their pair's.
    """
    if name not in SYNTH_DATASETS:
        raise ValueError(f"fresh takes exist only for the embedded datasets {sorted(SYNTH_DATASETS)} (they are "
                         f"rendered); {name!r} has none")
    if not isinstance(extra, int) or extra < 1:
        raise ValueError(f"extra takes must be an int >= 1, got {extra!r}")
    base = make_config(name, **overrides)
    config = replace(base, n_takes=base.n_takes + extra)
    folder = cache_folder(config, root)
    records = [r for r in dataset_records(config, folder) if (splits is None or r.split in splits)
               and (not fresh_only or r.params["take_index"] >= base.n_takes)]
    for r in records:
        i, c, k = r.params["subject_index"], r.class_index, r.params["take_index"]
        own = [take_motion(base, i, c, j) for j in range(base.n_takes)]
        if k < base.n_takes and r.params["motion"] != own[k]:
            raise RuntimeError(f"{r.path}: take {k} differs from the dataset's own take (the generator changed?)")
        if k >= base.n_takes and r.params["motion"] in own:
            raise RuntimeError(f"{r.path}: fresh take {k} repeats one of the dataset's takes")
        r.params["fresh"] = k >= base.n_takes
    todo = [r for r in records if not (os.path.isfile(r.path) and os.path.getsize(r.path) > 0)]
    if todo:
        with progress_bar(total=len(todo), desc=f"rendering {len(todo)} takes of {name}", unit="video",
                          disable=not progress) as bar:
            for r in todo:
                os.makedirs(os.path.dirname(r.path), exist_ok=True)
                _render_and_write((config, r.params["subject_index"], r.class_index, r.params["take_index"], r.path))
                bar.update()
    return records
