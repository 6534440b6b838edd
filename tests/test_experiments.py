"""The paper's other experiments (bench/experiments/) end to end on the tiny config, with a cheap stand-in detector
(the I3D is tested elsewhere): unconditional vs conditional, new domain (decoder-only vs whole LFAE fine-tuning),
BERT vs one-hot text encoder, absolute-grid vs displacement flow target; tables and JSON hold the expected rows,
reruns resume."""

import json

import pytest
import torch
from click.testing import CliRunner

from bench.experiments.commands import experiment
from helpers import use_standin_detector

OVERRIDES = ["lfae.train.steps=2", "dm.train.steps=2", "data.n_frames=10"]
DECODER_PREFIXES = ("generator.bottleneck.", "generator.up_blocks.", "generator.final.")


pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny LFDM run (2 + 2 steps, 10-frame clips), the stand-in detector and a private cache, for the module."""
    from lfdm_bench.config import load_config, resolve_config_path
    from lfdm_bench.lfdm.config import LFDMConfig
    from lfdm_bench.lfdm.train import open_lfdm_run, train_lfdm_run

    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("experiments")
    mp.setenv("LFDM_BENCH_CACHE", str(root / "cache"))
    use_standin_detector(mp)
    torch.set_num_threads(1)
    cfg = load_config(LFDMConfig, resolve_config_path("tiny"), OVERRIDES)
    run = open_lfdm_run(cfg, root / "run", "tiny", OVERRIDES)
    train_lfdm_run(cfg, run, "all", progress=False)
    yield root, run.root
    mp.undo()


def _invoke(args):
    r = CliRunner().invoke(experiment, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r


def test_unconditional_rows_use_the_null_condition(trained):
    from lfdm_bench.data.records import read_manifest

    root, run = trained
    out = root / "uncond"
    r = _invoke(["unconditional", "--run", str(run), "--out", str(out)])
    state = json.loads((out / "unconditional.json").read_text())
    rows = {row["row"]: row for row in state["rows"]}
    assert set(rows) == {"conditional", "unconditional"}
    assert rows["unconditional"]["unconditional"] is True and rows["unconditional"]["guidance"] is None
    assert rows["conditional"]["unconditional"] is False and rows["conditional"]["guidance"] == 1.0
    for row in rows.values():
        assert row["fvd"] is not None and row["fvd"] >= 0 and row["acc_motion"] is not None
    assert rows["conditional"]["n_videos"] == rows["unconditional"]["n_videos"]
    assert state["protocol"]["n_frames"] == 10 and state["detector"]["name"] == "standin-test"
    uncond = read_manifest(out / "samples/unconditional/manifest.csv")
    cond = read_manifest(out / "samples/conditional/manifest.csv")
    assert all(rec.params["unconditional"] in (True, "True", "true") for rec in uncond)
    assert not any(rec.params["unconditional"] in (True, "True", "true") for rec in cond)
    # same sources and seeds in both rows
    assert sorted((x.params["source"], str(x.params["seed"])) for x in uncond) == \
        sorted((x.params["source"], str(x.params["seed"])) for x in cond)
    md = (out / "unconditional.md").read_text()
    assert "conditional" in md and "unconditional" in md and "Protocol" in md
    assert (out / "unconditional.csv").is_file() and "unconditional" in r.output

    # a rerun resumes: nothing is resampled
    from bench.experiments import run_unconditional

    before = (out / "samples/unconditional/manifest.csv").stat().st_mtime_ns
    said = []
    run_unconditional(run, out=out, log_fn=said.append)
    assert sum("done, skipped" in m for m in said) == 2
    assert (out / "samples/unconditional/manifest.csv").stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="different settings"):
        run_unconditional(run, out=out, per_pair=2, log_fn=said.append)


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def _changed(a, b):
    return {k for k in a if a[k].is_floating_point() and not torch.equal(a[k], b[k])}


def test_new_domain_finetunes_decoder_only_and_whole(trained):
    root, run = trained
    out = root / "domain"
    r = _invoke(["new-domain", "--run", str(run), "--style", "sketch", "--steps", "2", "--out", str(out)])
    state = json.loads((out / "new_domain.json").read_text())
    names = [row["row"] for row in state["rows"]]
    assert set(names) == {"recon:source", "recon:copy-frame-0", "recon:decoder", "recon:whole", "recon:source:fit",
                          "recon:decoder:fit", "recon:whole:fit", "gen:source", "gen:decoder", "gen:whole"}
    rows = {row["row"]: row for row in state["rows"]}
    for v in ("source", "decoder", "whole"):
        assert rows[f"recon:{v}"]["psnr"] > 0 and rows[f"gen:{v}"]["fvd"] >= 0
    assert "changed" in rows["gen:whole"]["z0"] and "unchanged" in rows["gen:decoder"]["z0"]
    assert state["protocol"]["dataset_options"]["style"] == "sketch"
    assert state["request"]["data"]["options"]["style"] == "sketch"
    assert "changed encoder" in (out / "new_domain.md").read_text()
    assert "gen:whole" in r.output

    src = _state(run / "checkpoints/lfae/last.pt")
    dec = _changed(src, _state(out / "runs/decoder/checkpoints/lfae/last.pt"))
    whole = _changed(src, _state(out / "runs/whole/checkpoints/lfae/last.pt"))
    assert dec and all(k.startswith(DECODER_PREFIXES) for k in dec), sorted(dec)
    assert any(k.startswith("generator.first.") for k in whole) and any(k.startswith("region_predictor.") for k in whole)
    assert not _changed(src, _state(out / "runs/source/checkpoints/lfae/last.pt"))
    # every variant samples with the source DM, unchanged
    dm = _state(run / "checkpoints/dm/last.pt")
    assert not _changed(dm, _state(out / "runs/whole/checkpoints/dm/last.pt"))
    assert json.loads((out / "runs/decoder/finetune.json").read_text())["variant"] == "decoder"

    r2 = CliRunner().invoke(experiment, ["new-domain", "--run", str(run), "--style", "sketch", "--steps", "2",
                                         "--out", str(out)], catch_exceptions=False)
    assert r2.exit_code == 0 and (r2.output + (r2.stderr if hasattr(r2, "stderr") else "")).count("skipped") >= 3


def test_decoder_only_fine_tuning_keeps_frozen_modules_in_eval(trained, monkeypatch):
    """The decoder-only variant trains only the decoder's parameters, and the engine keeps every other module in eval
    mode (frozen BatchNorm statistics) while it trains -- without patching the model's ``train``."""
    from bench.experiments import new_domain
    from bench.experiments.new_domain import decoder_modules, finetune_lfae, new_domain_config
    from lfdm_bench.lfdm.load import lfdm_config
    from lfdm_bench.runs import Run
    from lfdm_bench.training.engine import Trainer

    root, run = trained
    seen = {}
    fit = Trainer.fit

    def spy(self, stop_at=None):
        self._train_mode(self.model, True)  # the mode fit() trains in
        g = self.model.generator
        seen.update(final=g.final.training, up=g.up_blocks[0].training, first=g.first.training,
                    regions=self.model.region_predictor.training, patched="train" in vars(self.model),
                    trainable={id(p) for p in self.model.parameters() if p.requires_grad},
                    decoder={id(p) for m in decoder_modules(self.model) for p in m.parameters()})
        return fit(self, stop_at)

    monkeypatch.setattr(new_domain.Trainer, "fit", spy)
    cfg = new_domain_config(lfdm_config(Run(run)), "shaded", steps=1)
    out = Run.create(root / "finetune-decoder")
    finetune_lfae(cfg, out, run / "checkpoints/lfae/last.pt", "decoder", progress=False)
    assert seen["final"] and seen["up"] and not seen["first"] and not seen["regions"]
    assert seen["trainable"] == seen["decoder"]
    assert not seen["patched"]


def test_new_domain_refuses_the_runs_own_style_and_bad_steps(trained):
    from bench.experiments import run_new_domain

    root, run = trained
    with pytest.raises(ValueError, match="trained on style 'flat' already"):
        run_new_domain(run, "flat", out=root / "flat")
    r = CliRunner().invoke(experiment, ["new-domain", "--run", str(run), "--style", "shaded", "--steps", "0"])
    assert r.exit_code != 0 and "--steps" in r.output


def test_text_encoder_bert_vs_onehot_from_one_lfae(trained):
    root, run = trained
    out = root / "text"
    args = ["text-encoder", "--config", "tiny", *[a for o in OVERRIDES for a in ("--set", o)],
            "--lfae-run", str(run), "--out", str(out)]
    r = _invoke(args)
    state = json.loads((out / "text_encoder.json").read_text())
    rows = {row["row"]: row for row in state["rows"]}
    assert set(rows) == {"bert", "onehot"}
    assert rows["bert"]["text_dim"] == 384 and rows["onehot"]["text_dim"] < 384
    for row in rows.values():
        assert row["fvd"] >= 0 and row["cfvd"] is not None and row["acc_motion"] is not None
        assert row["dm_steps"] == 2
    # one shared LFAE, copied into both variants
    src = _state(run / "checkpoints/lfae/last.pt")
    for kind in ("bert", "onehot"):
        assert not _changed(src, _state(out / f"runs/{kind}/checkpoints/lfae/last.pt"))
    assert "bert" in (out / "text_encoder.md").read_text() and "onehot" in r.output


def test_text_encoder_trains_one_shared_lfae_when_none_given(trained):
    from bench.experiments import run_text_encoder

    root, _ = trained
    out = root / "text-own"
    state = run_text_encoder("tiny", OVERRIDES, out=out, metrics=("fvd",), log_fn=lambda m: None)
    assert [r["row"] for r in state["rows"]] == ["bert", "onehot"]
    assert state["parts"]["train:lfae"]["steps"] == 2
    shared = _state(out / "runs/lfae/checkpoints/lfae/last.pt")
    for kind in ("bert", "onehot"):
        assert not _changed(shared, _state(out / f"runs/{kind}/checkpoints/lfae/last.pt"))
    with pytest.raises(ValueError, match="different settings"):
        run_text_encoder("tiny", [*OVERRIDES, "dm.train.steps=3"], out=out, metrics=("fvd",), log_fn=lambda m: None)


def test_flow_target_grid_vs_displacement_from_one_lfae(trained):
    root, run = trained
    out = root / "target"
    args = ["flow-target", "--config", "tiny", *[a for o in OVERRIDES for a in ("--set", o)],
            "--lfae-run", str(run), "--out", str(out), "--metric", "fvd,acc"]
    _invoke(args)
    state = json.loads((out / "flow_target.json").read_text())
    rows = {row["row"]: row for row in state["rows"]}
    assert set(rows) == {"grid", "displacement"}
    assert rows["grid"]["flow_target"] == "grid" and rows["grid"]["dynamic_threshold"] == 0.9
    assert rows["displacement"]["flow_target"] == "displacement" and rows["displacement"]["dynamic_threshold"] is None
    for row in rows.values():
        assert row["fvd"] >= 0 and row["acc_motion"] is not None and row["dm_steps"] == 2
    src = _state(run / "checkpoints/lfae/last.pt")
    for kind in ("grid", "displacement"):  # one shared LFAE; the variants' configs say which target they diffused
        assert not _changed(src, _state(out / f"runs/{kind}/checkpoints/lfae/last.pt"))
        assert f"kind: {kind}" in (out / f"runs/{kind}/config.yaml").read_text()


def test_unconditional_on_an_ldm_run(trained):
    from baselines.ldm.config import load_ldm_config
    from baselines.ldm.train import open_ldm_run, train_ldm_run
    from bench.experiments import run_unconditional

    root, _ = trained
    overrides = ["ae.train.steps=2", "dm.train.steps=2", "data.n_frames=10"]
    cfg = load_ldm_config("ldm-tiny", overrides)
    run = open_ldm_run(cfg, root / "ldm", "ldm-tiny", overrides)
    train_ldm_run(cfg, run, "all", progress=False)
    state = run_unconditional(run.root, out=root / "ldm-uncond", log_fn=lambda m: None)
    rows = {r["row"]: r for r in state["rows"]}
    assert set(rows) == {"conditional", "unconditional"} and rows["unconditional"]["method"] == "ldm"
    assert rows["unconditional"]["guidance"] is None and rows["unconditional"]["fvd"] >= 0
