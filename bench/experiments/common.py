"""What the experiments share: their evaluation protocol, scoring a sample folder into a result row, and their
tables (``OUT/<name>.md`` with the protocol header, ``OUT/<name>.csv``); their state is a
:class:`~bench.state.ResumeState` (``OUT/<name>.json``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from bench.ablate import num_or_none, row_from_result
from bench.results import result_feature_set, write_feature_set
from bench.state import ResumeState
from lfdm_bench.data.config import DataConfig
from lfdm_bench.data.registry import get_dataset
from metrics.evaluate import evaluate
from metrics.format import display_rows, protocol_header, to_markdown
from metrics.protocol import EvalProtocol
from lfdm_bench.sampling.generate import seconds_per_video
from lfdm_bench.utils.io import atomic_write_text, ensure_writable

LogFn = Callable[[str], None]


def say_to(log_fn: LogFn | None) -> LogFn:
    """``log_fn``, or a print to stderr."""
    return log_fn or (lambda m: print(m, file=sys.stderr, flush=True))


def check_split(split: str, per_pair: int) -> None:
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    if int(per_pair) < 1:
        raise ValueError(f"per_pair must be >= 1, got {per_pair}")


def experiment_protocol(data: DataConfig, split: str, max_videos: int | None,
                        protocol_kwargs: dict[str, Any]) -> EvalProtocol:
    """The protocol of an experiment on ``data`` (``n_frames`` and ``resolution`` default to the run's clip length and
    frame size)."""
    kw = dict(protocol_kwargs)
    kw.setdefault("n_frames", data.n_frames)
    kw.setdefault("resolution", data.size)  # the size the run generates at (as bench's)
    return EvalProtocol(dataset=data.dataset, root=data.root, dataset_options=dict(data.options), split=split,
                        max_generated=max_videos, **kw)


def experiment_state(out: Path, name: str, request: dict[str, Any]) -> ResumeState:
    """``OUT/<name>.json``: the request, the protocol and detector used, finished parts and rows, notes (``OUT`` is
    checked writable first, before any work)."""
    ensure_writable(out)
    return ResumeState(out / f"{name}.json", request, what=f"a {name} experiment", experiment=name, protocol=None,
                       detector=None, notes=[])


def score(protocol: EvalProtocol, folder: Path, metrics: Sequence[str], detector: Any, cache: Any, progress: bool,
          say: LogFn, state: ResumeState, features: Path | None = None) -> dict[str, Any]:
    """Evaluate one sample folder into the metric columns of a row; the protocol / detector used go into the state.
    ``features``: also write the per-video detector features of the generated and real videos there
    (:func:`bench.results.write_feature_set`: paired differences between rows scored against the same real set)."""
    dataset = get_dataset(protocol.dataset, root=protocol.root, **protocol.dataset_options)
    result = evaluate(protocol, folder, metrics, dataset=dataset, detector=detector, cache=cache, progress=progress,
                      log_fn=say)
    state.data["protocol"], state.data["detector"] = result.protocol, result.detector
    for note in result.notes:
        if note not in state.data["notes"]:
            state.data["notes"].append(note)
    feature_set = result_feature_set(result, protocol.split) if features is not None else None
    if feature_set is not None:
        write_feature_set(features, *feature_set)
    row = row_from_result(protocol.split, result)
    row["seconds_per_video"] = num_or_none(seconds_per_video(folder / "manifest.csv"))
    row["samples"] = str(folder)
    return row


def write_experiment_tables(state: ResumeState, title: str, columns: Sequence[str],
                            extra: Sequence[str] = ()) -> dict[str, str]:
    """``OUT/<name>.md`` (title, protocol header, table, notes) and ``OUT/<name>.csv`` (raw rows); also recorded in
    the state as ``tables``, which is saved."""
    rows = state.data["rows"]
    header = protocol_header(state.data.get("protocol"), state.data.get("detector"))
    lines = [f"# {title}", "", *header, *([""] if header else []),
             to_markdown(display_rows(rows, columns, g_columns=("guidance",))), ""]
    lines += [f"- {e}" for e in extra]
    lines += [f"- {n}" for n in state.data.get("notes", [])]
    name = state.data["experiment"]
    md, csv = state.path.parent / f"{name}.md", state.path.parent / f"{name}.csv"
    atomic_write_text(md, "\n".join(lines) + "\n")
    atomic_write_text(csv, pd.DataFrame(list(rows)).to_csv(index=False))
    state.data["tables"] = {"md": str(md), "csv": str(csv), "json": str(state.path)}
    state.save()
    return state.data["tables"]
