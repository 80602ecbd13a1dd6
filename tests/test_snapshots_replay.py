"""Snapshot (pytest-textual-snapshot) of the replay screen at 80x24: a session replayed against
a scenario changed since, on a step whose values now differ (the ≠ marks, the bar).

Regenerate with `pytest tests/test_snapshots_replay.py --snapshot-update` after a deliberate
change, and look at the SVG (tests/__snapshots__/) before committing it.
"""

from __future__ import annotations

import shutil

from transcript_helpers import SCENARIOS, record

from bpstep.core.engine import load_walk
from bpstep.core.transcript import open_replay, read
from bpstep.ui.replay import ReplayApp


def test_replay_of_a_changed_scenario(snap_compare, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths: the warning names "complex.yaml" on any machine
    shutil.copy(SCENARIOS / "complex.yaml", "complex.yaml")
    record(tmp_path / "s.jsonl", load_walk("complex.yaml"), ["n"] * 8, scenario_path="complex.yaml")
    text = (tmp_path / "complex.yaml").read_text()
    (tmp_path / "complex.yaml").write_text(text.replace("dx = (1) * dxpy", "dx = (2) * dxpy"))
    app = ReplayApp(open_replay(read("s.jsonl")))

    async def six_actions(pilot):
        """At step 9, dx += ..., which now starts from a different dx; without the warning's
        toast (a Pilot test checks it), which would hide the replay bar."""
        await pilot.press(*["full_stop"] * 6)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, run_before=six_actions, terminal_size=(80, 24))
