"""``bpstep check``: is a hand-written backward pass right, and if not, which line is wrong?

:func:`check` puts together the step-by-step verdicts of :func:`bpstep.core.verify.verify`
(against the derived reference) and the final gradients, each compared with the reference's
and with central differences (:mod:`bpstep.core.gradcheck`). The pass is right when no step
is a mistake and every final gradient matches: that of every input, and of every other value
whose gradient the pass writes.

A final gradient matches when it equals the derived reference's; central differences are
shown beside it, and decide only when there is no reference. Where they disagree with a
gradient that matches the reference (near a kink such as relu's, say), a note says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpstep.core.engine import Walk
from bpstep.core.expr import DEFAULT_LIMITS, Limits, Value
from bpstep.core.gradcheck import GradientCheck, check_walk
from bpstep.core.findings import Finding, Verification, magnitude, same
from bpstep.core.verify import verify


@dataclass(frozen=True)
class FinalGradient:
    name: str  # "dx"
    of: str  # "x"
    is_input: bool
    value: Value | None  # the hand-written pass's (None: never written)
    expected: Value | None  # the derived reference's (None: no reference, or not written)
    matches_reference: bool | None  # None without a reference
    numeric: GradientCheck | None
    passed: bool
    note: str = ""


@dataclass(frozen=True)
class CheckResult:
    walk: Walk
    verification: Verification
    gradients: tuple[FinalGradient, ...]

    @property
    def hints(self) -> tuple[str, ...]:
        return self.walk.hints

    @property
    def first(self) -> Finding | None:
        return self.verification.first

    @property
    def wrong_gradients(self) -> list[FinalGradient]:
        return [g for g in self.gradients if not g.passed]

    @property
    def passed(self) -> bool:
        return not self.verification.failures and not self.wrong_gradients

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


def check(walk: Walk, limits: Limits = DEFAULT_LIMITS) -> CheckResult:
    verification = verify(walk, limits)
    numeric = check_walk(walk, limits=limits)
    reference = verification.reference
    final = walk.gradients_at(walk.total)
    expected = reference.gradients_at(reference.total) if reference is not None else {}
    names = dict.fromkeys(walk.input_gradients)  # inputs first
    names.update(dict.fromkeys(s.target for s in walk.steps if walk.gradient_label(s.target)))
    inputs = set(walk.input_gradients)  # once: per gradient, it was quadratic (seconds at 10,000 stages)
    out = []
    for name in names:
        if name == walk.upstream_name:
            continue
        value, want = final.get(name), expected.get(name)
        result = numeric.get(name)
        matches = None
        if reference is not None:
            matches = same(value, want, magnitude([want]))
        note = ""
        if matches is not None:
            passed = matches
            if matches and result is not None and not result.passed and result.verdict != "skipped":
                note = (f"central differences disagree ({result.verdict_text}); the reference follows "
                        "bpstep's rules, which pick a side at kinks (relu, max, abs)")
        else:
            passed = result is None or result.passed or result.verdict == "skipped"
        if value is None and not passed:
            note = f"the backward pass never writes {name}"
        out.append(FinalGradient(name, walk.gradient_label(name) or name[1:], name in inputs,
                                 value, want, matches, result, passed, note))
    return CheckResult(walk, verification, tuple(out))


def load_check(path: str, limits: Limits = DEFAULT_LIMITS) -> CheckResult:
    """Load, run and check a scenario; every ScenarioError carries ``path``."""
    from bpstep.core.engine import load_walk
    from bpstep.core.errors import reported_at
    from bpstep.core.expr import quiet

    walk = load_walk(path, limits)
    with reported_at(path), quiet():  # inf and nan are values: no numpy warnings on stderr
        return check(walk, limits)
