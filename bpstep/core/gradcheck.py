"""Numeric gradient checks: every gradient of a walk against central differences.

The scalar checked is ``F = sum(upstream * output)``, whose gradient with respect to any
value is what the backward pass computes for it. For a value ``v`` (an input, or a stage's
output) and each element ``i``, the numeric gradient is ``(F(v + h e_i) - F(v - h e_i)) / 2h``
with ``h = 1e-5`` in float64, recomputing the forward pass from the stage after ``v`` with the
walker. The analytic gradient is the walk's final ``dv`` (``dc_1`` for the earlier version
``c#1`` of a re-bound name; see :mod:`bpstep.core.versions`).

Relative error, per element, as CS231n defines it: ``|a - n| / max(|a|, |n|)``, 0 when both
are 0; the check reports the largest over the elements. Elements where both ``|a|`` and
``|n|`` are below the rounding floor of the central difference, ``1e-8 * max(1, sum(|upstream *
output|))``, count as agreeing (their error is 0). Verdicts, by the notes' thresholds:

=============  ==========================  ==========================================
verdict        relative error              meaning
=============  ==========================  ==========================================
good           <= 1e-7                     the gradient is right
kink           <= 1e-4                     fine only near a kink (relu, max, abs)
suspicious     <= 1e-2                     probably wrong; look closer
wrong          > 1e-2                      wrong
=============  ==========================  ==========================================

and ``not finite`` (NaN or infinity on either side), ``skipped`` (not checked; see its
note). A failing check whose worst element sits exactly at a kink (its one-sided differences
disagree, the same at h and h/2) keeps its verdict and gets a note with both sides and the one
the gradient takes (:func:`_kink_note`). Every input is checked, written or not (an unwritten
gradient counts as zeros); other values are checked when the backward pass wrote their
gradient. The cost is two forward passes per element, so at most :data:`MAX_ELEMENTS` elements of each value are checked (a
fixed sample beyond that), inputs first (up to half the budget is shared among the inputs,
each getting at least one element in the file's order while it lasts, then what is left among
the other values), within a budget of work (:data:`BUDGET`, counted as
array elements read and written and multiply-adds of matrix products, plus
:data:`STATEMENT_COST` a statement, per :data:`STATEMENT_NODES` syntax nodes) that keeps ``bpstep run`` to about a second at most; what
does not fit is sampled more thinly or ``skipped``, and says so.
"""

from __future__ import annotations

import ast
import math
from collections import ChainMap
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bpstep.core.errors import ScenarioError
from bpstep.core.expr import (DEFAULT_LIMITS, Limits, Walker, bulk, fmt_shape, qualified_name, shape_of,
                              to_value)
from bpstep.core.values import number
from bpstep.core.versions import Timeline, timeline

H = 1e-5
MAX_ELEMENTS = 100
BUDGET = 1_000_000_000
STATEMENT_COST = 2_000
STATEMENT_NODES = 8  # syntax nodes a statement of STATEMENT_COST has (v = np.maximum(0, u): 8)
BANDS = (("good", 1e-7), ("kink", 1e-4), ("suspicious", 1e-2))
VERDICT_TEXT = {
    "good": "good (<= 1e-7)",
    "kink": "fine only near a kink (<= 1e-4)",
    "suspicious": "suspicious (<= 1e-2)",
    "wrong": "wrong (> 1e-2)",
    "not finite": "not finite",
    "skipped": "skipped",
}
PASSING = frozenset({"good", "kink"})


def verdict(error: float) -> str:
    for name, bound in BANDS:
        if error <= bound:
            return name
    return "wrong"


def relative_errors(analytic: Any, numeric: Any, floor: float = 0.0) -> np.ndarray:
    """``|a - n| / max(|a|, |n|)`` elementwise; 0 where both are at most ``floor`` (0/0 = 0)."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    scale = np.maximum(np.abs(a), np.abs(n))
    with np.errstate(all="ignore"):
        out = np.abs(a - n) / scale
    return np.where(scale <= floor, 0.0, out)


@dataclass(frozen=True)
class GradientCheck:
    """The check of one gradient name."""

    name: str  # "dx", "dc_1"
    of: str  # the cache label of the value: "x", "c#1"
    verdict: str
    relative_error: float | None  # the largest over the elements checked
    analytic: Any  # the walk's gradient; None if the backward pass did not write it
    numeric: Any  # central differences (NaN at elements not checked)
    checked: int
    elements: int
    note: str = ""

    @property
    def written(self) -> bool:
        return self.analytic is not None

    @property
    def passed(self) -> bool:
        return self.verdict in PASSING

    @property
    def verdict_text(self) -> str:
        return VERDICT_TEXT.get(self.verdict, self.verdict)


@dataclass(frozen=True)
class CheckReport:
    h: float
    results: dict[str, GradientCheck] = field(default_factory=dict)  # gradient name -> check

    @property
    def passed(self) -> bool:
        """True when nothing checked came out suspicious, wrong or not finite."""
        return all(r.passed or r.verdict == "skipped" for r in self.results.values())

    def get(self, name: str) -> GradientCheck | None:
        return self.results.get(name)


@dataclass
class _Target:
    name: str
    label: str
    key: tuple[str, int]
    index: int  # the forward statement that produced it; -1 for an input
    value: Any
    analytic: Any


def check_walk(walk, h: float = H, max_elements: int = MAX_ELEMENTS, budget: int = BUDGET,
               limits: Limits = DEFAULT_LIMITS) -> CheckReport:
    """Check every gradient of ``walk`` (a :class:`bpstep.core.engine.Walk`)."""
    with bulk(collect=True):  # inf and nan are values here (no numpy warnings); the collector paused
        return _check_walk(walk, h, max_elements, budget, limits)


def _check_walk(walk, h: float, max_elements: int, budget: int, limits: Limits) -> CheckReport:
    line = timeline(walk.cache)
    replay = _Replay(walk, line, limits)
    base = replay.output(-1, None, None)
    terms = np.abs(np.multiply(walk.upstream, base))
    floor = 1e-8 * max(1.0, float(np.sum(terms))) if np.all(np.isfinite(terms)) else 0.0
    unchanged = replay.weighted(base)  # sum(upstream * output) of the forward pass as it ran
    targets = _targets(walk, line)
    done: dict[str, GradientCheck] = {}
    used = 0
    inputs = [t for t in targets if t.index < 0]
    others = [t for t in targets if t.index >= 0]
    # inputs first, with up to half the budget shared among them; then the other values share
    # what is left. (Shared among all values at once, a long scenario's inputs, each replay of
    # which is the whole forward pass, were skipped for thousands of short replays; with the
    # whole budget, large matrix inputs left nothing for the values in between.)
    for group, limit in ((inputs, budget // 2), (others, budget)):
        for left, target in zip(range(len(group), 0, -1), group):
            rest = max(limit - used, 0)
            share = rest // left
            if group is inputs:  # in the file's order: an input gets one element while the rest
                share = max(share, min(2 * replay.cost_after(target.index), rest))  # pays for it
            done[target.name], cost = _check_one(target, replay, h, max_elements, share, floor, unchanged)
            used += cost
    return CheckReport(h, {t.name: done[t.name] for t in targets})


def _targets(walk, line: Timeline) -> list[_Target]:
    state = walk.gradients_at(walk.total)
    top = (walk.output, line.final[walk.output])
    found: dict[str, _Target] = {}
    index = -1
    for entry in walk.cache:
        if entry.stage is not None:
            index += 1
        key = (entry.name, entry.version)
        name = line.gradient_name(*key)
        if key == top or (name[1:] != entry.name and name[1:] not in walk.aliases):
            continue
        if name not in state and entry.stage is not None:
            continue
        found[name] = _Target(name, line.label(*key), key, index if entry.stage is not None else -1,
                              entry.value, state.get(name))
    return list(found.values())


def _check_one(target: _Target, replay: "_Replay", h: float, max_elements: int, budget: int,
               floor: float, unchanged: float) -> tuple[GradientCheck, int]:
    value = np.asarray(target.value, dtype=np.float64)
    size = value.size
    analytic = target.analytic

    def result(verdict_: str, error: float | None, numeric=None, checked=0, note="") -> GradientCheck:
        return GradientCheck(target.name, target.label, verdict_, error, analytic, numeric, checked, size, note)

    if analytic is not None and shape_of(analytic) != value.shape:
        return result("wrong", None, note=f"{target.name} has shape {fmt_shape(shape_of(analytic))}, "
                                          f"but {target.label} has shape {fmt_shape(value.shape)}"), 0
    per_element = 2 * replay.cost_after(target.index)
    affordable = budget // per_element if per_element else size
    count = min(size, max_elements, affordable)
    if size == 0:
        return result("skipped", None, note=f"{target.label} has no elements to check"), 0
    if count <= 0:
        return result("skipped", None, note="the check's budget of forward passes is used up"), 0
    picks = np.arange(size)
    if count < size:
        picks = np.sort(np.random.RandomState(0).choice(size, count, replace=False))
    numeric = np.full(size, np.nan)
    totals: dict[int, tuple[float, float]] = {}  # each element's nudged totals (+h, -h): a kink's sides
    try:
        for i in picks:
            totals[int(i)] = up, down = replay.nudged(target, int(i), h)
            numeric[i] = (up - down) / (2 * h) if math.isfinite(up - down) else math.nan
    except ScenarioError as exc:
        return result("skipped", None, note=f"the forward pass fails when {target.label} is nudged: "
                                            f"{exc.message}"), per_element * count
    numeric_value = numeric.reshape(value.shape) if value.ndim else np.float64(numeric[0])
    a = np.zeros(size) if analytic is None else np.asarray(analytic, dtype=np.float64).reshape(-1)
    note = "the backward pass does not write it; checked as zeros" if analytic is None else ""
    if count < size:
        note = (note + "; " if note else "") + f"{count} of {size} elements checked (a fixed sample)"
    cost = per_element * count
    if not (np.all(np.isfinite(a[picks])) and np.all(np.isfinite(numeric[picks]))):
        return result("not finite", None, numeric_value, count, note), cost
    errors = relative_errors(a[picks], numeric[picks], floor)
    error = float(np.max(errors))
    judged = verdict(error)
    probe = per_element  # the sides at h/2: two more forward passes, within the target's share
    if judged not in PASSING and cost + probe <= budget:
        worst = int(picks[int(np.argmax(errors))])
        kink = _kink_note(target, replay, worst, None if analytic is None else a[worst], h, totals[worst],
                          unchanged, floor)
        cost += probe
        if kink:
            note = (note + "; " if note else "") + kink
    return result(judged, error, numeric_value, count, note), cost


def _sides(nudged: tuple[float, float], h: float, unchanged: float) -> tuple[float, float]:
    """The one-sided differences (left, right) from the totals nudged by +h and -h, and
    ``unchanged``, the total of the forward pass as it ran."""
    up, down = nudged
    return (unchanged - down) / h, (up - unchanged) / h


KINK_SIDES = 1e-3  # one-sided differences further apart than this (relative): not differentiable there


def _kink_note(target: _Target, replay: "_Replay", element: int, analytic: float | None, h: float,
               nudged: tuple[float, float], unchanged: float, floor: float) -> str:
    """Why central differences disagree with a gradient at ``element``, if it is a kink (relu
    at 0, a tie in max, abs at 0): there they average the two sides, and a gradient that takes
    one side (as bpstep's rules do) differs from them. The sides are taken at h and at h/2: a
    kink's are the same at both (locally linear), while curvature, or a nudge that crosses a
    kink nearby, changes them. Only a note: the verdict stays, since a gradient sent to both
    sides of a tie (``da = (a >= b) * dm; db = (b >= a) * dm``) also takes "one side" each."""
    (left, right), (left2, right2) = _sides(nudged, h, unchanged), _sides(replay.nudged(target, element, h / 2),
                                                                          h / 2, unchanged)
    if not (relative_errors(left, right, floor) > KINK_SIDES
            and relative_errors([left, right], [left2, right2], floor).max() <= BANDS[1][1]):
        return ""
    side = ""
    if analytic is not None and math.isfinite(analytic):
        if relative_errors(analytic, left, floor) <= BANDS[1][1]:
            side = "; the gradient takes the left one"
        elif relative_errors(analytic, right, floor) <= BANDS[1][1]:
            side = "; the gradient takes the right one"
    return (f"at a kink: its one-sided differences are {number(left)} (left) and {number(right)} (right), "
            f"which central differences average{side}")


def _statement_work(statement, env, limits: Limits) -> int:
    """The fixed cost of evaluating a statement (:data:`STATEMENT_COST`, more for a long
    expression: it was charged as one, and a check of 400 stages of 1,500 nodes each took 84 s)
    plus the multiply-adds of its matrix products (their operands evaluated once)."""
    nodes = 0
    work = 0
    for node in ast.walk(statement.value):
        nodes += 1
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            pair = (node.left, node.right)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr == "dot" and len(node.args) == 1:
            pair = (node.func.value, node.args[0])
        elif isinstance(node, ast.Call) and qualified_name(node.func) == "np.dot" and len(node.args) == 2:
            pair = tuple(node.args)
        else:
            continue
        walker = Walker(env, statement.block, limits=limits)
        a, b = (shape_of(walker.evaluate(part)) for part in pair)
        work += math.prod(a) * math.prod(b[1:]) if a and b else max(math.prod(a), math.prod(b))
    return STATEMENT_COST * max(1, nodes // STATEMENT_NODES) + work


class _Replay:
    """Re-runs the forward pass from any stage with one value changed."""

    def __init__(self, walk, line: Timeline, limits: Limits):
        self.forward = list(walk.forward)
        self.line = line
        self.limits = limits
        self.output_name = walk.output
        self.upstream = walk.upstream
        costs = []
        for j, statement in enumerate(self.forward):
            env = line.before[j]
            read = sum(np.size(env[n]) for n in statement.reads if n in env)
            work = _statement_work(statement, env, limits)
            costs.append(read + work + np.size(line.values[line.produced[j]]))
        self.tail = [0] * (len(costs) + 1)  # work from statement j on (summed once, from the end)
        for j in range(len(costs) - 1, -1, -1):
            self.tail[j] = self.tail[j + 1] + int(costs[j])

    def cost_after(self, index: int) -> int:
        """The work of one forward pass from after statement ``index``."""
        return self.tail[index + 1]

    def output(self, index: int, name: str | None, value: Any) -> Any:
        if index < 0:
            env = dict(self.line.inputs)
        elif index + 1 < len(self.forward):
            # the replay's own values first, then the environment before statement index + 1,
            # looked up only for the names read (copying it was O(names) per replay)
            env = ChainMap({}, self.line.before[index + 1])
        else:
            env = dict(self.line.after)
        if name is not None:
            env[name] = value
        walker = Walker(env, None, limits=self.limits)  # type: ignore[arg-type]  # one per replay
        for statement in self.forward[index + 1:]:
            walker.block, walker.reads = statement.block, []
            result = walker.evaluate(statement.value, statement.depth)
            if statement.op == "+=":
                with np.errstate(all="ignore"):
                    result = to_value(np.add(env[statement.target], result))
            env[statement.target] = result
        return env[self.output_name]

    def weighted(self, out: Any) -> float:
        """sum(upstream * output): what the gradients are the derivatives of."""
        return float(np.sum(np.multiply(self.upstream, out)))

    def total(self, index: int, name: str, value: Any) -> float:
        return self.weighted(self.output(index, name, value))

    def nudged(self, target: _Target, element: int, step: float) -> tuple[float, float]:
        """The totals with one element of the target nudged by +step and by -step."""
        base = np.array(target.value, dtype=np.float64)
        flat = base.reshape(-1)
        values = []
        for signed in (step, -step):
            moved = flat.copy()
            moved[element] += signed
            values.append(self.total(target.index, target.key[0], to_value(moved.reshape(base.shape))))
        return values[0], values[1]


