"""`bpstep SCENARIO` without a terminal, and with a bad scenario (subprocess, no tty)."""

from __future__ import annotations

import re
import subprocess
import sys

from app_support import COMPLEX, ROOT


def bpstep(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bpstep", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_without_a_terminal_the_debugger_does_not_start():
    done = bpstep(COMPLEX)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "no terminal" in done.stderr and f"bpstep run {COMPLEX}" in done.stderr
    assert "\x1b[" not in done.stderr  # no screen was drawn


def test_a_bad_scenario_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("bpstep: 1\ntitle: bad\ninputs:\n  x: 1\nforward: |\n  y = x +\n")
    done = bpstep(str(bad))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(re.escape(str(bad)) + r":6:\d+: error: invalid Python syntax.*", lines[0])
