"""Issue 24, items 2-5: no input fools or breaks a command. A corrupt cache entry is reported and recomputed;
``eval --run`` takes the dataset, its options and the frame count from what the run recorded; a config ``name``
cannot leave its output folder; bad values, truncated JSON, BOM manifests, unknown subjects and a full disk give one
line naming the file or key, and ``metrics.jsonl`` never keeps half a record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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


# --------------------------------------------------------------------- 4, 5: config names and values, one place
@pytest.mark.parametrize("command, config, override", [
    ("bench", "bench-tiny", "name=../../../x/pwn"),
    ("bench", "bench-tiny", "name=.hidden"),
    ("train", "tiny", "name=a/b"),
    ("train", "tiny", "name="),
    ("train", "ldm-tiny", "name=..\\\\up"),
])
def test_config_name_cannot_leave_the_output_folder(tmp_path, monkeypatch, command, config, override) -> None:
    monkeypatch.chdir(tmp_path)
    args = [command, "--config", config, "--set", override]
    if config == "ldm-tiny":
        args[1:1] = ["--model", "ldm"]
    line = one_error_line(cli(*args, env={"LFDM_BENCH_CACHE": str(tmp_path / "cache")}), 2)
    assert "name:" in line and "not a plain name" in line, line
    assert not any(p for p in tmp_path.rglob("*") if p.name != "cache"), list(tmp_path.rglob("*"))


def test_detector_name_is_plain(tmp_path) -> None:
    line = one_error_line(cli("detector", "train", "--dataset", "synth-faces", "--name", "../evil", "--out",
                              str(tmp_path / "d")), 2)
    assert "--name" in line and "not a plain name" in line
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("override, key", [
    ("lfae.train.ckpt_every=0", "lfae.train.ckpt_every"),  # was ZeroDivisionError
    ("dm.train.log_every=0", "dm.train.log_every"),
    ("seed=-1", "seed"),  # was "expected non-negative integer"
    ("dm.train.seed=4294967296", "dm.train.seed"),
    ("lfae.train.betas=[2,3]", "lfae.train.betas"),  # was "Invalid beta parameter at index 0: 2.0"
    ("lfae.train.lr=.nan", "lfae.train.lr"),  # was "Invalid learning rate: nan"
    ("dm.train.lr=nan", "dm.train.lr"),
    ("sample.guidance=.inf", "sample.guidance"),
])
def test_bad_values_name_their_key(tmp_path, override, key) -> None:
    run = tmp_path / "run"
    line = one_error_line(cli("train", "--config", "tiny", "--set", override, "--out", str(run)), 2)
    assert f"{key}" in line and "tiny.yaml" in line, line
    assert not run.exists()


def test_rules_hold_in_every_config_type() -> None:
    from lfdm_bench.baselines.ldm.config import LDMConfig
    from lfdm_bench.bench.config import BenchConfig
    from lfdm_bench.config import ConfigError, from_dict

    for cls in (BenchConfig, LDMConfig):
        with pytest.raises(ConfigError, match=r"^name: '\.\./x' is not a plain name"):
            from_dict(cls, {"name": "../x"})
    with pytest.raises(ConfigError, match=r"^eval\.seed: a seed is an integer"):
        from_dict(BenchConfig, {"eval": {"seed": -3}})
    assert from_dict(BenchConfig, {"name": "bench-2.b_c"}).name == "bench-2.b_c"


# ---------------------------------------------------------------- 2: a corrupt real-feature cache is recomputed
def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    i = data.index(b"features.npy") + 200  # inside the stored array: the zip's CRC-32 no longer matches
    data[i:i + 8] = bytes(b ^ 0xFF for b in data[i:i + 8])
    p.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _flip, lambda p: p.write_bytes(b"")], ids=["truncated", "flipped",
                                                                                          "empty"])
def test_corrupt_feature_cache_is_reported_and_recomputed(tiny_eval_set, damage) -> None:
    from lfdm_bench.metrics.commands import eval_cmd

    args = ["--samples", str(tiny_eval_set["samples"]), "--dataset", tiny_eval_set["manifest"], "--metric", "fvd",
            "--frames", "10"]
    first = CliRunner().invoke(eval_cmd, args)
    assert first.exit_code == 0, first.output
    files = sorted((tiny_eval_set["tmp"] / "cache" / "fvd_stats").glob("*.npz"))
    assert files
    good = {p: np.load(p)["features"] for p in files}
    for p in files:
        damage(p)
    again = CliRunner().invoke(eval_cmd, args)
    assert again.exit_code == 0, again.output
    for p in files:
        assert sum(f"ignoring unreadable feature cache {p} (" in line for line in again.output.splitlines()) == 1
        assert np.array_equal(np.load(p)["features"], good[p])  # recomputed and written over the bad file
    assert "Traceback" not in again.output
    fvds = [json.loads(line)["values"]["fvd"]["test"] for line in
            (tiny_eval_set["samples"] / "metrics" / "metrics.jsonl").read_text().splitlines()]
    assert len(fvds) == 2 and fvds[0] == fvds[1]
