"""The numeric gradient check: its verdicts, its numbers, and where it shows up."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bpstep.core.engine import load_walk, run
from bpstep.core.gradcheck import check_walk, relative_errors, verdict
from bpstep.core.report import json_text, text_report
from bpstep.core.scenario import parse
from derive_support import scenario_text

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def walk_of(text):
    return run(parse(text, "<test>"))


@pytest.mark.parametrize("error,expected", [
    (0.0, "good"), (1e-9, "good"), (1e-7, "good"), (2e-7, "kink"), (1e-4, "kink"),
    (1.1e-4, "suspicious"), (1e-2, "suspicious"), (0.011, "wrong"), (1.0, "wrong"),
])
def test_verdict_bands(error, expected):
    assert verdict(error) == expected


def test_relative_error_is_cs231n():
    assert relative_errors(0.0, 0.0)[()] == 0.0  # 0/0 is 0
    assert relative_errors(1.0, 0.0)[()] == 1.0
    assert relative_errors(2.0, 1.0)[()] == pytest.approx(0.5)
    assert relative_errors(-1.0, 1.0)[()] == pytest.approx(2.0)
    assert relative_errors([1e-12, 1.0], [0.0, 1.0], floor=1e-10).tolist() == [0.0, 0.0]


def test_numeric_gradients_of_the_staged_example():
    report = check_walk(load_walk(str(SCENARIOS / "complex.yaml")))
    sigma = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    x, y = 3.0, -4.0
    # closed form: d/dx of (x + s(y)) / (s(x) + (x + y)^2)
    num, den = x + sigma(y), sigma(x) + (x + y) ** 2
    dx = 1 / den - num * (sigma(x) * (1 - sigma(x)) + 2 * (x + y)) / den**2
    dy = sigma(y) * (1 - sigma(y)) / den - num * 2 * (x + y) / den**2
    assert report.results["dx"].numeric == pytest.approx(dx, rel=1e-8)
    assert report.results["dy"].numeric == pytest.approx(dy, rel=1e-8)
    assert report.passed
    # the notes' misspelled dinven is a local, so dinvden is not written and not checked
    assert "dinvden" not in report.results and "dden" in report.results


WRONG = """bpstep: 1
title: wrong
inputs:
  x: 3.0
  y: -4.0
forward: |
  q = x + y
  f = q * x
backward: |
  dq = x * df
  dx = q * df
  dx = (1) * dq
  dy = (1) * dq
"""


def test_the_overwrite_bug_is_wrong():
    report = check_walk(walk_of(WRONG))
    assert report.results["dx"].verdict == "wrong"
    assert report.results["dy"].verdict == "good"
    assert report.results["dq"].verdict == "good"
    assert not report.passed
    fixed = check_walk(walk_of(WRONG.replace("dx = (1) * dq", "dx += (1) * dq")))
    assert fixed.results["dx"].verdict == "good" and fixed.passed


def test_a_missing_input_gradient_is_checked_as_zero():
    report = check_walk(walk_of(WRONG.replace("  dy = (1) * dq\n", "")))
    dy = report.results["dy"]
    assert not dy.written and dy.verdict == "wrong" and "does not write" in dy.note
    unused = check_walk(walk_of(scenario_text({"x": 1.0, "z": 2.0}, "f = x * 2")))
    assert unused.results["dz"].verdict == "good" and unused.results["dz"].numeric == 0


def test_a_gradient_of_the_wrong_shape_is_wrong():
    text = scenario_text({"x": [1.0, 2.0]}, "f = np.sum(x * x)", backward="dx = np.sum(2 * x) * df")
    result = check_walk(walk_of(text)).results["dx"]
    assert result.verdict == "wrong" and "shape" in result.note and result.relative_error is None


def test_large_values_are_sampled_and_the_budget_is_kept():
    x = np.linspace(-1, 1, 150).round(4)
    walk = walk_of(scenario_text({"x": x}, "f = np.sum(x * x)"))
    result = check_walk(walk).results["dx"]
    assert result.checked == 100 and result.elements == 150 and "100 of 150" in result.note
    assert result.verdict == "good"
    assert np.allclose(result.numeric[~np.isnan(result.numeric)], 2 * x[~np.isnan(result.numeric)])
    skipped = check_walk(walk, budget=0).results["dx"]
    assert skipped.verdict == "skipped" and skipped.relative_error is None


def test_a_kink_shows():
    # relu at a point 1e-6 from its kink: the nudge crosses it (central differences: 0.55)
    walk = walk_of(scenario_text({"z": [1e-6, 1.0]}, "h = np.maximum(0, z)"))
    result = check_walk(walk).results["dz"]
    assert result.verdict == "wrong"  # the numeric gradient is 0.55 at the first element
    assert result.numeric[0] == pytest.approx(0.55)
    # its one-sided differences change with the step (left 0.1 at h, 0.2 at h/2): not at a kink
    assert "kink" not in result.note


@pytest.mark.parametrize("written,side", [("0 * dh", "left"), ("1 * dh", "right"), ("0.3 * dh", None)])
def test_exactly_at_a_kink_the_note_gives_both_sides(written, side):
    """relu at 0: one-sided differences 0 and 1, central 0.5 (a newcomer's run: bpstep's own
    derived gradient was 'wrong' at a kink, with no word why). The verdict stays: a note says
    it is a kink and which side the gradient takes."""
    walk = walk_of(scenario_text({"z": 0.0}, "h = np.maximum(0, z)", backward=f"dz = {written}"))
    result = check_walk(walk).results["dz"]
    assert result.numeric == pytest.approx(0.5) and result.verdict == "wrong"
    assert "at a kink: its one-sided differences are 0 (left) and 1 (right)" in result.note
    assert ("takes the" in result.note) == (side is not None)
    if side:
        assert f"takes the {side} one" in result.note


@pytest.mark.parametrize("forward,inputs,backward", [
    # a review: a smooth function whose left difference is 0 only by curvature (h f''/2)
    ("h = 1000000 * x * x", {"x": 0.000005}, "dx = 0 * dh"),
    # a review: a tie in max sent to both sides, each "one side" of its own kink
    ("m = np.maximum(a, b)", {"a": 1.0, "b": 1.0}, "da = (a >= b) * dm\ndb = (b >= a) * dm"),
])
def test_a_wrong_gradient_is_not_excused_by_a_kink(forward, inputs, backward):
    walk = walk_of(scenario_text(inputs, forward, backward=backward))
    results = check_walk(walk).results
    assert any(r.verdict == "wrong" for r in results.values())
    if "x" in inputs:
        assert "kink" not in results["dx"].note  # its sides change with the step: curvature


def test_versions_are_checked():
    walk = walk_of(scenario_text({"x": 2.0}, "c = x * 3\nc = c * c\nf = c + 1"))
    report = check_walk(walk)
    assert report.results["dc_1"].of == "c#1" and report.results["dc_1"].verdict == "good"
    assert report.results["dc"].of == "c#2"


def test_run_text_and_json_have_the_check():
    walk = load_walk(str(SCENARIOS / "matmul.yaml"))
    text = text_report(walk)
    assert "Gradient check" in text and "dW        W   50" in text
    data = json.loads(json_text(walk))
    assert data["check"]["dW"]["verdict"] == "good"
    assert data["check"]["dW"]["relative_error"] < 1e-7
    assert data["check"]["dX"]["elements"] == 30 and data["check"]["dX"]["checked"] == 30
    assert np.shape(data["check"]["dX"]["numeric"]) == (10, 3)
    assert data["derived"] is False


@pytest.mark.parametrize("budget", [2_000, 20_000, 200_000])
def test_the_kink_probe_is_paid_for_within_the_budget(monkeypatch, budget):
    """A review: the probe of a failing gradient's one-sided differences ran four forward
    passes outside the budget (1.72x the budget on a scenario whose every gradient is wrong).
    Every nudged pair of forward passes is counted against it here."""
    from bpstep.core import gradcheck

    stages = 30
    forward = "\n".join(f"v{k} = np.tanh({'x' if k == 0 else f'v{k - 1}'})" for k in range(stages))
    backward = "\n".join(f"d{'x' if k == 0 else f'v{k - 1}'} = 0.5 * dv{k}" for k in reversed(range(stages)))
    walk = walk_of(scenario_text({"x": [0.3, -0.2, 0.1]}, forward, backward=backward))
    spent = []
    nudged = gradcheck._Replay.nudged

    def counted(self, target, element, step):
        spent.append(2 * self.cost_after(target.index))
        return nudged(self, target, element, step)

    monkeypatch.setattr(gradcheck._Replay, "nudged", counted)
    report = check_walk(walk, budget=budget)
    assert sum(spent) <= budget, (sum(spent), budget)
    if budget >= 20_000:  # enough to check, and to find the gradients wrong
        assert any(r.verdict == "wrong" for r in report.results.values())


def test_an_unwritten_gradient_at_a_kink_takes_no_side():
    """A review: an unwritten gradient is checked as zeros, and the kink note said it 'takes
    the left one'."""
    walk = walk_of(scenario_text({"z": 0.0, "w": 1.0}, "h = np.maximum(0, z) * w", backward="dw = np.maximum(0, z) * dh"))
    result = check_walk(walk).results["dz"]
    assert result.verdict == "wrong" and "does not write it" in result.note
    assert "at a kink" in result.note and "takes the" not in result.note
