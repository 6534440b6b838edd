"""How much an FVD would move with other subjects: intervals that fit how the sets are built, paired differences
between methods, the real-vs-real floor, and the real row scored without comparing a video with itself.

**Design.** Generated and real videos share their subjects (every generated video is made from a real subject's
source image), so a subject's appearance moves both sets together. The unit to resample is the subject: a
*subject-cluster bootstrap* (:func:`subject_bootstrap`) draws the subjects with replacement and a drawn subject
brings ALL its videos, generated and real, jointly (a subject drawn twice counts twice). Resampling single videos of
each set on its own (the old interval, still what :func:`fvd_interval` does when no subject ids are given) treats the
shared subject effects as independent noise: on simulated features with subject effects its SE was ~2.5x the true
spread (``tests/test_uncertainty.py``). Every resample is computed at once from per-subject sums (vectorised).

**Interval** (:data:`INTERVAL_METHOD`): FVD is the square of the Fréchet distance ``d = sqrt(FVD)``. The interval is a
bias-corrected normal interval on ``d``: ``c = 2 d - mean(d*)`` (the bootstrap's bias removed: resampling duplicates
subjects and an FVD estimate is biased upwards), ``[max(0, c - z SE(d*)), max(0, c + z SE(d*))]``, squared, with SE
scaled by sqrt(k / (k - 1)) for k subjects (the bootstrap's small-sample shortfall). It
never goes below 0 and, being bias-corrected, need not contain the (upward-biased) point estimate. A **difference**
of two methods (:func:`paired_differences`: the same resampled subjects for both, against the same real videos) uses
the bias-corrected normal interval on its own scale, ``D - (mean(D*) - D) +- z SE(D*)``: it may be negative. Both
cover the true population value at 91-97% in ``tests/test_uncertainty.py``'s simulation, where the video-level
bootstrap covers ~100% (its SE is too large). At a true FVD of exactly 0 (two samples of one distribution) the point
estimate is all bias and the interval, though >= 0, usually excludes 0: compare a method with the real-vs-real floor
or with another method through the paired difference, not through an interval's lower end.

**Floor** (:func:`real_floor`): FVD / cFVD / sFVD / KVD between two disjoint halves of the real videos, dealt per
(subject, class) pair so every class and subject is in both halves: what two samples of the same distribution score
at that size (not 0 for finite sets).

**Real (other take)** (:func:`leave_take_out`): each take slot ``k`` of every (subject, class) pair scored against
the pair's OTHER takes (the reference excludes the scored videos), averaged over the take slots: the score of a
generator as good as the data, without the optimism of comparing videos with themselves; its interval resamples the
subjects of all slots at once.

Values follow :func:`metrics.evaluate.evaluate`'s layout (``values[metric][split]``, ``counts``).
"""

from __future__ import annotations

import warnings
from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from lfdm_bench.data.records import VideoRecord
from metrics.fvd import FeatureStats, SmallSampleWarning, fvd_from_stats
from metrics.groups import group_fvd, single_thread_blas, summarise_groups
from metrics.kvd import kvd_from_features

__all__ = ["INTERVAL_METHOD", "DIFFERENCE_METHOD", "fvd_of", "subject_bootstrap", "fvd_interval", "interval_of",
           "paired_differences", "paired_group_differences", "paired_mean_difference", "resampled_scores",
           "pair_halves", "feature_scores", "real_floor", "leave_take_out"]

Z95 = 1.959963984540054
INTERVAL_METHOD = ("subject-cluster bootstrap (subjects drawn with replacement, each bringing its generated and its "
                   "real videos); bias-corrected normal interval on the Fréchet distance sqrt(FVD), squared "
                   "(never below 0), SE x sqrt(k / (k - 1)) for k subjects")
VIDEO_LEVEL_METHOD = ("video-level bootstrap (no subject ids: each set's videos resampled on its own); "
                      "bias-corrected normal interval on sqrt(FVD), squared")
DIFFERENCE_METHOD = ("paired subject-cluster bootstrap (the same resampled subjects for both methods and the real "
                     "set); bias-corrected normal interval of the difference, SE x sqrt(k / (k - 1)) for k subjects")


def fvd_of(gen: np.ndarray, real: np.ndarray, ddof: int = 1) -> float:
    """FVD between two feature sets ``[N, D]`` (small-sample warnings silenced: callers state the sizes)."""
    with warnings.catch_warnings(), single_thread_blas():
        warnings.simplefilter("ignore", SmallSampleWarning)
        return fvd_from_stats(FeatureStats().update(gen), FeatureStats().update(real), ddof=ddof)


class _ClusterSums:
    """Per-cluster count, sum and sum of outer products of one feature set: ``n [K]``, ``s1 [K, D]``,
    ``s2 [K, D, D]`` (float64), so the mean and covariance of any re-weighting of the clusters is two products."""

    def __init__(self, feats: np.ndarray, cluster: np.ndarray, k: int):
        x = np.asarray(feats, np.float64)
        n, d = x.shape
        self.x, self.cluster = x, np.asarray(cluster)
        onehot = np.zeros((k, n))
        onehot[cluster, np.arange(n)] = 1.0
        self.n = onehot.sum(1)
        self.s1 = onehot @ x
        self.s2 = (onehot @ (x[:, :, None] * x[:, None, :]).reshape(n, d * d)).reshape(k, d, d)

    def moments(self, w: np.ndarray, ddof: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Weights ``w [B, K]`` (how often each cluster is drawn) -> ``mu [B, D]``, ``cov [B, D, D]``, ``N [B]``: the
        mean and covariance (divided by N - ddof) of the set with every cluster's videos repeated w times."""
        n = w @ self.n
        safe = np.where(n > ddof, n, np.nan)
        mu = (w @ self.s1) / safe[:, None]
        cov = (np.einsum("bk,kij->bij", w, self.s2) - n[:, None, None] * mu[:, :, None] * mu[:, None, :])
        return mu, cov / (safe - ddof)[:, None, None], n


def _batched_frechet(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """Fréchet distance (as :func:`metrics.fvd.frechet_distance`) of B pairs: mu [B, D], cov [B, D, D]
    -> [B] (NaN where an input is NaN), clamped to >= 0."""
    ok = np.isfinite(mu1).all(1) & np.isfinite(mu2).all(1)
    out = np.full(len(mu1), np.nan)
    if not ok.any():
        return out
    a, b = (s1[ok] + np.swapaxes(s1[ok], 1, 2)) / 2, (s2[ok] + np.swapaxes(s2[ok], 1, 2)) / 2
    w, v = np.linalg.eigh(a)
    root = (v * np.sqrt(np.clip(w, 0, None))[:, None, :]) @ np.swapaxes(v, 1, 2)  # S1^1/2
    m = root @ b @ root
    tr = np.sqrt(np.clip(np.linalg.eigvalsh((m + np.swapaxes(m, 1, 2)) / 2), 0, None)).sum(1)
    diff = mu1[ok] - mu2[ok]
    out[ok] = np.clip((diff ** 2).sum(1) + np.trace(a, axis1=1, axis2=2) + np.trace(b, axis1=1, axis2=2) - 2 * tr,
                      0, None)
    return out


def _video_space_fvd(w_gen: np.ndarray, gen: _ClusterSums, w_real: np.ndarray, real: _ClusterSums,
                     ddof: int) -> np.ndarray:
    """The same FVDs computed in the space of the videos, for features of more dimensions than videos (I3D's 400-d
    on a few subjects): with ``A = sqrt(w) (X - mu) / sqrt(N - ddof)`` per set (``[B, n, D]``, so ``cov = A^T A``),
    ``tr((S1 S2)^1/2)`` is the sum of the singular values of ``A1 A2^T`` ``[B, n1, n2]``."""
    def centred(w: np.ndarray, cs: _ClusterSums) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        wv = w[:, cs.cluster]  # [B, n] weight of every video
        n = wv.sum(1)
        safe = np.where(n > ddof, n, np.nan)
        mu = (wv @ cs.x) / safe[:, None]
        return np.sqrt(wv / (safe - ddof)[:, None])[:, :, None] * (cs.x[None] - mu[:, None]), mu, n

    a1, mu1, _ = centred(w_gen, gen)
    a2, mu2, _ = centred(w_real, real)
    sv = np.linalg.svd(np.nan_to_num(a1) @ np.swapaxes(np.nan_to_num(a2), 1, 2), compute_uv=False)
    fd = ((mu1 - mu2) ** 2).sum(1) + (a1 ** 2).sum((1, 2)) + (a2 ** 2).sum((1, 2)) - 2 * sv.sum(1)
    return np.clip(fd, 0, None)  # NaN (a set with <= ddof videos) stays NaN


def _weighted_fvd(w: np.ndarray, gen: _ClusterSums, real: _ClusterSums, ddof: int,
                  w_real: np.ndarray | None = None) -> np.ndarray:
    """FVD of the generated vs the real set, their clusters re-weighted by ``w [B, K]`` (the real set's by ``w_real``
    if given) -> ``[B]``, in chunks of resamples whose stacks stay ~40 MB; in the videos' space when the features
    have more dimensions than a set has videos."""
    w_real = w if w_real is None else w_real
    d = gen.s1.shape[1]
    n = max(len(gen.x), len(real.x))
    video_space = d > min(len(gen.x), len(real.x))
    step = max(1, 5_000_000 // (n * d if video_space else d * d))
    out = []
    for i in range(0, len(w), step):
        if video_space:
            out.append(_video_space_fvd(w[i:i + step], gen, w_real[i:i + step], real, ddof))
            continue
        mg, mr = gen.moments(w[i:i + step], ddof), real.moments(w_real[i:i + step], ddof)
        out.append(_batched_frechet(mg[0], mg[1], mr[0], mr[1]))
    return np.concatenate(out)


def _cluster_ids(*labels: Sequence[Hashable]) -> tuple[list[np.ndarray], int]:
    """Labels of several sets -> integer cluster ids over their union (sorted by ``str``) and the cluster count."""
    names = sorted({x for lab in labels for x in lab}, key=str)
    index = {x: i for i, x in enumerate(names)}
    return [np.array([index[x] for x in lab], dtype=np.int64) for lab in labels], len(names)


def _draws(k: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``[n_boot, k]``: how often each of k clusters is drawn in k draws with replacement, per resample."""
    picks = rng.integers(0, k, (n_boot, k)) + k * np.arange(n_boot)[:, None]  # [n_boot, k] cluster ids, offset
    return np.bincount(picks.ravel(), minlength=n_boot * k).reshape(n_boot, k).astype(np.float64)


def subject_bootstrap(pairs: Sequence[tuple[np.ndarray, Sequence[Hashable], np.ndarray, Sequence[Hashable]]],
                      n_boot: int = 200, seed: int = 0, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """FVD of several (generated, real) pairs on the same subject-cluster resamples.

    Args:
        pairs: ``(gen [N, D], gen_subjects [N], real [M, D], real_subjects [M])`` per comparison; every subject of
            every pair is one cluster, drawn with replacement; a drawn subject brings its rows of every set.
        n_boot, seed: resamples (seeded: the same subjects for every pair).

    Returns:
        ``(points [P], values [n_boot, P])``: the FVD of each pair and of each pair on each resample (NaN where a
        resample leaves a set with <= ddof videos).
    """
    ids, k = _cluster_ids(*[lab for g, gl, r, rl in pairs for lab in (gl, rl)])
    w = np.vstack([np.ones((1, k)), _draws(k, n_boot, np.random.default_rng([seed, 7]))])  # row 0: the sets as given
    out = np.empty((n_boot + 1, len(pairs)))
    with single_thread_blas():
        for p, (g, _, r, _) in enumerate(pairs):
            out[:, p] = _weighted_fvd(w, _ClusterSums(g, ids[2 * p], k), _ClusterSums(r, ids[2 * p + 1], k), ddof)
    return out[0], out[1:]


def _video_bootstrap(gen: np.ndarray, real: np.ndarray, n_boot: int, seed: int, ddof: int) -> tuple[float,
                                                                                                      np.ndarray]:
    """The video-level bootstrap: each set's videos resampled on its own -> ``(point, [n_boot] FVDs)``."""
    rng = np.random.default_rng([seed, 7])
    wg, wr = (np.vstack([np.ones((1, n)), _draws(n, n_boot, rng)]) for n in (len(gen), len(real)))
    with single_thread_blas():
        vals = _weighted_fvd(wg, _ClusterSums(gen, np.arange(len(gen)), len(gen)),
                             _ClusterSums(real, np.arange(len(real)), len(real)), ddof, wr)
    return float(vals[0]), vals[1:]


def interval_of(point: float, values: np.ndarray, z: float = Z95, scale: str = "sqrt",
                n_clusters: int | None = None) -> dict[str, float]:
    """``{"se", "lo", "hi", "bias"}`` from bootstrap ``values`` of a statistic with estimate ``point``:
    ``scale="sqrt"`` for an FVD (the interval of :data:`INTERVAL_METHOD`, >= 0), ``"identity"`` for a difference
    (:data:`DIFFERENCE_METHOD`). ``se`` and ``bias`` are on the statistic's own scale. With ``n_clusters`` (k
    resampled subjects) the spreads are scaled by sqrt(k / (k - 1)): a bootstrap of k clusters gives (k - 1) / k of the
    unbiased variance."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    k = np.sqrt(n_clusters / (n_clusters - 1)) if n_clusters and n_clusters > 1 else 1.0
    se, bias = float(v.std(ddof=1) * k), float(v.mean() - point)
    if scale == "sqrt":
        d, dv = np.sqrt(max(point, 0.0)), np.sqrt(np.clip(v, 0, None))
        c, s = 2 * d - dv.mean(), dv.std(ddof=1) * k
        lo, hi = max(0.0, c - z * s) ** 2, max(0.0, c + z * s) ** 2
    elif scale == "identity":
        lo, hi = point - bias - z * se, point - bias + z * se
    else:
        raise ValueError(f"scale must be 'sqrt' or 'identity', got {scale!r}")
    return {"se": se, "lo": float(lo), "hi": float(hi), "bias": bias}


def fvd_interval(gen: np.ndarray, real: np.ndarray, n_boot: int = 200, seed: int = 0, ddof: int = 1,
                 z: float = Z95, gen_groups: Sequence[Hashable] | None = None,
                 real_groups: Sequence[Hashable] | None = None) -> dict[str, Any] | None:
    """``{"fvd", "se", "lo", "hi", "bias", "n_boot", "n_generated", "n_real", "n_subjects", "resampling",
    "method"}``: the point FVD and its 95% interval (module docstring). With ``gen_groups`` / ``real_groups`` (the
    subject of each row) the subject-cluster bootstrap; without them the video-level one, which ignores shared
    subjects (``resampling`` says which). ``None`` when ``n_boot <= 0`` or a set is too small."""
    gen, real = np.asarray(gen, np.float64), np.asarray(real, np.float64)
    if n_boot <= 0 or min(len(gen), len(real)) < max(3, ddof + 2):
        return None
    if (gen_groups is None) != (real_groups is None):
        raise ValueError("give the subjects of both sets (gen_groups and real_groups) or of neither")
    if gen_groups is None:
        point, vals = _video_bootstrap(gen, real, n_boot, seed, ddof)
        method, n_subj = VIDEO_LEVEL_METHOD, None
    else:
        points, boot = subject_bootstrap([(gen, gen_groups, real, real_groups)], n_boot, seed, ddof)
        point, vals = float(points[0]), boot[:, 0]
        method, n_subj = INTERVAL_METHOD, len(set(gen_groups) | set(real_groups))
    return {"fvd": point, **interval_of(point, vals, z, n_clusters=n_subj), "n_boot": int(n_boot),
            "n_generated": len(gen),
            "n_real": len(real), "n_subjects": n_subj, "resampling": "videos" if n_subj is None else "subjects",
            "method": method}


def paired_differences(gens: Mapping[str, tuple[np.ndarray, Sequence[Hashable]]], real: np.ndarray,
                       real_groups: Sequence[Hashable], reference: str, n_boot: int = 200, seed: int = 0,
                       ddof: int = 1, z: float = Z95) -> dict[str, dict[str, Any]]:
    """FVD of each generated set minus the ``reference`` set's, with its paired interval
    (:data:`DIFFERENCE_METHOD`): ``gens`` maps a method to ``(features [N, D], subjects [N])``, all scored against the
    same ``real`` videos. Returns method -> ``{"fvd", "reference_fvd", "diff", "se", "lo", "hi", "bias", "n_boot",
    "n_subjects", "method"}`` for every method but the reference."""
    names = [reference] + [m for m in gens if m != reference]
    points, vals = subject_bootstrap([(*gens[m], real, real_groups) for m in names], n_boot, seed, ddof)
    n_subj = len(set(real_groups).union(*(set(gens[m][1]) for m in names)))
    out = {}
    for j, m in enumerate(names[1:], start=1):
        diff = float(points[j] - points[0])
        out[m] = {"fvd": float(points[j]), "reference_fvd": float(points[0]), "diff": diff,
                  **interval_of(diff, vals[:, j] - vals[:, 0], z, "identity", n_subj), "n_boot": int(n_boot),
                  "n_subjects": n_subj, "reference": reference, "method": DIFFERENCE_METHOD}
    return out


def paired_group_differences(gens: Mapping[str, tuple[np.ndarray, Sequence[Hashable], Sequence[Hashable] | None]],
                             real: np.ndarray, real_subjects: Sequence[Hashable],
                             real_classes: Sequence[Hashable] | None, reference: str, n_boot: int = 200,
                             seed: int = 0, ddof: int = 1, z: float = Z95) -> dict[str, dict[str, Any]]:
    """sFVD (and, where the classes of both sets are given, cFVD) of each generated set minus the ``reference``
    set's, paired like :func:`paired_differences`: every method is rescored by :func:`resampled_scores` on the SAME
    subject draws (same seed, same subjects), and the interval is that of the per-draw differences
    (:data:`DIFFERENCE_METHOD`). ``gens`` maps a method to ``(features [N, D], subjects [N], classes [N] | None)``.
    Points: the mean over classes (cFVD) / subjects (sFVD) of the group FVDs on all videos, as the tables report.
    Returns method -> ``{"sfvd": {"diff", "se", "lo", "hi", "bias"}, "cfvd": {...} | None}`` for every method but
    the reference (and ``{}`` when the methods' subjects differ from the reference's, which would unpair the draws)."""
    def points_and_draws(feats, subjects, classes):
        use_classes = classes is not None and real_classes is not None
        draws = resampled_scores(feats, subjects, real, real_subjects, gen_classes=classes if use_classes else None,
                                 real_classes=real_classes if use_classes else None, n_boot=n_boot, seed=seed,
                                 ddof=ddof)
        point = {"sfvd": summarise_groups(group_fvd(feats, list(subjects), real, list(real_subjects), ddof)[0])["mean"]}
        if use_classes:
            point["cfvd"] = summarise_groups(group_fvd(feats, list(classes), real, list(real_classes), ddof)[0])["mean"]
        return point, draws

    ref_point, ref_draws = points_and_draws(*gens[reference])
    ref_subjects = set(gens[reference][1])
    n_subj = len(set(real_subjects) | ref_subjects)
    out: dict[str, dict[str, Any]] = {}
    for m, (feats, subjects, classes) in gens.items():
        if m == reference:
            continue
        if set(subjects) != ref_subjects:
            out[m] = {}
            continue
        point, draws = points_and_draws(feats, subjects, classes)
        out[m] = {"cfvd": None}
        for g in ("sfvd", "cfvd"):
            if g in point and g in ref_point and point[g] is not None and ref_point[g] is not None:
                diff = float(point[g] - ref_point[g])
                out[m][g] = {"diff": diff, **interval_of(diff, draws[g] - ref_draws[g], z, "identity", n_subj)}
    return out


def paired_mean_difference(a: Mapping[Hashable, float], b: Mapping[Hashable, float], n_boot: int = 200,
                           seed: int = 0, z: float = Z95) -> dict[str, Any] | None:
    """Mean over subjects of ``a[s] - b[s]`` (per-subject values of two methods on the same videos, e.g. their mean
    reconstruction PSNR) with a subject-cluster bootstrap interval (subjects drawn with replacement;
    :func:`interval_of`, identity scale). ``None`` with fewer than 2 shared subjects."""
    shared = sorted(set(a) & set(b), key=str)
    if len(shared) < 2 or n_boot <= 0:
        return None
    d = np.array([float(a[s]) - float(b[s]) for s in shared])
    rng = np.random.default_rng([seed, 11])
    draws = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    point = float(d.mean())
    return {"diff": point, **interval_of(point, draws, z, "identity", len(d)), "n_subjects": len(d),
            "n_boot": int(n_boot)}


def resampled_scores(gen: np.ndarray, gen_subjects: Sequence[Hashable], real: np.ndarray,
                     real_subjects: Sequence[Hashable], *, gen_classes: Sequence[Hashable] | None = None,
                     real_classes: Sequence[Hashable] | None = None, n_boot: int = 200, seed: int = 0,
                     ddof: int = 1) -> dict[str, np.ndarray]:
    """FVD, cFVD (mean over classes, with classes given) and sFVD (mean over subjects) of ``gen`` vs ``real`` on the
    same subject-cluster resamples: metric -> ``[n_boot]`` (their spread is the metric's SE at this setting). A
    resampled cFVD recomputes every class's FVD from the drawn subjects' videos of that class; a resampled sFVD is the
    mean of the per-subject FVDs over the drawn subjects (a subject drawn twice counts twice)."""
    (ig, ir), k = _cluster_ids(gen_subjects, real_subjects)
    w = _draws(k, n_boot, np.random.default_rng([seed, 7]))
    out: dict[str, np.ndarray] = {}
    with single_thread_blas():
        out["fvd"] = _weighted_fvd(w, _ClusterSums(gen, ig, k), _ClusterSums(real, ir, k), ddof)
        if gen_classes is not None and real_classes is not None:
            gc, rc = np.asarray(list(gen_classes), object), np.asarray(list(real_classes), object)
            per = []
            for c in sorted(set(gc) & set(rc), key=str):
                gi, ri = gc == c, rc == c
                per.append(_weighted_fvd(w, _ClusterSums(gen[gi], ig[gi], k), _ClusterSums(real[ri], ir[ri], k), ddof))
            out["cfvd"] = np.nanmean(np.stack(per, 1), axis=1) if per else np.full(n_boot, np.nan)
    groups, _ = group_fvd(gen, list(gen_subjects), real, list(real_subjects), ddof)
    names = sorted({x for x in gen_subjects} | {x for x in real_subjects}, key=str)
    f = np.array([np.nan if groups[s]["fvd"] is None else groups[s]["fvd"] for s in names])
    have = np.isfinite(f)
    wh = w[:, have]
    out["sfvd"] = (wh @ f[have]) / np.where(wh.sum(1) > 0, wh.sum(1), np.nan)
    return out


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
    interval = fvd_interval(feats[ib], feats[ia], n_boot, seed, ddof, gen_groups=[r.subject for r in rb],
                            real_groups=[r.subject for r in ra])
    return _as_record(scores, split, len(ib), len(ia), interval, what)


def leave_take_out(feats: np.ndarray, records: Sequence[VideoRecord], split: str, *, ddof: int = 1, seed: int = 0,
                   n_boot: int = 200) -> dict[str, Any] | None:
    """Real (other take): for each take slot ``k`` (the k-th take of every pair, ordered by take), those videos vs the
    remaining takes; every value is the mean over the slots, its interval from the mean over the slots on each
    subject-cluster resample (:data:`INTERVAL_METHOD`). ``None`` when no pair has two takes."""
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
    folds, pairs_k = [], []
    for k in range(n_slots):
        gi, ri = np.flatnonzero(slot == k), np.flatnonzero(slot != k)
        scores = feature_scores(feats[gi], [records[i] for i in gi], feats[ri], [records[i] for i in ri], ddof)
        folds.append((scores, len(gi), len(ri)))
        pairs_k.append((feats[gi], [records[i].subject for i in gi], feats[ri], [records[i].subject for i in ri]))

    def mean(key: str, sub: str | None = None) -> float | None:
        vals = [f[0][key] if sub is None else f[0][key][sub] for f in folds]
        return None if any(v is None for v in vals) else float(np.mean(vals))

    scores = {"fvd": mean("fvd"), "kvd": mean("kvd"),
              "cfvd": {"mean": mean("cfvd", "mean"), "std": mean("cfvd", "std"), "per_slot": [f[0]["cfvd"]
                                                                                             for f in folds]},
              "sfvd": {"mean": mean("sfvd", "mean"), "std": mean("sfvd", "std"), "per_slot": [f[0]["sfvd"]
                                                                                             for f in folds]}}
    interval = None
    if n_boot > 0:  # the mean over slots on each resample of the subjects (the same subjects for every slot)
        _, vals = subject_bootstrap(pairs_k, n_boot, seed, ddof)
        n_subj = len({r.subject for r in records})
        interval = {"fvd": scores["fvd"], **interval_of(scores["fvd"], vals.mean(1), n_clusters=n_subj),
                    "n_boot": n_boot, "n_generated": folds[0][1], "n_real": folds[0][2], "n_subjects": n_subj,
                    "resampling": "subjects", "method": INTERVAL_METHOD}
    what = (f"each take slot of every (subject, class) pair ({folds[0][1]} videos) vs the pair's other takes "
            f"({folds[0][2]}), mean over {n_slots} slots: no video is compared with itself")
    return _as_record(scores, split, folds[0][1], folds[0][2], interval, what)
