"""The benchmark pipeline end to end on the tiny configs, with a cheap stand-in detector (the I3D is tested
elsewhere): every stage runs, the tables hold every method, and a rerun resumes without redoing stages.

Run as a user runs the README's main command: from a working directory of its own, with the default, relative
output folder (``bench_out/<name>``), so every manifest is written and read relative to the working directory."""

import json
import re

import pytest
from click.testing import CliRunner

from cli import main
from helpers import use_standin_detector


@pytest.fixture(scope="module")
def bench_out(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    use_standin_detector(mp)
    root = tmp_path_factory.mktemp("bench")
    mp.chdir(root)
    env = {"LFDM_BENCH_CACHE": "cache"}  # relative too
    r = CliRunner().invoke(main, ["bench", "--config", "bench-tiny", "--no-progress"], env=env, catch_exceptions=False)
    assert (root / "bench_out" / "bench-tiny" / "results.json").is_file(), r.output
    (root / "out").symlink_to(root / "bench_out" / "bench-tiny")
    yield root, env, r
    mp.undo()


@pytest.mark.e2e
def test_bench_writes_tables_for_every_method(bench_out):
    root, _, r = bench_out
    assert r.exit_code == 0, r.output
    res = json.loads((root / "out/results.json").read_text())
    assert set(res["methods"]) == {"lfdm", "ldm", "vdm", "imaginator", "static", "retrieval", "real", "real_fresh",
                                   "lfae", "lfae_fit", "floor"}
    # every row states what it compares: the methods and the fresh real takes at the same sizes (14 vs 14, 2 vs 2
    # per class, 7 vs 7 per subject), the halves floor at half of them
    sizes = {m: d["test"]["sizes"] for m, d in res["methods"].items()}
    assert sizes["lfdm"] == sizes["real_fresh"] == sizes["lfae_fit"] == ("14 vs 14; per class 2 vs 2; per subject 7 "
                                                                          "vs 7")
    assert sizes["floor"] == "7 vs 7; per class 1 vs 1; per subject 3-4 vs 3-4"
    fresh = res["methods"]["real_fresh"]["test"]
    assert fresh["frame0_psnr"] > 40.0 and fresh["psnr"] is not None  # frame 0 = the source image; another take
    assert "fresh real take(s)" in res["table_notes"]["test"]["what"]["real_fresh"]
    # the real-vs-real floor: two disjoint halves of the real test videos, with an interval around its value
    floor = res["methods"]["floor"]["test"]
    assert floor["n_generated"] + floor["n_real"] == res["methods"]["lfdm"]["test"]["n_real"]
    assert 0 <= floor["fvd_ci"][0] <= floor["fvd_ci"][1]
    assert "disjoint halves" in res["table_notes"]["test"]["what"]["floor"]
    for m in ("lfdm", "ldm", "vdm", "imaginator"):
        assert {"test", "train", "gap"} <= set(res["methods"][m])
    t = res["methods"]["lfdm"]["test"]
    assert t["fvd"] >= 0 and t["n_generated"] == 14 and 0 <= t["fvd_ci"][0] <= t["fvd_ci"][1]
    # differences to LFDM: paired over the same resampled subjects, from the features each evaluation wrote
    for m in ("ldm", "vdm", "imaginator", "static", "retrieval", "lfae"):
        d = res["methods"][m]["test"]
        assert d["fvd_diff_lfdm"] == pytest.approx(d["fvd"] - t["fvd"], rel=1e-6, abs=1e-9), m
        assert d["fvd_diff_lfdm_ci"][0] <= d["fvd_diff_lfdm_ci"][1]
    assert "fvd_diff_lfdm" not in t and "fvd_diff_lfdm" not in res["methods"]["real"]["test"]
    assert res["table_notes"]["test"]["difference"]["n_subjects"] == 2
    assert (root / "out/metrics/differences_test.json").is_file()
    assert res["table_notes"]["test"]["group_sizes"]["lfdm"]["cfvd"]["generated"] == 2
    assert res["table_notes"]["test"]["interval"]["n_boot"] == 20
    assert set(res["autoencoders"]) >= {"LFAE (predicted flows)", "LFAE (flows fitted to the target)", "LDM-AE",
                                        "copy-frame-0", "warp-only (predicted flows)"}
    for name in ("LFDM", "LDM", "VDM"):  # parameters and training FLOPs side by side
        assert res["models"][name]["unet_params"] > 0 and res["models"][name]["unet_train_gflop_per_step"] > 0
    assert res["models"]["VDM"]["stage1_params"] == 0 and res["models"]["VDM"]["train_batch_shape"][1:] == [
        48, 10, 8, 8]  # 4x4 pixel patches of 32x32 frames
    md = (root / "out/tables.md").read_text()
    assert "Main table, test subjects" in md and "LFDM" in md and "Generalisation" in md and "Run facts" in md
    assert "real vs real (disjoint halves)" in md and "subject-cluster bootstrap" in md and "per class: 2" in md
    assert "FVD - LFDM [95% CI]" in md and "(reference)" in md
    assert "fvd_diff_lfdm" in (root / "out/main_test.csv").read_text()
    assert "\\toprule" in (root / "out/tables.tex").read_text()
    assert (root / "out/main_test.csv").is_file() and (root / "out/grids/lfdm_test.png").is_file()
    # the static baseline reproduces the source exactly: its PSNR on frame 0 dominates; real has no PSNR
    assert res["methods"]["real"]["test"]["psnr"] is None
    # motion statistics: the static baseline has no motion and its frame 0 is the source; the LFAE's own
    # rendering of the real flows keeps some of the real motion
    static = res["methods"]["static"]["test"]
    assert static["motion_ratio"] == 0 and static["frame0_psnr"] > 40.0  # (only the mp4 encoding differs)
    assert res["methods"]["lfae"]["test"]["motion_ratio"] > 0
    assert "LFAE (predicted flows)" in md and "LFAE (flows fitted to the target)" in md and "motion x real" in md
    assert "acc x real" in md
    assert re.search(r"\| real, fresh takes +\| 14 vs 14; per class 2 vs 2; per subject 7 vs 7 +\|", md)
    t_acc = res["methods"]["lfdm"]["test"]
    assert t_acc["acc_ratio"] == pytest.approx(t_acc["acc"] / t_acc["acc_real"])
    # expression change x real: the static baseline shows none, the fresh real takes about as much as the reference
    assert abs(static["expr_ratio"]) < 1e-3 and res["methods"]["real_fresh"]["test"]["expr_ratio"] > 0.5
    assert t_acc["acc_expr_ratio"] == pytest.approx(t_acc["acc_expr"] / t_acc["acc_expr_real"])
    per_class = res["expression_per_class"]["test"]
    assert per_class["lfdm"]["neutral"]["ratio"] is None and t_acc["expr_min_class"] in per_class["lfdm"]
    assert "Expression change x real per class, test subjects" in md and "expression change x real" in md
    assert "expr_ratio" in (root / "out/main_test.csv").read_text() and (root / "out/expression_test.csv").is_file()
    # comparison grids: 2 test subjects, per class the real take and the 4 generators from the same source, 8 of 10
    # frames
    from lfdm_bench.data.records import read_manifest
    from PIL import Image

    subjects = sorted({r.subject for r in read_manifest(root / "out/samples/lfdm_test/manifest.csv")})[:2]
    for subject in subjects:
        img = Image.open(root / f"out/grids/compare_{subject}.png")
        assert img.size == (8 * (32 + 2) + 2, 7 * 5 * (32 + 2) + 2)
    assert "real take / LFDM / LDM / VDM / ImaGINator" in (root / "out/grids/compare.md").read_text()
    # table 3: the sampler ablation of the trained LFDM, on the first subject's 7 classes, with plots
    ab = res["ablation"]
    assert [(r["sampler"], r["guidance"]) for r in ab["rows"]] == [
        ("ddim", 1.0), ("ddim", 2.0), ("diffusers-dpmsolver++", 1.0), ("diffusers-dpmsolver++", 2.0)]
    assert all(r["n_videos"] == 7 and r["fvd"] >= 0 for r in ab["rows"])
    assert [r["nfe_per_video"] for r in ab["rows"]] == [2, 4, 2, 4]
    assert ab["plots"] and all((root / "out" / p).is_file() for p in ab["plots"])
    assert "Sampler ablation" in md and "diffusers-dpmsolver++" in (root / "out/tables.tex").read_text()
    # every generator tuned on the validation subjects; each one's best setting sampled its test and train videos
    assert ab["split"] == res["ablation_ldm"]["split"] == res["ablation_vdm"]["split"] == "val"
    assert res["ablation_ldm"]["rows"] and res["ablation_vdm"]["rows"]
    assert {m: s["chosen_on"] for m, s in res["facts"]["samplers"].items()} == {"LFDM": "val", "LDM": "val",
                                                                                "VDM": "val"}
    assert "Sampler ablation (LDM, validation subjects)" in md and "LDM sampler (test / train videos)" in md
    assert "Sampler ablation (VDM, validation subjects)" in md and "VDM sampler (test / train videos)" in md
    assert "VDM (pixel space)" in md and "ImaGINator (GAN)" in md
    # the GAN has no sampler to choose: no ablation; its videos are one generator pass each
    state = json.loads((root / "out/state.json").read_text())["parts"]
    assert "ablate:imaginator" not in state and "train:imaginator" in state
    assert json.loads((root / "out/samples/imaginator_test/settings.json").read_text())["sampler"] == "generator"
    claims = {c["claim"]: c for c in res["claims"]}  # VDM's paired differences join the claims table
    d = res["differences"]["test"]["vdm"]["fvd"]
    assert claims["LFDM generates better videos than VDM (FVD, test subjects)"]["estimate"] == d["diff"]
    d = res["differences"]["test"]["imaginator"]["sfvd"]
    assert claims["LFDM generates better videos than ImaGINator (sFVD, test subjects)"]["estimate"] == d["diff"]
    assert not any(c["claim"].startswith("LFDM below") for c in res["claims"])  # both measured here


def _bench_again(root, env):
    """``lfdm-bench bench`` on the tiny config again, in the fixture's folder (resumes it)."""
    mp = pytest.MonkeyPatch()
    use_standin_detector(mp)
    mp.chdir(root)
    try:
        return CliRunner().invoke(main, ["bench", "--config", "bench-tiny", "--out", "bench_out/bench-tiny",
                                         "--no-progress"], env=env, catch_exceptions=False)
    finally:
        mp.undo()


@pytest.mark.e2e
def test_bench_resumes(bench_out):
    root, env, _ = bench_out
    r = _bench_again(root, env)
    assert r.exit_code == 0
    assert r.output.count("done earlier, skipped") >= 10
    # the tables stage again, over the metrics folder it wrote its paired differences' cache into
    state_path = root / "bench_out" / "bench-tiny" / "state.json"
    state = json.loads(state_path.read_text())
    for part in ("tables", "report"):
        del state["parts"][part]
    state_path.write_text(json.dumps(state))
    assert list((root / "bench_out" / "bench-tiny" / "metrics").glob("differences_*.json"))
    r = _bench_again(root, env)
    assert r.exit_code == 0, r.output
    assert "[bench] tables ..." in r.output


def _bench_seeds(root, env, seeds: str):
    mp = pytest.MonkeyPatch()
    use_standin_detector(mp)
    mp.chdir(root)
    try:
        return CliRunner().invoke(main, ["bench", "--config", "bench-tiny", "--out", "bench_out/bench-tiny",
                                         "--seeds", seeds, "--no-progress"], env=env, catch_exceptions=False)
    finally:
        mp.undo()


@pytest.mark.e2e
def test_bench_seeds_retrains_lfdm_and_writes_the_spread(bench_out):
    """--seeds: the benchmark resumes, LFDM (and retrieval) are retrained per seed in OUT/seeds/seed<s>/, and
    seeds.json holds each training's numbers as its results.json has them, with their mean and SD."""
    import numpy as np

    root, env, _ = bench_out
    out = root / "bench_out" / "bench-tiny"
    r = _bench_seeds(root, env, "0")  # the benchmark's own seed: refused before anything runs
    assert r.exit_code == 2 and "--seeds" in r.output and not (out / "seeds").exists()
    r = _bench_seeds(root, env, "1")
    assert r.exit_code == 0, r.output
    sub = out / "seeds" / "seed1"
    sub_results = json.loads((sub / "results.json").read_text())
    assert set(sub_results["methods"]) == {"lfdm", "ldm", "retrieval"}  # LDM retrained too; no train split
    cfg_text = (sub / "bench_config.yaml").read_text()
    assert cfg_text.count("seed=1") == 2  # in lfdm_overrides and ldm_overrides
    seeds = json.loads((out / "seeds.json").read_text())
    main_results = json.loads((out / "results.json").read_text())
    assert [row["seed"] for row in seeds["rows"]] == [0, 1]
    fvds = [main_results["methods"]["lfdm"]["test"]["fvd"], sub_results["methods"]["lfdm"]["test"]["fvd"]]
    assert [row["fvd"] for row in seeds["rows"]] == fvds
    assert seeds["rows"][1]["retrieval_minus_lfdm"]["diff"] == \
        sub_results["differences"]["test"]["retrieval"]["fvd"]["diff"]
    assert seeds["summary"]["fvd_mean"] == pytest.approx(np.mean(fvds))
    assert seeds["summary"]["fvd_sd"] == pytest.approx(np.std(fvds, ddof=1))
    ldm = [main_results["methods"]["ldm"]["test"]["fvd"], sub_results["methods"]["ldm"]["test"]["fvd"]]
    assert [row["ldm_fvd"] for row in seeds["rows"]] == ldm and ldm[0] != ldm[1]  # LDM retrained
    d = [r["differences"]["test"]["ldm"]["fvd"]["diff"] for r in (main_results, sub_results)]
    assert seeds["summary"]["ldm_minus_lfdm_over_trainings"]["mean"] == pytest.approx(np.mean(d))
    assert "LFDM FVD over 2 trainings" in (out / "seeds.md").read_text()
    assert fvds[0] != fvds[1]  # another training, other videos
    # the benchmark's own results, tables and page now show them
    assert json.loads((out / "results.json").read_text())["training_seeds"] == seeds
    assert "## LFDM and LDM over training seeds" in (out / "tables.md").read_text()
    page = (out / "report.html").read_text()
    assert 'id="seeds"' in page and 'data-seed="1"' in page


def test_seed_summary_counts_and_spread():
    import numpy as np

    from bench.seeds import seeds_markdown, summarise_seeds

    rows = [{"seed": 0, "folder": ".", "fvd": 0.3, "fvd_ci": [0.2, 0.4],
             "retrieval_minus_lfdm": {"diff": -0.1, "lo": -0.15, "hi": -0.05}},
            {"seed": 1, "folder": "seeds/seed1", "fvd": 0.5, "fvd_ci": [0.3, 0.5],
             "retrieval_minus_lfdm": {"diff": 0.01, "lo": -0.02, "hi": 0.04}},
            {"seed": 2, "folder": "seeds/seed2", "fvd": 0.4, "fvd_ci": [0.35, 0.45],
             "retrieval_minus_lfdm": {"diff": 0.1, "lo": 0.05, "hi": 0.15}}]
    s = summarise_seeds(rows)
    assert s["fvd_mean"] == pytest.approx(0.4) and s["fvd_sd"] == pytest.approx(0.1)
    assert (s["fvd_min"], s["fvd_max"]) == (0.3, 0.5)
    assert s["mean_interval_half_width"] == pytest.approx((0.2 + 0.2 + 0.1) / 3 / 2)
    assert s["retrieval_vs_lfdm"] == {"ahead": 1, "not_decided": 1, "behind": 1}
    md = seeds_markdown(rows, s)
    assert "| 1 | `seeds/seed1` | - | 0.50 [0.30, 0.50] | - | - | 0.01 [-0.02, 0.04] |" in md
    # over the trainings, the training as the unit: mean of the differences, t interval with n - 1 = 2 df
    from scipy import stats

    ot = s["retrieval_minus_lfdm_over_trainings"]
    d = np.array([-0.1, 0.01, 0.1])
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert ot["mean"] == pytest.approx(d.mean()) and ot["n"] == 3
    assert (ot["lo"], ot["hi"]) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))
    assert "over the trainings (the training as the unit): mean 0.0033 [-0.25, 0.25] (95% t interval, 2 degrees" in md
    for r, (lf, lo, hi) in zip(rows, [(0.5, 0.1, 0.3), (0.45, -0.2, 0.1), (0.6, 0.05, 0.25)]):
        r["ldm_fvd"], r["ldm_minus_lfdm"] = lf, {"diff": (lo + hi) / 2, "lo": lo, "hi": hi}
    s = summarise_seeds(rows)
    assert s["ldm_vs_lfdm"] == {"ahead": 0, "not_decided": 1, "behind": 2}
    assert s["ldm_fvd_mean"] == pytest.approx(np.mean([0.5, 0.45, 0.6]))
    assert "LDM - LFDM: ldm ahead (interval below 0) in 0, not decided in 1, behind in 2" in seeds_markdown(rows, s)


@pytest.mark.e2e
def test_report_on_a_benchmark_folder_includes_its_ablation(bench_out):
    root, _, _ = bench_out
    r = CliRunner().invoke(main, ["report", str(root / "out")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "Main results" in r.output and "Sampler ablation" in r.output and "PSNR (pooled)" in r.output


@pytest.mark.e2e
def test_bench_writes_a_report_page_of_every_number(bench_out):
    """report.html parses, refers only to files inside the output folder (sample GIFs, plots, data files), and
    shows every method's every metric of results.json in its row."""
    from helpers import Page, check_numbers_shown, check_refs_inside

    root, _, _ = bench_out
    out = (root / "out").resolve()
    page_path = out / "report.html"
    page = Page(page_path.read_text())
    assert not page.stack
    files = check_refs_inside(page_path, page, out)
    res = json.loads((out / "results.json").read_text())
    assert check_numbers_shown(page, res) > 100
    gifs = [f for f in files if f.suffix == ".gif" and f.parent.name == "samples"]
    assert len(gifs) == 7  # one per class
    assert {out / p for p in res["ablation"]["plots"]} <= set(files)
    text = "".join(page.text)
    assert out / "grids" / "lfae_occlusion.png" in set(files)  # what the LFAE keeps and paints, in the page
    for s in ("source take", "LFDM", "LDM", "static (source image)", "retrieval (LFAE)", "real (other take)",
              "real, fresh takes", "LFAE (flows fitted to the target)",
              "14 vs 14; per class 2 vs 2; per subject 7 vs 7",
              "N: generated vs real (per group)", "Autoencoders", "LFAE", "Sampler ablation", "diffusers-dpmsolver++",
              "NOT comparable"):
        assert s in text, s


@pytest.mark.e2e
@pytest.mark.slow
def test_bench_report_page_loads_its_images_in_chromium(bench_out):
    from bench.html_browser import find_browser, image_check, screenshot

    if find_browser() is None:
        pytest.skip("no headless Chromium/Chrome installed")
    root, _, _ = bench_out
    page = (root / "out").resolve() / "report.html"
    images = image_check(page)
    assert len(images) >= 7 + 4 and all(i["loaded"] for i in images), [i for i in images if not i["loaded"]]
    png = screenshot(page, root / "report.png", width=1280, height=900)
    from PIL import Image

    assert Image.open(png).size == (1280, 900)


def test_best_setting_rule():
    from bench.results import best_setting

    def row(point, acc, motion, nfe, fvd=1.0):
        return {"point": point, "sampler": "ddim", "steps": nfe, "guidance": 1.0, "acc_motion": acc,
                "motion_ratio": motion, "nfe_per_video": nfe, "fvd": fvd, "n_videos": 20}

    rows = [row("a", 0.90, 1.40, 5),  # most accurate, but 40% too much motion
            row("b", 0.80, 1.05, 10), row("c", 0.76, 0.95, 5),  # c: within one video (0.05) of b, half the cost
            row("d", 0.70, 1.00, 5)]
    assert best_setting(rows)["point"] == "c" and best_setting(rows)["motion_within_tolerance"]
    assert best_setting(rows, motion_tolerance=0.5)["point"] == "a"
    rows[2]["acc_motion"] = 0.74  # now more than one video below b
    assert best_setting(rows)["point"] == "b"
    assert best_setting([row("x", 0.5, 2.0, 5), row("y", 0.6, 3.0, 10)])["point"] == "y"  # none within: all count
    assert best_setting([{"acc_motion": None}]) is None


def test_fresh_takes_row_is_skipped_with_its_reason_on_a_real_dataset(tmp_path):
    """Real datasets have no renderer: the benchmark plans no real_fresh stage and its tables say why."""
    from bench.config import BenchConfig
    from bench.pipeline import Benchmark
    from bench.tables import _caption

    said = []
    bc = BenchConfig(lfdm_config="tiny", lfdm_overrides=("data.dataset=mug", "data.root=nowhere"),
                     ldm_config="ldm-tiny")
    b = Benchmark(bc, tmp_path, progress=False, log=said.append)
    stages = [name for name, _ in b.plan()]
    assert "sample:real_fresh:test" not in stages and "sample:real:test" in stages
    assert "real_fresh: skipped, mug is not an embedded dataset" in said[0]
    results = {"methods": {}, "table_notes": {}, "skipped": b.skipped()}
    assert "real, fresh takes: not run, mug is not an embedded dataset" in _caption(results, "test")


PAPER_SET = ["--set", "paper.studies=[unconditional,text_encoder,new_domain,ddim_steps]",
             "--set", "paper.ddim_steps=[2,4]", "--set", "paper.new_domain_steps=5", "--set", "paper.new_domain_recon=8"]


def _bench_paper(root, env, out: str):
    mp = pytest.MonkeyPatch()
    use_standin_detector(mp)
    mp.chdir(root)
    try:
        return CliRunner().invoke(main, ["bench", "--config", "bench-tiny", "--out", out, "--no-progress", *PAPER_SET],
                                  env=env, catch_exceptions=False)
    finally:
        mp.undo()


def _frechet(x, y) -> float:
    """Independent Fréchet distance of two feature sets (ddof 1), with scipy's sqrtm."""
    import numpy as np
    from scipy import linalg

    c1, c2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(c1 + c2 - 2 * linalg.sqrtm(c1 @ c2).real))


@pytest.mark.e2e
def test_bench_paper_studies_extend_a_finished_benchmark(bench_out):
    """The paper's other experiments (bench.paper) on a finished benchmark folder (a copy of the module's):
    only their stages run, each study's rows and paired differences land in results.json, tables.md, report.html
    and the claims, and a rerun redoes nothing."""
    import shutil

    import numpy as np

    root, env, _ = bench_out
    shutil.copytree(root / "bench_out" / "bench-tiny", root / "bench_out" / "paper-tiny", symlinks=True)
    out = root / "bench_out" / "paper-tiny"
    r = _bench_paper(root, env, "bench_out/paper-tiny")
    assert r.exit_code == 0, r.output
    assert "[bench] train:lfdm: done earlier, skipped" in r.output and "[bench] ablate:ldm: done earlier" in r.output
    state = json.loads((out / "state.json").read_text())
    expected = ["paper:unconditional:lfdm", "paper:unconditional:ldm", "paper:unconditional:vdm",
                "paper:unconditional:imaginator", "paper:text_encoder:train", "paper:text_encoder:bert",
                "paper:text_encoder:onehot", "paper:new_domain", "paper:ddim_steps:2", "paper:ddim_steps:4"]
    assert sorted(k for k in state["parts"] if k.startswith("paper:")) == sorted(expected)
    ran = [r.output.index(f"[bench] {name} ...") for name in expected]  # in this order, before the tables
    assert ran == sorted(ran) and ran[-1] < r.output.index("[bench] tables ...")
    res = json.loads((out / "results.json").read_text())
    paper = res["paper"]
    unc = paper["unconditional"]
    assert set(unc["rows"]) == {"lfdm", "ldm", "vdm", "imaginator"} and unc["reference"] == "lfdm"
    for g, row in unc["rows"].items():
        assert row["n_generated"] == 14, g
        written = json.loads((out / "paper/unconditional/samples" / f"{g}_test" / "settings.json").read_text())
        assert written["unconditional"] is True, g  # what the sampler itself recorded
    # the paired difference is the difference of two FVDs against the same real videos (independent computation)
    a = np.load(out / "paper/unconditional/metrics/ldm_test.features.npz")
    b = np.load(out / "paper/unconditional/metrics/lfdm_test.features.npz")
    assert np.array_equal(a["real"], b["real"])
    d = unc["differences"]["ldm"]
    assert d["diff"] == pytest.approx(_frechet(a["gen"], a["real"]) - _frechet(b["gen"], b["real"]), rel=1e-5)
    assert d["lo"] <= d["hi"]
    # text encoder: the tiny LFDM is one-hot, so the study retrains with BERT from the same LFAE
    te = paper["text_encoder"]
    assert set(te["rows"]) == {"bert", "onehot"} and te["rows"]["onehot"]["dm"] == "the benchmark's LFDM run"
    bert_run = out / "paper/text_encoder/runs/bert"
    assert (bert_run / "checkpoints/lfae/last.pt").read_bytes() == (out / "runs/lfdm/checkpoints/lfae/last.pt").read_bytes()
    assert "kind: bert" in (bert_run / "config.yaml").read_text()
    assert te["differences"]["onehot"]["diff"] != 0.0
    nd = paper["new_domain"]
    assert set(nd["rows"]) == {"source", "decoder", "whole"} and nd["finetune_steps"] == 5
    assert {"recon:source", "recon:decoder", "recon:whole"} <= set(nd["reconstruction"])
    assert set(nd["differences"]) == {"source", "whole"}
    dd = paper["ddim_steps"]
    assert dd["reference"] == "ddim_s2" and [dd["rows"][k]["settings"]["steps"] for k in ("ddim_s2", "ddim_s4")] == [2, 4]
    assert all(dd["rows"][k]["settings"]["sampler"] == "ddim" for k in dd["rows"])
    # every claim of the studies is measured, with the verdict of its interval
    claims = {c["claim"]: c for c in res["claims"]}
    assert not [c for c, v in claims.items() if v["verdict"] == "not measured"]
    assert claims["More DDIM steps do not improve LFDM's FVD (4 vs 2 steps)"]["estimate"] == pytest.approx(
        dd["differences"]["ddim_s4"]["diff"])
    md = (out / "tables.md").read_text()
    for title in ("Unconditional generation", "Class conditioning", "New domain: the LFAE", "New domain: reconstruction",
                  "LFDM with DDIM"):
        assert f"## {title}" in md, title
    html = (out / "report.html").read_text()
    assert 'id="paper"' in html and "Unconditional generation (null class)" in html and "LFDM with DDIM" in html
    # resumable: a rerun redoes no study
    r = _bench_paper(root, env, "bench_out/paper-tiny")
    assert r.exit_code == 0 and "[bench] paper:new_domain: done earlier, skipped" in r.output
    assert "[paper]" not in r.output
