"""The model of a transcript read back: header, actions, recorded steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FORMAT = "bpstep-transcript"
VERSION = 1


def move_of(before: int, after: int) -> str:
    """"forward" (steps applied), "back" (steps undone) or "none"."""
    return "forward" if after > before else "back" if after < before else "none"


def steps_between(before: int, after: int) -> list[int]:
    """Indices of the steps a move applies (forward, in order) or undoes (back, last first)."""
    if after >= before:
        return list(range(before + 1, after + 1))
    return list(range(before, after, -1))


@dataclass(frozen=True)
class RecordedStep:
    """A step as recorded. It has the attributes that ``report.step_effect`` and
    ``report.overwrite_warning`` read, so a recorded step is shown exactly like a live one."""

    index: int
    stage: int
    line: int
    code: str
    target: str
    op: str
    kind: str  # "gradient" or "local"
    overwrites: tuple[int, ...]
    before: Any  # decoded values (None, float64 or an array)
    contribution: Any
    after: Any
    encoded: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def accumulates(self) -> bool:
        return self.op == "+="

    @property
    def gradient_of(self) -> str | None:
        return self.target[1:] if self.kind == "gradient" else None


@dataclass(frozen=True)
class Action:
    number: int  # 1-based
    line: int  # its line in the transcript file
    action: str
    t: float
    before: int
    after: int
    steps: tuple[RecordedStep, ...]

    @property
    def move(self) -> str:
        return move_of(self.before, self.after)


@dataclass(frozen=True)
class CachedValue:
    name: str
    version: int
    stage: int | None
    line: int
    value: Any
    code: str = ""  # the input's or stage's statement as written

    @property
    def label(self) -> str:
        return self.name if self.version == 1 else f"{self.name}#{self.version}"


@dataclass(frozen=True)
class Header:
    scenario: str
    sha256: str
    bpstep: str
    started: str
    title: str | None = None
    output: str | None = None
    upstream: Any = None
    cache: tuple[CachedValue, ...] | None = None
    stages: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Transcript:
    path: str
    header: Header
    actions: tuple[Action, ...]
