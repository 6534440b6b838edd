"""Issue 13, "silently wrong": a sample folder holds one setting (3); mixed frame sizes (4), repeated rows and classes
that disagree with the dataset (5), samples of another dataset or of an unfinished training (6) and NaN features (7)
are refused or reported before any number is computed, and nothing already written is changed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lfdm_bench.config import load_config, resolve_config_path
from lfdm_bench.data.records import read_manifest
from lfdm_bench.data.registry import get_dataset
from lfdm_bench.data.video_io import write_mp4
from lfdm_bench.lfdm.config import LFDMConfig
from metrics.commands import eval_cmd
from metrics.evaluate import evaluate
from metrics.protocol import EvalProtocol
from metrics.feature_cache import FeatureCache
from metrics.video_features import FunctionDetector
from metrics.sample_checks import check_dataset
from lfdm_bench.runs import Run
from lfdm_bench.sampling.generate import SampleFolderMismatch, generate_eval_samples
from lfdm_bench.sampling.run import sample_run
from helpers import tiny_detector

TINY = resolve_config_path("tiny")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def tiny(tiny_eval_set: dict) -> dict:
    """The tiny 4-subject dataset, a real-clip sample folder of its test split, a private cache, the tiny detector."""
    return tiny_eval_set


def _protocol(tiny: dict) -> EvalProtocol:
    return EvalProtocol(dataset=tiny["manifest"], split="test", n_frames=10)


def _rewrite_manifest(manifest: Path, edit) -> None:
    """Apply ``edit(rows)`` to the manifest's rows (dicts) and write it back."""
    with open(manifest, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    edit(rows)
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def _eval_cli(tiny: dict, *args: str):
    return CliRunner().invoke(eval_cmd, ["--samples", str(tiny["samples"]), "--dataset", tiny["manifest"], "--metric",
                                         "fvd", "--frames", "10", *args])


# ------------------------------------------------------------------------------------------- 3: one setting a folder
def _sources(n: int = 3):
    from lfdm_bench.sampling.eval_set import build_eval_set

    info = load_data_tiny()
    return build_eval_set(info.records, "test", per_pair=1)[:n]


def load_data_tiny():
    from lfdm_bench.data.loading import load_data

    return load_data(load_config(LFDMConfig, TINY).data, progress=False)


def test_sample_folder_of_other_settings_is_refused_and_left_as_is(tmp_path):
    calls = []

    def gen(images, sources):
        calls.append(len(sources))
        return torch.rand(len(sources), 4, 3, 32, 32)

    folder = tmp_path / "samples"
    ddim = {"sampler": "ddim", "steps": 4, "guidance": 1.0}
    generate_eval_samples(gen, _sources(), folder, method="lfdm", size=32, settings=ddim, progress=False)
    before = {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(SampleFolderMismatch, match=r"holds samples made with other settings .*guidance: 1\.0 there, "
                                                   r"3\.0 now; sampler: \"ddim\" there, \"ddpm\" now.*another --out"):
        generate_eval_samples(gen, _sources(), folder, method="lfdm", size=32, progress=False,
                              settings={"sampler": "ddpm", "steps": 4, "guidance": 3.0})
    assert {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # nothing touched
    # the same settings resume the folder (nothing generated again); the run folder's place may change
    generate_eval_samples(gen, _sources(), folder, method="lfdm", size=32, settings=ddim | {"run": "/moved"},
                          progress=False)
    assert calls == [3] and len(read_manifest(folder / "manifest.csv")) == 3


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_folder_without_settings_json_is_checked_by_its_manifest(tiny):
    """Videos written by another tool (no settings.json): the manifest's parameters decide."""
    def gen(images, sources):
        return torch.rand(len(sources), 4, 3, 32, 32)

    with pytest.raises(SampleFolderMismatch, match=r"row 2 params; no settings.json.*sampler: \"none\" there"):
        generate_eval_samples(gen, _sources(), tiny["samples"], method="lfdm", size=32, progress=False,
                              settings={"sampler": "ddim", "steps": 4})
    assert not (tiny["samples"] / "settings.json").exists()


# ---------------------------------------------------------------------------------------------- 4: one frame size
def test_mixed_frame_sizes_are_refused_naming_a_video(tiny):
    rows = read_manifest(tiny["samples"] / "manifest.csv")
    odd = Path(rows[0].path)  # the FIRST video decided the resolution before
    write_mp4(odd, np.zeros((10, 24, 40, 3), np.uint8))
    with pytest.raises(ValueError, match=rf"differ in frame size \(11 at 32x32, 1 at 24x40\): e\.g\. {odd} is "
                                         r"24x40, most are 32x32"):
        evaluate(_protocol(tiny), tiny["samples"], ["fvd"], cache=False)
    r = _eval_cli(tiny)
    assert r.exit_code == 1 and r.output.startswith("Error: ") and "differ in frame size" in r.output
    assert not (tiny["samples"] / "metrics" / "metrics.json").exists()


# ------------------------------------------------------------------------------------- 5: rows, classes, indices
def test_rows_listing_one_video_are_refused(tiny):
    manifest = tiny["samples"] / "manifest.csv"
    _rewrite_manifest(manifest, lambda rows: [r.update(path=rows[0]["path"]) for r in rows])
    with pytest.raises(ValueError, match="rows 2 and 3 list the same video"):
        evaluate(_protocol(tiny), tiny["samples"], ["fvd"], cache=False)
    r = _eval_cli(tiny)
    assert r.exit_code == 1 and "list the same video" in r.output and "Traceback" not in r.output


def test_the_same_video_in_two_folders_is_refused(tiny):
    from metrics.sample_checks import read_samples

    copy = tiny["tmp"] / "copy"
    copy.mkdir()
    rows = read_manifest(tiny["samples"] / "manifest.csv")
    from lfdm_bench.data.records import write_manifest

    write_manifest(rows[:1], copy / "manifest.csv")
    with pytest.raises(ValueError, match=r"copy/manifest.csv row 2 and .*samples/manifest.csv row 2 list the same"):
        read_samples([tiny["samples"], copy])


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows[0].update(class_name="down"), r"class_index 0 is 'right' but class_name says 'down'"),
    (lambda rows: rows[1].update(class_index="7"), r"class_index 7 is outside the 3 classes \(0\.\.2\)"),
])
def test_class_index_must_match_the_dataset(tiny, edit, message):
    _rewrite_manifest(tiny["samples"] / "manifest.csv", edit)
    with pytest.raises(ValueError, match=r"disagree with the class list of dataset .*row [23]: " + message):
        evaluate(_protocol(tiny), tiny["samples"], ["fvd", "acc"], cache=False)
    assert not tiny["built"]  # refused before any feature was computed


def test_dataset_manifest_with_disagreeing_classes_is_refused(tiny):
    _rewrite_manifest(Path(tiny["manifest"]), lambda rows: rows[2].update(class_name="still"))
    with pytest.raises(ValueError, match=r"row 4: class_index 1 is 'down' but class_name says 'still'"):
        get_dataset(tiny["manifest"])


# ------------------------------------------------------------------------- 6: the samples' dataset, training state
def test_samples_of_another_dataset_are_refused(tiny):
    settings = tiny["samples"] / "settings.json"
    settings.write_text(json.dumps({"method": "lfdm", "dataset": "synth-faces",
                                    "dataset_options": {"n_subjects": 4, "size": 32}}))
    r = _eval_cli(tiny)
    assert r.exit_code == 1 and "holds videos made from dataset 'synth-faces'" in r.output
    assert "--dataset synth-faces" in r.output and not tiny["built"] and not (tiny["samples"] / "metrics").exists()
    # the same dataset with other options (the tiny set vs the full one) is another reference set
    with pytest.raises(ValueError, match=r"with options n_subjects=4 size=32 .* options none \(the defaults\) \(they "
                                         r"differ in n_subjects, size\).*--option n_subjects=4 --option size=32"):
        check_dataset([(tiny["samples"], json.loads(settings.read_text()))], "synth-faces", {})
    assert check_dataset([(tiny["samples"], json.loads(settings.read_text()))], "synth-faces",
                         {"n_subjects": 4, "size": 32, "progress": False}) == []
    # options given at their defaults are the same dataset (synth-faces-cpu's {size: 64, frames: 16} vs none)
    assert check_dataset([(tiny["samples"], {"dataset": "synth-faces", "dataset_options": {"size": 64, "frames": 16}})],
                         "synth-faces", {}) == []


def _tiny_run(tmp_path: Path, step: int, steps: int = 6) -> Run:
    run = Run.create(tmp_path / "run")
    for stage in ("lfae", "dm"):
        (run.checkpoints / stage).mkdir(parents=True, exist_ok=True)
        torch.save({"step": step if stage == "dm" else steps, "train_config": {"steps": steps},
                    "finished": step >= steps if stage == "dm" else True}, run.checkpoints / stage / "last.pt")
    return run


def _fake_generator(device, **kw):
    def gen(images, sources):
        return torch.rand(len(sources), 8, 3, 32, 32)

    return gen


def test_sampling_an_unfinished_run_warns_and_records_it(tmp_path, capsys):
    cfg = load_config(LFDMConfig, TINY)
    run = _tiny_run(tmp_path, step=3)
    manifest = sample_run(run, cfg, "lfdm", _fake_generator, progress=False, max_subjects=1)
    err = capsys.readouterr().err
    assert "warning: the training of" in err and "did not finish (dm at step 3 of 6)" in err
    settings = json.loads((manifest.parent / "settings.json").read_text())
    assert settings["training_unfinished"] == "dm at step 3 of 6"
    assert settings["training"]["dm"] == {"step": 3, "steps": 6, "finished": False}
    assert settings["dataset_options"] == dict(cfg.data.options)
    from metrics.sample_checks import sample_settings, training_notes

    assert training_notes(sample_settings(manifest.parent)) == [
        f"{manifest.parent}: sampled from a run whose training did not finish (dm at step 3 of 6)"]


def test_split_both_with_out_writes_one_folder_per_split_inside_it(tmp_path, monkeypatch):
    cfg = load_config(LFDMConfig, TINY)
    run = _tiny_run(tmp_path, step=6)
    out = tmp_path / "mine"
    for split in ("test", "train"):
        sample_run(run, cfg, "lfdm", _fake_generator, split=split, under=out, progress=False, max_subjects=1)
    assert sorted(p.name for p in out.iterdir()) == ["test_ddim4_eta1_g1", "train_ddim4_eta1_g1"]
    # the command passes --out as that parent folder with --split both (it was ignored before)
    import bench.generators
    from cli import main

    seen = []

    class Fake:
        def sample(self, split, **kw):
            seen.append((split, kw.get("out"), kw.get("under")))
            return Path("x")

    monkeypatch.setattr(bench.generators, "open_trained_run", lambda run_dir: Fake())
    r = CliRunner().invoke(main, ["sample", "--run", str(run.root), "--split", "both", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert seen == [("test", None, str(out)), ("train", None, str(out))]


def test_per_pair_and_steps_below_one_are_refused(tmp_path):
    from lfdm_bench.config import ConfigError

    cfg = load_config(LFDMConfig, TINY)
    run = _tiny_run(tmp_path, step=6)
    with pytest.raises(ValueError, match="per_pair must be >= 1"):  # 0 meant "the config's" before
        sample_run(run, cfg, "lfdm", _fake_generator, per_pair=0, progress=False)
    with pytest.raises(ConfigError, match="sample.per_pair must be >= 1, got 0"):
        load_config(LFDMConfig, TINY, ["sample.per_pair=0"])
    assert not run.samples.exists() or not any(run.samples.iterdir())


# --------------------------------------------------------------------------------------------- 7: NaN features
def test_nan_features_are_refused_and_never_cached(tiny):
    nan = FunctionDetector(lambda v: torch.full((v.shape[0], 4), float("nan")), "nan-weights")
    cache = FeatureCache(tiny["tmp"] / "fcache")
    with pytest.raises(ValueError, match=r"feature source .*nan-weights.* gave NaN/inf features .*nothing was cached"):
        evaluate(_protocol(tiny), tiny["samples"], ["fvd"], detector=nan, cache=cache)
    assert not list((tiny["tmp"] / "fcache").rglob("*.npz"))
    with pytest.raises(ValueError, match="refusing to cache NaN/inf features"):
        cache.save({"dataset": "x"}, np.full((1, 2), np.nan), ["a.mp4"])
    # a good detector afterwards fills the cache with finite features
    evaluate(_protocol(tiny), tiny["samples"], ["fvd"], detector=tiny_detector(), cache=cache)
    files = list((tiny["tmp"] / "fcache").rglob("*.npz"))
    assert files and all(np.isfinite(np.load(f)["features"]).all() for f in files)
