"""`bpstep replay` on the command line without a terminal: a corrupt transcript is one line
naming its line, exit 2; a bad --speed is a usage error."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from app_support import COMPLEX, ROOT
from bpstep.cli import main


def test_a_corrupt_transcript_without_a_terminal(tmp_path):
    """The plain subprocess: one line on stderr naming the line, nothing on stdout, exit 2."""
    path = tmp_path / "bad.jsonl"
    header = {"type": "header", "format": "bpstep-transcript", "version": 1, "scenario": COMPLEX,
              "sha256": "0" * 64, "bpstep": "0.1.0", "started": "2024-05-01T12:00:00+00:00"}
    path.write_text(json.dumps(header) + "\n" + '{"type": "action", "n": 1, "action": "n", oops}\n')
    done = subprocess.run([sys.executable, "-m", "bpstep", "replay", str(path)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and re.fullmatch(re.escape(str(path)) + r":2:\d+: error: not valid JSON: .+", lines[0]), \
        done.stderr


@pytest.mark.parametrize("speed", ["0", "-1", "nan", "fast", "1000"])
def test_a_bad_speed_is_a_usage_error(capsys, speed):
    with pytest.raises(SystemExit) as exit_:
        main(["replay", "x.jsonl", "--speed", speed])
    assert exit_.value.code == 2 and "argument --speed" in capsys.readouterr().err
