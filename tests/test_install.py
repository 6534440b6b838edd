"""The package installs under one import name: ``pip install -e .`` and ``pip install .`` into fresh virtual
environments both give a working ``lfdm-bench --help`` and ``import metrics.fvd`` (import names are folder names),
and a wheel installs exactly the project's top-level names (``lfdm_bench``, ``metrics``, ``baselines``, ``bench``,
``cli``) and no ``tests``. Slow: two builds (~1 min; pip fetches
the build backend, setuptools, from the package index as the README's install does)."""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECK = ("import metrics.fvd, cli, lfdm_bench.config as c; "
         "print(metrics.fvd.__file__); print(len(list(c.CONFIG_DIR.glob('*.yaml'))))")


def _source_copy(dest: Path) -> Path:
    """The tracked files of the checkout (what a clone holds), so the build leaves the working tree untouched."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dest / f)
    return dest


@pytest.mark.slow
@pytest.mark.parametrize("editable", [True, False])
def test_fresh_install_gives_the_cli_and_the_import_names(tmp_path, editable):
    src = _source_copy(tmp_path / "src")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = Path(subprocess.run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies (torch, click, ...) come from this interpreter's environment; the package is built fresh
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    cmd = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps"]  # the build backend from the index
    subprocess.run([*cmd, *(["-e"] if editable else []), str(src)], check=True, cwd=tmp_path)
    help_text = subprocess.run([venv / "bin" / "lfdm-bench", "--help"], capture_output=True, text=True, check=True,
                               cwd=tmp_path).stdout
    assert "Usage: lfdm-bench" in help_text and "experiment" in help_text
    out = subprocess.run([venv / "bin" / "python", "-c", CHECK], capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout.split()
    assert out[0] == str((src if editable else site) / "metrics" / "fvd.py") and int(out[1]) >= 10
    if not editable:
        record = next(site.glob("lfdm_bench-*.dist-info")) / "RECORD"
        tops = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines()}
        ours = {t for t in tops if not t.endswith(".dist-info") and t not in ("__pycache__", "..")}
        assert ours == {"lfdm_bench", "metrics", "bench", "baselines", "cli.py"}, ours
