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

from cli import main
from helpers import one_error_line

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


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_eval_samples_needs_no_other_flag(sampled_run, tiny_eval_set) -> None:
    run, env = sampled_run
    folder = run / "samples" / "test_ddim4_eta1_g1"
    r = cli("eval", "--samples", str(folder), "--metric", "fvd", env=env)
    assert r.exit_code == 0, r.output
    assert json.loads((folder / "metrics" / "metrics.json").read_text())["protocol"]["n_frames"] == 10
    # a folder that records nothing (no settings.json) still needs --dataset, and says so
    line = one_error_line(cli("eval", "--samples", str(tiny_eval_set["samples"])), 2)
    assert "records no dataset (no settings.json): pass --dataset" in line


@pytest.mark.parametrize("flags, recorded, code", [
    (["--frames", "16"], "have 10 frames", 2),
    (["--option", "n_subjects=6"], "n_subjects=4", 1),
    (["--dataset", "synth-actions"], "'synth-faces'", 1),
])
@pytest.mark.e2e
def test_eval_run_refuses_flags_that_contradict_the_run(sampled_run, flags, recorded, code) -> None:
    run, env = sampled_run
    line = one_error_line(cli("eval", "--run", str(run), *flags, env=env), code)
    assert "settings.json" in line and recorded in line, line


def test_short_video_error_names_eval_frames(tiny_eval_set) -> None:
    from lfdm_bench.data.records import read_manifest
    from lfdm_bench.data.video_io import BadVideoError
    from metrics.video_features import ClipSpec

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
    from baselines.ldm.config import LDMConfig
    from bench.config import BenchConfig
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
    from metrics.commands import eval_cmd

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


# ------------------------------------------------------------------------------ 5: files and writes named
def test_truncated_state_json_is_named(tmp_path) -> None:
    from bench.state import ResumeState

    state = ResumeState(tmp_path / "state.json", {"a": 1}, what="a benchmark")
    state.mark("data", 1)
    text = (tmp_path / "state.json").read_text()
    (tmp_path / "state.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError) as e:  # was json.JSONDecodeError "Unterminated string ..." without the file
        ResumeState(tmp_path / "state.json", {"a": 1}, what="a benchmark")
    assert str(e.value).startswith(f"{tmp_path / 'state.json'} is not valid JSON (")
    assert "delete it to run a benchmark again" in str(e.value)


def test_truncated_results_json_is_one_line_naming_it(tmp_path) -> None:
    (tmp_path / "results.json").write_text('{"protocol": {"dataset": "synth-fa')
    line = one_error_line(cli("report", str(tmp_path), "--out", str(tmp_path / "rep")), 1)
    assert f"{tmp_path / 'results.json'} is not valid JSON" in line


def test_detector_that_is_not_weights_is_one_line(tmp_path, monkeypatch) -> None:
    from lfdm_bench.data.registry import get_dataset
    from metrics.commands import eval_cmd
    from metrics.sanity import write_real_samples
    from helpers import make_tiny_dataset

    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    manifest = make_tiny_dataset(tmp_path / "data")
    write_real_samples(get_dataset(str(manifest)), tmp_path / "s", split="test", n_frames=10, max_videos=3)
    csv_file = tmp_path / "some.csv"
    csv_file.write_text((tmp_path / "s" / "manifest.csv").read_text())
    r = CliRunner().invoke(eval_cmd, ["--samples", str(tmp_path / "s"), "--dataset", str(manifest), "--frames", "10",
                                      "--metric", "fvd", "--detector", str(csv_file)])
    line = one_error_line(r, 1)
    assert f"Could not read {csv_file}" in line and "not a PyTorch weights file" in line
    assert len(r.output.strip().splitlines()) == 1, r.output  # was torch's 6 lines of weights_only advice


def test_manifest_with_byte_order_mark_is_read(tmp_path) -> None:
    from lfdm_bench.data.records import read_manifest
    from helpers import make_tiny_dataset

    manifest = make_tiny_dataset(tmp_path / "data", takes=1, frames=4)
    plain = read_manifest(manifest)
    manifest.write_bytes(b"\xef\xbb\xbf" + manifest.read_bytes())  # as Excel saves "CSV UTF-8"
    assert read_manifest(manifest) == plain  # was "missing columns ['path']"
    manifest.write_bytes(b"path,subject\n\xff\xfe,x\n")
    with pytest.raises(ValueError, match=f"manifest {manifest}: not UTF-8 text"):
        read_manifest(manifest)


def test_sample_naming_an_unknown_subject_is_refused(tiny_eval_set) -> None:
    from metrics.commands import eval_cmd

    manifest = tiny_eval_set["samples"] / "manifest.csv"
    lines = manifest.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    subject = row[header.index("subject")]
    row[header.index("subject")] = "nobody"
    manifest.write_text("\n".join([lines[0], ",".join(row)] + lines[2:]) + "\n")
    r = CliRunner().invoke(eval_cmd, ["--samples", str(tiny_eval_set["samples"]), "--dataset",
                                      tiny_eval_set["manifest"], "--frames", "10", "--metric", "sfvd"])
    line = one_error_line(r, 1)
    assert f"{manifest} row 2: subject 'nobody' is not a subject of dataset" in line, line
    assert subject != "nobody" and not (tiny_eval_set["samples"] / "metrics" / "metrics.json").exists()


def _disk_full_after(monkeypatch, n_bytes: int) -> list[bytes]:
    """Make ``os.write`` write ``n_bytes`` of a buffer and then fail with ENOSPC, as a filling disk does."""
    import errno
    import os

    real, seen = os.write, []

    def write(fd, data):
        seen.append(bytes(data))
        if n_bytes:
            real(fd, bytes(data)[:n_bytes])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write)
    return seen


def test_disk_full_while_writing_a_manifest_names_it(tmp_path, monkeypatch) -> None:
    import builtins

    from lfdm_bench.data.records import read_manifest, write_manifest
    from lfdm_bench.utils.errors import os_error_message
    from helpers import make_tiny_dataset

    manifest = make_tiny_dataset(tmp_path / "data", takes=1, frames=4)
    before = manifest.read_bytes()
    records = read_manifest(manifest)

    class FullFile:
        def __init__(self, f):
            self.f = f

        def write(self, text):
            import errno
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda *a, **k: FullFile(real_open(*a, **k)) if "w" in (a[1:2] or [k.get(
        "mode", "r")])[0] else real_open(*a, **k))
    with pytest.raises(OSError) as e:
        write_manifest(records, manifest)
    monkeypatch.undo()
    assert os_error_message(e.value).startswith(f"{manifest}: No space left on device; ")  # was no file named
    assert manifest.read_bytes() == before and [p.name for p in manifest.parent.glob(".*.tmp")] == []


def test_metrics_jsonl_keeps_whole_records_on_a_full_disk(tiny_eval_set, monkeypatch) -> None:
    from metrics.commands import eval_cmd
    from metrics import result_files
    from lfdm_bench.utils.io import read_jsonl

    args = ["--samples", str(tiny_eval_set["samples"]), "--dataset", tiny_eval_set["manifest"], "--frames", "10",
            "--metric", "fvd"]
    jsonl = tiny_eval_set["samples"] / "metrics" / "metrics.jsonl"
    assert CliRunner().invoke(eval_cmd, args).exit_code == 0
    one = jsonl.read_bytes()
    real_append = result_files.append_line

    def full_disk_append(path, line):
        with monkeypatch.context() as m:
            seen = _disk_full_after(m, 100)  # 100 bytes of the record reach the disk, then it is full
            real_append(path, line)
        assert len(seen) == 1 and len(seen[0]) > 100  # one write of the whole record

    monkeypatch.setattr(result_files, "append_line", full_disk_append)
    r = CliRunner().invoke(eval_cmd, args)
    assert r.exit_code == 1 and f"{jsonl}: No space left on device" in r.output, r.output
    assert jsonl.read_bytes() == one  # the half-written record was taken back
    monkeypatch.setattr(result_files, "append_line", real_append)
    # a file an older version left with half a record: the next append cuts it off, the reader skips it
    jsonl.write_bytes(one + one[:50])
    assert len(read_jsonl(jsonl)) == 1
    assert CliRunner().invoke(eval_cmd, args).exit_code == 0
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == 2 and records[0]["values"]["fvd"] == records[1]["values"]["fvd"]
    jsonl.write_text('{"a": 1}\nnot json\n{"b": 2}\n')
    with pytest.raises(ValueError, match=f"{jsonl}, line 2: not valid JSON"):
        read_jsonl(jsonl)


@pytest.mark.parametrize("damaged, keep", [("dataset.json", 0.5), ("manifest.csv", 0.5), ("manifest.csv", 0.3)])
@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_damaged_dataset_cache_is_generated_again(tmp_path, capsys, damaged, keep) -> None:
    from lfdm_bench.data.registry import get_dataset

    options = {"n_subjects": 2, "n_takes": 1, "size": 32, "frames": 8}
    first = get_dataset("synth-faces", root=tmp_path, **options)
    path = Path(first.records[0].path).parents[2] / damaged
    good = path.read_bytes()
    cut = good[: int(len(good) * keep)]
    if keep == 0.3:  # cut after a whole row: a shorter, well-formed manifest
        cut = cut[: cut.rfind(b"\n") + 1]
    path.write_bytes(cut)  # was json "Unterminated string" / a manifest row error / silently fewer videos
    again = get_dataset("synth-faces", root=tmp_path, **options)
    err = capsys.readouterr().err
    assert f"the cached dataset {path.parent} is damaged (" in err and str(path) in err, err
    assert path.read_bytes() == good or damaged == "dataset.json"  # dataset.json records the generation time
    # dataset.json counts the videos of its own folder (the validation subjects live in a folder of their own)
    own = [r for r in first.records if r.split != "val"]
    assert json.loads((path.parent / "dataset.json").read_text())["n_videos"] == len(own)
    assert [r.path for r in again.records] == [r.path for r in first.records]


@pytest.mark.parametrize("args", [["eval", "--sanity", "--dataset", "synth-faces"], ["data", "make", "synth-faces"],
                                  ["detector", "train", "--dataset", "synth-faces"]])
def test_seed_options_take_what_configs_take(tmp_path, args) -> None:
    line = one_error_line(cli(*args, "--seed", "-1", env={"LFDM_BENCH_CACHE": str(tmp_path)}), 2)
    assert "'--seed': -1 is not in the range 0<=x<=4294967295" in line
