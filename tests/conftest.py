import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def bpstep_command() -> str:
    """The installed console script, next to the running interpreter (the venv's bin/)."""
    candidate = Path(sys.executable).parent / "bpstep"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("bpstep")
    if found is None:
        pytest.fail("the bpstep console script is not installed (pip install -e '.[test]')")
    return found


@pytest.fixture
def bpstep_bin() -> str:
    return bpstep_command()


@pytest.fixture
def scenario_dir() -> Path:
    return SCENARIOS


@pytest.fixture(autouse=True)
def _no_color_leak(monkeypatch):
    # Tests must not depend on the developer's terminal settings.
    monkeypatch.delenv("NO_COLOR", raising=False)
    yield


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return os.fspath(path)
