"""Shared by the transcript tests: a fixed clock, the debugger's movement keys, a recorder."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path

from bpstep.core.engine import Walk
from bpstep.core.transcript import TranscriptWriter

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
STARTED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)

# The movement keys of the debugger, as position -> position on a walk (the TUI's own table
# is its business; these exist so a test can drive a session and replay it independently).
KEYS = {
    "n": lambda walk, p: walk.next_stage(p),
    "s": lambda walk, p: walk.clamp(p + 1),
    "p": lambda walk, p: walk.previous_stage(p),
    "up": lambda walk, p: walk.clamp(p - 1),
    "home": lambda walk, p: 0,
    "end": lambda walk, p: walk.total,
}


class Clock:
    """Starts at 0 and advances ``tick`` seconds each time it is read."""

    def __init__(self, tick: float = 1.5):
        self.now, self.tick = -tick, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def record(path: Path, walk: Walk, keys: list[str], scenario_path: str | None = None) -> list[int]:
    """Drive a session with ``keys`` and record it; return the position after each key."""
    positions = []
    position = 0
    with TranscriptWriter.open(str(path), walk, scenario_path, started=STARTED, clock=Clock()) as writer:
        for key in keys:
            after = KEYS[key](walk, position)
            writer.record(key, position, after)
            position = after
            positions.append(after)
    return positions


def random_keys(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(sorted(KEYS)) for _ in range(count)]
