"""Build hook (everything else is in pyproject.toml): ship the top-level ``cli.py`` as ``lfdm_bench/cli.py``.

``cli.py`` stays at the top of the repository beside ``metrics/``, ``baselines/`` and ``bench/``, but its import name
is ``lfdm_bench.cli``; setuptools can map a package to another folder (``package-dir``) but not a single module, so
the wheel's copy is placed here. A source checkout imports it through ``lfdm_bench/__init__.py``.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        self.copy_file("cli.py", str(Path(self.build_lib) / "lfdm_bench" / "cli.py"))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / "lfdm_bench" / "cli.py")]


setup(cmdclass={"build_py": BuildPy})
