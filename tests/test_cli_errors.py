"""Issue 13, items 6 and 9: bad input on the command line is one ``Error: ...`` line naming the file or option at
fault (exit code 2 for a bad option or config, 1 for a bad file), never a traceback, and nothing already written is
lost: configs, sampler options, a corrupt checkpoint, a corrupt frame in the middle of a take, a folder or cache that
cannot be written, results that cannot be saved."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import cli, one_error_line

pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------------------------------- 9: configs
@pytest.fixture()
def bad_yaml(tmp_path: Path) -> Path:
    p = tmp_path / "broken.yaml"
    p.write_text("data:\n  size: [32\n")
    return p


@pytest.mark.parametrize("command", [["train", "--stage", "lfae"], ["train", "--model", "ldm"], ["bench"]])
@pytest.mark.parametrize("case", ["unknown-name", "unknown-key", "wrong-type", "missing-equals", "yaml-syntax",
                                  "empty-file"])
def test_config_errors_are_one_line(command, case, tmp_path, bad_yaml):
    out = tmp_path / "out"
    config = {"train": "tiny", "bench": "bench-tiny"}[command[0]]
    if command[-1] == "ldm":
        config = "ldm-tiny"
    section, number = ("eval", "per_pair") if command[0] == "bench" else ("data", "data.size")
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    args, expect = {
        "unknown-name": (["--config", "nosuch"], "config 'nosuch' not found; give a YAML path or one of: "),
        "unknown-key": (["--config", config, "--set", f"{section}.nosuch=1"], f"{section}.nosuch"),
        "wrong-type": (["--config", config, "--set", f"{number}=big"], number),
        "missing-equals": (["--config", config, "--set", "data.size"], "data.size"),
        "yaml-syntax": (["--config", str(bad_yaml)], f"{bad_yaml}: not valid YAML"),
        "empty-file": (["--config", str(empty)], f"{empty} is empty"),
    }[case]
    line = one_error_line(cli(*command, *args, "--out", str(out)), 2)
    assert expect in line
    assert not out.exists()  # refused before anything is written


def test_a_bad_dataset_option_does_not_lock_the_run_folder(tmp_path):
    """The option is only checked when the data is loaded, after the run folder got its config.yaml: a folder without
    checkpoints takes the corrected config; one with checkpoints still refuses another config."""
    from lfdm_bench.runs import RunConfigMismatch, open_training_run

    out = tmp_path / "run"
    line = one_error_line(cli("train", "--config", "tiny", "--set", "data.options.nosuch=1", "--out", str(out),
                              "--no-progress"), 2)
    assert "data.options: unknown SynthConfig option(s) ['nosuch']; valid options: " in line
    run = open_training_run(out, "lfdm", "corrected: 1\n")
    assert (out / "config.yaml").read_text() == "corrected: 1\n"
    (run.checkpoints / "lfae").mkdir(parents=True, exist_ok=True)
    (run.checkpoints / "lfae" / "last.pt").write_bytes(b"")
    with pytest.raises(RunConfigMismatch, match="holds a run with a different config"):
        open_training_run(out, "lfdm", "other: 2\n")


# -------------------------------------------------------------------------------------------- 9: sample options
@pytest.mark.parametrize("args, expect", [
    (["--sampler", "nosuch"], "Invalid value for '--sampler': unknown sampler 'nosuch'"),
    (["--steps", "0"], "Invalid value for '--steps': 0 is not in the range x>=1"),
    (["--per-pair", "0"], "Invalid value for '--per-pair': 0 is not in the range x>=1"),
])
def test_sample_option_errors(args, expect, tmp_path):
    line = one_error_line(cli("sample", "--run", str(tmp_path), *args), 2)
    assert line.startswith(f"Error: {expect}")


def _corrupt_run(tmp_path: Path, stage: str) -> Path:
    ck = tmp_path / "run" / "checkpoints" / stage / "last.pt"
    ck.parent.mkdir(parents=True)
    ck.write_bytes(b"PK\x03\x04 half of a zip file")
    return ck


def test_corrupt_checkpoint_is_named(tmp_path):
    ck = _corrupt_run(tmp_path, "dm")
    (ck.parent / "step_000003.pt").write_bytes(b"")
    line = one_error_line(cli("sample", "--run", str(tmp_path / "run")), 1)
    assert f"checkpoint {ck} cannot be read (" in line
    assert f"cp {ck.parent / 'step_000003.pt'} {ck}" in line  # how to go on
    assert ck.read_bytes() == b"PK\x03\x04 half of a zip file"  # left as it was


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_corrupt_checkpoint_when_training_resumes(tmp_path):
    ck = _corrupt_run(tmp_path, "lfae")
    line = one_error_line(cli("train", "--config", "tiny", "--stage", "lfae", "--out", str(tmp_path / "run"),
                              "--no-progress"), 1)
    assert f"checkpoint {ck} cannot be read" in line and f"rm {ck}" in line
    assert ck.is_file()


# ------------------------------------------------------------------------------- 9: a corrupt frame mid-take
def _jpeg_take(folder: Path, n: int = 6, bad: int | None = None) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        f = folder / f"{i:03d}.jpg"
        if i == bad:
            f.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        else:
            Image.fromarray(np.full((16, 16, 3), 20 * i, np.uint8)).save(f)
    return folder


def test_data_info_skips_a_take_with_a_corrupt_middle_frame(tmp_path):
    """The check read only the first and last frames: the bad middle one was a BadVideoError traceback."""
    from lfdm_bench.data.records import VideoRecord, write_manifest

    takes = [_jpeg_take(tmp_path / "frames" / f"s{k}_c{c}", bad=3 if (k, c) == (0, 1) else None)
             for k in range(2) for c in range(2)]
    records = [VideoRecord(path=str(t), subject=f"s{i // 2}", class_index=i % 2, class_name=f"c{i % 2}",
                           text=f"c{i % 2}", split="train" if i < 2 else "test") for i, t in enumerate(takes)]
    manifest = tmp_path / "frames" / "manifest.csv"
    write_manifest(records, manifest)
    out = tmp_path / "info"
    r = cli("data", "info", str(manifest), "--out", str(out), "--clips", "4", "--frames", "4")
    assert r.exit_code == 0, r.output
    info = json.loads(next(out.glob("*_info.json")).read_text())
    assert [s["path"] for s in info["skipped"]] == [str(takes[1])]
    assert "003.jpg: unreadable image" in info["skipped"][0]["reason"]
    assert "clip grid (3 clips x 4 frames)" in r.output


def test_skip_bad_checks_every_frame_of_a_folder(tmp_path):
    from lfdm_bench.data.dataset import ClipDataset
    from lfdm_bench.data.records import VideoRecord

    good, bad = _jpeg_take(tmp_path / "good"), _jpeg_take(tmp_path / "bad", bad=2)
    recs = [VideoRecord(path=str(p), subject="s", class_index=0, class_name="c", text="c", split="train")
            for p in (good, bad)]
    ds = ClipDataset(recs, n_frames=4, size=8, skip_bad=True)
    assert [r.path for r in ds.records] == [str(good)]
    assert ds.skipped[0][0] == str(bad) and ds.skipped[0][1].startswith("002.jpg: unreadable image")


# --------------------------------------------------------------------------- 9: where results cannot be written
@pytest.fixture()
def tiny(tiny_eval_set: dict, tmp_path: Path) -> dict:
    blocker = tmp_path / "a-file"  # a folder inside a plain file cannot be created (root may write read-only ones)
    blocker.write_text("x")
    return {**tiny_eval_set, "blocked": blocker / "sub"}


def _eval(tiny: dict, *args: str):
    return cli("eval", "--samples", str(tiny["samples"]), "--dataset", tiny["manifest"], "--metric", "fvd",
               "--frames", "10", *args)


def test_eval_out_that_cannot_be_written_is_refused_before_any_work(tiny):
    line = one_error_line(_eval(tiny, "--out", str(tiny["blocked"])), 1)
    assert line.startswith(f"Error: cannot write to {tiny['blocked']}: Not a directory; pass a writable --out")
    assert not tiny["built"]  # no feature was computed


def test_bench_out_that_cannot_be_written_is_one_line(tiny):
    line = one_error_line(cli("bench", "--config", "bench-tiny", "--out", str(tiny["blocked"]), "--no-progress"), 1)
    assert line == f"Error: {tiny['blocked']}: Not a directory; write the results elsewhere (--out) or make the folder " \
                   "writable"


def test_eval_cache_that_cannot_be_written_is_skipped_with_a_warning(tiny, monkeypatch):
    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tiny["blocked"]))
    r = _eval(tiny)
    assert r.exit_code == 0, r.output
    assert "warning: the feature cache cannot be used" in r.output and "LFDM_BENCH_CACHE" in r.output
    assert (tiny["samples"] / "metrics" / "metrics.json").is_file()


def test_eval_results_that_cannot_be_saved_go_to_a_spare_folder(tiny, monkeypatch):
    import metrics.result_files as tables

    real_write, calls = tables.write_eval, []

    def failing_once(result, target):
        calls.append(Path(target))
        if len(calls) == 1:
            raise OSError(28, "No space left on device", str(Path(target) / "metrics.json"))
        return real_write(result, target)

    monkeypatch.setattr(tables, "write_eval", failing_once)
    line = one_error_line(_eval(tiny), 1)
    assert "the results (printed above) could not be written to" in line and "No space left on device" in line
    spare = calls[1]
    assert f"they were written to {spare} instead" in line
    saved = json.loads((spare / "metrics.json").read_text())
    assert saved["values"]["fvd"]["test"] >= 0


def test_run_options_named_in_hints_exist(tiny):
    """Hints name options that exist: eval takes --no-crop and --option (as `data info` does)."""
    r = _eval(tiny, "--no-crop")
    assert r.exit_code == 0 and "--no-crop ignored" in r.output
    line = one_error_line(_eval(tiny, "--option", "n_subjects=2"), 2)
    assert "--option" in line and "n_subjects" in line
