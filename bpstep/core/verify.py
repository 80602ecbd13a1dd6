"""Step by step: a hand-written backward pass against the one bpstep derives.

:func:`verify` judges every step of a walk on its own merits. Stage by stage (last first, as
the backward pass runs), it evaluates the derived reference's statements for that stage with
the walker, in an environment holding the gradients *the hand-written pass* has at that point
(the reference's own value where the hand-written pass has no such name, as for the notes'
``dinven``). So each stage gets the contribution the rules give from the gradients it was
given, and one wrong stage does not make every later one look wrong.

For each stage and gradient name, the value the hand-written pass leaves (after all its
statements of that stage, however it splits or combines them) is compared with the value
before the stage plus the expected contributions. A mismatch is one of:

``overwrite``       an ``=`` that throws away what another stage already contributed
``local_gradient``  the value differs from what the rule gives
``missing``         the stage sends a gradient to one of its inputs that is never added
``shape``           a gradient whose shape is not the shape of its value

and a backward local holding a gradient the pass never writes under its own name is
``misnamed``: a hint, not a failure. Each step gets a mark (:class:`StepMark`), for a TUI to
show as the step is taken; :attr:`Verification.first` is the first mistake in run order.
"""

from __future__ import annotations

import ast
import difflib
from collections import ChainMap
from typing import Any, Iterable

import numpy as np

from bpstep.core.engine import Step, Walk, run
from bpstep.core.errors import ScenarioError
from bpstep.core.expr import DEFAULT_LIMITS, Limits, Value, Walker, bulk
from bpstep.core.findings import (LOCAL, LOCAL_GRADIENT, MISNAMED, MISSING, OK, OVERWRITE, SHAPE, UNCHECKED,
                                  Finding, StepMark, Verification, add_values, magnitude, same,
                                  shape_or_none)
from bpstep.core.rules import RULES, classify


# -- the reference ------------------------------------------------------------------------------

def reference_walk(walk: Walk, limits: Limits = DEFAULT_LIMITS) -> tuple[Walk | None, str]:
    """The derived backward pass of the walk's scenario, run; or None and why not."""
    if walk.derived:
        return walk, "the scenario has no backward: block; bpstep derived it, so there is nothing " \
                     "hand-written to check"
    from bpstep.core.derive import derive_backward

    try:  # the walk's forward pass and cache are the scenario's: derived from them, not run again
        derivation = derive_backward(walk.forward, walk.cache, walk.output, limits)
        return run(walk.scenario, limits, backward=list(derivation.statements)), ""
    except ScenarioError as exc:
        return None, f"no derived reference ({exc.message}); the gradients are checked by central " \
                     "differences only"


def rules_for(statement, name: str) -> tuple[str, ...]:
    """Formulas of the rules met on the way from a forward statement's result down to each
    place it reads ``name`` (outermost first)."""
    found: list[str] = []

    def visit(node: ast.AST) -> bool:
        kind, args, _ = classify(node)
        if kind == "name":
            return node.id == name
        hit = False
        for arg in args:
            if visit(arg):
                hit = True
        rule = RULES.get(kind)
        if hit and rule is not None and rule.formula not in found:
            found.insert(0, rule.formula)
        return hit

    visit(statement.value)
    if statement.op == "+=" and RULES["add"].formula not in found:  # c += e is c = c + e
        found.insert(0, RULES["add"].formula)
    return tuple(found)


# -- the comparison ---------------------------------------------------------------------------

def verify(walk: Walk, limits: Limits = DEFAULT_LIMITS, reference: Walk | None = None) -> Verification:
    """Judge every step of ``walk`` against the derived reference (see the module docstring).
    Pure: neither walk is changed; ``reference`` may be given to skip deriving it again."""
    with bulk(collect=True):  # the collector paused (at 100,000 stages it was half the time)
        note = ""
        if reference is None:
            reference, note = reference_walk(walk, limits)
        elif reference is walk:
            note = "the walk is its own reference"
        return _Judge(walk, reference, limits).run(note)


class _Judge:
    def __init__(self, walk: Walk, reference: Walk | None, limits: Limits):
        self.walk, self.ref, self.limits = walk, reference, limits
        self.forward_env = _forward_env(walk)
        self.forward_of = {s.stage: s for s in walk.forward}
        self.inputs = set(walk.input_gradients)
        self.written = {s.target for s in walk.steps if self.gradient(s.target)}
        self.marks: dict[int, StepMark] = {}
        self.findings: list[Finding] = []
        # the value each gradient name is of: dv -> v's last version, dc_1 -> c's first
        self.values = {"d" + name: value for name, value in self.forward_env.items()}

    def gradient(self, name: str) -> bool:
        return self.walk.gradient_label(name) is not None

    def value_shape(self, name: str) -> tuple[int, ...]:
        """The shape of the value whose gradient ``name`` is."""
        return tuple(np.shape(self.values[name]))

    def run(self, note: str) -> Verification:
        walk, ref = self.walk, self.ref
        if ref is None:
            self._without_reference()
        else:
            h_state: dict[str, Value] = {walk.upstream_name: walk.upstream}
            r_state: dict[str, Value] = {ref.upstream_name: ref.upstream}
            h_steps, r_steps = _by_stage(walk.steps), _by_stage(ref.steps)
            done = 0
            for stage in sorted(self.forward_of, reverse=True):
                mine, theirs = h_steps.get(stage, []), r_steps.get(stage, [])
                done += len(mine)
                self._stage(stage, mine, theirs, h_state, r_state, done)
        marks = tuple(self.marks.get(s.index) or StepMark(s.index, UNCHECKED, None) for s in walk.steps)
        order = sorted(range(len(self.findings)),
                       key=lambda i: (self.findings[i].position, self.findings[i].step is None, i))
        renumber = {old: new for new, old in enumerate(order)}
        marks = tuple(StepMark(m.index, m.mark, m.matches_reference,
                               None if m.finding is None else renumber[m.finding]) for m in marks)
        return Verification(marks, tuple(self.findings[i] for i in order), ref, note)

    # -- without a reference, only what needs none: overwrites and shapes -----------------
    def _without_reference(self) -> None:
        for step in self.walk.steps:
            if not self.gradient(step.target):
                self.marks[step.index] = StepMark(step.index, LOCAL, None)
                continue
            if shape_or_none(step.after) != self.value_shape(step.target):
                self._add_finding(self._shape_finding(step, [], None), step)
            elif step.overwrites:
                self._add_finding(self._overwrite_finding(step, None, [], None), step)
            else:
                self.marks[step.index] = StepMark(step.index, UNCHECKED, None)

    # -- one stage -----------------------------------------------------------------------------
    def _stage(self, stage: int, mine: list[Step], theirs: list[Step], h_state: dict, r_state: dict,
               done: int) -> None:
        expected = self._expected(theirs, h_state, r_state)
        groups: dict[str, list[Step]] = {}
        local_steps = []
        for step in mine:
            if self.gradient(step.target):
                groups.setdefault(step.target, []).append(step)
            else:
                local_steps.append(step)
        unwritten: dict[str, Value] = {}  # expected gradients the pass writes under no name
        for name in list(groups) + [n for n in expected if n not in groups]:
            before = h_state.get(name)
            contributions = expected.get(name, [])
            want = before
            for value in contributions:
                want = add_values(want, value)
            steps = groups.get(name, [])
            have = steps[-1].after if steps else before
            scale = magnitude([before, *contributions, *(s.contribution for s in steps)])
            shaped = all(shape_or_none(s.after) == self.value_shape(name) for s in steps)
            good = shaped and same(have, want, scale)
            if good:
                continue
            if steps:
                self._judge_group(stage, name, steps, contributions, theirs, want, have, scale)
            elif name in self.inputs or name in self.written:
                self._missing(stage, name, None, contributions, theirs, want, have, done)
            else:
                unwritten[name] = want
        stand_ins = {}
        for step in local_steps:
            name = self._local(stage, step, unwritten, theirs)
            if name is not None:
                stand_ins[name] = step.after
        # the stage is done: apply both passes' writes, then compare values with the reference
        for step in mine:
            if self.gradient(step.target):
                h_state[step.target] = step.after
        h_state.update(stand_ins)  # later stages are judged from the local's value, as the pass uses it
        for step in theirs:
            r_state[step.target] = step.after
        for name, steps in groups.items():
            matches = same(h_state.get(name), r_state.get(name), magnitude([r_state.get(name)]))
            for step in steps:
                old = self.marks.get(step.index)
                if old is None:
                    self.marks[step.index] = StepMark(step.index, OK, matches)
                else:
                    self.marks[step.index] = StepMark(step.index, old.mark, matches, old.finding)

    def _expected(self, theirs: list[Step], h_state: dict, r_state: dict) -> dict[str, list[Value]]:
        """The reference's contributions for this stage, from the hand-written pass's gradients
        (the reference's own where the pass has no such name); its recorded ones if they fail."""
        out: dict[str, list[Value]] = {}
        written: dict[str, Value] = {}
        scope = ChainMap(written, h_state, r_state, self.forward_env)
        try:
            for step in theirs:
                statement = self.ref.backward[step.index - 1]
                walker = Walker(scope, statement.block, limits=self.limits)
                value = walker.evaluate(statement.value, statement.depth)
                out.setdefault(step.target, []).append(value)
                written[step.target] = add_values(scope.get(step.target), value) if step.op == "+=" else value
        except ScenarioError:
            out = {}
            for step in theirs:
                out.setdefault(step.target, []).append(step.contribution)
        return out

    def _judge_group(self, stage: int, name: str, steps: list[Step], contributions: list[Value],
                     theirs: list[Step], want: Value, have: Value, scale: float) -> None:
        for step in steps:
            if shape_or_none(step.after) != self.value_shape(name):
                self._add_finding(self._shape_finding(step, theirs, want), step)
                return
        for step in steps:
            if step.overwrites:
                self._add_finding(self._overwrite_finding(step, want, theirs, contributions, scale), step)
                return
        pool = list(contributions)
        for step in steps:
            effective = step.contribution
            if step.op == "=" and step.before is not None:  # dx = dx + c: c; dx = c (same stage): c - before
                with np.errstate(all="ignore"):
                    effective = np.subtract(step.after, step.before)
            match = next((i for i, c in enumerate(pool) if same(effective, c, scale)), None)
            if match is not None:
                pool.pop(match)
                continue
            replaced = step.op == "=" and step.before is not None  # '=' after a contribution, this stage's
            if replaced and any(same(step.contribution, c, scale) for c in pool):
                finding = self._overwrite_finding(step, want, theirs, contributions, scale)
            else:
                finding = self._wrong_finding(stage, name, step, theirs, want, have, contributions)
            self._add_finding(finding, step)
            return
        self._missing(stage, name, steps[-1], pool, theirs, want, have, steps[-1].index)

    # -- findings -------------------------------------------------------------------------------
    def _add_finding(self, finding: Finding, step: Step | None) -> None:
        self.findings.append(finding)
        number = len(self.findings) - 1
        if step is not None:
            self.marks[step.index] = StepMark(step.index, finding.kind, None, number)

    def _common(self, stage: int, name: str, theirs: list[Step]) -> dict[str, Any]:
        statement = self.forward_of[stage]
        label = self.walk.gradient_label(name) or name[1:]
        read = self.walk.aliases[name[1:]][0] if name[1:] in self.walk.aliases else name[1:]
        reference = tuple(self.ref.backward[s.index - 1].code for s in theirs if s.target == name) \
            if self.ref is not None else ()
        return {"stage": stage, "gradient": name, "of": label, "forward": statement.code,
                "rules": rules_for(statement, read), "reference": reference}

    def _dimensions(self, step: Step, theirs: list[Step]) -> dict[str, Any]:
        """The dimension analysis of the step and of the reference's statements for its target
        (:mod:`bpstep.core.matrix`), for steps with a matrix product."""
        from bpstep.core.matrix import dimension_analysis

        mine = dimension_analysis(self.walk, step) or ""
        theirs_text = tuple(text for text in (dimension_analysis(self.ref, other) for other in theirs
                                              if other.target == step.target) if text) \
            if self.ref is not None else ()
        return {"dimensions": mine, "reference_dimensions": theirs_text}

    def _shape_finding(self, step: Step, theirs: list[Step], want: Value | None) -> Finding:
        common = self._common(step.stage, step.target, theirs)
        from bpstep.core.matrix import compact_shape

        shape, target = compact_shape(step.after), compact_shape(self.values[step.target])
        message = (f"{step.target} has shape {shape}, but {common['of']} has shape {target}: a gradient "
                   f"has the shape of its value")
        return Finding(SHAPE, line=step.line, code=step.code, step=step.index, position=step.index,
                       message=message, expected=want, actual=step.after,
                       **self._dimensions(step, theirs), **common)

    def _overwrite_finding(self, step: Step, want: Value | None, theirs: list[Step],
                           contributions: list[Value] | None, scale: float = 1.0) -> Finding:
        common = self._common(step.stage, step.target, theirs)
        stages = ", ".join(str(s) for s in step.overwrites)
        what = f"what stage{'s' * (len(step.overwrites) > 1)} {stages} already gave {step.target}" \
            if step.overwrites else f"what {step.target} already held"
        message = f"'=' throws away {what}: gradients add up at forks: use +="
        if contributions is not None and not any(same(step.contribution, c, scale) for c in contributions) \
                and not same(step.contribution, _sum(contributions), scale):
            message += " (and the value it adds differs from what the rule gives)"
        return Finding(OVERWRITE, line=step.line, code=step.code, step=step.index, position=step.index,
                       message=message, expected=want, actual=step.after, **common)

    def _wrong_finding(self, stage: int, name: str, step: Step, theirs: list[Step], want: Value,
                       have: Value, contributions: list[Value]) -> Finding:
        common = self._common(stage, name, theirs)
        statement = self.forward_of[stage]
        if not contributions:
            message = (f"stage {stage} ({statement.code}) sends no gradient to {common['of']}, but "
                       f"line {step.line} adds to {name}")
        else:
            message = f"{name} differs from what the rule gives"
        locals_read = [r.name for r in step.reads if r.kind == "local"]
        if locals_read:
            message += f"; it reads the backward local{'s' * (len(locals_read) > 1)} {', '.join(locals_read)}"
        return Finding(LOCAL_GRADIENT, line=step.line, code=step.code, step=step.index, position=step.index,
                       message=message, expected=want, actual=have,
                       **self._dimensions(step, theirs), **common)

    def _missing(self, stage: int, name: str, step: Step | None, contributions: list[Value],
                 theirs: list[Step], want: Value, have: Value, position: int) -> None:
        common = self._common(stage, name, theirs)
        statement = self.forward_of[stage]
        if step is None:
            message = (f"stage {stage} reads {common['of']}, but the backward pass never adds this "
                       f"stage's contribution to {name}")
            line, code = statement.line, statement.code
        else:
            message = f"{name} misses part of what stage {stage} sends it"
            line, code = step.line, step.code
        self._add_finding(Finding(MISSING, line=line, code=code, step=None if step is None else step.index,
                                  position=position, message=message, expected=want, actual=have, **common),
                          step)

    def _local(self, stage: int, step: Step, unwritten: dict[str, Value], theirs: list[Step]) -> str | None:
        """Mark a backward local; if it stands for a gradient this stage sends but the pass
        never writes under its own name (the notes' ``dinven`` for ``dinvden``), judge it as
        that gradient and return the gradient's name."""
        for name, want in unwritten.items():
            if step.target.startswith("d") and same(step.after, want, magnitude([want])):
                common = self._common(stage, name, theirs)
                message = (f"{step.target} holds the gradient of {common['of']}; as it is not called "
                           f"{name}, bpstep treats it as a local of the backward pass: did you mean {name}?")
                self._add_finding(Finding(MISNAMED, line=step.line, code=step.code, step=step.index,
                                          position=step.index, message=message, expected=want,
                                          actual=step.after, **common), step)
                return name
        close = difflib.get_close_matches(step.target, list(unwritten), n=1, cutoff=0.75)
        if close:  # spelt like the gradient, but its value is not the gradient's
            name = close[0]
            common = self._common(stage, name, theirs)
            message = (f"{step.target} (did you mean {name}?) stands for the gradient of {common['of']}, "
                       "and differs from what the rule gives")
            self._add_finding(Finding(LOCAL_GRADIENT, line=step.line, code=step.code, step=step.index,
                                      position=step.index, message=message, expected=unwritten[name],
                                      actual=step.after, **common), step)
            return name
        self.marks[step.index] = StepMark(step.index, LOCAL, None)
        return None


def _sum(values: list[Value]) -> Value | None:
    total = None
    for value in values:
        total = add_values(total, value)
    return total


def _by_stage(steps: Iterable[Step]) -> dict[int, list[Step]]:
    out: dict[int, list[Step]] = {}
    for step in steps:
        out.setdefault(step.stage, []).append(step)
    return out


def _forward_env(walk: Walk) -> dict[str, Value]:
    """The forward values as the backward pass reads them: last values, and earlier versions
    of re-bound names under their aliases (``c_1``)."""
    env = {entry.name: entry.value for entry in walk.cache}
    by_version = {(entry.name, entry.version): entry.value for entry in walk.cache}  # not a scan per alias
    for alias, key in walk.aliases.items():
        env[alias] = by_version[key]
    return env
