"""The circuit panel paints only what is visible, for 500 stages as for 100.

Work is counted, not timed: the rows the panel renders (``render_line``) and the cells it asks
the frame for, for one key press, must not grow with the number of stages; the layout is made
once, when the panel is first shown, never on a step; a hidden panel does no work at all.
"""

from __future__ import annotations

import pytest

import bpstep.core.circuit as circuit_module
from bpstep.core.cells import Canvas, CircuitCanvas
from bpstep.core.engine import run_text
from bpstep.ui.app import BpstepApp
from bpstep.ui.circuitview import CircuitPanel


def ladder(n: int) -> str:
    """v_i = 0.5 v_(i-1) + 0.25 v_(i-2): every value forks into two stages, so the circuit is
    both long and tall; with its hand-written backward pass (+= where the branches meet)."""
    forward = ["  v1 = v0 * 1.5"] + [f"  v{i} = v{i - 1} * 0.5 + v{i - 2} * 0.25" for i in range(2, n + 1)]
    backward = []
    for i in range(n, 1, -1):
        backward.append(f"  dv{i - 1} {'=' if i == n else '+='} 0.5 * dv{i}")
        backward.append(f"  dv{i - 2} = 0.25 * dv{i}")
    backward.append("  dv0 += 1.5 * dv1")
    return (f"bpstep: 1\ntitle: ladder of {n}\ninputs:\n  v0: 2\nforward: |\n" + "\n".join(forward)
            + "\nbackward: |\n" + "\n".join(backward) + "\n")


SIZE = (120, 40)
LAYOUT, LINE, FRAME = circuit_module.layered_layout, Canvas.line, CircuitCanvas.frame


async def work(n: int, keys: list[str], monkeypatch) -> dict[str, int]:
    """What one press of the last key costs, once the others have settled."""
    app = BpstepApp(run_text(ladder(n), f"ladder{n}.yaml"))
    counts = {"render_line": 0, "cells": 0, "layout": 0, "frame": 0}

    def counted_layout(*args, **kwargs):
        counts["layout"] += 1
        return LAYOUT(*args, **kwargs)

    def counted_line(self, y, x0=0, width=None):
        runs = LINE(self, y, x0, width)
        counts["cells"] += sum(len(text) for text, _, _ in runs)
        return runs

    def counted_frame(self, position):
        counts["frame"] += 1
        return FRAME(self, position)

    monkeypatch.setattr(circuit_module, "layered_layout", counted_layout)
    monkeypatch.setattr(Canvas, "line", counted_line)
    monkeypatch.setattr(CircuitCanvas, "frame", counted_frame)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one(CircuitPanel)
        original = panel.render_line

        def counted_render_line(y):
            counts["render_line"] += 1
            return original(y)

        panel.render_line = counted_render_line
        await pilot.press(*keys[:-1])
        await pilot.pause()
        counts.update(render_line=0, cells=0, layout=0, frame=0)
        await pilot.press(keys[-1])
        await pilot.pause()
        counts["height"] = panel.size.height  # the rows drawn (the last under a scrollbar)
        counts["width"] = panel.scrollable_content_region.width
        assert panel.view.width > 10 * SIZE[0] and panel.view.height > SIZE[1]  # larger than the screen
    return counts


MOVES = [["v", "s", "s", "up"], ["v", "n", "n", "p"], ["v", "end"], ["v", "g", "5", "0", "enter", "s"]]


@pytest.mark.parametrize("keys", MOVES, ids=lambda keys: " ".join(keys))
async def test_a_move_paints_only_the_visible_rows_for_500_stages_as_for_100(keys, monkeypatch):
    small = await work(100, keys, monkeypatch)
    large = await work(500, keys, monkeypatch)
    assert small == large
    assert large["layout"] == 0  # the layout was made once, when the panel was first shown
    assert large["frame"] == 1  # one frame for the new position
    assert 0 < large["render_line"] <= large["height"]
    assert large["cells"] <= large["height"] * large["width"]


async def test_the_first_show_lays_out_once_and_a_hidden_panel_does_no_work(monkeypatch):
    hidden = await work(500, ["s", "s", "n"], monkeypatch)
    assert hidden["frame"] == 0 and hidden["render_line"] == 0 and hidden["cells"] == 0
    shown = await work(500, ["s", "v"], monkeypatch)
    assert shown["layout"] == 1 and shown["frame"] == 1
