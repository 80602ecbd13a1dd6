"""Playing a transcript back against its scenario (DESIGN.md section 4).

:func:`open_replay` finds the scenario a transcript names, loads its walk, and compares every
recorded step with the step of the same index in the walk as it is now. A scenario whose
sha256 has changed still replays: :class:`Replay` carries the warning and, per action, the
steps whose values now differ.

Where the scenario is looked for: the header stores the path as the user gave it when
recording. An absolute path is used as it is; a relative one is tried first against the
directory that holds the transcript, then against the current directory. ``--scenario``
overrides both.

For the TUI: ``replay.position(k)`` is the position after the first ``k`` actions;
``replay.action(k)`` the ``k``-th action (1-based), whose key or command is
``replay.action(k).action``; to play action ``k`` the app calls
``goto(replay.position(k), replay.action(k).action)``. ``replay.differing_steps`` holds
the indices of the steps to mark as changed.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpstep.core.engine import Step, Walk, load_walk
from bpstep.core.errors import ScenarioError
from bpstep.core.expr import DEFAULT_LIMITS, Limits
from bpstep.core.transcript.model import Action, RecordedStep, Transcript

RTOL = 1e-9  # recorded values are exact float64 round trips; the tolerance absorbs libm drift
ATOL = 1e-12
COMPARED = ("code", "target", "op", "before", "contribution", "after")


@dataclass(frozen=True)
class StepDifference:
    """A recorded step that the scenario as it is now no longer reproduces."""

    index: int
    fields: tuple[str, ...]  # of COMPARED, or ("missing",) when the walk has no such step
    now: Step | None

    def describe(self) -> str:
        if self.now is None:
            return f"step {self.index} no longer exists"
        return f"step {self.index}: {', '.join(self.fields)} now differ{'s' * (len(self.fields) == 1)}"


@dataclass(frozen=True)
class Replay:
    transcript: Transcript
    walk: Walk
    scenario_path: str  # where the scenario was found
    changed: bool  # its sha256 differs from the header's
    warnings: tuple[str, ...]
    differences: dict[int, tuple[StepDifference, ...]] = field(default_factory=dict)  # by action number

    @property
    def length(self) -> int:
        return len(self.transcript.actions)

    def action(self, k: int) -> Action:
        """The ``k``-th action, 1-based."""
        if not 1 <= k <= self.length:
            raise IndexError(f"action {k} is outside 1..{self.length}")
        return self.transcript.actions[k - 1]

    def position(self, k: int) -> int:
        """The position after the first ``k`` actions (``k`` = 0: where recording started),
        clamped to the walk as it is now."""
        actions = self.transcript.actions
        if not actions:
            return 0
        k = min(max(k, 0), len(actions))
        recorded = actions[k - 1].after if k else actions[0].before
        return self.walk.clamp(recorded)

    @property
    def differing_steps(self) -> frozenset[int]:
        return frozenset(d.index for diffs in self.differences.values() for d in diffs)


def candidates(transcript: Transcript) -> list[str]:
    """The places the header's scenario path is looked for, in order."""
    path = transcript.header.scenario
    folder = os.path.dirname(transcript.path) or "."
    found = [path] if os.path.isabs(path) else [os.path.normpath(os.path.join(folder, path)), path]
    # the path was written as given where the session was recorded; a scenario kept beside its
    # transcript is found from anywhere (a hunt: 'cd h; bpstep replay nan.jsonl' did not find
    # h/nan.yaml, recorded as 'h/nan.yaml' from the folder above)
    found.append(os.path.normpath(os.path.join(folder, os.path.basename(path))))
    out: list[str] = []
    for candidate in found:
        if os.path.abspath(candidate) not in {os.path.abspath(p) for p in out}:
            out.append(candidate)
    return out


def resolve(transcript: Transcript, override: str | None = None) -> str:
    """The scenario file to replay against, or a ScenarioError at the header's line 1."""
    if override is not None:
        return override
    tried = candidates(transcript)
    for path in tried:
        if os.path.isfile(path):
            return path
    col = _scenario_column(transcript)
    raise ScenarioError(f"the scenario {transcript.header.scenario!r} was not found (looked for "
                        f"{' and '.join(repr(p) for p in tried)}); give its path with --scenario", 1, col,
                        path=transcript.path)


def _scenario_column(transcript: Transcript) -> int:
    try:
        with open(transcript.path, encoding="utf-8") as handle:
            first = handle.readline()
    except OSError:
        return 1
    return first.find('"scenario"') + 1 or 1


def open_replay(transcript: Transcript, scenario: str | None = None, limits: Limits = DEFAULT_LIMITS) -> Replay:
    """Load the scenario a transcript names (or ``scenario``) and compare it with the record."""
    path = resolve(transcript, scenario)
    return compare(transcript, load_walk(path, limits), path)


def compare(transcript: Transcript, walk: Walk, scenario_path: str) -> Replay:
    header = transcript.header
    changed = walk.scenario.sha256 != header.sha256
    differences: dict[int, tuple[StepDifference, ...]] = {}
    # jumps back and forth record the same steps again, and the reader gives each repeat the
    # very RecordedStep it made the first time: each is compared once (keyed by id: the
    # transcript keeps every step alive while this runs)
    compared: dict[int, StepDifference | None] = {}
    for action in transcript.actions:
        found = []
        for step in action.steps:
            key = id(step)
            if key not in compared:
                compared[key] = _difference(step, walk)
            if compared[key] is not None:
                found.append(compared[key])
        if found:
            differences[action.number] = tuple(found)
    warnings = []
    if changed:
        count = len({d.index for diffs in differences.values() for d in diffs})
        warnings.append(f"the scenario {scenario_path} has changed since this session was recorded "
                        f"(sha256 {walk.scenario.sha256[:12]}…, recorded {header.sha256[:12]}…); "
                        + (f"{count} recorded step{'s' * (count != 1)} now differ{'s' * (count == 1)}"
                           if count else "every recorded step still has the same values"))
    elif differences:
        warnings.append("the scenario is unchanged, but some recorded steps differ from a fresh run "
                        "(a different numpy or platform?)")
    beyond = [a.number for a in transcript.actions if max(a.before, a.after) > walk.total]
    if beyond:
        warnings.append(f"the walk now has {walk.total} steps; action{'s' * (len(beyond) != 1)} "
                        f"{', '.join(map(str, beyond))} went further and stop at its end")
    return Replay(transcript, walk, scenario_path, changed, tuple(warnings), differences)


def _difference(recorded: RecordedStep, walk: Walk) -> StepDifference | None:
    now = walk.step(recorded.index)
    if now is None:
        return StepDifference(recorded.index, ("missing",), None)
    fields = tuple(name for name in COMPARED if not _same(getattr(recorded, name), getattr(now, name)))
    return StepDifference(recorded.index, fields, now) if fields else None


def _same(recorded: Any, now: Any) -> bool:
    """np.allclose(recorded, now, rtol=RTOL, atol=ATOL, equal_nan=True) for equal shapes."""
    if isinstance(recorded, str) or isinstance(now, str):
        return recorded == now
    if isinstance(recorded, float) and isinstance(now, float):  # two scalars (np.float64 is a float)
        # np.isclose's test on Python floats, the same IEEE arithmetic without an array each:
        # |a - b| <= atol + rtol * |b| for finite b, or a == b (equal infinities), or both NaN
        a, b = float(recorded), float(now)
        if a == b:
            return True
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return False
        return abs(a - b) <= ATOL + RTOL * abs(b)
    if recorded is None or now is None:
        return recorded is None and now is None
    if np.size(recorded) == 0 and np.size(now) == 0 and np.ndim(recorded) == 1:
        return True  # a recorded [] is any empty array: JSON cannot say which empty shape
    if np.shape(recorded) != np.shape(now):
        return False
    return bool(np.allclose(recorded, now, rtol=RTOL, atol=ATOL, equal_nan=True))
