"""The step engine: forward cache, backward steps, and positions (DESIGN.md section 2).

:func:`run` evaluates a scenario once and returns a :class:`Walk`: immutable step records in
run order. A position ``p`` (0..M) means "the first ``p`` steps have been applied". Values at
any position are found by looking up the last write at or before it (a bisect over each
name's writes), so any position is reachable in either direction without re-running the
pass and without a snapshot of every gradient at every step: each step holds only the value
it wrote (and, for ``+=``, its contribution); ``before`` is the previous write's object.
"""

from __future__ import annotations

import bisect
import contextvars
import functools
from collections import ChainMap
from operator import attrgetter
from typing import Callable

import numpy as np

from bpstep.core.errors import ScenarioError, reported_at
from bpstep.core.expr import (DEFAULT_LIMITS, RESERVED_NAMES, Budget, Limits, Value, Walker, bulk, fmt_shape,
                              shape_of, to_value)
from bpstep.core.program import Statement, attribute_backward, number_forward, parse_block
from bpstep.core.records import field, new_object, open_twin, record
from bpstep.core.scenario import CodeBlock, Literal, Scenario, load
from bpstep.core.versions import aliases as version_aliases


@record(slots=True)
class CacheEntry:
    """One value of the forward cache: an input (stage None) or a stage's output."""

    name: str
    version: int
    stage: int | None
    value: Value
    line: int
    code: str
    col: int = 1

    def __new__(cls, name: str, version: int, stage: int | None, value: Value, line: int, code: str,
                col: int = 1) -> CacheEntry:
        self = new_object(_OpenCacheEntry)  # frozen, built as a plain object (bpstep.core.records)
        self.name = name
        self.version = version
        self.stage = stage
        self.value = value
        self.line = line
        self.code = code
        self.col = col
        self.__class__ = cls
        return self

    @property
    def label(self) -> str:
        return self.name if self.version == 1 else f"{self.name}#{self.version}"


@record(slots=True)
class Read:
    name: str
    kind: str  # "forward", "gradient" or "local"

    def __new__(cls, name: str, kind: str) -> Read:
        self = new_object(_OpenRead)  # frozen, built as a plain object (bpstep.core.records)
        self.name = name
        self.kind = kind
        self.__class__ = cls
        return self


@record
class Contribution:
    step: int  # the step index (1-based); 0 for the upstream gradient
    stage: int | None  # None for the upstream gradient
    op: str
    value: Value
    discarded: bool = False  # wiped out by a later '=' (the bug the notes warn about)


@record(slots=True)
class Step:
    """One backward statement executed."""

    index: int  # 1-based
    stage: int
    line: int
    col: int
    code: str
    source: str
    target: str
    op: str  # "=" or "+="
    before: Value | None
    contribution: Value
    after: Value
    reads: tuple[Read, ...]
    gradient_of: str | None  # the forward name whose gradient this is; None for a local
    overwrites: tuple[int, ...] = ()  # stages whose contributions this '=' discarded
    previous: int = 0  # index of the previous step that wrote the same target (0: none)

    def __new__(cls, index: int, stage: int, line: int, col: int, code: str, source: str, target: str,
                op: str, before: Value | None, contribution: Value, after: Value, reads: tuple[Read, ...],
                gradient_of: str | None, overwrites: tuple[int, ...] = (), previous: int = 0) -> Step:
        self = new_object(_OpenStep)  # frozen, built as a plain object (bpstep.core.records)
        self.index = index
        self.stage = stage
        self.line = line
        self.col = col
        self.code = code
        self.source = source
        self.target = target
        self.op = op
        self.before = before
        self.contribution = contribution
        self.after = after
        self.reads = reads
        self.gradient_of = gradient_of
        self.overwrites = overwrites
        self.previous = previous
        self.__class__ = cls
        return self

    @property
    def accumulates(self) -> bool:
        return self.op == "+="


_OpenCacheEntry, _OpenRead, _OpenStep = open_twin(CacheEntry), open_twin(Read), open_twin(Step)


@record
class Walk:
    scenario: Scenario
    cache: tuple[CacheEntry, ...]
    forward: tuple[Statement, ...]
    backward: tuple[Statement, ...]  # in run order
    output: str
    upstream: Value
    steps: tuple[Step, ...]
    hints: tuple[str, ...] = ()
    known: frozenset[str] = frozenset()  # every input and forward name
    derived: bool = False  # the backward pass was derived by bpstep (no backward: block)
    # earlier versions of re-bound names, as the backward pass reads them: "c_1" -> ("c", 1)
    aliases: dict[str, tuple[str, int]] = field(default_factory=dict)
    _writes: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _bounds: tuple[int, ...] = (0,)

    # -- the shape of the walk ----------------------------------------------------------
    @property
    def upstream_name(self) -> str:
        return "d" + self.output

    @property
    def total(self) -> int:
        return len(self.steps)

    @property
    def stage_count(self) -> int:
        return len(self.forward)

    @property
    def names(self) -> list[str]:
        """Every name the backward pass writes (and the upstream gradient), first write first."""
        return [self.upstream_name] + [n for n in self._writes if n != self.upstream_name]

    def is_gradient(self, name: str) -> bool:
        """``dv`` for a forward or input name ``v`` (or an earlier version ``v_k`` of one);
        any other backward name is a local."""
        return name.startswith("d") and (name[1:] in self.known or name[1:] in self.aliases)

    def gradient_label(self, name: str) -> str | None:
        """What a backward name is the gradient of, as the cache labels it: ``x`` for ``dx``,
        ``c#1`` for ``dc_1`` (an earlier version of a re-bound ``c``) and ``c#2`` for ``dc``
        (its last); None for a local."""
        found = self.aliases.get(name[1:]) if name.startswith("d") else None
        if found:
            return f"{found[0]}#{found[1]}"
        if not self.is_gradient(name):
            return None
        last = self._last_version.get(name[1:], 1)  # dx of a re-bound x: its last version, x#3
        return name[1:] if last == 1 else f"{name[1:]}#{last}"

    @functools.cached_property
    def _last_version(self) -> dict[str, int]:
        return {entry.name: entry.version for entry in self.cache}

    def value_name(self, entry: CacheEntry) -> str:
        """The name the backward pass gives a cached value: ``c`` for the last version of
        ``c``, ``c_1`` for an earlier one (the gradient of a re-bound input is ``dc_1``)."""
        return self._alias_of.get((entry.name, entry.version), entry.name)

    @functools.cached_property
    def input_gradients(self) -> tuple[str, ...]:
        """The gradient names of the inputs, in the file's order: ``dx``, or ``dx_1`` for an
        input ``x`` that the forward pass re-binds (``dx`` is then its last version's)."""
        return tuple("d" + self.value_name(e) for e in self.cache if e.stage is None)

    @functools.cached_property
    def _alias_of(self) -> dict[tuple[str, int], str]:
        return {key: alias for alias, key in self.aliases.items()}

    def step(self, position: int) -> Step | None:
        """The step applied last at ``position`` (None at 0)."""
        return self.steps[position - 1] if 1 <= position <= len(self.steps) else None

    def stage_at(self, position: int) -> int | None:
        """The stage being back-propagated at a position: the last applied step's stage, or
        the first stage to run at the start."""
        step = self.step(position) or self.step(1)
        return step.stage if step else None

    def clamp(self, position: int) -> int:
        return min(max(position, 0), len(self.steps))

    def next_stage(self, position: int) -> int:
        """Position after the whole stage that follows ``position``."""
        index = bisect.bisect_right(self._bounds, position)
        return self._bounds[index] if index < len(self._bounds) else len(self.steps)

    def previous_stage(self, position: int) -> int:
        index = bisect.bisect_left(self._bounds, position) - 1
        return self._bounds[index] if index >= 0 else 0

    def stage_position(self, stage: int) -> int | None:
        """Position after all the steps of ``stage`` (None if no step belongs to it)."""
        found = [s.index for s in self.steps if s.stage == stage]
        return found[-1] if found else None

    # -- values at a position -----------------------------------------------------------
    def cache_value(self, name: str) -> Value:
        """The last cached value of a forward or input name."""
        return next(e.value for e in reversed(self.cache) if e.name == name)

    def step_list(self, name: str) -> list[Step]:
        return [self.steps[i - 1] for i in self._writes.get(name, [])]

    def last_write(self, name: str, position: int) -> int:
        """Index of the last step at or before ``position`` that wrote ``name`` (0: none)."""
        writes = self._writes.get(name, [])
        k = bisect.bisect_right(writes, position)
        return writes[k - 1] if k else 0

    def value_at(self, name: str, position: int) -> Value | None:
        index = self.last_write(name, position)
        if index:
            return self.steps[index - 1].after
        if name == self.upstream_name:
            return self.upstream
        return None

    def gradients_at(self, position: int) -> dict[str, Value]:
        out = {}
        for name in self.names:
            value = self.value_at(name, position)
            if value is not None:
                out[name] = value
        return out

    def contributions_at(self, name: str, position: int) -> list[Contribution]:
        """The contributions ``name`` has received up to ``position``, with their stages;
        those wiped out by a later ``=`` are marked ``discarded``."""
        out: list[Contribution] = []
        if name == self.upstream_name:
            out.append(Contribution(0, None, "=", self.upstream))
        for index in self._writes.get(name, []):
            if index > position:
                break
            step = self.steps[index - 1]
            if step.op == "=":
                out = [Contribution(c.step, c.stage, c.op, c.value, True) for c in out]
            out.append(Contribution(index, step.stage, step.op, step.contribution))
        return out

    def final_state(self) -> dict[str, Value]:
        """:meth:`gradients_at` the end, from each name's last write (no search)."""
        steps = self.steps
        out = {self.upstream_name: self.upstream}  # first, as in names
        for name, writes in self._writes.items():
            out[name] = steps[writes[-1] - 1].after
        return out

    def final_gradients(self) -> dict[str, Value]:
        """The final value of every gradient name (``dv`` of a forward value ``v``)."""
        return {n: v for n, v in self.final_state().items() if self.is_gradient(n)}

    def final_locals(self) -> dict[str, Value]:
        return {n: v for n, v in self.final_state().items() if not self.is_gradient(n)}


# -- running a scenario -------------------------------------------------------------------

def load_walk(path: str, limits: Limits = DEFAULT_LIMITS) -> Walk:
    """Load and run a scenario; every ScenarioError carries ``path``."""
    scenario = load(path, limits)
    with reported_at(path):
        return run(scenario, limits)


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("bpstep_budget", default=None)


def _evaluate(statement: Statement, env, rng, limits: Limits) -> tuple[Value, list[str]]:
    """Evaluate a statement's right-hand side, counting what it keeps against the run's
    budget (set by run(); every value a statement produces is kept by the cache or a step)."""
    return _evaluator(env, rng, limits)(statement)


def _evaluator(env, rng, limits: Limits) -> Callable[[Statement], tuple[Value, list[str]]]:
    """:func:`_evaluate` for many statements over one environment, with one walker. The forward
    and backward loops first try a quick line's own value (``statement.quick``: one operation
    on numbers, with the walker's own scalar case), inline, as they run once per statement."""
    budget = _BUDGET.get()
    walker = Walker(env, None, rng=rng, limits=limits, budget=budget)  # type: ignore[arg-type]

    def evaluate(statement: Statement) -> tuple[Value, list[str]]:
        walker.block = statement.block
        reads = walker.reads = []
        value = walker.evaluate(statement.value, statement.depth)
        if budget is not None:
            budget.keep(value, statement)
        return value, reads

    return evaluate


def _run_inputs(scenario: Scenario, env: dict[str, Value], rng, limits: Limits) -> list[CacheEntry]:
    entries: list[CacheEntry] = []
    if isinstance(scenario.inputs, CodeBlock):
        row: dict[str, int] = {}
        for statement in parse_block(scenario.inputs, limits):
            value, _ = _evaluate(statement, env, rng, limits)
            value = env[statement.target] = _assign(statement, env, value)
            entry = CacheEntry(statement.target, 1, None, value, statement.line, statement.source, statement.col)
            if statement.target in row:  # re-bound while the inputs are computed: an input is its last value
                entries[row[statement.target]] = entry
            else:
                row[statement.target] = len(entries)
                entries.append(entry)
        if not entries:
            raise scenario.inputs.error("'inputs' assigns no names; give at least one input")
        return entries
    for entry in scenario.inputs:
        if entry.name in RESERVED_NAMES:
            raise ScenarioError(f"'{entry.name}' is a reserved name; choose another", entry.line, entry.col)
        if entry.literal is not None:
            value = entry.literal.value
            code = ""
        else:
            statements = parse_block(entry.expression, limits, allow_expression=True)
            if len(statements) != 1 or statements[0].target:
                raise entry.expression.error(f"input '{entry.name}' takes one expression, such as "
                                             "np.random.randn(5, 10)")
            value, _ = _evaluate(statements[0], env, rng, limits)
            code = statements[0].code
        env[entry.name] = value
        entries.append(CacheEntry(entry.name, 1, None, value, entry.line, code, entry.col))
    return entries


def _assign(statement: Statement, env, value: Value) -> Value:
    """The new value of a forward or input statement's target (``=`` or ``+=``)."""
    if statement.op == "=":
        return value
    if statement.target not in env:
        raise statement.error(f"'{statement.target}' has no value to add to yet")
    return _add(statement, env[statement.target], value)


def _add(statement: Statement, before: Value, contribution: Value) -> Value:
    if type(before) is np.float64 and type(contribution) is np.float64:  # two numbers: numpy's
        result = before + contribution  # scalar sum, the ufunc's result without its call
        budget = _BUDGET.get()
        if budget is not None:
            budget.keep(result, statement)
        return result
    try:
        np.broadcast_shapes(shape_of(before), shape_of(contribution))
    except ValueError:
        raise statement.error(f"{statement.target} += ...: shapes {fmt_shape(shape_of(before))} and "
                              f"{fmt_shape(shape_of(contribution))} do not broadcast together") from None
    with np.errstate(all="ignore"):
        result = to_value(np.add(before, contribution))
    budget = _BUDGET.get()
    if budget is not None:  # a += keeps a new array besides its contribution
        budget.keep(result, statement)
    return result


def _upstream(scenario: Scenario, output: str, env: dict[str, Value], rng, limits: Limits) -> Value:
    out_shape = shape_of(env[output])
    spec = scenario.upstream
    name = "d" + output
    if spec is None:
        value: Value = np.float64(1.0) if not out_shape else np.ones(out_shape)
        line, col = 1, 1
    elif isinstance(spec, Literal):
        value, line, col = spec.value, spec.line, spec.col
    else:
        statements = parse_block(spec, limits, allow_expression=True)
        line, col = statements[0].line if statements else 1, statements[0].col if statements else 1
        local: dict[str, Value] = {}
        scope = ChainMap(local, env)
        for statement in statements:
            value, _ = _evaluate(statement, scope, rng, limits)
            if not statement.target:
                local[name] = value
            else:
                local[statement.target] = _assign(statement, scope, value)
        if name not in local:
            raise spec.error(f"'upstream' must give the output's gradient: assign {name} (or write "
                             "one expression)")
        value = local[name]
    shape = shape_of(value)
    if shape != out_shape:
        if shape:
            raise ScenarioError(f"upstream gradient {name} has shape {fmt_shape(shape)}, but the output "
                                f"{output} has shape {fmt_shape(out_shape)}", line, col)
        value = np.full(out_shape, float(value)) if out_shape else value
    return to_value(value)


def run(scenario: Scenario, limits: Limits = DEFAULT_LIMITS,
        backward: list[Statement] | None = None) -> Walk:
    """Evaluate the forward pass, then every backward statement, recording steps.

    ``backward`` replaces the scenario's own backward statements (the derivation uses it).
    """
    token = _BUDGET.set(Budget(limits))
    try:
        with bulk():
            return _run(scenario, limits, backward)
    finally:
        _BUDGET.reset(token)


class LazyRandom:
    """``np.random.RandomState(seed)`` for ``np.random.randn`` and ``rand``, made when first drawn
    from: importing numpy.random is 6 ms of every start, and most scenarios draw nothing. The seed
    is checked when the scenario is read (0 to 2**32-1), so making it later changes no error."""

    def __init__(self, seed: int):
        self.seed = seed
        self._state = None

    def _drawn(self):
        if self._state is None:
            self._state = np.random.RandomState(self.seed)
        return self._state

    @property
    def randn(self):
        return self._drawn().randn

    @property
    def rand(self):
        return self._drawn().rand


def _run(scenario: Scenario, limits: Limits, backward: list[Statement] | None) -> Walk:
    rng = LazyRandom(scenario.seed)
    env: dict[str, Value] = {}
    cache = _run_inputs(scenario, env, rng, limits)
    versions = {entry.name: 1 for entry in cache}

    forward = number_forward(parse_block(scenario.forward, limits, stages="forward"))
    if not forward:
        raise scenario.forward.error("'forward' has no statements; write at least one stage")
    evaluate = _evaluator(env, None, limits)
    max_depth, budget = limits.max_depth, _BUDGET.get()
    for statement in forward:
        quick = statement.quick  # evaluate(statement)'s quick case, inline (as in _run_backward)
        value = quick.value(env) if quick is not None and statement.depth <= max_depth else None
        if value is None:
            value, _ = evaluate(statement)
        elif budget is not None:  # budget.keep of a quick line's value, one number, inline
            budget.elements += 1
            if budget.elements > budget.max_elements:
                raise budget.over(statement)
        target = statement.target
        if statement.op != "=":
            value = _assign(statement, env, value)
        env[target] = value
        version = versions[target] = versions.get(target, 0) + 1
        cache.append(CacheEntry(target, version, statement.stage, value, statement.line, statement.source,
                                    statement.col))

    if scenario.output is not None:
        output, line, col = scenario.output
        if output not in env:
            raise ScenarioError(f"'output' names '{output}', which the forward pass does not assign",
                                line, col)
    else:
        output = forward[-1].target
    known = set(env)
    for entry in cache:
        if entry.name.startswith("d") and entry.name[1:] in known:
            raise ScenarioError(f"'{entry.name}' would be the gradient of '{entry.name[1:]}'; rename "
                                "this value", entry.line, entry.col)
    upstream = _upstream(scenario, output, env, rng, limits)
    # earlier versions of re-bound names are read in the backward pass as c_1, c_2, ...
    alias_entries = version_aliases(cache, known)

    derived = False
    if backward is None:
        if scenario.backward is not None:
            backward = parse_block(scenario.backward, limits, stages="marker")
        else:  # no backward: block; bpstep writes the backward pass itself
            from bpstep.core.derive import derive_backward

            backward = list(derive_backward(forward, cache, output, limits).statements)
            derived = True
    for statement in backward:
        if statement.target in known:
            raise statement.error(f"the backward pass assigns '{statement.target}', a forward value; "
                                  f"assign its gradient d{statement.target} or a new local name")
        if statement.target in alias_entries:
            entry = alias_entries[statement.target]
            raise statement.error(f"the backward pass assigns '{statement.target}', which is "
                                  f"{entry.label}, an earlier value of '{entry.name}'; assign a new "
                                  "local name")
    readable = known | set(alias_entries)  # every forward name and earlier version: dv is a gradient for each
    gradient_names = {"d" + name for name in readable}
    backward = attribute_backward(backward, forward, readable,
                                  functools.partial(_readers, cache, forward, versions, alias_entries))
    backward = sorted(backward, key=attrgetter("stage"), reverse=True)  # stable: source order within a stage
    # env over the earlier versions' aliases, as one dict (dict() of a ChainMap looks up each of
    # 10,000 names through a Python method: 2 ms)
    forward_env = {name: entry.value for name, entry in alias_entries.items()}
    forward_env.update(env)
    # dv is a gradient for every forward name v, earlier versions (c_1) included
    steps, writes = _run_backward(backward, forward_env, gradient_names, output, upstream,
                                  limits)

    bounds = [0] + [s.index for s, nxt in zip(steps, steps[1:] + [None]) if nxt is None or nxt.stage != s.stage]
    return Walk(scenario, tuple(cache), tuple(forward), tuple(backward), output, upstream, tuple(steps),
                tuple(_hints(backward, readable, gradient_names)), frozenset(known), derived=derived,
                aliases={name: (e.name, e.version) for name, e in alias_entries.items()},
                _writes=writes, _bounds=tuple(bounds))


def _readers(cache: list[CacheEntry], forward: list[Statement], versions: dict[str, int],
             alias_entries: dict[str, CacheEntry]) -> dict[str, list[Statement]]:
    """Which stages read each value, by the name the backward pass gives it: x for the last
    version of x, x_1 for an earlier one (so that dx_1 belongs to the stage that read x#1).
    The version a stage read is found by counting the assignments before it again: only a
    backward statement without a marker asks (``versions``: each name's last)."""
    alias_of = {(e.name, e.version): name for name, e in alias_entries.items()}
    current = {entry.name: 1 for entry in cache if entry.stage is None}  # the inputs
    readers: dict[str, list[Statement]] = {}
    for statement in forward:
        for name in statement.reads:
            version = current.get(name)
            if version is not None:
                key = name if version == versions[name] else alias_of.get((name, version))
                if key is not None:
                    readers.setdefault(key, []).append(statement)
        current[statement.target] = current.get(statement.target, 0) + 1
    return readers


def _run_backward(backward: list[Statement], forward_env, gradient_names: set[str],
                  output: str, upstream: Value, limits: Limits) -> tuple[list[Step], dict[str, list[int]]]:
    grads: dict[str, Value] = {"d" + output: upstream}
    scope = dict(forward_env)  # the backward pass never assigns forward names (checked in run)
    scope.update(grads)
    writes: dict[str, list[int]] = {}
    stages_of: dict[str, list[int]] = {"d" + output: []}  # stages of live contributions
    steps: list[Step] = []
    evaluate = _evaluator(scope, None, limits)
    # what each name is when read, one Read per name: a name not in grads when read is forward
    # (or an earlier version), and the backward pass never assigns one of those (checked in run),
    # so a name read once as forward is forward for good, and one in grads stays there
    read_of: dict[str, Read] = {}
    max_depth = limits.max_depth
    budget = _BUDGET.get()
    for index, statement in enumerate(backward, start=1):
        # evaluate(statement)'s quick case, inline: once per statement of a long walk
        quick = statement.quick
        contribution = quick.value(scope) if quick is not None and statement.depth <= max_depth else None
        if contribution is None:
            contribution, read_names = evaluate(statement)
        else:
            if budget is not None:  # budget.keep of a quick line's value, one number, inline
                budget.elements += 1
                if budget.elements > budget.max_elements:
                    raise budget.over(statement)
            read_names = quick.reads
        target = statement.target
        before = grads.get(target)
        overwrites: tuple[int, ...] = ()
        if statement.op == "+=":
            if before is None:
                raise statement.error(f"{target} += ... but {target} has no value yet; the first "
                                      f"contribution is written {target} = ...")
            after = _add(statement, before, contribution)
            stages_of.setdefault(target, []).append(statement.stage)
        else:
            after = contribution
            earlier = stages_of.get(target)
            if earlier:
                overwrites = tuple(sorted({s for s in earlier if s != statement.stage}, reverse=True))
            stages_of[target] = [statement.stage]
        grads[target] = scope[target] = after
        reads = []
        for name in read_names:
            read = read_of.get(name)
            if read is None:
                kind = ("gradient" if name in gradient_names else "local") if name in grads \
                    else "forward"
                read = read_of[name] = Read(name, kind)
            reads.append(read)
        gradient_of = target[1:] if target in gradient_names else None
        previous_writes = writes.setdefault(target, [])
        steps.append(Step(index, statement.stage, statement.line, statement.col, statement.code,
                              statement.source, target, statement.op, before, contribution, after, tuple(reads),
                              gradient_of, overwrites, previous_writes[-1] if previous_writes else 0))
        previous_writes.append(index)
    return steps, writes


MAX_HINT_CHECKS = 50


def _hints(backward: list[Statement], known: set[str], gradient_names: set[str]) -> list[str]:
    """Backward locals that look like misspelled gradient names (the notes' ``dinven``);
    ``gradient_names``: ``dv`` for each ``v`` in ``known``."""
    hints = []
    seen = set(gradient_names)  # the gradient names, and the locals already looked at
    candidates: list[str] = []  # sorted when first needed: most walks have no such local
    checked = 0
    for statement in backward:
        name = statement.target
        if name in seen or name[:1] != "d" or len(name) < 3:  # (one set lookup for most: 15,500 at 10,000 stages)
            continue
        seen.add(name)
        checked += 1
        if checked > MAX_HINT_CHECKS:  # difflib against every name: bounded, not quadratic
            break
        if not candidates:
            import difflib  # (imported here: most walks have no such local)

            candidates = sorted(known)
        close = difflib.get_close_matches(name[1:], candidates, n=1, cutoff=0.75)
        if close:
            hints.append(f"line {statement.line}: {name} is not a gradient name (no forward value is "
                         f"called '{name[1:]}'), so it is a local of the backward pass; did you mean "
                         f"d{close[0]}, the gradient of {close[0]}?")
    return hints


def run_text(text: str, path: str = "<scenario>", limits: Limits = DEFAULT_LIMITS) -> Walk:
    """Parse and run a scenario given as text (for tests and tools)."""
    from bpstep.core.scenario import parse

    with reported_at(path):
        return run(parse(text, path, limits=limits), limits)


