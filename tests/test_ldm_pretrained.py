"""The LDM baseline's pretrained autoencoder (baselines.ldm.pretrained): shipped weights (size, checksum,
strict load, corpus disjoint from the benchmark), their reconstruction of benchmark test-subject frames, the retrain
command on a tiny corpus (loss falls, bit-identical on one thread), and an LDM run that uses pretrained weights."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from click.testing import CliRunner

from baselines.ldm import pretrained as P
from baselines.ldm.autoencoder import KLAutoencoderConfig
from metrics.vcnn.corpus import BENCHMARK_SEED, CorpusSpec, synthetic_fingerprints

pytestmark = pytest.mark.usefixtures("one_thread")
SHIPPED = "synth-faces-klae-v2"  # the best reconstruction (KL-f2) and the LDM CPU config's default
DEFAULT_V1 = "synth-faces-klae-v1"  # KL-f4, the earlier default


def _meta(name: str = SHIPPED) -> dict:
    return json.loads((P.WEIGHTS_DIR / f"{name}.json").read_text())


# ------------------------------------------------------------------------------------------------ shipped weights
def test_shipped_weights_load_with_checksum_and_are_small():
    model, meta = P.load_pretrained(SHIPPED)
    assert SHIPPED in P.shipped_autoencoders() and meta["name"] == SHIPPED
    pt = P.WEIGHTS_DIR / meta["weights"]["file"]
    assert pt.stat().st_size < 4e6 and meta["weights"]["bytes"] == pt.stat().st_size
    assert all(v.dtype == torch.float16 for v in torch.load(pt, weights_only=True).values() if v.is_floating_point())
    assert model.cfg == P.DEFAULT_ARCHITECTURES["synth-faces"] == P.version_architecture("synth-faces", "v2")
    assert not model.training and model.cfg.downsample_factor == 2
    assert meta["command"] == "lfdm-bench ldm-ae train --dataset synth-faces --out DIR"
    # v1 (KL-f4), the earlier default, with its architecture; its command names its version
    from baselines.ldm.config import load_ldm_config

    v1, meta1 = P.load_pretrained(DEFAULT_V1)
    assert v1.cfg == P.version_architecture("synth-faces", "v1") and v1.cfg.downsample_factor == 4
    assert meta1["command"] == "lfdm-bench ldm-ae train --dataset synth-faces --version v1 --out DIR"
    assert meta1["training"]["steps"] == P.VERSION_STEPS["v1"] and meta["training"]["steps"] == P.VERSION_STEPS["v2"]
    from baselines.ldm.commands import train as train_command

    version_option = next(p for p in train_command.params if p.name == "version")
    assert sorted(version_option.type.choices) == sorted(P.VERSION_STEPS)
    assert version_option.default == P.WEIGHTS_VERSION
    cfg = load_ldm_config("ldm-synth-faces-cpu")
    assert cfg.ae.pretrained == SHIPPED and cfg.ae.model == model.cfg and cfg.ae.diffusion_patch == 2
    assert cfg.ae.diffusion_target == "residual"
    # the override the config's comment gives for v1 is a valid config with v1's architecture
    cfg1 = load_ldm_config("ldm-synth-faces-cpu", [f"ae.pretrained={DEFAULT_V1}", "ae.model.channel_mult=[1,2,2]",
                                                   "ae.diffusion_patch=1", "ae.diffusion_target=latent"])
    assert cfg1.ae.model == v1.cfg
    from cli import main

    r = CliRunner().invoke(main, ["ldm-ae", "info"])
    assert r.exit_code == 0 and "(verified)" in r.output, r.output
    assert f"{SHIPPED}  (" in r.output and f"{DEFAULT_V1}  (" in r.output
    assert "8x16x16 latents" in r.output and "8x8x8 latents" in r.output


def test_corrupt_or_incomplete_weights_are_refused(tmp_path):
    for f in (f"{SHIPPED}.json", f"{SHIPPED}.pt"):
        shutil.copy(P.WEIGHTS_DIR / f, tmp_path / f)
    pt = tmp_path / f"{SHIPPED}.pt"
    data = bytearray(pt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pt.write_bytes(bytes(data))
    with pytest.raises(P.AutoencoderChecksumError, match=f"{SHIPPED}.pt") as e:
        P.load_pretrained(tmp_path / f"{SHIPPED}.json")
    assert "\n" not in str(e.value)
    # a state dict with a missing tensor, checksum updated: the strict load refuses it
    from lfdm_bench.utils.io import sha256_file

    state = torch.load(P.WEIGHTS_DIR / f"{SHIPPED}.pt", weights_only=True)
    state.pop(sorted(state)[0])
    torch.save(state, pt)
    meta = _meta()
    meta["weights"]["sha256"] = sha256_file(pt)
    (tmp_path / f"{SHIPPED}.json").write_text(json.dumps(meta))
    with pytest.raises(RuntimeError, match="Missing key"):
        P.load_pretrained(tmp_path / f"{SHIPPED}.json")
    with pytest.raises(FileNotFoundError, match="ae.pretrained.*synth-faces-klae-v1.*synth-faces-klae-v2"):
        P.load_pretrained("no-such-autoencoder")


def test_corpus_shares_no_subject_with_the_benchmark():
    spec = P.DEFAULT_CORPORA["synth-faces"]
    corpus = synthetic_fingerprints("synth-faces", spec.seed, spec.total_subjects)
    bench = synthetic_fingerprints("synth-faces", BENCHMARK_SEED)
    assert spec.n_subjects >= 200 and len(bench) == 52 and not set(corpus.values()) & set(bench.values())
    meta = _meta()
    assert meta["corpus"]["fingerprints"] == corpus == _meta(DEFAULT_V1)["corpus"]["fingerprints"]
    # each benchmark subject's nearest corpus subject in appearance space, recomputed: what the metadata stores,
    # and at least the minimum distance
    from metrics.vcnn.corpus import MIN_APPEARANCE_DISTANCE, benchmark_nearest

    near = benchmark_nearest(spec)
    assert meta["corpus"]["benchmark_check"]["nearest"] == json.loads(json.dumps(near))
    assert len(near["per_subject"]) == 52 and near["min_distance"] >= MIN_APPEARANCE_DISTANCE


@pytest.mark.e2e
def test_shipped_weights_reconstruct_benchmark_test_subjects(tmp_path):
    """Take 0 of every class of the first two benchmark test subjects, rendered and read as the benchmark does (a
    dataset with the benchmark's seed renders the same subjects and takes whatever its subject / take counts)."""
    from lfdm_bench.data.records import read_manifest
    from lfdm_bench.data.synth.make import ensure_synthetic, make_config, split_subjects
    from metrics.video_features import ClipSpec, iter_clip_batches

    test_ids = split_subjects(make_config("synth-faces"))["test"][:2]
    n = max(int(s[1:]) for s in test_ids)
    manifest = ensure_synthetic("synth-faces", root=tmp_path, progress=False, n_subjects=max(n, 2), n_takes=1,
                                size=64, frames=16)
    records = [r for r in read_manifest(manifest) if r.subject in test_ids]
    assert len(records) == 14
    clips = ClipSpec(n_frames=16, size=32, sampling="uniform", seed=0, use_record_crop=True)
    videos = torch.cat([v for _, v in iter_clip_batches(records, clips, 16)])  # [14, 16, 3, 32, 32] uint8
    model, meta = P.load_pretrained(SHIPPED)
    scores = P.video_scores(model, videos)
    measured = meta["validation"]["benchmark_test_subjects"]
    # near what the metadata records for every test clip (31.7 dB pooled, SSIM 0.945), above the LFAE with its
    # predicted flows (30.5 dB pooled, SSIM 0.92), far above v1 (KL-f4: 22.9 dB) and the 16.6 dB / SSIM 0.52 of
    # an autoencoder trained on the 26 benchmark training faces only (README, issue 20)
    assert scores["frames"] == 14 * 15 and scores["psnr_pooled"] > 29.0 and scores["ssim"] > 0.9
    assert measured["psnr_pooled"] > 30.5 and measured["videos"] == 546 and measured["frames"] == 546 * 15


# ------------------------------------------------------------------------------------------------ retraining
TINY_CORPUS = CorpusSpec("synth-faces", seed=3001, n_subjects=2, n_heldout_subjects=1, n_takes=2, val_take=1, size=32,
                         frames=8, read_size=32)


@pytest.fixture(scope="module")
def retrained(tmp_path_factory):
    """``lfdm-bench ldm-ae train`` twice on a tiny corpus (3 subjects x 7 classes x 2 takes, 8 frames) and the tiny
    architecture, 16 steps of 4 frames; the benchmark check is skipped (it renders the benchmark's data)."""
    root = tmp_path_factory.mktemp("ldm_ae")
    mp = pytest.MonkeyPatch()
    mp.setenv("LFDM_BENCH_CACHE", str(root / "cache"))
    mp.setitem(P.DEFAULT_CORPORA, "synth-faces", TINY_CORPUS)
    mp.setitem(P.DEFAULT_ARCHITECTURES, "synth-faces", KLAutoencoderConfig.tiny())
    from cli import main

    outs = []
    torch.set_num_threads(1)
    for k in range(2):
        args = ["ldm-ae", "train", "--steps", "16", "--batch-size", "4", "--lr", "0.002", "--log-every", "4",
                "--no-benchmark-check", "--name", "tiny-klae", "--out", str(root / f"out{k}")]
        r = CliRunner().invoke(main, args, catch_exceptions=False)
        assert r.exit_code == 0, r.output
        outs.append((root / f"out{k}", r.output))
    mp.undo()
    return outs


@pytest.mark.e2e
def test_retrain_command_loss_falls_and_is_reproducible(retrained):
    (out, output), (out2, _) = retrained
    meta = json.loads((out / "tiny-klae.json").read_text())
    log = [json.loads(line) for line in (out / "tiny-klae.log.jsonl").read_text().splitlines()]
    assert len(log) == 4 and log[-1]["rec"] < 0.85 * log[0]["rec"]
    assert meta["training"]["steps"] == 16 and meta["corpus"]["seed"] == TINY_CORPUS.seed
    assert meta["command"] == ("lfdm-bench ldm-ae train --dataset synth-faces --steps 16 --batch-size 4 --lr 0.002 "
                               "--name tiny-klae --out DIR")
    assert meta["validation"]["corpus_heldout_subjects"]["frames"] == 1 * 7 * 2 * 7
    assert "held-out" in output or "never trained on" in output
    # one thread, same command: the same bytes
    assert meta["weights"]["sha256"] == json.loads((out2 / "tiny-klae.json").read_text())["weights"]["sha256"]
    model, _ = P.load_pretrained(out / "tiny-klae.json")
    assert model.cfg == KLAutoencoderConfig.tiny()


@pytest.mark.e2e
def test_ldm_run_installs_pretrained_weights(retrained, tmp_path, monkeypatch):
    """Stage 1 with ae.pretrained: not trained, the verified weights' name and sha256 are in the run's checkpoint
    and its reconstruction table; a config whose ae.model differs is refused."""
    from baselines.ldm.config import load_ldm_config
    from baselines.ldm.train import load_ae, open_ldm_run, train_ldm_run
    from lfdm_bench.checkpoints import load_checkpoint

    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    meta_path = retrained[0][0] / "tiny-klae.json"
    sha = json.loads(meta_path.read_text())["weights"]["sha256"]
    overrides = [f"ae.pretrained={meta_path}"]
    cfg = load_ldm_config("ldm-tiny", overrides)
    run = open_ldm_run(cfg, tmp_path / "run", "ldm-tiny", overrides)
    out = train_ldm_run(cfg, run, "ae", progress=False)
    ck = load_checkpoint(run.checkpoints / "ae" / "last.pt")
    assert ck["finished"] and ck["pretrained"]["sha256"] == sha and ck["pretrained"]["name"] == "tiny-klae"
    assert not (run.root / "logs" / "ae.csv").exists()  # nothing trained
    model, _ = P.load_pretrained(meta_path)
    ae = load_ae(run)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ae.state_dict().values())
               if a.shape == b.shape and a.dim() > 0)
    assert "tiny-klae" in out["ae"]["table"] and sha[:12] in out["ae"]["table"]
    rec = json.loads((run.metrics / "ae_reconstruction.json").read_text())
    assert rec["settings"]["autoencoder"]["sha256"] == sha
    bad = load_ldm_config("ldm-tiny", [f"ae.pretrained={meta_path}", "ae.model.channel_mult=[1,2,4]"])
    run2 = open_ldm_run(bad, tmp_path / "run2", "ldm-tiny", [])
    with pytest.raises(ValueError, match="ae.model differs.*channel_mult"):
        train_ldm_run(bad, run2, "ae", progress=False)
