"""A recording session killed with SIGKILL keeps every completed action (DESIGN.md section 4)."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time

import pytest
from transcript_helpers import ROOT, SCENARIOS

from bpstep.core.transcript import read

CHILD = """
import sys, time
from bpstep.core.engine import load_walk
from bpstep.core.transcript import TranscriptWriter

walk = load_walk(sys.argv[2])
position, count = 0, 0
with TranscriptWriter.open(sys.argv[1], walk, sys.argv[2]) as writer:
    while True:  # step to the end one statement at a time, jump home, again: until killed
        after = position + 1 if position < walk.total else 0
        writer.record("s" if after else "home", position, after)
        position, count = after, count + 1
        print(count, flush=True)  # reported only once record() has returned
        time.sleep(0.005)
"""

WANTED = 25  # actions to see reported before the kill
DEADLINE = 120.0  # seconds; generous, only a hung child would reach it


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_mid_session_keeps_every_completed_action(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    path = tmp_path / "killed.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, str(script), str(path), str(SCENARIOS / "complex.yaml")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    reported = 0
    try:
        selector = selectors.DefaultSelector()
        selector.register(child.stdout, selectors.EVENT_READ)
        give_up = time.monotonic() + DEADLINE
        while reported < WANTED:
            assert selector.select(timeout=max(0.0, give_up - time.monotonic())), "the child stopped reporting"
            line = child.stdout.readline()
            assert line, f"the child exited early: {child.stderr.read().decode()}"
            reported = int(line)
        os.kill(child.pid, signal.SIGKILL)  # mid-session: the child is still looping
        child.wait(timeout=DEADLINE)
        reported = max([reported] + [int(x) for x in child.stdout.read().split()])  # drain the pipe
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    data = path.read_bytes()
    assert data.endswith(b"\n")  # no half-written line
    lines = data.decode().splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)  # valid JSON Lines
    transcript = read(str(path))  # and a valid transcript
    # every action record() returned for is there; at most one more (killed before it printed)
    assert reported <= len(transcript.actions) <= reported + 1
    assert [a.number for a in transcript.actions] == list(range(1, len(transcript.actions) + 1))
    for action, previous in zip(transcript.actions[1:], transcript.actions):
        assert action.before == previous.after
