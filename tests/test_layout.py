"""The house rules of the code base, checked on its files: no import circle between the project's modules (lazy,
function-level imports included), packages that only reach down the layers, files of one job (at most ~600 lines),
an install list that names every package folder, and a ``--help`` that answers without importing torch."""

import ast
import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# source folder -> import name of its package (the same: pyproject.toml installs each folder under its own name)
SOURCES = {"lfdm_bench": "lfdm_bench", "metrics": "metrics", "baselines": "baselines",
           "bench": "bench"}
# The layers, bottom first: a module may import only from lower layers, with no exception (its layer: layer_of;
# every package or module directly in lfdm_bench/ must be placed here). Data flows one way: data -> text, diffusion
# -> models -> training -> sampling -> metrics -> the methods, side by side (LFDM = lfdm_bench.lfdm, and baselines:
# LDM, VDM, ImaGINator and the calibration baselines; no generator imports another, what they share lies below
# them, in lfdm_bench.training and lfdm_bench.diffusion) -> the generator registry (bench.generators) -> the train /
# sample commands (lfdm_bench.commands, outside bench so that `train --help` imports no bench module) -> benchmark
# -> CLI. The one CLI
# convention (lfdm_bench.options) lies right above the config, so that every command, data's included, uses it.
LAYERS = [
    ["lfdm_bench", "lfdm_bench.utils", "lfdm_bench.config", "lfdm_bench.kinds"],
    ["lfdm_bench.options"],
    ["lfdm_bench.data", "lfdm_bench.runs"],
    ["lfdm_bench.text", "lfdm_bench.diffusion", "lfdm_bench.checkpoints"],
    ["lfdm_bench.models"],
    ["lfdm_bench.training"],
    ["lfdm_bench.sampling"],
    ["metrics"],
    ["lfdm_bench.lfdm", "baselines"],
    ["bench.generators"],
    ["lfdm_bench.commands"],
    ["bench"],
    ["cli"],
    ["lfdm_bench.__main__"],
]
MAX_LINES = 600


def project_modules() -> dict[str, Path]:
    """Import name -> file of every project module (cli.py is cli)."""
    mods = {"cli": ROOT / "cli.py"}
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its file (module level and inside functions)."""

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {resolve(a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = package
                    for _ in range(node.level - 1):
                        pkg = pkg.rpartition(".")[0]
                    base = f"{pkg}.{base}" if base else pkg
                for a in node.names:  # `from pkg import module` imports that module
                    found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in mods else resolve(base))
        graph[mod] = {m for m in found if m and m != mod}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (``[a, b, ..., a]``) or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state and (found := visit(w)):
                return found
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return None


def layer_of(module: str) -> str:
    """The layer a module belongs to: ``lfdm_bench.data.real.mug`` -> ``lfdm_bench.data``; ``lfdm_bench.runs`` ->
    itself; ``metrics.fvd`` -> ``metrics``; ``bench.generators`` -> itself (LAYERS names it: a layer of its own),
    ``bench.ablate`` -> ``bench``."""
    parts = module.split(".")
    two = ".".join(parts[:2])
    return two if parts[0] == "lfdm_bench" or any(two in names for names in LAYERS) else parts[0]


def test_find_cycle_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle_between_modules():
    graph = import_graph(project_modules())
    assert len(graph) > 100 and "lfdm_bench.data.real.mug" in graph["lfdm_bench.data.registry"]
    assert find_cycle(graph) is None, "import circle: " + " -> ".join(find_cycle(graph))


def test_packages_only_import_from_lower_layers():
    rank = {name: i for i, names in enumerate(LAYERS) for name in names}
    graph = import_graph(project_modules())
    assert {layer_of(m) for m in graph} <= set(rank), "a new package: place it in LAYERS"
    upward = sorted(f"{m} -> {d}" for m, deps in graph.items() for d in deps
                    if layer_of(d) != layer_of(m) and rank[layer_of(d)] >= rank[layer_of(m)])
    assert not upward, "imports that reach up (or sideways) a layer:\n" + "\n".join(upward)


def test_generators_import_no_other_generator():
    """LFDM, LDM, VDM and ImaGINator sit side by side: what they share (the U-Net, the diffusion target's layout,
    the trainer) lies below them, so none of their modules imports another generator's."""
    graph = import_graph(project_modules())
    packages = ("lfdm_bench.lfdm", "baselines.ldm", "baselines.vdm", "baselines.imaginator")

    def owner(module: str) -> str | None:
        return next((p for p in packages if module == p or module.startswith(p + ".")), None)

    assert any(owner(m) == "baselines.vdm" for m in graph)
    sideways = sorted(f"{m} -> {d}" for m, deps in graph.items() for d in deps
                      if owner(m) and owner(d) and owner(m) != owner(d))
    assert not sideways, "a generator imports another:\n" + "\n".join(sideways)


def test_files_hold_one_job():
    long = {str(p.relative_to(ROOT)): n for p in project_modules().values()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_pyproject_installs_every_package_folder():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {m for m, p in project_modules().items() if p.name == "__init__.py"}
    assert set(cfg["packages"]) == packages | {"lfdm_bench.configs"}
    assert cfg["package-dir"] == {"lfdm_bench.configs": "configs"}  # code: import name == folder, no mapping
    assert cfg["py-modules"] == ["cli"] and 'lfdm-bench = "cli:main"' in (ROOT / "pyproject.toml").read_text()


def test_import_names_are_folder_names():
    """``import metrics`` is this checkout's ``metrics/`` (no other distribution shadows a top-level name), and
    importing ``lfdm_bench`` changes no search path."""
    import lfdm_bench

    for name in ("metrics", "baselines", "bench", "cli"):
        mod = importlib.import_module(name)
        assert Path(mod.__file__).resolve().is_relative_to(ROOT), (name, mod.__file__)
    assert not hasattr(lfdm_bench, "__path__") or list(lfdm_bench.__path__) == [str(ROOT / "lfdm_bench")]


def test_cli_command_table_matches_the_commands():
    """``--help`` lists each command from a static table; its text is the command's own short help."""
    from cli import COMMANDS, main

    assert list(main.list_commands(None)) == list(COMMANDS)
    for name, (module, attr, short) in COMMANDS.items():
        cmd = getattr(importlib.import_module(module), attr)
        assert cmd.name in (name, attr) and cmd.get_short_help_str(10_000) == short, name


HEAVY = ("torch", "numpy", "scipy", "transformers", "diffusers", "decord", "PIL", "imageio", "av", "yaml")


@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_help_answers_without_torch_quickly():
    """Quick by construction, not by a stopwatch (a time limit would fail on a slow or busy machine): ``--help``
    imports the CLI module and the CLI convention (:mod:`lfdm_bench.options`, click only), no heavy package
    (~0.05 s of imports on the 2-core CPU)."""
    code = ("import sys; from cli import main\n"
            "try:\n    main(['--help'], prog_name='lfdm-bench')\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules));"
            "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in "
            "('lfdm_bench', 'metrics', 'baselines', 'bench', 'cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=600).stdout  # a hang guard only
    assert "Commands:" in out and "experiment" in out and "HEAVY []" in out, out
    # the CLI module and the one convention it shares with every command (click only)
    assert "LOADED ['cli', 'lfdm_bench', 'lfdm_bench.options']" in out, out


@pytest.mark.parametrize("command, torch_loaded", [("data", False), ("train", False), ("eval", True)])
@pytest.mark.e2e  # a whole command / evaluation / dataset build or a subprocess: the full suite runs it
def test_subcommand_help_imports_its_own_module(command, torch_loaded):
    """A command's ``--help`` imports that command's module only (``eval``'s imports the metric code, with torch)."""
    code = ("import sys\nfrom cli import main\ntry:\n"
            f"    main([{command!r}, '--help'], prog_name='lfdm-bench')\n"
            "except SystemExit:\n    pass\nprint('TORCH', 'torch' in sys.modules)\n"
            "print('BENCH', any(m.split('.')[0] == 'bench' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=600).stdout  # a hang guard only
    assert f"Usage: lfdm-bench {command}" in out and f"TORCH {torch_loaded}" in out and "BENCH False" in out, out


def test_test_modules_import_no_other_test_module():
    """Shared builders live in tests/helpers.py or tests/conftest.py fixtures: no file under tests/ imports a
    ``test_*`` module (module level or inside a function), so each test file can be read and run on its own."""
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names
                      if n.split(".")[-1].startswith("test_") or n.startswith("tests.test_")]
    assert not found, "\n".join(found)


def test_scripts_hold_one_job_too():
    """The ~600-line rule covers scripts/ as well as the packages (tests excepted)."""
    scripts = sorted((ROOT / "scripts").glob("*.py"))
    assert scripts, "no scripts found"
    long = {str(p.relative_to(ROOT)): n for p in scripts if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"
