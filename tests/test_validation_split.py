"""Settings are chosen on the validation subjects, never on the test subjects: the benchmark's sampler ablations of
LFDM and LDM (bench-tiny, stand-in detector) read no test-split video, not even its cached features, and each
generator's test videos are then sampled with the setting its own ablation chose."""

import json
import os

import pytest

from helpers import use_standin_detector

from bench.config import BenchConfig
from bench.pipeline import Benchmark
from lfdm_bench.config import load_config, resolve_config_path
from lfdm_bench.data import dataset as dataset_module
from lfdm_bench.data.dataset import ClipDataset
from lfdm_bench.data.loading import load_data
from metrics import evaluate as evaluate_module
from metrics import sample_checks

pytestmark = pytest.mark.e2e  # trains or runs the pipeline: deselect with -m 'not e2e'


def _record_reads(monkeypatch) -> list[str]:
    """Every dataset video the code reads or asks features of, from now on: frames (``read_video``), frame counts,
    clip datasets and the real-feature cache (which may answer without reading the file)."""
    seen: list[str] = []

    def spy(module, name, paths):
        orig = getattr(module, name)

        def wrapper(*args, **kwargs):
            seen.extend(str(p) for p in paths(*args, **kwargs))
            return orig(*args, **kwargs)
        monkeypatch.setattr(module, name, wrapper)

    for module in (dataset_module, evaluate_module, sample_checks):
        for name in ("read_video", "count_frames"):
            if hasattr(module, name):
                spy(module, name, lambda path, *a, **k: [path])
    spy(evaluate_module, "cached_features", lambda dataset, records, *a, **k: [r.path for r in records])
    init = ClipDataset.__init__

    def clip_init(self, records, *args, **kwargs):
        records = list(records)
        seen.extend(r.path for r in records)
        init(self, records, *args, **kwargs)
    monkeypatch.setattr(ClipDataset, "__init__", clip_init)
    return seen


def test_ablations_read_no_test_video_and_their_choice_samples_the_test_set(tmp_path, monkeypatch):
    use_standin_detector(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    bc = load_config(BenchConfig, resolve_config_path("bench-tiny"), ["methods=[lfdm,ldm]",
                                                                      "train_split_methods=[]"])
    bench = Benchmark(bc, tmp_path / "out", progress=False, log=lambda m: None)
    plan = bench.plan()
    names = [n for n, _ in plan]
    # both generators are tuned, before anything is sampled from the test (or train) subjects
    assert names.index("ablate:lfdm") < names.index("ablate:ldm") < min(
        i for i, n in enumerate(names) if n.startswith("sample:"))
    steps = dict(plan)
    for name in ("data", "train:lfdm", "train:ldm"):
        bench.stage(name, steps[name])
    info = load_data(bench.lfdm_cfg.data, progress=False)
    real = lambda split: {os.path.realpath(r.path) for r in info.split(split)}  # noqa: E731
    test, val = real("test"), real("val")
    assert test and val and not test & val

    seen = _record_reads(monkeypatch)
    for name in ("ablate:lfdm", "ablate:ldm"):
        bench.stage(name, steps[name])
    read = {os.path.realpath(p) for p in seen}
    assert read & val and read & real("train")  # validation videos scored, the probe fitted on train videos
    assert not read & test, sorted(read & test)[:3]

    for m in ("lfdm", "ldm"):
        out = bench.state.get(f"ablate:{m}")["output"]
        ab = json.loads(open(out["ablation"]).read())
        assert out["split"] == ab["request"]["split"] == "val" and ab["rows"]
        assert all(r["split"] == "val" and r["acc_motion_real"] is not None for r in ab["rows"])
        chosen = out["chosen"]
        # bench-tiny's runs sample with ddim, 4 steps by their configs; the grid has only 2-step settings
        assert chosen["steps"] == 2 and bench.sampler(m)["steps"] == 2
        bench.stage(f"sample:{m}:test", steps[f"sample:{m}:test"])
        settings = json.loads((tmp_path / "out" / "samples" / f"{m}_test" / "settings.json").read_text())
        assert (settings["sampler"], settings["steps"], settings["guidance"]) == (
            chosen["sampler"], chosen["steps"], chosen["guidance"])

