"""The benchmark's bookkeeping without its heavy work: :class:`bench.state.ResumeState` (parts, rows, resume, a
changed request, a corrupt or missing file) and :class:`bench.pipeline.Benchmark`'s stages (which run, in what
order, what ``state.json`` records, what a rerun skips), with every stage's work replaced by a recorder."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

import bench.pipeline as pipeline
from bench.config import BenchAblationConfig, BenchConfig
from bench.pipeline import Benchmark, BenchConfigMismatch
from bench.state import ResumeState

# ------------------------------------------------------------------------------------------------ ResumeState


def test_parts_and_rows_are_saved_after_every_change(tmp_path):
    path = tmp_path / "sub" / "state.json"
    s = ResumeState(path, {"n": 1}, notes=[])
    assert path.parent.is_dir() and not path.exists()  # nothing written before the first change
    assert not s.done("a") and s.row("r1") is None
    s.mark("a", {"x": 1})
    on_disk = json.loads(path.read_text())
    assert on_disk["parts"] == {"a": {"x": 1}} and on_disk["request"] == {"n": 1} and on_disk["notes"] == []
    assert "environment" in on_disk and isinstance(on_disk["hardware"], str)
    s.add_row({"row": "r1", "v": 1})
    s.add_row({"row": "r2", "v": 2})
    s.add_row({"row": "r1", "v": 3})  # replaces r1, goes last
    assert [r["v"] for r in json.loads(path.read_text())["rows"]] == [2, 3]
    assert s.row("r1") == {"row": "r1", "v": 3}
    s.add_row({"name": "k", "v": 4}, key="name")
    assert s.row("k", key="name")["v"] == 4


def test_mark_timed_records_seconds_output_and_finish_time(tmp_path):
    s = ResumeState(tmp_path / "s.json")
    s.mark_timed("stage", 1.23456, ["out"])
    got = s.get("stage")
    assert got["seconds"] == 1.23 and got["output"] == ["out"]
    assert len(got["finished"]) == 19 and got["finished"][10] == "T"  # YYYY-MM-DDTHH:MM:SS
    s.mark_timed("none", 0.0)
    assert s.get("none")["output"] is None


def test_resume_keeps_finished_parts_and_refuses_other_settings(tmp_path):
    path = tmp_path / "s.json"
    first = ResumeState(path, {"steps": 5, "root": "/a"}, what="an ablation", notes=["n"])
    first.mark("p", 7)
    first.add_row({"row": "x"})
    again = ResumeState(path, {"steps": 5, "root": "/b"}, what="an ablation", ignore=("root",), notes=[])
    assert again.done("p") and again.get("p") == 7 and again.row("x") == {"row": "x"}
    assert again.data["notes"] == ["n"]  # the saved keys win over the initial ones
    assert again.request == {"steps": 5, "root": "/b"}  # the request is this call's
    with pytest.raises(ValueError, match=r"an ablation made with different settings \(root, steps\)"):
        ResumeState(path, {"steps": 6, "root": "/b"}, what="an ablation")
    with pytest.raises(ValueError, match=r"different settings \(extra\)"):
        ResumeState(path, {"steps": 5, "root": "/a", "extra": 1}, what="an ablation")


def test_corrupt_or_missing_state_file(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"parts": {"a": ')  # a write cut short
    with pytest.raises(ValueError, match="is not valid JSON.*delete it to run a benchmark again"):
        ResumeState(path, what="a benchmark")
    path.unlink()
    fresh = ResumeState(path)  # missing: a new record
    assert fresh.data["parts"] == {} and fresh.data["rows"] == []


# ---------------------------------------------------------------------------------------------- the pipeline
STAGE_WORK = ("_data", "_train_lfdm", "_train_ldm", "_ablate", "_sample", "_eval", "_grids", "_tables", "_report")


def tiny_bench(**kw) -> BenchConfig:
    base = dict(lfdm_config="tiny", ldm_config="ldm-tiny", methods=("lfdm", "ldm", "static"),
                train_split_methods=("lfdm",), ablation=BenchAblationConfig(samplers=("ddim",)), grids=True)
    return BenchConfig(**{**base, **kw})


def recording(b: Benchmark, calls: list) -> Benchmark:
    """Replace every stage's work on ``b`` by a recorder (the stage's name and arguments -> ``calls``)."""
    for name in STAGE_WORK:
        def work(*args, _name=name):
            calls.append((_name, *args))
            if _name == "_ablate":
                return {"chosen": {"sampler": "ddim", "steps": 5, "guidance": 3.0, "eta": 1.0, "fvd": 1.0}}
            return f"{_name}{list(args)}"

        setattr(b, name, work)
    return b


@pytest.fixture()
def clock(monkeypatch):
    """``time.time`` of the pipeline on a fake clock that moves 1.5 s per reading."""
    now = [1000.0]

    def tick():
        now[0] += 1.5
        return now[0]

    monkeypatch.setattr(pipeline, "time", SimpleNamespace(time=tick))
    return now


EXPECTED = ["data", "train:lfdm", "train:ldm", "ablate:lfdm", "ablate:ldm",
            "sample:lfdm:test", "sample:ldm:test", "sample:static:test", "sample:lfdm:train",
            "eval:lfdm:test", "eval:ldm:test", "eval:static:test", "eval:lfdm:train", "grids", "tables", "report"]


def test_plan_names_every_stage_in_order(tmp_path, monkeypatch):
    b = Benchmark(tiny_bench(), tmp_path, progress=False, log=lambda s: None)
    assert [name for name, _ in b.plan()] == EXPECTED
    monkeypatch.setattr(pipeline, "_lfdm_cfg", lambda bc: b.lfdm_cfg)  # the given run's config
    lean = Benchmark(tiny_bench(lfdm_run=str(tmp_path / "given"), methods=("lfdm", "static"), train_split_methods=(),
                                ablation=BenchAblationConfig(samplers=()), grids=False),
                     tmp_path / "lean", progress=False, log=lambda s: None)
    # a given LFDM run is not trained, no LDM, no ablation without samplers, no grids
    assert [name for name, _ in lean.plan()] == ["data", "sample:lfdm:test", "sample:static:test", "eval:lfdm:test",
                                                 "eval:static:test", "tables", "report"]
    assert lean.lfdm_dir == tmp_path / "given" and lean.ldm_dir == tmp_path / "lean" / "runs" / "ldm"


def test_run_records_every_stage_and_a_rerun_skips_them(tmp_path, clock):
    said, calls = [], []
    b = recording(Benchmark(tiny_bench(), tmp_path, progress=False, log=said.append), calls)
    assert b.sampler("lfdm") == {}  # no ablation yet: the run config's sampler
    state = b.run()
    assert [c[0] for c in calls] == ["_data", "_train_lfdm", "_train_ldm", "_ablate", "_ablate", "_sample", "_sample",
                                     "_sample", "_sample", "_eval", "_eval", "_eval", "_eval", "_grids", "_tables",
                                     "_report"]
    assert calls[5:9] == [("_sample", "lfdm", "test"), ("_sample", "ldm", "test"), ("_sample", "static", "test"),
                          ("_sample", "lfdm", "train")]
    assert calls[3:5] == [("_ablate", "lfdm"), ("_ablate", "ldm")]
    on_disk = json.loads((tmp_path / "state.json").read_text())
    assert list(state["parts"]) == EXPECTED and state["parts"] == on_disk["parts"]
    # each stage reads the clock twice (start, end): 1.5 s per stage
    assert {p["seconds"] for p in on_disk["parts"].values()} == {1.5}
    assert on_disk["parts"]["sample:static:test"]["output"] == "_sample['static', 'test']"
    assert said[:2] == ["[bench] data ...", "[bench] data: 3.0 s"]  # the log reads the clock once more
    assert said[-1].startswith("[bench] finished in") and "(24 s of stage time in all)" in said[-1]
    # the sampler chosen on the validation subjects samples that generator
    assert b.sampler("lfdm") == {"sampler": "ddim", "steps": 5, "guidance": 3.0, "eta": 1.0}
    assert (tmp_path / "bench_config.yaml").is_file()

    calls2, said2 = [], []
    again = recording(Benchmark(tiny_bench(), tmp_path, progress=False, log=said2.append), calls2)
    assert again.run()["parts"] == on_disk["parts"] and calls2 == []
    assert sum("done earlier, skipped" in line for line in said2) == len(EXPECTED)


def test_a_stage_missing_from_the_state_is_the_only_one_redone(tmp_path, clock):
    recording(Benchmark(tiny_bench(), tmp_path, progress=False, log=lambda s: None), []).run()
    data = json.loads((tmp_path / "state.json").read_text())
    del data["parts"]["eval:ldm:test"]
    (tmp_path / "state.json").write_text(json.dumps(data))
    calls = []
    recording(Benchmark(tiny_bench(), tmp_path, progress=False, log=lambda s: None), calls).run()
    assert calls == [("_eval", "ldm", "test")]
    parts = json.loads((tmp_path / "state.json").read_text())["parts"]
    assert sorted(parts) == sorted(EXPECTED) and parts["eval:ldm:test"]["output"] == "_eval['ldm', 'test']"


def test_a_stage_that_fails_is_not_recorded(tmp_path, clock):
    b = recording(Benchmark(tiny_bench(), tmp_path, progress=False, log=lambda s: None), [])

    def broken():
        raise RuntimeError("out of memory")

    b._train_ldm = broken
    with pytest.raises(RuntimeError):
        b.run()
    assert sorted(json.loads((tmp_path / "state.json").read_text())["parts"]) == ["data", "train:lfdm"]


def test_tables_stage_gets_every_stage_time(tmp_path, clock, monkeypatch):
    seen = {}

    def fake_build(out, bc, lfdm_cfg, runs, wall):
        seen.update(runs=runs, wall=dict(wall))
        return {"methods": {}}

    monkeypatch.setattr(pipeline, "build_results", fake_build)
    monkeypatch.setattr(pipeline, "write_tables", lambda results, out: {"json": out / "results.json",
                                                                        "skipped": results["skipped"]})
    b = recording(Benchmark(tiny_bench(), tmp_path, progress=False, log=lambda s: None), [])
    del b._tables  # the real tables stage, on the recorded stage times
    b.run()
    assert seen["wall"] == {name: 1.5 for name in EXPECTED[:EXPECTED.index("tables")]}
    assert seen["runs"] == {"LFDM": tmp_path / "runs" / "lfdm", "LDM": tmp_path / "runs" / "ldm"}
    assert b.state.get("tables")["output"] == {"json": str(tmp_path / "results.json"), "skipped": "{}"}


def test_another_config_in_the_same_folder_is_refused(tmp_path):
    Benchmark(tiny_bench(), tmp_path, progress=False, log=lambda s: None)
    Benchmark(tiny_bench(), tmp_path, progress=False, log=lambda s: None)  # the same config: resumes
    with pytest.raises(BenchConfigMismatch, match="different config"):
        Benchmark(tiny_bench(per_pair=2), tmp_path, progress=False, log=lambda s: None)


# ------------------------------------------------------------------------------------------- the paper's studies


def test_paper_studies_are_stages_after_the_main_tables_and_may_be_added_to_a_finished_folder(tmp_path):
    from bench.config import BenchPaperConfig

    Benchmark(tiny_bench(), tmp_path, progress=False, log=lambda s: None)
    paper = BenchPaperConfig(studies=("unconditional", "text_encoder", "new_domain", "ddim_steps"),
                             ddim_steps=(10, 5))
    b = Benchmark(tiny_bench(paper=paper), tmp_path, progress=False, log=lambda s: None)  # only `paper` changed
    names = [name for name, _ in b.plan()]
    main = names.index("eval:lfdm:train")
    assert names[main + 1:] == ["paper:unconditional:lfdm", "paper:unconditional:ldm", "paper:text_encoder:train",
                                "paper:text_encoder:bert", "paper:text_encoder:onehot", "paper:new_domain",
                                "paper:ddim_steps:5", "paper:ddim_steps:10", "grids", "tables", "report"]
    import yaml

    stored = yaml.safe_load((tmp_path / "bench_config.yaml").read_text())
    assert stored["paper"]["studies"] == ["unconditional", "text_encoder", "new_domain", "ddim_steps"]
    # anything else changed along with it is still refused
    with pytest.raises(BenchConfigMismatch, match="only the paper section"):
        Benchmark(tiny_bench(paper=paper, per_pair=2), tmp_path, progress=False, log=lambda s: None)


@pytest.mark.parametrize("kw, match", [
    (dict(studies=("unconditional", "sampling")), "unknown"),
    (dict(studies=("ddim_steps",), ddim_steps=(10,)), ">= 2 step counts"),
    (dict(per_pair=0), "per_pair"),
    (dict(new_domain_steps=0), "new_domain_steps"),
])
def test_paper_config_errors(kw, match):
    from bench.config import BenchPaperConfig

    with pytest.raises(ValueError, match=match):
        BenchPaperConfig(**kw)


def test_paper_studies_of_lfdm_need_lfdm_in_methods():
    from bench.config import BenchPaperConfig

    with pytest.raises(ValueError, match="need lfdm in methods"):
        tiny_bench(methods=("ldm", "static"), train_split_methods=(),
                   paper=BenchPaperConfig(studies=("ddim_steps",)))
    tiny_bench(methods=("ldm", "static"), train_split_methods=(), paper=BenchPaperConfig(studies=("unconditional",)))


def test_bench_paper_config_is_the_default_benchmark_with_four_generators_and_every_study():
    from bench.config import GENERATORS, PAPER_STUDIES
    from lfdm_bench.config import load_config, resolve_config_path, to_dict

    default = to_dict(load_config(BenchConfig, resolve_config_path("bench-synth-faces-cpu")))
    paper = load_config(BenchConfig, resolve_config_path("bench-paper"))
    assert set(GENERATORS) <= set(paper.methods) and set(GENERATORS) == set(paper.train_split_methods)
    assert paper.paper.studies == PAPER_STUDIES and paper.paper.per_pair == 1
    same = to_dict(paper)
    assert set(default["methods"]) < set(paper.methods)  # the default's rows, plus VDM and ImaGINator
    for k in ("name", "methods", "train_split_methods", "paper"):
        default.pop(k), same.pop(k)
    assert same == default  # protocol, sizes, detector, ablation, run configs: the default benchmark's
