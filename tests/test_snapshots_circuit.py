"""Snapshots (pytest-textual-snapshot) of the circuit panel and of the heatmap detail, at 120x40.

Regenerate with `pytest tests/test_snapshots_circuit.py --snapshot-update` after a deliberate
change, and look at the SVGs (tests/__snapshots__/test_snapshots_circuit/) before committing.
"""

from __future__ import annotations

import pytest

from app_support import SCENARIOS
from bpstep.core.engine import load_walk
from bpstep.ui.app import BpstepApp

SIZE = (120, 40)


def app_for(name: str) -> BpstepApp:
    return BpstepApp(load_walk(str(SCENARIOS / f"{name}.yaml")))


@pytest.mark.parametrize("name", ["sigmoid", "complex", "matmul"])
def test_circuit_at_the_start(snap_compare, name):
    assert snap_compare(app_for(name), press=["v"], terminal_size=SIZE)


def test_complex_circuit_after_stage_8(snap_compare):
    """dnum (= 1/den) under num's wire; stage 8's box, the wires it reads and num's value lit."""
    app = app_for("complex")

    async def after_stage_8(pilot):
        await pilot.press("v")
        app.goto(app.walk.stage_position(8), "test")
        await pilot.pause()

    assert snap_compare(app, run_before=after_stage_8, terminal_size=SIZE)


def test_matmul_dW_heatmap_detail(snap_compare):
    """Enter on dW after dW = dD.dot(X.T): heatmap, shape and the dimension analysis."""
    assert snap_compare(app_for("matmul"), press=["s", "enter"], terminal_size=SIZE)
