"""The three seed scenarios with their backward: removed give the notes' numbers; the derived
code reads as the notes write it; `bpstep derive` pasted back runs and gives the same gradients."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bpstep.core.engine import run
from bpstep.core.errors import ScenarioError
from bpstep.core.scenario import parse
from derive_support import five_point, relative_error

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BPSTEP = str(Path(sys.executable).parent / "bpstep")


def without_backward(name: str) -> str:
    text = (SCENARIOS / name).read_text()
    return text[: text.index("\nbackward:")] + "\n"


def walk_of(text: str):
    return run(parse(text, "<test>"))


def sigma(z):
    return 1.0 / (1.0 + math.exp(-z))


def test_sigmoid_neuron_derived():
    walk = walk_of(without_backward("sigmoid.yaml"))
    assert walk.derived
    w, x = [2.0, -3.0, -3.0], [-1.0, -2.0]
    dot = w[0] * x[0] + w[1] * x[1] + w[2]
    f = sigma(dot)
    ddot = (1 - f) * f  # closed form of the sigmoid's derivative
    grads = walk.final_gradients()
    assert walk.cache_value("f") == pytest.approx(f) and round(f, 4) == 0.7311
    assert np.allclose(grads["dx"], [w[0] * ddot, w[1] * ddot], rtol=1e-12)
    assert np.allclose(grads["dw"], [x[0] * ddot, x[1] * ddot, ddot], rtol=1e-12)
    assert np.allclose(np.round(grads["dx"], 4), [0.3932, -0.5898])
    assert np.allclose(np.round(grads["dw"], 4), [-0.1966, -0.3932, 0.1966])


def test_staged_example_derived():
    walk = walk_of(without_backward("complex.yaml"))

    def f(env):
        x, y = env["x"], env["y"]
        return (x + sigma(y)) / (sigma(x) + (x + y) ** 2)

    numeric = five_point(f, {"x": 3.0, "y": -4.0})
    grads = walk.final_gradients()
    assert walk.cache_value("f") == pytest.approx(f({"x": 3.0, "y": -4.0}))
    assert round(float(walk.cache_value("f")), 4) == 1.5456
    assert relative_error(grads["dx"], numeric["x"]) < 1e-9
    assert relative_error(grads["dy"], numeric["y"]) < 1e-9
    assert round(float(grads["dx"]), 4) == 2.0596 and round(float(grads["dy"]), 4) == 1.5922
    # gradients add up at forks: dx collects from stages 4, 3 and 2, dy from 4 and 1
    stages = {name: [s.stage for s in walk.steps if s.target == name] for name in ("dx", "dy")}
    assert stages == {"dx": [4, 3, 2], "dy": [4, 1]}
    assert [s.op for s in walk.steps if s.target == "dx"] == ["=", "+=", "+="]


def test_staged_example_reads_like_the_notes():
    from bpstep.core.derive import derive

    code = derive(parse(without_backward("complex.yaml"), "<test>")).text
    for line in ["dnum = invden * df", "dinvden = num * df", "dden = (-1.0 / (den**2)) * dinvden",
                 "dsigx = (1) * dden", "dxpysqr = (1) * dden", "dxpy = (2 * xpy) * dxpysqr",
                 "dx = (1) * dxpy", "dy = (1) * dxpy", "dx += ((1 - sigx) * sigx) * dsigx",
                 "dx += (1) * dnum", "dsigy = (1) * dnum", "dy += ((1 - sigy) * sigy) * dsigy"]:
        assert line in code
    assert "dden = (-1.0 / (den**2)) * dinvden  #(7)" in code


def test_matrix_multiply_derived():
    walk = walk_of(without_backward("matmul.yaml"))
    rng = np.random.RandomState(0)  # the scenario's seed; inputs are drawn first, then upstream
    W, X = rng.randn(5, 10), rng.randn(10, 3)
    dD = rng.randn(5, 3)
    grads = walk.final_gradients()
    assert grads["dW"].shape == (5, 10) and grads["dX"].shape == (10, 3)
    assert np.allclose(grads["dW"], dD @ X.T, rtol=1e-12)
    assert np.allclose(grads["dX"], W.T @ dD, rtol=1e-12)
    codes = [s.code for s in walk.steps]
    assert codes == ["dW = dD.dot(X.T)", "dX = W.T.dot(dD)"]


def test_derived_steps_point_at_the_forward_line():
    text = without_backward("complex.yaml")
    walk = walk_of(text)
    lines = text.split("\n")
    for step in walk.steps:
        forward = next(s for s in walk.forward if s.stage == step.stage)
        assert step.line == forward.line
        assert forward.code in lines[step.line - 1]


def test_a_hand_written_backward_still_wins():
    walk = walk_of((SCENARIOS / "complex.yaml").read_text())
    assert not walk.derived
    assert "dinven" in walk.final_locals()


def test_the_backward_pass_reads_earlier_versions_by_alias():
    text = """bpstep: 1
title: t
inputs:
  x: 2.0
forward: |
  c = x * 3
  c = c * c
backward: |
  dc_1 = 2 * c_1 * dc #(2)
  dx = 3 * dc_1 #(1)
"""
    walk = walk_of(text)
    assert walk.aliases == {"c_1": ("c", 1)}
    assert walk.final_gradients()["dx"] == pytest.approx(18 * 2.0)  # d(9 x^2)/dx
    assert walk.gradient_label("dc_1") == "c#1" and walk.gradient_label("dx") == "x"
    assert walk.gradient_label("dc") == "c#2"  # as the cache labels it ('check' said 'c', 'run' 'c#2')
    assert walk.gradient_label("tmp") is None
    with pytest.raises(ScenarioError, match="earlier value"):
        walk_of(text.replace("dx = 3 * dc_1 #(1)", "c_1 = 3 * dc_1 #(1)"))


def test_an_alias_that_is_a_user_name_stops_the_derivation():
    text = "bpstep: 1\ntitle: t\ninputs:\n  x: 2.0\n  c_1: 1.0\nforward: |\n  c = x * 3\n  c = c * c + c_1\n"
    with pytest.raises(ScenarioError, match="cannot derive"):
        walk_of(text)


def test_forward_stages_out_of_order_are_refused():
    text = "bpstep: 1\ntitle: t\ninputs:\n  x: 2.0\nforward: |\n  a = x * 3 #(2)\n  b = a * a #(1)\n"
    with pytest.raises(ScenarioError, match="numbered in order"):
        walk_of(text)


def test_stages_that_do_not_reach_the_output_are_noted():
    text = "bpstep: 1\ntitle: t\ninputs:\n  x: 2.0\nforward: |\n  a = x * 3\n  b = a * a\noutput: a\n"
    from bpstep.core.derive import derive

    code = derive(parse(text, "<t>")).text
    assert "b does not reach the output a" in code
    assert walk_of(text).final_gradients()["dx"] == 3.0


# -- the command ---------------------------------------------------------------------------------

def bpstep(*args, cwd=None):
    return subprocess.run([BPSTEP, *args], capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.mark.parametrize("name", ["sigmoid.yaml", "complex.yaml", "matmul.yaml"])
def test_derive_command_pasted_back_gives_the_same_gradients(tmp_path, name):
    source = tmp_path / "nobackward.yaml"
    source.write_text(without_backward(name))
    result = bpstep("derive", str(source))
    assert result.returncode == 0, result.stderr
    code = result.stdout.rstrip("\n")
    assert "#(1)" in code
    pasted = tmp_path / "pasted.yaml"
    pasted.write_text(without_backward(name) + "backward: |\n" + "".join(f"  {line}\n" for line in code.split("\n")))
    derived = json.loads(bpstep("run", "--json", str(source)).stdout)
    again = json.loads(bpstep("run", "--json", str(pasted)).stdout)
    assert derived["derived"] is True and again["derived"] is False
    assert derived["gradients"] == again["gradients"]
    assert [s["code"] for s in derived["steps"]] == [s["code"] for s in again["steps"]]
    assert all(entry["verdict"] == "good" for entry in again["check"].values())


def test_derive_command_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("bpstep: 1\ntitle: t\ninputs:\n  x: 1.0\nforward: |\n  a = x * 3 #(2)\n  b = a * a #(1)\n")
    result = bpstep("derive", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"{bad}:7:3: error: ")


def test_two_layer_net_derived_against_numpy():
    walk = walk_of((SCENARIOS / "twolayer.yaml").read_text())
    assert walk.derived
    rng = np.random.RandomState(1)
    X, W1 = rng.randn(4, 3), rng.randn(3, 5) * 0.5
    b1, W2, y = rng.randn(5) * 0.1, rng.randn(5, 2) * 0.5, rng.randn(4, 2)
    Z = X @ W1 + b1
    H = np.maximum(0, Z)
    E = H @ W2 - y
    # hand-derived with numpy: loss = mean(E^2)
    dE = 2 * E / E.size
    dW2, dH = H.T @ dE, dE @ W2.T
    dZ = dH * (Z > 0)
    expected = {"dW2": dW2, "dW1": X.T @ dZ, "db1": dZ.sum(axis=0), "dX": dZ @ W1.T, "dy": -dE}
    grads = walk.final_gradients()
    for name, value in expected.items():
        assert grads[name].shape == value.shape and np.allclose(grads[name], value, rtol=1e-12), name


def test_the_core_does_not_load_textual():
    code = ("import sys, bpstep.core.derive, bpstep.core.gradcheck, bpstep.core.report, bpstep.core.rules; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "[]"
