"""The forward graph of a walk and what the circuit shows at a position, checked against
numbers worked out independently: closed forms of the notes' f(x, y) and central
differences of it."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from bpstep.core.engine import load_walk, run_text
from bpstep.core.graph import Circuit, build_graph
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def f_of(x, y):
    return (x + sig(y)) / (sig(x) + (x + y) ** 2)


X, Y = 3.0, -4.0
NUM = X + sig(Y)
DEN = sig(X) + (X + Y) ** 2
H = 1e-6
DF_DX = (f_of(X + H, Y) - f_of(X - H, Y)) / (2 * H)
DF_DY = (f_of(X, Y + H) - f_of(X, Y - H)) / (2 * H)
# what comes back to x and y along each branch of their forks (chain rule, by hand)
X_BRANCHES = {"st:2": 1 / DEN,  # num = x + sigy
              "st:3": -NUM / DEN**2 * sig(X) * (1 - sig(X)),  # sigx = sigmoid(x)
              "st:4": -NUM / DEN**2 * 2 * (X + Y)}  # xpy = x + y
Y_BRANCHES = {"st:1": 1 / DEN * sig(Y) * (1 - sig(Y)), "st:4": -NUM / DEN**2 * 2 * (X + Y)}


@pytest.fixture(scope="module")
def complex_walk():
    return load_walk(str(SCENARIOS / "complex.yaml"))


@pytest.fixture(scope="module")
def circuit(complex_walk):
    return Circuit(complex_walk)


def test_nodes_edges_and_forks_of_the_notes_circuit(circuit):
    graph = circuit.graph
    assert [n.id for n in graph.nodes] == ["in:x", "in:y"] + [f"st:{i}" for i in range(1, 9)] + ["out:f"]
    edges = {(e.source, e.target) for e in graph.edges}
    assert edges == {("in:y", "st:1"), ("in:x", "st:2"), ("st:1", "st:2"), ("in:x", "st:3"),
                     ("in:x", "st:4"), ("in:y", "st:4"), ("st:4", "st:5"), ("st:3", "st:6"),
                     ("st:5", "st:6"), ("st:6", "st:7"), ("st:2", "st:8"), ("st:7", "st:8"),
                     ("st:8", "out:f")}
    assert {w.id: set(w.targets) for w in graph.forks} == {"x": {"st:2", "st:3", "st:4"},
                                                          "y": {"st:1", "st:4"}}
    ops = {n.stage: n.op for n in graph.nodes if n.kind == "stage"}
    assert ops == {1: "σ", 2: "+", 3: "σ", 4: "+", 5: "**2", 6: "+", 7: "1/x", 8: "*"}
    assert graph.wires["num"].value == pytest.approx(NUM)


def test_at_the_start_only_the_output_has_a_gradient(circuit):
    state = circuit.state_at(0)
    reached = {k: float(v.gradient) for k, v in state.wires.items() if v.reached}
    assert reached == {"f": 1.0}
    assert state.step is None and state.active == "st:8"
    assert not state.read_values and not state.read_gradients and state.written is None


def test_gradients_appear_as_the_backward_pass_reaches_them(circuit, complex_walk):
    after8 = circuit.state_at(complex_walk.stage_position(8))
    assert after8.wires["num"].gradient == pytest.approx(1 / DEN)
    # the notes call the gradient on invden "dinven": a local, so the wire gets none
    assert after8.wires["invden"].gradient is None
    assert after8.wires["x"].gradient is None
    assert dict(after8.locals["st:8"])["dinven"] == pytest.approx(NUM)
    after3 = circuit.state_at(complex_walk.stage_position(3))
    x = after3.wires["x"]
    assert x.gradient == pytest.approx(X_BRANCHES["st:4"] + X_BRANCHES["st:3"])
    assert {k: len(v) for k, v in x.branches.items()} == {"st:2": 0, "st:3": 1, "st:4": 1}
    assert after3.wires["sigy"].gradient is None


def test_at_the_end_fork_branches_add_up_to_the_central_difference(circuit, complex_walk):
    state = circuit.state_at(complex_walk.total)
    for wire, branches, total in (("x", X_BRANCHES, DF_DX), ("y", Y_BRANCHES, DF_DY)):
        ws = state.wires[wire]
        assert ws.gradient == pytest.approx(total, rel=1e-6)
        for target, expected in branches.items():
            (contribution,) = ws.branches[target]
            assert float(contribution.value) == pytest.approx(expected, rel=1e-9)
            assert not contribution.discarded
        assert not ws.stray


def test_the_step_being_shown_is_highlighted_with_what_it_read_and_wrote(circuit, complex_walk):
    # step 9 is stage 3's  dx += ((1 - sigx) * sigx) * dsigx
    state = circuit.state_at(9)
    assert state.step.index == 9 and state.stage == 3 and state.active == "st:3"
    assert state.read_values == {"sigx"} and state.read_gradients == {"sigx"}
    assert state.written == "x"
    assert state.active_edges == {("in:x", "st:3"), ("st:3", "st:6")}


OVERWRITE = """bpstep: 1
title: the = bug
inputs:
  x: 2.0
forward: |
  a = x * 2
  b = x * 3
  f = a + b
backward: |
  da = 1.0 * df
  db = 1.0 * df
  dx = 3 * db
  dx = 2 * da
"""


def test_a_contribution_wiped_out_by_an_overwrite_is_marked_on_its_branch():
    walk = run_text(OVERWRITE)
    state = Circuit(walk).state_at(walk.total)
    x = state.wires["x"]
    assert float(x.gradient) == 2.0  # the true df/dx is 5: stage 2's 3 was overwritten
    (lost,) = x.branches["st:2"]
    (kept,) = x.branches["st:1"]
    assert lost.discarded and float(lost.value) == 3.0
    assert not kept.discarded and float(kept.value) == 2.0


VERSIONS = """bpstep: 1
title: a name assigned twice
inputs:
  x: 2.0
forward: |
  c = x * 2
  c = c * 3
backward: |
  dc = 3 * dc
  dx = 2 * dc
"""


def test_each_version_of_a_name_is_its_own_wire_with_its_own_gradient():
    walk = run_text(VERSIONS)
    circuit = Circuit(walk)
    graph = circuit.graph
    assert set(graph.wires) == {"x", "c", "c#2"}
    assert {(e.wire, e.source, e.target) for e in graph.edges} == {
        ("x", "in:x", "st:1"), ("c", "st:1", "st:2"), ("c#2", "st:2", "out:c#2")}
    start, middle, end = (circuit.state_at(p) for p in (0, 1, 2))
    # f = c#2 = 6x: d/dc#2 = 1 (upstream), d/dc = 3, d/dx = 6
    assert float(start.wires["c#2"].gradient) == 1.0 and start.wires["c"].gradient is None
    assert float(middle.wires["c"].gradient) == 3.0 and float(middle.wires["c#2"].gradient) == 1.0
    assert [c.step for c in middle.wires["c"].contributions] == [1]
    assert middle.read_gradients == {"c#2"} and middle.written == "c"
    assert float(end.wires["x"].gradient) == 6.0 and float(end.wires["c#2"].gradient) == 1.0


def test_values_that_nothing_reads_end_in_their_own_terminal():
    walk = run_text("bpstep: 1\ntitle: t\ninputs:\n  x: 1.0\n  unused: 2.0\nforward: |\n"
                    "  side = x * 4\n  f = x + 1\n")
    graph = build_graph(walk)
    outputs = [n.id for n in graph.nodes if n.kind == "output"]
    assert outputs == ["out:f", "out:unused", "out:side"]
    assert graph.output == "f"


def test_the_circuit_modules_do_not_load_textual_or_rich():
    code = ("import sys\nimport bpstep.core.graph, bpstep.core.layout, bpstep.core.circuit, "
            "bpstep.core.cells, bpstep.core.svg, bpstep.core.matrix\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
