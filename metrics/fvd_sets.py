"""FVD / KVD (and cFVD / sFVD) of two sets of videos given as paths: what ``lfdm-bench fvd REAL FAKE`` computes.

There is no second FVD path here: the two sets become :class:`~lfdm_bench.data.records.VideoRecord` lists
(:mod:`metrics.video_sets`), REAL is wrapped as a dataset (:class:`~lfdm_bench.data.info.DatasetInfo`) and FAKE as
its generated videos, and :func:`metrics.evaluate.evaluate` does the rest exactly as ``lfdm-bench eval`` does: the
``--protocol`` preset's clip rules (real and generated), load resize, quantisation, detector, covariance divisor, and
the real features cached by :mod:`metrics.feature_cache` under a key of everything that changes them (the REAL
files with their sizes and mtimes, clip settings, detector). Both sets are checked first
(:func:`metrics.video_sets.check_set`); FVD with fewer videos than the detector's feature dimension is refused unless
``allow_few`` (the covariances are then rank-deficient and FVD biased upwards).
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from lfdm_bench.data.info import DatasetInfo
from metrics.evaluate import evaluate
from metrics.feature_cache import FeatureCache
from metrics.protocol import EvalProtocol, EvalResult
from metrics.video_sets import ALL, Grouping, VideoSet, check_set, class_list, read_set

__all__ = ["SET_METRICS", "SetResult", "fvd_of_sets", "summary_line", "default_out", "write_json"]

SET_METRICS = ("fvd", "kvd", "cfvd", "sfvd")
GROUP_FIELD = {"cfvd": "class", "sfvd": "subject"}


@dataclasses.dataclass
class SetResult:
    """The evaluation (``result``: :class:`EvalResult`) of FAKE against REAL, with both sets as read."""

    result: EvalResult
    real: VideoSet
    fake: VideoSet
    grouping: Grouping | None


def fvd_of_sets(real: str | Path, fake: str | Path, metrics: Sequence[str] = ("fvd", "kvd"), *,
                preset: str = "lfdm-bench", detector: str | None = None, n_frames: int | None = None,
                ddof: int | None = None, seed: int = 0, batch_size: int = 8, device: str | None = None,
                grouping: Grouping | None = None, cache: FeatureCache | bool | None = True, allow_few: bool = False,
                progress: bool = False, log_fn: Callable[[str], None] | None = None) -> SetResult:
    """Evaluate the videos at ``fake`` against those at ``real`` (each a folder of videos, a folder of frame
    folders, or a ``.npy`` / ``.npz`` array; see :mod:`metrics.video_sets`) under the protocol preset ``preset``.

    ``metrics``: some of :data:`SET_METRICS`; ``cfvd`` / ``sfvd`` need a ``grouping`` naming ``{class}`` /
    ``{subject}``. Bad inputs raise ``ValueError`` (``FileNotFoundError`` for a missing path) naming the file."""
    wanted = [m for m in SET_METRICS if m in set(metrics)]
    unknown = sorted(set(metrics) - set(SET_METRICS))
    if unknown or not wanted:
        raise ValueError(f"--metric {','.join(unknown) or '(none)'}: lfdm-bench fvd computes {', '.join(SET_METRICS)}")
    for metric, field in GROUP_FIELD.items():
        if metric in wanted and grouping is None:
            raise ValueError(f"--metric {metric} needs --group-by or --groups (how the {field} of a video is read "
                             f"from its path, e.g. --group-by '{{class}}/{{subject}}_*')")
        if metric in wanted and field not in grouping.fields:
            raise ValueError(f"--metric {metric} needs the {field} of each video: {grouping.source} names no "
                             f"{'{' + field + '}' if grouping.pattern is not None else field + ' column'}")
    protocol = EvalProtocol(dataset=str(Path(real).expanduser().resolve()), preset=preset, n_frames=n_frames,
                            detector=detector, ddof=ddof, seed=seed, batch_size=batch_size, device=device)
    real_set, fake_set = read_set(real, "REAL", grouping), read_set(fake, "FAKE", grouping)
    need = max(2, protocol.ddof + 1)
    for role, s in (("REAL", real_set), ("FAKE", fake_set)):
        if len(s.records) < need:
            raise ValueError(f"{role} {s.path} holds {len(s.records)} video(s): FVD needs at least {need} per set for "
                             "a covariance at all (and more than the detector's feature dimension, 400 for I3D, "
                             "for a full-rank one)")
    real_recs = check_set(real_set, "REAL", protocol.n_frames, preset)
    fake_recs = check_set(fake_set, "FAKE", protocol.n_frames, preset)
    # a field no metric asks for is left out (every video 'all'), so no group is formed from it
    keep = {GROUP_FIELD[m] for m in wanted if m in GROUP_FIELD}
    real_recs, fake_recs = (_labelled(r, keep) for r in (real_recs, fake_recs))
    if "subject" in keep:
        known = {r.subject for r in real_recs}
        odd = [r for r in fake_recs if r.subject not in known]
        if odd:
            raise ValueError(f"FAKE {odd[0].path}: subject {odd[0].subject!r} has no real videos in REAL "
                             f"({len(odd)} fake video(s) name such subjects; REAL's: {sorted(known)[:5]}): sFVD "
                             "compares each subject with its own real videos")
    classes = class_list(real_recs, fake_recs)
    index = {c: i for i, c in enumerate(classes)}
    real_recs, fake_recs = ([dataclasses.replace(r, class_index=index[r.class_name]) for r in recs]
                            for recs in (real_recs, fake_recs))
    info = DatasetInfo(name=protocol.dataset, class_names=classes, class_texts=list(classes), records=real_recs,
                       root=real_set.path if real_set.path.is_dir() else real_set.path.parent,
                       notes=[f"videos of {real_set.label}"])
    result = evaluate(protocol, fake_recs, wanted, dataset=info, cache=cache, progress=progress, log_fn=log_fn)
    feats = result.features["generated"].get("i3d")
    dim = int(feats.shape[1]) if feats is not None and feats.ndim == 2 else 0
    n_real, n_fake = result.counts["real"].get("test", 0), result.counts["generated"].get("test", 0)
    if dim and min(n_real, n_fake) <= dim and not allow_few:
        role, n = ("REAL", n_real) if n_real <= n_fake else ("FAKE", n_fake)
        path = real_set.path if role == "REAL" else fake_set.path
        raise ValueError(f"{role} {path}: {n} videos, but detector {result.detector['name']} gives {dim}-d features: "
                         f"FVD needs at least {dim + 1} videos per set for a full-rank covariance (with fewer it is "
                         "biased upwards and unstable); add videos, or pass --allow-few to compute it anyway")
    result.protocol["video_sets"] = {
        "real": {"path": str(real_set.path.resolve()), "kind": real_set.kind, "n_videos": len(real_set.records)},
        "fake": {"path": str(fake_set.path.resolve()), "kind": fake_set.kind, "n_videos": len(fake_set.records)},
        "grouping": None if grouping is None else {"pattern": grouping.pattern, "source": grouping.source}}
    return SetResult(result=result, real=real_set, fake=fake_set, grouping=grouping)


def _labelled(records: Sequence[Any], keep: set[str]) -> list[Any]:
    return [dataclasses.replace(r, class_name=r.class_name if "class" in keep else ALL,
                                text=r.class_name if "class" in keep else ALL,
                                subject=r.subject if "subject" in keep else ALL) for r in records]


def _num(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.1f}" if abs(x) >= 100 else f"{x:.4g}"


def summary_line(res: SetResult) -> str:
    """``FVD 123.4  KVD 0.012  (N real vs M fake, protocol P, detector D)``, then one line per cFVD / sFVD."""
    r = res.result
    values = r.values
    parts = [f"{label} {_num(values[m].get('test'))}" for m, label in (("fvd", "FVD"), ("kvd", "KVD")) if m in values]
    n_real, n_fake = r.counts["real"].get("test", 0), r.counts["generated"].get("test", 0)
    det = (r.detector or {}).get("name", "?")
    lines = ["  ".join(parts + [f"({n_real} real vs {n_fake} fake, protocol {r.protocol['preset']}, detector {det})"])]
    for m, label, what in (("cfvd", "cFVD", "classes"), ("sfvd", "sFVD", "subjects")):
        v = values.get(m, {}).get("test")
        if v:
            lines.append(f"{label} {_num(v['mean'])} ± {_num(v['std'])} over {v['n_groups']} {what}"
                         + (f" ({v['n_skipped']} skipped)" if v["n_skipped"] else ""))
    return "\n".join(lines)


def default_out(fake: str | Path) -> Path:
    """Where the JSON goes by default: beside FAKE, ``<FAKE name>.fvd.json`` (an array: its stem)."""
    fake = Path(fake).expanduser()
    name = fake.stem if fake.is_file() else fake.name or "fake"
    return fake.resolve().parent / f"{name}.fvd.json"


def write_json(res: SetResult, path: str | Path) -> Path:
    """The full record (protocol, detector, environment, values, counts, notes, summary rows, the command) as JSON,
    written atomically, as ``eval`` writes ``metrics.json``."""
    from lfdm_bench.runs import environment
    from lfdm_bench.utils.io import atomic_write_json, jsonable
    from metrics.result_files import summary_rows

    record = jsonable(res.result.to_dict() | {"environment": environment(), "summary": summary_rows(res.result),
                                              "line": summary_line(res)})
    if sys.argv[1:2] == ["fvd"]:
        record["command"] = "lfdm-bench " + shlex.join(sys.argv[1:])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, record)
    return path
