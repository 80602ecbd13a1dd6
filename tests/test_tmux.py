"""Drive the installed `bpstep` console script in a real terminal (tmux).

Needs the `tmux` program (Debian/Ubuntu package: tmux); skipped only when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from app_support import COMPLEX, ROOT

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

BPSTEP = Path(sys.executable).with_name("bpstep")
WAIT = 30.0  # seconds: generous, so that a slow machine only makes the test slower


class Tmux:
    """One tmux server of our own (its own socket), one window running a command."""

    def __init__(self, tmp_path: Path, width: int, height: int, command: list[str], env: dict | None = None):
        self.socket = f"bpstep-test-{uuid.uuid4().hex[:8]}"
        self.status = tmp_path / f"{self.socket}.status"
        script = tmp_path / f"{self.socket}.sh"
        quoted = " ".join(shlex_quote(c) for c in command)
        script.write_text(f"#!/bin/sh\ncd {shlex_quote(str(ROOT))}\n{quoted}\necho $? > {self.status}\nsleep 60\n")
        script.chmod(0o755)
        environment = {**os.environ, **(env or {}), "TERM": "xterm-256color"}
        environment.pop("TMUX", None)
        self.tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), str(script),
                  env=environment)

    def tmux(self, *args: str, env: dict | None = None) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              env=env, timeout=WAIT)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self, escapes: bool = False) -> str:
        """The visible screen, wrapped lines joined (-J); with -e, its colour escapes."""
        return self.tmux("capture-pane", "-p", "-J", *(["-e"] if escapes else []), "-t", "t")

    def wait_for(self, pattern: str) -> str:
        deadline = time.monotonic() + WAIT
        while True:
            screen = self.screen()
            if re.search(pattern, screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} never appeared; the screen:\n{screen}")
            time.sleep(0.1)

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def exit_status(self) -> int:
        deadline = time.monotonic() + WAIT
        while not self.status.exists() or not self.status.read_text().strip():
            if time.monotonic() > deadline:
                raise AssertionError(f"the program did not exit; the screen:\n{self.screen()}")
            time.sleep(0.1)
        return int(self.status.read_text())

    def close(self) -> None:
        path = subprocess.run(["tmux", "-L", self.socket, "display-message", "-p", "#{socket_path}"],
                              capture_output=True, text=True, timeout=WAIT).stdout.strip()
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=WAIT)
        if path.endswith(self.socket):  # tmux leaves its socket file behind
            Path(path).unlink(missing_ok=True)


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@pytest.fixture
def terminal(tmp_path):
    sessions = []

    def start(width, height, command, env=None):
        session = Tmux(tmp_path, width, height, command, env)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.close()


def test_installed_bpstep_steps_a_stage_and_quits(terminal):
    assert BPSTEP.exists(), f"no console script at {BPSTEP}: pip install -e . first"
    tty = terminal(100, 30, [str(BPSTEP), COMPLEX])
    tty.wait_for(r"stage 8 of 8 · step 0 of 12")
    tty.send("n")
    screen = tty.wait_for(r"step 2 of 12")
    assert "dnum" in screen
    assert re.search(r"dnum\s+0\.5121\s", screen), screen  # now with its value, 1/den
    tty.send("q")
    assert tty.exit_status() == 0


def test_an_80_column_terminal_shows_how_to_quit(terminal):
    # the footer's last key was cut off at 80 columns: a newcomer saw no way out
    tty = terminal(80, 24, [str(BPSTEP), COMPLEX])
    screen = tty.wait_for(r"step 0 of 12[\s\S]*\^p palette")  # the footer is drawn last
    footer = next(line for line in reversed(screen.splitlines()) if line.strip())
    for key in ("n Stage", "s Step", "p Back", "? Help", "q Quit"):
        assert key in footer, footer
    tty.send("q")
    assert tty.exit_status() == 0


def test_bad_scenario_in_a_terminal_prints_one_line_before_any_screen(terminal, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("bpstep: 1\ntitle: bad\ninputs:\n  x: 1\nforward: |\n  y = x +\n")
    tty = terminal(80, 24, [str(BPSTEP), str(bad)])
    assert tty.exit_status() == 2
    lines = [line for line in tty.screen().splitlines() if line.strip()]
    assert len(lines) == 1 and re.match(re.escape(str(bad)) + r":6:\d+: error: ", lines[0]), lines


def colours(screen: str) -> list[tuple[int, int, int]]:
    """Every foreground and background colour set by an SGR escape, as (r, g, b) levels:
    256-colour indexes as their cube or grey-ramp coordinates, true colour as is."""
    found = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", screen):
        codes = [int(p) if p else 0 for p in params.split(";")]
        i = 0
        while i < len(codes):
            if codes[i] in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
                n = codes[i + 2]
                if 16 <= n <= 231:
                    n -= 16
                    found.append((n // 36, n // 6 % 6, n % 6))
                elif n >= 232 or n in (0, 7, 8, 15):
                    found.append((n, n, n))  # the grey ramp, black, the greys, white
                else:
                    found.append((n, -1, -2))  # one of the other 16 named colours
                i += 3
            elif codes[i] in (38, 48) and i + 4 < len(codes) and codes[i + 1] == 2:
                found.append(tuple(codes[i + 2:i + 5]))
                i += 5
            else:
                if 31 <= codes[i] <= 36 or 41 <= codes[i] <= 46 or 91 <= codes[i] <= 96 or 101 <= codes[i] <= 106:
                    found.append((codes[i], -1, -2))  # red, green, yellow, blue, magenta, cyan
                i += 1
    return found


def test_no_color_in_a_real_terminal(terminal):
    tty = terminal(80, 24, [str(BPSTEP), COMPLEX])
    tty.wait_for(r"step 0 of 12")
    assert any(r != g or g != b for r, g, b in colours(tty.screen(escapes=True)))  # colour by default
    tty = terminal(80, 24, [str(BPSTEP), COMPLEX], env={"NO_COLOR": "1"})
    tty.wait_for(r"step 0 of 12")
    found = colours(tty.screen(escapes=True))
    assert found and all(r == g == b for r, g, b in found), sorted(set(found))
    tty.send("q")
    assert tty.exit_status() == 0
