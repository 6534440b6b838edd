"""README's "Quick tour of the CLI" runs as written, line by line, on the embedded data.

The lines run in order in one working directory (they share ``runs/``), each through the real command line; only
what cannot exist here is mapped: the CPU configs -> the tiny ones (``synth-faces-cpu`` -> ``tiny``, so the run folder
``runs/synth-faces-cpu-lfdm`` -> ``runs/tiny-lfdm``; ``vdm-synth-faces-cpu`` -> ``vdm-tiny``), the embedded dataset
-> its tiny variant (4 subjects; ``eval`` ``--option`` values), ``/data/UTD-MHAD`` and ``/data/MUG`` -> tiny fake
trees in the released layouts, ``/models/bert-base-cased`` -> the packaged MiniLM (a BERT), the paper config shrunk
to seconds by extra ``--set`` values, the ablation grid to 2 steps on one subject's videos (same samplers and
guidance scales), ``/weights/...pt`` -> random I3D weights in the checkpoint's layout, the two ``bench_out/`` folders
-> copies of the ablation the tour made.
The default test scores with a cheap stand-in detector; the slow one runs the I3D itself.
"""

import re
import shlex
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from cli import main
from helpers import png_frames, ramp, random_state_dict, use_standin_detector, write_avi

README = Path(__file__).resolve().parent.parent / "README.md"
TINY_DATA = ["--size", "32", "--frames", "16", "--subjects", "4", "--takes", "1"]  # tiny's data, with 16 frames
TINY_OPTIONS = ["n_subjects=4", "n_takes=1", "size=32", "frames=16"]  # the same data as dataset options
TINY_RUN = ["data.options.frames=16", "data.n_frames=16", "lfae.train.steps=2", "dm.train.steps=2",
            "ae.train.steps=2"]  # 16-frame clips as the CPU configs, 2 + 2 training steps
# the paper's MUG config at the tiny sizes: 32 px, the tiny LFAE and U-Net, one step per stage
PAPER_SHRUNK = ["data.size=32", "data.n_frames=6", "lfae.model.image_size=32", "lfae.model.num_regions=4",
                *(f"lfae.model.{part}_{key}" for part in ("region", "flow", "bg")
                  for key in ("block_expansion=8", "max_features=32", "num_blocks=3")),
                "lfae.model.gen_block_expansion=8", "lfae.model.gen_max_features=32", "lfae.model.gen_num_res_blocks=2",
                "lfae.train.steps=1", "lfae.train.batch_size=2", "lfae.train.num_workers=0", "dm.train.steps=1",
                "dm.train.batch_size=2", "dm.unet.dim=16", "dm.unet.dim_mults=[1,2]", "dm.unet.attn_heads=2",
                "dm.unet.attn_dim_head=8"]
# the ablation grid: the tour's samplers and guidance scales at 2 steps, one subject's videos
SMALL_GRID = {"--steps": "2"}


def tour_lines() -> list[str]:
    """The command lines of README's "Quick tour of the CLI" block, comments stripped."""
    text = README.read_text()
    block = re.search(r"## Quick tour of the CLI\s+```bash\n(.*?)```", text, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.startswith("lfdm-bench")]


def fake_trees(root: Path) -> dict[str, Path]:
    """Tiny UTD-MHAD and MUG copies in their released layouts."""
    mhad = root / "UTD-MHAD"
    for a, s, t in [(1, 1, 1), (2, 4, 1), (27, 8, 4), (21, 5, 2), (3, 2, 3), (4, 6, 1)]:
        write_avi(mhad / f"a{a}_s{s}_t{t}_color.avi", ramp(3, 480, 640))  # native size: LFDM's crop box fits
    mug = root / "MUG"
    for subject in ("008", "010", "001", "002"):  # LFDM's train (008, 010) and test (001, 002) subjects
        for k, expression in enumerate(("anger", "happiness", "surprise")):
            png_frames(mug / subject / expression / "take000", 8, h=16, w=16, name=lambda i, k=k: f"f{i + k:03d}")
    return {"mhad": mhad, "mug": mug}


def mapped(line: str, env: dict) -> list[str]:
    """The argv of a tour line with the mapping of the module docstring."""
    from lfdm_bench.text.bert import resolve_model_dir

    args = shlex.split(line)[1:]
    swap = {"synth-faces-cpu": "tiny", "ldm-synth-faces-cpu": "ldm-tiny", "vdm-synth-faces-cpu": "vdm-tiny",
            "runs/synth-faces-cpu-lfdm": "runs/tiny-lfdm",
            "/data/UTD-MHAD": str(env["mhad"]), "data.root=/data/MUG": f"data.root={env['mug']}",
            "dm.text.model=/models/bert-base-cased": f"dm.text.model={resolve_model_dir('minilm')[0]}",
            "/weights/i3d_pretrained_400.pt": str(env["i3d"])}
    args = [swap.get(a, a) for a in args]
    if args[:2] == ["data", "make"]:
        args += TINY_DATA
    if args[0] == "train" and args[args.index("--config") + 1] in ("tiny", "ldm-tiny"):
        model = args[args.index("--model") + 1] if "--model" in args else "lfdm"
        args += [a for o in TINY_RUN if o.startswith(("data", "dm", "lfae" if model == "lfdm" else "ae"))
                 for a in ("--set", o)]
    if args[0] == "ablate":
        args = [SMALL_GRID.get(args[i - 1], a) if i else a for i, a in enumerate(args)] + ["--max-subjects", "1"]
    if "--dataset" in args and args[args.index("--dataset") + 1] == "synth-faces":  # the tour's tiny variant
        args += [a for o in TINY_OPTIONS for a in ("--option", o)]
    if args[:3] == ["train", "--config", "paper-mug"]:
        args += [a for o in PAPER_SHRUNK for a in ("--set", o)]
    if args[0] == "report":
        for folder in args[1:]:
            shutil.copytree("runs/tiny-lfdm/ablation", folder, dirs_exist_ok=True)
    return args


def run_tour(tmp_path: Path, monkeypatch) -> list[str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LFDM_BENCH_CACHE", str(tmp_path / "cache"))
    env = fake_trees(tmp_path / "data")
    env["i3d"] = tmp_path / "weights" / "i3d_pretrained_400.pt"
    env["i3d"].parent.mkdir()
    torch.save(random_state_dict(), env["i3d"])
    monkeypatch.setenv("LFDM_BENCH_I3D", str(env["i3d"]))  # ablate / experiment without --i3d: the weights "installed"
    lines = tour_lines()
    assert len(lines) == 13 and lines[0] == "lfdm-bench --help"
    ran = []
    for line in lines:
        args = mapped(line, env)
        res = CliRunner().invoke(main, args, catch_exceptions=False)
        assert res.exit_code == 0, f"{line}\n-> {args}\n{res.output}"
        if args[:2] == ["data", "make"]:
            env["manifest"] = next((tmp_path / "cache" / "datasets").glob("synth-faces-*/manifest.csv"))
        ran.append(line)
    return ran


def check_outputs(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "tiny-lfdm"
    assert (run / "checkpoints" / "dm" / "last.pt").is_file()
    assert (tmp_path / "runs" / "ldm-tiny-ldm" / "checkpoints" / "dm" / "last.pt").is_file()
    assert (tmp_path / "runs" / "vdm-tiny-vdm" / "checkpoints" / "dm" / "last.pt").is_file()
    assert (tmp_path / "runs" / "paper-mug-lfdm" / "checkpoints" / "dm" / "last.pt").is_file()
    assert sorted(p.name for p in (run / "samples").glob("*_ddim4_eta1_g1")) == ["test_ddim4_eta1_g1",
                                                                                "train_ddim4_eta1_g1"]
    assert (run / "metrics" / "ddim4_eta1_g1" / "metrics.json").is_file()
    assert len(list(tmp_path.glob("eval-*-sanity/sanity.json"))) == 1
    assert (run / "ablation" / "ablation.json").is_file()
    assert (run / "experiments" / "new_domain_sketch" / "new_domain.json").is_file()


pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("one_thread")]


def test_quick_tour_runs_as_written(tmp_path, monkeypatch):
    use_standin_detector(monkeypatch)
    assert len(run_tour(tmp_path, monkeypatch)) == 13
    check_outputs(tmp_path)


@pytest.mark.slow
def test_quick_tour_runs_as_written_with_the_i3d(tmp_path, monkeypatch):
    """The same with the I3D network itself (random weights in the pretrained layout): minutes on 2 CPU cores."""
    assert len(run_tour(tmp_path, monkeypatch)) == 13
    check_outputs(tmp_path)
