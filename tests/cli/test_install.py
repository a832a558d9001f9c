"""`make install`'s editable install: quiet, and importing from the work tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_editable_install_is_quiet_and_imports_from_the_work_tree(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = venv / "bin" / "python"
    # the pip `make install` runs: newer ones show what the build backend warns about
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True, timeout=300
    )
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", ROOT],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    assert "Editable installation" not in installed.stdout + installed.stderr
    assert installed.stderr == "", installed.stderr
    imported = subprocess.run(
        [python, "-c", "import breakwater; print(breakwater.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout.strip() == str(ROOT / "breakwater" / "__init__.py")
