"""What the screen shows at a position: pure queries over a Walk for the UI.

Nothing here imports textual or rich. Everything a position highlights is a function of the
walk and the position alone; the :class:`Index` is built once per walk so that each query on
the step path costs O(1) in the size of the scenario (O(k) for a jump over k steps).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from bpstep.core.engine import Step, Walk
from bpstep.core.program import MARKER

# Above this many steps in one move, the panes are redrawn whole (only their visible lines)
# instead of row by row.
JUMP_LIMIT = 64


@dataclass(frozen=True)
class Focus:
    """What one position highlights."""

    position: int
    step: Step | None  # the step applied last (None at the start)
    stage: int | None  # the stage being back-propagated
    target: str | None  # the name the step wrote
    forward_reads: frozenset[str]  # cache names the step read
    gradient_reads: frozenset[str]  # gradients and backward locals the step read


stage_of = attrgetter("stage")  # a statement's or a step's


class Index:
    """Row numbers and stage bounds of a walk, computed once."""

    def __init__(self, walk: Walk):
        self.walk = walk
        self.names: list[str] = walk.names  # gradient table rows
        self.gradient_row = {name: i for i, name in enumerate(self.names)}
        # by the name the backward pass reads: x for x's last version, x_1 for an earlier one
        # (a hunt: reads of x_3 or y_1 were never marked in the cache)
        cache = walk.cache
        self.cache_row: dict[str, int] = dict(zip(map(walk.value_name, cache), range(len(cache))))
        self.stage_cache_row: dict[int, int] = {  # the cache entry a stage computed
            entry.stage: i for i, entry in enumerate(cache) if entry.stage is not None}
        self.forward_row = dict(zip(map(stage_of, walk.forward), range(len(walk.forward))))
        # stage -> index of its first step, and of its last (steps are indexed from 1 in order);
        # built by dict() from pairs, the last pair of a key winning (15,500 steps a load)
        stages = list(map(stage_of, walk.steps))
        self.stage_last: dict[int, int] = dict(zip(stages, range(1, len(stages) + 1)))
        self.stage_first: dict[int, int] = dict(zip(reversed(stages), range(len(stages), 0, -1)))
        self.max_stage = max(map(stage_of, walk.forward), default=0)

    def stage_state(self, stage: int, position: int) -> str:
        """'done', 'current', 'pending', or 'none' (a stage without backward statements)."""
        if stage not in self.stage_last:
            return "none"
        if position >= self.stage_last[stage]:
            return "done"
        if position >= self.stage_first[stage]:
            return "current"
        return "pending"


def focus_at(walk: Walk, position: int) -> Focus:
    step = walk.step(position)
    if step is None:
        return Focus(position, None, walk.stage_at(position), None, frozenset(), frozenset())
    forward = frozenset(r.name for r in step.reads if r.kind == "forward")
    gradients = frozenset(r.name for r in step.reads if r.kind != "forward")
    return Focus(position, step, step.stage, step.target, forward, gradients)


def position_text(walk: Walk, index: Index, position: int) -> str:
    """``stage k of N · step i of M`` (the header)."""
    stage = walk.stage_at(position)
    steps = f"step {position} of {walk.total}"
    if stage is None:
        return f"no backward pass · {steps}"
    return f"stage {stage} of {index.max_stage} · {steps}"


def touched_steps(walk: Walk, before: int, after: int) -> range | None:
    """The steps applied or undone by a move (None when there are more than JUMP_LIMIT)."""
    low, high = sorted((before, after))
    if high - low > JUMP_LIMIT:
        return None
    return range(low + 1, high + 1)


def changed_names(walk: Walk, before: int, after: int) -> set[str]:
    """Names whose value differs between two positions. The app marks those changed since
    the start of the current stage (``walk.previous_stage(position)``): a function of the
    position alone, as DESIGN.md asks of everything on the screen."""
    low, high = sorted((before, after))
    names = {walk.steps[i - 1].target for i in range(low + 1, high + 1)}
    return {n for n in names if not _same(walk.value_at(n, before), walk.value_at(n, after))}


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.shape(a) == np.shape(b) and np.array_equal(a, b, equal_nan=True))


_MARKED = re.compile(r"[^#\n]*#\([0-9]+\)[ \t]*")


def comment_of(source: str) -> str:
    """The comment written after a statement (its last line's), without its ``#(n)`` marker.
    The expression language has no strings, so the first ``#`` starts the comment."""
    if _MARKED.fullmatch(source):  # one line marked #(n), the common case; any other goes on below
        return ""
    last = source[source.rfind("\n") + 1:]  # the whole source when it is one line
    at = last.find("#")
    if at < 0:
        return ""
    rest = last[at:]
    bare = rest.rstrip()
    if bare[:2] == "#(" and bare[-1] == ")" and bare[2:-1].isdecimal():  # a marker alone
        return ""
    rest = re.sub(r"\s+", " ", MARKER.sub("", rest)).strip()
    return "" if rest in ("", "#") else rest


def hint_for(walk: Walk, step: Step | None) -> str | None:
    """The walk's hint about this step's line (a misspelled gradient name), if any."""
    if step is None:
        return None
    prefix = f"line {step.line}:"
    return next((h[len(prefix):].strip() for h in walk.hints if h.startswith(prefix)), None)
