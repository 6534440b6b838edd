"""How much an FVD would move with other videos: intervals, the real-vs-real floor, and the real row scored without
comparing a video with itself.

**Interval** (:func:`fvd_interval`): a normal interval centred on the point estimate, ``FVD +- z * SE``, where SE is
the standard deviation of FVD over bootstrap resamples (with replacement) of BOTH the generated and the real set.
Only the bootstrap's spread is used, never its percentiles: resampling with replacement duplicates videos, which
shrinks the covariance estimates and shifts every resampled FVD upwards (on Gaussian features the old generated-only
percentile interval lay entirely above the point estimate). Resampling both sets makes the SE estimate the spread of
FVD over fresh draws of both sets (checked on Gaussian features in ``tests/test_uncertainty.py``: the interval holds
the point estimate and covers the fresh-draw values at about its nominal rate).

**Floor** (:func:`real_floor`): FVD / cFVD / sFVD / KVD between two disjoint halves of the real videos, dealt per
(subject, class) pair so every class and subject is in both halves: what two samples of the same distribution score
at that size (not 0 for finite sets).

**Real (other take)** (:func:`leave_take_out`): each take slot ``k`` of every (subject, class) pair scored against
the pair's OTHER takes (the reference excludes the scored videos), averaged over the take slots: the score of a
generator as good as the data, without the optimism of comparing videos with themselves.

Values follow :func:`lfdm_bench.metrics.evaluate.evaluate`'s layout (``values[metric][split]``, ``counts``).
"""

from __future__ import annotations

import warnings
from typing import Any, Hashable, Sequence

import numpy as np

from lfdm_bench.data.records import VideoRecord
from lfdm_bench.metrics.fvd import FeatureStats, SmallSampleWarning, fvd_from_stats, frechet_distance
from lfdm_bench.metrics.groups import group_fvd, single_thread_blas, summarise_groups
from lfdm_bench.metrics.kvd import kvd_from_features

__all__ = ["INTERVAL_METHOD", "fvd_of", "fvd_interval", "pair_halves", "feature_scores", "real_floor",
           "leave_take_out"]

INTERVAL_METHOD = ("normal interval FVD +- z * SE, z = 1.96 (95%); SE = std of FVD over bootstrap resamples of both "
                   "the generated and the real videos (spread only; the resampled values are biased upwards)")


def fvd_of(gen: np.ndarray, real: np.ndarray, ddof: int = 1) -> float:
    """FVD between two feature sets ``[N, D]`` (small-sample warnings silenced: callers state the sizes)."""
    with warnings.catch_warnings(), single_thread_blas():
        warnings.simplefilter("ignore", SmallSampleWarning)
        return fvd_from_stats(FeatureStats().update(gen), FeatureStats().update(real), ddof=ddof)


def fvd_interval(gen: np.ndarray, real: np.ndarray, n_boot: int = 200, seed: int = 0, ddof: int = 1,
                 z: float = 1.96) -> dict[str, Any] | None:
    """``{"fvd", "se", "lo", "hi", "n_boot", "n_generated", "n_real", "method"}``: the point FVD and the normal
    interval ``fvd +- z * se`` (see the module docstring); ``None`` when ``n_boot <= 0`` or a set is too small."""
    gen, real = np.asarray(gen, np.float64), np.asarray(real, np.float64)
    if n_boot <= 0 or min(len(gen), len(real)) < max(3, ddof + 2):
        return None
    point = fvd_of(gen, real, ddof)
    rng = np.random.default_rng([seed, 7])
    vals = np.empty(n_boot)
    with single_thread_blas():
        for b in range(n_boot):
            g = gen[rng.integers(0, len(gen), len(gen))]
            r = real[rng.integers(0, len(real), len(real))]
            vals[b] = frechet_distance(g.mean(0), np.cov(g, rowvar=False, ddof=ddof), r.mean(0),
                                       np.cov(r, rowvar=False, ddof=ddof))
    se = float(vals.std(ddof=1))
    return {"fvd": point, "se": se, "lo": point - z * se, "hi": point + z * se, "n_boot": int(n_boot),
            "n_generated": len(gen), "n_real": len(real), "method": INTERVAL_METHOD}


def pair_halves(records: Sequence[VideoRecord], seed: int = 0) -> tuple[list[int], list[int]]:
    """Disjoint halves (A, B) by video, dealt per (subject, class) pair: each pair's takes are shuffled (seeded) and
    dealt alternately, the dealing continuing across pairs, so the halves differ by at most one video and every pair
    with two or more takes is in both. Returns sorted row indices of A and B."""
    rng = np.random.default_rng([seed, 3])
    pairs: dict[tuple[str, int], list[int]] = {}
    for i, r in enumerate(records):
        pairs.setdefault((r.subject, r.class_index), []).append(i)
    a: list[int] = []
    b: list[int] = []
    turn = 0
    for key in sorted(pairs, key=lambda k: (str(k[0]), k[1])):
        for i in rng.permutation(pairs[key]):
            (a if turn % 2 == 0 else b).append(int(i))
            turn += 1
    return sorted(a), sorted(b)


def _groups(feats_g: np.ndarray, labels_g: Sequence[Hashable], feats_r: np.ndarray, labels_r: Sequence[Hashable],
            ddof: int, label: str) -> dict[str, Any]:
    groups, _ = group_fvd(feats_g, labels_g, feats_r, labels_r, ddof)
    return summarise_groups(groups) | {label: {str(k): v for k, v in groups.items()}}


def feature_scores(gf: np.ndarray, g_recs: Sequence[VideoRecord], rf: np.ndarray, r_recs: Sequence[VideoRecord],
                   ddof: int = 1) -> dict[str, Any]:
    """FVD, cFVD (per class), sFVD (per subject) and KVD of generated features ``gf`` vs real ``rf``."""
    return {"fvd": fvd_of(gf, rf, ddof),
            "cfvd": _groups(gf, [r.class_name for r in g_recs], rf, [r.class_name for r in r_recs], ddof,
                            "per_class"),
            "sfvd": _groups(gf, [r.subject for r in g_recs], rf, [r.subject for r in r_recs], ddof, "per_subject"),
            "kvd": kvd_from_features(gf, rf) if min(len(gf), len(rf)) >= 2 else None}


def _as_record(scores: dict[str, Any], split: str, n_gen: int, n_real: int, interval: dict | None,
               what: str) -> dict[str, Any]:
    return {"values": {m: {split: v} for m, v in scores.items()},
            "counts": {"generated": {split: n_gen}, "real": {split: n_real}},
            "fvd_ci": None if interval is None else [interval["lo"], interval["hi"]], "fvd_interval": interval,
            "what": what}


def real_floor(feats: np.ndarray, records: Sequence[VideoRecord], split: str, *, ddof: int = 1, seed: int = 0,
               n_boot: int = 200) -> dict[str, Any]:
    """The real-vs-real floor: half B vs half A of :func:`pair_halves` (an evaluation-like record)."""
    ia, ib = pair_halves(records, seed)
    ra, rb = [records[i] for i in ia], [records[i] for i in ib]
    scores = feature_scores(feats[ib], rb, feats[ia], ra, ddof)
    what = (f"two disjoint halves of the {len(records)} real {split} videos ({len(ib)} vs {len(ia)}), dealt per "
            "(subject, class) pair")
    return _as_record(scores, split, len(ib), len(ia), fvd_interval(feats[ib], feats[ia], n_boot, seed, ddof), what)


def leave_take_out(feats: np.ndarray, records: Sequence[VideoRecord], split: str, *, ddof: int = 1, seed: int = 0,
                   n_boot: int = 200) -> dict[str, Any] | None:
    """Real (other take): for each take slot ``k`` (the k-th take of every pair, ordered by take), those videos vs the
    remaining takes; every value is the mean over the slots, the interval's SE the root-mean-square of the slots'.
    ``None`` when no pair has two takes."""
    pairs: dict[tuple[str, int], list[int]] = {}
    for i, r in enumerate(records):
        pairs.setdefault((r.subject, r.class_index), []).append(i)
    slot = np.full(len(records), -1)
    for rows in pairs.values():
        for k, i in enumerate(sorted(rows, key=lambda j: (records[j].take, records[j].path))):
            slot[i] = k
    n_slots = min(len(rows) for rows in pairs.values()) if pairs else 0
    if n_slots < 2:
        return None
    folds = []
    for k in range(n_slots):
        gi, ri = np.flatnonzero(slot == k), np.flatnonzero(slot != k)
        scores = feature_scores(feats[gi], [records[i] for i in gi], feats[ri], [records[i] for i in ri], ddof)
        folds.append((scores, fvd_interval(feats[gi], feats[ri], n_boot, seed + k, ddof), len(gi), len(ri)))

    def mean(key: str, sub: str | None = None) -> float | None:
        vals = [f[0][key] if sub is None else f[0][key][sub] for f in folds]
        return None if any(v is None for v in vals) else float(np.mean(vals))

    scores = {"fvd": mean("fvd"), "kvd": mean("kvd"),
              "cfvd": {"mean": mean("cfvd", "mean"), "std": mean("cfvd", "std"), "per_slot": [f[0]["cfvd"]
                                                                                             for f in folds]},
              "sfvd": {"mean": mean("sfvd", "mean"), "std": mean("sfvd", "std"), "per_slot": [f[0]["sfvd"]
                                                                                             for f in folds]}}
    interval = None
    if all(f[1] is not None for f in folds):
        se = float(np.sqrt(np.mean([f[1]["se"] ** 2 for f in folds])))
        interval = {"fvd": scores["fvd"], "se": se, "lo": scores["fvd"] - 1.96 * se, "hi": scores["fvd"] + 1.96 * se,
                    "n_boot": n_boot, "n_generated": folds[0][2], "n_real": folds[0][3], "method": INTERVAL_METHOD,
                    "per_slot": [f[1] for f in folds]}
    what = (f"each take slot of every (subject, class) pair ({folds[0][2]} videos) vs the pair's other takes "
            f"({folds[0][3]}), mean over {n_slots} slots: no video is compared with itself")
    return _as_record(scores, split, folds[0][2], folds[0][3], interval, what)
