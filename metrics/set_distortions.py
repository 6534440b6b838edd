"""Appearance and set-level distortions for FVD sanity checks (beside the per-frame ones of
:mod:`metrics.distortions`).

``colour_shift`` (re-exported from :mod:`metrics.distortions`, where it is the ``colour`` distortion) is a
per-video transform with the same signature as the per-frame distortions. The other rows act
on *which* videos form the distorted set, and need care: replacing videos by other videos **of the same set** (another
subject of the set, another class of the set) is a permutation that leaves the pooled distribution -- hence the
overall FVD -- unchanged. So every set-level row states the metric it targets:

=================  ===========================================================  ====================
row                what ``strength`` (a fraction, nested sets) replaces         targets
=================  ===========================================================  ====================
other-subject      the videos of a fraction of the subjects by videos of the     sFVD (FVD reported)
                   same classes by subjects from OUTSIDE the reference set
                   (e.g. the other split) drawn from the same population
class-collapse     a fraction of the videos of every class but one by the same   FVD and cFVD
                   subject's video of that one class: a skewed class mix
subject-swap       the videos of a fraction of the subjects by another subject   sFVD only (at 1.0
                   of the same set (a derangement)                               the set is unchanged)
class-swap         a fraction of the (subject, class) pairs by the same          cFVD only (at 1.0
                   subject's next class (c + 1 mod C)                            the set is unchanged)
=================  ===========================================================  ====================

other-subject's donors are other people *of the same population* (the other split of the same renderer, or of the
same recording protocol): the pooled distribution stays the population's, and what FVD sees is which 26 subjects were
drawn. With the benchmark's 26 subjects that draw moves FVD by about as much as the replacement raises it (synth-faces
test split, seeds 0-2, shipped detector: FVD rose by 0.7-1.5 of its own subject-cluster SEs at each strength, while
sFVD rose by 1.9-6.9), so FVD is reported beside the row (:data:`SET_INFO`), not required to rise by 2 SE: the metric
built to see *who* is in the video is sFVD, and it is the target. Until stop 29 FVD was a target too, and it failed
at every seed for the reason above.

Sets are described as :data:`Pairs`: ``(subject, class index) -> row indices`` (one per take); a distorted set keeps
the keys (the subject / class the videos *claim*, i.e. the generator's source subject and requested class) and
changes the rows.
"""

from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np

from metrics.distortions import DEFINITIONS, colour_shift

__all__ = ["Pairs", "SET_ROWS", "SET_INFO", "SET_DEFINITIONS", "colour_shift", "COLOUR_DEFINITION", "pair_index", "split_pairs",
           "flatten", "replace_subjects", "collapse_classes", "swap_classes"]

Pairs = dict[tuple[Hashable, int], list[int]]
COLOUR_DEFINITION = DEFINITIONS["colour"]  # colour_shift lives in metrics.distortions (a per-video transform)
SET_ROWS = {"other-subject": ("sfvd",), "class-collapse": ("fvd", "cfvd"), "subject-swap": ("sfvd",),
            "class-swap": ("cfvd",)}
"""Set-level row -> the metrics it must raise."""
SET_INFO = {"other-subject": ("fvd",)}
"""Set-level row -> metrics whose rise and SE are reported beside the row but decide nothing (see the module
docstring: FVD of other people from the same population)."""
SET_DEFINITIONS = {
    "other-subject": "videos of a nested fraction of the subjects replaced by those of subjects outside the reference "
                     "set (same class, same take slot; donor subject by seeded permutation)",
    "class-collapse": "a nested fraction of the pairs (subject, c != K) replaced by the same subject's class-K videos "
                      "(same take slot); K drawn by the seed",
    "subject-swap": "videos of a nested fraction of the subjects replaced by those of another subject of the same set "
                    "(seeded derangement; same class, same take slot)",
    "class-swap": "a nested fraction of the pairs (s, c) replaced by the same subject's class (c + 1) mod C videos",
}


def pair_index(subjects: Sequence[Hashable], classes: Sequence[int], takes: Sequence[int]) -> Pairs:
    """``(subject, class) -> rows`` ordered by take, from per-row labels."""
    out: Pairs = {}
    for i in np.lexsort((np.asarray(takes), np.asarray(classes), np.asarray(subjects, dtype=object).astype(str))):
        out.setdefault((subjects[i], int(classes[i])), []).append(int(i))
    return dict(sorted(out.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])))


def split_pairs(pairs: Pairs, n_ref: int, seed: int) -> tuple[Pairs, Pairs]:
    """Per pair, a seeded permutation of its takes: the first ``n_ref`` form the reference, the next ``n_ref`` the
    stand-in (disjoint takes of the same subject and class). Every pair needs ``2 * n_ref`` takes."""
    rng = np.random.default_rng(seed)
    ref: Pairs = {}
    alt: Pairs = {}
    for key, rows in pairs.items():
        if len(rows) < 2 * n_ref:
            raise ValueError(f"pair {key} has {len(rows)} takes; splitting needs {2 * n_ref}")
        perm = [rows[j] for j in rng.permutation(len(rows))]
        ref[key], alt[key] = sorted(perm[:n_ref]), sorted(perm[n_ref:2 * n_ref])
    return ref, alt


def flatten(pairs: Pairs) -> tuple[list[int], list[Hashable], list[int]]:
    """``(rows, claimed subject per row, claimed class per row)`` in pair order."""
    rows, subj, cls = [], [], []
    for (s, c), rr in pairs.items():
        rows += rr
        subj += [s] * len(rr)
        cls += [c] * len(rr)
    return rows, subj, cls


def _nested(items: list, fraction: float, rng: np.random.Generator) -> set:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"set-distortion strength is a fraction in [0, 1], got {fraction}")
    order = [items[i] for i in rng.permutation(len(items))]
    return set(order[:int(round(fraction * len(items)))])


def replace_subjects(alt: Pairs, donors: Pairs, fraction: float, seed: int) -> Pairs:
    """Replace the videos of a nested ``fraction`` of ``alt``'s subjects by a donor subject's videos of the same class
    (the same take slots; a donor with fewer takes repeats them). ``donors is alt``: a seeded derangement within the set (subject-swap); otherwise donors
    are drawn by a seeded permutation of the donor subjects (other-subject)."""
    subjects = sorted({s for s, _ in alt}, key=str)
    rng = np.random.default_rng([seed, 11])
    chosen = _nested(subjects, fraction, np.random.default_rng([seed, 12]))
    pool = sorted({s for s, _ in donors}, key=str)
    if donors is alt:
        if len(pool) < 2:
            raise ValueError("a subject swap needs at least 2 subjects")
        shift = 1 + int(rng.integers(len(pool) - 1))
        order = [pool[i] for i in rng.permutation(len(pool))]
        donor_of = {order[i]: order[(i + shift) % len(order)] for i in range(len(order))}  # no fixed point
    else:
        if len(pool) < len(subjects):
            raise ValueError(f"{len(subjects)} subjects need as many donors, got {len(pool)}")
        perm = rng.permutation(len(pool))
        donor_of = {s: pool[perm[i]] for i, s in enumerate(subjects)}
    out: Pairs = {}
    for (s, c), rows in alt.items():
        if s in chosen:
            donor = donors.get((donor_of[s], c))
            if not donor:
                raise ValueError(f"donor subject {donor_of[s]!r} has no video of class {c}")
            # a donor with fewer takes than the slot (uneven halves) repeats its takes
            out[(s, c)] = [donor[i % len(donor)] for i in range(len(rows))]
        else:
            out[(s, c)] = list(rows)
    return out


def collapse_classes(alt: Pairs, fraction: float, seed: int, target: int | None = None) -> Pairs:
    """Replace a nested ``fraction`` of the pairs whose class is not ``target`` (default: drawn by the seed) by the
    same subject's ``target``-class videos (same take slots): the class mix skews towards one class."""
    classes = sorted({c for _, c in alt})
    k = int(np.random.default_rng([seed, 21]).choice(classes)) if target is None else int(target)
    keys = [key for key in alt if key[1] != k]
    chosen = _nested(keys, fraction, np.random.default_rng([seed, 22]))
    return {key: (list(alt[(key[0], k)][:len(rows)]) if key in chosen else list(rows)) for key, rows in alt.items()}


def swap_classes(alt: Pairs, fraction: float, seed: int) -> Pairs:
    """Replace a nested ``fraction`` of the pairs ``(s, c)`` by the same subject's ``(s, (c + 1) mod C)`` videos."""
    classes = sorted({c for _, c in alt})
    nxt = {c: classes[(i + 1) % len(classes)] for i, c in enumerate(classes)}
    chosen = _nested(list(alt), fraction, np.random.default_rng([seed, 31]))
    return {(s, c): (list(alt[(s, nxt[c])][:len(rows)]) if (s, c) in chosen else list(rows))
            for (s, c), rows in alt.items()}
