"""A value that feeds many stages (a wide fork). The circuit's footprints cost work quadratic
in the fan-out (each write of the gradient, each branch), not cubic. Work is counted, not
timed: the wire states the circuit model computes, and the values the SVG's dimension analysis
reads. The text report abridges the sum of hundreds of contributions to one readable line.
A circuit whose layout would place more pieces than its limit is refused before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

import bpstep.core.circuit as circuit_module
import bpstep.core.graph as graph_module
from bpstep.core.circuit import CircuitView
from bpstep.core.engine import Walk, run_text
from counting import counting


MATMUL_TEXT = (Path(__file__).resolve().parent.parent / "scenarios" / "matmul.yaml").read_text()


def fan(k: int) -> str:
    """x feeds k stages v_i = c_i x, summed in a chain: dx gets k contributions, by k writes."""
    forward = [f"  v{i} = x * {1 + i % 7}.0" for i in range(k)] + ["  s0 = v0"]
    forward += [f"  s{i} = s{i - 1} + v{i}" for i in range(1, k)]
    return f"bpstep: 1\ntitle: fan of {k}\ninputs:\n  x: 0.5\nforward: |\n" + "\n".join(forward) + "\n"


WIRE_STATE, GRADIENTS_AT = graph_module.Circuit.wire_state, Walk.gradients_at  # before any patch


def work(k: int, monkeypatch) -> dict[str, int]:
    counts = {"wire_state": 0}

    def counted_wire_state(self, wire, position):
        counts["wire_state"] += 1
        return WIRE_STATE(self, wire, position)

    walk = run_text(fan(k), f"fan{k}.yaml")
    monkeypatch.setattr(graph_module.Circuit, "wire_state", counted_wire_state)
    view = CircuitView(walk)
    assert view.width > 0 and len(walk.step_list("dx")) == k  # the fan is what it says
    return dict(counts)


def test_footprints_of_a_wide_fork_cost_linear_wire_states(monkeypatch):
    small, large = work(20, monkeypatch), work(40, monkeypatch)
    # one wire state per write of each gradient: about linear in the stages (it was one per
    # write per branch: 4x for twice the fan-out, and each state itself linear)
    assert large["wire_state"] <= 2.5 * small["wire_state"]


def test_the_svg_gathers_no_values_for_stages_without_a_matrix_product(monkeypatch):
    from bpstep.core.svg import graph_svg

    walk = run_text(fan(20), "fan20.yaml")
    calls = []
    monkeypatch.setattr(Walk, "gradients_at", lambda self, p: calls.append(p) or GRADIENTS_AT(self, p))
    assert "<svg" in graph_svg(walk, walk.total)
    assert calls == []  # it was one copy of every gradient per backward step, for nothing


def test_the_text_report_spells_out_a_small_sum_and_abridges_a_wide_one():
    from bpstep.core.report import text_report

    def dx_line(k: int) -> str:
        report = text_report(run_text(fan(k), f"fan{k}.yaml"), check=False)
        return next(line for line in report.splitlines() if line.startswith("  dx "))

    # dx = sum of c_i over the k stages v_i = c_i x, c_i = 1 + i % 7
    assert dx_line(8).split()[1] == str(sum(1 + i % 7 for i in range(8)))
    assert dx_line(8).count("(stage ") == 8 and "more" not in dx_line(8)
    wide = dx_line(150)
    assert wide.split()[1] == str(sum(1 + i % 7 for i in range(150)))
    assert wide.count("(stage ") == 7 and "… (143 more)" in wide and wide.endswith("(stage 1)")


def test_the_circuit_draws_only_the_rows_a_frame_is_asked_for(monkeypatch):
    """A base canvas draws a row when it is first read (a wide fork's wires add up to millions
    of cells), and a row reads the same whichever rows were drawn before it."""
    from bpstep.core.cells import Canvas, CircuitCanvas

    draw_row = Canvas._draw_row
    drawn: list[int] = []
    monkeypatch.setattr(Canvas, "_draw_row", lambda self, y: drawn.append(y) or draw_row(self, y))
    walk = run_text(fan(60), "fan60.yaml")
    view = CircuitView(walk)
    middle = walk.total // 2  # a stage in the middle is hot: its box and the wires it reads
    frame = CircuitCanvas(view).frame(middle)
    assert drawn == [] and frame.height > 100
    top = [frame.line(y) for y in range(5)]
    assert sorted(drawn) == [0, 1, 2, 3, 4]
    backwards = CircuitCanvas(view).frame(middle)
    every = [backwards.line(y) for y in reversed(range(backwards.height))][::-1]
    assert every[:5] == top and any(hot for row in every for _, _, hot in row)
    assert "●" in "".join(text for row in every for text, _, _ in row)  # x's fork


# -- a circuit too large to draw: refused before any drawing work ---------------------------

def read_by_all(k: int) -> str:
    """x is read by each of k chained stages: the wire to stage i skips i - 1 columns, so the
    layout places about k^2 / 2 pieces."""
    forward = ["  v1 = x * 0.5"] + [f"  v{i} = v{i - 1} * 0.5 + x" for i in range(2, k + 1)]
    return f"bpstep: 1\ntitle: read by all {k}\ninputs:\n  x: 0.5\nforward: |\n" + "\n".join(forward) + "\n"


def test_a_circuit_over_the_limit_is_refused_before_it_is_laid_out(monkeypatch):
    from bpstep.core.circuit import CircuitTooLarge

    walk = run_text(read_by_all(40), "wide.yaml")
    calls = []
    monkeypatch.setattr(circuit_module, "layered_layout", lambda *a, **k: calls.append("layout"))
    monkeypatch.setattr(circuit_module.CircuitView, "_footprints", lambda self: calls.append("footprints"))
    with pytest.raises(CircuitTooLarge) as refused:
        CircuitView(walk, limit=500)
    assert calls == []  # nothing drawn, nothing laid out
    # 40 stages, the input and the output's terminal: 42 boxes at 8 pieces; the wire from x to
    # stage i skips i - 1 columns; dx is written by all 40 stages: 40 * 40 labels, at 1/8
    size = 8 * 42 + sum(i - 1 for i in range(1, 41)) + 40 * 40 // 8
    assert f"make {size} pieces" in refused.value.message and "the limit is 500" in refused.value.message
    assert (refused.value.line, refused.value.col) == (6, 3)  # the forward pass's first line


def test_a_circuit_within_the_limit_is_drawn():
    walk = run_text(read_by_all(40), "wide.yaml")
    assert CircuitView(walk, limit=10_000).width > 0
    assert CircuitView(walk).width > 0  # no limit given: drawn whatever its size


def test_the_svg_reads_the_steps_once_for_its_dimension_notes():
    # a loop over every step and a scan of the forward pass for each stage: quadratic, 26 s for
    # the SVG of a 20,000-stage chain
    from bpstep.core.matrix import dimension_notes, stage_dimensions
    from bpstep.core.records import replace

    walk = run_text(fan(30), "fan30.yaml")
    steps, forward = counting(tuple)(walk.steps), counting(tuple)(walk.forward)
    assert dimension_notes(replace(walk, steps=steps, forward=forward), walk.total) == []  # no product
    assert steps.loops + forward.loops <= 3  # it was two per stage (120 here)
    # what it gives is what the per-stage analysis gives, for a scenario with products
    matmul = run_text(MATMUL_TEXT, "matmul.yaml")
    for position in range(matmul.total + 1):
        expected = [(s.stage, line) for s in matmul.forward for line in stage_dimensions(matmul, s.stage, position)]
        assert dimension_notes(matmul, position) == expected and expected


def test_a_forks_labels_count_in_the_size():
    # x feeds k stages whose values are summed: dx is written k times, with up to k
    # contributions each time; the fork's labels, not its layout, are the work (68 s for k =
    # 4096, which laid out only 8,193 pieces)
    from bpstep.core.layout import layout_size

    for k in (10, 40):
        view = CircuitView(run_text(fan(k), f"fan{k}.yaml"))
        graph = view.graph
        pieces = layout_size([n.id for n in graph.nodes], [(e.source, e.target) for e in graph.edges])
        assert len(view.walk.step_list("dx")) == k
        assert view.size() == pieces + 7 * len(graph.nodes) + k * k // 8  # a box is 8 pieces



def test_a_backward_local_reused_by_every_stage_is_measured_once(monkeypatch):
    # t = 1.001 * dv_i in every stage: each stage's box measured every write of t over the
    # whole walk, quadratic (27 s for 4,000 stages)
    n = 40
    forward = "\n".join(f"  v{i} = v{i - 1} * 1.001" for i in range(1, n + 1))
    backward = "\n".join(f"  t = 1.001 * dv{i}\n  dv{i - 1} = t" for i in range(n, 0, -1))
    walk = run_text(f"bpstep: 1\ntitle: locals\ninputs:\n  v0: 2\nforward: |\n{forward}\nbackward: |\n{backward}\n",
                    "locals.yaml")
    assert len(walk.step_list("t")) == n
    measured = []
    local_text = CircuitView._local_text
    monkeypatch.setattr(CircuitView, "_local_text", lambda self, *a: measured.append(a) or local_text(self, *a))
    CircuitView(walk)
    assert len(measured) <= 2 * n  # it was n * n


def test_the_source_of_a_products_operands_is_what_python_gives():
    # the dimension analysis names each operand by its code, sliced from lines split once
    import ast

    from bpstep.core.program import node_source

    walk = run_text(MATMUL_TEXT, "matmul.yaml")
    seen = 0
    for statement in walk.forward + walk.backward:
        text, lines = statement.block.text, statement.block.split_lines
        for node in ast.walk(statement.value):
            if hasattr(node, "end_col_offset"):
                assert node_source(lines, node) == ast.get_source_segment(text, node)
                seen += 1
    assert seen > 10
