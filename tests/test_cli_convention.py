"""One command-line convention (lfdm_bench/options.py): every command in a commands.py, one context, one error
wrapper, one progress default, shared option declarations with one default each, one KEY=VALUE parser, one sampler
type, and `eval --help` grouped by mode."""

from __future__ import annotations

import importlib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import COMMANDS, main
from lfdm_bench.options import CONTEXT, cli_errors, command, config_errors, parse_key_values

ROOT = Path(__file__).resolve().parents[1]


def _leaves(cmd: click.Command, path: str) -> list[tuple[str, click.Command]]:
    if isinstance(cmd, click.Group):
        return [leaf for name, sub in cmd.commands.items() for leaf in _leaves(sub, f"{path} {name}")]
    return [(path, cmd)]


def all_commands() -> list[tuple[str, click.Command]]:
    out = []
    for name, (module, attr, _) in COMMANDS.items():
        out += _leaves(getattr(importlib.import_module(module), attr), name)
    return out


def test_every_command_lives_in_a_commands_module_and_library_modules_hold_no_click():
    for name, (module, _, _) in COMMANDS.items():
        assert module.rpartition(".")[2] == "commands", (name, module)
    allowed = {"cli.py", "lfdm_bench/options.py", "bench/options.py"}
    with_click = sorted(str(p.relative_to(ROOT)) for folder in ("lfdm_bench", "metrics", "baselines", "bench")
                        for p in (ROOT / folder).rglob("*.py")
                        if "import click" in p.read_text() and p.name != "commands.py")
    assert set(with_click) <= allowed, with_click


def test_every_command_has_the_one_context_and_error_wrapper():
    for path, cmd in all_commands():
        assert getattr(cmd.callback, "cli_errors", False), f"{path}: not wrapped by lfdm_bench.options.cli_errors"
    for name, (module, attr, _) in COMMANDS.items():
        top = getattr(importlib.import_module(module), attr)
        assert top.context_settings == CONTEXT, name
    assert main.context_settings == CONTEXT
    # subcommands of groups inherit the group's context
    ctx = click.Context(main, info_name="lfdm-bench", **main.context_settings)
    for path, cmd in all_commands():
        sub = click.Context(cmd, parent=ctx, info_name=path)
        assert sub.help_option_names == ["-h", "--help"] and sub.show_default, path


def test_one_progress_default_and_ddof_default():
    progress, ddof = set(), set()
    for path, cmd in all_commands():
        for p in cmd.params:
            if p.name == "progress":
                progress.add((p.default, p.help))
            if p.name == "ddof":
                ddof.add((p.default, p.help))
    assert len(progress) == 1 and next(iter(progress))[0] is True, progress
    # eval, ablate and every experiment: the protocol preset's ddof, as the benchmark's config (eval.ddof: null)
    from bench.config import BenchEvalConfig

    assert ddof == {(BenchEvalConfig().ddof, next(iter(ddof))[1])} and BenchEvalConfig().ddof is None


def test_the_error_wrapper_turns_bad_input_into_one_line_with_its_exit_code(tmp_path, monkeypatch):
    from lfdm_bench.config import ConfigError

    def raising(exc):
        @command()
        @cli_errors(usage=config_errors)
        def cmd():
            raise exc
        return cmd

    runner = CliRunner()
    r = runner.invoke(raising(ConfigError("bad.yaml: train.lr must be > 0")), [])
    assert r.exit_code == 2 and "Error: bad.yaml: train.lr must be > 0" in r.output and "Traceback" not in r.output
    r = runner.invoke(raising(FileNotFoundError(f"{tmp_path}/run: no checkpoint; train it first")), [])
    assert r.exit_code == 1 and f"Error: {tmp_path}/run: no checkpoint; train it first" in r.output
    r = runner.invoke(raising(PermissionError(13, "Permission denied", str(tmp_path / "out"))), [])
    assert r.exit_code == 1 and f"Error: {tmp_path / 'out'}: Permission denied; write the results elsewhere" in r.output
    r = runner.invoke(raising(ValueError("--steps must be >= 1")), [])
    assert r.exit_code == 1 and "Error: --steps must be >= 1" in r.output
    r = runner.invoke(raising(KeyError("a bug")), [])  # a programming error keeps its traceback
    assert r.exit_code == 1 and isinstance(r.exception, KeyError)
    monkeypatch.setenv("LFDM_BENCH_TRACEBACK", "1")
    r = runner.invoke(raising(ValueError("shown with its traceback")), [])
    assert isinstance(r.exception, ValueError)


def test_a_real_command_through_the_wrapper(tmp_path):
    """A config that does not exist: a usage error naming it (train), a missing run folder: click's own error."""
    r = CliRunner().invoke(main, ["train", "--config", str(tmp_path / "missing.yaml"), "--no-progress"])
    assert r.exit_code == 2 and r.output.count("Error:") == 1 and "missing.yaml" in r.output, r.output
    r = CliRunner().invoke(main, ["report", str(tmp_path)])  # a folder without results.json / ablation.json
    assert r.exit_code == 1 and "Error:" in r.output and "Traceback" not in r.output, r.output


def test_eval_help_shows_the_modes_under_headings():
    r = CliRunner().invoke(main, ["eval", "--help"], terminal_width=120)
    assert r.exit_code == 0
    heads = ["What to evaluate", "Real reference", "Protocol", "Sanity table", "Running", "Output"]
    at = [r.output.index(h) for h in heads]
    assert at == sorted(at), r.output
    what = r.output[at[0]:at[1]]
    assert all(f in what for f in ("--samples", "--run", "--make-samples", "--sanity", "--metric")), what
    assert "--beside" in r.output[at[3]:at[4]] and "--ddof" in r.output[at[2]:at[3]]
    assert "Other options" in r.output and "-h, --help" in r.output[r.output.index("Other options"):]


def test_key_value_pairs_parse_as_config_overrides():
    from lfdm_bench.config import parse_override

    pairs = ["n_subjects=3", "crop=false", "style=sketch", "layout=raw", "sizes=[1, 2]", "empty="]
    assert parse_key_values(pairs) == {"n_subjects": 3, "crop": False, "style": "sketch", "layout": "raw",
                                       "sizes": [1, 2], "empty": ""}
    assert all(parse_key_values([p]) == {parse_override(p)[0][0]: parse_override(p)[1]} for p in pairs)
    with pytest.raises(click.BadParameter, match="expected KEY=VALUE"):
        parse_key_values(["no-equals-sign"])
    r = CliRunner().invoke(main, ["data", "info", "synth-faces", "-o", "oops"])
    assert r.exit_code == 2 and "--option" in r.output and "KEY=VALUE" in r.output, r.output


def test_one_sampler_type_canonicalises_names():
    from lfdm_bench.commands import SamplerName

    assert SamplerName().convert("dpmsolver++", None, None) == "diffusers-dpmsolver++"
    assert SamplerName(many=True).convert("ddim, euler", None, None) == ["ddim", "diffusers-euler"]
    with pytest.raises(click.BadParameter, match="valid samplers"):
        SamplerName().convert("nope", None, None)
    sample_cmd = importlib.import_module("lfdm_bench.commands").sample
    ablate_cmd = importlib.import_module("bench.commands").ablate
    types = {type(p.type) for c in (sample_cmd, ablate_cmd) for p in c.params if p.name in ("sampler", "samplers")}
    assert types == {SamplerName}
