"""Any image-to-video generator through the benchmark (:mod:`lfdm_bench.sampling.plugin`): ``--generator
module:object`` and ``lfdm_bench.generators`` entry points load it, its output is checked against the interface,
and the benchmark drives it as it drives LFDM (same evaluation set, sample folder, protocol, table and report rows):
its FVD in results.json is the FVD ``lfdm-bench eval`` finds for its sample folder. The README's subsection runs as
written."""

import importlib.metadata
import json
import re
from pathlib import Path

import pytest
import torch

from helpers import cli, one_error_line, use_standin_detector
from lfdm_bench.data.records import read_manifest
from lfdm_bench.sampling.plugin import GeneratorError, check_videos, load_generator

ROOT = Path(__file__).resolve().parent.parent
TOY = "examples.affine_toy:generator"
# a tiny benchmark for the plugin: LFDM (the reference row) and the plugin, no LDM, no ablation
SMALL = ["--set", "methods=[lfdm,static]", "--set", "train_split_methods=[lfdm]", "--set", "ablation.samplers=[]",
         "--set", "grids=false"]


def write_plugin(folder: Path, body: str, name: str = "my_plugin") -> str:
    (folder / f"{name}.py").write_text("import torch\n\n" + body)
    return name


# --------------------------------------------------------------------------------------------------- loading


def test_specs_load_by_module_path_file_and_name(monkeypatch):
    monkeypatch.chdir(ROOT)
    g = load_generator(TOY)
    assert (g.name, g.source) == ("affine_toy", TOY) and callable(g.fn)
    g = load_generator("toy=examples/affine_toy.py:AffineToy")  # a .py path; a class is instantiated; NAME= wins
    assert g.name == "toy" and type(g.fn).__name__ == "AffineToy"


def test_entry_point_names_a_generator(monkeypatch):
    monkeypatch.chdir(ROOT)
    ep = importlib.metadata.EntryPoint("toy-ep", TOY, "lfdm_bench.generators")
    real = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **kw: [ep] if kw.get("group") == "lfdm_bench.generators" else real(**kw))
    g = load_generator("toy-ep")
    assert g.name == "affine_toy" and g.source == f"entry point toy-ep ({TOY})"
    with pytest.raises(GeneratorError, match=r"--generator nope: .* no entry point .* \(installed: toy-ep\)"):
        load_generator("nope")


@pytest.mark.parametrize("spec, message", [
    ("no_such_module:gen", r"--generator no_such_module:gen: no module named 'no_such_module'"),
    ("examples.affine_toy:nope", r"--generator examples.affine_toy:nope: examples.affine_toy has no attribute 'nope'"),
    ("examples.affine_toy:math", r"--generator examples.affine_toy:math: module object is not callable"),
    ("examples/none.py:gen", r"--generator examples/none.py:gen: examples/none.py is not a file"),
    ("bad name=examples.affine_toy:generator", r"name 'bad name' must be"),
    ("examples.affine_toy:", r"expected module:object"),
])
def test_bad_specs_are_one_line_errors_naming_the_option(monkeypatch, spec, message):
    monkeypatch.chdir(ROOT)
    with pytest.raises(GeneratorError, match=message):
        load_generator(spec)
    # on the command line: one usage-error line, before anything is trained
    r = cli("bench", "--config", "bench-tiny", "--out", "/nonexistent/never-written", "--generator", spec)
    assert re.escape(spec) in re.escape(one_error_line(r, 2)) or spec in one_error_line(r, 2)


def test_generator_taking_a_method_name_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    r = cli("bench", "--config", "bench-tiny", "--out", str(tmp_path / "b"), "--generator", f"lfdm={TOY}")
    assert "--generator lfdm=examples.affine_toy:generator: its name 'lfdm' is taken" in one_error_line(r, 2)
    assert not (tmp_path / "b").exists()


# --------------------------------------------------------------------------------------------------- output checks


@pytest.mark.parametrize("videos, message", [
    (torch.zeros(2, 4, 3, 8, 8).numpy(), r"returned ndarray; expected a torch tensor"),
    (torch.zeros(2, 4, 3, 8, 8, dtype=torch.uint8), r"returned dtype torch.uint8; expected a floating tensor"),
    (torch.zeros(2, 5, 3, 8, 8), r"returned shape \(2, 5, 3, 8, 8\); expected \[B, T, 3, H, W\] = \[2, 4, 3, 8, 8\]"),
    (torch.zeros(2, 4, 8, 8, 3), r"returned shape \(2, 4, 8, 8, 3\)"),
    (torch.zeros(1, 4, 3, 8, 8), r"returned shape \(1, 4, 3, 8, 8\)"),
    (torch.full((2, 4, 3, 8, 8), -1.0), r"returned values in \[-1, -1\]; expected \[0, 1\]"),
    (torch.full((2, 4, 3, 8, 8), 255.0), r"returned values in \[255, 255\]; expected \[0, 1\]"),
    (torch.full((2, 4, 3, 8, 8), float("nan")), r"returned non-finite"),
])
def test_output_breaking_the_interface_is_named(videos, message):
    with pytest.raises(GeneratorError, match=r"^--generator my:gen: " + message):
        check_videos("my:gen", videos, 2, 4, 8)


def test_output_within_rounding_of_the_range_passes():
    v = torch.rand(2, 4, 3, 8, 8)
    v[0, 0, 0, 0, 0], v[1, 0, 0, 0, 0] = -5e-4, 1 + 5e-4
    assert check_videos("my:gen", v, 2, 4, 8) is v


# --------------------------------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def toy_bench(tmp_path_factory):
    """The tiny benchmark with the example adapter, run as a user runs it (from its own folder, which holds the
    example)."""
    mp = pytest.MonkeyPatch()
    use_standin_detector(mp)
    root = tmp_path_factory.mktemp("plugin_bench")
    (root / "examples").mkdir()
    (root / "examples" / "affine_toy.py").write_text((ROOT / "examples" / "affine_toy.py").read_text())
    mp.chdir(root)
    mp.setenv("LFDM_BENCH_CACHE", str(root / "cache"))
    r = cli("bench", "--config", "bench-tiny", "--out", "out", "--no-progress", *SMALL, "--generator", TOY,
            catch_exceptions=False)
    assert r.exit_code == 0, r.output
    yield root, root / "out"
    mp.undo()


@pytest.mark.e2e
def test_bench_drives_the_generator_like_lfdm(toy_bench):
    root, out = toy_bench
    results = json.loads((out / "results.json").read_text())
    assert set(results["methods"]) == {"lfdm", "static", "affine_toy"}
    assert set(results["methods"]["affine_toy"]) == {"test", "train", "gap"}
    assert results["generators"] == {"affine_toy": TOY}
    # the same evaluation set as LFDM's: sources, classes and seeds per sample id
    for split in ("test", "train"):
        ours = {r.take: r for r in read_manifest(out / "samples" / f"affine_toy_{split}" / "manifest.csv")}
        lfdm = {r.take: r for r in read_manifest(out / "samples" / f"lfdm_{split}" / "manifest.csv")}
        assert set(ours) == set(lfdm) and len(ours) > 0
        for k, r in ours.items():
            assert (r.params["source"], r.params["seed"], r.class_index, r.subject, r.n_frames) == (
                lfdm[k].params["source"], lfdm[k].params["seed"], lfdm[k].class_index, lfdm[k].subject,
                lfdm[k].n_frames)
            assert r.params["method"] == "affine_toy" and r.params["generator"] == TOY
    test = results["methods"]["affine_toy"]["test"]
    assert test["fvd"] > 0 and test["fvd_diff_lfdm"] is not None  # paired with LFDM against the same real videos
    # a table row and a report row
    assert re.search(r"^\| affine_toy \|", (out / "tables.md").read_text(), re.M)
    page = (out / "report.html").read_text()
    assert "affine_toy" in page and f"{test['fvd']:.1f}" in page


@pytest.mark.e2e
def test_bench_fvd_equals_eval_of_the_sample_folder(toy_bench):
    root, out = toy_bench
    results = json.loads((out / "results.json").read_text())
    for split in ("test", "train"):
        folder = out / "samples" / f"affine_toy_{split}"
        r = cli("eval", "--samples", str(folder), "--split", split, "--metric", "fvd,kvd", "--frames", "10", "--out",
                str(root / f"eval_{split}"), "--no-progress", catch_exceptions=False)
        assert r.exit_code == 0, r.output
        rec = json.loads(next((root / f"eval_{split}").glob("*.json")).read_text())
        bench_rec = json.loads((out / "metrics" / f"affine_toy_{split}.json").read_text())
        assert rec["values"]["fvd"][split] == pytest.approx(results["methods"]["affine_toy"][split]["fvd"], rel=1e-9)
        assert rec["values"]["fvd"][split] == pytest.approx(bench_rec["values"]["fvd"][split], rel=1e-9)
        assert rec["values"]["kvd"][split] == pytest.approx(bench_rec["values"]["kvd"][split], rel=1e-9)


@pytest.mark.e2e
def test_sample_command_writes_the_runs_evaluation_set(toy_bench):
    root, out = toy_bench
    run = out / "runs" / "lfdm"
    r = cli("sample", "--run", str(run), "--generator", TOY, "--no-progress", catch_exceptions=False)
    assert r.exit_code == 0, r.output
    folder = run / "samples" / "test_affine_toy"
    bench_rows = {x.take: x for x in read_manifest(out / "samples" / "affine_toy_test" / "manifest.csv")}
    rows = read_manifest(folder / "manifest.csv")
    assert {x.take for x in rows} == set(bench_rows)
    from lfdm_bench.data.video_io import read_video

    for x in rows[:3]:  # the same videos: seeded by the evaluation set, not by the batch or the global RNG
        assert torch.equal(torch.as_tensor(read_video(x.path)), torch.as_tensor(read_video(bench_rows[x.take].path)))
    r = cli("sample", "--run", str(run), "--generator", TOY, "--steps", "3")
    assert "--steps set the run's sampler" in one_error_line(r, 2)


@pytest.mark.e2e
def test_wrong_output_stops_the_benchmark_with_one_line(toy_bench, tmp_path, monkeypatch):
    root, out = toy_bench
    monkeypatch.chdir(tmp_path)
    write_plugin(tmp_path, "def gen(frames, texts, seeds):\n    return frames[:, None].repeat(1, 3, 1, 1, 1) * 255\n")
    r = cli("sample", "--run", str(out / "runs" / "lfdm"), "--generator", "my_plugin:gen", "--out", "s")
    line = one_error_line(r, 2)
    assert line.startswith("Error: --generator my_plugin:gen: returned shape (") and "expected [B, T, 3, H, W]" in line
    write_plugin(tmp_path, "def gen(frames, texts, seeds):\n    return frames[:, None].repeat(1, 10, 1, 1, 1) * 255\n",
                 "plugin2")
    r = cli("sample", "--run", str(out / "runs" / "lfdm"), "--generator", "plugin2:gen", "--out", "s2")
    values = r"\[\d+(\.\d+)?, 2\d\d(\.\d+)?\]"
    assert re.match(rf"Error: --generator plugin2:gen: returned values in {values}; expected \[0, 1\]",
                    one_error_line(r, 2))


# --------------------------------------------------------------------------------------------------- README


def readme_lines() -> list[str]:
    """The command lines of README's "Your generator through the benchmark" bash block."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"\n### Your generator through the benchmark\n(.*?)(?=\n##)", text, re.S).group(1)
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.startswith("lfdm-bench")]


@pytest.mark.e2e
def test_readme_subsection_runs_as_written(tmp_path, monkeypatch):
    """Every line as written, from a folder holding examples/ (as the repository does), with the stand-in detector;
    the bench line alone gets the overrides of SMALL (LFDM + static + the generator, no LDM / ablation: time)."""
    use_standin_detector(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "affine_toy.py").write_text((ROOT / "examples" / "affine_toy.py").read_text())
    lines = readme_lines()
    assert [line.split()[1] for line in lines] == ["train", "sample", "eval", "bench"]
    for line in lines:
        args = line.split()[1:]
        if args[0] == "bench":
            args += SMALL + ["--no-progress"]
        r = cli(*args, catch_exceptions=False)
        assert r.exit_code == 0, f"{line}\n{r.output}"
    assert (tmp_path / "runs" / "tiny" / "samples" / "test_affine_toy" / "manifest.csv").is_file()
    assert re.search(r"^\| affine_toy \|", (tmp_path / "bench_out" / "bench-tiny" / "tables.md").read_text(), re.M)
