"""The direction of imports is enforced, not hoped for."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HEADLESS = [
    "vramtop",
    "vramtop.engine",
    "vramtop.cli",
    "vramtop.export.json_stream",
    "vramtop.backends.replay",
    "vramtop.analysis.oom",
]


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_modules_never_import_textual(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')"
        " or m.startswith('vramtop.ui'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_importing_vramtop_is_light() -> None:
    code = (
        "import sys, vramtop\n"
        "heavy = [m for m in ('torch', 'pydantic', 'textual', 'psutil', 'prometheus_client', "
        "'pynvml') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_analysis_imports_only_model() -> None:
    for path in (ROOT / "src" / "vramtop" / "analysis").rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("from vramtop", "import vramtop")):
                target = stripped.split()[1]
                assert target.startswith(("vramtop.model", "vramtop.analysis")), (
                    f"{path.name}: {stripped}"
                )


def test_import_linter_contracts() -> None:
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter not installed (pip install -e '.[dev]')")
    out = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
