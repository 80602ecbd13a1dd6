"""Pilot tests of the circuit panel (`v`) and of the heatmap and dimension analysis in the
detail view (Enter on an array).

What is checked is what the panel paints (the strips of ``render_line``), against numbers
worked out here in closed form or with numpy (tests/app_support.py), never against the engine.
"""

from __future__ import annotations

import numpy as np
import pytest

from app_support import COMPLEX, MATMUL, close, complex_contributions, complex_f, numbers, sig
from bpstep.core.engine import load_walk, run_text
from bpstep.ui.app import BpstepApp
from bpstep.ui.circuitview import CircuitPanel
from bpstep.ui.heatmapview import HeatmapView
from bpstep.ui.screens import DetailScreen
from test_app_circuit_scale import ladder
from test_app_screens import matmul_arrays

REF = complex_contributions()
X, Y = 3.0, -4.0
THREE_FIGURES = 5e-3  # the circuit writes about three significant figures


def make_app(path: str = COMPLEX) -> BpstepApp:
    return BpstepApp(load_walk(path))


def panel_of(app: BpstepApp) -> CircuitPanel:
    return app.query_one(CircuitPanel)


def painted(panel: CircuitPanel) -> list[str]:
    """The visible rows as the panel paints them."""
    return [panel.render_line(y).text for y in range(panel.scrollable_content_region.height)]


def cell(panel: CircuitPanel, x: int, y: int):
    """(character, style) painted at circuit cell (x, y), which must be visible."""
    sx, sy = round(panel.scroll_x), round(panel.scroll_y)
    strip = panel.render_line(y - sy)
    col = 0
    for segment in strip:
        if col <= x - sx < col + len(segment.text):
            return segment.text[x - sx - col], segment.style
        col += len(segment.text)
    raise AssertionError(f"({x}, {y}) is not painted")


def label(panel: CircuitPanel, node: str, side: str) -> str:
    """The painted label right of ``node``'s box: ``above`` its output wire (the value) or
    ``below`` it (the gradient); "" if there is none."""
    view = panel.view
    x, y, _, _ = view.box_of(node)
    fp = view.footprints[node]
    row = y + fp.out_row + (-1 if side == "above" else 1) - round(panel.scroll_y)
    col = x + fp.in_width + fp.box_width - round(panel.scroll_x)
    words = painted(panel)[row][col:col + fp.out_width].split()
    return words[0] if words else ""


def visible(panel: CircuitPanel, node: str) -> bool:
    x, y, w, h = panel.view.box_of(node)
    sx, sy = round(panel.scroll_x), round(panel.scroll_y)
    region = panel.scrollable_content_region
    return sx <= x and x + w <= sx + region.width and sy <= y and y + h <= sy + region.height


async def test_v_shows_and_hides_the_circuit():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        panel = panel_of(app)
        assert not panel.display and panel.frame is None  # nothing is laid out until asked
        await pilot.press("v")
        await pilot.pause()
        assert panel.display and app.focused is panel
        text = "\n".join(painted(panel))
        for name in ("sigy", "num", "sigx", "xpy", "xpysqr", "den", "invden", "f"):
            assert f"╭{name}" in text or f"─{name}─" in text, name
        assert panel.view.width <= 120 and panel.view.height <= panel.scrollable_content_region.height
        assert round(panel.scroll_x) == round(panel.scroll_y) == 0  # all of it fits at 120x40
        await pilot.press("v")
        await pilot.pause()
        assert not panel.display and app.focused is app.view("gradients")
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        commands["Toggle circuit"].callback()
        await pilot.pause()
        assert panel.display


async def test_stepping_redraws_values_and_gradients_in_place():
    app = make_app()
    walk = app.walk
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("v")
        await pilot.pause()
        panel = panel_of(app)
        canvas = panel.canvas
        # at the start: values above the wires, and only the output's gradient (the upstream 1)
        assert close(label(panel, "st:2", "above"), X + sig(Y), rel=THREE_FIGURES)  # num
        assert close(label(panel, "st:8", "above"), complex_f(X, Y), rel=THREE_FIGURES)  # f
        assert label(panel, "st:8", "below") == "1"
        assert label(panel, "st:2", "below") == ""  # no gradient on num yet
        # after stage 8: dnum = 1/den is written under num's wire
        app.goto(walk.stage_position(8), "test")
        await pilot.pause()
        assert close(label(panel, "st:2", "below"), REF["dnum"], rel=THREE_FIGURES)
        assert label(panel, "st:7", "below") == ""  # dinvden comes with stage 7
        await pilot.press("n")  # stage 7: dden = (-1.0 / (den**2)) * dinven
        await pilot.pause()
        num, den = X + sig(Y), sig(X) + (X + Y) ** 2
        assert close(label(panel, "st:6", "below"), -num / den ** 2, rel=THREE_FIGURES)  # dden
        await pilot.press("p", "p")  # time travel: back to the start, the gradients go again
        await pilot.pause()
        assert label(panel, "st:2", "below") == "" and label(panel, "st:6", "below") == ""
        await pilot.press("end")
        await pilot.pause()
        dx = REF["dx stage 4"] + REF["dx stage 3"] + REF["dx stage 2"]
        dy = REF["dy stage 4"] + REF["dy stage 1"]
        assert close(label(panel, "in:x", "below"), dx, rel=THREE_FIGURES)
        assert close(label(panel, "in:y", "below"), dy, rel=THREE_FIGURES)
        # the fork of x shows its three contributions adding up, under the total
        x, y, _, _ = panel.view.box_of("in:x")
        fp = panel.view.footprints["in:x"]
        col = x + fp.in_width + fp.box_width + 1
        rows = painted(panel)
        parts = [numbers(rows[y + fp.out_row + 2 + i][col:col + 8])[0] for i in range(3)]
        want = sorted([REF["dx stage 4"], REF["dx stage 3"], REF["dx stage 2"]])
        assert all(close(str(a), b, rel=THREE_FIGURES) for a, b in zip(sorted(parts), want))
        assert panel.canvas is canvas  # no new layout for any move


async def test_the_stage_shown_and_what_it_reads_are_highlighted_in_colour():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("v", "s", "s")  # stage 8: dnum = invden, dinven = num (reads num)
        await pilot.pause()
        panel = panel_of(app)
        view = panel.view
        hot = panel.get_component_rich_style("circuit--hot").bgcolor
        fx, fy, _, _ = view.box_of("st:8")
        fp = view.footprints["st:8"]
        box_x = fx + fp.in_width
        assert cell(panel, box_x + 1, fy + 1)[1].bgcolor == hot  # inside the box of stage 8
        nx, ny, _, _ = view.box_of("st:3")
        assert cell(panel, nx + view.footprints["st:3"].in_width + 1, ny + 1)[1].bgcolor != hot
        # num's value was read: on the accent ground; its new gradient is red, the value green
        fp2 = view.footprints["st:2"]
        x2, y2, _, _ = view.box_of("st:2")
        col = x2 + fp2.in_width + fp2.box_width + 1
        value_char, value_style = cell(panel, col, y2 + fp2.out_row - 1)
        gradient_char, gradient_style = cell(panel, col, y2 + fp2.out_row + 1)
        assert value_char == "3" and gradient_char == "0"
        assert value_style.bgcolor == hot
        green, red = value_style.color.triplet, gradient_style.color.triplet
        assert green.green > max(green.red, green.blue) and red.red > max(red.green, red.blue)
        # the wires into the stage shown are drawn in the accent colour, the others are not
        accent = panel.get_component_rich_style("circuit--hot-line").color
        wire_x = box_x - 1  # the wire entering stage 8's first port
        assert cell(panel, wire_x, fy + fp.in_rows[0])[1].color == accent
        xx, xy, _, _ = view.box_of("in:x")
        assert cell(panel, xx + 2, xy + view.footprints["in:x"].out_row)[1].color != accent


async def test_the_panel_follows_the_stage_shown_in_a_large_circuit():
    app = BpstepApp(run_text(ladder(100), "ladder.yaml"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("v")
        await pilot.pause()
        panel = panel_of(app)
        assert panel.view.width > 2000 and panel.view.height > 40
        assert visible(panel, "st:100")  # the first stage back-propagated, at the far right
        assert round(panel.scroll_x) > 2000
        await pilot.press("g", "4", "0", "enter")
        await pilot.pause()
        assert app.position == app.index.stage_last[40]
        assert visible(panel, "st:40") and not visible(panel, "st:100")
        assert any("╭v40" in row for row in painted(panel))
        before = round(panel.scroll_x), round(panel.scroll_y)
        await pilot.press("l", "j")  # the panel has the focus: h/j/k/l scroll it
        await pilot.pause()
        assert (round(panel.scroll_x), round(panel.scroll_y)) == (before[0] + 4, before[1] + 1)
        await pilot.press("s")  # a step brings the stage back into view
        await pilot.pause()
        assert visible(panel, "st:39") and round(panel.scroll_x) != before[0] + 4


async def test_a_click_on_a_stage_goes_to_it():
    app = make_app()
    heard = []
    async with app.run_test(size=(120, 40)) as pilot:
        app.goto_hooks.append(lambda action, before, after: heard.append(action))
        await pilot.press("v")
        await pilot.pause()
        panel = panel_of(app)
        x, y, _, _ = panel.view.box_of("st:3")
        fp = panel.view.footprints["st:3"]
        await pilot.click(CircuitPanel, offset=(x + fp.in_width + 1, y + 1 + 1))  # +1: the border
        await pilot.pause()
        assert app.position == app.index.stage_last[3]
        assert heard[-1] == "goto_stage 3"


# -- the detail view of an array: heatmap and dimension analysis ----------------------------

def levels(value: np.ndarray) -> np.ndarray:
    """Sign times shade level (0..4) of each element, as the NO_COLOR heatmap should draw it."""
    scaled = value / np.abs(value).max()
    return np.sign(scaled) * np.minimum(np.floor(np.abs(scaled) * 4 + 0.5), 4)


async def test_enter_on_dW_shows_its_heatmap_and_dimension_analysis():
    want = matmul_arrays()["dW"]
    app = make_app(MATMUL)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s", "enter")  # dW = dD.dot(X.T): the gradient table has the focus
        assert isinstance(app.screen, DetailScreen)
        heat = app.screen.query_one(HeatmapView)
        assert heat.map.shape == (5, 10) and heat.map.block == (1, 1)
        shown = np.array(heat.map.cells)
        np.testing.assert_allclose(shown, want / np.abs(want).max(), atol=1e-9)
        text = heat.text().plain
        assert text.startswith(f"heatmap (5,10)  min {want.min():.4f}")
        body = app.screen.body
        assert "dW (5,10) = dD (5,3) . X.T (3,10)" in body
        assert "D (5,3) = W (5,10) . X (10,3)" in body
        assert "dX (" not in body  # dX's analysis belongs to dX's detail


async def test_the_heatmap_without_colour_writes_signs_and_shades(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    want = matmul_arrays()["dW"]
    app = make_app(MATMUL)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s", "enter")
        heat = app.screen.query_one(HeatmapView)
        lines = heat.text().plain.split("\n")[3:]  # caption, scale, column numbers
        assert len(lines) == 5
        drawn = []
        for line in lines:
            cells = [line[i:i + 2] for i in range(2, len(line.rstrip()) + 1, 3)]
            drawn.append([0 if c.strip() == "·" else (-1 if c[0] == "-" else 1) * " ░▒▓█".index(c[1])
                          for c in cells])
        np.testing.assert_array_equal(np.array(drawn), levels(want))


async def test_a_cache_row_of_a_product_spells_out_its_dimensions():
    app = make_app(MATMUL)
    async with app.run_test(size=(120, 40)) as pilot:
        cache = app.view("cache")
        cache.focus()
        await pilot.press("j", "j", "enter")  # W, X, then D = W.dot(X)
        body = app.screen.body
        assert "D (5,3) = W (5,10) . X (10,3)" in body and "dW (" not in body  # nothing run yet
        assert app.screen.query_one(HeatmapView).map.shape == (5, 3)
        await pilot.press("escape", "end")
        cache.focus()
        cache.move_cursor_to(2)
        await pilot.press("enter")
        body = app.screen.body
        for line in ("D (5,3) = W (5,10) . X (10,3)", "dW (5,10) = dD (5,3) . X.T (3,10)",
                     "dX (10,3) = W.T (10,5) . dD (5,3)"):
            assert line in body


async def test_a_scalar_has_no_heatmap():
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("end", "enter")
        assert isinstance(app.screen, DetailScreen)
        assert not app.screen.query(HeatmapView)


@pytest.mark.parametrize("size", [(80, 24), (40, 12)])
async def test_small_terminals_keep_the_stage_shown_in_view(size):
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await pilot.press("v", "n", "n", "n", "h", "k", "pagedown", "f")
        await pilot.pause()
        panel = panel_of(app)
        region = panel.scrollable_content_region
        x, y, w, h = panel.view.box_of("st:6")  # stage 6 is being back-propagated
        sx, sy = round(panel.scroll_x), round(panel.scroll_y)
        assert sx <= x + w // 2 < sx + region.width and sy <= y + h // 2 < sy + region.height
        await pilot.press("end", "v", "s", "v", "home")
        await pilot.pause()
        assert app.is_running and app.position == 0


async def test_a_derived_backward_pass_is_drawn_too(tmp_path):
    path = tmp_path / "forward.yaml"  # no backward: block, so bpstep derives dx = 3 * dy
    path.write_text("bpstep: 1\ntitle: Forward only\ninputs:\n  x: 2\nforward: |\n  y = x * 3\n")
    app = make_app(str(path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("v")
        await pilot.pause()
        panel = panel_of(app)
        assert label(panel, "st:1", "above") == "6" and label(panel, "st:1", "below") == "1"
        assert label(panel, "in:x", "above") == "2" and label(panel, "in:x", "below") == ""
        await pilot.press("s")
        await pilot.pause()
        assert label(panel, "in:x", "below") == "3"


async def test_v_on_a_circuit_too_large_to_draw_says_so_and_stepping_goes_on(monkeypatch):
    import bpstep.core.circuit as circuit_module

    sized = []
    layout_size = circuit_module.layout_size
    monkeypatch.setattr(circuit_module, "layout_size", lambda *a: sized.append(1) or layout_size(*a))
    forward = ["  v1 = x * 0.5"] + [f"  v{i} = v{i - 1} * 0.5 + x" for i in range(2, 61)]
    walk = run_text("bpstep: 1\ntitle: wide\ninputs:\n  x: 0.5\nforward: |\n" + "\n".join(forward) + "\n",
                    "wide.yaml")
    app = BpstepApp(walk, circuit_limit=1000)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("v")
        await pilot.pause()
        panel = panel_of(app)
        assert not panel.display and panel._canvas is None
        notes = [n.message for n in app._notifications]
        assert len(notes) == 1 and "the circuit is too large to draw" in notes[0], notes
        assert "--max-circuit-size" in notes[0]
        await pilot.press("v", "v", "s")  # asked again while it is up: no second message, no work
        await pilot.pause()
        assert not panel.display and app.position == 1
        assert len(list(app._notifications)) == 1 and len(sized) == 1
        panel._refused_at -= 10  # once it is gone, asking again says it again
        await pilot.press("v")
        await pilot.pause()
        assert len(list(app._notifications)) == 2 and len(sized) == 1


async def test_an_all_zero_array_has_no_colour_scale(tmp_path):
    """A hunt: the heatmap of an array of zeros read 'scale -0 … +0'."""
    path = tmp_path / "zeros.yaml"
    path.write_text("bpstep: 1\ntitle: zeros\ninputs:\n  z: [[0, 0, 0, 0], [0, 0, 0, 0]]\n  w: 2.0\n"
                    "forward: |\n  y = np.sum(z * w)\n")
    app = make_app(str(path))
    async with app.run_test(size=(120, 40)) as pilot:
        app._show_detail("cache", 0)
        await pilot.pause()
        text = app.screen.query_one(HeatmapView).text().plain
        assert "scale none: every value is 0" in text and "-0" not in text, text
