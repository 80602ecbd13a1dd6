"""Snapshots (pytest-textual-snapshot) of the key screens at 80x24.

Regenerate with `pytest tests/test_snapshots.py --snapshot-update` after a deliberate change,
and look at the SVGs (tests/__snapshots__/) before committing them.
"""

from __future__ import annotations

import pytest

from app_support import SCENARIOS
from bpstep.core.engine import load_walk
from bpstep.ui.app import BpstepApp


def app_for(name: str) -> BpstepApp:
    return BpstepApp(load_walk(str(SCENARIOS / f"{name}.yaml")))


@pytest.mark.parametrize("name", ["sigmoid", "complex", "matmul"])
def test_start(snap_compare, name):
    assert snap_compare(app_for(name), terminal_size=(80, 24))


def test_complex_at_the_stage_2_accumulation(snap_compare):
    """Step 10: dx += (1) * dnum, shown as before + contribution = after."""
    assert snap_compare(app_for("complex"), press=["s"] * 10, terminal_size=(80, 24))


def test_overwrite_at_its_first_mistake(snap_compare):
    """complex_overwrite.yaml after `w`: the '=' at a fork flagged, its finding in the step
    panel, marks on the steps taken, checks on the gradients already final."""
    app = BpstepApp(load_walk(str(SCENARIOS / "buggy" / "complex_overwrite.yaml")))
    assert snap_compare(app, press=["w"], terminal_size=(80, 24))
