"""Command-line names say what they do: ``--per-pair`` (videos per subject x class pair) on every sampling command,
LDM's stage 1 is ``--stage ae`` (``lfae`` is refused for LDM with a message, and ``ae`` for LFDM)."""

import pytest
from click.testing import CliRunner

from cli import main


@pytest.mark.parametrize("model, stage", [("ldm", "lfae"), ("lfdm", "ae")])
def test_a_stage_of_the_other_model_is_refused(model, stage, tmp_path):
    r = CliRunner().invoke(main, ["train", "--model", model, "--stage", stage, "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and f"--stage {stage} is not a stage of {model.upper()}" in r.output
    assert not (tmp_path / "run").exists()  # refused before anything is written


@pytest.mark.parametrize("args", [["sample"], ["ablate"], ["experiment", "unconditional"],
                                  ["experiment", "new-domain"], ["experiment", "text-encoder"]])
def test_sampling_commands_take_per_pair(args):
    r = CliRunner().invoke(main, [*args, "--help"])
    assert r.exit_code == 0 and "--per-pair" in r.output and "--per-class" not in r.output
    assert "(subject, class) pair" in r.output


def test_train_help_names_every_stage():
    r = CliRunner().invoke(main, ["train", "--help"], terminal_width=200)
    assert "[lfae|ae|dm|gan|all]" in r.output and "LDM: its image autoencoder (ae), dm or both" in r.output
    assert "[lfdm|ldm|vdm|imaginator]" in r.output and "ImaGINator: gan" in r.output
