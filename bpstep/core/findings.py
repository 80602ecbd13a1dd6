"""What :func:`bpstep.core.verify.verify` finds: marks of steps, findings, and how values compare.

A TUI shows :attr:`Verification.marks` (one per step) as each step is taken, flags
:attr:`Verification.first` and jumps to its :attr:`Finding.position`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from bpstep.core.engine import Walk
from bpstep.core.expr import Value

RTOL = 1e-6  # relative tolerance between a hand-written value and the reference's
ATOL = 1e-9  # absolute, times the magnitude of the values involved (at least 1)

# Marks of steps. The first four are mistakes.
OK = "ok"  # the gradient is what the rules give (from the gradients the pass had so far)
OVERWRITE = "overwrite"
LOCAL_GRADIENT = "local_gradient"
MISSING = "missing"
SHAPE = "shape"
MISNAMED = "misnamed"  # a local holding a gradient under another name (a hint)
LOCAL = "local"  # a backward local: not compared by itself (its uses are)
UNCHECKED = "unchecked"  # no reference to compare with
FAILING = frozenset({OVERWRITE, LOCAL_GRADIENT, MISSING, SHAPE})
KIND_TEXT = {
    OVERWRITE: "overwrite at a fork",
    LOCAL_GRADIENT: "wrong local gradient",
    MISSING: "missing contribution",
    SHAPE: "wrong shape",
    MISNAMED: "misnamed gradient",
}


@dataclass(frozen=True)
class Finding:
    """One mistake (or hint), where it is and why."""

    kind: str  # one of KIND_TEXT's keys
    stage: int
    line: int  # the scenario file's line: the step's, or for a missing one the stage's forward line
    code: str  # that line's code
    step: int | None  # the hand-written step (None when the mistake is a statement not written)
    position: int  # the walk position that shows it (a TUI jumps there)
    gradient: str  # "dx"
    of: str  # "x" (the cache label of the value)
    message: str  # one line: what is wrong and what to do
    forward: str  # the stage's forward statement
    rules: tuple[str, ...] = ()  # formulas of the rules on the way from the stage's output to `of`
    reference: tuple[str, ...] = ()  # the derived statements of this stage for this gradient
    dimensions: str = ""  # the step's dimension analysis: "dW (10,5) = X (10,3) . dD.T (3,5)"
    reference_dimensions: tuple[str, ...] = ()  # the reference's, for the same gradient
    expected: Value | None = None  # the value after the stage, by the rules
    actual: Value | None = None  # the value the hand-written pass has after the stage

    @property
    def failed(self) -> bool:
        return self.kind in FAILING

    @property
    def kind_text(self) -> str:
        return KIND_TEXT[self.kind]


@dataclass(frozen=True)
class StepMark:
    index: int  # the step (1-based)
    mark: str
    # whether the step's gradient, once its stage is done, equals the reference's (it can be
    # off while the mark is ok, when an earlier mistake fed it); None for locals
    matches_reference: bool | None
    finding: int | None = None  # index into Verification.findings

    @property
    def failed(self) -> bool:
        return self.mark in FAILING


@dataclass(frozen=True)
class Verification:
    marks: tuple[StepMark, ...]  # marks[i] is step i + 1's
    findings: tuple[Finding, ...]  # in run order
    reference: Walk | None  # the derived backward pass, run (None if it could not be derived)
    note: str = ""  # why there is no reference, or that the pass was derived

    def mark(self, index: int) -> StepMark:
        return self.marks[index - 1]

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.failed]

    @property
    def hints(self) -> list[Finding]:
        return [f for f in self.findings if not f.failed]

    @property
    def first(self) -> Finding | None:
        """The first mistake, in the order the backward pass runs."""
        return next((f for f in self.findings if f.failed), None)

    @property
    def first_position(self) -> int | None:
        first = self.first
        return first.position if first else None

    def findings_at(self, position: int) -> list[Finding]:
        return [f for f in self.findings if f.position == position]


# -- comparing values -------------------------------------------------------------------------

def magnitude(values: Iterable[Any]) -> float:
    """The largest finite magnitude among the values (at least 1): the scale of ``same``'s
    absolute tolerance."""
    top = 1.0
    for value in values:
        if value is None:
            continue
        if isinstance(value, float):  # a float64 scalar (or float): no arrays
            if math.isfinite(value) and abs(value) > top:
                top = float(abs(value))
            continue
        array = np.abs(np.asarray(value, dtype=np.float64))
        finite = array[np.isfinite(array)]
        if finite.size:
            top = max(top, float(finite.max()))
    return top


def same(actual: Value | None, expected: Value | None, scale: float = 1.0) -> bool:
    """Equal shapes and values within :data:`RTOL` (and :data:`ATOL` times ``scale``); a
    missing value counts as zeros; NaN equals NaN, infinities themselves."""
    if actual is None and expected is None:
        return True
    if actual is None or expected is None:
        present = expected if actual is None else actual
        return not np.any(np.asarray(present, dtype=np.float64))
    if isinstance(actual, float) and isinstance(expected, float):  # two scalars: np.isclose's test
        # as Python floats: the same IEEE arithmetic, and no numpy warning when it overflows
        actual, expected = float(actual), float(expected)
        atol = ATOL * max(scale, magnitude([expected]))
        if actual == expected:  # also equal infinities
            return True
        if math.isnan(actual) or math.isnan(expected):  # NaN equals only NaN
            return math.isnan(actual) and math.isnan(expected)
        if math.isinf(actual) or math.isinf(expected):  # an infinity equals only itself
            return False
        return abs(actual - expected) <= atol + RTOL * abs(expected)
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    if a.shape != b.shape:
        return False
    with np.errstate(all="ignore"):
        return bool(np.allclose(a, b, rtol=RTOL, atol=ATOL * max(scale, magnitude([b])), equal_nan=True))


def add_values(before: Value | None, contribution: Value) -> Value:
    if before is None:
        return contribution
    with np.errstate(all="ignore"):
        return np.add(before, contribution)


def shape_or_none(value: Value | None) -> tuple[int, ...] | None:
    return None if value is None else tuple(np.shape(value))

