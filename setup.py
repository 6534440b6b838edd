"""Build hook (everything else is in pyproject.toml): ship the top-level ``cli.py`` as ``lfdm_bench/cli.py``.

``cli.py`` stays at the top of the repository beside ``metrics/``, ``baselines/`` and ``bench/``, but its import name
is ``lfdm_bench.cli``; setuptools can map a package to another folder (``package-dir``) but not a single module, so
a wheel gets its copy here. An editable install (like a plain source checkout) imports it in place, through
``lfdm_bench/__init__.py``.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPy(build_py):
    def _cli_target(self) -> Path:
        return Path(self.build_lib) / "lfdm_bench" / "cli.py"

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            self.mkpath(str(self._cli_target().parent))
            self.copy_file("cli.py", str(self._cli_target()))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        extra = [] if self.editable_mode else [str(self._cli_target())]
        return [*super().get_outputs(include_bytecode), *extra]


setup(cmdclass={"build_py": BuildPy})
