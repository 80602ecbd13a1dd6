"""Timing a terminal program as a user sees it: in tmux, from the start (or a key press)
until the screen shows (or changes). Polls `tmux capture-pane` every millisecond or so."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid


class Pane:
    def __init__(self, command: list[str], width: int = 100, height: int = 30, env: dict | None = None):
        self.socket = f"bpbench-{uuid.uuid4().hex[:8]}"
        self.name = "bench"
        self.command = command
        self.size = (width, height)
        self.env = env or {}

    def tmux(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              check=check).stdout

    def capture(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def start(self, ready: str, timeout: float = 60.0) -> float:
        """Start the command; seconds until ``ready`` is on screen."""
        shell = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items()) + " exec " + \
            " ".join(shlex.quote(c) for c in self.command)
        start = time.perf_counter()
        self.tmux("new-session", "-d", "-s", self.name, "-x", str(self.size[0]), "-y", str(self.size[1]),
                  shell)
        return self.wait(lambda screen: ready in screen, start, timeout)

    def wait(self, done, start: float, timeout: float = 30.0) -> float:
        while True:
            screen = self.capture()
            if done(screen):
                return time.perf_counter() - start
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"screen never became ready:\n{screen}")
            time.sleep(0.0005)

    def key_latency(self, key: str, settle: float = 0.15) -> float:
        """Seconds from sending ``key`` until the screen differs; then let it settle."""
        time.sleep(settle)
        before = self.capture()
        start = time.perf_counter()
        self.tmux("send-keys", "-t", self.name, key)
        elapsed = self.wait(lambda screen: screen != before, start)
        return elapsed

    def close(self) -> None:
        self.tmux("kill-server", check=False)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def bpstep_bin() -> str:
    import sys

    here = os.path.join(os.path.dirname(sys.executable), "bpstep")
    return here if os.path.exists(here) else "bpstep"


def precompile_bpstep() -> None:
    """Write bpstep's bytecode (``__pycache__``) before timing, as a second start finds it.

    pip compiles the packages it installs (textual, numpy), but not an editable install's
    sources, and with PYTHONDONTWRITEBYTECODE set Python never writes them: every start would
    compile bpstep's modules again (about 30 ms here), which no installed user pays."""
    import compileall
    import sys

    folder = os.path.dirname(bpstep_bin())
    python = os.path.join(folder, "python") if os.path.exists(os.path.join(folder, "python")) else sys.executable
    code = "import bpstep, os; print(os.path.dirname(bpstep.__file__))"
    package = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    compileall.compile_dir(package, quiet=1)

