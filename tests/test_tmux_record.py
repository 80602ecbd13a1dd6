"""The installed `bpstep` recording and replaying in a real terminal (tmux), and the errors
that must come before any screen.

Needs the `tmux` program; skipped only when it is missing (as tests/test_tmux.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time

from app_support import COMPLEX
from bpstep.core.transcript import read
from test_tmux import BPSTEP, WAIT, pytestmark, terminal  # noqa: F401 - the fixture, the tmux skip

# keys sent, the action each records, the position after it (complex.yaml: stages 8: steps 1-2,
# 7: 3, 6: 4-5, ...)
KEYS = [("n", "next_stage", 2), ("s", "next_step", 3), ("s", "next_step", 4), ("p", "previous_stage", 3),
        ("End", "end", 12), ("Home", "start", 0), ("n", "next_stage", 2)]


def wait_for_lines(path, count: int) -> list[str]:
    deadline = time.monotonic() + WAIT
    while True:
        lines = path.read_bytes().decode().splitlines() if path.exists() else []
        if len(lines) >= count:
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} has {len(lines)} lines, not {count}")
        time.sleep(0.05)


def test_kill_9_while_recording_in_a_real_terminal_keeps_every_action(terminal, tmp_path):
    assert BPSTEP.exists(), f"no console script at {BPSTEP}: pip install -e . first"
    path, pidfile = tmp_path / "session.jsonl", tmp_path / "pid"
    # sh writes its pid, then becomes bpstep (exec): that pid is bpstep's
    tty = terminal(100, 30, ["sh", "-c", f'echo $$ > "{pidfile}"; exec "{BPSTEP}" "{COMPLEX}" --record "{path}"'])
    tty.wait_for(r"● REC")
    for i, (key, _, after) in enumerate(KEYS, start=1):
        tty.send(key)
        wait_for_lines(path, 1 + i)  # the action is in the file before the next key
    tty.wait_for(rf"step {KEYS[-1][2]} of 12")
    assert re.search(rf"● REC\s+{re.escape(str(path))} · {len(KEYS)} actions", tty.screen()), tty.screen()
    os.kill(int(pidfile.read_text()), signal.SIGKILL)
    assert tty.exit_status() == 128 + signal.SIGKILL  # killed, not exited

    data = path.read_bytes()
    assert data.endswith(b"\n")
    lines = data.decode().splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)  # valid JSON Lines
    transcript = read(str(path))  # and a valid transcript, every action there
    assert len(transcript.actions) == len(KEYS)
    assert [(a.action, a.after) for a in transcript.actions] == [(action, after) for _, action, after in KEYS]


def test_replay_in_a_real_terminal(terminal, tmp_path):
    path = tmp_path / "session.jsonl"
    tty = terminal(100, 30, [str(BPSTEP), COMPLEX, "--record", str(path)])
    tty.wait_for(r"● REC")
    for i, (key, _, _) in enumerate(KEYS[:3], start=1):
        tty.send(key)
        wait_for_lines(path, 1 + i)
    tty.send("q")
    assert tty.exit_status() == 0
    tty = terminal(100, 30, [str(BPSTEP), "replay", str(path)])
    tty.wait_for(r"REPLAY 0/3 · next: next stage \(step 0 → 2\)")
    tty.send(".")
    tty.wait_for(r"REPLAY 1/3 · next: next step \(step 2 → 3\)")
    assert "step 2 of 12" in tty.screen()
    tty.send(".", ".")
    tty.wait_for(r"REPLAY 3/3 · end of the recording")
    assert "step 4 of 12" in tty.screen()
    tty.send(",")
    tty.wait_for(r"REPLAY 2/3")
    assert "step 3 of 12" in tty.screen()
    tty.send("q")
    assert tty.exit_status() == 0
    tty = terminal(100, 30, [str(BPSTEP), "replay", str(path), "--autoplay", "--speed", "16"])
    tty.wait_for(r"‖ REPLAY 3/3 · end of the recording")  # played through, then paused
    assert "paused 16/s" in tty.screen() and "step 4 of 12" in tty.screen()
    tty.send("q")
    assert tty.exit_status() == 0


def one_line_then_exit_2(tty) -> str:
    assert tty.exit_status() == 2
    lines = [line for line in tty.screen().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_an_unwritable_record_file_is_one_line_before_any_screen(terminal, tmp_path):
    target = tmp_path / "no-such-dir" / "s.jsonl"
    tty = terminal(80, 24, [str(BPSTEP), COMPLEX, "--record", str(target)])
    line = one_line_then_exit_2(tty)
    assert re.fullmatch(re.escape(str(target)) + r":1:1: error: cannot write the transcript: No such file or "
                        r"directory", line), line


def test_a_corrupt_transcript_is_one_line_before_any_screen(terminal, tmp_path):
    path = tmp_path / "s.jsonl"
    tty = terminal(80, 24, [str(BPSTEP), COMPLEX, "--record", str(path)])
    tty.wait_for(r"● REC")
    tty.send("n")
    wait_for_lines(path, 2)
    tty.send("q")
    assert tty.exit_status() == 0
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1], lines[1][:-9] + "\n"]))  # line 3 cut short, then a newline
    tty = terminal(80, 24, [str(BPSTEP), "replay", str(path)])
    line = one_line_then_exit_2(tty)
    assert re.fullmatch(re.escape(str(path)) + r":3:\d+: error: .+", line), line
