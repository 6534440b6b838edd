"""bench/tables.py on a small hand-made results dict (no benchmark run): the main, expression-per-class, gap,
autoencoder and fact rows cell by cell, the caption's counts and notes, the Markdown / LaTeX / CSV files written from
it."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest

from bench.tables import (MAIN_HEADERS, ae_rows, expression_table, fact_rows, gap_rows, main_csv_rows, main_rows,
                          render_latex, render_markdown, write_tables)


def _split(fvd, *, ci=None, diff=None, diff_ci=None, acc=0.5, psnr=20.123, n_generated=12, expr=0.8234,
           acc_expr=0.45):
    return {"fvd": fvd, "fvd_ci": ci, "fvd_diff_lfdm": diff, "fvd_diff_lfdm_ci": diff_ci,
            "cfvd": {"mean": 30.456, "std": 1.2}, "sfvd": {"mean": 40.0, "std": None}, "kvd": 0.0123456,
            "acc": acc, "acc_i3d": 0.25, "acc_ratio": 0.8, "psnr": psnr, "ssim": 0.98765, "motion_ratio": 1.234,
            "expr_ratio": expr, "expr_min": None if expr is None else 0.5712,
            "expr_min_class": None if expr is None else "fear", "acc_expr": acc_expr,
            "acc_expr_real": 0.81, "acc_expr_ratio": None if acc_expr is None else acc_expr / 0.81,
            "frame0_psnr": 33.33, "n_generated": n_generated, "n_real": 24, "sizes": "12 vs 24",
            "seconds_per_video": 0.12345, "chance": 1 / 3}


def _per_class(anger, fear):
    return {"anger": {"ratio": anger, "se": 0.05, "n": 6, "energy": 0.01},
            "neutral": {"ratio": None, "n": 6, "energy": 1e-6, "why": "no expression change to measure"},
            "fear": {"ratio": fear, "se": None, "n": 6, "energy": 0.02}}


@pytest.fixture()
def results() -> dict:
    lfdm_test = _split(123.456, ci=[100.0, 150.5])
    lfdm_train = _split(100.0, acc=0.75)
    return {
        "benchmark": {"name": "hand-made"},
        "protocol": {"resolution": 32, "resize_method": "bilinear", "preset": "lfdm-bench", "n_frames": 8, "ddof": 1},
        "detector": {"name": "i3d-random", "comparable_with_published": False, "weights_status": "random"},
        "methods": {
            "lfdm": {"test": lfdm_test, "train": lfdm_train, "gap": {"fvd": 23.456}},
            "static": {"test": _split(300.0, diff=176.544, diff_ci=[150.0, 200.0], acc=None, psnr=None, expr=None,
                                      acc_expr=None)},
            "custom": {"train": _split(5.0, n_generated=6)},
        },
        "table_notes": {"test": {"difference": {"method": "subject bootstrap", "n_boot": 50, "n_subjects": 2},
                                 "group_sizes": {"lfdm": {"cfvd": {"generated": 4, "real": 8}}}}},
        "skipped": {"real_fresh": "mug is not an embedded dataset"},
        "expression_per_class": {"test": {"lfdm": _per_class(1.0756, 0.5712), "static": _per_class(0.0, 0.0),
                                          "real_fresh": _per_class(0.9912, 1.0049)}},
        "autoencoders": {"LFAE": {"l1": 0.01234, "psnr": 30.0, "psnr_pooled": 29.5, "ssim": 0.9, "frames": 7}},
        "facts": {"dataset": "tiny", "dataset_options": {}, "resolution": 32, "frames": 8, "eval_frames": 8,
                  "detector": "i3d-random", "seeds": {"train": 0}, "sampler": {"steps": 10}, "hardware": "cpu",
                  "wall_seconds": {"data": 1.4, "train:lfdm": 99.6},
                  "samplers": {"LFDM": {"sampler": "ddim", "steps": 10, "guidance": 1.5, "chosen_on": "val"}}},
        "models": {"LFDM": {"stage1_params": 1234567, "unet_params": 89, "unet_train_gflop_per_step": 1.25,
                            "train_batch_shape": [2, 3, 8, 32, 32]}},
    }


def test_main_rows_cell_by_cell(results):
    test = main_rows(results, "test")
    assert len(test[0]) == len(MAIN_HEADERS) and [r[0] for r in test] == ["LFDM", "static (source image)"]
    assert test[0] == ["LFDM", "12 vs 24", "123.46 [100.00, 150.50]", "(reference)", "30.46 ± 1.20", "40.00",
                       "0.0123", "50.0", "0.80", "20.12", "0.9877", "1.23", "0.82 / 0.57 (fear)", "45.0", "33.3",
                       "0.123"]
    assert MAIN_HEADERS[12:14] == ["expression change x real (mean / worst class)", "expr. acc %"]
    static = test[1]
    assert static[2] == "300.00" and static[3] == "176.54 [150.00, 200.00]"  # no CI; the paired difference
    assert static[7] == "-" and static[9] == "-"  # missing accuracy and PSNR
    assert static[12] == "-" and static[13] == "-"  # no expression change, no expression probe
    train = main_rows(results, "train")  # without difference notes LFDM's own difference cell is a dash
    assert [r[0] for r in train] == ["LFDM", "custom"] and train[0][3] == "-" and train[0][7] == "75.0"
    assert main_rows(results, "val") == []


def test_expression_per_class_table(results):
    heads, rows = expression_table(results, "test")
    assert heads == ["method", "anger", "neutral", "fear"]
    # the ceiling (real fresh takes) first, then the methods in results order; neutral has no value
    assert rows == [["real, fresh takes", "0.99", "-", "1.00"], ["LFDM", "1.08", "-", "0.57"],
                    ["static (source image)", "0.00", "-", "0.00"]]
    assert expression_table(results, "train") == (["method"], [])


def test_gap_ae_and_fact_rows(results):
    assert gap_rows(results) == [["LFDM", "123.46", "100.00", "23.46", "50.0", "75.0"]]
    assert ae_rows(results) == [["LFAE", "0.0123", "30.00", "29.50", "0.9000", 7]]
    facts = dict((k, v) for k, v in fact_rows(results))
    assert facts["dataset"] == "tiny {}" and facts["resolution / frames"] == "32 px / 8"
    assert facts["seeds"] == '{"train": 0}'
    assert facts["LFDM sampler (test / train videos)"] == ("ddim, 10 steps, guidance 1.5: its ablation's best on the "
                                                          "validation subjects")
    assert facts["LFDM parameters (stage 1 / U-Net)"] == "1,234,567 / 89"
    assert facts["LFDM U-Net GFLOP per training step"] == "1.2 at [2, 3, 8, 32, 32]"
    assert facts["wall time data"] == "1 s" and facts["wall time train:lfdm"] == "100 s"


def test_markdown_sections_and_caption(results):
    md = render_markdown(results)
    assert md.startswith("# Benchmark hand-made\n")
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads == ["## Main table, test subjects", "## Expression change x real per class, test subjects",
                     "## Main table, train subjects",
                     "## Generalisation: FVD from test-subject vs train-subject images",
                     "## Autoencoders: reconstruction of test-subject frames 1..T-1", "## Run facts"]
    test_part = md.split("## Main table, train subjects")[0]
    # the caption: the largest generated count, the real count, the group sizes, the notes and the skipped method
    assert "12 generated videos per method vs all 24 real videos; 8 frames" in test_part
    assert "cFVD per class: 4 generated vs 8 real videos" in test_part
    assert "subject bootstrap, 50 resamples of 2 subjects" in test_part
    assert "real, fresh takes: not run, mug is not an embedded dataset." in test_part
    assert "NOT comparable with published numbers: random weights" in test_part
    assert "(chance 33.3%)" in test_part
    assert "Expression change x real: the signed change of the late frames against frame 0" in test_part
    assert "| expression change x real (mean / worst class) | expr. acc % |" in test_part.replace("  ", "")
    per_class = md.split("## Expression change x real per class, test subjects")[1].split("## ")[0]
    assert "Real, fresh takes are the ceiling" in per_class and "'-': no expression change to measure" in per_class
    line = next(x for x in per_class.splitlines() if x.startswith("| LFDM"))
    assert [c.strip() for c in line.strip("|").split("|")] == ["LFDM", "1.08", "-", "0.57"]
    lfdm_line = next(line for line in test_part.splitlines() if line.startswith("| LFDM"))
    assert [c.strip() for c in lfdm_line.strip("|").split("|")][:4] == ["LFDM", "12 vs 24", "123.46 [100.00, 150.50]",
                                                                       "(reference)"]
    no_ae = copy.deepcopy(results)
    no_ae["autoencoders"] = {}
    assert "## Autoencoders" not in render_markdown(no_ae)


def test_latex_has_one_table_per_split(results):
    tex = render_latex(results)
    assert tex.count(r"\begin{table}") == 3 and tex.count(r"\end{table}") == 3  # + the per-class expression table
    assert r"30.46 $\pm$ 1.20" in tex and "static (source image)" in tex
    assert "0.82 / 0.57 (fear)" in tex and "Expression change x real per class" in tex and "1.08" in tex


def test_csv_rows_and_written_files(results, tmp_path):
    rows = main_csv_rows(results, "test")
    assert [r["method"] for r in rows] == ["lfdm", "static"]
    assert rows[0]["fvd_ci_lo"] == 100.0 and rows[0]["fvd_ci_hi"] == 150.5 and rows[0]["fvd_diff_lfdm"] is None
    assert rows[1]["fvd_ci_lo"] is None and rows[1]["fvd_diff_lfdm_ci_hi"] == 200.0
    assert rows[0]["cfvd_mean"] == 30.456 and rows[0]["sfvd_std"] is None and rows[0]["n_real"] == 24
    assert (rows[0]["expr_ratio"], rows[0]["expr_min"], rows[0]["expr_min_class"], rows[0]["acc_expr"]) == (
        0.8234, 0.5712, "fear", 0.45)
    assert rows[0]["acc_expr_ratio"] == pytest.approx(0.45 / 0.81) and rows[1]["expr_ratio"] is None
    paths = write_tables(results, tmp_path)
    assert set(paths) == {"json", "md", "tex", "csv_test", "csv_train", "csv_expression_test"}
    expr = pd.read_csv(paths["csv_expression_test"])
    assert list(expr.columns) == ["method", "class", "ratio", "se", "n", "energy"] and len(expr) == 9
    lfdm = expr[expr["method"] == "lfdm"].set_index("class")
    assert lfdm.loc["anger", "ratio"] == 1.0756 and pd.isna(lfdm.loc["neutral", "ratio"]) and lfdm.loc["fear", "n"] == 6
    assert json.loads(paths["json"].read_text()) == results
    assert paths["md"].read_text() == render_markdown(results)
    csv = pd.read_csv(paths["csv_train"])
    assert list(csv["method"]) == ["lfdm", "custom"] and list(csv["fvd"]) == [100.0, 5.0]
    only_test = copy.deepcopy(results)
    for d in only_test["methods"].values():
        d.pop("train", None), d.pop("gap", None)  # a gap needs both splits
    assert "csv_train" not in write_tables(only_test, tmp_path / "t")


def test_claims_section(results):
    from bench.claims import paper_claims

    res = copy.deepcopy(results)
    res["differences"] = {"test": {"ldm": {"fvd": {"diff": 2.0, "lo": 1.25, "hi": 2.5, "se": 0.3, "bias": 0.1},
                                           "cfvd": None, "sfvd": None}}}
    res["claims"] = paper_claims(res, n_boot=20)
    md = render_markdown(res)
    part = md.split("## The paper's claims on this benchmark")[1].split("## ")[0]
    assert "Rule: A claim is written as 'difference > 0'" in part
    line = next(x for x in part.splitlines() if x.startswith("| LFDM generates better videos than LDM (FVD, test"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1:] == ["FVD(LDM) - FVD(LFDM)", "2.000 [1.250, 2.500]", "confirmed"]
    line = next(x for x in part.splitlines() if x.startswith("| More DDIM steps do not improve FVD"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1:3] == ["-", "-"] and cells[3].startswith("not measured (needs runs the default benchmark")
