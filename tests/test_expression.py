"""metrics/expression.py: the signed late-frame change features against a loop reference, the expression change x
real against a loop reference (neutral-like classes get no value), its behaviour on synthetic videos (new colour ~1, a
1-px warp ~0, a static video 0) and its place in ``evaluate`` (``values["expr"]``, ``probe-expression``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from metrics.expression import expression_change, expression_features, expression_source
from metrics.probe import motion_features

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------------------------------ features
def _features_loop(videos: np.ndarray, grid: int) -> np.ndarray:
    """Independent reference: explicit loops over videos, channels and cells (H, W divisible by grid here)."""
    b, t, c, h, w = videos.shape
    x = videos.astype(np.float64) / 255.0
    k = max(1, t // 4)
    ch, cw = h // grid, w // grid
    out = np.zeros((b, c * grid * grid))
    for i in range(b):
        for ci in range(c):
            late = sum(x[i, t - 1 - j, ci] for j in range(k)) / k
            change = late - x[i, 0, ci]
            for row in range(grid):
                for col in range(grid):
                    cell = change[row * ch:(row + 1) * ch, col * cw:(col + 1) * cw]
                    out[i, ci * grid * grid + row * grid + col] = cell.sum() / cell.size
    return out


@pytest.mark.parametrize("t, grid", [(16, 8), (7, 4), (2, 2)])
def test_expression_features_equal_a_loop_reference(t, grid):
    rng = np.random.default_rng(t)
    v = rng.integers(0, 256, (3, t, 3, 16, 24), dtype=np.uint8)
    f = expression_features(torch.from_numpy(v), grid=grid)
    assert f.dtype == torch.float64 and f.shape == (3, 3 * grid * grid)
    # adaptive pooling of 24 columns into `grid` cells: the loop uses equal cells, so compare on a crop that divides
    ref_v = v[..., :16]
    np.testing.assert_allclose(expression_features(torch.from_numpy(ref_v), grid=grid).numpy(),
                               _features_loop(ref_v, grid), rtol=0, atol=1e-12)
    floats = torch.from_numpy(ref_v).double() / 255.0  # float input in [0, 1] gives the same
    np.testing.assert_allclose(expression_features(floats, grid=grid).numpy(), _features_loop(ref_v, grid),
                               rtol=0, atol=1e-12)


def test_expression_features_reject_bad_shapes_and_name_the_source():
    v = torch.zeros(2, 8, 3, 16, 16, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        expression_features(v[0])
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        expression_features(torch.zeros(2, 8, 1, 16, 16))
    with pytest.raises(ValueError, match="at least 2 frames"):
        expression_features(v[:, :1])
    src = expression_source()
    assert src.info.name == "expression-change-grid8" and src.info.sha256 == "function:expression-change-grid8:v1"
    assert src(v).shape == (2, 192)


# ------------------------------------------------------------------------------------------------ change ratio
def _change_loop(gen, gen_keys, real, real_keys, names, frac):
    """Independent reference of expression_change (pure Python over rows)."""
    pairs = {}
    for f, k in zip(real, real_keys):
        pairs.setdefault(k, []).append(f)
    ref = {k: sum(fs) / len(fs) for k, fs in pairs.items()}
    energy = {}
    for (s, c), d in ref.items():
        energy.setdefault(c, []).append(float(sum(x * x for x in d)))
    energy = {c: sum(e) / len(e) for c, e in energy.items()}
    med = sorted(energy.values())[len(energy) // 2] if len(energy) % 2 else \
        sum(sorted(energy.values())[len(energy) // 2 - 1: len(energy) // 2 + 1]) / 2
    r = {}
    missing = 0
    for f, k in zip(gen, gen_keys):
        if k not in ref:
            missing += 1
            continue
        d = ref[k]
        r.setdefault(k[1], {}).setdefault(k[0], []).append(float(sum(a * b for a, b in zip(f, d)) / sum(x * x for x in d)))
    out = {}
    for c in sorted(energy):
        if energy[c] < frac * med:
            out[names[c]] = None
            continue
        subj = r.get(c, {})
        vals = [x for v in subj.values() for x in v]
        means = [sum(v) / len(v) for v in subj.values()]
        mu = sum(means) / len(means)
        se = (sum((m - mu) ** 2 for m in means) / (len(means) - 1)) ** 0.5 / len(means) ** 0.5
        out[names[c]] = (sum(vals) / len(vals), se, len(vals), energy[c])
    return out, missing


def test_expression_change_equals_a_loop_reference():
    rng = np.random.default_rng(0)
    names = ["anger", "neutral", "surprise", "fear"]
    dim, subjects = 12, ["s1", "s2", "s3"]
    scale = {0: 1.0, 1: 1e-3, 2: 2.0, 3: 0.5}  # class 1: a neutral-like class with almost no change
    real, real_keys = [], []
    for s in subjects:
        for c in range(4):
            for _ in range(int(rng.integers(1, 4))):
                real.append(rng.normal(size=dim) * scale[c] + scale[c])
                real_keys.append((s, c))
    gen, gen_keys = [], []
    for s in subjects + ["s9"]:  # s9 has no real video: counted, skipped
        for c in range(4):
            for _ in range(2):
                gen.append(rng.normal(size=dim))
                gen_keys.append((s, c))
    gen, real = np.array(gen), np.array(real)
    res = expression_change(gen, gen_keys, real, real_keys, names)
    ref, missing = _change_loop(gen, gen_keys, real, real_keys, names, 0.1)
    assert res["n_without_reference"] == missing == 8 and res["n_videos"] == len(gen) - 8
    assert list(res["per_class"]) == names
    for name, want in ref.items():
        got = res["per_class"][name]
        if want is None:
            assert got["ratio"] is None and "no expression change" in got["why"] and name == "neutral"
            continue
        assert got["ratio"] == pytest.approx(want[0], abs=1e-12) and got["se"] == pytest.approx(want[1], abs=1e-12)
        assert got["n"] == want[2] and got["energy"] == pytest.approx(want[3], rel=1e-12)
    measured = {k: v[0] for k, v in ref.items() if v is not None}
    assert res["mean"] == pytest.approx(np.mean(list(measured.values())), abs=1e-12)
    assert res["min_class"] == min(measured, key=measured.get) and res["min"] == pytest.approx(min(measured.values()))
    assert res["grid"] == 8 and "<d, D> / <D, D>" in res["definition"]
    # the real videos themselves score exactly 1 per class (the mean of r over a pair's takes is 1)
    own = expression_change(real, real_keys, real, real_keys, names)
    assert all(v["ratio"] == pytest.approx(1.0, abs=1e-12) for v in own["per_class"].values() if v["ratio"] is not None)
    assert own["mean"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="keys"):
        expression_change(gen, gen_keys[:-1], real, real_keys, names)


# -------------------------------------------------------------------------------------------- synthetic videos
def _face(size: int = 32) -> torch.Tensor:
    """A float [3, H, W] face: skin ellipse on a grey background, two dark eyes and a dark mouth line (a row in the
    middle of a 4-px pooling cell)."""
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                            indexing="ij")
    img = torch.empty(3, size, size, dtype=torch.float64)
    img[:] = torch.tensor([0.5, 0.5, 0.55]).view(3, 1, 1)
    face = ((yy - 16) / 13) ** 2 + ((xx - 16) / 10) ** 2 <= 1
    img[:, face] = torch.tensor([0.85, 0.7, 0.6], dtype=torch.float64).view(3, 1)
    img[:, 10:12, 10:13] = 0.15
    img[:, 10:12, 19:22] = 0.15
    img[:, 22, 13:19] = torch.tensor([0.5, 0.2, 0.2], dtype=torch.float64).view(3, 1)
    return img


def _video(frames: list[torch.Tensor]) -> torch.Tensor:
    return (torch.stack(frames).clamp(0, 1) * 255).round().to(torch.uint8)


def _open_mouth(img: torch.Tensor, amount: float) -> torch.Tensor:
    """The expression's appearance: the mouth opens dark red and the cheeks redden, by ``amount`` in [0, 1]."""
    out = img.clone()
    mouth = torch.tensor([0.35, 0.05, 0.08], dtype=torch.float64).view(3, 1, 1)
    out[:, 21:26, 12:20] = (1 - amount) * out[:, 21:26, 12:20] + amount * mouth
    out[0, 15:19, 8:12] += 0.12 * amount
    out[0, 15:19, 20:24] += 0.12 * amount
    return out


def test_new_colour_scores_one_a_warp_near_zero_and_a_static_video_zero():
    base, t = _face(), 16
    ramp = [min(1.0, 2 * i / (t - 1)) for i in range(t)]
    real = _video([_open_mouth(base, a) for a in ramp]).unsqueeze(0)
    # another take of the same pair: the same expression with a slightly different time course
    other = _video([_open_mouth(base, min(1.0, 1.5 * i / (t - 1))) for i in range(t)]).unsqueeze(0)
    warp = _video([base if i < t // 2 else torch.roll(base, shifts=(1, 1), dims=(1, 2)) for i in range(t)])
    static = _video([base] * t)
    gen = torch.stack([other[0], warp, static])
    names = ["happiness", "neutral"]
    # the real reference: the expression takes of happiness and a still neutral take
    real_f = torch.cat([expression_features(real), expression_features(other), expression_features(static[None])])
    real_keys = [("s1", 0), ("s1", 0), ("s1", 1)]
    res = expression_change(expression_features(gen).numpy(), [("s1", 0)] * 3, real_f.numpy(), real_keys, names)
    assert res["per_class"]["neutral"]["ratio"] is None  # a still neutral take: nothing to measure
    d = expression_features(gen).numpy()
    D = real_f[:2].mean(0).numpy()
    r = d @ D / (D @ D)
    assert r[0] == pytest.approx(1.0, abs=0.1)  # another take of the expression
    assert abs(r[1]) < 0.2  # a 1-px warp of the neutral face: no new colour
    assert r[2] == 0.0  # static
    # while the motion features see both the expression and the warp
    m = motion_features(gen)
    assert m[0].abs().sum() > 0 and m[1].abs().sum() > 0 and m[2].abs().sum() == 0
    assert res["per_class"]["happiness"]["ratio"] == pytest.approx(r.mean(), abs=1e-12)
    assert res["per_class"]["happiness"]["n"] == 3 and res["per_class"]["happiness"]["se"] is None  # one subject


# ---------------------------------------------------------------------------------------------------- evaluate
@pytest.mark.e2e  # a whole evaluation with a dataset build: the full suite runs it
def test_expression_in_evaluate(tmp_path: Path) -> None:
    from lfdm_bench.data.registry import get_dataset
    from metrics.evaluate import evaluate
    from metrics.feature_cache import FeatureCache
    from metrics.protocol import EvalProtocol
    from metrics.result_files import summary_rows
    from metrics.sanity import write_real_samples
    from helpers import make_tiny_dataset, tiny_detector

    tiny = get_dataset(str(make_tiny_dataset(tmp_path / "data", takes=3)))
    write_real_samples(tiny, tmp_path / "real", split="test", n_frames=10)
    protocol = EvalProtocol(dataset=tiny.name, split="test", n_frames=10)
    cache = FeatureCache(tmp_path / "cache")
    res = evaluate(protocol, tmp_path / "real", ["acc", "expr"], dataset=tiny, detector=tiny_detector(), cache=cache)
    expr = res.values["expr"]["test"]
    # the samples are the real clips themselves (mp4 round trip): the ceiling, 1 per class; "still" has no change
    assert expr["per_class"]["still"]["ratio"] is None and "no expression change" in expr["per_class"]["still"]["why"]
    for name in ("right", "down"):
        assert expr["per_class"][name]["ratio"] == pytest.approx(1.0, abs=0.05)
        assert expr["per_class"][name]["n"] == 6  # 2 test subjects x 3 takes
    assert expr["mean"] == pytest.approx(1.0, abs=0.05) and expr["min_class"] in ("right", "down")
    assert expr["n_videos"] == 18 and expr["n_without_reference"] == 0
    probe = res.values["acc"]["probe-expression"]
    assert probe["real_test"]["n"] == 18 and probe["n_train"] == 18
    assert probe["generated"]["test"]["accuracy"] == pytest.approx(probe["real_test"]["accuracy"], abs=0.12)
    assert {"probe-i3d", "probe-motion", "probe-expression"} <= set(res.values["acc"])
    rows = {(r["metric"], r["split"]): r for r in summary_rows(res)}  # the eval command's summary table
    assert rows[("expr", "test")]["value"] == expr["mean"] and "worst class" in rows[("expr", "test")]["detail"]
    assert ("acc:probe-expression", "test") in rows
    # the real features of the expression source are cached by its name and reused
    logs: list[str] = []
    only = evaluate(protocol, tmp_path / "real", ["expr"], dataset=tiny, cache=cache, log_fn=logs.append)
    assert "i3d" not in only.features["generated"] and only.detector is None  # no detector needed
    assert any("reusing cached real features" in line and "expression" in line for line in logs), logs
    assert only.values["expr"]["test"]["mean"] == pytest.approx(expr["mean"], abs=1e-12)
