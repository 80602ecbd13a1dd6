"""``bpstep check`` in the core: the first wrong line of a hand-written backward pass.

Buggy variants of the seed scenarios live in scenarios/buggy/ (one per kind of mistake);
further variants are made here by replacing one line of a seed scenario. The line each test
expects is found by searching the file for the buggy code, and expected values come from
the closed form of the notes' f(x, y), never from the code under test.
"""

import math
from pathlib import Path

import numpy as np
import pytest

from bpstep.core.check import check
from bpstep.core.engine import load_walk
from bpstep.core.findings import (LOCAL, LOCAL_GRADIENT, MISNAMED, MISSING, OK, OVERWRITE, SHAPE, UNCHECKED,
                                  same)
from bpstep.core.verify import rules_for, verify

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BUGGY = SCENARIOS / "buggy"


def line_of(path: Path, text: str) -> int:
    lines = [i for i, line in enumerate(path.read_text().split("\n"), start=1) if text in line]
    assert len(lines) == 1, (path, text, lines)
    return lines[0]


def variant(tmp_path: Path, seed: str, old: str, new: str, name: str = "variant.yaml") -> Path:
    text = (SCENARIOS / seed).read_text()
    assert text.count(old) == 1, old
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return path


def checked(path: Path):
    return check(load_walk(str(path)))


# The notes' f(x, y) = (x + sig(y)) / (sig(x) + (x + y)**2) at x = 3, y = -4, by hand.
def sig(v):
    return 1 / (1 + math.exp(-v))


X, Y = 3.0, -4.0
NUM = X + sig(Y)
DEN = sig(X) + (X + Y) ** 2
DDEN = -NUM / DEN ** 2
DXPY = 2 * (X + Y) * DDEN
DX_STAGE3 = DXPY + (1 - sig(X)) * sig(X) * DDEN  # dx once stages 4 and 3 are done
DY_FINAL = DXPY + (1 - sig(Y)) * sig(Y) * (1 / DEN)


def central(f, v, h=1e-6):
    return (f(v + h) - f(v - h)) / (2 * h)


DX_FINAL = central(lambda x: (x + sig(Y)) / (sig(x) + (x + Y) ** 2), X)


# -- the seed scenarios are right -----------------------------------------------------------

@pytest.mark.parametrize("name", ["sigmoid", "complex", "matmul", "twolayer"])
def test_the_seed_scenarios_pass(name):
    result = checked(SCENARIOS / f"{name}.yaml")
    assert result.passed and result.exit_code == 0
    assert result.first is None
    assert all(g.passed for g in result.gradients)
    assert all(m.mark in (OK, MISNAMED, LOCAL) for m in result.verification.marks)


def test_complex_passes_with_the_dinven_hint():
    path = SCENARIOS / "complex.yaml"
    result = checked(path)
    assert result.exit_code == 0
    [hint] = result.verification.findings
    assert hint.kind == MISNAMED and not hint.failed
    assert hint.line == line_of(path, "dinven = num") and hint.stage == 8
    assert hint.gradient == "dinvden" and "did you mean dinvden" in hint.message
    assert result.verification.mark(hint.step).mark == MISNAMED
    assert any("did you mean dinvden" in h for h in result.hints)  # the engine's hint, reused
    final = {g.name: g for g in result.gradients}
    assert final["dx"].value == pytest.approx(DX_FINAL, rel=1e-6)
    assert final["dy"].value == pytest.approx(DY_FINAL, rel=1e-12)


def test_the_derived_pass_is_its_own_reference():
    result = checked(SCENARIOS / "twolayer.yaml")
    assert result.walk.derived and result.verification.reference is result.walk
    assert "nothing hand-written" in result.verification.note


# -- one buggy variant per kind of mistake -------------------------------------------------------

def test_overwrite_at_a_fork():
    path = BUGGY / "complex_overwrite.yaml"
    result = checked(path)
    assert result.exit_code == 1
    first = result.first
    assert (first.kind, first.stage, first.line) == (OVERWRITE, 3, line_of(path, "dx = ((1 - sigx)"))
    assert first.code == "dx = ((1 - sigx) * sigx) * dsigx"
    assert "gradients add up at forks: use +=" in first.message and "stage 4" in first.message
    assert first.reference == ("dx += ((1 - sigx) * sigx) * dsigx",)
    assert first.expected == pytest.approx(DX_STAGE3, rel=1e-12)
    assert first.actual == pytest.approx((1 - sig(X)) * sig(X) * DDEN, rel=1e-12)
    assert len(result.verification.failures) == 1
    assert result.verification.mark(first.step).mark == OVERWRITE
    dx = next(g for g in result.gradients if g.name == "dx")
    assert not dx.passed and dx.numeric.verdict == "wrong"


def test_an_overwrite_with_a_wrong_value_too_is_an_overwrite(tmp_path):
    path = variant(tmp_path, "complex.yaml",
                   "  dx += ((1 - sigx) * sigx) * dsigx # Notice += !! See notes below #(3)",
                   "  dx = (1 - sigx) * dsigx #(3)")
    first = checked(path).first
    assert (first.kind, first.stage, first.line) == (OVERWRITE, 3, line_of(path, "dx = (1 - sigx) * dsigx"))
    assert "differs from what the rule gives" in first.message


def test_wrong_local_gradient_shows_the_rule():
    path = BUGGY / "complex_local_gradient.yaml"
    result = checked(path)
    first = result.first
    assert (first.kind, first.stage, first.line) == (LOCAL_GRADIENT, 3, line_of(path, "dx += (1 - sigx) * dsigx"))
    assert first.rules == ("s = 1.0 / (1 + exp(-a)): da = ((1 - s) * s) * g",)
    assert first.expected == pytest.approx(DX_STAGE3, rel=1e-12)
    assert first.actual == pytest.approx(DXPY + (1 - sig(X)) * DDEN, rel=1e-12)
    assert result.exit_code == 1


def test_wrong_local_gradient_in_the_sigmoid_neuron():
    path = BUGGY / "sigmoid_local_gradient.yaml"
    result = checked(path)
    first = result.first
    assert (first.kind, first.stage, first.line) == (LOCAL_GRADIENT, 2, line_of(path, "ddot = (1 - f)"))
    f = sig(2 * -1 + -3 * -2 + -3)
    assert first.expected == pytest.approx((1 - f) * f) and first.actual == pytest.approx(1 - f)
    # the later steps are right by the rule, but fed by the mistake
    later = [result.verification.mark(i) for i in (2, 3)]
    assert all(m.mark == OK and m.matches_reference is False for m in later)
    assert len(result.verification.failures) == 1


def test_missing_contribution():
    path = BUGGY / "complex_missing.yaml"
    result = checked(path)
    first = result.first
    forward_line = line_of(path, "sigy = 1.0 / (1 + math.exp(-y)) # sigmoid in numerator #(1)")
    assert (first.kind, first.stage, first.line) == (MISSING, 1, forward_line)
    assert first.step is None and first.position == result.walk.total
    assert first.gradient == "dy" and first.reference == ("dy += ((1 - sigy) * sigy) * dsigy",)
    assert first.expected == pytest.approx(DY_FINAL, rel=1e-12)
    assert first.actual == pytest.approx(DXPY, rel=1e-12)
    assert result.exit_code == 1


REBOUND_INPUT = """\
bpstep: 1
title: a re-bound input whose own gradient is never written
inputs:
  x: 2.0
forward: |
  x = x * x
  x = x * 3
backward: |
  dx_2 = 3 * dx
"""


def test_a_missing_gradient_of_a_re_bound_input_is_a_mistake(tmp_path):
    """A bad-input hunt: check said RIGHT (exit 0) here. The input is x#1 and its gradient dx_1
    (dx is the output's); the inputs were looked for as dx."""
    path = tmp_path / "rebound.yaml"
    path.write_text(REBOUND_INPUT)
    result = checked(path)
    first = result.first
    assert result.exit_code == 1 and first is not None
    assert (first.kind, first.stage, first.gradient) == (MISSING, 1, "dx_1")
    assert first.expected == pytest.approx(2 * 2.0 * 3, rel=1e-12)  # d(3 x^2)/dx at x = 2
    assert [g.name for g in result.gradients][:1] == ["dx_1"]
    # a review: is_input was tested as name[1:], so dx (the output's) was the input, dx_1 not
    assert {g.name: g.is_input for g in result.gradients} == {"dx_1": True, "dx_2": False}


def test_wrong_shape_with_the_dimension_analysis():
    path = BUGGY / "matmul_shape.yaml"
    result = checked(path)
    first = result.first
    assert (first.kind, first.stage, first.line) == (SHAPE, 1, line_of(path, "dW = X.dot(dD.T)"))
    assert "(10,5)" in first.message and "W has shape (5,10)" in first.message
    assert first.dimensions == "dW (10,5) = X (10,3) . dD.T (3,5)"
    assert first.reference_dimensions == ("dW (5,10) = dD (5,3) . X.T (3,10)",)
    assert result.verification.mark(2).mark == OK  # dX is right
    assert result.exit_code == 1


# -- robust to how a pass is written ---------------------------------------------------------------

RIGHT_VARIANTS = {
    "split": ("  dx = (1) * dxpy                                            #(4)\n",
              "  dx = 0.25 * dxpy #(4)\n  dx += 0.75 * dxpy #(4)\n"),
    "explicit-add": ("  dx += ((1 - sigx) * sigx) * dsigx # Notice += !! See notes below #(3)",
                     "  dx = dx + ((1 - sigx) * sigx) * dsigx #(3)"),
    "combined": ("  dxpysqr = (1) * dden #(6)", "  dxpysqr = dsigx #(6)"),
    "folded-stage": ("  dsigy = (1) * dnum                                         #(2)\n"
                     "  # backprop sigy = 1.0 / (1 + math.exp(-y))\n"
                     "  dy += ((1 - sigy) * sigy) * dsigy                         #(1)",
                     "  dy += ((1 - sigy) * sigy) * dnum #(1)"),
    "local": ("  dxpy = (2 * xpy) * dxpysqr                                #(5)",
              "  twice = 2 * xpy #(5)\n  dxpy = twice * dxpysqr #(5)"),
    "reordered": ("  dsigx = (1) * dden #(6)\n  dxpysqr = (1) * dden #(6)",
                  "  dxpysqr = dden #(6)\n  dsigx = dden #(6)"),
}


@pytest.mark.parametrize("name", list(RIGHT_VARIANTS))
def test_right_however_the_lines_are_split_or_combined(tmp_path, name):
    old, new = RIGHT_VARIANTS[name]
    result = checked(variant(tmp_path, "complex.yaml", old, new))
    assert result.passed, [f.message for f in result.verification.failures]
    assert result.exit_code == 0


TWICE = "bpstep: 1\ntitle: a + a\ninputs: {x: 3.0}\nforward: |\n  a = x * x\n  b = a + a\nbackward: |\n"


def test_the_wrong_line_of_a_stage_split_as_the_rule_splits_it(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(TWICE + "  da = db\n  da += 3 * db\n  dx = 2 * x * da\n")
    first = checked(path).first
    assert (first.kind, first.stage, first.line) == (LOCAL_GRADIENT, 2, 9)


def test_a_stage_split_otherwise_is_judged_as_a_whole(tmp_path):
    path = variant(tmp_path, "complex.yaml", "  dx = (1) * dxpy                                            #(4)\n",
                   "  dx = 0.25 * dxpy #(4)\n  dx += 0.5 * dxpy #(4)\n")
    result = checked(path)
    first = result.first
    assert (first.kind, first.stage) == (LOCAL_GRADIENT, 4)
    assert first.line in (line_of(path, "dx = 0.25 * dxpy"), line_of(path, "dx += 0.5 * dxpy"))
    assert first.expected == pytest.approx(DXPY) and first.actual == pytest.approx(0.75 * DXPY)


def test_a_misnamed_local_with_a_wrong_value_is_the_first_mistake(tmp_path):
    path = variant(tmp_path, "complex.yaml", "  dinven = num #(8)", "  dinven = 2 * num #(8)")
    result = checked(path)
    first = result.first
    assert (first.kind, first.stage, first.line) == (LOCAL_GRADIENT, 8, line_of(path, "dinven = 2 * num"))
    assert "did you mean dinvden" in first.message
    assert first.expected == pytest.approx(NUM)
    # dden reads dinven: judged from the value the pass used, it follows the rule
    dden = next(m for s, m in zip(result.walk.steps, result.verification.marks) if s.target == "dden")
    assert dden.mark == OK and dden.matches_reference is False
    assert len(result.verification.failures) == 1


def test_a_contribution_the_stage_does_not_send(tmp_path):
    path = variant(tmp_path, "complex.yaml", "  dxpy = (2 * xpy) * dxpysqr                                #(5)",
                   "  dxpy = (2 * xpy) * dxpysqr #(5)\n  dx = 0.1 * dxpysqr #(5)")
    result = checked(path)
    first = result.first
    assert (first.kind, first.stage, first.line) == (LOCAL_GRADIENT, 5, line_of(path, "dx = 0.1 * dxpysqr"))
    assert "sends no gradient to x" in first.message
    # ... and the next stage's '=' now throws that away: also a mistake
    assert [f.kind for f in result.verification.failures] == [LOCAL_GRADIENT, OVERWRITE]


def test_a_second_assignment_in_one_stage(tmp_path):
    path = variant(tmp_path, "complex.yaml", "  dy = (1) * dxpy                                            #(4)",
                   "  dy = (1) * dxpy #(4)\n  dy = 2 * dxpy #(4)")
    first = checked(path).first
    assert first.line == line_of(path, "dy = 2 * dxpy") and first.kind == LOCAL_GRADIENT


def test_one_of_two_contributions_of_a_stage(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(TWICE + "  da = db\n  dx = 2 * x * da\n")
    result = checked(path)
    first = result.first
    assert (first.kind, first.stage, first.line, first.step) == (MISSING, 2, 8, 1)
    assert first.expected == 2.0 and first.actual == 1.0
    assert next(g for g in result.gradients if g.name == "dx").value == 6.0  # half of 4x = 12


def test_a_wrong_shape_upstream_does_not_stop_the_next_stage(tmp_path):
    path = tmp_path / "chain.yaml"
    path.write_text("bpstep: 1\ntitle: t\nseed: 0\ninputs: |\n  W = np.random.randn(2, 3)\n"
                    "  X = np.random.randn(3, 4)\nforward: |\n  H = W.dot(X)\n  f = np.sum(H * 2)\n"
                    "backward: |\n  dH = (2 * np.ones_like(H)).T * df\n  dW = dH.T.dot(X.T)\n"
                    "  dX = W.T.dot(dH.T)\n")
    result = checked(path)
    first = result.first
    assert (first.kind, first.stage, first.line) == (SHAPE, 2, 11)
    assert result.exit_code == 1


# -- without a derived reference -----------------------------------------------------------------

NO_REFERENCE = """bpstep: 1
title: no reference
inputs: {x: 3.0, c_1: 1.0}
forward: |
  c = x * 2
  c += c * 3
  f = c * c_1
backward: |
  dc = c_1 * df
  dc_1 = c * df #(3)
  g = 4 * dc #(2)
  dx = 2 * g
"""


def test_without_a_reference_central_differences_decide(tmp_path):
    path = tmp_path / "noref.yaml"
    path.write_text(NO_REFERENCE)
    result = checked(path)
    assert result.verification.reference is None and "no derived reference" in result.verification.note
    assert result.passed
    assert {m.mark for m in result.verification.marks} == {UNCHECKED, LOCAL}
    path.write_text(NO_REFERENCE.replace("dx = 2 * g", "dx = 3 * g"))
    result = checked(path)
    assert result.exit_code == 1 and result.first is None
    assert [g.name for g in result.wrong_gradients] == ["dx"]


def test_without_a_reference_an_overwrite_is_still_found(tmp_path):
    path = tmp_path / "noref.yaml"
    path.write_text(NO_REFERENCE.replace("  f = c * c_1\n", "  f = c * c_1 + x\n")
                    .replace("  g = 4 * dc #(2)\n", "  dx = (1) * df #(3)\n  g = 4 * dc #(2)\n")
                    .replace("  dx = 2 * g\n", "  dx = 2 * g #(1)\n"))
    result = checked(path)
    assert result.verification.reference is None
    first = result.first
    assert (first.kind, first.stage, first.line) == (OVERWRITE, 1, 13)
    assert "stage 3" in first.message
    assert result.exit_code == 1


# -- the API a TUI uses --------------------------------------------------------------------------

def test_marks_cover_every_step_and_point_at_findings():
    walk = load_walk(str(BUGGY / "complex_overwrite.yaml"))
    verification = verify(walk)
    assert [m.index for m in verification.marks] == [s.index for s in walk.steps]
    marked = [m for m in verification.marks if m.finding is not None]
    assert all(verification.findings[m.finding].step == m.index for m in marked)
    assert verification.first_position == 9 == walk.steps[8].index
    assert verification.findings_at(9) == [verification.first]
    assert [m.failed for m in verification.marks].index(True) == 8


def test_verify_reuses_a_given_reference_and_changes_nothing():
    walk = load_walk(str(BUGGY / "complex_overwrite.yaml"))
    before = [(s.target, s.after) for s in walk.steps]
    first = verify(walk)
    again = verify(walk, reference=first.reference)
    assert again.reference is first.reference
    assert [m.mark for m in again.marks] == [m.mark for m in first.marks]
    assert [(s.target, s.after) for s in walk.steps] == before


def test_rules_on_the_way_to_a_name():
    walk = load_walk(str(SCENARIOS / "sigmoid.yaml"))
    dot = walk.forward[0]
    assert rules_for(dot, "x") == (
        "a + b: da = g, db = g", "a * b: da = b * g, db = a * g", "x[i]: dx = scatter(x[i], g)")
    assert rules_for(walk.forward[1], "dot") == ("s = 1.0 / (1 + exp(-a)): da = ((1 - s) * s) * g",)


def test_same_compares_shapes_values_and_missing_values():
    assert same(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]))
    assert not same(np.array([1.0, 2.0]), np.array([1.0, 2.001]))
    assert not same(np.zeros((2, 3)), np.zeros((3, 2)))
    assert same(None, np.zeros(3)) and not same(None, np.ones(3))
    assert same(np.array([np.nan, np.inf]), np.array([np.nan, np.inf]))
    assert not same(np.array([np.inf]), np.array([-np.inf]))
