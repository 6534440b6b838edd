"""Config machinery: YAML + overrides, strict keys, typed values, errors naming the key path."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from lfdm_bench.config import ConfigError, apply_overrides, dump_yaml, from_dict, load_config, to_dict


@dataclass
class Opt:
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.99)
    steps: int = 100
    sampler: Literal["ddpm", "ddim"] = "ddim"
    resume: str | None = None


@dataclass
class Exp:
    name: str = "x"
    amp: bool = False
    dims: tuple[int, ...] = (1, 2, 4)
    train: Opt = field(default_factory=Opt)


def test_defaults_and_roundtrip(tmp_path):
    cfg = load_config(Exp)
    assert cfg == Exp()
    p = tmp_path / "c.yaml"
    p.write_text(dump_yaml(cfg))
    assert load_config(Exp, p) == cfg


def test_yaml_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: run1\ntrain:\n  lr: 1.0e-3\n  steps: 5\n")
    cfg = load_config(Exp, p, ["train.lr=1e-4", "dims=[1,2]", "train.sampler=ddpm", "amp=true", "train.resume=null"])
    assert cfg.name == "run1" and cfg.train.steps == 5
    assert cfg.train.lr == pytest.approx(1e-4)  # YAML 1.1 reads 1e-4 as a string: still a float here
    assert cfg.dims == (1, 2) and cfg.train.sampler == "ddpm" and cfg.amp is True and cfg.train.resume is None


@pytest.mark.parametrize(
    "override, match",
    [
        ("train.lrr=1", r"unknown config key train\.lrr.*valid keys of train: betas, lr"),
        ("train.steps=fast", r"train\.steps: expected an integer, got 'fast'"),
        ("train.sampler=euler", r"train\.sampler: expected one of \['ddpm', 'ddim'\]"),
        ("amp=3", r"amp: expected true/false"),
        ("train.betas=[0.9]", r"train\.betas: expected 2 items"),
        ("train=3", r"train: expected a mapping"),
        ("novalue", r"expected KEY=VALUE"),
    ],
)
def test_bad_values_name_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(Exp, None, [override])


def test_missing_file_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(Exp, tmp_path / "nope.yaml")


def test_unknown_key_in_file_names_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("trian: {}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown config key trian"):
        load_config(Exp, p)


def test_apply_overrides_does_not_mutate():
    d = {"train": {"lr": 1}}
    out = apply_overrides(d, ["train.lr=2"])
    assert d["train"]["lr"] == 1 and out["train"]["lr"] == 2
    assert to_dict(from_dict(Exp, out))["train"]["lr"] == 2.0
