"""The circuit in terminal characters (what the TUI's `v` view paints): labels where the
notes put them, highlights of the step shown, and the static-plus-overlay canvas giving the
same picture as a full redraw at every position."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bpstep.core.cells import Canvas, CircuitCanvas, plain
from bpstep.core.circuit import CircuitView, short_number
from bpstep.core.engine import load_walk, run_text

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.fixture(scope="module")
def view():
    return CircuitView(load_walk(str(SCENARIOS / "complex.yaml")))


def cells_with(canvas: Canvas, role: str, hot: bool | None = None):
    return {(x, y) for y in range(canvas.height) for x in range(canvas.width)
            if canvas.cell(x, y)[1] == role and (hot is None or canvas.cell(x, y)[2] == hot)}


def text_of(canvas: Canvas, role: str) -> str:
    return " ".join(t for y in range(canvas.height) for t, r, _ in canvas.line(y) if r == role)


def test_short_numbers_keep_three_figures():
    assert [short_number(v) for v in (1 / (1 + math.exp(4)), -0.791593, 1.545648, 3.0, -4.0)] == \
        ["0.018", "-0.792", "1.55", "3", "-4"]
    assert short_number(1.2e-05) == "1.20e-05" and short_number(math.nan) == "nan"


def test_at_the_start_values_show_and_only_the_output_has_a_gradient(view):
    canvas = Canvas(view.scene(0))
    picture = plain(view.scene(0))
    for name in ("sigy", "num", "sigx", "xpy", "xpysqr", "den", "invden"):
        assert name in picture
    values = text_of(canvas, "value").split()
    assert {"3", "-4", "0.018", "3.02", "0.953", "-1", "1", "1.95", "0.512", "1.55"} <= set(values)
    assert text_of(canvas, "gradient").split() == ["1"]


def test_value_above_the_wire_and_gradient_below_it(view):
    scene = view.scene(view.walk.total)
    for text in scene.texts:
        if text.role in ("value", "gradient") and text.wire == "sigx":
            node = view.footprints["st:3"]
            x, y, _, _ = view.box_of("st:3")
            wire_row = y + node.out_row
            assert text.y == (wire_row - 1 if text.role == "value" else wire_row + 1)


def test_the_stage_shown_is_highlighted_and_nothing_else_is(view):
    canvas = CircuitCanvas(view).frame(9)  # stage 3's  dx += ... * dsigx
    x, y, w, h = view.box_of("st:3")
    hot_boxes = cells_with(canvas, "box", hot=True)
    assert hot_boxes and all(x <= cx < x + w and y <= cy < y + h for cx, cy in hot_boxes)
    assert cells_with(canvas, "wire", hot=True)
    hot_gradients = {t.text for t in view.scene(9).texts if t.role == "gradient" and t.hot}
    assert hot_gradients == {"1.55", "-0.792"}  # dx just written, dsigx just read


def test_the_fork_sum_is_written_as_an_addition(view):
    scene = view.scene(view.walk.total)
    sums = [t.text for t in scene.texts if t.role == "sum" and t.wire == "x"]
    assert sums == ["=1.58", "-0.0358", "+0.512"]
    forks = [m for m in scene.marks if m.kind == "fork"]
    assert {m.wire for m in forks} == {"x", "y"}


@pytest.mark.parametrize("name", ["sigmoid", "complex", "matmul"])
def test_the_overlay_canvas_matches_a_full_redraw_at_every_position(name):
    view = CircuitView(load_walk(str(SCENARIOS / f"{name}.yaml")))
    circuit = CircuitCanvas(view)
    for position in range(view.walk.total + 1):
        full, frame = Canvas(view.scene(position)), circuit.frame(position)
        assert [frame.line(y) for y in range(full.height)] == [full.line(y) for y in range(full.height)]


def test_a_window_of_a_line_is_exactly_as_wide_as_asked(view):
    canvas = CircuitCanvas(view).frame(0)
    for y in range(canvas.height):
        assert sum(len(t) for t, _, _ in canvas.line(y, 7, 30)) == 30
        assert "".join(t for t, _, _ in canvas.line(y, 7, 30)) == \
            "".join(t for t, _, _ in canvas.line(y))[7:37]


def test_a_lost_contribution_shows_as_discarded():
    walk = run_text("bpstep: 1\ntitle: t\ninputs:\n  x: 2.0\nforward: |\n  a = x * 2\n  b = x * 3\n"
                    "  f = a + b\nbackward: |\n  da = 1.0 * df\n  db = 1.0 * df\n  dx = 3 * db\n"
                    "  dx = 2 * da\n")
    view = CircuitView(walk)
    canvas = Canvas(view.scene(walk.total))
    assert text_of(canvas, "discarded").strip() == "✗ 3"
    before = Canvas(view.scene(walk.total - 1))
    assert text_of(before, "discarded").strip() == "" and "3" in text_of(before, "contribution")


def test_node_at_finds_the_box_under_a_cell(view):
    x, y, w, h = view.box_of("st:5")
    assert view.node_at(x + w // 2, y + h // 2) == "st:5"
    assert view.node_at(0, 0) is None
