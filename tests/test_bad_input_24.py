"""Issue 24, items 2-5: no input fools or breaks a command. A corrupt cache entry is reported and recomputed;
``eval --run`` takes the dataset, its options and the frame count from what the run recorded; a config ``name``
cannot leave its output folder; bad values, truncated JSON, BOM manifests, unknown subjects and a full disk give one
line naming the file or key, and ``metrics.jsonl`` never keeps half a record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lfdm_bench.cli import main
from test_cli_errors import one_error_line

pytestmark = pytest.mark.usefixtures("one_thread")


def cli(*args: str, **kw):
    return CliRunner().invoke(main, list(args), **kw)


# ------------------------------------------------------------------------------ 3: eval --run knows its samples
@pytest.fixture(scope="module")
def sampled_run(tmp_path_factory) -> tuple[Path, dict]:
    """A tiny run as bench-tiny trains it (10-frame clips), sampled with `lfdm-bench sample --run R` alone."""
    root = tmp_path_factory.mktemp("run24")
    run, env = root / "run", {"LFDM_BENCH_CACHE": str(root / "cache")}
    r = cli("train", "--config", "tiny", "--set", "data.n_frames=10", "--out", str(run), "--no-progress", env=env,
            catch_exceptions=False)
    assert r.exit_code == 0, r.output
    r = cli("sample", "--run", str(run), "--no-progress", env=env, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return run, env


def test_eval_run_needs_no_other_flag(sampled_run) -> None:
    run, env = sampled_run
    r = cli("eval", "--run", str(run), env=env)
    assert r.exit_code == 0, r.output
    saved = json.loads((run / "metrics" / "ddim4_eta1_g1" / "metrics.json").read_text())
    protocol = saved["protocol"]
    assert protocol["dataset"] == "synth-faces" and protocol["n_frames"] == 10
    assert {k: protocol["dataset_options"][k] for k in ("n_subjects", "n_takes", "frames")} == \
        {"n_subjects": 4, "n_takes": 1, "frames": 10}
    assert saved["values"]["fvd"]["test"] > 0


@pytest.mark.parametrize("flags, recorded, code", [
    (["--frames", "16"], "have 10 frames", 2),
    (["--option", "n_subjects=6"], "n_subjects=4", 1),
    (["--dataset", "synth-actions"], "'synth-faces'", 1),
])
def test_eval_run_refuses_flags_that_contradict_the_run(sampled_run, flags, recorded, code) -> None:
    run, env = sampled_run
    line = one_error_line(cli("eval", "--run", str(run), *flags, env=env), code)
    assert "settings.json" in line and recorded in line, line


def test_short_video_error_names_eval_frames(tiny_eval_set) -> None:
    from lfdm_bench.data.records import read_manifest
    from lfdm_bench.data.video_io import BadVideoError
    from lfdm_bench.metrics.real_cache import ClipSpec

    records = read_manifest(tiny_eval_set["samples"] / "manifest.csv")
    with pytest.raises(BadVideoError) as e:
        ClipSpec(n_frames=16, size=32).dataset(records)[0]
    assert "eval --frames 10" in str(e.value) and "skip_bad" not in str(e.value)
